/**
 * Outbox operations over many rows at once, which the delivery engine needs for throughput:
 * whole source events (one Matrix/XMPP event may be split into several Tox messages, one row
 * per part), every queued friend, a batch handed to Tox. Kept apart from the outbox repository
 * so it can grow without touching it; build it with `createOutboxEventsRepo(db)`.
 */
import type { Queryable } from "../db.js";
import type { Network } from "../types.js";
import { keyHint, withContext } from "./sql.js";

export interface OutboxEventsRepo {
  /** Every (account, friend) with at least one queued item, in one query (the retry sweep). */
  queuedFriends(): Promise<{ accountId: number; friendPk: Uint8Array }[]>;
  /**
   * queued -> sending for a batch just handed to Tox, each with its Tox message id (attempts + 1),
   * in one statement. Items no longer queued are skipped. Returns how many changed.
   */
  markSendingMany(batch: { id: number; toxMessageId: number }[]): Promise<number>;
  /**
   * sending -> queued for these Tox message ids of one friend (their session ended before the
   * receipts came), keeping their place in the queue. Returns how many were requeued.
   */
  requeueMessages(accountId: number, friendPk: Uint8Array, toxMessageIds: number[]): Promise<number>;
  /**
   * The read receipt of `toxMessageId` from this friend: sending -> delivered (as
   * OutboxRepo.markDelivered) and, in the same statement, how many other parts of its source
   * event are still pending. Null for an unknown or duplicate receipt.
   */
  deliver(accountId: number, friendPk: Uint8Array, toxMessageId: number): Promise<DeliveredItem | null>;
  /** Parts of this source event not yet delivered (queued or sending). */
  pendingParts(accountId: number, friendPk: Uint8Array, network: Network, eventId: string): Promise<number>;
}

export interface DeliveredItem {
  id: number;
  sourceNetwork: Network | null;
  sourceEventId: string | null;
  /** Other parts of the same source event not yet delivered (0 without a source event). */
  pendingParts: number;
}

export function createOutboxEventsRepo(db: Queryable): OutboxEventsRepo {
  return {
    queuedFriends() {
      return withContext("outboxEvents.queuedFriends", {}, async () => {
        const { rows } = await db.query(
          `SELECT DISTINCT account_id, friend_pk FROM outbox WHERE state = 'queued'
           ORDER BY account_id, friend_pk`,
        );
        return rows.map((r) => ({ accountId: r.account_id as number, friendPk: r.friend_pk as Uint8Array }));
      });
    },

    markSendingMany(batch) {
      return withContext("outboxEvents.markSendingMany", { n: batch.length }, async () => {
        if (batch.length === 0) return 0;
        const { rows } = await db.query(
          `UPDATE outbox SET state = 'sending', tox_message_id = b.tox_id, attempts = attempts + 1,
             updated_at = now()
           FROM unnest($1::int8[], $2::int8[]) AS b(id, tox_id)
           WHERE outbox.id = b.id AND outbox.state = 'queued' RETURNING outbox.id`,
          [batch.map((b) => b.id), batch.map((b) => b.toxMessageId)],
        );
        return rows.length;
      });
    },

    requeueMessages(accountId, friendPk, toxMessageIds) {
      return withContext(
        "outboxEvents.requeueMessages",
        { accountId, friend: keyHint(friendPk), n: toxMessageIds.length },
        async () => {
          if (toxMessageIds.length === 0) return 0;
          const { rows } = await db.query(
            `UPDATE outbox SET state = 'queued', tox_message_id = NULL, updated_at = now()
             WHERE account_id = $1 AND friend_pk = $2 AND state = 'sending' AND tox_message_id = ANY($3::int8[])
             RETURNING id`,
            [accountId, friendPk, toxMessageIds],
          );
          return rows.length;
        },
      );
    },

    deliver(accountId, friendPk, toxMessageId) {
      return withContext(
        "outboxEvents.deliver",
        { accountId, friend: keyHint(friendPk), toxMessageId },
        async () => {
          // The outer SELECT sees the rows as before the UPDATE, hence `o.id <> d.id`.
          const { rows } = await db.query(
            `WITH d AS (
             UPDATE outbox SET state = 'delivered', last_error = NULL, updated_at = now()
             WHERE state = 'sending' AND id = (
               SELECT id FROM outbox
               WHERE account_id = $1 AND friend_pk = $2 AND state = 'sending' AND tox_message_id = $3
               ORDER BY id LIMIT 1)
             RETURNING id, account_id, friend_pk, source_network, source_event_id)
           SELECT d.id, d.source_network, d.source_event_id,
             (SELECT count(*) FROM outbox o
              WHERE d.source_event_id IS NOT NULL AND o.account_id = d.account_id
                AND o.friend_pk = d.friend_pk AND o.source_network = d.source_network
                AND o.source_event_id = d.source_event_id AND o.id <> d.id
                AND o.state IN ('queued', 'sending'))::int8 AS pending_parts
           FROM d`,
            [accountId, friendPk, toxMessageId],
          );
          const row = rows[0];
          if (row === undefined) return null;
          return {
            id: row.id as number,
            sourceNetwork: (row.source_network as Network | null) ?? null,
            sourceEventId: (row.source_event_id as string | null) ?? null,
            pendingParts: row.pending_parts as number,
          };
        },
      );
    },

    pendingParts(accountId, friendPk, network, eventId) {
      return withContext(
        "outboxEvents.pendingParts",
        { accountId, friend: keyHint(friendPk), eventId },
        async () => {
          const { rows } = await db.query(
            `SELECT count(*)::int8 AS n FROM outbox WHERE account_id = $1 AND friend_pk = $2
               AND source_network = $3 AND source_event_id = $4 AND state IN ('queued', 'sending')`,
            [accountId, friendPk, network, eventId],
          );
          return (rows[0]?.n as number | undefined) ?? 0;
        },
      );
    },
  };
}
