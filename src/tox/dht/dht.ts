/**
 * The DHT node (c-toxcore 0.2.18 DHT.c + ping.c) as a state machine: packets in through
 * `handlePacket(from, data)`, packets out through a PacketSink, time from an injected Clock,
 * periodic work in `tick()`. No sockets, no timers.
 *
 * What keeps c-toxcore nodes happy with us (protocol map §3, trap 5): we answer pings and nodes
 * requests with length-exact packets, we ping back nodes that contact us (so they enter our
 * lists), we forward 0x20 packets addressed to nodes in our close list, and we only return good
 * nodes, never LAN addresses to non-LAN requesters.
 *
 * Lists: the close list (128 buckets × 8 by common prefix with our key), and per searched key
 * ("friend": a peer's DHT key we want to reach, or one of two random keys used to find nodes all
 * over the key space for onion paths) the 8 closest nodes. Every listed node gets a nodes request
 * every 60 s (that is the liveness check); it is bad after 122 s of silence and no longer pinged
 * after 182 s.
 */
import { toHex } from "../bytes.js";
import type { Clock } from "../clock.js";
import { type KeyPair, newKeyPair, PUBLIC_KEY_SIZE } from "../crypto.js";
import { longLivedKeyPair } from "../key-chunks.js";
import { LazySet } from "../lazy-collections.js";
import type { PacketSink } from "../transport/types.js";
import {
  CRYPTO_PACKET_NAT_PING,
  encodeNatPing,
  isBootstrapInfoRequest,
  MAX_CRYPTO_REQUEST_SIZE,
  MAX_SENT_NODES,
  NAT_PING_REQUEST,
  NAT_PING_RESPONSE,
  NET_PACKET_BOOTSTRAP_INFO,
  NET_PACKET_CRYPTO,
  NET_PACKET_LAN_DISCOVERY,
  NET_PACKET_NODES_REQUEST,
  NET_PACKET_NODES_RESPONSE,
  NET_PACKET_PING_REQUEST,
  NET_PACKET_PING_RESPONSE,
  openCryptoRequest,
  parseLanDiscovery,
  parseNatPing,
  parseNodesRequest,
  parseNodesResponse,
  parsePing,
  serializeBootstrapInfo,
  serializeCryptoRequest,
  serializeLanDiscovery,
  serializeNodesRequest,
  serializeNodesResponse,
  serializePing,
  splitCryptoRequest,
} from "../wire/dht.js";
import { type IpPort, ipPortEqual, ipPortKey, isLanAddress, type NodeInfo } from "../wire/ipport.js";
import {
  type Assoc,
  addClosest,
  assocGood,
  bestAssoc,
  type Candidate,
  type ClientEntry,
  entryGood,
  friendListWouldStore,
  indexOfKey,
  refreshInList,
  type Slot,
  storeInFriendList,
} from "./client-list.js";
import { CloseList } from "./close-list.js";
import {
  BAD_NODE_TIMEOUT_MS,
  BOOTSTRAP_PER_TICK,
  BOOTSTRAP_RETRY_MS,
  DHT_FAKE_FRIEND_NUMBER,
  DHT_FRIEND_MAX_LOCKS,
  DHT_TICK_MS,
  GET_NODE_INTERVAL_MS,
  KILL_NODE_TIMEOUT_MS,
  MAX_BOOTSTRAP_TIMES,
  MAX_CLOSE_TO_BOOTSTRAP_NODES,
  MAX_FRIEND_CLIENTS,
  MAX_REMEMBERED_BOOTSTRAP_NODES,
  MAX_TO_PING,
  PING_ARRAY_SIZE,
  PING_INTERVAL_MS,
  PING_TIMEOUT_MS,
  PUNCH_INTERVAL_MS,
  PUNCH_RESET_TIME_MS,
  TIME_TO_PING_MS,
} from "./constants.js";
import { type DhtFriend, newDhtFriend, newPingId, relaysFor, reportedAddresses } from "./dht-friend.js";
import { compareDistance, keysEqual } from "./distance.js";
import { commonIp, portsOf, punchPorts } from "./nat.js";
import { PingArray } from "./ping-array.js";
import { SharedKeyCache } from "./shared-keys.js";

/** Shared-key cache size of a leaf DHT (friends and the few nodes that ask it). */
const LEAF_SHARED_KEYS = 32;

export interface DhtLogger {
  debug(obj: Record<string, unknown>, msg: string): void;
}

export interface DhtOptions {
  clock: Clock;
  sink: PacketSink;
  /** DHT key pair; c-toxcore makes a fresh one per start (never saved). Default: new. */
  keyPair?: KeyPair;
  log?: DhtLogger;
  /** When set, answer 0xF0 bootstrap-info requests (tox-bootstrapd behaviour). */
  bootstrapInfo?: { version: number; motd: string };
  /** NAT hole punching (c-toxcore `hole_punching_enabled`); default true. */
  holePunching?: boolean;
  /** Accept LAN discovery 0x21 packets from LAN sources; default true. */
  lanDiscovery?: boolean;
  /** Uniform [0, 1) source for random choices; injectable for deterministic tests. */
  random?: () => number;
  /**
   * Shared routing: this DHT is a *leaf* (one hosted identity's DHT key on its own socket) and
   * `backbone` does the routing work for it. A leaf keeps no close list, never bootstraps, pings
   * or asks for nodes; it answers pings and nodes requests (with the backbone's nodes, so the
   * answer is never empty: c-toxcore drops empty nodes responses) and NAT pings, boxes 0x20
   * packets with its own key, and hands friend searches to the backbone.
   */
  backbone?: DhtBackbone;
  /**
   * Locks per searched key (c-toxcore: 32). A backbone holds one per hosted identity that has
   * the key as a friend, so it needs more (default 32).
   */
  maxFriendLocks?: number;
  /** The local address of our socket (a leaf lists itself at it in its DHT-PK announcements). */
  localAddress?: IpPort;
}

/**
 * What a leaf DHT asks of the backbone DHT that routes for it (`Dht` implements it). The
 * backbone searches the friends' DHT keys for every leaf (locks per leaf) and reports addresses.
 */
