/** XOR-metric comparison of public keys (c-toxcore `id_closest`). */

/** Negative when `a` is closer to `base` than `b`, positive when farther, 0 when equal. */
export function compareDistance(base: Uint8Array, a: Uint8Array, b: Uint8Array): number {
  return compareDistanceAt(base, a, 0, b, 0);
}

/**
 * `compareDistance` of the keys at `a[aAt..]` and `b[bAt..]`: compares in place, so keys kept in
 * a shared buffer (onion node lists) are sorted without a view per comparison.
 */
export function compareDistanceAt(
  base: Uint8Array,
  a: Uint8Array,
  aAt: number,
  b: Uint8Array,
  bAt: number,
): number {
  for (let i = 0; i < base.length; i++) {
    const da = (a[aAt + i]! ^ base[i]!) >>> 0;
    const db = (b[bAt + i]! ^ base[i]!) >>> 0;
    if (da !== db) return da - db;
  }
  return 0;
}
