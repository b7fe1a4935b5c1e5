import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KeyChunks, longLivedKeyPair, storeLongLivedKey } from "../../src/tox/key-chunks.js";

describe("KeyChunks", () => {
  it("returns copies that keep their bytes while the caller's buffers and later keys change", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 40 }), (keys) => {
        const originals = keys.map((k) => Uint8Array.from(k));
        const chunks = new KeyChunks();
        const stored = keys.map((k) => chunks.store(k));
        for (const k of keys) k.fill(0xee);
        stored.forEach((s, i) => {
          expect(s.length).toBe(32);
          expect(s).toEqual(originals[i]);
        });
      }),
    );
  });

  it("copies bytes exactly and keeps odd-sized input as a plain copy", () => {
    const chunks = new KeyChunks();
    const a = Uint8Array.from({ length: 32 }, (_, i) => i);
    const b = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
    const sa = chunks.store(a);
    const sb = chunks.store(b);
    a.fill(1);
    expect([...sa]).toEqual(Array.from({ length: 32 }, (_, i) => i));
    expect([...sb]).toEqual(Array.from({ length: 32 }, (_, i) => 255 - i));
    const odd = chunks.store(new Uint8Array([1, 2, 3]));
    expect([...odd]).toEqual([1, 2, 3]);
  });
});

describe("long-lived keys", () => {
  it("copies key pairs into shared chunks, keeping other fields and the bytes", () => {
    const pair = { publicKey: new Uint8Array(32).fill(7), secretKey: new Uint8Array(32).fill(9), label: "x" };
    const stored = longLivedKeyPair(pair);
    pair.publicKey.fill(0);
    pair.secretKey.fill(0);
    expect(stored.label).toBe("x");
    expect(stored.publicKey).toEqual(new Uint8Array(32).fill(7));
    expect(stored.secretKey).toEqual(new Uint8Array(32).fill(9));
    expect(storeLongLivedKey(new Uint8Array(32).fill(3))).toEqual(new Uint8Array(32).fill(3));
  });
});
