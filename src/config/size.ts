/**
 * Byte sizes as operators like to write them: `52428800`, `"50 MiB"`, `"50MB"`, `"1.5 GiB"`.
 * Decimal units (kB, MB, GB) are powers of 1000 and binary ones (KiB, MiB, GiB) of 1024, as in
 * IEC 80000-13; a bare `K`/`M`/`G` is read as binary because that is what people usually mean.
 */
const UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
};

/** Returns a whole number of bytes, or null when the value is not a non-negative size. */
export function parseByteSize(value: number | string): number | null {
  if (typeof value === "number") {
    return Number.isSafeInteger(value) && value >= 0 ? value : null;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(value);
  if (!m) return null;
  const unit = (m[2] ?? "").toLowerCase();
  const factor = unit === "" ? 1 : UNITS[unit];
  if (factor === undefined) return null;
  const bytes = Math.round(Number(m[1]) * factor);
  return Number.isSafeInteger(bytes) ? bytes : null;
}
