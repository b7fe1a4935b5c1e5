/**
 * The TCP relays of one identity (the job of c-toxcore TCP_connection.c): keeps our own relays
 * connected (they are the ones we share with friends and use for onion traffic), connects to the
 * relays a peer is reachable on, asks every relay of a peer for a route to it, and sends each
 * packet for a peer through a relay where the peer is online, falling back to OOB through relays
 * where it is merely known. Relays that die are reconnected with backoff while still needed.
 *
 * Peers are identified by their DHT public key (what relays know). The pool owns no sockets or
 * timers: transports come from an injected factory and `tick()` is driven from outside.
 */
import { toHex } from "../bytes.js";
import type { Clock } from "../clock.js";
import type { KeyPair } from "../crypto.js";
import { LazyMap } from "../lazy-collections.js";
import { ipPort, type NodeInfo } from "../wire/ipport.js";
import { TcpClientConnection, type TcpClientLogger } from "./client.js";
import type { TcpRelayAddress, TcpTransport, TcpTransportFactory } from "./socket.js";

/** `MAX_FRIEND_TCP_CONNECTIONS`: relays used per peer. */
export const MAX_RELAYS_PER_PEER = 6;
/** `RECOMMENDED_FRIEND_TCP_CONNECTIONS`: relays worth sharing with a friend. */
export const RECOMMENDED_SHARED_RELAYS = 3;
/** First reconnect delay after a relay drops; doubles per failure up to the maximum. */
export const RELAY_RETRY_MIN_MS = 5_000;
export const RELAY_RETRY_MAX_MS = 120_000;

export interface TcpRelayPoolEvents {
  /**
   * A packet from a peer, routed or OOB (`oob`), with the relay it came through so a reply can go
   * back the same way (`sendVia`). For net_crypto these are 0x18–0x1b packets.
   */
  onPacket(senderPk: Uint8Array, data: Uint8Array, relayKey: string, oob: boolean): void;
  /** A peer became reachable through at least one relay, or stopped being reachable. */
  onPeerStatus?(peerPk: Uint8Array, online: boolean): void;
  /** One of the relays connected (handshake done) or dropped. */
  onRelayStatus?(relay: TcpRelayAddress, connected: boolean): void;
  onOnionResponse?(data: Uint8Array, relayKey: string): void;
}

/** One relay as seen by the pool, for a debug API or metrics. */
export interface TcpRelaySnapshot {
  key: string;
  own: boolean;
  status: TcpClientConnection["status"];
  /** Peers routed through this relay, and how many of them are online on it. */
  peers: number;
  peersOnline: number;
  failures: number;
  /** Milliseconds until the next reconnect attempt while disconnected. */
  retryInMs: number;
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
}

export interface TcpRelayPoolOptions {
  clock: Clock;
  /** Our DHT key pair (read at each connect: the DHT layer may replace it). */
  dhtKeys: () => KeyPair;
  transport: TcpTransportFactory;
  events: TcpRelayPoolEvents;
  log?: TcpClientLogger;
}

interface RelayEntry {
  key: string;
  addr: TcpRelayAddress;
  /** Ours: kept connected even without peers, shared with friends. */
  own: boolean;
  client: TcpClientConnection | null;
  transport: TcpTransport | null;
  /** Handshake done on the current client (drives onRelayStatus). */
  up: boolean;
  failures: number;
  retryAt: number;
  peers: Set<string>;
}

interface PeerEntry {
  pk: Uint8Array;
  relays: Set<string>;
  online: boolean;
}

/** Identifies a relay by address and key ("host:port/pkprefix"). */
export function relayKey(addr: TcpRelayAddress): string {
  return `${addr.host}:${addr.port}/${toHex(addr.publicKey).slice(0, 16)}`;
}

/** A relay as a packed-node entry with a TCP family (for share-relays and DHTPK). */
export function relayToNode(addr: TcpRelayAddress): NodeInfo {
  return { protocol: "tcp", ipPort: ipPort(addr.host, addr.port), publicKey: addr.publicKey };
}

export function nodeToRelay(node: NodeInfo): TcpRelayAddress {
  return { host: node.ipPort.ip, port: node.ipPort.port, publicKey: node.publicKey };
}

