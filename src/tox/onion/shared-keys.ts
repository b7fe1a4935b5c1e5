/**
 * Cache of precomputed box keys (`crypto_box_beforenm` costs ~65 µs; a relay computes one per
 * packet otherwise). Keyed by the peer's public key; cleared when our own secret key changes.
 * Bounded: the least recently used entry goes first, like c-toxcore's `Shared_Keys` buckets.
 */
import { bytesEqual, toHex } from "../bytes.js";
import { precompute } from "../crypto.js";
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
