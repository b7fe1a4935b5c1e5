/** Per-key serial execution: order within a key, concurrency across keys, coalescing, errors. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { CoreLogger } from "../../src/core/errors.js";
import { Lanes } from "../../src/core/lanes.js";

const tick = () => new Promise<void>((r) => setImmediate(r));

function logger() {
  const warnings: string[] = [];
  const log: CoreLogger = {
    debug() {},
    info() {},
    warn: (o) => void warnings.push(String(o.err)),
    error() {},
  };
  return { log, warnings };
}

describe("Lanes", () => {
  it("runs jobs of one key in order, whatever their durations, and keys independently", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ key: fc.constantFrom("a", "b", "c"), ticks: fc.integer({ min: 0, max: 3 }) }), {
          maxLength: 30,
        }),
        async (jobs) => {
          const lanes = new Lanes(logger().log, "test");
          const done: { key: string; i: number }[] = [];
          for (const [i, j] of jobs.entries()) {
            lanes.run(j.key, async () => {
              for (let k = 0; k < j.ticks; k++) await tick();
              done.push({ key: j.key, i });
            });
          }
          await lanes.idle();
          expect(done).toHaveLength(jobs.length);
          for (const key of ["a", "b", "c"]) {
            const order = done.filter((d) => d.key === key).map((d) => d.i);
            expect(order).toEqual([...order].sort((x, y) => x - y));
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it("a slow key does not hold up another", async () => {
    const lanes = new Lanes(logger().log, "test");
    let release = () => {};
    const done: string[] = [];
    void lanes.run("slow", () => new Promise<void>((r) => (release = r)).then(() => void done.push("slow")));
    await lanes.run("fast", async () => void done.push("fast"));
    expect(done).toEqual(["fast"]);
    release();
    await lanes.idle();
    expect(done).toEqual(["fast", "slow"]);
  });

  it("runOnce coalesces a job that is already waiting, but not one already running", async () => {
    const lanes = new Lanes(logger().log, "test");
    let runs = 0;
    let release = () => {};
    void lanes.run("k", () => new Promise<void>((r) => (release = r)));
    for (let i = 0; i < 5; i++) void lanes.runOnce("k", "pump", async () => void runs++);
    await tick(); // the blocking job has started
    release();
    await lanes.idle();
    expect(runs).toBe(1);
    // While one is running, a new one is queued (it may have work the running one missed).
    let inner = () => {};
    void lanes.runOnce("k", "pump", () => new Promise<void>((r) => (inner = r)).then(() => void runs++));
    await tick();
    void lanes.runOnce("k", "pump", async () => void runs++);
    inner();
    await lanes.idle();
    expect(runs).toBe(3);
  });

  it("a failing job is logged and does not stop the lane", async () => {
    const { log, warnings } = logger();
    const lanes = new Lanes(log, "test");
    const done: number[] = [];
    void lanes.run("k", async () => {
      throw new Error("boom");
    });
    void lanes.run("k", async () => void done.push(2));
    await lanes.idle();
    expect(done).toEqual([2]);
    expect(warnings).toEqual(["boom"]);
  });
});
