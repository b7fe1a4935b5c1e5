/** Opening, persistence and closing: the parts that differ between the embedded and server backends. */
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openStore, redactUrl, StoreError } from "../../src/store/index.js";
import { loadMigrations } from "../../src/store/migrate.js";
import { newKeyPair } from "../../src/tox/crypto.js";
import { openTestStore, pgliteTemplate, TEST_KEY } from "./backends.js";

const root = mkdtempSync(join(tmpdir(), "toxbridge-lifecycle-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A data directory with an initdb'd (not migrated) embedded database. */
async function dataDirNamed(name: string): Promise<string> {
  const dir = join(root, name);
  cpSync(await pgliteTemplate(), dir, { recursive: true });
  return dir;
}

describe("embedded PGlite store", () => {
  it("keeps data across close and reopen, and releases its lock on close", async () => {
    const dataDir = await dataDirNamed("persist");
    const keys = newKeyPair();
    const first = await openStore({ dataDir, encryptionKey: TEST_KEY });
    expect(first.kind).toBe("pglite");
    await first.migrate();
    const account = await first.accounts.create({
      ownerKind: "xmpp",
      ownerId: "alice@example.org",
      secretKey: keys.secretKey,
      nospam: 42,
    });
    const friend = newKeyPair().publicKey;
    await first.friends.create({ accountId: account.id, publicKey: friend, requestState: "accepted" });
    const { item } = await first.outbox.enqueue({
      accountId: account.id,
      friendPk: friend,
      body: "survives restarts",
      sourceNetwork: "xmpp",
      sourceEventId: "m1",
    });
    await first.outbox.markSending(item.id, 5);
    expect(existsSync(join(dataDir, "pglite.lock"))).toBe(true);
    await first.close();
    await first.close(); // idempotent
    expect(existsSync(join(dataDir, "pglite.lock"))).toBe(false);
    expect(await first.ping()).toBe(false);

    const second = await openStore({ dataDir, encryptionKey: TEST_KEY });
    try {
      expect(await second.migrate()).toEqual({ applied: [] });
      expect(await second.accounts.getByOwner("xmpp", "alice@example.org")).toEqual(account);
      expect(await second.accounts.getSecretKey(account.id)).toEqual(keys.secretKey);
      // crash recovery: what was in flight goes back to the queue
      expect(await second.outbox.requeueAllSending()).toBe(1);
      expect(await second.outbox.nextDue(account.id, friend, new Date())).toMatchObject({
        id: item.id,
        body: "survives restarts",
      });
    } finally {
      await second.close();
    }
  });

  it("takes over a lock left by a process that no longer exists", async () => {
    const dataDir = await dataDirNamed("stale");
    const store = await openStore({ dataDir, encryptionKey: TEST_KEY });
    await store.close();
    // pid 2^22+1 is above Linux's largest pid_max, so no such process
    writeFileSync(join(dataDir, "pglite.lock"), JSON.stringify({ pid: 4194305 }));
    const again = await openStore({ dataDir, encryptionKey: TEST_KEY });
    expect(await again.ping()).toBe(true);
    await again.close();
  });

  it("openTestStore hands out a migrated store and deletes it on close", async () => {
    const { store, db, close } = await openTestStore();
    expect((await db.query("SELECT count(*)::int8 AS n FROM schema_migrations")).rows).toEqual([
      { n: loadMigrations().length },
    ]);
    expect(await store.migrate()).toEqual({ applied: [] });
    expect(await store.accounts.list()).toEqual([]);
    await close();
    expect(await store.ping()).toBe(false);
  });

  it("refuses an empty encryption key", async () => {
    await expect(openStore({ dataDir: join(root, "nokey"), encryptionKey: "" })).rejects.toThrow(
      /encryption key must not be empty/,
    );
  });
});

describe("PostgreSQL store", () => {
  it("fails to open with a clear error that names the server but not the password", async () => {
    const url = "postgres://bridge:s3cret@127.0.0.1:1/toxbridge";
    const err = await openStore({ url, dataDir: root, encryptionKey: TEST_KEY }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as Error).message).toMatch(
      /^cannot connect to PostgreSQL at postgres:\/\/bridge:\*\*\*@127\.0\.0\.1:1\//,
    );
    expect((err as Error).message).not.toContain("s3cret");
  });

  it("redacts passwords in URLs", () => {
    expect(redactUrl("postgresql://u:p@h:5432/db?sslmode=require")).toBe(
      "postgresql://u:***@h:5432/db?sslmode=require",
    );
    expect(redactUrl("postgres://h/db")).toBe("postgres://h/db");
    expect(redactUrl("not a url")).toBe("<unparsable database url>");
  });
});
