/**
 * Outbox operations over many rows at once, which the delivery engine needs for throughput:
 * whole source events (one Matrix/XMPP event may be split into several Tox messages, one row
 * per part), every queued friend, a batch handed to Tox. Kept apart from the outbox repository
 * so it can grow without touching it; build it with `createOutboxEventsRepo(db)`.
 */
import type { Queryable } from "../db.js";
import { StoreError } from "../errors.js";
import type { Network, NewOutboxItem, OutboxItem } from "../types.js";
import { toItem } from "./outbox.js";
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
  /**
   * Enqueues many items in ONE statement (so one commit): a whole appservice transaction. Items
   * go in in array order (ids follow it, which is the delivery order per friend). For each input
   * item, in order: `friend: false` when (account, friend) is not a friend row (nothing written);
   * otherwise `item` is the new row, or null when the same source event part was queued before
   * (idempotent redelivery). Like `OutboxRepo.enqueue`, `notBefore` is not supported here.
   */
  enqueueMany(items: readonly NewOutboxItem[]): Promise<EnqueuedItem[]>;
  /**
   * Read receipts of many Tox message ids of one friend at once, as `deliver` does for one:
   * sending -> delivered (per id the oldest sending row, so a repeated id is not applied twice),
   * each with the parts of its source event still pending after the whole batch. In id order.
   */
  deliverMany(
    accountId: number,
    friendPk: Uint8Array,
    toxMessageIds: readonly number[],
  ): Promise<DeliveredItem[]>;
  /** The first `limit` queued items of a friend in id order, due or not (the pump cuts). */
  listQueued(accountId: number, friendPk: Uint8Array, limit: number): Promise<OutboxItem[]>;
  /** Parts of this source event not yet delivered (queued or sending). */
  pendingParts(accountId: number, friendPk: Uint8Array, network: Network, eventId: string): Promise<number>;
}

export type EnqueuedItem = { friend: false } | { friend: true; item: OutboxItem | null };

export interface DeliveredItem {
  id: number;
  toxMessageId?: number;
  sourceNetwork: Network | null;
  sourceEventId: string | null;
  /** Other parts of the same source event not yet delivered (0 without a source event). */
  pendingParts: number;
}

/** enqueueMany's statement: rows of friends only (the foreign key would fail them all), in order. */
const ENQUEUE_MANY = `
  INSERT INTO outbox (account_id, friend_pk, kind, body, source_network, source_event_id, part)
  SELECT v.account_id, decode(v.friend_hex, 'hex'), v.kind, v.body, v.source_network, v.source_event_id, v.part
  FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int4[])
    WITH ORDINALITY AS v(account_id, friend_hex, kind, body, source_network, source_event_id, part, ord)
  WHERE EXISTS (SELECT 1 FROM friends f
                WHERE f.account_id = v.account_id AND f.public_key = decode(v.friend_hex, 'hex'))
  ORDER BY v.ord
  ON CONFLICT ON CONSTRAINT outbox_source_unique DO NOTHING RETURNING *`;