export interface DhtBackbone {
  readonly publicKey: Uint8Array;
  isConnected(): boolean;
  isNonLanConnected(): boolean;
  getCloseNodes(pk: Uint8Array, forLan: boolean, max?: number): NodeInfo[];
  closeNodes(): NodeInfo[];
  savedNodes(max?: number): NodeInfo[];
  randomGoodNodes(n: number): NodeInfo[];
  friendNodes(dhtPk: Uint8Array): NodeInfo[];
  addFriend(dhtPk: Uint8Array, onFound?: (ipPort: IpPort) => void): number;
  removeFriend(dhtPk: Uint8Array, lock?: number): boolean;
  isSearching(dhtPk: Uint8Array): boolean;
  getFriendAddress(dhtPk: Uint8Array): IpPort | undefined;
  friendRelays(dhtPk: Uint8Array): { all: IpPort[]; reporting: IpPort[] };
  friendReportedAddresses(dhtPk: Uint8Array): IpPort[];
  requestNodes(node: { ipPort: IpPort; publicKey: Uint8Array }, searchedPk: Uint8Array): void;
  bootstrap(node: { ipPort: IpPort; publicKey: Uint8Array }): void;
  /** The backbone's own node (its key at its address), offered when it knows no better node. */
  selfNode(): NodeInfo | undefined;
  /** Our IP address as DHT nodes report it (for leaves bound to an unspecified address). */
  externalIp(): string | undefined;
}

/** Why a packet was dropped as malformed (undefined: handled, or ignored as legitimate). */
type DropReason = string | undefined;

/** Handler of an inner packet of a 0x20 crypto request addressed to us. */
export type CryptoPacketHandler = (from: IpPort, senderDhtPk: Uint8Array, data: Uint8Array) => void;

export interface DhtStats {
  packetsHandled: number;
  malformed: number;
  routed: number;
  /** 0x20 packets for us whose inner id has no registered handler. */
  cryptoUnhandled: number;
  pingsAnswered: number;
  nodesRequestsAnswered: number;
  nodesResponsesAccepted: number;
  responsesRejected: number;
  bootstrapInfoAnswered: number;
}

interface PingTarget {
  publicKey: Uint8Array;
  ipPort: IpPort;
}

export class Dht {
  readonly keyPair: KeyPair;
  readonly stats: DhtStats = {
    packetsHandled: 0,
    malformed: 0,
    routed: 0,
    cryptoUnhandled: 0,
    pingsAnswered: 0,
    nodesRequestsAnswered: 0,
    nodesResponsesAccepted: 0,
    responsesRejected: 0,
    bootstrapInfoAnswered: 0,
  };

  private readonly clock: Clock;
  private readonly sink: PacketSink;
  private readonly log: DhtLogger | undefined;
  private readonly random: () => number;
  private readonly holePunching: boolean;
  private readonly lanDiscovery: boolean;
  private readonly bootstrapInfo: Uint8Array | undefined;
  private readonly keys: SharedKeyCache;
  private readonly backbone: DhtBackbone | undefined;
  private readonly maxFriendLocks: number;
  /** The local address of our socket (see `selfNode`). */
  localAddress: IpPort | undefined;

  private readonly close: CloseList;
  private closeToBootstrap: Candidate[] = [];
  private closeLastGetNodesAt = 0;
  private closeBootstrapTimes = 0;
  private readonly friends: DhtFriend[] = [];
  private nextLockId = 1;

  /** Nodes requests we sent: id -> the node asked. */
  private readonly nodesRequests = new PingArray<PingTarget>(PING_ARRAY_SIZE, PING_TIMEOUT_MS);
  /** Pings we sent: id -> the node pinged. */
  private readonly pings = new PingArray<PingTarget>(PING_ARRAY_SIZE, PING_TIMEOUT_MS);
  /** Newly heard-of nodes, pinged in batches every TIME_TO_PING (ping.c `to_ping`). */
  private toPing: Candidate[] = [];
  private lastToPingAt = 0;
  /** Caller-requested bootstraps, paced by BOOTSTRAP_PER_TICK. */
  private readonly bootstrapQueue: Candidate[] = [];
  private bootstrapsThisTick = 0;
  /** Keys asked by `bootstrap()` since the last tick (a repeat in the same second is dropped). */
  private readonly bootstrappedThisTick = new LazySet<string>();
  /** Nodes given to bootstrap(), asked again while we have no good node. */
  private readonly bootstrapNodes: Candidate[] = [];
  private lastBootstrapRetryAt = 0;

  /**
   * Handlers of other layers by inner id: in practice one, the onion's DHT-PK (a pair list, not
   * a map: every hosted identity has one). NAT ping (0xFE) is handled in place.
   */
  private cryptoHandlers: readonly (readonly [number, CryptoPacketHandler])[] = [];
  private readonly nodesResponseListeners = new LazySet<(node: NodeInfo, from: Uint8Array) => void>();
  private lastTickAt = Number.NEGATIVE_INFINITY;

  constructor(opts: DhtOptions) {
    this.clock = opts.clock;
    this.sink = opts.sink;
    this.log = opts.log;
    this.random = opts.random ?? Math.random;
    this.holePunching = opts.holePunching ?? true;
    this.lanDiscovery = opts.lanDiscovery ?? true;
    this.keyPair = opts.keyPair ?? longLivedKeyPair(newKeyPair());
    this.backbone = opts.backbone;
    this.maxFriendLocks = opts.maxFriendLocks ?? DHT_FRIEND_MAX_LOCKS;
    this.localAddress = opts.localAddress;
    // A leaf talks to its friends and the few nodes that ask it: a small key cache will do.
    this.keys = new SharedKeyCache(this.keyPair.secretKey, this.backbone ? LEAF_SHARED_KEYS : undefined);
    this.close = new CloseList(this.keyPair.publicKey, this.backbone === undefined);
    if (opts.bootstrapInfo) {
      this.bootstrapInfo = serializeBootstrapInfo({
        version: opts.bootstrapInfo.version,
        motd: new TextEncoder().encode(`${opts.bootstrapInfo.motd}\0`),
      });
    }
    if (this.backbone) return;
    for (let i = 0; i < DHT_FAKE_FRIEND_NUMBER; i++) {
      const f = this.ensureFriend(newKeyPair().publicKey);
      f.fake = true;
      f.locks.set(this.nextLockId++, undefined);
    }
  }

  get publicKey(): Uint8Array {
    return this.keyPair.publicKey;
  }

