/**
 * The onion client of one identity (c-toxcore onion_client.c):
 *
 * - announces our real pk to the ~12 nodes closest to it, through 3-hop onion paths, so friends
 *   can find us without learning our IP address; the announce carries a "data pk" that friends
 *   encrypt onion data to;
 * - searches each friend's real pk on the ~8 nodes closest to it, learning which of them store
 *   the friend (and the friend's data pk);
 * - sends onion data (DHT-PK every 30 s, friend requests) through those nodes, and receives ours;
 * - learns a friend's DHT pk (and its close nodes / TCP relays) from DHT-PK packets, via the onion
 *   or the DHT, which is what lets net_crypto connect.
 *
 * Key use (trap 1): the first hop sees our DHT key; self-announces are boxed with our real key;
 * searches use a random key per friend; onion data inner layer uses real keys; DHT-PK no_replay
 * is Unix seconds.
 *
 * A state machine: no sockets or timers. The owner calls `handlePacket` for 0x84/0x88/0x86,
 * `handleDhtPkFromDht` for DHT crypto requests with id 156, and `tick()` about once a second.
 * Timing rules follow 0.2.18 (seconds, "strictly more than N s since", which the 1 s tick makes
 * match the C integer-second arithmetic).
 */
import { bytesEqual, toHex } from "../bytes.js";
import type { Clock } from "../clock.js";
import {
  decrypt,
  encrypt,
  type KeyPair,
  newKeyPair,
  PUBLIC_KEY_SIZE,
  precompute,
  randomBytes,
  randomNonce,
  randomU32,
} from "../crypto.js";
import { ToxProtocolError } from "../errors.js";
import { longLivedKeyPair } from "../key-chunks.js";
import { LazyMap } from "../lazy-collections.js";
import { createTcpOnionRequest } from "../tcp/onion-tcp.js";
import type { PacketSink } from "../transport/types.js";
import { type IpPort, ipPortEqual, isLanAddress, type NodeInfo } from "../wire/ipport.js";
import {
  createAnnounceRequest,
  createOnionRequest,
  DHTPK_MIN_SIZE,
  decodeDhtPk,
  decodeDhtPkOverDht,
  decodeOnionDataInner,
  decodeOnionDataPlain,
  encodeDhtPk,
  encodeDhtPkOverDht,
  encodeOnionDataInner,
  encodeOnionDataPlain,
  MAX_SENT_NODES,
  NET_PACKET_ANNOUNCE_RESPONSE,
  NET_PACKET_ANNOUNCE_RESPONSE_OLD,
  NET_PACKET_ONION_DATA_RESPONSE,
  ONION_CLIENT_MAX_DATA_SIZE,
  ONION_DATA_DHTPK,
  type OnionPathKeys,
  openAnnounceResponse,
  parseAnnounceResponse,
  parseOnionDataResponse,
  serializeOnionDataRequest,
} from "../wire/onion.js";
import { newNodeList, OnionNode, RecentlyPinged } from "./node-list.js";
import { OnionPathSet } from "./paths.js";
import { SlotKeyCache } from "./shared-keys.js";
import type { SharedOnionPaths } from "./shared-paths.js";
import type { OnionDhtView, OnionLogger } from "./types.js";

export const MAX_ONION_CLIENTS = 8;
export const MAX_ONION_CLIENTS_ANNOUNCE = 12;
const S = 1000;
const ONION_NODE_PING_INTERVAL = 15 * S;
const ONION_NODE_TIMEOUT = ONION_NODE_PING_INTERVAL;
const ONION_NODE_MAX_PINGS = 3;
const ONION_OFFLINE_TIMEOUT = ONION_NODE_PING_INTERVAL * (ONION_NODE_MAX_PINGS + 2);
const ONION_DHTPK_SEND_INTERVAL = 30 * S;
const DHT_DHTPK_SEND_INTERVAL = 20 * S;
const MAX_STORED_PINGED_NODES = 9;
const MIN_NODE_PING_TIME = 10 * S;
const MAX_PATH_NODES = 32;
const ANNOUNCE_TIMEOUT = 10 * S;
const ANNOUNCE_ARRAY_SIZE = 256;
const ANNOUNCE_INTERVAL_NOT_ANNOUNCED = 3 * S;
const ANNOUNCE_INTERVAL_ANNOUNCED = ONION_NODE_PING_INTERVAL;
const TIME_TO_STABLE = ONION_NODE_PING_INTERVAL * 6;
const ANNOUNCE_INTERVAL_STABLE = ONION_NODE_PING_INTERVAL * 8;
const ANNOUNCE_POPULATE_TIMEOUT = 600 * S;
/**
 * Ours, not c-toxcore's: a node still refusing to store us this long after it joined our list,
 * while we are announced on others, is asked at the stable interval instead of every 3 s. A
 * c-toxcore node keeps the 160 keys closest to its own and refuses the rest, so asking a full
 * node 20 times a minute changes nothing; its entries live 300 s, so a place that opens up is
 * still taken within 2 minutes. (Idle identities at N = 1,000: 43% had such a node.)
 */
const UNSTORED_BACKOFF_AFTER = 30 * S;
const ANNOUNCE_FRIEND_NEW_INTERVAL_S = 3;
const ANNOUNCE_FRIEND_RUN_COUNT_BEGINNING = 5;
const ANNOUNCE_FRIEND_MAX_INTERVAL_S = 3600;
const MAX_RUN_COUNT_EXPONENT = 12;
const ONION_CONNECTION_SECONDS = 3;
const ONION_CONNECTED_TIMEOUT = 10 * S;
const SEED_INTERVAL = 30 * S;

