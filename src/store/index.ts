/**
 * Persistence for the bridge: PostgreSQL through `pg` when a URL is configured, otherwise the
 * embedded PGlite in the data directory. See types.ts for the vocabulary.
 */
import type { OpenStoreOptions, Store } from "./types.js";

export type * from "./types.js";

export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  void opts;
  throw new Error("openStore: not implemented yet (store work in progress)");
}
