import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { onTickGrid } from "../../../src/tox/node/tox-node.js";

describe("ToxNode tick grid", () => {
  it("long waits land on a 50 ms grid, never early and at most one step late; short waits stay exact", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 2e12, noNaN: true }),
        fc.integer({ min: 0, max: 5000 }),
        (now, wait) => {
          const at = onTickGrid(now, wait);
          if (wait < 500) expect(at).toBe(now + wait);
          else {
            expect(at).toBeGreaterThanOrEqual(now + wait);
            expect(at - (now + wait)).toBeLessThan(50);
            expect(at % 50).toBe(0);
          }
        },
      ),
    );
    expect(onTickGrid(1000, Number.POSITIVE_INFINITY)).toBe(Number.POSITIVE_INFINITY);
  });

  it("identities a few ms apart share one wake-up", () => {
    const times = new Set(Array.from({ length: 40 }, (_, i) => onTickGrid(1_000_001 + i, 1000)));
    expect(times.size).toBe(1);
  });
});
