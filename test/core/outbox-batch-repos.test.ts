/**
 * The outbox's batch statements on both store backends (the SQL must behave the same on
 * PostgreSQL and PGlite): enqueueMany matches every input to its row or says why there is none,
 * in input order; deliverMany applies a pile of receipts once each, with the parts still pending.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type CoreRepos, coreRepos } from "../../src/core/bridge-core.js";
import type { Db, NewOutboxItem, Store } from "../../src/store/index.js";
import { newKeyPair } from "../../src/tox/crypto.js";
import { backends, StoreTracker } from "../store/backends.js";

describe.each(backends)("outbox batches on $name", (backend) => {
  const tracker = new StoreTracker();
  let store: Store;
  let db: Db;
  let repos: CoreRepos;
  beforeAll(async () => {
    await backend.setup();
    ({ store, db } = await tracker.openWithDb(await backend.fresh({ migrated: true })));
    repos = coreRepos(db);
  });
  beforeEach(() => db.exec("TRUNCATE accounts, processed_events, inbox RESTART IDENTITY CASCADE"));
  afterAll(async () => {
    await tracker.closeAll();
    await backend.teardown();
  });

  async function accountWithFriend(ownerId: string) {
    const account = await store.accounts.create({
      ownerKind: "matrix",
      ownerId,
      secretKey: newKeyPair().secretKey,
      nospam: 1,
    });
    const friend = newKeyPair().publicKey;
    await store.friends.create({ accountId: account.id, publicKey: friend, requestState: "accepted" });
    return { id: account.id, friend };
  }

  const row = (accountId: number, friendPk: Uint8Array, body: string, eventId?: string, part = 0) =>
    ({
      accountId,
      friendPk,
      body,
      part,
      ...(eventId === undefined ? {} : { sourceNetwork: "matrix" as const, sourceEventId: eventId }),
    }) satisfies NewOutboxItem;

  it("enqueueMany: friends only, input order, duplicates and redeliveries create nothing", async () => {
    const a = await accountWithFriend("@a:x");
    const b = await accountWithFriend("@b:x");
    const stranger = newKeyPair().publicKey;
    const out = await repos.outboxEvents.enqueueMany([
      row(a.id, a.friend, "a1", "$1"),
      row(b.id, b.friend, "b1", "$1"), // the same event id for another account is another row
      row(a.id, stranger, "nope", "$2"),
      row(a.id, a.friend, "a1 again", "$1"), // repeated in the batch
      row(a.id, a.friend, "plain"),
      row(a.id, a.friend, "plain"), // no source id: never a duplicate
      row(a.id, a.friend, "a2 part 1", "$3", 1),
      row(a.id, a.friend, "a2 part 0", "$3", 0),
    ]);
    expect(out.map((o) => (o.friend ? (o.item === null ? "dup" : o.item.body) : "not friend"))).toEqual([
      "a1",
      "b1",
      "not friend",
      "dup",
      "plain",
      "plain",
      "a2 part 1",
      "a2 part 0",
    ]);
    const ids = out.flatMap((o) => (o.friend && o.item !== null ? [o.item.id] : []));
    expect([...ids].sort((x, y) => x - y)).toEqual(ids); // ids follow the input order
    expect(out[1]).toMatchObject({ friend: true, item: { accountId: b.id, state: "queued", attempts: 0 } });
    // Redelivered: nothing new, every friend row still known as one.
    const again = await repos.outboxEvents.enqueueMany([
      row(a.id, a.friend, "a1", "$1"),
      row(a.id, stranger, "nope", "$2"),
    ]);
    expect(again).toEqual([{ friend: true, item: null }, { friend: false }]);
    // One row takes the single-row statement: the same answers.
    expect(await repos.outboxEvents.enqueueMany([row(a.id, a.friend, "a1", "$1")])).toEqual([
      { friend: true, item: null },
    ]);
    expect(await repos.outboxEvents.enqueueMany([row(a.id, stranger, "x", "$9")])).toEqual([
      { friend: false },
    ]);
    const [one] = await repos.outboxEvents.enqueueMany([row(a.id, a.friend, "alone", "$4")]);
    expect(one).toMatchObject({ friend: true, item: { body: "alone", sourceEventId: "$4" } });
    expect((await repos.outboxEvents.listQueued(a.id, a.friend, 100)).map((i) => i.body)).toEqual([
      "a1",
      "plain",
      "plain",
      "a2 part 1",
      "a2 part 0",
      "alone",
    ]);
  });

  it("deliverMany: each receipt once (repeats and unknown ids ignored), pending parts after the batch", async () => {
    const a = await accountWithFriend("@a:x");
    const out = await repos.outboxEvents.enqueueMany([
      row(a.id, a.friend, "p0", "$long", 0),
      row(a.id, a.friend, "p1", "$long", 1),
      row(a.id, a.friend, "p2", "$long", 2),
      row(a.id, a.friend, "short", "$short"),
    ]);
    const ids = out.map((o) => (o.friend && o.item ? o.item.id : -1));
    await repos.outboxEvents.markSendingMany(ids.map((id, i) => ({ id, toxMessageId: i + 1 })));
    const first = await repos.outboxEvents.deliverMany(a.id, a.friend, [4, 1, 1, 99]);
    expect(first.map((d) => [d.sourceEventId, d.toxMessageId, d.pendingParts])).toEqual([
      ["$long", 1, 2],
      ["$short", 4, 0],
    ]);
    const rest = await repos.outboxEvents.deliverMany(a.id, a.friend, [2, 3, 4]);
    expect(rest.map((d) => [d.toxMessageId, d.pendingParts])).toEqual([
      [2, 0],
      [3, 0],
    ]);
    expect((await store.outbox.depth(a.id)).delivered).toBe(4);
  });
});
