/**
 * The file_transfers repository (migrations/003_files.sql) on PGlite and PostgreSQL: insert with
 * source dedupe, lookups for resuming, state updates, retries, restart requeue, cascade delete.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Db, Store } from "../../src/store/index.js";
import { createFileTransfersRepo, type FileTransfersRepo } from "../../src/store/repos/files.js";
import { newKeyPair, randomBytes } from "../../src/tox/crypto.js";
import { backends, StoreTracker } from "./backends.js";

describe.each(backends)("file transfers repository on $name", (backend) => {
  const shared = new StoreTracker();
  let store: Store;
  let db: Db;
  let repo: FileTransfersRepo;
  let accountId: number;
  beforeAll(async () => {
    await backend.setup();
    ({ store, db } = await shared.openWithDb(await backend.fresh({ migrated: true })));
    repo = createFileTransfersRepo(db);
  });
  beforeEach(async () => {
    await db.exec("TRUNCATE accounts RESTART IDENTITY CASCADE;");
    const keys = newKeyPair();
    accountId = (
      await store.accounts.create({
        ownerKind: "matrix",
        ownerId: "@alice:example.org",
        secretKey: keys.secretKey,
        nospam: 1,
      })
    ).id;
  });
  afterAll(async () => {
    await shared.closeAll();
    await backend.teardown();
  });

  const friendPk = newKeyPair().publicKey;
  const now = new Date("2026-01-01T00:00:00Z");
  const base = () => ({
    accountId,
    friendPk,
    fileId: randomBytes(32),
    fileName: "a.png",
    size: 1234,
    path: "/spool/out/x",
  });

  it("adds, dedupes by source event, and finds by source", async () => {
    const a = await repo.add({
      ...base(),
      direction: "out",
      state: "queued",
      source: { network: "matrix", eventId: "$1" },
    });
    expect(a.created).toBe(true);
    expect(a.transfer).toMatchObject({ direction: "out", state: "queued", size: 1234, transferred: 0 });
    expect(a.transfer.mimeType).toBe("application/octet-stream");
    const again = await repo.add({
      ...base(),
      direction: "out",
      state: "queued",
      source: { network: "matrix", eventId: "$1" },
    });
    expect(again).toMatchObject({ created: false, transfer: { id: a.transfer.id } });
    expect((await repo.bySource(accountId, "matrix", "$1"))?.id).toBe(a.transfer.id);
    expect(await repo.bySource(accountId, "xmpp", "$1")).toBeNull();
    // Rows without a source never conflict.
    expect((await repo.add({ ...base(), direction: "out", state: "queued" })).created).toBe(true);
    expect((await repo.add({ ...base(), direction: "out", state: "queued" })).created).toBe(true);
  });

  it("finds a partial download by friend and file id, and moves it through its states", async () => {
    const b = base();
    const { transfer } = await repo.add({ ...b, direction: "in", state: "receiving", mimeType: "image/png" });
    expect((await repo.findReceiving(accountId, friendPk, b.fileId))?.id).toBe(transfer.id);
    expect(await repo.findReceiving(accountId, friendPk, randomBytes(32))).toBeNull();
    const updated = await repo.update(transfer.id, { state: "received", transferred: 1234 }, now);
    expect(updated).toMatchObject({ state: "received", transferred: 1234, mimeType: "image/png" });
    expect(updated?.updatedAt.getTime()).toBe(now.getTime());
    expect(await repo.findReceiving(accountId, friendPk, b.fileId)).toBeNull();
    const retry = await repo.markRetry(transfer.id, "frontend down", new Date(now.getTime() + 1000), now);
    expect(retry).toMatchObject({ attempts: 1, lastError: "frontend down" });
    expect(retry?.nextAttemptAt?.getTime()).toBe(now.getTime() + 1000);
    expect((await repo.inStates(["received"])).map((t) => t.id)).toEqual([transfer.id]);
    expect(await repo.remove(transfer.id)).toBe(true);
    expect(await repo.remove(transfer.id)).toBe(false);
  });

  it("requeues sends after a restart, lists a friend's in order, and cascades with the account", async () => {
    const one = await repo.add({ ...base(), direction: "out", state: "sending" });
    const two = await repo.add({ ...base(), direction: "out", state: "queued" });
    await repo.add({ ...base(), direction: "in", state: "receiving" });
    expect(await repo.requeueSending()).toBe(1);
    const queued = await repo.forFriend(accountId, friendPk, "out", ["queued"]);
    expect(queued.map((t) => t.id)).toEqual([one.transfer.id, two.transfer.id]);
    await expect(repo.add({ ...base(), size: -1, direction: "out", state: "queued" })).rejects.toThrow(
      /file_transfers_size_check/,
    );
    await store.accounts.delete(accountId);
    expect(await repo.inStates(["queued", "sending", "receiving", "received"])).toEqual([]);
  });
});
