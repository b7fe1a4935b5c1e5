/**
 * The net_crypto manager of one identity (c-toxcore `Net_Crypto`): issues cookies, answers and
 * starts handshakes, finds the session a UDP packet belongs to, and drives every session's
 * timers from `tick()`. The per-session protocol lives in session.ts.
 *
 * Lookup rules, as in c-toxcore: cookie responses and data packets are matched to a session by
 * the source IP:port only (`crypto_id_ip_port`); handshakes additionally by the peer's real key,
 * which the cookie we issued names. Cookie requests are answered statelessly by anyone.
 *
 * Deviations from 0.2.18, deliberate:
 * - A handshake from a new address for a live not-yet-confirmed session is adopted and the
 *   address updated (c-toxcore drops it; tox-rs had to fix the same interop problem).
 * - An ESTABLISHED session that receives a valid handshake with a *different* session key is
 *   replaced: the peer lost its end (restart, or its friend_connection timed out) and would
 *   otherwise wait for ours to time out (c-toxcore ignores such handshakes).
 * - Sessions hold only packets in flight (no 2×32768-slot arrays).
 */
import { bytesEqual, toHex } from "../bytes.js";
import type { Clock } from "../clock.js";
import { type KeyPair, precompute, randomBytes } from "../crypto.js";
import { ToxProtocolError } from "../errors.js";
import { storeLongLivedKey } from "../key-chunks.js";
import { LazyMap } from "../lazy-collections.js";
import type { PacketSink } from "../transport/types.js";
import { type IpPort, ipPortKey } from "../wire/ipport.js";
import {
  COOKIE_REQUEST_LENGTH,
  CRYPTO_DATA_PACKET_MIN_SIZE,
  createCookie,
  ECHO_ID_SIZE,
  MAX_CRYPTO_DATA_SIZE,
  MAX_CRYPTO_PACKET_SIZE,
  NET_PACKET_COOKIE_REQUEST,
  NET_PACKET_COOKIE_RESPONSE,
  NET_PACKET_CRYPTO_DATA,
  NET_PACKET_CRYPTO_HS,
  PACKET_ID_LOSSLESS_END,
  PACKET_ID_LOSSLESS_START,
  PACKET_ID_LOSSY_END,
  PACKET_ID_LOSSY_START,
  parseCookieRequest,
  parseCookieResponse,
  parseHandshake,
  peekCookieRequestSender,
  serializeCookieRequest,
  serializeCookieResponse,
  serializeHandshake,
} from "../wire/netcrypto.js";
import { CryptoSession, type SessionStats } from "./session.js";
import type { ConnectionId, CryptoConnectionState, NetCryptoApi, NetCryptoEvents } from "./types.js";

/** `COOKIE_TIMEOUT`: a cookie we issued is honoured this long. */
export const COOKIE_TIMEOUT_MS = 15_000;

/** Minimal structured logger (pino-compatible). */
export interface NetCryptoLogger {
  debug(obj: Record<string, unknown>, msg: string): void;
}

/**
 * Sends a session's packet on some path. The default sends over UDP to the direct address;
 * the TCP relay layer (issue 4) will wrap it to fall back to relays when there is none.
 * Returns false when no path is usable (the packet is not counted as sent).
 */
export type PacketRoute = (conn: ConnectionId, data: Uint8Array, direct: IpPort | undefined) => boolean;

/**
 * The `from` given to `shouldAccept` for a handshake that arrived through a TCP relay (see
 * {@link NetCrypto.handleRelayedPacket}); 0.0.0.0:0 is never a real UDP source.
 */
export const RELAYED_SOURCE: IpPort = Object.freeze({ family: 4, ip: "0.0.0.0", port: 0 });

export interface NetCryptoOptions {
  clock: Clock;
  /** Long-term identity keys (the Tox ID's key). */
  realKeys: KeyPair;
  /** The DHT key pair is owned by the DHT layer and may be replaced; always read through this. */
  dhtKeys: () => KeyPair;
  sink: PacketSink;
  events: NetCryptoEvents;
  log?: NetCryptoLogger;
  route?: PacketRoute;
  /**
   * Optional cap on a session's unacknowledged lossless bytes (estimated as packets in flight
   * times the size of the packet being sent); `sendLossless` returns -1 beyond it, in both
   * congestion modes. The TCP relay glue sets it while a session runs over relays, where large
   * bursts stalled c-toxcore 0.2.18 peers for good (see tcp/netcrypto-relay.ts).
   */
  maxInFlightBytes?: (conn: ConnectionId) => number;
}