export class TcpRelayPool {
  private readonly clock: Clock;
  private readonly opts: TcpRelayPoolOptions;
  private readonly relays = new LazyMap<string, RelayEntry>();
  private readonly peers = new LazyMap<string, PeerEntry>();
  private closed = false;

  constructor(opts: TcpRelayPoolOptions) {
    this.opts = opts;
    this.clock = opts.clock;
  }

  // -------------------------------------------------------------------------------------------
  // Relays

  /** Adds one of our own relays (kept connected, shared with friends, used for onion). */
  addRelay(addr: TcpRelayAddress): string {
    const entry = this.ensureRelay(addr);
    if (entry.own) return entry.key;
    entry.own = true;
    // Peers added before this relay use it too, within the same limits as addPeer.
    for (const [hex, peer] of this.peers) {
      if (peer.relays.size >= MAX_RELAYS_PER_PEER || peer.relays.has(entry.key)) continue;
      let own = 0;
      for (const key of peer.relays) if (this.relays.get(key)?.own) own++;
      if (own >= RECOMMENDED_SHARED_RELAYS) continue;
      peer.relays.add(entry.key);
      entry.peers.add(hex);
      entry.client?.routingRequest(peer.pk);
    }
    return entry.key;
  }

  /** Stops using a relay of ours (it stays while peers still need it). */
  removeRelay(addr: TcpRelayAddress): void {
    const entry = this.relays.get(relayKey(addr));
    if (entry === undefined) return;
    entry.own = false;
    this.dropIfUnused(entry);
  }

  /** Connected relays of ours, best first, for friend_connection's share-relays packet (id 17). */
  sharedRelays(max = RECOMMENDED_SHARED_RELAYS): NodeInfo[] {
    return [...this.relays.values()]
      .filter((r) => r.own && r.client?.status === "confirmed")
      .slice(0, max)
      .map((r) => relayToNode(r.addr));
  }

  /**
   * Relays of ours for the save file: connected ones first, then the others, so an identity
   * saved while its relays are down still remembers them (c-toxcore saves the relays it knows).
   */
  savedRelays(max = RECOMMENDED_SHARED_RELAYS): NodeInfo[] {
    const own = [...this.relays.values()].filter((r) => r.own);
    const up = own.filter((r) => r.client?.status === "confirmed");
    const down = own.filter((r) => r.client?.status !== "confirmed");
    return [...up, ...down].slice(0, max).map((r) => relayToNode(r.addr));
  }

  /** Keys of relays whose handshake is done (candidates for onion requests). */
  connectedRelays(): string[] {
    return [...this.relays.values()].filter((r) => r.client?.status === "confirmed").map((r) => r.key);
  }

  relayStatus(key: string): TcpClientConnection["status"] | undefined {
    return this.relays.get(key)?.client?.status ?? (this.relays.has(key) ? "disconnected" : undefined);
  }

  // -------------------------------------------------------------------------------------------
  // Peers

  /**
   * Starts (or extends) reaching a peer by its DHT key: through up to
   * {@link RECOMMENDED_SHARED_RELAYS} of our own relays (where the peer finds us once we shared
   * them) and the given relays of the peer (learned from share-relays or DHTPK), at most
   * {@link MAX_RELAYS_PER_PEER} in all. Relays beyond the cap are not connected.
   */
  addPeer(peerPk: Uint8Array, relays: readonly TcpRelayAddress[] = []): void {
    const hex = toHex(peerPk);
    let peer = this.peers.get(hex);
    if (peer === undefined) {
      peer = { pk: Uint8Array.from(peerPk), relays: new Set(), online: false };
      this.peers.set(hex, peer);
    }
    const own = [...this.relays.values()].filter((r) => r.own).slice(0, RECOMMENDED_SHARED_RELAYS);
    const candidates: Array<RelayEntry | TcpRelayAddress> = [...own, ...relays];
    for (const candidate of candidates) {
      if (peer.relays.size >= MAX_RELAYS_PER_PEER) break;
      const key = "key" in candidate ? candidate.key : relayKey(candidate);
      if (peer.relays.has(key)) continue;
      const relay = "key" in candidate ? candidate : this.ensureRelay(candidate);
      peer.relays.add(relay.key);
      relay.peers.add(hex);
      relay.client?.routingRequest(peer.pk);
    }
  }

