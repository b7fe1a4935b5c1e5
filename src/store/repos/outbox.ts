/**
 * The persistent outbox: messages to Tox friends, from the moment a Matrix/XMPP event is accepted
 * until the friend's read receipt. Delivery is at-least-once: after a crash or a dropped session
 * the items in flight are requeued and sent again.
 */
import type { Queryable, Row } from "../db.js";
import { StoreError } from "../errors.js";
import type {
  Network,
  NewOutboxItem,
  OutboxDepth,
  OutboxItem,
  OutboxKind,
  OutboxRepo,
  OutboxState,
} from "../types.js";
import { asDate, asDateOrNull, keyHint, withContext } from "./sql.js";

/** An outbox row as read from the database. */
export function toItem(row: Row): OutboxItem {
  return {
    id: row.id as number,
    accountId: row.account_id as number,
    friendPk: row.friend_pk as Uint8Array,
    kind: row.kind as OutboxKind,
    body: row.body as string,
    sourceNetwork: (row.source_network as Network | null) ?? null,
    sourceEventId: (row.source_event_id as string | null) ?? null,
    part: row.part as number,
    state: row.state as OutboxState,
    attempts: row.attempts as number,
    toxMessageId: (row.tox_message_id as number | null) ?? null,
    lastError: (row.last_error as string | null) ?? null,
    nextAttemptAt: asDateOrNull(row.next_attempt_at),
    createdAt: asDate(row.created_at),
    updatedAt: asDate(row.updated_at),
  };
}

const isDue = (item: OutboxItem, now: Date) => item.nextAttemptAt === null || item.nextAttemptAt <= now;