interface OnionFriend {
  realPk: Uint8Array;
  /** Random key pair for searches, so nodes cannot link our searches to us. */
  searchKeys: KeyPair;
  /** Box keys between `searchKeys` and the nodes asked (each is asked every few seconds). */
  searchSharedKeys: SlotKeyCache;
  dhtPk: Uint8Array | null;
  isOnline: boolean;
  nodes: OnionNode[];
  lastNoReplay: bigint;
  lastDhtPkOnionSent: number;
  lastDhtPkDhtSent: number;
  lastPopulated: number;
  timeLastPinged: number;
  runCount: number;
  pings: number;
  lastPinged: RecentlyPinged;
}

interface Sendback {
  /** null: our own announce; otherwise the friend searched for. */
  friend: OnionFriend | null;
  nodePk: Uint8Array;
  nodeIpPort: IpPort;
  /** The box key the request used, to open the response with (no per-identity key cache). */
  sharedKey: Uint8Array;
  pathNum: number;
  expiresAt: number;
}

export interface OnionClientEvents {
  /** A friend announced its DHT key (with its close DHT nodes and TCP relays). */
  onDhtPk?(friendPk: Uint8Array, dhtPk: Uint8Array, nodes: NodeInfo[]): void;
  /** Onion data of any type other than DHT-PK, e.g. a friend request (32), from anyone. */
  onData?(senderPk: Uint8Array, type: number, payload: Uint8Array): void;
  /** Our announce status changed (c-toxcore `onion_connection_status` NONE vs not). */
  onConnectionChange?(connected: boolean): void;
}

export interface OnionClientOptions {
  clock: Clock;
  realKeys: KeyPair;
  dht: OnionDhtView;
  sink: PacketSink;
  events?: OnionClientEvents;
  log?: OnionLogger;
  /** Our connected TCP relays to advertise in DHT-PK (at most 2 are sent). */
  tcpRelays?(): NodeInfo[];
  /**
   * TCP relays as the first hop of onion paths while the DHT is not connected (TCP-only mode, as
   * c-toxcore). Responses come back through `handleTcpResponse`.
   */
  tcp?: OnionTcpFirstHop;
  /**
   * Shared routing: use these paths and path nodes (shared by the identities of one node)
   * instead of our own. Paths then always start over UDP (never at one of our TCP relays,
   * which other identities could not use).
   */
  sharedPaths?: SharedOnionPaths;
}

export interface OnionTcpFirstHop {
  /** Connected TCP relays (protocol "tcp" nodes) that can be a path's first hop. */
  relays(): NodeInfo[];
  /** Sends a TCP onion request (packet 8) through that relay. */
  send(relay: NodeInfo, nonce: Uint8Array, payload: Uint8Array): boolean;
}

export interface OnionClientStatus {
  connected: boolean;
  announceNodes: number;
  storedOn: number;
  pathNodes: number;
  friends: number;
}

export class OnionClient {
  private readonly clock: Clock;
  private readonly selfPaths: OnionPathSet;
  private readonly friendPaths: OnionPathSet;
  private readonly announceList: OnionNode[] = newNodeList(MAX_ONION_CLIENTS_ANNOUNCE);
  private readonly friends = new LazyMap<string, OnionFriend>();
  private readonly sendbacks = new LazyMap<string, Sendback>();
  private readonly pathNodes: NodeInfo[];
  private readonly bootstrapPathNodes: NodeInfo[];
  private readonly shared: SharedOnionPaths | undefined;
  private readonly selfLastPinged = new RecentlyPinged(MAX_STORED_PINGED_NODES);
  /** Key pair friends encrypt onion data to (the "data pk" we announce). */
  private readonly dataKeys = longLivedKeyPair(newKeyPair());
  private lastAnnounce = 0;
  private lastPopulated = 0;
  private lastPacketRecv = 0;
  private lastRun = Number.NEGATIVE_INFINITY;
  private firstRun: number | null = null;
  private lastTimeConnected = 0;
  private onionConnected = 0;
  private wasConnected = false;
  private lastSeeded = Number.NEGATIVE_INFINITY;
  /** Shared paths: announced at least once (no admission needed any more). */
  private everConnected = false;

  constructor(private readonly opts: OnionClientOptions) {
    this.clock = opts.clock;
    this.shared = opts.sharedPaths;
    this.selfPaths = this.shared?.self ?? new OnionPathSet(opts.clock);
    this.friendPaths = this.shared?.friends ?? new OnionPathSet(opts.clock);
    this.pathNodes = this.shared?.nodes ?? [];
    this.bootstrapPathNodes = this.shared?.bootstrapNodes ?? [];
  }

  // ------------------------------------------------------------------------------------------
  // Public API

  /** Starts searching for a friend (idempotent). */
  addFriend(realPk: Uint8Array): void {
    const id = toHex(realPk);
    if (this.friends.has(id)) return;
    this.friends.set(id, {
      realPk: Uint8Array.from(realPk),
      searchKeys: newKeyPair(),
      searchSharedKeys: new SlotKeyCache(64),
      dhtPk: null,
      isOnline: false,
      nodes: newNodeList(MAX_ONION_CLIENTS),
      lastNoReplay: 0n,
      lastDhtPkOnionSent: 0,
      lastDhtPkDhtSent: 0,
      lastPopulated: 0,
      timeLastPinged: 0,
      runCount: 0,
      pings: 0,
      lastPinged: new RecentlyPinged(MAX_STORED_PINGED_NODES),
    });
  }