/** The same for one row. */
const ENQUEUE_ONE = `
  INSERT INTO outbox (account_id, friend_pk, kind, body, source_network, source_event_id, part)
  SELECT $1::int8, $2::bytea, $3::text, $4::text, $5::text, $6::text, $7::int4
  WHERE EXISTS (SELECT 1 FROM friends f WHERE f.account_id = $1::int8 AND f.public_key = $2::bytea)
  ON CONFLICT ON CONSTRAINT outbox_source_unique DO NOTHING RETURNING *`;

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

    enqueueMany(items) {
      return withContext("outboxEvents.enqueueMany", { n: items.length }, async () => {
        if (items.length === 0) return [];
        for (const item of items) {
          if ((item.sourceNetwork == null) !== (item.sourceEventId == null))
            throw new StoreError(
              "outbox.enqueueMany: sourceNetwork and sourceEventId must be given together",
              {
                sourceEventId: item.sourceEventId ?? null,
              },
            );
          if (item.notBefore !== undefined)
            throw new StoreError("outbox.enqueueMany: notBefore is not supported", {});
        }
        // One statement, so one commit for the whole batch; ids follow the input order.
        const hexes = items.map((i) => Buffer.from(i.friendPk).toString("hex"));
        const [only] = items;
        // One row (a lone message, the latency case) plans faster without the arrays.
        const { rows } =
          items.length === 1 && only !== undefined
            ? await db.query(ENQUEUE_ONE, [
                only.accountId,
                only.friendPk,
                only.kind ?? "normal",
                only.body,
                only.sourceNetwork ?? null,
                only.sourceEventId ?? null,
                only.part ?? 0,
              ])
            : await db.query(ENQUEUE_MANY, [
                items.map((i) => i.accountId),
                hexes,
                items.map((i) => i.kind ?? "normal"),
                items.map((i) => i.body),
                items.map((i) => i.sourceNetwork ?? null),
                items.map((i) => i.sourceEventId ?? null),
                items.map((i) => i.part ?? 0),
              ]);
        // Match each input to the row it created. With a source event id the row's key says it
        // (a repeat of the key in the batch created nothing); without one, rows never conflict,
        // so a pair's such rows in id order are its such inputs in input order.
        const created = rows.map(toItem).sort((a, b) => a.id - b.id);
        const pairOf = (accountId: number, hex: string) => `${accountId}:${hex}`;
        const bySource = new Map<string, OutboxItem>();
        const unsourced = new Map<string, OutboxItem[]>();
        const pairsWritten = new Set<string>();
        for (const item of created) {
          const pair = pairOf(item.accountId, Buffer.from(item.friendPk).toString("hex"));
          pairsWritten.add(pair);
          if (item.sourceEventId === null) unsourced.set(pair, [...(unsourced.get(pair) ?? []), item]);
          else bySource.set(`${pair}:${item.sourceNetwork}:${item.sourceEventId}:${item.part}`, item);
        }
        // A pair with nothing written is either not a friend or wholly redelivered: ask (rare).
        const unknownPairs = new Map<string, { accountId: number; hex: string }>();
        for (const [i, item] of items.entries()) {
          const pair = pairOf(item.accountId, hexes[i] ?? "");
          if (!pairsWritten.has(pair))
            unknownPairs.set(pair, { accountId: item.accountId, hex: hexes[i] ?? "" });
        }
        const friendPairs = new Set(pairsWritten);
        if (unknownPairs.size > 0) {
          const asked = [...unknownPairs.values()];
          const found = await db.query(
            `SELECT f.account_id, encode(f.public_key, 'hex') AS hex FROM friends f
             JOIN unnest($1::int8[], $2::text[]) AS p(account_id, hex)
               ON f.account_id = p.account_id AND f.public_key = decode(p.hex, 'hex')`,
            [asked.map((p) => p.accountId), asked.map((p) => p.hex)],
          );
          for (const row of found.rows) friendPairs.add(pairOf(row.account_id as number, row.hex as string));
        }
        return items.map((item, i): EnqueuedItem => {
          const pair = pairOf(item.accountId, hexes[i] ?? "");
          if (!friendPairs.has(pair)) return { friend: false };
          if (item.sourceEventId == null) return { friend: true, item: unsourced.get(pair)?.shift() ?? null };
          const key = `${pair}:${item.sourceNetwork}:${item.sourceEventId}:${item.part ?? 0}`;
          const row = bySource.get(key) ?? null;
          bySource.delete(key); // a repeat of the key in this batch created nothing
          return { friend: true, item: row };
        });
      });
    },

    deliverMany(accountId, friendPk, toxMessageIds) {
      return withContext(
        "outboxEvents.deliverMany",
        { accountId, friend: keyHint(friendPk), n: toxMessageIds.length },
        async () => {
          if (toxMessageIds.length === 0) return [];
          // The outer SELECT sees the rows as before the UPDATE: parts delivered by this same batch
          // still look pending there, hence `NOT IN d`.
          const { rows } = await db.query(
            `WITH target AS (
               SELECT DISTINCT ON (tox_message_id) id FROM outbox
               WHERE account_id = $1 AND friend_pk = $2 AND state = 'sending' AND tox_message_id = ANY($3::int8[])
               ORDER BY tox_message_id, id),
             d AS (
               UPDATE outbox SET state = 'delivered', last_error = NULL, updated_at = now()
               WHERE state = 'sending' AND id IN (SELECT id FROM target)
               RETURNING id, account_id, friend_pk, source_network, source_event_id, tox_message_id)
             SELECT d.id, d.source_network, d.source_event_id, d.tox_message_id,
               (SELECT count(*) FROM outbox o
                WHERE d.source_event_id IS NOT NULL AND o.account_id = d.account_id
                  AND o.friend_pk = d.friend_pk AND o.source_network = d.source_network
                  AND o.source_event_id = d.source_event_id AND o.id NOT IN (SELECT id FROM d)
                  AND o.state IN ('queued', 'sending'))::int8 AS pending_parts
             FROM d ORDER BY d.id`,
            [accountId, friendPk, [...toxMessageIds]],
          );
          return rows.map((row) => ({
            id: row.id as number,
            toxMessageId: row.tox_message_id as number,
            sourceNetwork: (row.source_network as Network | null) ?? null,
            sourceEventId: (row.source_event_id as string | null) ?? null,
            pendingParts: row.pending_parts as number,
          }));
        },
      );
    },

    listQueued(accountId, friendPk, limit) {
      return withContext("outboxEvents.listQueued", { accountId, friend: keyHint(friendPk) }, async () => {
        const { rows } = await db.query(
          `SELECT * FROM outbox WHERE account_id = $1 AND friend_pk = $2 AND state = 'queued'
           ORDER BY id LIMIT $3`,
          [accountId, friendPk, limit],
        );
        return rows.map(toItem);
      });
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
