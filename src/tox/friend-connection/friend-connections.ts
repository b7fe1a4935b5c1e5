/**
 * friend_connection (c-toxcore friend_connection.c) for one identity: one entry per peer we
 * keep a net_crypto session with (friends; conference peers later). It
 * - starts sessions when the peer's DHT key is known (and keeps retrying while it is),
 * - accepts incoming handshakes only from known peers that have no live session,
 * - keeps sessions alive with ALIVE every 8 s and kills them after 32 s without one,
 * - shares TCP relays every 120 s (the relay list comes from a hook; TCP is issue 4),
 * - passes every other lossless/lossy packet and every ack up, keyed by the peer's real key.
 *
 * Pure state machine: time from the injected Clock, I/O through NetCryptoApi.
 */
import { bytesEqual, keyHex } from "../bytes.js";
import type { Clock } from "../clock.js";
import { LazyMap } from "../lazy-collections.js";
import type {
  ConnectionId,
  CryptoConnectionState,
  NetCryptoApi,
  NetCryptoEvents,
} from "../netcrypto/types.js";
import type { IpPort, NodeInfo } from "../wire/ipport.js";
import {
  isFriendConnPacket,
  MAX_SHARED_RELAYS,
  parseFriendConnPacket,
  serializeFriendConnPacket,
} from "./packets.js";

/** `FRIEND_PING_INTERVAL`. */
export const FRIEND_PING_INTERVAL_MS = 8_000;
/** `FRIEND_CONNECTION_TIMEOUT` = 4 × ping interval. */
export const FRIEND_CONNECTION_TIMEOUT_MS = 32_000;
/** `SHARE_RELAYS_INTERVAL`. */
export const SHARE_RELAYS_INTERVAL_MS = 120_000;
/** `FRIEND_DHT_TIMEOUT` (= BAD_NODE_TIMEOUT): a DHT key/address not refreshed for this long is dropped. */
export const FRIEND_DHT_TIMEOUT_MS = 122_000;
/**
 * Pause between session attempts. c-toxcore retries on every iteration once net_crypto gave
 * up (8 cookie requests, ~8 s); the pause only keeps a dead peer from costing a busy loop.
 */
export const RECONNECT_INTERVAL_MS = 1_000;

export type FriendConnStatus = "connecting" | "connected";

export interface FriendConnectionEvents {
  /** The session came up (`true`) or went down (`false`). */
  onStatus(peerPk: Uint8Array, connected: boolean): void;
  /** A lossless packet not owned by friend_connection (ids 24+). */
  onPacket(peerPk: Uint8Array, data: Uint8Array): void;
  onLossy?(peerPk: Uint8Array, data: Uint8Array): void;
  /** Peer acknowledged every lossless packet below `bufferStart` (see NetCryptoEvents.onAcked). */
  onAcked(peerPk: Uint8Array, bufferStart: number): void;
  /** FRIEND_REQUESTS (18) over a live session. */
  onFriendRequest?(peerPk: Uint8Array, nospam: Uint8Array, message: Uint8Array): void;
  /** TCP relays the peer shared (issue 4 connects to them). */
  onRelays?(peerPk: Uint8Array, relays: NodeInfo[]): void;
}

export interface FriendConnectionsOptions {
  clock: Clock;
  events: FriendConnectionEvents;
  /** Our connected TCP relays to share (issue 4); none until then. */
  relaysToShare?: () => NodeInfo[];
  log?: { debug(obj: Record<string, unknown>, msg: string): void };
}

interface Entry {
  realPk: Uint8Array;
  hex: string;
  status: FriendConnStatus;
  dhtPk: Uint8Array | null;
  dhtPkAt: number;
  addr: IpPort | null;
  addrAt: number;
  conn: ConnectionId | null;
  /** The session net_crypto last killed (its DHT-key-change report names that id). */
  lastConn: ConnectionId | null;
  /** Incoming session accepted but its id not yet known (NetCryptoApi has no accept callback). */
  pendingAccept: boolean;
  lastAttemptAt: number;
  pingSentAt: number;
  pingRecvAt: number;
  relaysSentAt: number;
  relayShareIndex: number;
}

/** Read-only view for diagnostics and the node API. */
export interface FriendConnInfo {
  realPk: Uint8Array;
  status: FriendConnStatus;
  dhtPk: Uint8Array | null;
  address: IpPort | null;
  connection: ConnectionId | null;
  lastPingReceivedAt: number;
}

