import { describe, expect, it } from "vitest";
import { percentile, percentileSorted, ratePerSecond, summarize } from "../../../bench/lib/stats.js";
import { fmt, formatTable } from "../../../bench/lib/table.js";

describe("bench stats", () => {
  it("uses nearest-rank percentiles", () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
    expect(percentileSorted(xs, 50)).toBe(50);
    expect(percentileSorted(xs, 99)).toBe(99);
    expect(percentileSorted(xs, 100)).toBe(100);
    expect(percentileSorted(xs, 0)).toBe(1);
    expect(percentile([5, 1, 3], 50)).toBe(3);
    expect(percentile([], 50)).toBeNaN();
  });

  it("summarises unsorted samples", () => {
    const s = summarize([4, 2, 8, 6]);
    expect(s).toMatchObject({ count: 4, min: 2, max: 8, mean: 5, p50: 4, p99: 8 });
    expect(summarize([]).count).toBe(0);
  });

  it("computes rates", () => {
    expect(ratePerSecond(5000, 250)).toBe(20_000);
  });
});

describe("bench table", () => {
  it("aligns numbers right and text left", () => {
    const t = formatTable(
      ["name", "n"],
      [
        ["a", 1234],
        ["bbb", 5.5],
      ],
    );
    expect(t.split("\n")).toEqual(["name      n", "----  -----", "a     1,234", "bbb    5.50"]);
  });

  it("formats cells", () => {
    expect(fmt(undefined)).toBe("-");
    expect(fmt(1234.56)).toBe("1,235");
    expect(fmt(12.345)).toBe("12.35");
  });
});
