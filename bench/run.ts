/**
 * `npm run bench [-- bench/a.ts bench/b.ts] [--options]`: runs the given bench files (default: every
 * bench/*.ts with a default export) one after another in this process, so expensive shared
 * measurements such as the c-toxcore baseline are taken once and compared in the same run.
 * Each bench file default-exports an async function that prints its own tables (a file named
 * on the command line without a default export is taken to have run at import time).
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { mib } from "./lib/resources.js";
import type { BenchMain } from "./lib/runner.js";
import { printTable } from "./lib/table.js";

const benchDir = dirname(fileURLToPath(import.meta.url));

/** Bench files follow the contract (default export); scratch scripts in bench/ are left alone. */
function defaultFiles(): string[] {
  return readdirSync(benchDir)
    .filter((f) => f.endsWith(".ts") && f !== "run.ts" && !f.endsWith(".d.ts"))
    .sort()
    .map((f) => join(benchDir, f))
    .filter((path) => /^export default /m.test(readFileSync(path, "utf8")));
}

async function main(): Promise<void> {
  // Arguments naming .ts files are the benches to run; the others stay in process.argv for the
  // benches to read (`npm run bench -- bench/ctox-idle.ts --n 20`).
  const args = process.argv.slice(2).filter((a) => a.endsWith(".ts"));
  const files = args.length ? args.map((a) => resolve(a)) : defaultFiles();
  const summary: Array<[string, number, string]> = [];
  let failed = 0;
  for (const file of files) {
    const name = relative(process.cwd(), file);
    console.log(`=== ${name} ===`);
    const t0 = performance.now();
    try {
      const mod = (await import(pathToFileURL(file).href)) as { default?: BenchMain };
      // A file without a default export did its work at import time (top-level await).
      if (typeof mod.default === "function") await mod.default();
      summary.push([name, (performance.now() - t0) / 1000, "ok"]);
    } catch (e) {
      failed++;
      console.error(`${name} failed:`, e);
      summary.push([name, (performance.now() - t0) / 1000, `FAILED: ${(e as Error).message ?? e}`]);
    }
  }
  const rss = process.memoryUsage().rss;
  printTable(
    ["bench", "seconds", "result"],
    summary,
    `=== summary (process RSS ${mib(rss).toFixed(0)} MiB) ===`,
  );
  process.exit(failed ? 1 : 0);
}

await main();
