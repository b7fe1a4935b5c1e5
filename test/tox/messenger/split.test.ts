import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { concatBytes } from "../../../src/tox/bytes.js";
import { MAX_MESSAGE_LENGTH } from "../../../src/tox/messenger/packets.js";
import { splitMessage, splitMessageBytes } from "../../../src/tox/messenger/split.js";

const decoder = new TextDecoder("utf-8", { fatal: true });

describe("splitMessage", () => {
  it("keeps short texts whole and gives nothing for an empty one", () => {
    expect(splitMessage("hello")).toEqual([new TextEncoder().encode("hello")]);
    expect(splitMessage("")).toEqual([]);
    expect(splitMessage("x".repeat(MAX_MESSAGE_LENGTH))).toHaveLength(1);
    expect(splitMessage("x".repeat(MAX_MESSAGE_LENGTH + 1))).toHaveLength(2);
  });

  it("prefers a newline, then a space", () => {
    const text = `${"a".repeat(1000)} ${"b".repeat(200)}\n${"c".repeat(500)}`;
    const pieces = splitMessage(text).map((p) => decoder.decode(p));
    expect(pieces[0]!.endsWith("\n")).toBe(true);
    expect(pieces[0]!.length).toBe(1202);
    const words = `${"word ".repeat(400)}`;
    const wp = splitMessage(words).map((p) => decoder.decode(p));
    expect(wp[0]!.endsWith(" ")).toBe(true);
    expect(wp.join("")).toBe(words);
  });

  it("never cuts a code point", () => {
    const text = "€".repeat(1000); // 3 bytes each
    const pieces = splitMessage(text);
    for (const p of pieces) expect(() => decoder.decode(p)).not.toThrow();
    expect(pieces[0]!.length).toBe(1371);
  });

  it("property: pieces are 1..max bytes, valid UTF-8, and join to the input", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "binary", maxLength: 4000 }),
        fc.integer({ min: 4, max: MAX_MESSAGE_LENGTH }),
        (text, max) => {
          const bytes = new TextEncoder().encode(text);
          const pieces = splitMessageBytes(bytes, max);
          for (const p of pieces) {
            expect(p.length).toBeGreaterThan(0);
            expect(p.length).toBeLessThanOrEqual(max);
            decoder.decode(p);
          }
          expect(concatBytes(...pieces)).toEqual(bytes);
        },
      ),
      { numRuns: 3000 },
    );
  });
});