export class FriendConnections implements NetCryptoEvents {
  private readonly clock: Clock;
  private readonly events: FriendConnectionEvents;
  private readonly relaysToShare: () => NodeInfo[];
  private readonly log: FriendConnectionsOptions["log"];
  private nc: NetCryptoApi | undefined;
  private readonly byPk = new LazyMap<string, Entry>();
  private readonly byConn = new LazyMap<ConnectionId, Entry>();

  constructor(opts: FriendConnectionsOptions) {
    this.clock = opts.clock;
    this.events = opts.events;
    this.relaysToShare = opts.relaysToShare ?? (() => []);
    this.log = opts.log;
  }

  /** Wires the net_crypto instance (which itself needs `this` as its events). */
  attach(netCrypto: NetCryptoApi): void {
    this.nc = netCrypto;
  }

  private get netCrypto(): NetCryptoApi {
    if (this.nc === undefined) throw new Error("FriendConnections used before attach()");
    return this.nc;
  }

  // -------------------------------------------------------------------------------------------
  // Peers

  /** Adds a peer (idempotent). */
  add(realPk: Uint8Array): void {
    const hex = keyHex(realPk);
    if (this.byPk.has(hex)) return;
    this.byPk.set(hex, {
      realPk: Uint8Array.from(realPk),
      hex,
      status: "connecting",
      dhtPk: null,
      dhtPkAt: 0,
      addr: null,
      addrAt: 0,
      conn: null,
      lastConn: null,
      pendingAccept: false,
      lastAttemptAt: Number.NEGATIVE_INFINITY,
      pingSentAt: Number.NEGATIVE_INFINITY,
      pingRecvAt: 0,
      relaysSentAt: Number.NEGATIVE_INFINITY,
      relayShareIndex: 0,
    });
  }

  /** Removes a peer and kills its session (no status event, as `kill_friend_connection`). */
  remove(realPk: Uint8Array): void {
    const e = this.byPk.get(keyHex(realPk));
    if (e === undefined) return;
    this.dropSession(e, false);
    this.byPk.delete(e.hex);
  }

  has(realPk: Uint8Array): boolean {
    return this.byPk.has(keyHex(realPk));
  }

  /**
   * The peer's DHT key (from the DHT, onion DHTPK, or given directly). A different key than the
   * one of a live session means the peer restarted: the old session is killed and a new one
   * started (`dht_pk_callback`).
   */
  setDhtKey(realPk: Uint8Array, dhtPk: Uint8Array): void {
    const e = this.byPk.get(keyHex(realPk));
    if (e === undefined) return;
    e.dhtPkAt = this.clock.now();
    if (e.dhtPk !== null && bytesEqual(e.dhtPk, dhtPk)) return;
    e.dhtPk = Uint8Array.from(dhtPk);
    if (e.conn !== null || e.pendingAccept) {
      this.log?.debug({ peer: e.hex.slice(0, 16) }, "friend_connection: DHT key changed, new session");
      this.dropSession(e, true);
    }
    this.tryConnect(e, true);
  }

  /** A direct UDP address for the peer (from the DHT, or given directly). */
  setAddress(realPk: Uint8Array, addr: IpPort): void {
    const e = this.byPk.get(keyHex(realPk));
    if (e === undefined) return;
    e.addr = { ...addr };
    e.addrAt = this.clock.now();
    if (e.conn !== null) this.netCrypto.setDirectAddress(e.conn, addr);
    else this.tryConnect(e, true);
  }

  status(realPk: Uint8Array): FriendConnStatus | undefined {
    return this.byPk.get(keyHex(realPk))?.status;
  }

  info(realPk: Uint8Array): FriendConnInfo | undefined {
    const e = this.byPk.get(keyHex(realPk));
    if (e === undefined) return undefined;
    return {
      realPk: e.realPk,
      status: e.status,
      dhtPk: e.dhtPk,
      address: e.addr,
      connection: e.conn,
      lastPingReceivedAt: e.pingRecvAt,
    };
  }

  /**
   * Sends a lossless packet; its net_crypto packet number, or -1 (not connected / window full).
   * `congestionControl` as in NetCryptoApi.sendLossless.
   */
  sendLossless(realPk: Uint8Array, data: Uint8Array, congestionControl = true): number {
    const e = this.byPk.get(keyHex(realPk));
    if (e === undefined || e.status !== "connected" || e.conn === null) return -1;
    return this.netCrypto.sendLossless(e.conn, data, congestionControl);
  }

