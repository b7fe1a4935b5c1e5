import { describe, expect, it } from "vitest";
import { waitUntil } from "./wait.js";

describe("waitUntil", () => {
  it("resolves at once when the condition already holds, with the elapsed time", async () => {
    const took = await waitUntil(() => true, 1000, "nothing");
    expect(took).toBeGreaterThanOrEqual(0);
    expect(took).toBeLessThan(100);
  });

  it("polls a sync condition until it holds", async () => {
    let calls = 0;
    await waitUntil(() => ++calls >= 3, 1000, "three calls", 1);
    expect(calls).toBe(3);
  });

  it("accepts an async condition", async () => {
    let n = 0;
    await waitUntil(async () => {
      await Promise.resolve();
      return ++n === 2;
    }, 1000);
    expect(n).toBe(2);
  });

  it("rejects after the timeout with an error naming what it waited for", async () => {
    await expect(waitUntil(() => false, 30, "the moon")).rejects.toThrow(
      "timed out after 30 ms waiting for the moon",
    );
  });

  it("checks once more after the last sleep: a condition met by then is not a timeout", async () => {
    const start = performance.now();
    // Becomes true at the deadline; the poll interval is far longer than the timeout.
    await waitUntil(() => performance.now() - start >= 20, 20, "the deadline", 1000);
  });

  it("a throwing condition fails the wait at once with its own error", async () => {
    await expect(
      waitUntil(() => {
        throw new Error("broken probe");
      }, 1000),
    ).rejects.toThrow("broken probe");
  });
});