  // -------------------------------------------------------------------------------------------
  // Public API

  /**
   * Asks `node` for nodes close to us. Calls are queued and sent at most BOOTSTRAP_PER_TICK per
   * tick (the first batch immediately), so bootstrapping from a long list does not flood.
   */
  bootstrap(node: { ipPort: IpPort; publicKey: Uint8Array }): void {
    if (node.publicKey.length !== PUBLIC_KEY_SIZE) throw new RangeError("bootstrap key must be 32 bytes");
    if (this.backbone) {
      this.backbone.bootstrap(node);
      return;
    }
    if (keysEqual(node.publicKey, this.publicKey)) return;
    // Many callers may name the same node (every identity's saved nodes, in shared routing):
    // one queued request per node is enough.
    if (this.bootstrapQueue.some((q) => keysEqual(q.publicKey, node.publicKey))) return;
    if (this.bootstrappedThisTick.has(toHex(node.publicKey))) return;
    this.rememberBootstrap({ publicKey: Uint8Array.from(node.publicKey), ipPort: node.ipPort });
    this.lastBootstrapRetryAt = this.clock.now();
    if (this.bootstrapsThisTick < BOOTSTRAP_PER_TICK) {
      this.bootstrapsThisTick++;
      this.bootstrappedThisTick.add(toHex(node.publicKey));
      this.getNodes(node.ipPort, node.publicKey, this.publicKey);
    } else {
      this.bootstrapQueue.push({ publicKey: Uint8Array.from(node.publicKey), ipPort: node.ipPort });
    }
  }

  /**
   * Starts looking for the node with this DHT key (`dht_addfriend`). `onFound` is called with
   * its address whenever we hear from it directly. Returns a lock id for `removeFriend`; the
   * search stops when every lock is removed. At most 32 locks per key.
   */
  addFriend(dhtPk: Uint8Array, onFound?: (ipPort: IpPort) => void): number {
    if (dhtPk.length !== PUBLIC_KEY_SIZE) throw new RangeError("friend DHT key must be 32 bytes");
    if (this.backbone) return this.backbone.addFriend(dhtPk, onFound);
    const f = this.ensureFriend(dhtPk);
    if (f.locks.size >= this.maxFriendLocks) throw new RangeError(`more than ${this.maxFriendLocks} locks`);
    const lock = this.nextLockId++;
    f.locks.set(lock, onFound);
    return lock;
  }

  /** Removes one lock (or, without `lock`, every lock) on a searched key. Returns false if unknown. */
  removeFriend(dhtPk: Uint8Array, lock?: number): boolean {
    if (this.backbone) return this.backbone.removeFriend(dhtPk, lock);
    const i = this.friends.findIndex((f) => !f.fake && keysEqual(f.publicKey, dhtPk));
    if (i < 0) return false;
    const f = this.friends[i]!;
    if (lock === undefined) f.locks.clear();
    else if (!f.locks.delete(lock)) return false;
    if (f.locks.size === 0) this.friends.splice(i, 1);
    return true;
  }

  /** The friend's address if we heard from it directly within BAD_NODE_TIMEOUT (`dht_getfriendip`). */
  getFriendAddress(dhtPk: Uint8Array): IpPort | undefined {
    if (this.backbone) return this.backbone.getFriendAddress(dhtPk);
    const f = this.findFriend(dhtPk);
    if (!f) return undefined;
    const i = indexOfKey(f.clients, dhtPk);
    if (i < 0) return undefined;
    return bestAssoc(f.clients[i]!, this.clock.now())?.ipPort;
  }

  /**
   * Asks `node` for the nodes it knows closest to `searchedPk` (`dht_getnodes`): the onion client
   * does this with the nodes a friend lists in its DHT-PK, so the friend is found in one round
   * trip instead of at the next periodic search.
   */
  requestNodes(node: { ipPort: IpPort; publicKey: Uint8Array }, searchedPk: Uint8Array): void {
    if (this.backbone) {
      this.backbone.requestNodes(node, searchedPk);
      return;
    }
    if (keysEqual(node.publicKey, this.publicKey)) return;
    this.getNodes(node.ipPort, node.publicKey, searchedPk);
  }

  /** Good nodes of the close list, closest to our key first. */
  closeNodes(): NodeInfo[] {
    if (this.backbone) return this.backbone.closeNodes();
    const now = this.clock.now();
    const out: NodeInfo[] = [];
    for (const e of this.close.slots) {
      const a = e ? bestAssoc(e, now) : undefined;
      if (e && a) out.push({ protocol: "udp", ipPort: a.ipPort, publicKey: e.publicKey });
    }
    return out.sort((x, y) => compareDistance(this.publicKey, x.publicKey, y.publicKey));
  }

  /**
   * Good nodes worth saving in the profile (c-toxcore saves its close list and friend lists and
   * bootstraps from them after load): close-list nodes first, then friend-list nodes, distinct.
   */
  savedNodes(max = 100): NodeInfo[] {
    if (this.backbone) return this.backbone.savedNodes(max);
    const out = this.closeNodes();
    const seen = new Set(out.map((n) => toHex(n.publicKey)));
    for (const f of this.friends) {
      for (const n of this.friendNodes(f.publicKey)) {
        const k = toHex(n.publicKey);
        if (!seen.has(k)) {
          seen.add(k);
          out.push(n);
        }
      }
    }
    return out.slice(0, max);
  }

  /** Good nodes of the list kept for a searched key, closest first (empty if not searched). */
  friendNodes(dhtPk: Uint8Array): NodeInfo[] {
    if (this.backbone) return this.backbone.friendNodes(dhtPk);
    const f = this.findFriend(dhtPk);
    if (!f) return [];
    const now = this.clock.now();
    const out: NodeInfo[] = [];
    for (const e of f.clients) {
      const a = e ? bestAssoc(e, now) : undefined;
      if (e && a) out.push({ protocol: "udp", ipPort: a.ipPort, publicKey: e.publicKey });
    }
    return out.sort((x, y) => compareDistance(dhtPk, x.publicKey, y.publicKey));
  }

