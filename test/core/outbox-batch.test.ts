/**
 * The outbox's batch paths over PGlite and the fake Tox gateway: `sendBatch` writes a whole batch
 * with one statement (one commit) and reports each message's own outcome; rows just written are
 * handed to Tox without reading them back while the friend's queue is known, and from the
 * database again whenever it is not; receipts that pile up are applied by one statement.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { BridgeCore } from "../../src/core/bridge-core.js";
import { CoreError } from "../../src/core/errors.js";
import type { SendRequest } from "../../src/core/frontend.js";
import type { Db } from "../../src/store/index.js";
import { alice, bob, makeCore, stranger, TestDb, withFriend } from "./helpers.js";

const t = new TestDb();
beforeAll(() => t.setup());
afterAll(() => t.teardown());

const cores: BridgeCore[] = [];
async function core(opts: Parameters<typeof makeCore>[1] = {}) {
  const c = await makeCore(t, opts);
  cores.push(c.core);
  return c;
}
beforeEach(async () => {
  for (const c of cores.splice(0)) await c.stop();
  await t.reset();
});

/** Records the statements the core runs (first words) until `stop()`. */
function recordStatements(db: Db) {
  const seen: string[] = [];
  const query = db.query;
  const transaction = db.transaction;
  let transactions = 0;
  db.query = ((sql: string, params?: readonly unknown[]) => {
    seen.push(sql.replace(/\s+/g, " ").trim());
    return query.call(db, sql, params);
  }) as Db["query"];
  db.transaction = ((fn: Parameters<Db["transaction"]>[0]) => {
    transactions++;
    return transaction.call(db, fn);
  }) as Db["transaction"];
  return {
    seen,
    transactions: () => transactions,
    stop() {
      db.query = query;
      db.transaction = transaction;
    },
  };
}

const request = (friend: string, text: string, sourceEventId?: string): SendRequest => ({
  owner: alice,
  friend,
  text,
  ...(sourceEventId === undefined ? {} : { sourceEventId }),
});