  sendLossy(realPk: Uint8Array, data: Uint8Array): boolean {
    const e = this.byPk.get(keyHex(realPk));
    if (e === undefined || e.status !== "connected" || e.conn === null) return false;
    return this.netCrypto.sendLossy(e.conn, data);
  }

  windowFree(realPk: Uint8Array): number {
    const e = this.byPk.get(keyHex(realPk));
    if (e === undefined || e.status !== "connected" || e.conn === null) return 0;
    return this.netCrypto.sendWindowFree(e.conn);
  }

  // -------------------------------------------------------------------------------------------
  // Timers (`do_friend_connections`)

  tick(): void {
    const now = this.clock.now();
    this.resolvePending();
    for (const e of [...this.byPk.values()]) {
      // Accepted, yet net_crypto has no session for it: the handshake failed after all.
      if (e.pendingAccept) e.pendingAccept = false;
      if (e.status === "connecting") {
        if (e.conn === null && !e.pendingAccept) {
          if (e.dhtPk !== null && now - e.dhtPkAt > FRIEND_DHT_TIMEOUT_MS) e.dhtPk = null;
          if (e.addr !== null && now - e.addrAt > FRIEND_DHT_TIMEOUT_MS) e.addr = null;
          this.tryConnect(e, false);
        }
        continue;
      }
      if (e.conn === null) continue;
      // A live session proves the key and address; keep them fresh so that, once it drops, we
      // retry them for FRIEND_DHT_TIMEOUT (c-toxcore relies on the DHT to refresh both).
      e.dhtPkAt = now;
      if (e.addr !== null) e.addrAt = now;
      if (now - e.pingRecvAt > FRIEND_CONNECTION_TIMEOUT_MS) {
        this.log?.debug({ peer: e.hex.slice(0, 16) }, "friend_connection: no ALIVE for 32 s, killing");
        this.dropSession(e, true);
        continue;
      }
      if (now - e.pingSentAt >= FRIEND_PING_INTERVAL_MS) {
        if (this.netCrypto.sendLossless(e.conn, serializeFriendConnPacket({ type: "alive" })) !== -1)
          e.pingSentAt = now;
      }
      if (now - e.relaysSentAt >= SHARE_RELAYS_INTERVAL_MS) this.shareRelays(e, now);
    }
  }

  /** Milliseconds until `tick()` has something to do. */
  nextTickIn(): number {
    const now = this.clock.now();
    let wait = RECONNECT_INTERVAL_MS;
    for (const e of this.byPk.values()) {
      if (e.status === "connected") {
        wait = Math.min(
          wait,
          e.pingSentAt + FRIEND_PING_INTERVAL_MS - now,
          e.pingRecvAt + FRIEND_CONNECTION_TIMEOUT_MS + 1 - now,
        );
      } else if (e.conn === null && e.dhtPk !== null) {
        wait = Math.min(wait, e.lastAttemptAt + RECONNECT_INTERVAL_MS - now);
      }
    }
    return Math.max(1, Math.ceil(wait));
  }

  // -------------------------------------------------------------------------------------------
  // NetCryptoEvents

  onStatus(conn: ConnectionId, state: CryptoConnectionState): void {
    const e = this.entryFor(conn);
    if (e === undefined) return;
    const now = this.clock.now();
    if (state === "established") {
      if (e.status === "connected") return;
      e.status = "connected";
      e.pingRecvAt = now;
      e.pingSentAt = Number.NEGATIVE_INFINITY; // ALIVE right away, as c-toxcore (ping_lastsent 0)
      e.relaysSentAt = Number.NEGATIVE_INFINITY;
      this.events.onStatus(e.realPk, true);
      this.tick();
    } else if (state === "killed") {
      this.byConn.delete(conn);
      e.conn = null;
      e.lastConn = conn;
      e.lastAttemptAt = now;
      const was = e.status;
      e.status = "connecting";
      // The peer's address stays valid for a while: it may just have restarted its session.
      if (was === "connected") this.events.onStatus(e.realPk, false);
    }
  }

  onLossless(conn: ConnectionId, data: Uint8Array): void {
    const e = this.entryFor(conn);
    if (e === undefined || data.length === 0) return;
    if (!isFriendConnPacket(data)) {
      this.events.onPacket(e.realPk, data);
      return;
    }
    const parsed = parseFriendConnPacket(data);
    if (!parsed.ok) {
      this.log?.debug(
        { peer: e.hex.slice(0, 16), err: parsed.error.message },
        "friend_connection: bad packet",
      );
      return;
    }
    const p = parsed.value;
    switch (p.type) {
      case "alive":
        e.pingRecvAt = this.clock.now();
        break;
      case "shareRelays":
        this.events.onRelays?.(e.realPk, p.relays);
        break;
      case "friendRequest":
        this.events.onFriendRequest?.(e.realPk, p.nospam, p.message);
        break;
    }
  }