interface Entry {
  id: ConnectionId;
  session: CryptoSession;
  addr: IpPort | undefined;
  /** DHT shared key and echo id of our cookie request (initiator only). */
  dhtShared: Uint8Array | null;
  echoId: Uint8Array | null;
  lastDirectRecvAt: number;
}

/** Per-connection diagnostics. */
export interface ConnectionInfo extends SessionStats {
  peerRealPk: Uint8Array;
  peerDhtPk: Uint8Array;
  address: IpPort | undefined;
  /** Clock time of the last valid packet from the direct address (0 = never). */
  lastDirectRecvAt: number;
}

export class NetCrypto implements NetCryptoApi {
  private readonly clock: Clock;
  private readonly realKeys: KeyPair;
  private readonly dhtKeys: () => KeyPair;
  private readonly sink: PacketSink;
  private readonly events: NetCryptoEvents;
  private readonly log: NetCryptoLogger | undefined;
  private readonly route: PacketRoute;
  private readonly maxInFlightBytes: ((conn: ConnectionId) => number) | undefined;
  /** Random per-instance key for the cookies we issue (`secret_symmetric_key`). */
  private readonly cookieKey = storeLongLivedKey(randomBytes(32));
  private readonly entries = new LazyMap<ConnectionId, Entry>();
  private readonly byPk = new LazyMap<string, ConnectionId>();
  private readonly byAddr = new LazyMap<string, ConnectionId>();
  private nextId = 0;

  constructor(opts: NetCryptoOptions) {
    this.clock = opts.clock;
    this.realKeys = opts.realKeys;
    this.dhtKeys = opts.dhtKeys;
    this.sink = opts.sink;
    this.events = opts.events;
    this.log = opts.log;
    this.maxInFlightBytes = opts.maxInFlightBytes;
    this.route =
      opts.route ??
      ((_conn, data, direct) => {
        if (direct === undefined) return false;
        this.sink.send(direct, data);
        return true;
      });
  }

  // -------------------------------------------------------------------------------------------
  // NetCryptoApi

  connect(peerRealPk: Uint8Array, peerDhtPk: Uint8Array): ConnectionId {
    const existing = this.byPk.get(toHex(peerRealPk));
    if (existing !== undefined) return existing;
    const entry = this.createEntry(peerRealPk, peerDhtPk, "cookie-requesting");
    const dht = this.dhtKeys();
    entry.dhtShared = precompute(peerDhtPk, dht.secretKey);
    entry.echoId = randomBytes(ECHO_ID_SIZE);
    const request = serializeCookieRequest(
      { senderDhtPk: dht.publicKey, senderRealPk: this.realKeys.publicKey, echoId: entry.echoId },
      entry.dhtShared,
    );
    entry.session.setTempPacket(request);
    this.log?.debug({ conn: entry.id, peer: toHex(peerRealPk).slice(0, 16) }, "net_crypto: connecting");
    return entry.id;
  }

  setDirectAddress(conn: ConnectionId, addr: IpPort): void {
    const entry = this.entries.get(conn);
    if (entry === undefined) return;
    this.setAddress(entry, addr);
  }

  sendLossless(conn: ConnectionId, data: Uint8Array, congestionControl = true): number {
    if (data.length === 0 || data.length > MAX_CRYPTO_DATA_SIZE)
      throw new ToxProtocolError(`lossless packet must be 1..${MAX_CRYPTO_DATA_SIZE} bytes`, {
        conn,
        length: data.length,
      });
    if (data[0]! < PACKET_ID_LOSSLESS_START || data[0]! > PACKET_ID_LOSSLESS_END)
      throw new ToxProtocolError("lossless packet id must be 16..191", { conn, id: data[0] });
    const entry = this.entries.get(conn);
    if (entry === undefined) return -1;
    if (this.maxInFlightBytes !== undefined) {
      const cap = this.maxInFlightBytes(conn);
      const perPacket = data.length + CRYPTO_DATA_PACKET_MIN_SIZE;
      if ((entry.session.getStats().inFlight + 1) * perPacket > cap) return -1;
    }
    return entry.session.sendLossless(data, congestionControl);
  }

