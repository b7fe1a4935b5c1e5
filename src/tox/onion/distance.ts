/** XOR-metric comparison of public keys (c-toxcore `id_closest`). */

/** Negative when `a` is closer to `base` than `b`, positive when farther, 0 when equal. */
export function compareDistance(base: Uint8Array, a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < base.length; i++) {
    const da = (a[i]! ^ base[i]!) >>> 0;
    const db = (b[i]! ^ base[i]!) >>> 0;
    if (da !== db) return da - db;
  }
  return 0;
}