  removeFriend(realPk: Uint8Array): void {
    const friend = this.friends.get(toHex(realPk));
    if (friend === undefined) return;
    this.friends.delete(toHex(realPk));
    for (const [id, s] of this.sendbacks) if (s.friend === friend) this.sendbacks.delete(id);
  }

  hasFriend(realPk: Uint8Array): boolean {
    return this.friends.has(toHex(realPk));
  }

  /** While a friend is connected we stop searching for it (`onion_set_friend_online`). */
  setFriendOnline(realPk: Uint8Array, online: boolean): void {
    const friend = this.friends.get(toHex(realPk));
    if (friend === undefined) return;
    friend.isOnline = online;
    if (!online) {
      // As c-toxcore: forget the replay counter so a restarted friend (smaller clock) is heard.
      friend.lastNoReplay = 0n;
      friend.runCount = 0;
    }
  }

  /** A friend's DHT pk learned elsewhere (e.g. from a net_crypto handshake). */
  setFriendDhtPk(realPk: Uint8Array, dhtPk: Uint8Array): void {
    const friend = this.friends.get(toHex(realPk));
    if (friend !== undefined) friend.dhtPk = Uint8Array.from(dhtPk);
  }

  friendDhtPk(realPk: Uint8Array): Uint8Array | null {
    return this.friends.get(toHex(realPk))?.dhtPk ?? null;
  }

  /** Number of the friend's search nodes that store it (can carry onion data to it). */
  friendReachableVia(realPk: Uint8Array): number {
    const friend = this.friends.get(toHex(realPk));
    if (friend === undefined) return 0;
    return friend.nodes.filter((n) => !this.nodeTimedOut(n) && n.isStored !== 0).length;
  }

  /**
   * `onion_backup_nodes`: the most recent path nodes (nodes that answered us), then bootstrap
   * nodes, for the save file's "path nodes" section (c-toxcore saves up to 4 and bootstraps
   * from them at the next start).
   */
  backupNodes(max = 4): NodeInfo[] {
    const out = this.pathNodes.slice(-max).reverse();
    for (const n of this.bootstrapPathNodes) {
      if (out.length >= max) break;
      if (!out.some((o) => bytesEqual(o.publicKey, n.publicKey))) out.push(n);
    }
    return out;
  }

  /** A known node to build paths from before the DHT has any (`onion_add_bs_path_node`). */
  addBootstrapPathNode(node: NodeInfo): void {
    addPathNode(this.bootstrapPathNodes, node);
  }

  /**
   * `send_onion_data`: sends `type | payload` to a friend through the nodes that store its
   * announce. Returns how many copies were sent, or -1 when too few of its nodes store it yet.
   * The recipient need not be our friend in the onion's sense, but must have been added with
   * `addFriend` so we search for it (friend requests do this).
   */
  sendData(friendPk: Uint8Array, type: number, payload: Uint8Array): number {
    const friend = this.friends.get(toHex(friendPk));
    if (friend === undefined) {
      throw new ToxProtocolError("onion data to a key we are not searching for", { peer: toHex(friendPk) });
    }
    return this.sendDataTo(friend, encodeOnionDataPlain({ type, payload }));
  }

  /** Handles 0x84, 0x88 and 0x86 arriving from the first hop of a path. Never throws on input. */
  handlePacket(from: IpPort, data: Uint8Array): boolean {
    return this.dispatch(from, data);
  }

  /** An onion response that came back through one of our TCP relays (TCP packet 9). */
  handleTcpResponse(data: Uint8Array): boolean {
    return this.dispatch(null, data);
  }

  private dispatch(from: IpPort | null, data: Uint8Array): boolean {
    const id = data[0];
    if (id === NET_PACKET_ANNOUNCE_RESPONSE_OLD || id === NET_PACKET_ANNOUNCE_RESPONSE) {
      if (!this.handleAnnounceResponse(from, data))
        this.debug({ id }, "onion client: dropped announce response");
      return true;
    }
    if (id === NET_PACKET_ONION_DATA_RESPONSE) {
      if (!this.handleDataResponse(data)) this.debug({ id }, "onion client: dropped data response");
      return true;
    }
    return false;
  }

  /**
   * DHT-PK delivered by the DHT (crypto request 156): `data` is the request payload after the id,
   * `senderDhtPk` the DHT key that boxed the outer layer; it must match the DHT pk inside.
   */
  handleDhtPkFromDht(senderDhtPk: Uint8Array, data: Uint8Array): boolean {
    const outer = decodeDhtPkOverDht(data);
    if (!outer.ok) return false;
    const { senderPk, nonce, encrypted } = outer.value;
    const plain = decrypt(senderPk, this.opts.realKeys.secretKey, nonce, encrypted);
    if (plain === null || plain.length < DHTPK_MIN_SIZE || plain[0] !== ONION_DATA_DHTPK) return false;
    if (!bytesEqual(plain.subarray(9, 9 + PUBLIC_KEY_SIZE), senderDhtPk)) return false;
    return this.handleDhtPk(senderPk, plain.subarray(1));
  }

