/**
 * Changing the store encryption key: every sealed Tox secret key is opened with the old key and
 * sealed again with the new one, and the key check replaced, in one transaction (all or none).
 * Run it with the bridge stopped; afterwards the config must carry the new key.
 */
import { StoreError } from "./errors.js";
import { openStoreWithDb } from "./open.js";
import { openSealedSecretKey, SEALED_KEY_COLUMNS } from "./repos/accounts.js";
import { createBridgeStateRepo } from "./repos/bridge-state.js";
import { KEY_CHECK_STATE_KEY, SecretBox } from "./secret-box.js";
import type { OpenStoreOptions } from "./types.js";

/** Re-seals everything under `newEncryptionKey`; `opts.encryptionKey` is the current key. */
export async function rekeyStore(
  opts: OpenStoreOptions,
  newEncryptionKey: string,
): Promise<{ accounts: number }> {
  if (newEncryptionKey === opts.encryptionKey)
    throw new StoreError("rekey: the new encryption key is the same as the current one");
  const current = new SecretBox(opts.encryptionKey);
  const next = new SecretBox(newEncryptionKey);
  const { store, db } = await openStoreWithDb(opts);
  try {
    // Brings the schema up to date and proves the current key is right before touching any row.
    await store.migrate();
    const accounts = await db.transaction(async (tx) => {
      const { rows } = await tx.query(
        `SELECT id, ${SEALED_KEY_COLUMNS} FROM accounts ORDER BY id FOR UPDATE`,
      );
      for (const row of rows) {
        const id = row.id as number;
        const { nonce, sealed } = next.seal(openSealedSecretKey(current, id, row));
        await tx.query(
          "UPDATE accounts SET secret_key_nonce = $2, secret_key_sealed = $3, updated_at = now() WHERE id = $1",
          [id, nonce, sealed],
        );
      }
      await createBridgeStateRepo(tx).set(KEY_CHECK_STATE_KEY, next.keyCheckRecord());
      return rows.length;
    });
    opts.logger?.info(`store: re-encrypted the secret keys of ${accounts} account(s) under the new key`);
    return { accounts };
  } finally {
    await store.close();
  }
}
