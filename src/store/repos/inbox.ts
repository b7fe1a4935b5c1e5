/**
 * The inbox: messages from Tox friends waiting to be handed to the user's frontend (Matrix or
 * XMPP). Tox acknowledges a message the moment it arrives, so the bridge writes it here before
 * trying the frontend and deletes it only once the frontend has taken it.
 *
 * Not (yet) a field of Store: build it with `createInboxRepo(db)` over the Db that
 * `openStoreWithDb` returns, or over a transaction.
 */
import type { Queryable, Row } from "../db.js";
import type { OutboxKind } from "../types.js";
import { asDate, asDateOrNull, keyHint, withContext } from "./sql.js";

export interface InboxItem {
  id: number;
  accountId: number;
  friendPk: Uint8Array;
  kind: OutboxKind;
  body: string;
  attempts: number;
  lastError: string | null;
  /** Earliest time of the next attempt; null = as soon as possible. */
  nextAttemptAt: Date | null;
  receivedAt: Date;
}

export interface NewInboxItem {
  accountId: number;
  friendPk: Uint8Array;
  kind?: OutboxKind;
  body: string;
}

export interface InboxRepo {
  add(item: NewInboxItem): Promise<InboxItem>;
  /** The oldest waiting message from this friend (due or not: order is kept per friend). */
  head(accountId: number, friendPk: Uint8Array): Promise<InboxItem | null>;
  /** (account, friend) pairs with at least one waiting message. */
  pending(): Promise<{ accountId: number; friendPk: Uint8Array }[]>;
  /** The frontend took it: gone for good. True when it existed. */
  remove(id: number): Promise<boolean>;
  /** The frontend refused it: attempts + 1, try again at `retryAt`. */
  markRetry(id: number, reason: string, retryAt: Date): Promise<InboxItem | null>;
  count(accountId?: number): Promise<number>;
}

function toItem(row: Row): InboxItem {
  return {
    id: row.id as number,
    accountId: row.account_id as number,
    friendPk: row.friend_pk as Uint8Array,
    kind: row.kind as OutboxKind,
    body: row.body as string,
    attempts: row.attempts as number,
    lastError: (row.last_error as string | null) ?? null,
    nextAttemptAt: asDateOrNull(row.next_attempt_at),
    receivedAt: asDate(row.received_at),
  };
}

export function createInboxRepo(db: Queryable): InboxRepo {
  const one = async (sql: string, params: unknown[]): Promise<InboxItem | null> => {
    const { rows } = await db.query(sql, params);
    return rows[0] ? toItem(rows[0]) : null;
  };
  return {
    add(item) {
      return withContext(
        "inbox.add",
        { accountId: item.accountId, friend: keyHint(item.friendPk) },
        async () => {
          const added = await one(
            `INSERT INTO inbox (account_id, friend_pk, kind, body) VALUES ($1, $2, $3, $4) RETURNING *`,
            [item.accountId, item.friendPk, item.kind ?? "normal", item.body],
          );
          return added!;
        },
      );
    },

    head(accountId, friendPk) {
      return withContext("inbox.head", { accountId, friend: keyHint(friendPk) }, () =>
        one("SELECT * FROM inbox WHERE account_id = $1 AND friend_pk = $2 ORDER BY id LIMIT 1", [
          accountId,
          friendPk,
        ]),
      );
    },

    pending() {
      return withContext("inbox.pending", {}, async () => {
        const { rows } = await db.query(
          "SELECT DISTINCT account_id, friend_pk FROM inbox ORDER BY account_id, friend_pk",
        );
        return rows.map((r) => ({ accountId: r.account_id as number, friendPk: r.friend_pk as Uint8Array }));
      });
    },

    remove(id) {
      return withContext("inbox.remove", { inboxId: id }, async () => {
        const { rows } = await db.query("DELETE FROM inbox WHERE id = $1 RETURNING id", [id]);
        return rows.length > 0;
      });
    },

    markRetry(id, reason, retryAt) {
      return withContext("inbox.markRetry", { inboxId: id, reason }, () =>
        one(
          `UPDATE inbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3 WHERE id = $1
           RETURNING *`,
          [id, reason, retryAt],
        ),
      );
    },

    count(accountId) {
      return withContext("inbox.count", { accountId }, async () => {
        const { rows } = await db.query(
          "SELECT count(*)::int8 AS n FROM inbox WHERE ($1::int8 IS NULL OR account_id = $1)",
          [accountId ?? null],
        );
        return (rows[0]?.n as number | undefined) ?? 0;
      });
    },
  };
}
