/**
 * The bridge's version, read once from package.json. The file sits one directory above both
 * `src/` (tsx, tests) and `dist/` (built), so the same relative URL works in both layouts.
 */
import { readFileSync } from "node:fs";

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
      version?: unknown;
    };
    return typeof pkg.version === "string" ? pkg.version : "0.0.0-unknown";
  } catch {
    // A stripped deployment without package.json should still start; the version is cosmetic.
    return "0.0.0-unknown";
  }
}

export const VERSION: string = readVersion();
export const PRODUCT_NAME = "toxbridge";