  status(): OnionClientStatus {
    const alive = this.announceList.filter((n) => !this.nodeTimedOut(n));
    return {
      connected: this.isConnected(),
      announceNodes: alive.length,
      storedOn: alive.filter((n) => n.isStored !== 0).length,
      pathNodes: this.pathNodes.length,
      friends: this.friends.size,
    };
  }

  /** `onion_connection_status != NONE`: announced to enough nodes for a few seconds. */
  isConnected(): boolean {
    return this.onionConnected >= ONION_CONNECTION_SECONDS;
  }

  /** Milliseconds until `tick()` has work (the client runs once a second). */
  nextTickIn(): number {
    return Math.max(0, this.lastRun + S - this.clock.now());
  }

  /** `do_onion_client`: announce, search friends, send DHT-PKs. Call about once a second. */
  tick(): void {
    const now = this.clock.now();
    if (now - this.lastRun < S) return;
    let mayPopulate = true;
    if (this.shared !== undefined && !this.isConnected() && !this.shared.admit(this)) {
      // Shared paths: until first announced we may only work when let (a bounded number of
      // starting identities at a time; see SharedOnionPathsOptions.startsPerSecond).
      if (!this.everConnected) {
        this.lastRun = now;
        return;
      }
      // Announced before and lost it: keep re-announcing to the nodes we have (holding that
      // back would let a short dip expire our entries), but look for new nodes only when let,
      // as a starting client. Thousands that lost their announcements at once (an overloaded
      // or lost network) each asking 6 random nodes a second through the shared paths kept the
      // network overloaded: N = 5,000 sent 1.7 requests/s per identity, 6% answered.
      mayPopulate = false;
    }
    this.expireSendbacks(now);
    if (this.firstRun !== null && now - this.firstRun > ONION_CONNECTION_SECONDS * S) {
      if (this.shared) this.shared.refresh(addPathNode);
      else for (const n of this.opts.dht.randomNodes(MAX_ONION_CLIENTS)) addPathNode(this.pathNodes, n);
      this.doAnnounce(mayPopulate);
    }
    if (this.announcedEnough()) {
      if (now - this.lastTimeConnected > ONION_CONNECTED_TIMEOUT) {
        for (const f of this.friends.values()) f.runCount = 0;
      }
      this.lastTimeConnected = now;
      if (this.onionConnected < ONION_CONNECTION_SECONDS * 2) this.onionConnected++;
    } else if (this.onionConnected !== 0) {
      this.onionConnected--;
    }
    const connected = this.isConnected();
    if (connected) this.everConnected = true;
    if (connected !== this.wasConnected) {
      // Announced (again): no longer one of the starting clients.
      if (connected) this.shared?.settled(this);
      this.wasConnected = connected;
      this.opts.events?.onConnectionChange?.(connected);
    }
    if (connected) for (const f of this.friends.values()) this.doFriend(f);
    if (this.firstRun === null) this.firstRun = now;
    this.lastRun = now;
  }

  // ------------------------------------------------------------------------------------------
  // Sending

  private debug(obj: Record<string, unknown>, msg: string): void {
    this.opts.log?.debug(obj, msg);
  }

  private timedOut(t: number, ms: number): boolean {
    return this.clock.now() - t > ms;
  }

  private nodeTimedOut(n: OnionNode): boolean {
    return (
      n.timestamp === 0 ||
      (n.pingsSinceResponse >= ONION_NODE_MAX_PINGS && this.timedOut(n.lastPinged, ONION_NODE_TIMEOUT))
    );
  }

  /** 3 distinct random relays from the path nodes (bootstrap nodes while we know none). */
  private pickPathNodes(): [NodeInfo, NodeInfo, NodeInfo] | null {
    if (this.shared === undefined && this.opts.tcp !== undefined && this.opts.dht.isConnected?.() === false)
      return this.pickTcpPathNodes();
    let pool = this.pathNodes.length >= 3 ? this.pathNodes : this.bootstrapPathNodes;
    if (pool.length < 3) {
      pool = [...this.pathNodes];
      for (const n of this.bootstrapPathNodes) addPathNode(pool, n);
      for (const n of this.opts.dht.randomNodes(MAX_ONION_CLIENTS)) addPathNode(pool, n);
      if (pool.length < 3) return null;
    }
    const picked: NodeInfo[] = [];
    const used = new Set<number>();
    while (picked.length < 3) {
      const i = randomU32() % pool.length;
      if (used.has(i)) continue;
      used.add(i);
      picked.push(pool[i]!);
    }
    return picked as [NodeInfo, NodeInfo, NodeInfo];
  }

  /** TCP-only mode: one of our connected relays, then 2 path nodes (`random_nodes_path_onion`). */
  private pickTcpPathNodes(): [NodeInfo, NodeInfo, NodeInfo] | null {
    const relays = this.opts.tcp?.relays() ?? [];
    if (relays.length === 0) return null;
    const relay = relays[randomU32() % relays.length]!;
    const pool = this.pathNodes.length >= 2 ? this.pathNodes : this.bootstrapPathNodes;
    if (pool.length < 2) return null;
    const i = randomU32() % pool.length;
    let j = randomU32() % (pool.length - 1);
    if (j >= i) j++;
    return [relay, pool[i]!, pool[j]!];
  }

  /** First-hop key of new paths: our DHT key, or the backbone's for shared paths. */
  private pathKeys(): KeyPair {
    return this.shared?.dhtKeys() ?? this.opts.dht.dhtKeys();
  }

