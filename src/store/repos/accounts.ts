/** Bridged accounts: one Tox identity per Matrix or XMPP user, secret key sealed at rest. */
import { bytesEqual } from "../../tox/bytes.js";
import { publicKeyFromSecret, SECRET_KEY_SIZE } from "../../tox/crypto.js";
import type { Queryable, Row } from "../db.js";
import { StoreError, StoreKeyError } from "../errors.js";
import type { SecretBox } from "../secret-box.js";
import type { Account, AccountProfileUpdate, AccountsRepo, NewAccount, OwnerKind } from "../types.js";
import { asDate, keyHint, setClause, withContext } from "./sql.js";

/** Every column except the sealed key, so ordinary reads never carry it. */
const COLUMNS = "id, owner_kind, owner_id, public_key, nospam, name, status_message, created_at, updated_at";

function toAccount(row: Row): Account {
  return {
    id: row.id as number,
    ownerKind: row.owner_kind as OwnerKind,
    ownerId: row.owner_id as string,
    publicKey: row.public_key as Uint8Array,
    nospam: row.nospam as number,
    name: row.name as string,
    statusMessage: row.status_message as string,
    createdAt: asDate(row.created_at),
    updatedAt: asDate(row.updated_at),
  };
}

/** The columns openSealedSecretKey needs. */
export const SEALED_KEY_COLUMNS = "owner_kind, owner_id, public_key, secret_key_nonce, secret_key_sealed";

/**
 * Opens an account's sealed secret key and checks it belongs to the row's public key, so a
 * sealed key copied from another account is refused. Throws StoreKeyError naming the account.
 */
export function openSealedSecretKey(box: SecretBox, id: number, row: Row): Uint8Array {
  const owner = `${row.owner_kind}:${row.owner_id}`;
  const secretKey = box.open({
    nonce: row.secret_key_nonce as Uint8Array,
    sealed: row.secret_key_sealed as Uint8Array,
  });
  if (secretKey === null)
    throw new StoreKeyError(
      `cannot decrypt the Tox secret key of account ${id} (${owner}): ` +
        "the store encryption key is not the one it was saved with, or the row was altered",
      { op: "accounts.getSecretKey", accountId: id, owner },
    );
  if (!bytesEqual(publicKeyFromSecret(secretKey), row.public_key as Uint8Array))
    throw new StoreKeyError(
      `the Tox secret key of account ${id} (${owner}) does not match its public key; the row was altered`,
      { op: "accounts.getSecretKey", accountId: id, owner },
    );
  return secretKey;
}

export function createAccountsRepo(db: Queryable, box: SecretBox): AccountsRepo {
  const one = async (sql: string, params: unknown[]): Promise<Account | null> => {
    const { rows } = await db.query(sql, params);
    return rows[0] ? toAccount(rows[0]) : null;
  };

  return {
    create(account: NewAccount) {
      const owner = `${account.ownerKind}:${account.ownerId}`;
      return withContext("accounts.create", { owner }, async () => {
        if (account.secretKey.length !== SECRET_KEY_SIZE)
          throw new StoreError(`accounts.create: secret key of ${owner} must be 32 bytes`, { owner });
        const publicKey = publicKeyFromSecret(account.secretKey);
        const { nonce, sealed } = box.seal(account.secretKey);
        const { rows } = await db.query(
          `INSERT INTO accounts (owner_kind, owner_id, public_key, secret_key_nonce, secret_key_sealed, nospam,
             name, status_message)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${COLUMNS}`,
          [
            account.ownerKind,
            account.ownerId,
            publicKey,
            nonce,
            sealed,
            account.nospam,
            account.name ?? "",
            account.statusMessage ?? "",
          ],
        );
        return toAccount(rows[0]!);
      });
    },

    get(id) {
      return withContext("accounts.get", { accountId: id }, () =>
        one(`SELECT ${COLUMNS} FROM accounts WHERE id = $1`, [id]),
      );
    },

    getByOwner(ownerKind, ownerId) {
      return withContext("accounts.getByOwner", { owner: `${ownerKind}:${ownerId}` }, () =>
        one(`SELECT ${COLUMNS} FROM accounts WHERE owner_kind = $1 AND owner_id = $2`, [ownerKind, ownerId]),
      );
    },

    getByPublicKey(publicKey) {
      return withContext("accounts.getByPublicKey", { publicKey: keyHint(publicKey) }, () =>
        one(`SELECT ${COLUMNS} FROM accounts WHERE public_key = $1`, [publicKey]),
      );
    },

    list() {
      return withContext("accounts.list", {}, async () => {
        const { rows } = await db.query(`SELECT ${COLUMNS} FROM accounts ORDER BY id`);
        return rows.map(toAccount);
      });
    },

    updateProfile(id, update: AccountProfileUpdate) {
      return withContext("accounts.updateProfile", { accountId: id }, async () => {
        const set = setClause(
          { ...update },
          { name: "name", statusMessage: "status_message", nospam: "nospam" },
          2,
        );
        if (set.params.length === 0) return one(`SELECT ${COLUMNS} FROM accounts WHERE id = $1`, [id]);
        return one(`UPDATE accounts SET ${set.sql}, updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`, [
          id,
          ...set.params,
        ]);
      });
    },

    getSecretKey(id) {
      return withContext("accounts.getSecretKey", { accountId: id }, async () => {
        const { rows } = await db.query(`SELECT ${SEALED_KEY_COLUMNS} FROM accounts WHERE id = $1`, [id]);
        const row = rows[0];
        if (!row) throw new StoreError(`accounts.getSecretKey: no account with id ${id}`, { accountId: id });
        return openSealedSecretKey(box, id, row);
      });
    },

    delete(id) {
      return withContext("accounts.delete", { accountId: id }, async () => {
        const { rows } = await db.query("DELETE FROM accounts WHERE id = $1 RETURNING id", [id]);
        return rows.length > 0;
      });
    },
  };
}
