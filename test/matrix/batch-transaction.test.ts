/**
 * One appservice transaction = one database write: the homeserver double pushes 100 of the user's
 * messages in one transaction; the bridge persists them with one statement before it answers,
 * and they reach Tox in order. A crash between that commit and the answer (the homeserver never
 * hears 200) makes the homeserver send the same transaction again: it is deduplicated, and every
 * message reaches Tox exactly once.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/store/index.js";
import { waitUntil } from "../helpers/wait.js";
import { openTestStore } from "../store/backends.js";
import { type FrontendRig, friendWithPortal, startFrontendRig, userWithAccount } from "./frontend-harness.js";

let rig: FrontendRig | undefined;
let closeStore: (() => Promise<void>) | undefined;
afterEach(async () => {
  await rig?.stop();
  rig = undefined;
  await closeStore?.();
  closeStore = undefined;
});

const _names = { domain: "localhost", botLocalpart: "toxbot", userPrefix: "_tox_" };

/** Counts the statements that write outbox rows. */
function countOutboxInserts(db: Db) {
  let n = 0;
  const query = db.query;
  db.query = ((sql: string, params?: readonly unknown[]) => {
    if (/^\s*INSERT INTO outbox/i.test(sql)) n++;
    return query.call(db, sql, params);
  }) as Db["query"];
  return {
    count: () => n,
    reset() {
      n = 0;
    },
  };
}

/** A rig with alice, her Tox identity, an online friend and their DM portal. */
async function portalRig() {
  const opened = await openTestStore();
  closeStore = opened.close;
  const inserts = countOutboxInserts(opened.db);
  rig = await startFrontendRig({ store: opened });
  const r = rig;
  const { user: alice, account } = await userWithAccount(r, "alice");
  const { friend, room } = await friendWithPortal(r, alice, account);
  await r.hs.pushIdle();
  return { r, alice, room, account, friend, inserts };
}

describe("appservice transactions are persisted in one statement", () => {
  it("100 messages in one transaction: one outbox statement before the answer, all sent in order", async () => {
    const { r, alice, room, account, friend, inserts } = await portalRig();
    r.hs.pausePush();
    // Sent at once: the room's order is the homeserver's, and Tox must see that order.
    await Promise.all(Array.from({ length: 100 }, (_, i) => alice.sendMessage(room, `m${i}`)));
    const order = r.hs
      .messages(room)
      .map((m) => String(m.body))
      .filter((b) => /^m\d+$/.test(b));
    expect(order).toHaveLength(100);
    const before = r.hs.transactions.length;
    inserts.reset();
    r.hs.resumePush();
    await r.hs.pushIdle();
    const pushed = r.hs.transactions.slice(before);
    expect(pushed.map((t) => [t.status, t.events])).toEqual([[200, 100]]);
    expect(inserts.count()).toBe(1);
    await waitUntil(() => r.tox.sentTo(account.publicKey, friend).length === 100, 20_000, "100 sent");
    expect(r.tox.sentTo(account.publicKey, friend).map((m) => m.text)).toEqual(order);
  });

  it("a crash between the commit and the answer: the retried transaction is deduplicated", async () => {
    const { r, alice, room, account, friend } = await portalRig();
    const original = r.frontend.onTransaction.bind(r.frontend);
    let crashes = 1;
    r.frontend.onTransaction = async (txn) => {
      await original(txn);
      if (txn.events.length > 0 && crashes-- > 0) throw new Error("killed after the commit");
    };
    r.hs.pausePush();
    await Promise.all(Array.from({ length: 30 }, (_, i) => alice.sendMessage(room, `once ${i}`)));
    const order = r.hs
      .messages(room)
      .map((m) => String(m.body))
      .filter((b) => b.startsWith("once "));
    const before = r.hs.transactions.length;
    r.hs.resumePush();
    await r.hs.pushIdle();
    const pushed = r.hs.transactions.slice(before);
    // The same transaction twice: refused (500) after its commit, then accepted.
    expect(pushed.map((t) => t.status)).toEqual([500, 200]);
    expect(pushed[0]!.txnId).toBe(pushed[1]!.txnId);
    await waitUntil(() => r.tox.sentTo(account.publicKey, friend).length >= 30, 20_000, "30 sent");
    await r.core.idle();
    expect(r.tox.sentTo(account.publicKey, friend).map((m) => m.text)).toEqual(order);
    expect(order).toHaveLength(30);
    const depth = await r.store.outbox.depth();
    expect(depth.queued + depth.sending + depth.delivered + depth.sent).toBe(30);
  });
});
