/**
 * The one poll-until helper for tests: polls a condition until it holds or a deadline passes.
 *
 * Replaces per-file copies (`waitUntil` in test/interop/ctoxcore.ts, re-exported there; local
 * `until`/`waitFor` functions in test/tox). Event-driven waits (`nextEvent`) are better where an
 * event exists; this is for state that can only be observed by looking at it.
 */

/** A condition to poll: sync or async. A predicate that throws (or rejects) fails the wait at once. */
export type WaitPredicate = () => boolean | Promise<boolean>;

/**
 * Resolves with the elapsed milliseconds once `pred` is true, checking every `everyMs` (the
 * first check is immediate). Rejects with "timed out after N ms waiting for <what>" once
 * `timeoutMs` has passed without the condition holding. The condition is always checked after
 * the last sleep, so an event loop that wakes late cannot turn a met condition into a timeout.
 */
export async function waitUntil(
  pred: WaitPredicate,
  timeoutMs: number,
  what = "condition",
  everyMs = 5,
): Promise<number> {
  const start = performance.now();
  const deadline = start + timeoutMs;
  for (;;) {
    if (await pred()) return performance.now() - start;
    const left = deadline - performance.now();
    if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, Math.min(everyMs, left)));
  }
}
