/**
 * Outstanding request ids with timeouts (ping_array.c). Every ping / nodes request we send
 * carries a random 8-byte id; a response is accepted only if its id is here, not expired, and
 * (checked by the caller against the stored data) came from the key and address we asked.
 * An id is single-use: checking it removes it, so a response cannot be replayed.
 */
import { toHex } from "../bytes.js";
import { randomBytes } from "../crypto.js";
import { LazyMap } from "../lazy-collections.js";
import { PING_ID_SIZE } from "../wire/dht.js";

interface Entry<T> {
  data: T;
  sentAt: number;
}

export class PingArray<T> {
  /** Insertion-ordered, so the oldest entry is first (evicted when full, like the C ring). */
  private readonly entries = new LazyMap<string, Entry<T>>();

  constructor(
    private readonly capacity: number,
    private readonly timeoutMs: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Stores `data` and returns a fresh non-zero ping id for it. */
  add(now: number, data: T): Uint8Array {
    this.expire(now);
    while (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
    let id: Uint8Array;
    let key: string;
    do {
      id = randomBytes(PING_ID_SIZE);
      key = toHex(id);
    } while (this.entries.has(key) || id.every((b) => b === 0));
    this.entries.set(key, { data, sentAt: now });
    return id;
  }

  /** Returns and removes the data of a live id; undefined if unknown or expired. */
  take(now: number, id: Uint8Array): T | undefined {
    const key = toHex(id);
    const e = this.entries.get(key);
    if (!e) return undefined;
    this.entries.delete(key);
    if (now - e.sentAt >= this.timeoutMs) return undefined;
    return e.data;
  }

  /** Drops expired entries (oldest first, stops at the first live one). */
  expire(now: number): void {
    for (const [key, e] of this.entries) {
      if (now - e.sentAt < this.timeoutMs) break;
      this.entries.delete(key);
    }
  }
}
