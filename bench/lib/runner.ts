/**
 * The contract between bench files and bench/run.ts: a bench file default-exports an async
 * function that measures and prints its own tables. `runIfMain` lets a bench file also run alone
 * (`npx tsx bench/x.ts`).
 */
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";

export type BenchMain = () => Promise<void>;

/** True when the module at `importMetaUrl` is the script node was started with. */
export function isMain(importMetaUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(importMetaUrl));
  } catch {
    return false;
  }
}

/** Runs `main` when the bench file is executed directly; exits non-zero on failure. */
export function runIfMain(importMetaUrl: string, main: BenchMain): void {
  if (!isMain(importMetaUrl)) return;
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}

/** Memoises an expensive measurement so several benchmarks in one run share it (e.g. a baseline). */
export function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => {
    p ??= fn();
    return p;
  };
}
