/**
 * Compact storage for onion announce-node lists (c-toxcore `Onion_Node` arrays) and the "recently
 * pinged" rings next to them.
 *
 * Every hosted identity keeps 12 announce nodes (and 8 per friend it searches for). As plain
 * records each node owned two 32-byte arrays (its key and the ping id it gave us, ~230 bytes each
 * with their ArrayBuffers) and three boxed timestamps: ~600 bytes a node, ~7 kB an idle identity.
 * Here one buffer per list holds every node's key, ping id, shared box key and times; a node is
 * a small object with its slot number. (The shared key lives with the node rather than in a
 * per-identity cache: the nodes of the list are the ones asked again and again.) Keys and ping
 * ids are overwritten in place, so the views `publicKey` and `pingId` return are only valid until
 * the node's next update: copy them to keep them.
 */
import { PUBLIC_KEY_SIZE, precompute } from "../crypto.js";
import type { IpPort } from "../wire/ipport.js";
import { ONION_PING_ID_SIZE } from "../wire/onion.js";
import { compareDistanceAt } from "./distance.js";

/**
 * Bytes of one slot: the node's public key, its ping id, the box key we share with it, then
 * small counters (isStored, pingsSinceResponse, whether the box key is there).
 */
const SHARED_KEY_AT = PUBLIC_KEY_SIZE + ONION_PING_ID_SIZE;
const IS_STORED_AT = SHARED_KEY_AT + PUBLIC_KEY_SIZE;
const PINGS_AT = IS_STORED_AT + 1;
const HAS_SHARED_KEY_AT = PINGS_AT + 1;
const SLOT_BYTES = HAS_SHARED_KEY_AT + 1;
/** Numbers per slot: addedAt, timestamp, lastPinged, pathUsed (a path number up to 2^32). */
const SLOT_TIMES = 4;
const ADDED_AT = 0;
const TIMESTAMP = 1;
const LAST_PINGED = 2;
const PATH_USED = 3;

/** Shared by every empty slot: replaced, never written into. */
export const ZERO_KEY = new Uint8Array(PUBLIC_KEY_SIZE);
export const NO_ADDRESS: IpPort = Object.freeze({ family: 4, ip: "0.0.0.0", port: 0 });

