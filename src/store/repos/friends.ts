/** Tox friends of each account, including friend requests in either direction. */
import type { Queryable, Row } from "../db.js";
import type { Friend, FriendRequestState, FriendsRepo, FriendUpdate, NewFriend } from "../types.js";
import { asDate, asDateOrNull, keyHint, setClause, withContext } from "./sql.js";

function toFriend(row: Row): Friend {
  return {
    accountId: row.account_id as number,
    publicKey: row.public_key as Uint8Array,
    address: (row.address as Uint8Array | null) ?? null,
    requestState: row.request_state as FriendRequestState,
    requestMessage: row.request_message as string,
    name: row.name as string,
    statusMessage: row.status_message as string,
    lastSeenAt: asDateOrNull(row.last_seen_at),
    createdAt: asDate(row.created_at),
    updatedAt: asDate(row.updated_at),
  };
}

const UPDATE_COLUMNS = {
  name: "name",
  statusMessage: "status_message",
  requestState: "request_state",
  requestMessage: "request_message",
  address: "address",
  lastSeenAt: "last_seen_at",
};

/** Values for the seven columns of `INSERT INTO friends (...)`, in that order. */
function insertValues(friend: NewFriend): unknown[] {
  return [
    friend.accountId,
    friend.publicKey,
    friend.address ?? null,
    friend.requestState,
    friend.requestMessage ?? "",
    friend.name ?? "",
    friend.statusMessage ?? "",
  ];
}

export function createFriendsRepo(db: Queryable): FriendsRepo {
  const ctx = (accountId: number, publicKey: Uint8Array) => ({ accountId, friend: keyHint(publicKey) });

  return {
    create(friend: NewFriend) {
      return withContext("friends.create", ctx(friend.accountId, friend.publicKey), async () => {
        const { rows } = await db.query(
          `INSERT INTO friends (account_id, public_key, address, request_state, request_message, name, status_message)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
          insertValues(friend),
        );
        return toFriend(rows[0]!);
      });
    },

    upsert(friend: NewFriend) {
      return withContext("friends.upsert", ctx(friend.accountId, friend.publicKey), async () => {
        // On conflict only the fields the caller gave are overwritten; accepted is never downgraded.
        const keep = (prop: keyof NewFriend, column: string) =>
          friend[prop] === undefined ? `${column} = friends.${column}` : `${column} = EXCLUDED.${column}`;
        const { rows } = await db.query(
          `INSERT INTO friends (account_id, public_key, address, request_state, request_message, name, status_message)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT ON CONSTRAINT friends_pkey DO UPDATE SET
             request_state = CASE WHEN friends.request_state = 'accepted' THEN 'accepted'
                                  ELSE EXCLUDED.request_state END,
             ${keep("address", "address")},
             ${keep("requestMessage", "request_message")},
             ${keep("name", "name")},
             ${keep("statusMessage", "status_message")},
             updated_at = now()
           RETURNING *`,
          insertValues(friend),
        );
        return toFriend(rows[0]!);
      });
    },

    get(accountId, publicKey) {
      return withContext("friends.get", ctx(accountId, publicKey), async () => {
        const { rows } = await db.query("SELECT * FROM friends WHERE account_id = $1 AND public_key = $2", [
          accountId,
          publicKey,
        ]);
        return rows[0] ? toFriend(rows[0]) : null;
      });
    },

    list(accountId, filter = {}) {
      return withContext("friends.list", { accountId }, async () => {
        const { rows } =
          filter.requestState === undefined
            ? await db.query("SELECT * FROM friends WHERE account_id = $1 ORDER BY created_at, public_key", [
                accountId,
              ])
            : await db.query(
                `SELECT * FROM friends WHERE account_id = $1 AND request_state = $2
                 ORDER BY created_at, public_key`,
                [accountId, filter.requestState],
              );
        return rows.map(toFriend);
      });
    },

    update(accountId, publicKey, update: FriendUpdate) {
      return withContext("friends.update", ctx(accountId, publicKey), async () => {
        const set = setClause({ ...update }, UPDATE_COLUMNS, 3);
        const sql =
          set.params.length === 0
            ? "SELECT * FROM friends WHERE account_id = $1 AND public_key = $2"
            : `UPDATE friends SET ${set.sql}, updated_at = now()
               WHERE account_id = $1 AND public_key = $2 RETURNING *`;
        const { rows } = await db.query(sql, [accountId, publicKey, ...set.params]);
        return rows[0] ? toFriend(rows[0]) : null;
      });
    },

    delete(accountId, publicKey) {
      return withContext("friends.delete", ctx(accountId, publicKey), async () => {
        const { rows } = await db.query(
          "DELETE FROM friends WHERE account_id = $1 AND public_key = $2 RETURNING account_id",
          [accountId, publicKey],
        );
        return rows.length > 0;
      });
    },
  };
}
