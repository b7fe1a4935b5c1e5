import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  type Account,
  type Db,
  type Store,
  StoreConstraintError,
  StoreError,
  StoreKeyError,
} from "../../src/store/index.js";
import { newKeyPair, randomBytes } from "../../src/tox/crypto.js";
import { backends, StoreTracker } from "./backends.js";

const pk = () => newKeyPair().publicKey;

describe.each(backends)("repositories on $name", (backend) => {
  // One store per backend, emptied before each test (opening PGlite costs ~0.5 s; TRUNCATE ~10 ms).
  const shared = new StoreTracker();
  const stores = new StoreTracker(); // extra stores a test opens itself
  let store: Store;
  let db: Db;
  beforeAll(async () => {
    await backend.setup();
    ({ store, db } = await shared.openWithDb(await backend.fresh({ migrated: true })));
  });
  beforeEach(async () => {
    await db.exec(
      `TRUNCATE accounts, processed_events RESTART IDENTITY CASCADE;
       DELETE FROM bridge_state WHERE key <> 'store.encryption_key_check';`,
    );
  });
  afterEach(() => stores.closeAll());
  afterAll(async () => {
    await shared.closeAll();
    await backend.teardown();
  });

  const rawRow = async (id: number) => {
    const { rows } = await db.query(
      "SELECT secret_key_nonce, secret_key_sealed FROM accounts WHERE id = $1",
      [id],
    );
    return rows[0] as { secret_key_nonce: Uint8Array; secret_key_sealed: Uint8Array };
  };

  const newAccount = (ownerId = "@alice:example.org", ownerKind: "matrix" | "xmpp" = "matrix") => {
    const keys = newKeyPair();
    return {
      keys,
      create: () =>
        store.accounts.create({ ownerKind, ownerId, secretKey: keys.secretKey, nospam: 0xdeadbeef }),
    };
  };

  describe("accounts", () => {
    it("creates, reads back by id/owner/public key, lists and deletes", async () => {
      const { keys, create } = newAccount();
      const account = await create();
      expect(account).toMatchObject({
        ownerKind: "matrix",
        ownerId: "@alice:example.org",
        publicKey: keys.publicKey,
        nospam: 0xdeadbeef,
        name: "",
        statusMessage: "",
      });
      expect(typeof account.id).toBe("number");
      expect(account.publicKey.constructor).toBe(Uint8Array);
      expect(account.createdAt).toBeInstanceOf(Date);
      expect(await store.accounts.get(account.id)).toEqual(account);
      expect(await store.accounts.getByOwner("matrix", "@alice:example.org")).toEqual(account);
      expect(await store.accounts.getByOwner("xmpp", "@alice:example.org")).toBeNull();
      expect(await store.accounts.getByPublicKey(keys.publicKey)).toEqual(account);
      const bob = await newAccount("bob@example.org", "xmpp").create();
      expect((await store.accounts.list()).map((a) => a.id)).toEqual([account.id, bob.id]);
      expect(await store.accounts.delete(account.id)).toBe(true);
      expect(await store.accounts.delete(account.id)).toBe(false);
      expect(await store.accounts.get(account.id)).toBeNull();
    });

    it("updates the profile fields given and leaves the others", async () => {
      const account = await newAccount().create();
      const renamed = await store.accounts.updateProfile(account.id, { name: "Alice", statusMessage: "hi" });
      expect(renamed).toMatchObject({ name: "Alice", statusMessage: "hi", nospam: 0xdeadbeef });
      expect(renamed!.updatedAt.getTime()).toBeGreaterThanOrEqual(account.updatedAt.getTime());
      const nospam = await store.accounts.updateProfile(account.id, { nospam: 0 });
      expect(nospam).toMatchObject({ name: "Alice", statusMessage: "hi", nospam: 0 });
      expect(await store.accounts.updateProfile(account.id, {})).toEqual(nospam);
      expect(await store.accounts.updateProfile(account.id + 1000, { name: "x" })).toBeNull();
    });

    it("returns the secret key, and stores it only sealed", async () => {
      const { keys, create } = newAccount();
      const account = await create();
      expect(await store.accounts.getSecretKey(account.id)).toEqual(keys.secretKey);
      // Raw column check through SQL: the key bytes appear nowhere in the row.
      const raw = await rawRow(account.id);
      expect(raw.secret_key_sealed).toHaveLength(48);
      expect(containsBytes(raw.secret_key_sealed, keys.secretKey)).toBe(false);
      expect(containsBytes(raw.secret_key_nonce, keys.secretKey)).toBe(false);
      // Two accounts with the same key material would still get different nonces/ciphertexts.
      const other = await newAccount("@bob:example.org").create();
      const rawOther = await rawRow(other.id);
      expect(rawOther.secret_key_nonce).not.toEqual(raw.secret_key_nonce);
    });

    it("refuses to decrypt with a wrong store key, with a clear error", async () => {
      const opts = await backend.fresh({ migrated: true });
      const right = await stores.open_(opts);
      const keys = newKeyPair();
      const account = await right.accounts.create({
        ownerKind: "matrix",
        ownerId: "@alice:example.org",
        secretKey: keys.secretKey,
        nospam: 1,
      });
      await stores.closeAll(); // PGlite: one store per data directory
      const wrong = await stores.open_({ ...opts, encryptionKey: "not the key" });
      const err = await wrong.accounts.getSecretKey(account.id).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreKeyError);
      expect((err as Error).message).toMatch(
        /cannot decrypt the Tox secret key of account \d+ \(matrix:@alice:example\.org\): .*encryption key/,
      );
    });

    it("refuses a sealed key moved to another account's row", async () => {
      const alice = await newAccount().create();
      const bob = await newAccount("@bob:example.org").create();
      // An attacker with database access copies Alice's sealed key into Bob's row.
      await db.query(
        `UPDATE accounts SET (secret_key_nonce, secret_key_sealed) =
           (SELECT secret_key_nonce, secret_key_sealed FROM accounts WHERE id = $1) WHERE id = $2`,
        [alice.id, bob.id],
      );
      await expect(store.accounts.getSecretKey(bob.id)).rejects.toThrow(/does not match its public key/);
      await expect(store.accounts.getSecretKey(9999)).rejects.toThrow(/no account with id 9999/);
    });

    it("rejects a second account for the same owner, naming the constraint and owner", async () => {
      await newAccount().create();
      const err = await newAccount()
        .create()
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreConstraintError);
      const c = err as StoreConstraintError;
      expect(c.kind).toBe("unique");
      expect(c.constraint).toBe("accounts_owner_unique");
      expect(c.message).toMatch(
        /^accounts\.create: unique constraint accounts_owner_unique violated on accounts/,
      );
      expect(c.context).toMatchObject({ op: "accounts.create", owner: "matrix:@alice:example.org" });
    });

    it("rejects bad input with typed errors", async () => {
      await expect(
        store.accounts.create({
          ownerKind: "matrix",
          ownerId: "@x:y",
          secretKey: new Uint8Array(31),
          nospam: 1,
        }),
      ).rejects.toThrow(StoreError);
      const err = await store.accounts
        .create({ ownerKind: "matrix", ownerId: "@x:y", secretKey: randomBytes(32), nospam: 2 ** 32 })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ kind: "check", constraint: "accounts_nospam_check" });
      const kind = await store.accounts
        .create({ ownerKind: "irc" as "matrix", ownerId: "x", secretKey: randomBytes(32), nospam: 1 })
        .catch((e: unknown) => e);
      expect(kind).toMatchObject({ kind: "check", constraint: "accounts_owner_kind_check" });
    });
  });

  describe("friends", () => {
    let account: Account;
    beforeEach(async () => {
      account = await newAccount().create();
    });

    it("creates, gets, lists by state, updates and deletes", async () => {
      const a = pk();
      const b = pk();
      const address = randomBytes(38);
      const created = await store.friends.create({
        accountId: account.id,
        publicKey: a,
        address,
        requestState: "pending_out",
        requestMessage: "hello, it's me",
      });
      expect(created).toMatchObject({
        accountId: account.id,
        publicKey: a,
        address,
        requestState: "pending_out",
        requestMessage: "hello, it's me",
        name: "",
        statusMessage: "",
        lastSeenAt: null,
      });
      await store.friends.create({
        accountId: account.id,
        publicKey: b,
        requestState: "accepted",
        name: "Bob",
      });
      expect(await store.friends.get(account.id, a)).toEqual(created);
      expect((await store.friends.list(account.id)).map((f) => f.publicKey)).toEqual([a, b]);
      expect((await store.friends.list(account.id, { requestState: "accepted" })).map((f) => f.name)).toEqual(
        ["Bob"],
      );
      const seen = new Date("2026-01-02T03:04:05.678Z");
      const updated = await store.friends.update(account.id, a, {
        requestState: "accepted",
        name: "Anna",
        statusMessage: "busy",
        lastSeenAt: seen,
        address: null,
      });
      expect(updated).toMatchObject({
        requestState: "accepted",
        name: "Anna",
        lastSeenAt: seen,
        address: null,
      });
      expect(await store.friends.update(account.id, pk(), { name: "nobody" })).toBeNull();
      expect(await store.friends.delete(account.id, a)).toBe(true);
      expect(await store.friends.get(account.id, a)).toBeNull();
      expect(await store.friends.delete(account.id, a)).toBe(false);
    });

    it("upserts without downgrading an accepted friend or wiping fields not given", async () => {
      const a = pk();
      await store.friends.upsert({
        accountId: account.id,
        publicKey: a,
        requestState: "accepted",
        name: "Ann",
      });
      const again = await store.friends.upsert({
        accountId: account.id,
        publicKey: a,
        requestState: "pending_in",
        requestMessage: "add me again",
      });
      expect(again).toMatchObject({ requestState: "accepted", name: "Ann", requestMessage: "add me again" });
      const b = pk();
      await store.friends.upsert({ accountId: account.id, publicKey: b, requestState: "pending_in" });
      expect(
        await store.friends.upsert({ accountId: account.id, publicKey: b, requestState: "accepted" }),
      ).toMatchObject({ requestState: "accepted" });
    });

    it("reports duplicates and unknown accounts with context", async () => {
      const a = pk();
      await store.friends.create({ accountId: account.id, publicKey: a, requestState: "accepted" });
      const dup = await store.friends
        .create({ accountId: account.id, publicKey: a, requestState: "accepted" })
        .catch((e: unknown) => e);
      expect(dup).toMatchObject({ kind: "unique", constraint: "friends_pkey" });
      expect((dup as StoreConstraintError).context).toMatchObject({
        op: "friends.create",
        accountId: account.id,
      });
      const orphan = await store.friends
        .create({ accountId: account.id + 99, publicKey: a, requestState: "accepted" })
        .catch((e: unknown) => e);
      expect(orphan).toMatchObject({ kind: "foreign_key", constraint: "friends_account_fkey" });
      const badKey = await store.friends
        .create({ accountId: account.id, publicKey: randomBytes(31), requestState: "accepted" })
        .catch((e: unknown) => e);
      expect(badKey).toMatchObject({ kind: "check", constraint: "friends_public_key_check" });
    });

    it("are deleted with their account", async () => {
      await store.friends.create({ accountId: account.id, publicKey: pk(), requestState: "accepted" });
      await store.accounts.delete(account.id);
      expect(await store.friends.list(account.id)).toEqual([]);
    });
  });

  describe("portals", () => {
    it("maps rooms and JIDs to friends and conferences, unique both ways", async () => {
      const account = await newAccount().create();
      const friend = pk();
      const conference = randomBytes(32);
      const room = await store.portals.create({
        accountId: account.id,
        kind: "friend",
        targetKey: friend,
        network: "matrix",
        remoteId: "!room:example.org",
      });
      expect(room).toMatchObject({
        accountId: account.id,
        kind: "friend",
        targetKey: friend,
        network: "matrix",
      });
      const muc = await store.portals.create({
        accountId: account.id,
        kind: "conference",
        targetKey: conference,
        network: "xmpp",
        remoteId: "conf-1@tox.example.org",
      });
      // the same friend may also have an XMPP portal
      const jid = await store.portals.create({
        accountId: account.id,
        kind: "friend",
        targetKey: friend,
        network: "xmpp",
        remoteId: "friend@tox.example.org",
      });
      expect(await store.portals.get(room.id)).toEqual(room);
      expect(await store.portals.getByRemote("matrix", "!room:example.org")).toEqual(room);
      expect(await store.portals.getByRemote("xmpp", "!room:example.org")).toBeNull();
      expect(await store.portals.getByTarget(account.id, "conference", conference, "xmpp")).toEqual(muc);
      expect(await store.portals.getByTarget(account.id, "friend", conference, "xmpp")).toBeNull();
      expect((await store.portals.listForAccount(account.id)).map((p) => p.id)).toEqual([
        room.id,
        muc.id,
        jid.id,
      ]);
      expect((await store.portals.listForAccount(account.id, "xmpp")).map((p) => p.id)).toEqual([
        muc.id,
        jid.id,
      ]);

      const sameRoom = await store.portals
        .create({
          accountId: account.id,
          kind: "friend",
          targetKey: pk(),
          network: "matrix",
          remoteId: "!room:example.org",
        })
        .catch((e: unknown) => e);
      expect(sameRoom).toMatchObject({ kind: "unique", constraint: "portals_remote_unique" });
      expect((sameRoom as StoreError).context).toMatchObject({ remote: "matrix:!room:example.org" });
      const secondRoom = await store.portals
        .create({
          accountId: account.id,
          kind: "friend",
          targetKey: friend,
          network: "matrix",
          remoteId: "!other:x",
        })
        .catch((e: unknown) => e);
      expect(secondRoom).toMatchObject({ kind: "unique", constraint: "portals_target_unique" });

      expect(await store.portals.delete(room.id)).toBe(true);
      expect(await store.portals.delete(room.id)).toBe(false);
      await store.accounts.delete(account.id);
      expect(await store.portals.listForAccount(account.id)).toEqual([]);
    });
  });

  describe("outbox", () => {
    let account: Account;
    let friend: Uint8Array;
    beforeEach(async () => {
      account = await newAccount().create();
      friend = pk();
      await store.friends.create({ accountId: account.id, publicKey: friend, requestState: "accepted" });
    });
    const now = new Date("2026-06-01T12:00:00Z");
    const later = (s: number) => new Date(now.getTime() + s * 1000);
    const enqueue = (body: string, extra: Partial<Parameters<Store["outbox"]["enqueue"]>[0]> = {}) =>
      store.outbox.enqueue({ accountId: account.id, friendPk: friend, body, ...extra });

    it("enqueues idempotently on the source event id", async () => {
      const first = await enqueue("hi", { sourceNetwork: "matrix", sourceEventId: "$ev1" });
      expect(first.created).toBe(true);
      expect(first.item).toMatchObject({
        kind: "normal",
        body: "hi",
        state: "queued",
        attempts: 0,
        toxMessageId: null,
        nextAttemptAt: null,
        part: 0,
        sourceNetwork: "matrix",
        sourceEventId: "$ev1",
      });
      const again = await enqueue("hi (edited?)", { sourceNetwork: "matrix", sourceEventId: "$ev1" });
      expect(again).toEqual({ item: first.item, created: false });
      // a second part of the same event, the same id from another network, and no id at all are new
      expect(
        (await enqueue("part 2", { sourceNetwork: "matrix", sourceEventId: "$ev1", part: 1 })).created,
      ).toBe(true);
      expect((await enqueue("x", { sourceNetwork: "xmpp", sourceEventId: "$ev1" })).created).toBe(true);
      expect((await enqueue("no id")).created).toBe(true);
      expect((await enqueue("no id")).created).toBe(true);
      await expect(enqueue("half", { sourceEventId: "$ev2" })).rejects.toThrow(/given together/);
    });

    it("enqueues concurrently duplicated events once", async () => {
      const results = await Promise.all(
        Array.from({ length: 5 }, () => enqueue("dup", { sourceNetwork: "xmpp", sourceEventId: "stanza-1" })),
      );
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(results.map((r) => r.item.id)).size).toBe(1);
    });

    it("goes through queued -> sending -> delivered by Tox message id", async () => {
      const { item: a } = await enqueue("one");
      const { item: b } = await enqueue("two", { kind: "action" });
      expect(await store.outbox.nextDue(account.id, friend, now)).toMatchObject({ id: a.id });
      const sending = await store.outbox.markSending(a.id, 7);
      expect(sending).toMatchObject({ state: "sending", toxMessageId: 7, attempts: 1 });
      expect(await store.outbox.markSending(a.id, 8)).toBeNull(); // not queued any more
      expect(await store.outbox.nextDue(account.id, friend, now)).toMatchObject({ id: b.id, kind: "action" });
      await store.outbox.markSending(b.id, 0xffffffff);
      expect(await store.outbox.nextDue(account.id, friend, now)).toBeNull();

      expect(await store.outbox.markDelivered(account.id, friend, 0xffffffff)).toMatchObject({
        id: b.id,
        state: "delivered",
      });
      expect(await store.outbox.markDelivered(account.id, friend, 0xffffffff)).toBeNull(); // duplicate receipt
      expect(await store.outbox.markDelivered(account.id, pk(), 7)).toBeNull(); // other friend
      expect(await store.outbox.markDelivered(account.id, friend, 7)).toMatchObject({
        id: a.id,
        state: "delivered",
      });
    });

    it("keeps order: a later message never overtakes one waiting for a retry", async () => {
      const { item: a } = await enqueue("first");
      const { item: b } = await enqueue("second");
      await store.outbox.markSending(a.id, 1);
      const retry = await store.outbox.markFailed(a.id, "friend went offline", later(30));
      expect(retry).toMatchObject({ state: "queued", lastError: "friend went offline", toxMessageId: null });
      expect(retry!.nextAttemptAt).toEqual(later(30));
      expect(await store.outbox.nextDue(account.id, friend, now)).toBeNull();
      expect(await store.outbox.listDue(account.id, friend, now)).toEqual([]);
      expect(await store.outbox.nextDue(account.id, friend, later(30))).toMatchObject({
        id: a.id,
        attempts: 1,
      });
      expect((await store.outbox.listDue(account.id, friend, later(31))).map((i) => i.id)).toEqual([
        a.id,
        b.id,
      ]);
      expect((await store.outbox.listDue(account.id, friend, later(31), 1)).map((i) => i.id)).toEqual([a.id]);
    });

    it("respects notBefore and lists friends with queued messages", async () => {
      const other = pk();
      await store.friends.create({ accountId: account.id, publicKey: other, requestState: "pending_out" });
      await enqueue("later", { notBefore: later(60) });
      await store.outbox.enqueue({
        accountId: account.id,
        friendPk: other,
        body: "queued for a pending friend",
      });
      expect(await store.outbox.nextDue(account.id, friend, now)).toBeNull();
      expect(await store.outbox.nextDue(account.id, friend, later(60))).toMatchObject({ body: "later" });
      const friends = await store.outbox.friendsWithQueued(account.id);
      expect(friends).toHaveLength(2);
      expect(friends).toContainEqual(friend);
      expect(friends).toContainEqual(other);
    });

    it("fails permanently, and refuses to fail finished items", async () => {
      const { item } = await enqueue("doomed");
      expect(await store.outbox.markFailed(item.id, "friend deleted")).toMatchObject({
        state: "failed",
        lastError: "friend deleted",
      });
      expect(await store.outbox.markFailed(item.id, "again")).toBeNull();
      const { item: sent } = await enqueue("fire and forget");
      expect(await store.outbox.markSent(sent.id)).toMatchObject({ state: "sent" });
      expect(await store.outbox.markSent(sent.id)).toBeNull();
      expect(await store.outbox.markFailed(sent.id, "late")).toBeNull();
    });

    it("requeues in-flight messages of one friend, or all at startup", async () => {
      const other = pk();
      await store.friends.create({ accountId: account.id, publicKey: other, requestState: "accepted" });
      const { item: a } = await enqueue("a");
      const { item: b } = await enqueue("b");
      const { item: c } = await store.outbox.enqueue({ accountId: account.id, friendPk: other, body: "c" });
      await store.outbox.markSending(a.id, 1);
      await store.outbox.markSending(b.id, 2);
      await store.outbox.markSending(c.id, 1);
      expect(await store.outbox.requeueSending(account.id, friend)).toBe(2);
      expect(
        (await store.outbox.listDue(account.id, friend, now)).map((i) => [i.id, i.state, i.toxMessageId]),
      ).toEqual([
        [a.id, "queued", null],
        [b.id, "queued", null],
      ]);
      expect(await store.outbox.get(c.id)).toMatchObject({ state: "sending" });
      expect(await store.outbox.requeueAllSending()).toBe(1);
      expect(await store.outbox.get(c.id)).toMatchObject({ state: "queued", attempts: 1 });
      expect(await store.outbox.requeueAllSending()).toBe(0);
    });

    it("reports depth per state and the oldest pending message, and prunes finished ones", async () => {
      const empty = await store.outbox.depth();
      expect(empty).toEqual({
        queued: 0,
        sending: 0,
        sent: 0,
        delivered: 0,
        failed: 0,
        oldestPendingAt: null,
      });
      const { item: a } = await enqueue("a");
      const { item: b } = await enqueue("b");
      await enqueue("c");
      const { item: d } = await enqueue("d");
      await store.outbox.markSending(a.id, 1);
      await store.outbox.markDelivered(account.id, friend, 1);
      await store.outbox.markSending(b.id, 2);
      await store.outbox.markFailed(d.id, "nope");
      const depth = await store.outbox.depth();
      expect(depth).toMatchObject({ queued: 1, sending: 1, sent: 0, delivered: 1, failed: 1 });
      expect(depth.oldestPendingAt).toEqual(b.createdAt);
      expect(await store.outbox.depth(account.id)).toEqual(depth);
      expect(await store.outbox.depth(account.id + 1)).toEqual(empty);

      expect(await store.outbox.prune(new Date(0))).toBe(0);
      expect(await store.outbox.prune(new Date(Date.now() + 60_000))).toBe(2); // delivered + failed
      expect(await store.outbox.depth()).toMatchObject({ queued: 1, sending: 1, delivered: 0, failed: 0 });
    });

    it("rejects messages for unknown friends and empty bodies", async () => {
      const orphan = await store.outbox
        .enqueue({ accountId: account.id, friendPk: pk(), body: "to nobody" })
        .catch((e: unknown) => e);
      expect(orphan).toMatchObject({ kind: "foreign_key", constraint: "outbox_friend_fkey" });
      expect((orphan as StoreError).message).toMatch(
        /^outbox\.enqueue: foreign key constraint outbox_friend_fkey/,
      );
      expect(await enqueue("").catch((e: unknown) => e)).toMatchObject({ constraint: "outbox_body_check" });
    });

    it("drops queued messages with their friend (the core reports them first)", async () => {
      await enqueue("a");
      await store.friends.delete(account.id, friend);
      expect((await store.outbox.depth()).queued).toBe(0);
    });
  });

  describe("transactions", () => {
    it("commits the writes of all repositories together", async () => {
      const keys = newKeyPair();
      const friend = pk();
      const id = await store.transaction(async (tx) => {
        const account = await tx.accounts.create({
          ownerKind: "xmpp",
          ownerId: "tx@example.org",
          secretKey: keys.secretKey,
          nospam: 1,
        });
        await tx.friends.create({ accountId: account.id, publicKey: friend, requestState: "accepted" });
        await tx.outbox.enqueue({
          accountId: account.id,
          friendPk: friend,
          body: "hi",
          sourceNetwork: "xmpp",
          sourceEventId: "s1",
        });
        await tx.processedEvents.markProcessed("xmpp", "s1");
        return account.id;
      });
      expect(await store.accounts.getSecretKey(id)).toEqual(keys.secretKey);
      expect((await store.outbox.depth(id)).queued).toBe(1);
      expect(await store.processedEvents.has("xmpp", "s1")).toBe(true);
    });

    it("rolls all of them back when the callback fails", async () => {
      const account = await newAccount().create();
      const friend = pk();
      const err = await store
        .transaction(async (tx) => {
          await tx.friends.create({ accountId: account.id, publicKey: friend, requestState: "accepted" });
          await tx.processedEvents.markProcessed("matrix", "$e");
          await tx.outbox.enqueue({ accountId: account.id, friendPk: pk(), body: "to a stranger" }); // FK error
        })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ kind: "foreign_key", constraint: "outbox_friend_fkey" });
      expect(await store.friends.get(account.id, friend)).toBeNull();
      expect(await store.processedEvents.has("matrix", "$e")).toBe(false);
      // and the store is fully usable afterwards
      expect(await store.processedEvents.markProcessed("matrix", "$e")).toBe(true);
    });
  });

  describe("processed events", () => {
    it("records each event once per network and prunes old ones", async () => {
      expect(await store.processedEvents.markProcessed("matrix", "$a")).toBe(true);
      expect(await store.processedEvents.markProcessed("matrix", "$a")).toBe(false);
      expect(await store.processedEvents.markProcessed("xmpp", "$a")).toBe(true);
      expect(await store.processedEvents.has("matrix", "$a")).toBe(true);
      expect(await store.processedEvents.has("matrix", "$b")).toBe(false);
      const concurrent = await Promise.all(
        Array.from({ length: 5 }, () => store.processedEvents.markProcessed("matrix", "$c")),
      );
      expect(concurrent.filter(Boolean)).toHaveLength(1);
      expect(await store.processedEvents.prune(new Date(0))).toBe(0);
      expect(await store.processedEvents.prune(new Date(Date.now() + 60_000))).toBe(3);
      expect(await store.processedEvents.has("matrix", "$a")).toBe(false);
    });
  });

  describe("bridge state", () => {
    it("stores JSON values by key", async () => {
      expect(await store.bridgeState.get("dht.nodes")).toBeNull();
      const value = { nodes: [{ ip: "127.0.0.1", port: 33445 }], s: "quote ' and \\ backslash", n: 1.5 };
      await store.bridgeState.set("dht.nodes", value);
      expect(await store.bridgeState.get("dht.nodes")).toEqual(value);
      await store.bridgeState.set("dht.nodes", "a string");
      expect(await store.bridgeState.get("dht.nodes")).toBe("a string");
      expect(await store.bridgeState.setIfAbsent("dht.nodes", 1)).toBe(false);
      expect(await store.bridgeState.setIfAbsent("counter", 1)).toBe(true);
      expect(await store.bridgeState.get("counter")).toBe(1);
      expect(await store.bridgeState.delete("counter")).toBe(true);
      expect(await store.bridgeState.delete("counter")).toBe(false);
      await expect(store.bridgeState.set("bad", undefined)).rejects.toThrow(/not JSON-serialisable/);
    });
  });
});

function containsBytes(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}
