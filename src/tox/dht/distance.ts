/**
 * XOR-metric helpers (DHT.c `id_closest`, `bit_by_bit_cmp`). Keys are compared byte by byte
 * from the most significant end, which is the XOR distance as a 256-bit big-endian number.
 */
import { PUBLIC_KEY_SIZE } from "../crypto.js";

/** <0 if `a` is closer to `target` than `b`, >0 if farther, 0 if equal distance (a == b). */
export function compareDistance(target: Uint8Array, a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < PUBLIC_KEY_SIZE; i++) {
    const da = target[i]! ^ a[i]!;
    const db = target[i]! ^ b[i]!;
    if (da !== db) return da < db ? -1 : 1;
  }
  return 0;
}

/** Number of leading bits two keys share (256 when equal): the close-list bucket index. */
export function commonPrefixBits(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < PUBLIC_KEY_SIZE; i++) {
    const x = a[i]! ^ b[i]!;
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return PUBLIC_KEY_SIZE * 8;
}

export function keysEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