export function createOutboxRepo(db: Queryable): OutboxRepo {
  const ctx = (accountId: number, friendPk: Uint8Array) => ({ accountId, friend: keyHint(friendPk) });
  const one = async (sql: string, params: unknown[]): Promise<OutboxItem | null> => {
    const { rows } = await db.query(sql, params);
    return rows[0] ? toItem(rows[0]) : null;
  };

  /** The first `limit` queued items in order, cut at the first one not yet due (order is kept). */
  const duePrefix = async (accountId: number, friendPk: Uint8Array, now: Date, limit: number) => {
    const { rows } = await db.query(
      `SELECT * FROM outbox WHERE account_id = $1 AND friend_pk = $2 AND state = 'queued'
       ORDER BY id LIMIT $3`,
      [accountId, friendPk, limit],
    );
    const due: OutboxItem[] = [];
    for (const row of rows) {
      const item = toItem(row);
      if (!isDue(item, now)) break;
      due.push(item);
    }
    return due;
  };

  return {
    enqueue(item: NewOutboxItem) {
      const context = { ...ctx(item.accountId, item.friendPk), sourceEventId: item.sourceEventId ?? null };
      return withContext("outbox.enqueue", context, async () => {
        const sourceNetwork = item.sourceNetwork ?? null;
        const sourceEventId = item.sourceEventId ?? null;
        if ((sourceNetwork === null) !== (sourceEventId === null))
          throw new StoreError(
            "outbox.enqueue: sourceNetwork and sourceEventId must be given together",
            context,
          );
        const params = [
          item.accountId,
          item.friendPk,
          item.kind ?? "normal",
          item.body,
          sourceNetwork,
          sourceEventId,
          item.part ?? 0,
          item.notBefore ?? null,
        ];
        const inserted = await one(
          `INSERT INTO outbox (account_id, friend_pk, kind, body, source_network, source_event_id, part,
             next_attempt_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT ON CONSTRAINT outbox_source_unique DO NOTHING RETURNING *`,
          params,
        );
        if (inserted) return { item: inserted, created: true };
        // Only a source event seen before can conflict (NULL ids never do).
        const existing = await one(
          `SELECT * FROM outbox WHERE account_id = $1 AND friend_pk = $2 AND source_network = $3
             AND source_event_id = $4 AND part = $5`,
          [item.accountId, item.friendPk, sourceNetwork, sourceEventId, item.part ?? 0],
        );
        if (!existing)
          throw new StoreError("outbox.enqueue: conflicting item vanished during enqueue", context);
        return { item: existing, created: false };
      });
    },

    get(id) {
      return withContext("outbox.get", { outboxId: id }, () =>
        one("SELECT * FROM outbox WHERE id = $1", [id]),
      );
    },

    nextDue(accountId, friendPk, now) {
      return withContext("outbox.nextDue", ctx(accountId, friendPk), async () => {
        const [first] = await duePrefix(accountId, friendPk, now, 1);
        return first ?? null;
      });
    },

    listDue(accountId, friendPk, now, limit = 100) {
      return withContext("outbox.listDue", ctx(accountId, friendPk), () =>
        duePrefix(accountId, friendPk, now, limit),
      );
    },

    friendsWithQueued(accountId) {
      return withContext("outbox.friendsWithQueued", { accountId }, async () => {
        const { rows } = await db.query(
          "SELECT DISTINCT friend_pk FROM outbox WHERE account_id = $1 AND state = 'queued' ORDER BY friend_pk",
          [accountId],
        );
        return rows.map((r) => r.friend_pk as Uint8Array);
      });
    },

    markSending(id, toxMessageId) {
      return withContext("outbox.markSending", { outboxId: id, toxMessageId }, () =>
        one(
          `UPDATE outbox SET state = 'sending', tox_message_id = $2, attempts = attempts + 1, updated_at = now()
           WHERE id = $1 AND state = 'queued' RETURNING *`,
          [id, toxMessageId],
        ),
      );
    },

    markSent(id) {
      return withContext("outbox.markSent", { outboxId: id }, () =>
        one(
          `UPDATE outbox SET state = 'sent', updated_at = now()
           WHERE id = $1 AND state IN ('queued', 'sending') RETURNING *`,
          [id],
        ),
      );
    },

    markDelivered(accountId, friendPk, toxMessageId) {
      return withContext("outbox.markDelivered", { ...ctx(accountId, friendPk), toxMessageId }, () =>
        // The state test is repeated outside the subquery so that of two concurrent receipts for
        // one message only the first wins (the row is rechecked after the lock).
        one(
          `UPDATE outbox SET state = 'delivered', last_error = NULL, updated_at = now()
           WHERE state = 'sending' AND id = (
             SELECT id FROM outbox
             WHERE account_id = $1 AND friend_pk = $2 AND state = 'sending' AND tox_message_id = $3
             ORDER BY id LIMIT 1)
           RETURNING *`,
          [accountId, friendPk, toxMessageId],
        ),
      );
    },

    markFailed(id, reason, retryAt) {
      return withContext("outbox.markFailed", { outboxId: id, reason }, () =>
        retryAt === undefined
          ? one(
              `UPDATE outbox SET state = 'failed', last_error = $2, updated_at = now()
               WHERE id = $1 AND state IN ('queued', 'sending') RETURNING *`,
              [id, reason],
            )
          : one(
              `UPDATE outbox SET state = 'queued', last_error = $2, next_attempt_at = $3, tox_message_id = NULL,
                 updated_at = now()
               WHERE id = $1 AND state IN ('queued', 'sending') RETURNING *`,
              [id, reason, retryAt],
            ),
      );
    },

    requeueSending(accountId, friendPk) {
      return withContext("outbox.requeueSending", ctx(accountId, friendPk), async () => {
        const { rows } = await db.query(
          `UPDATE outbox SET state = 'queued', tox_message_id = NULL, updated_at = now()
           WHERE account_id = $1 AND friend_pk = $2 AND state = 'sending' RETURNING id`,
          [accountId, friendPk],
        );
        return rows.length;
      });
    },

    requeueAllSending() {
      return withContext("outbox.requeueAllSending", {}, async () => {
        const { rows } = await db.query(
          `UPDATE outbox SET state = 'queued', tox_message_id = NULL, updated_at = now()
           WHERE state = 'sending' RETURNING id`,
        );
        return rows.length;
      });
    },

    depth(accountId) {
      return withContext("outbox.depth", { accountId }, async () => {
        const { rows } = await db.query(
          `SELECT state, count(*)::int8 AS n,
             min(created_at) FILTER (WHERE state IN ('queued', 'sending')) AS oldest
           FROM outbox WHERE ($1::int8 IS NULL OR account_id = $1) GROUP BY state`,
          [accountId ?? null],
        );
        const depth: OutboxDepth = {
          queued: 0,
          sending: 0,
          sent: 0,
          delivered: 0,
          failed: 0,
          oldestPendingAt: null,
        };
        for (const row of rows) {
          depth[row.state as OutboxState] = row.n as number;
          const oldest = asDateOrNull(row.oldest);
          if (oldest && (depth.oldestPendingAt === null || oldest < depth.oldestPendingAt))
            depth.oldestPendingAt = oldest;
        }
        return depth;
      });
    },

    prune(before) {
      return withContext("outbox.prune", { before }, async () => {
        const { rows } = await db.query(
          `DELETE FROM outbox WHERE state IN ('sent', 'delivered', 'failed') AND updated_at < $1 RETURNING id`,
          [before],
        );
        return rows.length;
      });
    },
  };
}
