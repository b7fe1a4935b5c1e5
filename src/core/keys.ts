/** Conversions between the store's byte keys and the hex keys the core and frontends use. */
import { fromHex, toHex } from "../tox/index.js";
import { CoreError } from "./errors.js";

export const hex = (key: Uint8Array): string => toHex(key).toLowerCase();

const HEX_KEY = /^[0-9a-fA-F]{64}$/;

export function isHexKey(text: string): boolean {
  return HEX_KEY.test(text);
}

/** A 64-hex-digit public key as bytes; CoreError("unknown-friend") when it is not one. */
export function keyBytes(text: string): Uint8Array {
  if (!isHexKey(text))
    throw new CoreError("unknown-friend", `not a Tox public key: ${text.slice(0, 80)}`, {
      key: text.slice(0, 80),
    });
  return fromHex(text);
}

/** Nospam (u32, big-endian as in the Tox address) as the 4 bytes Tox uses. */
export function nospamBytes(n: number): Uint8Array {
  return Uint8Array.from([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}

export function nospamNumber(bytes: Uint8Array): number {
  return ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
}