/** One announce node in our own list or a friend's search list (`Onion_Node`). */
export class OnionNode {
  ipPort: IpPort = NO_ADDRESS;
  /** The searched key's data pk the node stores (ZERO_KEY while unknown). */
  dataPk: Uint8Array = ZERO_KEY;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly times: Float64Array,
    private readonly slot: number,
  ) {}

  /** The node's key: a view into the list's buffer, valid until `setPublicKey`. */
  get publicKey(): Uint8Array {
    const at = this.slot * SLOT_BYTES;
    return this.bytes.subarray(at, at + PUBLIC_KEY_SIZE);
  }

  setPublicKey(pk: Uint8Array): void {
    this.bytes.set(pk.subarray(0, PUBLIC_KEY_SIZE), this.slot * SLOT_BYTES);
    this.bytes[this.slot * SLOT_BYTES + HAS_SHARED_KEY_AT] = 0;
  }

  /**
   * The box key between `ourSecretKey` and the node (`crypto_box_beforenm`, computed once per
   * node key; a list always uses the same secret key). A view, valid until `setPublicKey`.
   */
  sharedKey(ourSecretKey: Uint8Array): Uint8Array {
    const at = this.slot * SLOT_BYTES + SHARED_KEY_AT;
    if (this.bytes[this.slot * SLOT_BYTES + HAS_SHARED_KEY_AT] === 0) {
      this.bytes.set(precompute(this.publicKey, ourSecretKey), at);
      this.bytes[this.slot * SLOT_BYTES + HAS_SHARED_KEY_AT] = 1;
    }
    return this.bytes.subarray(at, at + PUBLIC_KEY_SIZE);
  }

  hasPublicKey(pk: Uint8Array): boolean {
    return this.equalAt(this.slot * SLOT_BYTES, pk, PUBLIC_KEY_SIZE);
  }

  /** The ping id the node gave us (zeros before it answered): a view, valid until `setPingId`. */
  get pingId(): Uint8Array {
    const at = this.slot * SLOT_BYTES + PUBLIC_KEY_SIZE;
    return this.bytes.subarray(at, at + ONION_PING_ID_SIZE);
  }

  setPingId(pingId: Uint8Array): void {
    this.bytes.set(pingId.subarray(0, ONION_PING_ID_SIZE), this.slot * SLOT_BYTES + PUBLIC_KEY_SIZE);
  }

  hasPingId(pingId: Uint8Array): boolean {
    return this.equalAt(this.slot * SLOT_BYTES + PUBLIC_KEY_SIZE, pingId, ONION_PING_ID_SIZE);
  }

  /**
   * XOR-metric order of `pk` against this node's key as seen from `base` (c-toxcore
   * `id_closest`): negative when `pk` is closer, positive when farther, 0 when equal. Compares
   * in place (sorting a list must not allocate a view per comparison).
   */
  compareToKey(base: Uint8Array, pk: Uint8Array): number {
    return compareDistanceAt(base, pk, 0, this.bytes, this.slot * SLOT_BYTES);
  }

  /** As `compareToKey` with another node's key (negative when `other` is closer to `base`). */
  compareToNode(base: Uint8Array, other: OnionNode): number {
    return compareDistanceAt(base, other.bytes, other.slot * SLOT_BYTES, this.bytes, this.slot * SLOT_BYTES);
  }

  get addedAt(): number {
    return this.times[this.slot * SLOT_TIMES + ADDED_AT]!;
  }

  set addedAt(t: number) {
    this.times[this.slot * SLOT_TIMES + ADDED_AT] = t;
  }

  /** Last response; 0 = empty slot. */
  get timestamp(): number {
    return this.times[this.slot * SLOT_TIMES + TIMESTAMP]!;
  }

  set timestamp(t: number) {
    this.times[this.slot * SLOT_TIMES + TIMESTAMP] = t;
  }

  /** 0 = never (do not ping right away), 1 = skipped once. */
  get lastPinged(): number {
    return this.times[this.slot * SLOT_TIMES + LAST_PINGED]!;
  }

  set lastPinged(t: number) {
    this.times[this.slot * SLOT_TIMES + LAST_PINGED] = t;
  }

  /** 0 not stored; 1 stores the searched key (its data pk known); 2 stores us. */
  get isStored(): number {
    return this.bytes[this.slot * SLOT_BYTES + IS_STORED_AT]!;
  }

  set isStored(status: number) {
    this.bytes[this.slot * SLOT_BYTES + IS_STORED_AT] = status;
  }

  /** Requests since its last answer (a few at most: it is dropped after ONION_NODE_MAX_PINGS). */
  get pingsSinceResponse(): number {
    return this.bytes[this.slot * SLOT_BYTES + PINGS_AT]!;
  }

  set pingsSinceResponse(n: number) {
    this.bytes[this.slot * SLOT_BYTES + PINGS_AT] = Math.min(n, 255);
  }

  /** The path number the node last answered over. */
  get pathUsed(): number {
    return this.times[this.slot * SLOT_TIMES + PATH_USED]!;
  }

  set pathUsed(pathNum: number) {
    this.times[this.slot * SLOT_TIMES + PATH_USED] = pathNum;
  }

  private equalAt(at: number, other: Uint8Array, size: number): boolean {
    if (other.length !== size) return false;
    for (let i = 0; i < size; i++) if (this.bytes[at + i] !== other[i]) return false;
    return true;
  }
}

/** `count` empty nodes sharing one buffer (keys and ping ids zero, times 0). */
export function newNodeList(count: number): OnionNode[] {
  // Times first: a Float64Array view must start at a multiple of 8.
  const buffer = new ArrayBuffer(count * (SLOT_TIMES * 8 + SLOT_BYTES));
  const times = new Float64Array(buffer, 0, count * SLOT_TIMES);
  const bytes = new Uint8Array(buffer, count * SLOT_TIMES * 8);
  const list: OnionNode[] = [];
  for (let slot = 0; slot < count; slot++) list.push(new OnionNode(bytes, times, slot));
  return list;
}

/**
 * The last `capacity` keys asked, with when (c-toxcore `last_pinged`, used by `good_to_ping`):
 * a ring in one buffer, made on first use, instead of a hex string and a record per entry.
 */
export class RecentlyPinged {
  private keys: Uint8Array | undefined;
  private at: Float64Array | undefined;
  private next = 0;
  private count = 0;

  constructor(private readonly capacity: number) {}

  /**
   * Whether `pk` was not asked within `minIntervalMs` before `now`; if so it is recorded as
   * asked now (the oldest entry goes when the ring is full).
   */
  goodToPing(pk: Uint8Array, now: number, minIntervalMs: number): boolean {
    if (this.keys === undefined || this.at === undefined) {
      const buffer = new ArrayBuffer(this.capacity * (8 + PUBLIC_KEY_SIZE));
      this.at = new Float64Array(buffer, 0, this.capacity);
      this.keys = new Uint8Array(buffer, this.capacity * 8);
    }
    for (let e = 0; e < this.count; e++) {
      if (now - this.at[e]! > minIntervalMs) continue;
      const base = e * PUBLIC_KEY_SIZE;
      let same = true;
      for (let i = 0; i < PUBLIC_KEY_SIZE; i++) {
        if (this.keys[base + i] !== pk[i]) {
          same = false;
          break;
        }
      }
      if (same) return false;
    }
    this.keys.set(pk.subarray(0, PUBLIC_KEY_SIZE), this.next * PUBLIC_KEY_SIZE);
    this.at[this.next] = now;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
    return true;
  }
}
