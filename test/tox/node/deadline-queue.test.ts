import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DeadlineQueue } from "../../../src/tox/node/deadline-queue.js";

describe("DeadlineQueue", () => {
  it("pops due items once, honours reschedules and removals", () => {
    const q = new DeadlineQueue<string>();
    q.schedule("a", 10);
    q.schedule("b", 5);
    q.schedule("c", 20);
    q.schedule("a", 30); // later: the 10 entry is stale
    q.remove("c");
    expect(q.peekTime()).toBe(5);
    expect(q.popDue(25)).toEqual(["b"]);
    expect(q.popDue(25)).toEqual([]);
    expect(q.peekTime()).toBe(30);
    expect(q.popDue(30)).toEqual(["a"]);
    expect(q.peekTime()).toBe(Number.POSITIVE_INFINITY);
  });

  it("property: matches a naive model", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant("s" as const), item: fc.nat(9), at: fc.nat(1000) }),
            fc.record({ op: fc.constant("p" as const), now: fc.nat(1000) }),
            fc.record({ op: fc.constant("r" as const), item: fc.nat(9) }),
            fc.record({ op: fc.constant("n" as const), item: fc.nat(9), at: fc.nat(1000) }),
          ),
          { maxLength: 200 },
        ),
        (ops) => {
          const q = new DeadlineQueue<number>();
          const model = new Map<number, number>();
          for (const o of ops) {
            if (o.op === "s") {
              q.schedule(o.item, o.at);
              model.set(o.item, o.at);
            } else if (o.op === "n") {
              q.scheduleNoLater(o.item, o.at);
              model.set(o.item, Math.min(model.get(o.item) ?? Number.POSITIVE_INFINITY, o.at));
            } else if (o.op === "r") {
              q.remove(o.item);
              model.delete(o.item);
            } else {
              const want = [...model].filter(([, at]) => at <= o.now).map(([i]) => i);
              for (const i of want) model.delete(i);
              expect(q.popDue(o.now).sort()).toEqual(want.sort());
            }
            const min = Math.min(...model.values());
            expect(q.peekTime()).toBe(min);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("scheduleNoLater keeps an earlier deadline and moves a later one forward", () => {
    const q = new DeadlineQueue<string>();
    q.schedule("a", 10);
    // A stream of inputs each asking for now + 1 must not postpone what is due at 10.
    for (let now = 9; now < 20; now++) q.scheduleNoLater("a", now + 1);
    expect(q.popDue(10)).toEqual(["a"]);
    q.schedule("b", 100);
    q.scheduleNoLater("b", 5);
    expect(q.peekTime()).toBe(5);
    q.scheduleNoLater("c", 7); // unscheduled items are scheduled
    expect(q.popDue(7)).toEqual(["b", "c"]);
  });
});