  sendLossy(conn: ConnectionId, data: Uint8Array): boolean {
    if (data.length === 0 || data.length > MAX_CRYPTO_DATA_SIZE)
      throw new ToxProtocolError(`lossy packet must be 1..${MAX_CRYPTO_DATA_SIZE} bytes`, {
        conn,
        length: data.length,
      });
    if (data[0]! < PACKET_ID_LOSSY_START || data[0]! > PACKET_ID_LOSSY_END)
      throw new ToxProtocolError("lossy packet id must be 192..254", { conn, id: data[0] });
    const entry = this.entries.get(conn);
    return entry?.session.sendLossy(data) ?? false;
  }

  sendWindowFree(conn: ConnectionId): number {
    return this.entries.get(conn)?.session.windowFree() ?? 0;
  }

  state(conn: ConnectionId): CryptoConnectionState | undefined {
    return this.entries.get(conn)?.session.state;
  }

  kill(conn: ConnectionId): void {
    const entry = this.entries.get(conn);
    if (entry === undefined) return;
    entry.session.close();
    this.remove(entry);
  }

  connectionFor(peerRealPk: Uint8Array): ConnectionId | undefined {
    return this.byPk.get(toHex(peerRealPk));
  }

  // -------------------------------------------------------------------------------------------
  // Extensions beyond NetCryptoApi

  /** Diagnostics for one connection. */
  info(conn: ConnectionId): ConnectionInfo | undefined {
    const entry = this.entries.get(conn);
    if (entry === undefined) return undefined;
    return {
      ...entry.session.getStats(),
      peerRealPk: entry.session.peerRealPk,
      peerDhtPk: entry.session.peerDhtPk,
      address: entry.addr,
      lastDirectRecvAt: entry.lastDirectRecvAt,
    };
  }

  connections(): ConnectionId[] {
    return [...this.entries.keys()];
  }

  /** What a path chooser (TCP relay glue) needs per packet; cheaper than `info()`. */
  pathInfo(
    conn: ConnectionId,
  ): { peerDhtPk: Uint8Array; lastDirectRecvAt: number; address: IpPort | undefined } | undefined {
    const entry = this.entries.get(conn);
    if (entry === undefined) return undefined;
    return {
      peerDhtPk: entry.session.peerDhtPk,
      lastDirectRecvAt: entry.lastDirectRecvAt,
      address: entry.addr,
    };
  }

  /**
   * Handles a net_crypto packet (0x18–0x1b) that came through a TCP relay, routed or OOB, from
   * the client whose DHT key the relay vouches for (`senderDhtPk`). Sessions are found by that
   * key instead of a UDP address, so a session keeps working while its packets switch between
   * UDP and relays; the direct address is left alone. Cookie requests are answered through
   * `reply` (back the way they came). A handshake from an unknown peer goes to `shouldAccept`
   * with {@link RELAYED_SOURCE} as its address. Returns true if the packet was valid and used.
   */
  handleRelayedPacket(senderDhtPk: Uint8Array, data: Uint8Array, reply: (data: Uint8Array) => void): boolean {
    if (data.length === 0 || data.length > MAX_CRYPTO_PACKET_SIZE) return false;
    switch (data[0]) {
      case NET_PACKET_COOKIE_REQUEST: {
        // The relay authenticated the sender: the key inside must be the same (as c-toxcore checks).
        const sender = peekCookieRequestSender(data);
        if (!sender.ok || !bytesEqual(sender.value, senderDhtPk)) return false;
        return this.handleCookieRequest(undefined, data, reply);
      }
      case NET_PACKET_COOKIE_RESPONSE:
      case NET_PACKET_CRYPTO_HS:
      case NET_PACKET_CRYPTO_DATA: {
        if (data.length <= CRYPTO_DATA_PACKET_MIN_SIZE - 8) return false;
        if (data[0] === NET_PACKET_CRYPTO_HS) return this.handleHandshake(undefined, data);
        // A linear scan: one identity has few sessions, and relayed traffic is the slow path.
        let entry: Entry | undefined;
        for (const e of this.entries.values())
          if (bytesEqual(e.session.peerDhtPk, senderDhtPk)) {
            entry = e;
            break;
          }
        if (entry === undefined) return false;
        return data[0] === NET_PACKET_COOKIE_RESPONSE
          ? this.handleCookieResponse(entry, data)
          : entry.session.handleData(data);
      }
      default:
        return false;
    }
  }

