import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LazyMap, LazySet } from "../../src/tox/lazy-collections.js";

type Op = { kind: "set" | "delete" | "clear"; key: number; value: number };

const ops = fc.array(
  fc.record({
    kind: fc.constantFrom<Op["kind"]>("set", "set", "delete", "clear"),
    key: fc.integer({ min: 0, max: 8 }),
    value: fc.integer(),
  }),
  { maxLength: 60 },
);

describe("LazyMap", () => {
  it("behaves like Map for any sequence of operations (order, size, lookups, iteration)", () => {
    fc.assert(
      fc.property(ops, (seq) => {
        const lazy = new LazyMap<number, number>();
        const real = new Map<number, number>();
        for (const op of seq) {
          if (op.kind === "set") expect(lazy.set(op.key, op.value)).toBe(lazy);
          if (op.kind === "set") real.set(op.key, op.value);
          if (op.kind === "delete") expect(lazy.delete(op.key)).toBe(real.delete(op.key));
          if (op.kind === "clear") {
            lazy.clear();
            real.clear();
          }
          expect(lazy.size).toBe(real.size);
          expect(lazy.has(op.key)).toBe(real.has(op.key));
          expect(lazy.get(op.key)).toBe(real.get(op.key));
        }
        expect([...lazy]).toEqual([...real]);
        expect([...lazy.keys()]).toEqual([...real.keys()]);
        expect([...lazy.values()]).toEqual([...real.values()]);
        const seen: [number, number][] = [];
        lazy.forEach((v, k, m) => {
          expect(m).toBe(lazy);
          seen.push([k, v]);
        });
        expect(seen).toEqual([...real.entries()]);
      }),
    );
  });

  it("is empty and allocates nothing until the first set; deletion while iterating works", () => {
    const m = new LazyMap<string, number>();
    expect(m.size).toBe(0);
    expect(m.get("a")).toBeUndefined();
    expect(m.delete("a")).toBe(false);
    expect([...m]).toEqual([]);
    m.set("a", 1).set("b", 2).set("c", 3);
    for (const [k] of m) if (k !== "c") m.delete(k);
    expect([...m.keys()]).toEqual(["c"]);
    expect(new Map(m)).toEqual(new Map([["c", 3]]));
  });
});

describe("LazySet", () => {
  it("behaves like Set for any sequence of operations", () => {
    fc.assert(
      fc.property(ops, (seq) => {
        const lazy = new LazySet<number>();
        const real = new Set<number>();
        for (const op of seq) {
          if (op.kind === "set") expect(lazy.add(op.key)).toBe(lazy);
          if (op.kind === "set") real.add(op.key);
          if (op.kind === "delete") expect(lazy.delete(op.key)).toBe(real.delete(op.key));
          if (op.kind === "clear") {
            lazy.clear();
            real.clear();
          }
          expect(lazy.size).toBe(real.size);
          expect(lazy.has(op.key)).toBe(real.has(op.key));
        }
        expect([...lazy]).toEqual([...real]);
        expect([...lazy.entries()]).toEqual([...real.entries()]);
        const seen: number[] = [];
        lazy.forEach((v, v2, s) => {
          expect(v2).toBe(v);
          expect(s).toBe(lazy);
          seen.push(v);
        });
        expect(seen).toEqual([...real]);
      }),
    );
  });

  it("LazyMap.releaseIfEmpty drops an empty table and keeps a non-empty map whole", () => {
    const m = new LazyMap<string, number>();
    m.set("a", 1);
    m.releaseIfEmpty();
    expect([...m]).toEqual([["a", 1]]);
    m.delete("a");
    m.releaseIfEmpty();
    expect(m.size).toBe(0);
    expect((m as unknown as { inner: unknown }).inner).toBeUndefined();
    m.set("b", 2);
    expect(m.get("b")).toBe(2);
  });
});