  private sendOnion(paths: OnionPathSet, pathNum: number | undefined, dest: IpPort, payload: Uint8Array) {
    const path = paths.use(pathNum, () => this.pickPathNodes(), this.pathKeys());
    if (path === null) return null;
    return this.sendThrough(path.keys, dest, payload) ? path : null;
  }

  /** First hop over UDP (0x80), or through a TCP relay for paths that start at one. */
  private sendThrough(keys: OnionPathKeys, dest: IpPort, payload: Uint8Array): boolean {
    const first = keys.nodes[0];
    if (first.protocol === "tcp") {
      if (this.opts.tcp === undefined) return false;
      const req = createTcpOnionRequest(keys, { protocol: "udp", ipPort: dest }, payload);
      return this.opts.tcp.send(first, req.nonce, req.payload);
    }
    const packet = createOnionRequest(keys, { protocol: "udp", ipPort: dest }, payload, randomNonce());
    this.opts.sink.send(first.ipPort, packet);
    return true;
  }

  private newSendback(s: Sendback): Uint8Array {
    if (this.sendbacks.size >= ANNOUNCE_ARRAY_SIZE) {
      const oldest = this.sendbacks.keys().next().value;
      if (oldest !== undefined) this.sendbacks.delete(oldest);
    }
    const id = randomBytes(8);
    this.sendbacks.set(toHex(id), s);
    return id;
  }

  private expireSendbacks(now: number): void {
    for (const [id, s] of this.sendbacks) if (s.expiresAt <= now) this.sendbacks.delete(id);
    this.sendbacks.releaseIfEmpty();
  }

  /** `client_send_announce_request`: self-announce (friend null) or search for a friend. */
  private sendAnnounceRequest(
    friend: OnionFriend | null,
    node: { ipPort: IpPort; publicKey: Uint8Array },
    pingId: Uint8Array | null,
    pathNum: number | undefined,
  ): boolean {
    const paths = friend === null ? this.selfPaths : this.friendPaths;
    const path = paths.use(pathNum, () => this.pickPathNodes(), this.pathKeys());
    if (path === null) return false;
    const sharedKey = this.sharedKeyFor(friend, node);
    const sendback = this.newSendback({
      friend,
      nodePk: Uint8Array.from(node.publicKey),
      nodeIpPort: node.ipPort,
      sharedKey,
      pathNum: path.pathNum,
      expiresAt: this.clock.now() + ANNOUNCE_TIMEOUT,
    });
    const zero = new Uint8Array(32);
    const request =
      friend === null
        ? createAnnounceRequest("old", sharedKey, this.opts.realKeys.publicKey, randomNonce(), {
            pingId: pingId ?? zero,
            searchedPk: this.opts.realKeys.publicKey,
            dataPk: this.dataKeys.publicKey,
            sendback,
            extra: new Uint8Array(0),
          })
        : createAnnounceRequest(
            "old",
            sharedKey,
            friend.searchKeys.publicKey,
            randomNonce(),
            // Searches always carry a zero ping id and data pk (tox-rs interop fix).
            { pingId: zero, searchedPk: friend.realPk, dataPk: zero, sendback, extra: new Uint8Array(0) },
          );
    return this.sendThrough(path.keys, node.ipPort, request);
  }

  /**
   * The box key for an announce request to `node`, owned by the caller: a node of our list keeps
   * its key in its slot; searches for friends use the friend's cache (they ask random path nodes
   * again and again); our own requests to other nodes (populating the list) compute it.
   */
  private sharedKeyFor(friend: OnionFriend | null, node: { publicKey: Uint8Array }): Uint8Array {
    const secretKey = friend === null ? this.opts.realKeys.secretKey : friend.searchKeys.secretKey;
    if (node instanceof OnionNode) return Uint8Array.from(node.sharedKey(secretKey));
    if (friend !== null) return Uint8Array.from(friend.searchSharedKeys.get(node.publicKey, secretKey));
    return precompute(node.publicKey, secretKey);
  }

  private sendDataTo(friend: OnionFriend, data: Uint8Array): number {
    if (data.length === 0 || data.length > ONION_CLIENT_MAX_DATA_SIZE) return -1;
    const alive = friend.nodes.filter((n) => !this.nodeTimedOut(n));
    const good = alive.filter((n) => n.isStored !== 0);
    if (alive.length === 0 || good.length < Math.floor((alive.length - 1) / 4) + 1) return -1;
    const nonce = randomNonce();
    const inner = encodeOnionDataInner({
      senderPk: this.opts.realKeys.publicKey,
      encrypted: encrypt(friend.realPk, this.opts.realKeys.secretKey, nonce, data),
    });
    let sent = 0;
    for (const node of good) {
      const tmp = newKeyPair();
      const request = serializeOnionDataRequest({
        destPk: friend.realPk,
        nonce,
        tmpPk: tmp.publicKey,
        encrypted: encrypt(node.dataPk, tmp.secretKey, nonce, inner),
      });
      if (this.sendOnion(this.friendPaths, undefined, node.ipPort, request) !== null) sent++;
    }
    return sent;
  }

