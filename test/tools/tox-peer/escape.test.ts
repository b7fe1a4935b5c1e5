import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { escapeText, unescapeText } from "../../../src/tools/tox-peer/escape.js";

describe("free-text escaping", () => {
  it("escapes backslash, LF and CR only", () => {
    expect(escapeText("a\\b\nc\rd e=f")).toBe("a\\\\b\\nc\\rd e=f");
    expect(unescapeText("a\\\\b\\nc\\rd")).toBe("a\\b\nc\rd");
  });

  it("keeps unknown escapes and a trailing backslash literally", () => {
    expect(unescapeText("C:\\temp\\x")).toBe("C:\\temp\\x");
    expect(unescapeText("end\\")).toBe("end\\");
    expect(unescapeText("\\\\n")).toBe("\\n");
  });

  it("round-trips every string and never leaves a line break", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), fc.string(), (a, b) => {
        for (const s of [a, b, `${a}\n\\${b}\r`]) {
          const e = escapeText(s);
          expect(e).not.toMatch(/[\n\r]/);
          expect(unescapeText(e)).toBe(s);
        }
      }),
      { numRuns: 500 },
    );
  });
});