  /**
   * Up to `n` distinct good nodes at random, for onion paths. Drawn from the lists of the two
   * random search keys first (as c-toxcore's `randfriends_nodes`: they say nothing about our
   * real friends), topped up from the close list.
   */
  randomGoodNodes(n: number): NodeInfo[] {
    if (this.backbone) return this.backbone.randomGoodNodes(n);
    const now = this.clock.now();
    const seen = new Set<string>();
    const pool: NodeInfo[] = [];
    const take = (list: readonly Slot[]) => {
      for (const e of list) {
        const a = e ? bestAssoc(e, now) : undefined;
        if (!e || !a) continue;
        const key = toHex(e.publicKey);
        if (seen.has(key)) continue;
        seen.add(key);
        pool.push({ protocol: "udp", ipPort: a.ipPort, publicKey: e.publicKey });
      }
    };
    for (const f of this.friends) if (f.fake) take(f.clients);
    const fromFake = this.shuffle(pool).slice(0, n);
    if (fromFake.length >= n) return fromFake;
    const before = pool.length;
    take(this.close.slots);
    return [...fromFake, ...this.shuffle(pool.slice(before)).slice(0, n - fromFake.length)];
  }

  /**
   * `get_close_nodes`: up to 4 good nodes closest to `pk` from all our lists. LAN addresses only
   * when `forLan` (the requester is on a LAN itself).
   */
  getCloseNodes(pk: Uint8Array, forLan: boolean, max = MAX_SENT_NODES): NodeInfo[] {
    if (this.backbone) return this.backbone.getCloseNodes(pk, forLan, max);
    const now = this.clock.now();
    const best: Candidate[] = [];
    const consider = (e: Slot) => {
      if (!e) return;
      const a = bestAssoc(e, now);
      if (!a) return;
      if (isLanAddress(a.ipPort) && !forLan) return;
      addClosest(best, max, { publicKey: e.publicKey, ipPort: a.ipPort }, pk);
    };
    for (const e of this.close.slots) consider(e);
    for (const f of this.friends) for (const e of f.clients) consider(e);
    return best.map((c) => ({ protocol: "udp", ipPort: c.ipPort, publicKey: c.publicKey }));
  }

  /** Whether any close-list node is good (`dht_isconnected`). */
  isConnected(): boolean {
    if (this.backbone) return this.backbone.isConnected();
    const now = this.clock.now();
    return this.close.slots.some((e) => entryGood(e, now));
  }

  /** Whether a good close-list node has a non-LAN address (`dht_non_lan_connected`). */
  isNonLanConnected(): boolean {
    if (this.backbone) return this.backbone.isNonLanConnected();
    const now = this.clock.now();
    return this.close.slots.some((e) => {
      if (!e) return false;
      return (
        (assocGood(e.assoc4, now) && !isLanAddress(e.assoc4.ipPort)) ||
        (assocGood(e.assoc6, now) && !isLanAddress(e.assoc6.ipPort))
      );
    });
  }

  /**
   * Registers the handler of one inner id of 0x20 crypto requests addressed to us (0x9C DHTPK
   * for the onion layer, ...). 0xFE NAT ping is handled here. Returns an unregister function.
   */
  onCryptoPacket(id: number, handler: CryptoPacketHandler): () => void {
    if (id === CRYPTO_PACKET_NAT_PING) throw new RangeError("NAT ping (0xFE) is handled by the DHT itself");
    // concat sizes the array exactly (a spread or push leaves room for 16 more).
    const pair: readonly [number, CryptoPacketHandler] = [id, handler];
    this.cryptoHandlers = this.cryptoHandlers.filter(([other]) => other !== id).concat([pair]);
    return () => {
      this.cryptoHandlers = this.cryptoHandlers.filter(([other, h]) => other !== id || h !== handler);
    };
  }

  /**
   * Every node learned from a nodes response (c-toxcore `get_nodes_response` callback: the onion
   * layer collects path nodes from it). `from` is the responder's DHT key.
   */
  onNodesResponse(listener: (node: NodeInfo, from: Uint8Array) => void): () => void {
    this.nodesResponseListeners.add(listener);
    return () => this.nodesResponseListeners.delete(listener);
  }

  /**
   * Sends a 0x20 crypto request to the node with DHT key `toDhtPk`: directly when we know its
   * address, else through the nodes of its search list, which forward it because the target is
   * in their close list. `oneRoute` picks one random relay instead of all (c-toxcore answers NAT
   * pings that way). The key must be searched with `addFriend` to be routable. Returns the
   * number of datagrams sent.
   */
  sendCryptoPacket(toDhtPk: Uint8Array, innerId: number, payload: Uint8Array, oneRoute = false): number {
    const packet = serializeCryptoRequest(toDhtPk, this.publicKey, this.keys.get(toDhtPk), {
      id: innerId,
      data: payload,
    });
    const direct = this.getFriendAddress(toDhtPk);
    if (direct) {
      this.sink.send(direct, packet);
      return 1;
    }
    if (this.backbone) return this.sendVia(this.backbone.friendRelays(toDhtPk), packet, oneRoute);
    return this.routeToFriend(toDhtPk, packet, oneRoute);
  }

  /** The 0x21 packet for the edge to broadcast (LAN discovery; it does not reach `lo`). */
  lanDiscoveryPacket(): Uint8Array {
    return serializeLanDiscovery(this.publicKey);
  }

  /** Hit/miss counters of the shared-key cache. */
  sharedKeyStats(): { hits: number; misses: number } {
    return { hits: this.keys.hits, misses: this.keys.misses };
  }

  /** The shared key with a DHT peer, cached (for layers boxing with the DHT key, e.g. cookies). */
  sharedKey(peerDhtPk: Uint8Array): Uint8Array {
    return this.keys.get(peerDhtPk);
  }

  // -------------------------------------------------------------------------------------------
  // Packets

  /**
   * Handles a datagram if its id is a DHT id (0x00, 0x01, 0x02, 0x04, 0x20, 0x21, 0xF0);
   * returns false for other ids. Never throws: malformed input is counted and dropped.
   */
  handlePacket(from: IpPort, data: Uint8Array): boolean {
    const id = data[0];
    switch (id) {
      case NET_PACKET_PING_REQUEST:
      case NET_PACKET_PING_RESPONSE:
      case NET_PACKET_NODES_REQUEST:
      case NET_PACKET_NODES_RESPONSE:
      case NET_PACKET_CRYPTO:
      case NET_PACKET_LAN_DISCOVERY:
      case NET_PACKET_BOOTSTRAP_INFO:
        break;
      default:
        return false;
    }
    this.stats.packetsHandled++;
    let reason: DropReason;
    try {
      reason = this.dispatch(id, from, data);
    } catch (err) {
      reason = `handler failed: ${String(err)}`;
    }
    if (reason !== undefined) this.malformed(from, id, reason);
    return true;
  }

