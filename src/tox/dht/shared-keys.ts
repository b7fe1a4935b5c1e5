/**
 * Cache of DHT shared keys (DHT.c `get_shared_key`): `crypto_box_beforenm` costs ~65 µs and
 * every DHT packet needs one, while the set of peers is small and stable. LRU by Map order.
 */
import { toHex } from "../bytes.js";
import { precompute } from "../crypto.js";
import { LazyMap } from "../lazy-collections.js";

export class SharedKeyCache {
  private readonly keys = new LazyMap<string, Uint8Array>();
  hits = 0;
  misses = 0;

  constructor(
    private secretKey: Uint8Array,
    private readonly capacity = 2048,
  ) {}

  get(publicKey: Uint8Array): Uint8Array {
    const id = toHex(publicKey);
    const cached = this.keys.get(id);
    if (cached) {
      this.hits++;
      this.keys.delete(id);
      this.keys.set(id, cached);
      return cached;
    }
    this.misses++;
    const key = precompute(publicKey, this.secretKey);
    if (this.keys.size >= this.capacity) {
      const oldest = this.keys.keys().next();
      if (!oldest.done) this.keys.delete(oldest.value);
    }
    this.keys.set(id, key);
    return key;
  }

  /** For a new secret key (the DHT key pair was replaced): forget everything. */
  reset(secretKey: Uint8Array): void {
    this.secretKey = secretKey;
    this.keys.clear();
  }
}