  onLossy(conn: ConnectionId, data: Uint8Array): void {
    const e = this.entryFor(conn);
    if (e !== undefined) this.events.onLossy?.(e.realPk, data);
  }

  onAcked(conn: ConnectionId, bufferStart: number): void {
    const e = this.entryFor(conn);
    if (e !== undefined) this.events.onAcked(e.realPk, bufferStart);
  }

  /** `handle_new_connections`: only known peers without a session. */
  shouldAccept(peerRealPk: Uint8Array, peerDhtPk: Uint8Array, from: IpPort): boolean {
    const e = this.byPk.get(keyHex(peerRealPk));
    if (e === undefined || e.conn !== null || e.pendingAccept) return false;
    const now = this.clock.now();
    e.pendingAccept = true;
    e.addr = { ...from };
    e.addrAt = now;
    e.dhtPk = Uint8Array.from(peerDhtPk);
    e.dhtPkAt = now;
    return true;
  }

  onDhtKeyChanged(conn: ConnectionId, newDhtPk: Uint8Array): void {
    // net_crypto already dropped the old session (and reported "killed"); start a new one so
    // the handshake that revealed the new key is adopted.
    const e = this.entryFor(conn) ?? this.findByConnGone(conn);
    if (e === undefined) return;
    e.dhtPk = Uint8Array.from(newDhtPk);
    e.dhtPkAt = this.clock.now();
    this.tryConnect(e, true);
  }

  // -------------------------------------------------------------------------------------------

  private shareRelays(e: Entry, now: number): void {
    const all = this.relaysToShare();
    if (all.length === 0 || e.conn === null) return;
    const relays: NodeInfo[] = [];
    for (let i = 0; i < Math.min(MAX_SHARED_RELAYS, all.length); i++)
      relays.push(all[(e.relayShareIndex + i) % all.length]!);
    e.relayShareIndex += MAX_SHARED_RELAYS;
    const pkt = serializeFriendConnPacket({ type: "shareRelays", relays });
    if (this.netCrypto.sendLossless(e.conn, pkt) !== -1) e.relaysSentAt = now;
  }

  private tryConnect(e: Entry, force: boolean): void {
    if (e.conn !== null || e.pendingAccept || e.dhtPk === null) return;
    const now = this.clock.now();
    if (!force && now - e.lastAttemptAt < RECONNECT_INTERVAL_MS) return;
    e.lastAttemptAt = now;
    const conn = this.netCrypto.connect(e.realPk, e.dhtPk);
    this.byConn.set(conn, e);
    e.conn = conn;
    if (e.addr !== null) this.netCrypto.setDirectAddress(conn, e.addr);
    // connect() may return an already-established session (accepted before we knew its id).
    if (this.netCrypto.state(conn) === "established") this.onStatus(conn, "established");
  }

  private dropSession(e: Entry, notify: boolean): void {
    if (e.conn === null && e.pendingAccept) this.resolvePending();
    if (e.conn !== null) {
      const conn = e.conn;
      this.byConn.delete(conn);
      e.conn = null;
      this.netCrypto.kill(conn);
    }
    e.pendingAccept = false;
    const was = e.status;
    e.status = "connecting";
    e.lastAttemptAt = this.clock.now();
    if (notify && was === "connected") this.events.onStatus(e.realPk, false);
  }

  private entryFor(conn: ConnectionId): Entry | undefined {
    const e = this.byConn.get(conn);
    if (e !== undefined) return e;
    this.resolvePending();
    return this.byConn.get(conn);
  }

  /** Maps accepted incoming sessions to their peers (their ids appear only after the accept). */
  private resolvePending(): void {
    for (const e of this.byPk.values()) {
      if (!e.pendingAccept) continue;
      const conn = this.netCrypto.connectionFor(e.realPk);
      if (conn === undefined) continue;
      e.pendingAccept = false;
      e.conn = conn;
      this.byConn.set(conn, e);
    }
  }

  private findByConnGone(conn: ConnectionId): Entry | undefined {
    for (const e of this.byPk.values()) if (e.lastConn === conn) return e;
    return undefined;
  }
}
