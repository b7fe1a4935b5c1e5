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

/** Lets pending I/O callbacks run (a send loop that never yields would starve the receiver). */
export const yieldToLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A message of exactly `size` bytes (ASCII) that starts with `stamp|`, for latency measurement. */
export function stampedBody(stamp: string, size: number): string {
  const head = `${stamp}|`;
  return head + "x".repeat(Math.max(0, size - head.length));
}

/** The number a `stampedBody` message starts with. */
export const stampOf = (text: string): number => Number(text.slice(0, text.indexOf("|")));
