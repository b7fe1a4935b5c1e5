import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  claimConflicts,
  type FileClaims,
  laneOf,
  PAIRED_CLAIMS,
  PARALLEL_CLAIMS,
  type PortClaim,
  SERIAL_FILES,
  unclaimedLiterals,
} from "./ports.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return testFiles(path);
    return e.name.endsWith(".test.ts") ? [relative(ROOT, path).split("\\").join("/")] : [];
  });
}

const claim = (first: number, last: number, how: PortClaim["how"]): PortClaim => ({
  first,
  last,
  how,
  what: "x",
});

describe("test port registry", () => {
  const all = testFiles(join(ROOT, "test"));

  it("no two files of a two-at-a-time lane (or helper pools) claim overlapping fixed ports", () => {
    expect(claimConflicts({ ...PARALLEL_CLAIMS, ...PAIRED_CLAIMS })).toEqual([]);
  });

  it("every registered file exists and runs in its lane; every serial file exists", () => {
    for (const f of Object.keys(PARALLEL_CLAIMS)) {
      expect(all, f).toContain(f);
      expect(laneOf(f), f).toBe("parallel");
    }
    for (const f of Object.keys(PAIRED_CLAIMS)) {
      expect(all, f).toContain(f);
      expect(laneOf(f), f).toBe("paired");
    }
    for (const f of SERIAL_FILES) expect(all, f).toContain(f);
  });

  it("every file of a two-at-a-time lane binds only the test-range ports it registered", () => {
    const claimsOf = (f: string) => (laneOf(f) === "paired" ? PAIRED_CLAIMS[f] : PARALLEL_CLAIMS[f]);
    const unregistered = all
      .filter((f) => laneOf(f) !== "serial")
      .map((f) => ({ f, n: unclaimedLiterals(readFileSync(join(ROOT, f), "utf8"), claimsOf(f)) }))
      .filter((x) => x.n.length > 0)
      .map((x) => `${x.f}: ${x.n.join(", ")} (register in test/helpers/ports.ts or make it serial)`);
    expect(unregistered).toEqual([]);
  });

  it("finds conflicts: fixed against anything, but not searched against searched or within one file", () => {
    const files: Record<string, FileClaims> = {
      a: { claims: [claim(100, 110, "fixed"), claim(105, 106, "searched")] },
      b: { claims: [claim(110, 120, "searched")] },
      c: { claims: [claim(115, 130, "searched")] },
    };
    const found = claimConflicts(files, {});
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^a \(x 100-110, fixed\) overlaps b \(x 110-120, searched\)$/);
    expect(claimConflicts({ a: files.a! }, { pool: claim(90, 100, "fixed") })).toHaveLength(1);
  });

  it("scans port literals of the test range, ignoring claimed ones, addresses, and longer numbers", () => {
    const entry: FileClaims = { claims: [claim(34400, 34449, "searched")], addressesOnly: [36099] };
    const src = "portRange: [34400, 34449], x(36099), bind(37001); 33445; 134567; 1.34999; 40000";
    expect(unclaimedLiterals(src, entry)).toEqual([37001]);
    expect(unclaimedLiterals("startPort: 35000", undefined)).toEqual([35000]);
    // Addresses in ipPort() calls are not bindings; the same number elsewhere is.
    expect(unclaimedLiterals('sinkFor(ipPort("127.0.0.1", 36100 + i))', undefined)).toEqual([]);
    expect(unclaimedLiterals('ipPort("127.0.0.1", 36100); make(36100)', undefined)).toEqual([36100]);
  });
});