  hasPeer(peerPk: Uint8Array): boolean {
    return this.peers.has(toHex(peerPk));
  }

  /** Forgets a peer: frees its routes; relays only it needed are closed. */
  removePeer(peerPk: Uint8Array): void {
    const hex = toHex(peerPk);
    const peer = this.peers.get(hex);
    if (peer === undefined) return;
    this.peers.delete(hex);
    for (const key of peer.relays) {
      const relay = this.relays.get(key);
      if (relay === undefined) continue;
      relay.peers.delete(hex);
      relay.client?.disconnectPeer(peer.pk);
      this.dropIfUnused(relay);
    }
  }

  /** True when some relay reports the peer online (routing established on both sides). */
  isPeerOnline(peerPk: Uint8Array): boolean {
    return this.peers.get(toHex(peerPk))?.online ?? false;
  }

  // -------------------------------------------------------------------------------------------
  // Sending

  /**
   * Sends a packet to a peer: routed through the first relay where it is online, otherwise OOB
   * through every connected relay of the peer (the relay delivers OOB to any client connected to
   * it). False when no relay could take it.
   */
  send(peerPk: Uint8Array, data: Uint8Array): boolean {
    const peer = this.peers.get(toHex(peerPk));
    if (peer === undefined) return false;
    for (const key of peer.relays) {
      const client = this.relays.get(key)?.client;
      if (client?.peerStatus(peer.pk) === "online" && client.sendData(peer.pk, data)) return true;
    }
    let sent = false;
    for (const key of peer.relays) {
      const client = this.relays.get(key)?.client;
      if (client?.status === "confirmed" && client.sendOob(peer.pk, data)) sent = true;
    }
    return sent;
  }

  /** Sends through one particular relay: routed if the peer is online there, else OOB. */
  sendVia(key: string, peerPk: Uint8Array, data: Uint8Array): boolean {
    const client = this.relays.get(key)?.client;
    if (client == null) return false;
    if (client.peerStatus(peerPk) === "online") return client.sendData(peerPk, data);
    return client.sendOob(peerPk, data);
  }

  /** Onion request with the given relay as first hop (any connected relay if omitted). */
  sendOnionRequest(nonce: Uint8Array, payload: Uint8Array, key?: string): boolean {
    const k = key ?? this.connectedRelays()[0];
    if (k === undefined) return false;
    return this.relays.get(k)?.client?.sendOnionRequest(nonce, payload) ?? false;
  }

  /** Per-relay state and counters (cheap; for diagnostics). */
  snapshot(): TcpRelaySnapshot[] {
    const now = this.clock.now();
    return [...this.relays.values()].map((r) => {
      let online = 0;
      for (const hex of r.peers) {
        const peer = this.peers.get(hex);
        if (peer !== undefined && r.client?.peerStatus(peer.pk) === "online") online++;
      }
      const stats = r.client?.stats ?? { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0 };
      return {
        key: r.key,
        own: r.own,
        status: r.client?.status ?? "disconnected",
        peers: r.peers.size,
        peersOnline: online,
        failures: r.failures,
        retryInMs: r.client === null || r.client.status === "disconnected" ? Math.max(0, r.retryAt - now) : 0,
        ...stats,
      };
    });
  }

  // -------------------------------------------------------------------------------------------
  // Timers

  tick(): void {
    // Every idle identity ticks once a second; most have no relay at all.
    if (this.closed || this.relays.size === 0) return;
    const now = this.clock.now();
    for (const relay of [...this.relays.values()]) {
      if (relay.client !== null && relay.client.status !== "disconnected") relay.client.tick();
      else if (now >= relay.retryAt) this.connect(relay);
    }
  }

  nextTickIn(): number {
    const now = this.clock.now();
    let wait = 1000;
    for (const relay of this.relays.values()) {
      if (relay.client !== null && relay.client.status !== "disconnected")
        wait = Math.min(wait, relay.client.nextTickIn());
      else wait = Math.min(wait, Math.max(0, relay.retryAt - now));
    }
    return wait;
  }

