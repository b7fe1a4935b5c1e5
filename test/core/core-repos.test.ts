/**
 * The core's own tables and queries (inbox, whole-event outbox questions) on both store backends,
 * since the SQL must behave the same on PostgreSQL and PGlite.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type CoreRepos, coreRepos } from "../../src/core/bridge-core.js";
import type { Db, Store } from "../../src/store/index.js";
import { newKeyPair } from "../../src/tox/crypto.js";
import { backends, StoreTracker } from "../store/backends.js";

describe.each(backends)("core repositories on $name", (backend) => {
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

  async function account(ownerId: string) {
    return store.accounts.create({
      ownerKind: "matrix",
      ownerId,
      secretKey: newKeyPair().secretKey,
      nospam: 1,
    });
  }

  it("inbox: add, head in order, retry bookkeeping, remove, pending pairs, count; cascades with the account", async () => {
    const a = await account("@a:x");
    const b = await account("@b:x");
    const f1 = newKeyPair().publicKey;
    const f2 = newKeyPair().publicKey;
    const first = await repos.inbox.add({ accountId: a.id, friendPk: f1, body: "one" });
    await repos.inbox.add({ accountId: a.id, friendPk: f1, kind: "action", body: "two" });
    await repos.inbox.add({ accountId: b.id, friendPk: f2, body: "other" });
    expect(first).toMatchObject({ accountId: a.id, friendPk: f1, kind: "normal", body: "one", attempts: 0 });
    expect(first.friendPk.constructor).toBe(Uint8Array);
    expect(first.receivedAt).toBeInstanceOf(Date);
    expect((await repos.inbox.head(a.id, f1))?.body).toBe("one");
    const retryAt = new Date(Date.now() + 5000);
    const retried = await repos.inbox.markRetry(first.id, "down", retryAt);
    expect(retried).toMatchObject({ attempts: 1, lastError: "down" });
    expect(retried?.nextAttemptAt?.getTime()).toBe(retryAt.getTime());
    expect((await repos.inbox.head(a.id, f1))?.id).toBe(first.id); // order kept while it waits
    expect(await repos.inbox.pending()).toEqual([
      { accountId: a.id, friendPk: f1 },
      { accountId: b.id, friendPk: f2 },
    ]);
    expect(await repos.inbox.count()).toBe(3);
    expect(await repos.inbox.count(a.id)).toBe(2);
    expect(await repos.inbox.remove(first.id)).toBe(true);
    expect(await repos.inbox.remove(first.id)).toBe(false);
    expect((await repos.inbox.head(a.id, f1))?.body).toBe("two");
    await store.accounts.delete(a.id);
    expect(await repos.inbox.count()).toBe(1);
  });

  it("outbox events: parts still pending per source event, and queued friends across accounts", async () => {
    const a = await account("@a:x");
    const f = newKeyPair().publicKey;
    await store.friends.create({ accountId: a.id, publicKey: f, requestState: "accepted" });
    const parts = [];
    for (const part of [0, 1])
      parts.push(
        (
          await store.outbox.enqueue({
            accountId: a.id,
            friendPk: f,
            body: `p${part}`,
            part,
            sourceNetwork: "matrix",
            sourceEventId: "$e",
          })
        ).item,
      );
    expect(await repos.outboxEvents.queuedFriends()).toEqual([{ accountId: a.id, friendPk: f }]);
    expect(await repos.outboxEvents.pendingParts(a.id, f, "matrix", "$e")).toBe(2);
    expect(await repos.outboxEvents.pendingParts(a.id, f, "xmpp", "$e")).toBe(0);
    expect(await repos.outboxEvents.markSendingMany([])).toBe(0);
    expect(await repos.outboxEvents.markSendingMany([{ id: parts[0]!.id, toxMessageId: 7 }])).toBe(1);
    expect(await store.outbox.get(parts[0]!.id)).toMatchObject({
      state: "sending",
      toxMessageId: 7,
      attempts: 1,
    });
    // Only queued rows change: a second hand-over of the same row is ignored.
    expect(await repos.outboxEvents.markSendingMany([{ id: parts[0]!.id, toxMessageId: 9 }])).toBe(0);
    await store.outbox.markDelivered(a.id, f, 7);
    expect(await repos.outboxEvents.pendingParts(a.id, f, "matrix", "$e")).toBe(1);
    expect(await repos.outboxEvents.markSendingMany([{ id: parts[1]!.id, toxMessageId: 4294967295 }])).toBe(
      1,
    );
    await store.outbox.markDelivered(a.id, f, 4294967295);
    expect(await repos.outboxEvents.pendingParts(a.id, f, "matrix", "$e")).toBe(0);
    await store.outbox.enqueue({
      accountId: a.id,
      friendPk: f,
      body: "x",
      part: 2,
      sourceNetwork: "matrix",
      sourceEventId: "$e",
    });
    await store.outbox.markSending(3, 8);
    expect(await repos.outboxEvents.queuedFriends()).toEqual([]);
    await store.outbox.markDelivered(a.id, f, 8);
    expect(await repos.outboxEvents.pendingParts(a.id, f, "matrix", "$e")).toBe(0);
  });

  it("deliver: marks the receipted part delivered and counts the parts still pending, once", async () => {
    const a = await account("@a:x");
    const f = newKeyPair().publicKey;
    await store.friends.create({ accountId: a.id, publicKey: f, requestState: "accepted" });
    const enqueue = async (part: number, sourceEventId: string | null) =>
      (
        await store.outbox.enqueue({
          accountId: a.id,
          friendPk: f,
          body: `p${part}`,
          part,
          ...(sourceEventId === null ? {} : { sourceNetwork: "xmpp" as const, sourceEventId }),
        })
      ).item;
    const [p0, p1, plain] = [await enqueue(0, "id-1"), await enqueue(1, "id-1"), await enqueue(0, null)];
    await repos.outboxEvents.markSendingMany([
      { id: p0.id, toxMessageId: 1 },
      { id: p1.id, toxMessageId: 2 },
      { id: plain.id, toxMessageId: 3 },
    ]);
    expect(await repos.outboxEvents.deliver(a.id, f, 2)).toEqual({
      id: p1.id,
      sourceNetwork: "xmpp",
      sourceEventId: "id-1",
      pendingParts: 1,
    });
    expect(await repos.outboxEvents.deliver(a.id, f, 2)).toBeNull(); // duplicate receipt
    expect(await repos.outboxEvents.deliver(a.id, f, 1)).toMatchObject({ id: p0.id, pendingParts: 0 });
    expect(await repos.outboxEvents.deliver(a.id, f, 3)).toEqual({
      id: plain.id,
      sourceNetwork: null,
      sourceEventId: null,
      pendingParts: 0,
    });
    expect(await repos.outboxEvents.deliver(a.id, newKeyPair().publicKey, 1)).toBeNull();
    // requeueMessages: only the named ids of this friend that are still sending.
    const [r1, r2] = [await enqueue(5, "id-2"), await enqueue(6, "id-2")];
    await repos.outboxEvents.markSendingMany([
      { id: r1.id, toxMessageId: 10 },
      { id: r2.id, toxMessageId: 11 },
    ]);
    expect(await repos.outboxEvents.requeueMessages(a.id, f, [])).toBe(0);
    expect(await repos.outboxEvents.requeueMessages(a.id, f, [11, 3, 99])).toBe(1);
    expect(await store.outbox.get(r2.id)).toMatchObject({ state: "queued", toxMessageId: null });
    expect(await store.outbox.get(r1.id)).toMatchObject({ state: "sending", toxMessageId: 10 });
    expect((await store.outbox.get(plain.id))?.state).toBe("delivered");
    expect((await store.outbox.depth(a.id)).delivered).toBe(3);
  });
});