  private dispatch(id: number, from: IpPort, data: Uint8Array): DropReason {
    switch (id) {
      case NET_PACKET_PING_REQUEST:
        return this.handlePingRequest(from, data);
      case NET_PACKET_PING_RESPONSE:
        return this.handlePingResponse(from, data);
      case NET_PACKET_NODES_REQUEST:
        return this.handleNodesRequest(from, data);
      case NET_PACKET_NODES_RESPONSE:
        return this.handleNodesResponse(from, data);
      case NET_PACKET_CRYPTO:
        return this.handleCryptoRequest(from, data);
      case NET_PACKET_LAN_DISCOVERY:
        return this.handleLanDiscovery(from, data);
      default:
        if (this.bootstrapInfo && isBootstrapInfoRequest(data)) {
          this.stats.bootstrapInfoAnswered++;
          this.sink.send(from, this.bootstrapInfo);
        }
        return undefined;
    }
  }

  private malformed(from: IpPort, packetId: number, reason: string): void {
    this.stats.malformed++;
    this.log?.debug({ from: ipPortKey(from), packetId, reason }, "dropped DHT packet");
  }

  private senderKey(data: Uint8Array): { pk: Uint8Array; shared: Uint8Array } | undefined {
    if (data.length < 1 + PUBLIC_KEY_SIZE) return undefined;
    const pk = data.subarray(1, 1 + PUBLIC_KEY_SIZE);
    if (keysEqual(pk, this.publicKey)) return undefined; // our own packet reflected back
    return { pk, shared: this.keys.get(pk) };
  }

  private handlePingRequest(from: IpPort, data: Uint8Array): DropReason {
    const k = this.senderKey(data);
    if (!k) return "no/own sender key";
    const r = parsePing(data, k.shared);
    if (!r.ok || r.value.type !== NET_PACKET_PING_REQUEST)
      return r.ok ? "ping type does not match the packet id" : r.error.message;
    this.stats.pingsAnswered++;
    this.sink.send(
      from,
      serializePing({ type: NET_PACKET_PING_RESPONSE, pingId: r.value.pingId }, this.publicKey, k.shared),
    );
    if (!this.backbone) this.pingAdd(r.value.senderPk, from);
  }

  private handlePingResponse(from: IpPort, data: Uint8Array): DropReason {
    const k = this.senderKey(data);
    if (!k) return "no/own sender key";
    const r = parsePing(data, k.shared);
    if (!r.ok || r.value.type !== NET_PACKET_PING_RESPONSE)
      return r.ok ? "ping type does not match the packet id" : r.error.message;
    const asked = this.pings.take(this.clock.now(), r.value.pingId);
    if (!asked || !keysEqual(asked.publicKey, r.value.senderPk) || !ipPortEqual(asked.ipPort, from)) {
      this.stats.responsesRejected++;
      return;
    }
    this.addToLists(from, r.value.senderPk);
  }

  private handleNodesRequest(from: IpPort, data: Uint8Array): DropReason {
    const k = this.senderKey(data);
    if (!k) return "no/own sender key";
    const r = parseNodesRequest(data, k.shared);
    if (!r.ok) return r.error.message;
    const nodes = this.getCloseNodes(r.value.searchedPk, isLanAddress(from));
    if (this.backbone && nodes.length === 0) {
      // c-toxcore ignores a nodes response without nodes (`handle_sendnodes_core`), and that
      // response is how a friend who asked us learns our address: offer the backbone at least.
      const self = this.backbone.selfNode();
      if (self && (isLanAddress(from) || !isLanAddress(self.ipPort))) nodes.push(self);
    }
    this.stats.nodesRequestsAnswered++;
    this.sink.send(from, serializeNodesResponse({ nodes, pingId: r.value.pingId }, this.publicKey, k.shared));
    if (!this.backbone) this.pingAdd(r.value.senderPk, from);
  }

  private handleNodesResponse(from: IpPort, data: Uint8Array): DropReason {
    const k = this.senderKey(data);
    if (!k) return "no/own sender key";
    const r = parseNodesResponse(data, k.shared);
    if (!r.ok) return r.error.message;
    // c-toxcore unpacks with TCP families disallowed: such a response is invalid as a whole.
    if (r.value.nodes.some((n) => n.protocol !== "udp")) return "TCP node in a UDP nodes response";
    const asked = this.nodesRequests.take(this.clock.now(), r.value.pingId);
    if (!asked || !keysEqual(asked.publicKey, r.value.senderPk) || !ipPortEqual(asked.ipPort, from)) {
      this.stats.responsesRejected++;
      return;
    }
    this.stats.nodesResponsesAccepted++;
    this.addToLists(from, r.value.senderPk);
    for (const node of r.value.nodes) {
      if (node.ipPort.port === 0) continue;
      this.considerReturnedNode(node.publicKey, node.ipPort);
      this.noteReturnedAddress(node.ipPort, node.publicKey, r.value.senderPk);
      for (const l of this.nodesResponseListeners) l(node, r.value.senderPk);
    }
  }

  private handleCryptoRequest(from: IpPort, data: Uint8Array): DropReason {
    const h = splitCryptoRequest(data);
    if (!h.ok) return h.error.message;
    if (keysEqual(h.value.receiverPk, this.publicKey)) {
      if (keysEqual(h.value.senderPk, this.publicKey)) return;
      // Routing allows MAC_SIZE extra bytes, but a request for us is at most 1024 (`handle_request`).
      if (data.length > MAX_CRYPTO_REQUEST_SIZE) return "crypto request for us over 1024 bytes";
      const inner = openCryptoRequest(h.value, this.keys.get(h.value.senderPk));
      if (!inner.ok) return inner.error.message;
      if (inner.value.id === CRYPTO_PACKET_NAT_PING) {
        this.handleNatPing(from, h.value.senderPk, inner.value.data);
        return;
      }
      const handler = this.cryptoHandlers.find(([id]) => id === inner.value.id)?.[1];
      if (!handler) {
        // Valid, just not something a registered layer wants (e.g. DHTPK before the onion is up).
        this.stats.cryptoUnhandled++;
        return;
      }
      handler(from, h.value.senderPk, inner.value.data);
      return;
    }
    // Not for us: forward unchanged if the receiver is in our close list (`route_packet`).
    const e = this.close.entry(h.value.receiverPk);
    if (!e) return;
    // c-toxcore forwards to any known address, good or not: the target may just be quiet.
    const a =
      e.assoc4 && e.assoc6
        ? e.assoc4.heardAt >= e.assoc6.heardAt
          ? e.assoc4
          : e.assoc6
        : (e.assoc4 ?? e.assoc6);
    if (!a) return;
    this.stats.routed++;
    this.sink.send(a.ipPort, data);
  }

