import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { rekeyStore, StoreKeyError } from "../../src/store/index.js";
import { newKeyPair } from "../../src/tox/crypto.js";
import { backends, StoreTracker } from "./backends.js";

describe.each(backends)("rekeyStore on $name", (backend) => {
  const stores = new StoreTracker();
  beforeAll(() => backend.setup());
  afterEach(() => stores.closeAll());
  afterAll(() => backend.teardown());

  /** A migrated database holding two accounts; returns its options and their secret keys. */
  async function populated() {
    const opts = await backend.fresh({ migrated: true });
    const store = await stores.open_(opts);
    const keys = [newKeyPair(), newKeyPair()];
    const ids: number[] = [];
    for (const [i, k] of keys.entries()) {
      const account = await store.accounts.create({
        ownerKind: "matrix",
        ownerId: `@user${i}:example.org`,
        secretKey: k.secretKey,
        nospam: i,
      });
      ids.push(account.id);
    }
    await stores.closeAll();
    return { opts, keys, ids };
  }

  it("re-seals every secret key under the new key; the old key is then refused", async () => {
    const { opts, keys, ids } = await populated();
    expect(await rekeyStore(opts, "the new key")).toEqual({ accounts: 2 });

    const fresh = await stores.open_({ ...opts, encryptionKey: "the new key" });
    expect(await fresh.migrate()).toEqual({ applied: [] });
    for (const [i, id] of ids.entries())
      expect(await fresh.accounts.getSecretKey(id)).toEqual(keys[i]!.secretKey);
    await stores.closeAll();

    const stale = await stores.open_(opts);
    await expect(stale.migrate()).rejects.toThrow(StoreKeyError);
  });

  it("changes nothing when the current key is wrong, or the new key is the same", async () => {
    const { opts, keys, ids } = await populated();
    await expect(rekeyStore({ ...opts, encryptionKey: "wrong" }, "the new key")).rejects.toThrow(
      /not the one this database was created with/,
    );
    await expect(rekeyStore(opts, opts.encryptionKey)).rejects.toThrow(/same as the current one/);
    const store = await stores.open_(opts);
    await store.migrate();
    expect(await store.accounts.getSecretKey(ids[1]!)).toEqual(keys[1]!.secretKey);
  });

  it("rolls back entirely when one row cannot be opened", async () => {
    const { opts, keys, ids } = await populated();
    const { db } = await stores.openWithDb(opts);
    // the second account's sealed key is replaced by the first one's: it will not match its public key
    await db.query(
      `UPDATE accounts SET (secret_key_nonce, secret_key_sealed) =
         (SELECT secret_key_nonce, secret_key_sealed FROM accounts WHERE id = $1) WHERE id = $2`,
      [ids[0], ids[1]],
    );
    await stores.closeAll();
    await expect(rekeyStore(opts, "the new key")).rejects.toThrow(/does not match its public key/);
    const store = await stores.open_(opts);
    await store.migrate(); // still the old key
    expect(await store.accounts.getSecretKey(ids[0]!)).toEqual(keys[0]!.secretKey);
  });
});
