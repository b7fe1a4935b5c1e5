/**
 * Opening a store: picks the backend, builds the repositories over it, and checks the encryption
 * key at migrate time.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Db, Queryable } from "./db.js";
import { PgliteDb } from "./db-pglite.js";
import { PostgresDb } from "./db-postgres.js";
import { StoreError, StoreKeyError, wrapDbError } from "./errors.js";
import { DEFAULT_MIGRATIONS_DIR, loadMigrations, runMigrations } from "./migrate.js";
import { acquireDirLock } from "./pglite-lock.js";
import { createAccountsRepo } from "./repos/accounts.js";
import { createBridgeStateRepo } from "./repos/bridge-state.js";
import { createFriendsRepo } from "./repos/friends.js";
import { createOutboxRepo } from "./repos/outbox.js";
import { createPortalsRepo } from "./repos/portals.js";
import { createProcessedEventsRepo } from "./repos/processed-events.js";
import { KEY_CHECK_STATE_KEY, type KeyCheckRecord, SecretBox } from "./secret-box.js";
import type { BridgeStateRepo, OpenStoreOptions, Store, StoreRepos } from "./types.js";

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "<unparsable database url>";
  }
}

/**
 * openStore, also returning the underlying Db for raw SQL: for tests and maintenance tools only;
 * the bridge itself goes through the repositories.
 */
export async function openStoreWithDb(opts: OpenStoreOptions): Promise<{ store: Store; db: Db }> {
  const box = new SecretBox(opts.encryptionKey);
  const migrationsDir = opts.migrationsDir ?? DEFAULT_MIGRATIONS_DIR;
  const logger = opts.logger;
  let db: Db;
  let releaseLock = () => {};
  if (opts.url) {
    db = PostgresDb.open(opts.url, { poolSize: opts.poolSize, logger });
    try {
      await db.query("SELECT 1");
    } catch (err) {
      await db.close();
      throw wrapDbError(err, `cannot connect to PostgreSQL at ${redactUrl(opts.url)}`);
    }
    logger?.info(`store: using PostgreSQL at ${redactUrl(opts.url)}`);
  } else {
    const dir = join(opts.dataDir, "pglite");
    mkdirSync(opts.dataDir, { recursive: true });
    releaseLock = acquireDirLock(`${dir}.lock`);
    try {
      db = await PgliteDb.open(dir);
    } catch (err) {
      releaseLock();
      const reason = err instanceof Error ? err.message : String(err);
      throw new StoreError(`cannot open the embedded database in ${dir}: ${reason}`, { dir }, { cause: err });
    }
    logger?.info(`store: using embedded PGlite in ${dir}`);
  }

  const repos = (q: Queryable): StoreRepos => ({
    accounts: createAccountsRepo(q, box),
    friends: createFriendsRepo(q),
    portals: createPortalsRepo(q),
    outbox: createOutboxRepo(q),
    processedEvents: createProcessedEventsRepo(q),
    bridgeState: createBridgeStateRepo(q),
  });
  const own = repos(db);
  let closed = false;
  const store: Store = {
    ...own,
    kind: db.kind,
    async migrate() {
      const result = await runMigrations(db, loadMigrations(migrationsDir), logger);
      await checkEncryptionKey(own.bridgeState, box);
      return result;
    },
    async ping() {
      try {
        await db.query("SELECT 1");
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        await db.close();
      } finally {
        releaseLock();
      }
    },
    transaction: (fn) => db.transaction((tx) => fn(repos(tx))),
  };
  return { store, db };
}

/**
 * The first start records a sealed constant; later starts must open it. A changed key is refused
 * at startup instead of surfacing later as undecryptable accounts.
 */
async function checkEncryptionKey(state: BridgeStateRepo, box: SecretBox): Promise<void> {
  // The first process to get here records its check; everyone (itself included) verifies that one.
  await state.setIfAbsent(KEY_CHECK_STATE_KEY, box.keyCheckRecord());
  const stored = await state.get<KeyCheckRecord>(KEY_CHECK_STATE_KEY);
  if (stored === null || !box.matchesKeyCheckRecord(stored))
    throw new StoreKeyError(
      "the configured store encryption key is not the one this database was created with; " +
        "the Tox secret keys in it cannot be decrypted (restore the previous key in the config)",
      { op: "store.migrate" },
    );
}