  /** `send_dhtpk_announce`: our DHT pk + close nodes + TCP relays, by onion and/or DHT. */
  private sendDhtPk(friend: OnionFriend, viaOnion: boolean, viaDht: boolean): number {
    const relays = (this.opts.tcpRelays?.() ?? []).slice(0, MAX_SENT_NODES / 2);
    const dhtKeys = this.opts.dht.dhtKeys();
    // c-toxcore's `closelist_nodes` does not filter LAN addresses here: friends on our LAN need them.
    const close = this.opts.dht.closeNodes(dhtKeys.publicKey, MAX_SENT_NODES - relays.length, true);
    const payload = encodeDhtPk({
      noReplay: BigInt(this.clock.unixSeconds()),
      dhtPk: dhtKeys.publicKey,
      nodes: [...relays, ...close].slice(0, MAX_SENT_NODES),
    });
    const data = encodeOnionDataPlain({ type: ONION_DATA_DHTPK, payload });
    let onion = -1;
    let dht = -1;
    if (viaOnion) onion = this.sendDataTo(friend, data);
    if (viaDht && friend.dhtPk !== null && this.opts.dht.routeDhtPk !== undefined) {
      const nonce = randomNonce();
      const blob = encodeDhtPkOverDht({
        senderPk: this.opts.realKeys.publicKey,
        nonce,
        encrypted: encrypt(friend.realPk, this.opts.realKeys.secretKey, nonce, data),
      });
      dht = this.opts.dht.routeDhtPk(friend.dhtPk, blob) ? 1 : 0;
    }
    if (onion === -1) return dht;
    if (dht === -1) return onion;
    return onion + dht;
  }

  // ------------------------------------------------------------------------------------------
  // Periodic work

  /** `do_announce`; `mayPopulate` false: only the nodes already listed (see `tick`). */
  private doAnnounce(mayPopulate = true): void {
    let count = 0;
    for (const node of this.announceList) {
      if (this.nodeTimedOut(node)) continue;
      count++;
      // Do not announce to a new node on the run it was added (c-toxcore: wait one round).
      if (node.lastPinged === 0) {
        node.lastPinged = 1;
        continue;
      }
      if (node.pingsSinceResponse >= ONION_NODE_MAX_PINGS) continue;
      let interval = ANNOUNCE_INTERVAL_NOT_ANNOUNCED;
      if (node.isStored !== 0 && this.selfPaths.exists(node.pathUsed)) {
        interval = ANNOUNCE_INTERVAL_ANNOUNCED;
        const path = this.selfPaths.get(node.pathUsed);
        if (
          path !== null &&
          this.timedOut(node.addedAt, TIME_TO_STABLE) &&
          !(node.pingsSinceResponse > 0 && this.timedOut(node.lastPinged, ONION_NODE_TIMEOUT)) &&
          this.timedOut(path.createdAt, TIME_TO_STABLE) &&
          !(path.usesWithoutReply > 0 && this.timedOut(path.lastUsed, 10 * S))
        ) {
          interval = ANNOUNCE_INTERVAL_STABLE;
        }
      } else if (
        node.isStored === 0 &&
        this.isConnected() &&
        this.timedOut(node.addedAt, UNSTORED_BACKOFF_AFTER)
      ) {
        interval = ANNOUNCE_INTERVAL_STABLE;
      }
      if (
        this.timedOut(node.lastPinged, interval) ||
        this.timedOut(this.lastAnnounce, ONION_NODE_PING_INTERVAL)
      ) {
        // Last chance for a long-lived node: try a random path.
        const lastChance =
          node.pingsSinceResponse === ONION_NODE_MAX_PINGS - 1 && this.timedOut(node.addedAt, TIME_TO_STABLE);
        if (this.sendAnnounceRequest(null, node, node.pingId, lastChance ? undefined : node.pathUsed)) {
          node.lastPinged = this.clock.now();
          node.pingsSinceResponse++;
          this.lastAnnounce = this.clock.now();
        }
      }
    }
    if (count === MAX_ONION_CLIENTS_ANNOUNCE) {
      this.lastPopulated = this.clock.now();
      return;
    }
    if (
      count <= MAX_ONION_CLIENTS_ANNOUNCE / 2 ||
      this.timedOut(this.lastPopulated, ANNOUNCE_POPULATE_TIMEOUT)
    ) {
      if (!mayPopulate) return;
      if (count === 0 && this.seedFromDht()) return;
      const pool = this.pathNodes.length > 0 ? this.pathNodes : this.bootstrapPathNodes;
      if (pool.length === 0) return;
      for (let i = 0; i < MAX_ONION_CLIENTS_ANNOUNCE / 2; i++) {
        this.sendAnnounceRequest(null, pool[randomU32() % pool.length]!, null, undefined);
      }
    }
  }

  /**
   * Shared paths only: start the announce list from the DHT nodes closest to our key (the
   * backbone knows many), one request each, instead of c-toxcore's 6 random nodes a second until
   * the list half fills. The list ends up with the same nodes; thousands of identities starting
   * through the same few paths need a few times fewer requests that way. At most every 30 s.
   */
  private seedFromDht(): boolean {
    if (this.shared === undefined || !this.timedOut(this.lastSeeded, SEED_INTERVAL)) return false;
    const near = this.opts.dht.closeNodes(this.opts.realKeys.publicKey, MAX_ONION_CLIENTS_ANNOUNCE, true);
    if (near.length < MAX_ONION_CLIENTS_ANNOUNCE / 2) return false;
    this.lastSeeded = this.clock.now();
    for (const n of near) this.sendAnnounceRequest(null, n, null, undefined);
    return true;
  }

