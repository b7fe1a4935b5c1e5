/**
 * Map and Set that allocate their hash table on first insert.
 *
 * A hosted identity holds a few dozen keyed collections (sessions, friends, transfers,
 * conferences, relays...) that stay empty for as long as the identity is idle. V8 gives every
 * `new Map()` a hash table of about 180 bytes up front, so thousands of idle identities paid
 * megabytes for empty tables. These wrappers cost one small object until something is stored,
 * and behave as Map/Set otherwise (iteration order, live iterators, deletion while iterating).
 */

/** Shared by every empty instance for iteration; never written to. */
const EMPTY_MAP = new Map<unknown, unknown>();
const EMPTY_SET = new Set<unknown>();

export class LazyMap<K, V> implements Map<K, V> {
  private inner: Map<K, V> | undefined;

  get size(): number {
    return this.inner === undefined ? 0 : this.inner.size;
  }

  get [Symbol.toStringTag](): string {
    return "LazyMap";
  }

  get(key: K): V | undefined {
    return this.inner?.get(key);
  }

  has(key: K): boolean {
    return this.inner?.has(key) ?? false;
  }

  set(key: K, value: V): this {
    if (this.inner === undefined) this.inner = new Map();
    this.inner.set(key, value);
    return this;
  }

  delete(key: K): boolean {
    return this.inner?.delete(key) ?? false;
  }

  /** Keeps the table once made: a collection that filled once is likely to fill again. */
  clear(): void {
    this.inner?.clear();
  }

  /**
   * Drops the hash table if the map is empty, for maps that are briefly non-empty now and then
   * (requests in flight): their table would otherwise stay allocated while idle.
   */
  releaseIfEmpty(): void {
    if (this.inner !== undefined && this.inner.size === 0) this.inner = undefined;
  }

  forEach(fn: (value: V, key: K, map: Map<K, V>) => void, thisArg?: unknown): void {
    this.inner?.forEach((v, k) => {
      fn.call(thisArg, v, k, this);
    });
  }

  entries(): MapIterator<[K, V]> {
    return (this.inner ?? (EMPTY_MAP as Map<unknown, unknown> as Map<K, V>)).entries();
  }

  keys(): MapIterator<K> {
    return (this.inner ?? (EMPTY_MAP as Map<unknown, unknown> as Map<K, V>)).keys();
  }

  values(): MapIterator<V> {
    return (this.inner ?? (EMPTY_MAP as Map<unknown, unknown> as Map<K, V>)).values();
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }
}

export class LazySet<T> implements Set<T> {
  private inner: Set<T> | undefined;

  get size(): number {
    return this.inner === undefined ? 0 : this.inner.size;
  }

  get [Symbol.toStringTag](): string {
    return "LazySet";
  }

  has(value: T): boolean {
    return this.inner?.has(value) ?? false;
  }

  add(value: T): this {
    if (this.inner === undefined) this.inner = new Set();
    this.inner.add(value);
    return this;
  }

  delete(value: T): boolean {
    return this.inner?.delete(value) ?? false;
  }

  clear(): void {
    this.inner?.clear();
  }

  forEach(fn: (value: T, value2: T, set: Set<T>) => void, thisArg?: unknown): void {
    this.inner?.forEach((v) => {
      fn.call(thisArg, v, v, this);
    });
  }

  entries(): SetIterator<[T, T]> {
    return (this.inner ?? (EMPTY_SET as Set<unknown> as Set<T>)).entries();
  }

  keys(): SetIterator<T> {
    return (this.inner ?? (EMPTY_SET as Set<unknown> as Set<T>)).keys();
  }

  values(): SetIterator<T> {
    return (this.inner ?? (EMPTY_SET as Set<unknown> as Set<T>)).values();
  }

  [Symbol.iterator](): SetIterator<T> {
    return this.values();
  }
}
