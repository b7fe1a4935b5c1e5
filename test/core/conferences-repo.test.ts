/**
 * The conference tables (migrations/004_conferences.sql) on both store backends: rows with their
 * restart records, waiting invites, the idempotent outbox and the inbound queue, and the cascade
 * from a conference (and an account) to all of them.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Db, Store } from "../../src/store/index.js";
import { type ConferencesRepo, createConferencesRepo } from "../../src/store/repos/conferences.js";
import { newKeyPair } from "../../src/tox/crypto.js";
import { backends, StoreTracker } from "../store/backends.js";

describe.each(backends)("conference repository on $name", (backend) => {
  const tracker = new StoreTracker();
  let store: Store;
  let db: Db;
  let repo: ConferencesRepo;
  beforeAll(async () => {
    await backend.setup();
    ({ store, db } = await tracker.openWithDb(await backend.fresh({ migrated: true })));
    repo = createConferencesRepo(db);
  });
  beforeEach(() => db.exec("TRUNCATE accounts RESTART IDENTITY CASCADE"));
  afterAll(async () => {
    await tracker.closeAll();
    await backend.teardown();
  });

  const account = (ownerId: string) =>
    store.accounts.create({ ownerKind: "matrix", ownerId, secretKey: newKeyPair().secretKey, nospam: 1 });
  const key = () => newKeyPair().publicKey;

  it("rows: upsert keeps joined once set, title and snapshot updates, accountsIn, delete", async () => {
    const a = await account("@a:x");
    const b = await account("@b:x");
    const conf = key();
    const row = await repo.upsert({ accountId: a.id, conferenceId: conf, type: "text" });
    expect(row).toMatchObject({ accountId: a.id, type: "text", title: "", joined: false, snapshot: null });
    expect(row.conferenceId.constructor).toBe(Uint8Array);
    await repo.upsert({ accountId: a.id, conferenceId: conf, type: "text", title: "T", joined: true });
    expect(await repo.upsert({ accountId: a.id, conferenceId: conf, type: "av" })).toMatchObject({
      type: "av",
      title: "T",
      joined: true,
    });
    const snapshot = { id: "ab", type: 0, messageNumber: 65537, peers: [{ publicKey: "cd", name: "" }] };
    expect(await repo.update(a.id, conf, { snapshot })).toMatchObject({ snapshot, title: "T" });
    expect(await repo.update(a.id, conf, { title: "U" })).toMatchObject({ snapshot, title: "U" });
    await repo.upsert({ accountId: b.id, conferenceId: conf, type: "text" });
    expect(await repo.accountsIn(conf)).toEqual([a.id, b.id]);
    expect((await repo.list(a.id)).map((r) => r.title)).toEqual(["U"]);
    expect(await repo.delete(a.id, conf)).toBe(true);
    expect(await repo.delete(a.id, conf)).toBe(false);
    expect(await repo.get(a.id, conf)).toBeNull();
  });

  it("outbox: idempotent on the source event, due order, retry, sent/failed, pruning; invites; inbound queue; cascades", async () => {
    const a = await account("@a:x");
    const conf = key();
    const friend = key();
    await repo.upsert({ accountId: a.id, conferenceId: conf, type: "text" });
    const item = {
      accountId: a.id,
      conferenceId: conf,
      kind: "normal" as const,
      sourceNetwork: "matrix" as const,
    };
    const first = await repo.enqueue({ ...item, body: "one", sourceEventId: "$1" });
    expect(first.created).toBe(true);
    expect((await repo.enqueue({ ...item, body: "one", sourceEventId: "$1" })).created).toBe(false);
    await repo.enqueue({ ...item, body: "two", sourceNetwork: null, sourceEventId: null });
    await repo.enqueue({ ...item, body: "three", sourceNetwork: null, sourceEventId: null });
    const now = new Date();
    expect((await repo.listDue(a.id, conf, now, 10)).map((i) => i.body)).toEqual(["one", "two", "three"]);
    expect(await repo.queuedConferences()).toEqual([{ accountId: a.id, conferenceId: conf }]);
    await repo.markRetry(first.item.id, "nobody there", new Date(now.getTime() + 60_000));
    const due = await repo.listDue(a.id, conf, now, 10);
    expect(due.map((i) => i.body)).toEqual(["two", "three"]);
    await repo.markSent(due[0]!.id);
    await repo.markFailed(due[1]!.id, "too old");
    expect(await repo.prune(new Date(Date.now() + 1000))).toBe(2);

    await repo.addInvite(a.id, conf, friend);
    await repo.addInvite(a.id, conf, friend);
    expect(await repo.invitesFor(a.id, friend)).toEqual([conf]);
    await repo.deleteInvite(a.id, conf, friend);
    expect(await repo.invitesFor(a.id, friend)).toEqual([]);

    const peer = key();
    const in1 = await repo.addInbound({ ...item, peerPk: peer, peerName: "Carol", body: "hi" });
    await repo.addInbound({ ...item, kind: "action", peerPk: peer, peerName: "Carol", body: "waves" });
    expect(in1).toMatchObject({ peerName: "Carol", body: "hi", attempts: 0, nextAttemptAt: null });
    await repo.retryInbound(in1.id, "down", new Date(now.getTime() + 5000));
    expect(await repo.inboundHead(a.id, conf)).toMatchObject({ id: in1.id, attempts: 1 });
    expect(await repo.inboundPending()).toEqual([{ accountId: a.id, conferenceId: conf }]);
    await repo.removeInbound(in1.id);
    expect((await repo.inboundHead(a.id, conf))?.kind).toBe("action");
    expect(await repo.inboundCount()).toBe(1);

    // Leaving a conference takes its queues and invites along; so does deleting the account.
    await repo.addInvite(a.id, conf, friend);
    await repo.delete(a.id, conf);
    expect(await repo.inboundCount()).toBe(0);
    expect(await repo.queuedConferences()).toEqual([]);
    expect(await repo.invitesFor(a.id, friend)).toEqual([]);
    await repo.upsert({ accountId: a.id, conferenceId: conf, type: "text" });
    await repo.enqueue({ ...item, body: "x", sourceEventId: "$2" });
    await store.accounts.delete(a.id);
    expect(await repo.queuedConferences()).toEqual([]);
  });
});