  private handleLanDiscovery(from: IpPort, data: Uint8Array): DropReason {
    if (this.backbone) return;
    if (!this.lanDiscovery || !isLanAddress(from)) return;
    const r = parseLanDiscovery(data);
    if (!r.ok) return r.error.message;
    if (keysEqual(r.value.dhtPk, this.publicKey)) return;
    this.getNodes(from, r.value.dhtPk, this.publicKey);
  }

  // -------------------------------------------------------------------------------------------
  // NAT ping / hole punching

  private handleNatPing(_from: IpPort, senderPk: Uint8Array, data: Uint8Array): void {
    const r = parseNatPing(data);
    if (!r.ok) {
      this.malformed(_from, NET_PACKET_CRYPTO, r.error.message);
      return;
    }
    if (this.backbone) {
      // The backbone holds the search for our friends' DHT keys; answer only friends, as c-toxcore.
      if (r.value.kind === NAT_PING_REQUEST && this.backbone.isSearching(senderPk)) {
        this.sendCryptoPacket(
          senderPk,
          CRYPTO_PACKET_NAT_PING,
          encodeNatPing({ kind: NAT_PING_RESPONSE, pingId: r.value.pingId }),
          true,
        );
      }
      return;
    }
    const f = this.findFriend(senderPk);
    if (!f) return;
    const now = this.clock.now();
    if (r.value.kind === NAT_PING_REQUEST) {
      this.sendCryptoPacket(
        senderPk,
        CRYPTO_PACKET_NAT_PING,
        encodeNatPing({ kind: NAT_PING_RESPONSE, pingId: r.value.pingId }),
        true,
      );
      f.nat.recvPingAt = now;
    } else if (keysEqual(r.value.pingId, f.nat.pingId)) {
      f.nat.pingId = newPingId();
      f.nat.readyToPunch = true;
    }
  }

  /**
   * Addresses that the nodes of a friend's list report for the friend (`friend_iplist`); empty
   * when we hear from the friend directly (no punching needed).
   */
  friendReportedAddresses(dhtPk: Uint8Array): IpPort[] {
    if (this.backbone) return this.backbone.friendReportedAddresses(dhtPk);
    const f = this.findFriend(dhtPk);
    return f ? reportedAddresses(f, this.clock.now()) : [];
  }

