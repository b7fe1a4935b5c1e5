/**
 * Tox ID (Messenger.c `getaddress`): `real public key 32 | nospam 4 | checksum 2`, 38 bytes,
 * shown as 76 hex characters (upper case by convention).
 * checksum[0] = XOR of bytes 0,2,…,34; checksum[1] = XOR of bytes 1,3,…,35.
 * The nospam bytes are opaque; the C API's uint32 is their big-endian reading.
 */
import { bytesEqual, fromHex, toHex } from "./bytes.js";
import { PUBLIC_KEY_SIZE, publicKeyValid } from "./crypto.js";
import { type ParseResult, tryParse, WireError } from "./errors.js";

export const NOSPAM_SIZE = 4;
export const TOX_ADDRESS_SIZE = PUBLIC_KEY_SIZE + NOSPAM_SIZE + 2;

export interface ToxAddress {
  publicKey: Uint8Array;
  nospam: Uint8Array;
}

export function addressChecksum(pkAndNospam: Uint8Array): Uint8Array {
  const sum = new Uint8Array(2);
  for (let i = 0; i < PUBLIC_KEY_SIZE + NOSPAM_SIZE; i++) sum[i % 2]! ^= pkAndNospam[i]!;
  return sum;
}

export function encodeAddress(addr: ToxAddress): Uint8Array {
  if (addr.publicKey.length !== PUBLIC_KEY_SIZE || addr.nospam.length !== NOSPAM_SIZE) {
    throw new RangeError("Tox address needs a 32-byte public key and a 4-byte nospam");
  }
  const out = new Uint8Array(TOX_ADDRESS_SIZE);
  out.set(addr.publicKey, 0);
  out.set(addr.nospam, PUBLIC_KEY_SIZE);
  out.set(addressChecksum(out), PUBLIC_KEY_SIZE + NOSPAM_SIZE);
  return out;
}

/** 76 upper-case hex characters, as qTox/toxic display it. */
export function formatAddress(addr: ToxAddress): string {
  return toHex(encodeAddress(addr), true);
}

export function decodeAddress(bytes: Uint8Array): ParseResult<ToxAddress> {
  return tryParse(() => {
    if (bytes.length !== TOX_ADDRESS_SIZE) {
      throw new WireError(`Tox ID must be ${TOX_ADDRESS_SIZE} bytes, got ${bytes.length}`, {
        what: "tox id",
      });
    }
    const expected = addressChecksum(bytes);
    if (!bytesEqual(expected, bytes.subarray(PUBLIC_KEY_SIZE + NOSPAM_SIZE))) {
      throw new WireError("Tox ID checksum mismatch (a character was mistyped?)", {
        what: "tox id",
        field: "checksum",
      });
    }
    const publicKey = bytes.slice(0, PUBLIC_KEY_SIZE);
    if (!publicKeyValid(publicKey)) {
      throw new WireError("Tox ID holds an invalid public key", { what: "tox id", field: "public key" });
    }
    return { publicKey, nospam: bytes.slice(PUBLIC_KEY_SIZE, PUBLIC_KEY_SIZE + NOSPAM_SIZE) };
  });
}

/** Parses a Tox ID typed or pasted by a person: tolerates whitespace and a `tox:` URI prefix. */
export function parseAddress(text: string): ParseResult<ToxAddress> {
  const cleaned = text.trim().replace(/^tox:/i, "").replace(/\s+/g, "");
  if (cleaned.length !== TOX_ADDRESS_SIZE * 2 || !/^[0-9a-fA-F]+$/.test(cleaned)) {
    return {
      ok: false,
      error: new WireError(`a Tox ID is ${TOX_ADDRESS_SIZE * 2} hex characters, got ${cleaned.length}`, {
        what: "tox id",
      }),
    };
  }
  return decodeAddress(fromHex(cleaned, "tox id"));
}

export function nospamToNumber(nospam: Uint8Array): number {
  return ((nospam[0]! << 24) | (nospam[1]! << 16) | (nospam[2]! << 8) | nospam[3]!) >>> 0;
}

export function nospamFromNumber(n: number): Uint8Array {
  return Uint8Array.from([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}
