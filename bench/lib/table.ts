/** Plain-text tables for benchmark output: left-aligned text, right-aligned numbers. */

export type Cell = string | number | null | undefined;

/** Formats a number compactly: integers with thousands separators, others to `digits` decimals. */
export function fmt(x: Cell, digits = 2): string {
  if (x === null || x === undefined) return "-";
  if (typeof x === "string") return x;
  if (!Number.isFinite(x)) return String(x);
  if (Number.isInteger(x)) return x.toLocaleString("en-US");
  const abs = Math.abs(x);
  const d = abs >= 1000 ? 0 : abs >= 100 ? Math.min(digits, 1) : digits;
  return x.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
}

export function formatTable(
  headers: readonly string[],
  rows: readonly (readonly Cell[])[],
  title?: string,
): string {
  const text = rows.map((r) => headers.map((_, i) => fmt(r[i])));
  const numeric = headers.map((_, i) => rows.every((r) => r[i] == null || typeof r[i] === "number"));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (numeric[i] && rows.length ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  const out = [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...text.map(line)];
  if (title) out.unshift(title);
  return out.join("\n");
}

export function printTable(
  headers: readonly string[],
  rows: readonly (readonly Cell[])[],
  title?: string,
): void {
  console.log(`${formatTable(headers, rows, title)}\n`);
}

export interface Comparison {
  metric: string;
  unit: string;
  ours: number;
  baseline: number;
  /** True for rates (msgs/s), false for costs (latency, CPU, memory). */
  higherIsBetter: boolean;
}

/**
 * Ours next to the anchor (c-toxcore) with the ratio ours/anchor and a verdict column, so a
 * regression reads at a glance in the same run.
 */
export function printComparison(
  rows: readonly Comparison[],
  title: string,
  labels = ["ours", "c-toxcore"],
): void {
  printTable(
    ["metric", "unit", labels[0] ?? "ours", labels[1] ?? "anchor", "ours/anchor", "verdict"],
    rows.map((r) => {
      const ratio = r.ours / r.baseline;
      const better = r.higherIsBetter ? ratio >= 1 : ratio <= 1;
      return [r.metric, r.unit, r.ours, r.baseline, `${fmt(ratio)}x`, better ? "ok" : "worse"];
    }),
    title,
  );
}
