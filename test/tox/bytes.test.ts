import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ByteReader, ByteWriter, bytesEqual, concatBytes, fromHex, toHex } from "../../src/tox/bytes.js";
import { WireError } from "../../src/tox/errors.js";

describe("ByteWriter/ByteReader", () => {
  it("round-trips mixed big- and little-endian fields", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.uint8Array({ maxLength: 40 }),
        (a, b, c, d, e) => {
          const bytes = new ByteWriter(1)
            .u8(a)
            .u16be(b)
            .u16le(b)
            .u32be(c)
            .u32le(c)
            .u64be(d)
            .u64le(d)
            .bytes(e)
            .finish();
          const r = new ByteReader(bytes);
          expect([r.u8(), r.u16be(), r.u16le(), r.u32be(), r.u32le(), r.u64be(), r.u64le()]).toEqual([
            a,
            b,
            b,
            c,
            c,
            d,
            d,
          ]);
          expect(r.bytesN(e.length)).toEqual(e);
          r.end();
        },
      ),
    );
  });

  it("writes big-endian exactly as the wire expects", () => {
    expect(toHex(new ByteWriter().u16be(0x1234).u32be(0xdeadbeef).finish())).toBe("1234deadbeef");
    expect(toHex(new ByteWriter().u32le(0x15ed1b1f).finish())).toBe("1f1bed15");
  });

  it("reports truncation with the structure, field and offset", () => {
    const r = new ByteReader(Uint8Array.of(1, 2), "nodes response");
    r.u8();
    expect(() => r.u32be("ping id")).toThrowError(/nodes response: truncated reading ping id .* offset 1/);
    expect(() => new ByteReader(Uint8Array.of(1)).end()).toThrow(WireError);
  });
});

describe("hex and byte helpers", () => {
  it("hex round-trips", () => {
    fc.assert(fc.property(fc.uint8Array(), (b) => bytesEqual(fromHex(toHex(b)), b)));
  });
  it("rejects odd or non-hex strings", () => {
    expect(() => fromHex("abc")).toThrow(WireError);
    expect(() => fromHex("zz")).toThrow(WireError);
  });
  it("concatenates", () => {
    expect(concatBytes(Uint8Array.of(1), Uint8Array.of(), Uint8Array.of(2, 3))).toEqual(
      Uint8Array.of(1, 2, 3),
    );
  });
});
