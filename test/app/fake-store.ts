/** A Store stand-in with just the lifecycle surface the app composes (no repositories). */
import type { OpenStoreOptions, Store } from "../../src/store/index.js";

export interface FakeStore extends Store {
  calls: string[];
  healthy: boolean;
  openedWith?: OpenStoreOptions;
}

export function fakeStore(kind: Store["kind"] = "pglite"): FakeStore {
  const store = {
    kind,
    calls: [] as string[],
    healthy: true,
    async migrate() {
      store.calls.push("migrate");
      return { applied: ["001_initial"] };
    },
    async ping() {
      return store.healthy;
    },
    async close() {
      store.calls.push("close");
    },
  };
  return store as unknown as FakeStore;
}

/** An openStore replacement that hands out `store` and remembers the options. */
export function openerFor(store: FakeStore) {
  return async (opts: OpenStoreOptions): Promise<Store> => {
    store.openedWith = opts;
    store.calls.push("open");
    return store;
  };
}
