/**
 * Cache of precomputed box keys (`crypto_box_beforenm` costs ~65 µs; a relay computes one per
 * packet otherwise). Keyed by the peer's public key; cleared when our own secret key changes.
 * Bounded: the least recently used entry goes first, like c-toxcore's `Shared_Keys` buckets.
 */
import { bytesEqual, toHex } from "../bytes.js";
import { PUBLIC_KEY_SIZE, precompute } from "../crypto.js";
import { KeyChunks } from "../key-chunks.js";
import { LazyMap } from "../lazy-collections.js";

export class SharedKeyCache {
  private readonly keys = new LazyMap<string, Uint8Array>();
  /** Where cached keys live (about half the memory of one buffer per key). */
  private readonly chunks = new KeyChunks();
  private ourSecret: Uint8Array | null = null;

  constructor(private readonly capacity = 512) {}

  get(theirPublicKey: Uint8Array, ourSecretKey: Uint8Array): Uint8Array {
    if (this.ourSecret === null || !bytesEqual(this.ourSecret, ourSecretKey)) {
      this.keys.clear();
      this.ourSecret = Uint8Array.from(ourSecretKey);
    }
    const id = toHex(theirPublicKey);
    const hit = this.keys.get(id);
    if (hit !== undefined) {
      // Re-insert to mark as most recently used (Map keeps insertion order).
      this.keys.delete(id);
      this.keys.set(id, hit);
      return hit;
    }
    const key = this.chunks.store(precompute(theirPublicKey, ourSecretKey));
    this.keys.set(id, key);
    if (this.keys.size > this.capacity) {
      const oldest = this.keys.keys().next().value;
      if (oldest !== undefined) this.keys.delete(oldest);
    }
    return key;
  }

  get size(): number {
    return this.keys.size;
  }
}

/** Bytes per SlotKeyCache slot: their public key, then the shared key. */
const SLOT_BYTES = 2 * PUBLIC_KEY_SIZE;
/** Slots a SlotKeyCache starts with; it doubles up to its capacity as keys arrive. */
const FIRST_SLOTS = 16;

/**
 * A small LRU cache of box keys in one buffer (peer keys, shared keys, last use), for the
 * per-identity onion caches: an idle identity talks to its 12 announce nodes and a few more, and
 * a Map of hex strings to key views cost it ~4 kB. Lookup is a linear scan (tens of entries).
 * The key returned is a view into the cache: use it at once, it is only valid until the next
 * `get` (a later miss may overwrite its slot).
 */
export class SlotKeyCache {
  /** Per slot: the peer's public key, then the shared key. */
  private keys: Uint8Array | undefined;
  /** Per slot: when it was last used (a counter), for eviction. */
  private lastUse: Float64Array | undefined;
  private used = 0;
  private uses = 0;
  private ourSecret: Uint8Array | null = null;

  constructor(private readonly capacity: number) {}

  get(theirPublicKey: Uint8Array, ourSecretKey: Uint8Array): Uint8Array {
    if (this.ourSecret !== ourSecretKey) {
      // Callers pass the same long-lived secret each time; a different one empties the cache.
      if (this.ourSecret === null || !bytesEqual(this.ourSecret, ourSecretKey)) this.used = 0;
      this.ourSecret = ourSecretKey;
    }
    const hit = this.find(theirPublicKey);
    if (hit !== -1) return this.use(hit);
    const slot = this.freeSlot();
    const keys = this.keys!;
    keys.set(theirPublicKey.subarray(0, PUBLIC_KEY_SIZE), slot * SLOT_BYTES);
    keys.set(precompute(theirPublicKey, ourSecretKey), slot * SLOT_BYTES + PUBLIC_KEY_SIZE);
    return this.use(slot);
  }

  get size(): number {
    return this.used;
  }

  private find(pk: Uint8Array): number {
    const keys = this.keys;
    if (keys === undefined || pk.length !== PUBLIC_KEY_SIZE) return -1;
    for (let slot = 0; slot < this.used; slot++) {
      const at = slot * SLOT_BYTES;
      let i = 0;
      while (i < PUBLIC_KEY_SIZE && keys[at + i] === pk[i]) i++;
      if (i === PUBLIC_KEY_SIZE) return slot;
    }
    return -1;
  }

  private use(slot: number): Uint8Array {
    this.lastUse![slot] = ++this.uses;
    const at = slot * SLOT_BYTES + PUBLIC_KEY_SIZE;
    return this.keys!.subarray(at, at + PUBLIC_KEY_SIZE);
  }

  /** A slot to fill: the next unused one (growing the buffer), else the least recently used. */
  private freeSlot(): number {
    const slots = this.lastUse?.length ?? 0;
    if (this.used < slots) return this.used++;
    if (slots < this.capacity) {
      const grown = Math.min(this.capacity, Math.max(FIRST_SLOTS, slots * 2));
      const keys = new Uint8Array(grown * SLOT_BYTES);
      const lastUse = new Float64Array(grown);
      if (this.keys !== undefined && this.lastUse !== undefined) {
        keys.set(this.keys);
        lastUse.set(this.lastUse);
      }
      this.keys = keys;
      this.lastUse = lastUse;
      return this.used++;
    }
    const lastUse = this.lastUse!;
    let oldest = 0;
    for (let slot = 1; slot < this.used; slot++) if (lastUse[slot]! < lastUse[oldest]!) oldest = slot;
    return oldest;
  }
}
