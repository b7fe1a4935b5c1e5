/**
 * Persistence for the bridge: PostgreSQL through `pg` when a URL is configured, otherwise the
 * embedded PGlite in the data directory (no server needed). See types.ts for the vocabulary.
 *
 * openStore connects; call `migrate()` once at startup before using the repositories.
 */
import { openStoreWithDb } from "./open.js";
import type { OpenStoreOptions, Store } from "./types.js";

export type { Db, Queryable } from "./db.js";
export { MigrationError, StoreConstraintError, StoreError, StoreKeyError } from "./errors.js";
export { openStoreWithDb, redactUrl } from "./open.js";
export { rekeyStore } from "./rekey.js";
export type * from "./types.js";

export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  return (await openStoreWithDb(opts)).store;
}