  private doFriend(friend: OnionFriend): void {
    const now = this.clock.now();
    const isNew = friend.runCount <= ANNOUNCE_FRIEND_RUN_COUNT_BEGINNING;
    const intervalS = isNew
      ? ANNOUNCE_FRIEND_NEW_INTERVAL_S
      : Math.min(2 ** Math.min(MAX_RUN_COUNT_EXPONENT, friend.runCount - 2), ANNOUNCE_FRIEND_MAX_INTERVAL_S);
    if (friend.isOnline) return;

    if (this.timedOut(friend.lastDhtPkOnionSent, ONION_DHTPK_SEND_INTERVAL)) {
      if (this.sendDhtPk(friend, true, false) >= 1) friend.lastDhtPkOnionSent = now;
    }
    if (this.timedOut(friend.lastDhtPkDhtSent, DHT_DHTPK_SEND_INTERVAL)) {
      if (this.sendDhtPk(friend, false, true) >= 1) friend.lastDhtPkDhtSent = now;
    }

    let count = 0;
    for (const node of friend.nodes) {
      if (this.nodeTimedOut(node)) continue;
      count++;
      if (node.lastPinged === 0) {
        node.lastPinged = now;
        continue;
      }
      if (node.pingsSinceResponse >= ONION_NODE_MAX_PINGS) continue;
      // Space requests out between nodes.
      if (!this.timedOut(friend.timeLastPinged, Math.floor(intervalS / (MAX_ONION_CLIENTS / 2)) * S))
        continue;
      if (!this.timedOut(node.lastPinged, intervalS * S)) continue;
      if (this.sendAnnounceRequest(friend, node, null, undefined)) {
        node.lastPinged = now;
        friend.timeLastPinged = now;
        node.pingsSinceResponse++;
        friend.pings++;
        if (friend.pings % (MAX_ONION_CLIENTS / 2) === 0) friend.runCount++;
      }
    }
    if (count === MAX_ONION_CLIENTS) {
      if (!isNew) friend.lastPopulated = now;
      return;
    }
    if (count <= MAX_ONION_CLIENTS / 2 || this.timedOut(friend.lastPopulated, ANNOUNCE_POPULATE_TIMEOUT)) {
      const n = Math.min(this.pathNodes.length, MAX_PATH_NODES / 4);
      if (n === 0) return;
      friend.lastPopulated = now;
      for (let i = 0; i < n; i++) {
        this.sendAnnounceRequest(
          friend,
          this.pathNodes[randomU32() % this.pathNodes.length]!,
          null,
          undefined,
        );
      }
    }
  }

  /** `onion_isconnected`: a response lately, and stored on at least half of the live announce nodes. */
  private announcedEnough(): boolean {
    if (this.timedOut(this.lastPacketRecv, ONION_OFFLINE_TIMEOUT) || this.pathNodes.length === 0) {
      this.lastPopulated = 0;
      return false;
    }
    let num = 0;
    let announced = 0;
    for (const n of this.announceList) {
      if (this.nodeTimedOut(n)) continue;
      num++;
      if (n.isStored !== 0) announced++;
    }
    const pnodes = Math.min(this.pathNodes.length, MAX_ONION_CLIENTS_ANNOUNCE);
    if (num !== 0 && announced !== 0 && Math.floor(num / 2) <= announced && Math.floor(pnodes / 2) <= num)
      return true;
    this.lastPopulated = 0;
    return false;
  }

  // ------------------------------------------------------------------------------------------
  // Receiving

  private handleAnnounceResponse(from: IpPort | null, data: Uint8Array): boolean {
    const parsed = parseAnnounceResponse(data);
    if (!parsed.ok) return false;
    const res = parsed.value;
    const id = toHex(res.sendback);
    const sb = this.sendbacks.get(id);
    if (sb === undefined || sb.expiresAt <= this.clock.now()) return false;
    this.sendbacks.delete(id);
    // Answers come within ms and an idle identity asks every 15 s to 2 min: no table in between.
    this.sendbacks.releaseIfEmpty();
    const friend = sb.friend;
    if (friend !== null && this.friends.get(toHex(friend.realPk)) !== friend) return false;
    const opened = openAnnounceResponse(sb.sharedKey, res);
    if (!opened.ok) return false;
    const plain = opened.value;

    const paths = friend === null ? this.selfPaths : this.friendPaths;
    const pathNodes = paths.replied(sb.pathNum);
    if (pathNodes !== null) for (const n of pathNodes) addPathNode(this.pathNodes, n);
    if (!this.addToList(friend, sb.nodePk, sb.nodeIpPort, plain.status, plain.pingIdOrKey, sb.pathNum))
      return false;
    if (plain.nodes.length > 0) this.pingNodes(friend, plain.nodes, from);
    this.lastPacketRecv = this.clock.now();
    return true;
  }

