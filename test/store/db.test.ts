/**
 * The adapter contract: both backends return the same JS values for the same SQL, so repositories
 * (and their tests) are written once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../../src/store/index.js";
import { backends, StoreTracker } from "./backends.js";

const PROBE = `SELECT
  1::int4 AS int4, 4294967295::int8 AS int8, NULL::int8 AS null_int8, 9007199254740993::int8 AS huge,
  '\\x00ff10'::bytea AS bytea, ''::bytea AS empty_bytea, $1::bytea AS param_bytea,
  '2026-01-02 03:04:05.678+00'::timestamptz AS ts, $2::timestamptz AS param_ts,
  '{"a": [1, "x", null]}'::jsonb AS jsonb, true AS bool, 'héllo ✓'::text AS text`;

const PARAMS = [new Uint8Array([1, 2, 3]), new Date("2030-05-06T07:08:09.123Z")];

const results = new Map<string, Record<string, unknown>>();

describe.each(backends)("db adapter on $name", (backend) => {
  const stores = new StoreTracker();
  let db: Db;
  beforeAll(async () => {
    await backend.setup();
    ({ db } = await stores.openWithDb(await backend.fresh()));
  });
  afterAll(async () => {
    await stores.closeAll();
    await backend.teardown();
  });

  it("normalises int8, bytea, timestamptz and json", async () => {
    const { rows } = await db.query(PROBE, PARAMS);
    const row = rows[0]!;
    results.set(backend.name, row);
    expect(row).toEqual({
      int4: 1,
      int8: 4294967295,
      null_int8: null,
      huge: 9007199254740993n, // beyond 2^53: bigint rather than a silently rounded number
      bytea: new Uint8Array([0, 255, 16]),
      empty_bytea: new Uint8Array(0),
      param_bytea: new Uint8Array([1, 2, 3]),
      ts: new Date("2026-01-02T03:04:05.678Z"),
      param_ts: new Date("2030-05-06T07:08:09.123Z"),
      jsonb: { a: [1, "x", null] },
      bool: true,
      text: "héllo ✓",
    });
    // a plain Uint8Array, not a Node Buffer, on both backends
    expect(Object.getPrototypeOf(row.bytea)).toBe(Uint8Array.prototype);
    expect(Object.getPrototypeOf(row.param_bytea)).toBe(Uint8Array.prototype);
  });

  it("counts affected rows and commits or rolls back transactions", async () => {
    await db.exec("CREATE TABLE t (a int PRIMARY KEY); CREATE TABLE u (b int)");
    expect((await db.query("INSERT INTO t VALUES (1), (2), (3)")).rowCount).toBe(3);
    expect((await db.query("SELECT * FROM t WHERE a > 1")).rowCount).toBe(2);
    expect((await db.query("DELETE FROM t WHERE a = 3")).rowCount).toBe(1);
    await db.transaction(async (tx) => {
      await tx.query("INSERT INTO t VALUES (10)");
    });
    await expect(
      db.transaction(async (tx) => {
        await tx.query("INSERT INTO t VALUES (11)");
        await tx.query("INSERT INTO t VALUES (1)"); // duplicate key
      }),
    ).rejects.toMatchObject({ code: "23505" });
    await expect(
      db.transaction(async (tx) => {
        await tx.query("INSERT INTO t VALUES (12)");
        throw new Error("application error");
      }),
    ).rejects.toThrow("application error");
    const { rows } = await db.query<{ a: number }>("SELECT a FROM t ORDER BY a");
    expect(rows.map((r) => r.a)).toEqual([1, 2, 10]);
    // the connection is still usable after the failed transactions
    expect((await db.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
  });
});

describe("both backends", () => {
  it("returned identical values for the probe", () => {
    expect(results.size).toBe(2);
    expect(results.get("pglite")).toEqual(results.get("postgres"));
  });
});