describe("outbox batches", () => {
  it("persists 100 messages with one statement and no explicit transaction, in order", async () => {
    const { core: c, tox } = await core();
    const { ref, friend } = await withFriend(c, tox);
    const rec = recordStatements(t.db);
    const outcomes = await c.sendBatch(
      Array.from({ length: 100 }, (_, i) => request(friend, `m${i}`, `$e${i}`)),
    );
    rec.stop();
    expect(outcomes.every((o) => o.ok && o.result.created && o.result.parts === 1)).toBe(true);
    expect(rec.seen.filter((s) => s.startsWith("INSERT INTO outbox"))).toHaveLength(1);
    expect(rec.seen).toHaveLength(1);
    expect(rec.transactions()).toBe(0);
    expect((await t.store.outbox.depth()).queued).toBe(100);
    tox.setOnline(ref.publicKey, friend, true);
    await c.idle();
    expect(tox.sentTo(ref.publicKey, friend).map((m) => m.text)).toEqual(
      Array.from({ length: 100 }, (_, i) => `m${i}`),
    );
  });

  it("gives each message its own outcome: not a friend, empty, no account; the rest is queued", async () => {
    const { core: c, tox } = await core();
    const { friend } = await withFriend(c, tox);
    const nobody = stranger().publicKey;
    const outcomes = await c.sendBatch([
      request(friend, "first", "$1"),
      request(nobody, "to a stranger", "$2"),
      request(friend, "", "$3"),
      { owner: bob, friend, text: "bob has no account", sourceEventId: "$4" },
      request("not hex", "bad key", "$5"),
      request(friend, "x".repeat(3000), "$6"),
      request(friend, "last", "$7"),
    ]);
    const codes = outcomes.map((o) => (o.ok ? "ok" : o.error.code));
    expect(codes).toEqual([
      "ok",
      "unknown-friend",
      "empty-message",
      "no-account",
      "unknown-friend",
      "ok",
      "ok",
    ]);
    for (const o of outcomes) if (!o.ok) expect(o.error).toBeInstanceOf(CoreError);
    expect(outcomes[5]).toEqual({ ok: true, result: { created: true, parts: 3 } });
    expect((await t.store.outbox.depth()).queued).toBe(5);
  });

  it("a redelivered batch (same event ids, also a duplicate inside it) queues and sends nothing twice", async () => {
    const { core: c, tox } = await core();
    const { ref, friend } = await withFriend(c, tox);
    tox.setOnline(ref.publicKey, friend, true);
    await c.idle();
    const batch = [
      request(friend, "a", "$a"),
      request(friend, "b", "$b"),
      request(friend, "a", "$a"),
      request(friend, "same text, no id"),
      request(friend, "same text, no id"),
    ];
    const first = await c.sendBatch(batch);
    expect(first.map((o) => o.ok && o.result.created)).toEqual([true, true, false, true, true]);
    await c.idle();
    const again = await c.sendBatch(batch.slice(0, 3));
    expect(again.map((o) => o.ok && o.result.created)).toEqual([false, false, false]);
    await c.idle();
    expect(tox.sentTo(ref.publicKey, friend).map((m) => m.text)).toEqual([
      "a",
      "b",
      "same text, no id",
      "same text, no id",
    ]);
  });

  it("hands a lone message to Tox without reading the queue back once the queue is known", async () => {
    const { core: c, tox } = await core();
    const { ref, friend } = await withFriend(c, tox);
    tox.setOnline(ref.publicKey, friend, true);
    await c.idle();
    await c.sendBatch([request(friend, "warm up", "$w")]);
    await c.idle();
    const rec = recordStatements(t.db);
    await c.sendBatch([request(friend, "lone", "$lone")]);
    await c.idle();
    rec.stop();
    expect(tox.sentTo(ref.publicKey, friend).map((m) => m.text)).toEqual(["warm up", "lone"]);
    // The insert and the hand-over record; no SELECT of the queue in between.
    expect(rec.seen.filter((s) => s.startsWith("SELECT * FROM outbox"))).toEqual([]);
    expect(rec.seen).toHaveLength(2);
  });

  it("reads the queue again after anything that can leave rows behind (offline, refusal), keeping order", async () => {
    const { core: c, tox, clock } = await core({ outbox: { retryDelayMs: () => 1000 } });
    const { ref, friend } = await withFriend(c, tox);
    tox.setOnline(ref.publicKey, friend, true);
    await c.idle();
    await c.sendBatch([request(friend, "1", "$1")]);
    await c.idle();
    // Tox refuses the next one: it waits for its retry, and later ones wait behind it.
    tox.refuseSends = new Error("refused");
    await c.sendBatch([request(friend, "2", "$2")]);
    await c.idle();
    tox.refuseSends = undefined;
    await c.sendBatch([request(friend, "3", "$3")]);
    await c.idle();
    expect(tox.sentTo(ref.publicKey, friend).map((m) => m.text)).toEqual(["1"]);
    clock.advance(1500);
    await c.tick();
    await c.idle();
    expect(tox.sentTo(ref.publicKey, friend).map((m) => m.text)).toEqual(["1", "2", "3"]);
    for (const m of tox.sentTo(ref.publicKey, friend)) tox.receipt(ref.publicKey, friend, m.id);
    await c.idle();
    // Offline: queued; back online: sent in order with what came meanwhile.
    tox.setOnline(ref.publicKey, friend, false);
    await c.idle();
    await c.sendBatch([request(friend, "4", "$4")]);
    await c.idle();
    tox.setOnline(ref.publicKey, friend, true);
    await c.sendBatch([request(friend, "5", "$5")]);
    await c.idle();
    expect(tox.sentTo(ref.publicKey, friend).map((m) => m.text)).toEqual(["1", "2", "3", "4", "5"]);
  });

  it("applies receipts that piled up with one statement and tells the frontend in arrival order", async () => {
    const { core: c, tox, frontend } = await core();
    const { ref, friend } = await withFriend(c, tox);
    tox.setOnline(ref.publicKey, friend, true);
    await c.idle();
    await c.sendBatch(Array.from({ length: 20 }, (_, i) => request(friend, `m${i}`, `$e${i}`)));
    await c.idle();
    const ids = tox.sentTo(ref.publicKey, friend).map((m) => m.id);
    expect(ids).toHaveLength(20);
    const rec = recordStatements(t.db);
    // All at once (the lane is busy with the first while the others arrive), one twice.
    for (const id of [...ids].reverse()) tox.receipt(ref.publicKey, friend, id);
    tox.receipt(ref.publicKey, friend, ids[0]!);
    await c.idle();
    rec.stop();
    expect(rec.seen.filter((s) => s.includes("state = 'delivered'")).length).toBeLessThanOrEqual(2);
    expect(frontend.receipts.map((r) => r.sourceEventId)).toEqual(
      Array.from({ length: 20 }, (_, i) => `$e${19 - i}`),
    );
    expect(c.metrics.messagesDelivered).toBe(20);
    expect((await t.store.outbox.depth()).delivered).toBe(20);
  });

  it("tells the frontend about a split message once, when its last part is receipted", async () => {
    const { core: c, tox, frontend } = await core();
    const { ref, friend } = await withFriend(c, tox);
    tox.setOnline(ref.publicKey, friend, true);
    await c.idle();
    await c.sendBatch([request(friend, "y".repeat(3000), "$long")]);
    await c.idle();
    const ids = tox.sentTo(ref.publicKey, friend).map((m) => m.id);
    expect(ids).toHaveLength(3);
    tox.receipt(ref.publicKey, friend, ids[0]!);
    await c.idle();
    expect(frontend.receipts).toEqual([]);
    tox.receipt(ref.publicKey, friend, ids[2]!);
    tox.receipt(ref.publicKey, friend, ids[1]!);
    await c.idle();
    expect(frontend.receipts).toEqual([{ friend, sourceEventId: "$long" }]);
  });
});