  /** `client_add_to_list`: keep the nodes closest to the reference key, the worst one first. */
  private addToList(
    friend: OnionFriend | null,
    nodePk: Uint8Array,
    ipPort: IpPort,
    status: number,
    pingIdOrKey: Uint8Array,
    pathUsed: number,
  ): boolean {
    const list = friend === null ? this.announceList : friend.nodes;
    const reference = friend === null ? this.opts.realKeys.publicKey : friend.realPk;
    let isStored = status;
    if (friend === null) {
      // "Stored" with someone else's data pk means an older announce of ours: not stored now.
      if (isStored === 1 && !bytesEqual(pingIdOrKey, this.dataKeys.publicKey)) isStored = 0;
    } else if (isStored >= 2) {
      return false;
    }
    this.sortList(list, reference);
    let index = -1;
    if (this.nodeTimedOut(list[0]!) || list[0]!.compareToKey(reference, nodePk) < 0) index = 0;
    let known = false;
    for (let i = 0; i < list.length; i++) {
      if (list[i]!.hasPublicKey(nodePk)) {
        index = i;
        known = true;
        break;
      }
    }
    if (index === -1) return true;
    const node = list[index]!;
    // Writes only what changed, in place in the list's buffer (see node-list.ts).
    if (!known) node.setPublicKey(nodePk);
    node.ipPort = ipPort;
    addPathNode(this.pathNodes, { protocol: "udp", ipPort, publicKey: node.publicKey });
    if (isStored === 1) {
      // Our own list stores only our data key (checked above); friends' nodes store theirs.
      if (friend === null) node.dataPk = this.dataKeys.publicKey;
      else if (!bytesEqual(node.dataPk, pingIdOrKey)) node.dataPk = Uint8Array.from(pingIdOrKey);
    } else if (!known || !node.hasPingId(pingIdOrKey)) node.setPingId(pingIdOrKey);
    node.isStored = isStored;
    node.timestamp = this.clock.now();
    node.pingsSinceResponse = 0;
    node.pathUsed = pathUsed;
    if (!known) {
      node.lastPinged = 0;
      node.addedAt = this.clock.now();
    }
    return true;
  }

  /** Timed-out nodes first, then farthest to closest (so index 0 is the one to replace). */
  private sortList(list: OnionNode[], reference: Uint8Array): void {
    list.sort((a, b) => {
      const ta = this.nodeTimedOut(a);
      const tb = this.nodeTimedOut(b);
      if (ta && tb) return 0;
      if (ta) return -1;
      if (tb) return 1;
      return -b.compareToNode(reference, a);
    });
  }

  /** `client_ping_nodes`: ask returned nodes that would improve our list (rate-limited per node). */
  private pingNodes(friend: OnionFriend | null, nodes: NodeInfo[], source: IpPort | null): void {
    const list = friend === null ? this.announceList : friend.nodes;
    const reference = friend === null ? this.opts.realKeys.publicKey : friend.realPk;
    const lastPinged = friend === null ? this.selfLastPinged : friend.lastPinged;
    // Through TCP the source is the relay, never a LAN peer (c-toxcore: TCP family, not LAN).
    const lanOk = source !== null && isLanAddress(source);
    for (const n of nodes) {
      if (n.protocol !== "udp") continue;
      if (!lanOk && isLanAddress(n.ipPort)) continue;
      const improves =
        this.nodeTimedOut(list[0]!) ||
        list[0]!.compareToKey(reference, n.publicKey) < 0 ||
        this.nodeTimedOut(list[1]!) ||
        list[1]!.compareToKey(reference, n.publicKey) < 0;
      if (!improves) continue;
      if (list.some((x) => x.hasPublicKey(n.publicKey))) continue;
      if (!lastPinged.goodToPing(n.publicKey, this.clock.now(), MIN_NODE_PING_TIME)) continue;
      this.sendAnnounceRequest(friend, n, null, undefined);
    }
  }

  private handleDataResponse(data: Uint8Array): boolean {
    const parsed = parseOnionDataResponse(data);
    if (!parsed.ok) return false;
    const { nonce, tmpPk, encrypted } = parsed.value;
    const middle = decrypt(tmpPk, this.dataKeys.secretKey, nonce, encrypted);
    if (middle === null) return false;
    const inner = decodeOnionDataInner(middle);
    if (!inner.ok) return false;
    const plainBytes = decrypt(
      inner.value.senderPk,
      this.opts.realKeys.secretKey,
      nonce,
      inner.value.encrypted,
    );
    if (plainBytes === null) return false;
    const plain = decodeOnionDataPlain(plainBytes);
    if (!plain.ok) return false;
    if (plain.value.type === ONION_DATA_DHTPK)
      return this.handleDhtPk(inner.value.senderPk, plain.value.payload);
    this.opts.events?.onData?.(inner.value.senderPk, plain.value.type, plain.value.payload);
    return true;
  }

  /** `handle_dhtpk_announce`: only from friends, only with a growing no_replay. */
  private handleDhtPk(senderPk: Uint8Array, payload: Uint8Array): boolean {
    const friend = this.friends.get(toHex(senderPk));
    if (friend === undefined) return false;
    const parsed = decodeDhtPk(payload);
    if (!parsed.ok) return false;
    const { noReplay, dhtPk, nodes } = parsed.value;
    if (noReplay <= friend.lastNoReplay) return false;
    friend.lastNoReplay = noReplay;
    friend.dhtPk = Uint8Array.from(dhtPk);
    this.opts.events?.onDhtPk?.(friend.realPk, dhtPk, nodes);
    if (this.opts.dht.getNodes !== undefined) {
      for (const n of nodes) if (n.protocol === "udp") this.opts.dht.getNodes(n, dhtPk);
    }
    return true;
  }
}

/** `onion_add_path_node`: a ring of at most 32 distinct nodes. */
function addPathNode(list: NodeInfo[], node: NodeInfo): void {
  if (node.protocol !== "udp") return;
  if (list.some((n) => bytesEqual(n.publicKey, node.publicKey) && ipPortEqual(n.ipPort, node.ipPort))) return;
  list.push({ protocol: "udp", ipPort: node.ipPort, publicKey: Uint8Array.from(node.publicKey) });
  if (list.length > MAX_PATH_NODES) list.shift();
}
