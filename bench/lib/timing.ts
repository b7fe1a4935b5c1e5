/** Wall-clock timing helpers for benchmarks (monotonic, sub-millisecond). */
import { performance } from "node:perf_hooks";

export const nowMs = (): number => performance.now();

/** Runs `fn` and returns its result with the elapsed wall time in ms. */
export async function timed<T>(fn: () => Promise<T> | T): Promise<{ result: T; ms: number }> {
  const t0 = performance.now();
  const result = await fn();
  return { result, ms: performance.now() - t0 };
}

/** Calls `fn` `iterations` times (after `warmup` untimed calls); returns per-call times in ms. */
export async function sampleCalls(
  fn: () => unknown,
  { iterations = 1000, warmup = 100 }: { iterations?: number; warmup?: number } = {},
): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const out: number[] = new Array(iterations);
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    await fn();
    out[i] = performance.now() - t0;
  }
  return out;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `pred` every `everyMs` until true; rejects after `timeoutMs` naming `what`. */
export async function until(
  pred: () => boolean,
  timeoutMs: number,
  what: string,
  everyMs = 2,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!pred()) {
    if (performance.now() > deadline)
      throw new Error(`bench: timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