  private doNat(now: number): void {
    for (const f of this.friends) {
      if (f.fake) continue;
      const reported = reportedAddresses(f, this.clock.now());
      if (reported.length < MAX_FRIEND_CLIENTS / 2) continue;
      if (f.nat.pingSentAt + PUNCH_INTERVAL_MS < now) {
        this.routeToFriend(
          f.publicKey,
          serializeCryptoRequest(f.publicKey, this.publicKey, this.keys.get(f.publicKey), {
            id: CRYPTO_PACKET_NAT_PING,
            data: encodeNatPing({ kind: NAT_PING_REQUEST, pingId: f.nat.pingId }),
          }),
          false,
        );
        f.nat.pingSentAt = now;
      }
      if (
        this.holePunching &&
        f.nat.readyToPunch &&
        f.nat.punchedAt + PUNCH_INTERVAL_MS < now &&
        f.nat.recvPingAt + 2 * PUNCH_INTERVAL_MS >= now
      ) {
        const ip = commonIp(reported, MAX_FRIEND_CLIENTS / 2);
        if (ip === undefined) continue;
        if (f.nat.punchedAt + PUNCH_RESET_TIME_MS < now) {
          f.nat.tries = 0;
          f.nat.index = 0;
          f.nat.index2 = 0;
        }
        const family = reported.find((x) => x.ip === ip)!.family;
        for (const port of punchPorts(portsOf(reported, ip), f.nat)) {
          this.sendPing({ family, ip, port }, f.publicKey);
        }
        f.nat.punchedAt = now;
        f.nat.readyToPunch = false;
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Periodic work

  /** Runs due periodic work (at most once per DHT_TICK_MS, like c-toxcore's 1 s DHT clock). */
  tick(): void {
    const now = this.clock.now();
    if (now - this.lastTickAt < DHT_TICK_MS) return;
    this.lastTickAt = now;
    if (this.backbone) return;
    this.nodesRequests.expire(now);
    this.pings.expire(now);
    this.retryBootstrap(now);
    this.flushBootstrapQueue();
    this.doClose(now);
    this.doFriends(now);
    this.doNat(now);
    this.pingIterate(now);
  }

  /** Milliseconds until `tick()` has work. */
  nextTickIn(): number {
    // A leaf has no periodic work of its own.
    if (this.backbone) return Number.POSITIVE_INFINITY;
    return Math.max(0, this.lastTickAt + DHT_TICK_MS - this.clock.now());
  }

  /** Whether a lock holder searches this DHT key (a leaf's friend, for the backbone). */
  isSearching(dhtPk: Uint8Array): boolean {
    if (this.backbone) return this.backbone.isSearching(dhtPk);
    const f = this.findFriend(dhtPk);
    return f !== undefined && !f.fake;
  }

  /** Nodes that can forward a 0x20 packet to a searched key (for leaves routing through us). */
  friendRelays(dhtPk: Uint8Array): { all: IpPort[]; reporting: IpPort[] } {
    if (this.backbone) return this.backbone.friendRelays(dhtPk);
    const f = this.findFriend(dhtPk);
    return f ? relaysFor(f, this.clock.now()) : { all: [], reporting: [] };
  }

  /** Whether this DHT is a leaf of a backbone (shared routing). */
  get isLeaf(): boolean {
    return this.backbone !== undefined;
  }

  /**
   * Our key at our socket's address, as others reach it: for a socket bound to an unspecified
   * address ("0.0.0.0", "::") the IP is the one DHT nodes report for us (undefined until one
   * does). A leaf lists itself this way in its DHT-PK announcements, and a backbone is offered
   * by its leaves when it knows no better node.
   */
  selfNode(): NodeInfo | undefined {
    const local = this.localAddress;
    if (local === undefined) return undefined;
    let ip: string | undefined = local.ip;
    if (ip === "0.0.0.0" || ip === "::") ip = this.externalIp();
    if (ip === undefined) return undefined;
    return {
      protocol: "udp",
      ipPort: { family: ip.includes(":") ? 6 : 4, ip, port: local.port },
      publicKey: this.publicKey,
    };
  }

  /** The IP close-list nodes most often report for our key lately (c-toxcore learns it the same way). */
  externalIp(): string | undefined {
    if (this.backbone) return this.backbone.externalIp();
    const now = this.clock.now();
    const votes = new Map<string, number>();
    for (const e of this.close.slots) {
      if (!e) continue;
      for (const a of [e.assoc4, e.assoc6]) {
        if (a?.returnedIpPort === undefined || a.returnedAt + BAD_NODE_TIMEOUT_MS <= now) continue;
        votes.set(a.returnedIpPort.ip, (votes.get(a.returnedIpPort.ip) ?? 0) + 1);
      }
    }
    let best: string | undefined;
    let most = 0;
    for (const [ip, n] of votes)
      if (n > most) {
        best = ip;
        most = n;
      }
    return best;
  }

  private rememberBootstrap(c: Candidate): void {
    const i = this.bootstrapNodes.findIndex((b) => keysEqual(b.publicKey, c.publicKey));
    if (i >= 0) this.bootstrapNodes.splice(i, 1);
    this.bootstrapNodes.push(c);
    if (this.bootstrapNodes.length > MAX_REMEMBERED_BOOTSTRAP_NODES) this.bootstrapNodes.shift();
  }

  /**
   * While no node is good, ask the bootstrap nodes again every BOOTSTRAP_RETRY_MS: one lost
   * datagram must not leave us cut off (c-toxcore leaves this to the client application).
   */
  private retryBootstrap(now: number): void {
    if (this.bootstrapNodes.length === 0 || now - this.lastBootstrapRetryAt < BOOTSTRAP_RETRY_MS) return;
    if (this.isConnected()) return;
    this.lastBootstrapRetryAt = now;
    for (const b of this.bootstrapNodes) {
      if (!this.bootstrapQueue.some((q) => keysEqual(q.publicKey, b.publicKey))) this.bootstrapQueue.push(b);
    }
  }

  private flushBootstrapQueue(): void {
    const batch = this.bootstrapQueue.splice(0, BOOTSTRAP_PER_TICK);
    this.bootstrapsThisTick = batch.length;
    this.bootstrappedThisTick.clear();
    for (const n of batch) this.getNodes(n.ipPort, n.publicKey, this.publicKey);
  }

  private doClose(now: number): void {
    for (const c of this.closeToBootstrap) this.getNodes(c.ipPort, c.publicKey, this.publicKey);
    this.closeToBootstrap = [];
    const st = { lastGetNodesAt: this.closeLastGetNodesAt, bootstrapTimes: this.closeBootstrapTimes };
    const alive = this.pingList(this.close.slots, this.publicKey, st, now);
    this.closeLastGetNodesAt = st.lastGetNodesAt;
    this.closeBootstrapTimes = st.bootstrapTimes;
    if (alive > 0) return;
    // Every node is past the kill timeout: we are probably the one who was cut off. Mark them
    // bad-but-not-dead so we keep asking them instead of going silent forever.
    for (const e of this.close.slots) {
      if (!e) continue;
      for (const a of [e.assoc4, e.assoc6]) if (a && a.heardAt !== 0) a.heardAt = now - BAD_NODE_TIMEOUT_MS;
    }
  }

  private doFriends(now: number): void {
    for (const f of this.friends) {
      for (const c of f.toBootstrap) this.getNodes(c.ipPort, c.publicKey, f.publicKey);
      f.toBootstrap = [];
      this.pingList(f.clients, f.publicKey, f, now);
    }
  }

  /**
   * `do_ping_and_sendnode_requests`: a nodes request (for `target`) to every live node not asked
   * for PING_INTERVAL, plus one to a random good node every GET_NODE_INTERVAL (every round for the
   * first MAX_BOOTSTRAP_TIMES). Returns the number of addresses not past the kill timeout.
   */
  private pingList(
    list: Slot[],
    target: Uint8Array,
    st: { lastGetNodesAt: number; bootstrapTimes: number },
    now: number,
  ): number {
    let alive = 0;
    const good: Array<[ClientEntry, Assoc]> = [];
    for (const e of list) {
      if (!e) continue;
      for (const a of [e.assoc6, e.assoc4]) {
        if (!a || a.heardAt + KILL_NODE_TIMEOUT_MS <= now) continue;
        alive++;
        if (a.lastPingedAt + PING_INTERVAL_MS <= now) {
          this.getNodes(a.ipPort, e.publicKey, target);
          a.lastPingedAt = now;
        }
        if (assocGood(a, now)) good.push([e, a]);
      }
    }
    if (
      good.length > 0 &&
      (st.lastGetNodesAt + GET_NODE_INTERVAL_MS <= now || st.bootstrapTimes < MAX_BOOTSTRAP_TIMES)
    ) {
      const [e, a] = good[Math.floor(this.random() * good.length)]!;
      this.getNodes(a.ipPort, e.publicKey, target);
      st.lastGetNodesAt = now;
      st.bootstrapTimes++;
    }
    return alive;
  }

  private pingIterate(now: number): void {
    if (now - this.lastToPingAt < TIME_TO_PING_MS || this.toPing.length === 0) return;
    for (const c of this.toPing)
      if (this.close.addable(c.publicKey, now)) this.sendPing(c.ipPort, c.publicKey);
    this.toPing = [];
    this.lastToPingAt = now;
  }

  // -------------------------------------------------------------------------------------------
  // Lists

  /**
   * `addto_lists`: we heard from `pk` at `from` (a verified response, or a ping): refresh or add
   * it in the close list and every friend list it fits; tell the friend's lock holders when the
   * node is the friend itself.
   */
  private addToLists(from: IpPort, pk: Uint8Array): void {
    const now = this.clock.now();
    this.close.heardFrom(pk, from, now);
    for (const f of this.friends) {
      const stored =
        refreshInList(f.clients, pk, from, now) || storeInFriendList(f.clients, pk, from, f.publicKey, now);
      if (stored && keysEqual(pk, f.publicKey)) for (const cb of f.locks.values()) cb?.(from);
    }
  }

  /**
   * `ping_node_from_getnodes_ok`: a node returned in a nodes response goes into the "ask next
   * round" lists of the close list / friend lists it would improve.
   */
  private considerReturnedNode(pk: Uint8Array, ipPort: IpPort): void {
    if (keysEqual(pk, this.publicKey)) return;
    const now = this.clock.now();
    const inClose = this.close.entry(pk);
    const closeHasIt =
      inClose !== undefined && assocGood(ipPort.family === 4 ? inClose.assoc4 : inClose.assoc6, now);
    if (this.close.addable(pk, now) && !closeHasIt) {
      addClosest(
        this.closeToBootstrap,
        MAX_CLOSE_TO_BOOTSTRAP_NODES,
        { publicKey: pk, ipPort },
        this.publicKey,
      );
    }
    for (const f of this.friends) {
      const i = indexOfKey(f.clients, pk);
      const listed =
        i >= 0 && assocGood(ipPort.family === 4 ? f.clients[i]!.assoc4 : f.clients[i]!.assoc6, now);
      if (!listed && friendListWouldStore(f.clients, pk, f.publicKey, now)) {
        addClosest(f.toBootstrap, MAX_SENT_NODES, { publicKey: pk, ipPort }, f.publicKey);
      }
    }
  }

  /**
   * `returnedip_ports`: node `reporterPk` told us `pk` is at `ipPort`. For our own key that is
   * our address as seen from outside; for a friend's key it feeds NAT punching.
   */
  private noteReturnedAddress(ipPort: IpPort, pk: Uint8Array, reporterPk: Uint8Array): void {
    const now = this.clock.now();
    const note = (list: readonly Slot[]) => {
      const i = indexOfKey(list, reporterPk);
      if (i < 0) return false;
      const e = list[i]!;
      const a = ipPort.family === 4 ? e.assoc4 : e.assoc6;
      if (a) {
        a.returnedIpPort = ipPort;
        a.returnedAt = now;
      }
      return true;
    };
    if (keysEqual(pk, this.publicKey)) {
      const e = this.close.entry(reporterPk);
      if (e) note([e]);
      return;
    }
    for (const f of this.friends) if (keysEqual(pk, f.publicKey) && note(f.clients)) return;
  }

  /** ping.c `ping_add`: a node contacted us; ping it back soon if it could join our lists. */
  private pingAdd(pk: Uint8Array, from: IpPort): void {
    const now = this.clock.now();
    if (!this.close.addable(pk, now)) return;
    const e = this.close.entry(pk);
    if (e) {
      const a = from.family === 4 ? e.assoc4 : e.assoc6;
      if (assocGood(a, now) && ipPortEqual(a.ipPort, from)) return;
    }
    // A searched key whose own node we have not found yet: ping at once, do not wait for the batch.
    const f = this.findFriend(pk);
    if (f && indexOfKey(f.clients, pk) < 0) {
      this.sendPing(from, pk);
      return;
    }
    if (this.toPing.some((c) => keysEqual(c.publicKey, pk))) return;
    addClosest(this.toPing, MAX_TO_PING, { publicKey: Uint8Array.from(pk), ipPort: from }, this.publicKey);
  }

  private routeToFriend(toDhtPk: Uint8Array, packet: Uint8Array, oneRoute: boolean): number {
    const f = this.findFriend(toDhtPk);
    if (!f) return 0;
    return this.sendVia(relaysFor(f, this.clock.now()), packet, oneRoute);
  }

  private sendVia(
    { all, reporting }: { all: IpPort[]; reporting: IpPort[] },
    packet: Uint8Array,
    oneRoute: boolean,
  ): number {
    if (oneRoute) {
      const pool = reporting.length > 0 ? reporting : all;
      if (pool.length === 0) return 0;
      this.sink.send(pool[Math.floor(this.random() * pool.length)]!, packet);
      return 1;
    }
    for (const ip of all) this.sink.send(ip, packet);
    return all.length;
  }

  // -------------------------------------------------------------------------------------------
  // Sending

  /** `dht_getnodes`: ask `pk` at `ipPort` for nodes close to `searchedPk`. */
  private getNodes(ipPort: IpPort, pk: Uint8Array, searchedPk: Uint8Array): void {
    if (keysEqual(pk, this.publicKey)) return;
    const pingId = this.nodesRequests.add(this.clock.now(), { publicKey: Uint8Array.from(pk), ipPort });
    this.sink.send(ipPort, serializeNodesRequest({ searchedPk, pingId }, this.publicKey, this.keys.get(pk)));
  }

  private sendPing(ipPort: IpPort, pk: Uint8Array): void {
    if (keysEqual(pk, this.publicKey)) return;
    const pingId = this.pings.add(this.clock.now(), { publicKey: Uint8Array.from(pk), ipPort });
    this.sink.send(
      ipPort,
      serializePing({ type: NET_PACKET_PING_REQUEST, pingId }, this.publicKey, this.keys.get(pk)),
    );
  }

  // -------------------------------------------------------------------------------------------

  private findFriend(pk: Uint8Array): DhtFriend | undefined {
    return this.friends.find((f) => keysEqual(f.publicKey, pk));
  }

  private ensureFriend(pk: Uint8Array): DhtFriend {
    const existing = this.findFriend(pk);
    if (existing) return existing;
    const f = newDhtFriend(pk);
    this.friends.push(f);
    // Start from what we already know (`dht_addfriend` seeds to_bootstrap from get_close_nodes).
    for (const n of this.getCloseNodes(pk, true))
      f.toBootstrap.push({ publicKey: n.publicKey, ipPort: n.ipPort });
    return f;
  }

  private shuffle<T>(xs: T[]): T[] {
    const out = xs.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
}