  /** Drives all timers: temp-packet resends and timeouts, REQUEST/ack packets, resends. */
  tick(): void {
    for (const entry of [...this.entries.values()]) entry.session.tick();
  }

  /** Milliseconds until `tick()` is next useful (0 = now, at most 1000); lets the edge avoid busy loops. */
  nextTickIn(): number {
    let wait = 1000;
    for (const entry of this.entries.values()) wait = Math.min(wait, entry.session.nextTickIn());
    return wait;
  }

  /**
   * Handles UDP packets 0x18–0x1b. Returns true if the packet was valid and used. Never throws
   * on malformed input (callbacks into `events` may).
   */
  handlePacket(from: IpPort, data: Uint8Array): boolean {
    if (data.length === 0) return false;
    switch (data[0]) {
      case NET_PACKET_COOKIE_REQUEST:
        return this.handleCookieRequest(from, data, undefined);
      case NET_PACKET_COOKIE_RESPONSE:
      case NET_PACKET_CRYPTO_HS:
      case NET_PACKET_CRYPTO_DATA: {
        // `udp_handle_packet` bounds.
        if (data.length <= CRYPTO_DATA_PACKET_MIN_SIZE - 8 || data.length > MAX_CRYPTO_PACKET_SIZE)
          return false;
        if (data[0] === NET_PACKET_CRYPTO_HS) return this.handleHandshake(from, data);
        const id = this.byAddr.get(ipPortKey(from));
        const entry = id === undefined ? undefined : this.entries.get(id);
        if (entry === undefined) return false;
        const ok =
          data[0] === NET_PACKET_COOKIE_RESPONSE
            ? this.handleCookieResponse(entry, data)
            : entry.session.handleData(data);
        if (ok) entry.lastDirectRecvAt = this.clock.now();
        return ok;
      }
      default:
        return false;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Packet handlers

  private handleCookieRequest(
    from: IpPort | undefined,
    data: Uint8Array,
    reply: ((data: Uint8Array) => void) | undefined,
  ): boolean {
    if (data.length !== COOKIE_REQUEST_LENGTH) return false;
    const sender = peekCookieRequestSender(data);
    if (!sender.ok) return false;
    const shared = precompute(sender.value, this.dhtKeys().secretKey);
    const req = parseCookieRequest(data, shared);
    if (!req.ok) return false;
    const cookie = createCookie(this.cookieKey, {
      timeMs: this.clock.now(),
      realPk: req.value.senderRealPk,
      dhtPk: req.value.senderDhtPk,
    });
    const response = serializeCookieResponse({ cookie, echoId: req.value.echoId }, shared);
    if (reply !== undefined) reply(response);
    else if (from !== undefined) this.sink.send(from, response);
    return true;
  }

  private handleCookieResponse(entry: Entry, data: Uint8Array): boolean {
    if (entry.session.state !== "cookie-requesting" || entry.dhtShared === null || entry.echoId === null)
      return false;
    const res = parseCookieResponse(data, entry.dhtShared);
    if (!res.ok || !bytesEqual(res.value.echoId, entry.echoId)) return false;
    return entry.session.handleCookie(res.value.cookie);
  }

  /** `from` is undefined for handshakes that came through a TCP relay. */
  private handleHandshake(from: IpPort | undefined, data: Uint8Array): boolean {
    const parsed = parseHandshake(data, this.cookieKey, this.realKeys.secretKey);
    if (!parsed.ok) return false;
    const hs = parsed.value;
    const now = this.clock.now();
    if (hs.cookieTimeMs > now + 1 || now - hs.cookieTimeMs > COOKIE_TIMEOUT_MS) {
      this.log?.debug({ age: now - hs.cookieTimeMs }, "net_crypto: handshake with expired cookie");
      return false;
    }
    const pkHex = toHex(hs.peerRealPk);
    let entry = this.lookup(pkHex);
    if (entry !== undefined) {
      const s = entry.session;
      if (!bytesEqual(s.peerDhtPk, hs.peerDhtPk)) {
        // The peer restarted (c-toxcore makes a new DHT key per run): the old session is dead.
        this.log?.debug({ conn: entry.id }, "net_crypto: peer DHT key changed, replacing session");
        const oldId = entry.id;
        this.terminate(entry);
        this.events.onDhtKeyChanged?.(oldId, hs.peerDhtPk);
        entry = this.lookup(pkHex); // the callback may have connect()ed with the new key
        if (entry !== undefined && !bytesEqual(entry.session.peerDhtPk, hs.peerDhtPk)) return false;
      } else if (s.state === "established") {
        if (s.peerSessionPk !== null && bytesEqual(s.peerSessionPk, hs.sessionPk)) return false; // resent
        this.log?.debug({ conn: entry.id }, "net_crypto: peer started a new session, replacing ours");
        this.terminate(entry);
        entry = this.lookup(pkHex);
      }
    }
    if (entry === undefined) {
      if (!this.events.shouldAccept(hs.peerRealPk, hs.peerDhtPk, from ?? RELAYED_SOURCE)) return false;
      // shouldAccept may itself have called connect(): then adopt that session.
      entry = this.lookup(pkHex) ?? this.createEntry(hs.peerRealPk, hs.peerDhtPk, "not-confirmed");
    }
    if (from !== undefined) this.setAddress(entry, from);
    if (!entry.session.handleHandshake(hs.baseNonce, hs.sessionPk, hs.newCookie)) return false;
    if (from !== undefined) entry.lastDirectRecvAt = now;
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // Bookkeeping

  private lookup(pkHex: string): Entry | undefined {
    const id = this.byPk.get(pkHex);
    return id === undefined ? undefined : this.entries.get(id);
  }

  private createEntry(
    peerRealPk: Uint8Array,
    peerDhtPk: Uint8Array,
    initial: "cookie-requesting" | "not-confirmed",
  ): Entry {
    const id = this.nextId++;
    const realPk = Uint8Array.from(peerRealPk);
    const entry: Entry = {
      id,
      addr: undefined,
      dhtShared: null,
      echoId: null,
      lastDirectRecvAt: 0,
      session: undefined as unknown as CryptoSession,
    };
    entry.session = new CryptoSession(
      realPk,
      Uint8Array.from(peerDhtPk),
      this.clock,
      {
        transmit: (bytes) => this.route(id, bytes, entry.addr),
        buildHandshake: (peerCookie, baseNonce, sessionPk) =>
          serializeHandshake(
            {
              cookie: peerCookie,
              baseNonce,
              sessionPk,
              newCookie: createCookie(this.cookieKey, {
                timeMs: this.clock.now(),
                realPk,
                dhtPk: entry.session.peerDhtPk,
              }),
            },
            this.realKeys.secretKey,
            realPk,
          ),
        onStatus: (state) => {
          if (state === "killed") this.remove(entry);
          this.events.onStatus(id, state);
        },
        onLossless: (d) => this.events.onLossless(id, d),
        onLossy: (d) => this.events.onLossy(id, d),
        onAcked: (n) => this.events.onAcked(id, n),
      },
      initial,
    );
    this.entries.set(id, entry);
    this.byPk.set(toHex(realPk), id);
    return entry;
  }

  private setAddress(entry: Entry, addr: IpPort): void {
    if (entry.addr !== undefined) {
      const oldKey = ipPortKey(entry.addr);
      if (this.byAddr.get(oldKey) === entry.id) this.byAddr.delete(oldKey);
    }
    entry.addr = { ...addr };
    this.byAddr.set(ipPortKey(addr), entry.id);
    entry.session.pathChanged();
  }

  /** Kills a session with a "killed" event (replacement, not a local kill). */
  private terminate(entry: Entry): void {
    entry.session.terminate(true);
    this.remove(entry);
  }

  private remove(entry: Entry): void {
    if (this.entries.get(entry.id) !== entry) return;
    this.entries.delete(entry.id);
    const pk = toHex(entry.session.peerRealPk);
    if (this.byPk.get(pk) === entry.id) this.byPk.delete(pk);
    if (entry.addr !== undefined) {
      const key = ipPortKey(entry.addr);
      if (this.byAddr.get(key) === entry.id) this.byAddr.delete(key);
    }
  }
}