  /**
   * Reconnects every relay with the current DHT key (`dhtKeys()`): relays know us by that key, so
   * call this after the DHT layer replaced it. Routes are requested again on the new connections.
   */
  rekey(): void {
    if (this.closed) return;
    for (const relay of this.relays.values()) {
      relay.failures = 0;
      this.connect(relay);
    }
  }

  close(): void {
    this.closed = true;
    for (const relay of this.relays.values()) this.disconnect(relay);
    this.relays.clear();
    this.peers.clear();
  }

  // -------------------------------------------------------------------------------------------

  private ensureRelay(addr: TcpRelayAddress): RelayEntry {
    const key = relayKey(addr);
    let entry = this.relays.get(key);
    if (entry === undefined) {
      entry = {
        key,
        addr: { ...addr, publicKey: Uint8Array.from(addr.publicKey) },
        own: false,
        up: false,
        client: null,
        transport: null,
        failures: 0,
        retryAt: 0,
        peers: new Set(),
      };
      this.relays.set(key, entry);
      if (!this.closed) this.connect(entry);
    }
    return entry;
  }

  private connect(relay: RelayEntry): void {
    this.disconnect(relay);
    const client: TcpClientConnection = new TcpClientConnection({
      clock: this.clock,
      relayPk: relay.addr.publicKey,
      keys: this.opts.dhtKeys(),
      write: (b) => {
        if (relay.client === client) relay.transport?.write(b);
      },
      log: this.opts.log,
      label: relay.key,
      events: {
        onConfirmed: () => {
          relay.failures = 0;
          relay.up = true;
          this.opts.events.onRelayStatus?.(relay.addr, true);
        },
        onDisconnected: (reason) => this.relayDropped(relay, client, reason),
        onPeerOnline: (pk) => this.updatePeer(pk),
        onPeerOffline: (pk) => this.updatePeer(pk),
        onData: (pk, _id, data) => this.opts.events.onPacket(pk, data, relay.key, false),
        onOob: (pk, data) => this.opts.events.onPacket(pk, data, relay.key, true),
        onOnionResponse: (data) => this.opts.events.onOnionResponse?.(data, relay.key),
      },
    });
    relay.client = client;
    // Requests queue inside the client until its handshake is done.
    for (const hex of relay.peers) {
      const peer = this.peers.get(hex);
      if (peer !== undefined) client.routingRequest(peer.pk);
    }
    relay.transport = this.opts.transport(relay.addr, {
      connected: () => {
        if (relay.client === client) client.start();
      },
      received: (b) => {
        if (relay.client === client) client.receive(b);
      },
      closed: (reason) => {
        if (relay.client === client) client.socketClosed(reason);
      },
    });
  }

  private relayDropped(relay: RelayEntry, client: TcpClientConnection, reason: string): void {
    if (relay.client !== client) return;
    const wasUp = relay.up;
    relay.up = false;
    relay.transport?.close();
    relay.transport = null;
    relay.failures++;
    relay.retryAt =
      this.clock.now() +
      Math.min(RELAY_RETRY_MAX_MS, RELAY_RETRY_MIN_MS * 2 ** Math.min(10, relay.failures - 1));
    this.opts.log?.debug(
      { relay: relay.key, reason, retryInMs: relay.retryAt - this.clock.now() },
      "relay dropped",
    );
    if (wasUp) this.opts.events.onRelayStatus?.(relay.addr, false);
  }

  private disconnect(relay: RelayEntry): void {
    const client = relay.client;
    const transport = relay.transport;
    relay.client = null;
    relay.transport = null;
    client?.close();
    transport?.close();
    if (relay.up) {
      relay.up = false;
      this.opts.events.onRelayStatus?.(relay.addr, false);
    }
  }

  private dropIfUnused(relay: RelayEntry): void {
    if (relay.own || relay.peers.size > 0) return;
    this.disconnect(relay);
    this.relays.delete(relay.key);
  }

  private updatePeer(pk: Uint8Array): void {
    const peer = this.peers.get(toHex(pk));
    if (peer === undefined) return;
    let online = false;
    for (const key of peer.relays)
      if (this.relays.get(key)?.client?.peerStatus(peer.pk) === "online") {
        online = true;
        break;
      }
    if (online === peer.online) return;
    peer.online = online;
    this.opts.events.onPeerStatus?.(peer.pk, online);
  }
}
