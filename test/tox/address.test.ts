import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeAddress,
  encodeAddress,
  formatAddress,
  nospamFromNumber,
  nospamToNumber,
  parseAddress,
} from "../../src/tox/address.js";
import { unwrap } from "../../src/tox/errors.js";

const validPk = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((pk) => {
  pk[31]! &= 0x7f;
  return pk;
});

describe("Tox ID", () => {
  // 76 hex characters of arbitrary content (its checksum is not valid); used for length checks only.
  const known = "A1B2C3D4E5F60718293A4B5C6D7E8F90112233445566778899AABBCCDDEEFF0012345678";

  it("encodes and decodes with the XOR checksum", () => {
    fc.assert(
      fc.property(validPk, fc.uint8Array({ minLength: 4, maxLength: 4 }), (publicKey, nospam) => {
        const text = formatAddress({ publicKey, nospam });
        expect(text).toMatch(/^[0-9A-F]{76}$/);
        const back = unwrap(parseAddress(text));
        expect(back.publicKey).toEqual(publicKey);
        expect(back.nospam).toEqual(nospam);
      }),
    );
  });

  it("computes the checksum as XOR over even and odd bytes", () => {
    const bytes = encodeAddress({
      publicKey: Uint8Array.from({ length: 32 }, (_, i) => i),
      nospam: Uint8Array.of(0xaa, 0xbb, 0xcc, 0xdd),
    });
    let even = 0;
    let odd = 0;
    for (let i = 0; i < 36; i++) {
      if (i % 2 === 0) even ^= bytes[i]!;
      else odd ^= bytes[i]!;
    }
    expect([bytes[36], bytes[37]]).toEqual([even, odd]);
  });

  it("rejects a mistyped character with a checksum error", () => {
    const good = formatAddress({ publicKey: new Uint8Array(32).fill(1), nospam: Uint8Array.of(1, 2, 3, 4) });
    const bad = `${good.slice(0, 10)}${good[10] === "0" ? "1" : "0"}${good.slice(11)}`;
    const r = parseAddress(bad);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toMatch(/checksum/);
  });

  it("rejects wrong lengths and non-hex", () => {
    expect(parseAddress(known.slice(0, 74)).ok).toBe(false);
    expect(parseAddress(`${known.slice(0, 75)}G`).ok).toBe(false);
    expect(decodeAddress(new Uint8Array(37)).ok).toBe(false);
  });

  it("accepts tox: URIs, lower case and whitespace", () => {
    const text = formatAddress({ publicKey: new Uint8Array(32).fill(7), nospam: Uint8Array.of(9, 8, 7, 6) });
    expect(
      parseAddress(`  tox:${text.toLowerCase().slice(0, 30)} ${text.toLowerCase().slice(30)}\n`).ok,
    ).toBe(true);
  });

  it("reads nospam as the C API's big-endian uint32", () => {
    expect(nospamToNumber(Uint8Array.of(0x12, 0x34, 0x56, 0x78))).toBe(0x12345678);
    expect(nospamFromNumber(0xdeadbeef)).toEqual(Uint8Array.of(0xde, 0xad, 0xbe, 0xef));
  });

  it("never throws on arbitrary input", () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        parseAddress(s);
      }),
      { numRuns: 20_000 },
    );
  });
});
