/**
 * Compact storage for many long-lived 32-byte keys (precomputed shared keys in caches).
 *
 * In Node every small Uint8Array that owns its buffer costs about 290 bytes (the view, an
 * ArrayBuffer object and an external backing store); a view into a shared chunk costs about
 * 130. Thousands of idle identities each keep dozens of shared keys, so caches copy keys into
 * chunks of CHUNK_KEYS. Slots are never reused: a chunk is freed when none of its views is
 * referenced any more, so a key handed out stays valid for as long as anyone holds it.
 */

const CHUNK_KEYS = 8;

export class KeyChunks {
  private chunk: Uint8Array | undefined;
  private used = 0;

  constructor(private readonly keySize = 32) {}

  /** A copy of `key` (exactly `keySize` bytes) in the current chunk. */
  store(key: Uint8Array): Uint8Array {
    if (key.length !== this.keySize) return Uint8Array.from(key);
    if (this.chunk === undefined || this.used === CHUNK_KEYS) {
      this.chunk = new Uint8Array(this.keySize * CHUNK_KEYS);
      this.used = 0;
    }
    const at = this.used * this.keySize;
    this.used++;
    const view = this.chunk.subarray(at, at + this.keySize);
    view.set(key);
    return view;
  }
}

/**
 * Process-wide chunks for keys that live as long as their owner (each hosted identity's real,
 * DHT and onion-data key pairs, its cookie key): a handful per identity that would each own a
 * buffer otherwise. A chunk is freed once every key in it is unreferenced.
 */
const longLived = new KeyChunks();

/** A copy of a 32-byte key in the process-wide chunks (other sizes: a plain copy). */
export function storeLongLivedKey(key: Uint8Array): Uint8Array {
  return longLived.store(key);
}

/** A copy of a key pair, both keys in the process-wide chunks. */
export function longLivedKeyPair<T extends { publicKey: Uint8Array; secretKey: Uint8Array }>(pair: T): T {
  return { ...pair, publicKey: longLived.store(pair.publicKey), secretKey: longLived.store(pair.secretKey) };
}
