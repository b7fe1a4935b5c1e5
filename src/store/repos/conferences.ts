/**
 * Tox conferences of each account (migrations/004_conferences.sql): the conference rows with the
 * Tox state to rejoin after a restart, invites waiting for a friend to come online, and the
 * durable queues both ways (outbox: user -> conference; inbox: conference -> user's frontend).
 *
 * Like the inbox, not a field of Store: build it with `createConferencesRepo(db)` over the Db
 * that `openStoreWithDb` returns.
 */
import type { Queryable, Row } from "../db.js";
import type { Network, OutboxKind } from "../types.js";
import { asDate, asDateOrNull, keyHint, withContext } from "./sql.js";

export type ConferenceKind = "text" | "av";

export interface ConferenceRow {
  accountId: number;
  conferenceId: Uint8Array;
  type: ConferenceKind;
  title: string;
  /** The peer list arrived at least once (false right after accepting an invite). */
  joined: boolean;
  /** The Tox layer's restart record (JSON); null until the first one was taken. */
  snapshot: unknown;
  createdAt: Date;
  updatedAt: Date;
}

export interface ConferenceOutboxItem {
  id: number;
  accountId: number;
  conferenceId: Uint8Array;
  kind: OutboxKind;
  body: string;
  sourceNetwork: Network | null;
  sourceEventId: string | null;
  state: "queued" | "sent" | "failed";
  attempts: number;
  lastError: string | null;
  nextAttemptAt: Date | null;
  createdAt: Date;
}

export interface ConferenceInboxItem {
  id: number;
  accountId: number;
  conferenceId: Uint8Array;
  peerPk: Uint8Array;
  peerName: string;
  kind: OutboxKind;
  body: string;
  attempts: number;
  nextAttemptAt: Date | null;
  receivedAt: Date;
}

export interface ConferencesRepo {
  /** Inserts, or updates type/title (and raises `joined`) of an existing row. */
  upsert(row: {
    accountId: number;
    conferenceId: Uint8Array;
    type: ConferenceKind;
    title?: string;
    joined?: boolean;
  }): Promise<ConferenceRow>;
  get(accountId: number, conferenceId: Uint8Array): Promise<ConferenceRow | null>;
  list(accountId: number): Promise<ConferenceRow[]>;
  /** Accounts of this bridge in the conference. */
  accountsIn(conferenceId: Uint8Array): Promise<number[]>;
  update(
    accountId: number,
    conferenceId: Uint8Array,
    change: { title?: string; joined?: boolean; snapshot?: unknown },
  ): Promise<ConferenceRow | null>;
  /** Leaves no trace: invites and queues of the conference go with it. */
  delete(accountId: number, conferenceId: Uint8Array): Promise<boolean>;

  addInvite(accountId: number, conferenceId: Uint8Array, friendPk: Uint8Array): Promise<void>;
  /** Conference ids with an invite waiting for this friend. */
  invitesFor(accountId: number, friendPk: Uint8Array): Promise<Uint8Array[]>;
  deleteInvite(accountId: number, conferenceId: Uint8Array, friendPk: Uint8Array): Promise<void>;

  /** Idempotent on (account, conference, network, event id): `created` false for a redelivery. */
  enqueue(item: {
    accountId: number;
    conferenceId: Uint8Array;
    kind: OutboxKind;
    body: string;
    sourceNetwork: Network | null;
    sourceEventId: string | null;
  }): Promise<{ item: ConferenceOutboxItem; created: boolean }>;
  /** Queued items of one conference whose time has come, in id order. */
  listDue(
    accountId: number,
    conferenceId: Uint8Array,
    now: Date,
    limit: number,
  ): Promise<ConferenceOutboxItem[]>;
  markSent(id: number): Promise<void>;
  markRetry(id: number, reason: string, retryAt: Date): Promise<void>;
  markFailed(id: number, reason: string): Promise<void>;
  /** (account, conference) pairs with queued items. */
  queuedConferences(): Promise<{ accountId: number; conferenceId: Uint8Array }[]>;
  /** Deletes finished items last touched before `before`; how many. */
  prune(before: Date): Promise<number>;

  addInbound(item: {
    accountId: number;
    conferenceId: Uint8Array;
    peerPk: Uint8Array;
    peerName: string;
    kind: OutboxKind;
    body: string;
  }): Promise<ConferenceInboxItem>;
  /** The oldest waiting message of the conference (due or not: order is kept). */
  inboundHead(accountId: number, conferenceId: Uint8Array): Promise<ConferenceInboxItem | null>;
  inboundPending(): Promise<{ accountId: number; conferenceId: Uint8Array }[]>;
  removeInbound(id: number): Promise<void>;
  retryInbound(id: number, reason: string, retryAt: Date): Promise<void>;
  inboundCount(): Promise<number>;
}

function toConference(row: Row): ConferenceRow {
  return {
    accountId: row.account_id as number,
    conferenceId: row.conference_id as Uint8Array,
    type: row.type as ConferenceKind,
    title: row.title as string,
    joined: row.joined as boolean,
    snapshot: parseJson(row.snapshot),
    createdAt: asDate(row.created_at),
    updatedAt: asDate(row.updated_at),
  };
}

function toOutboxItem(row: Row): ConferenceOutboxItem {
  return {
    id: row.id as number,
    accountId: row.account_id as number,
    conferenceId: row.conference_id as Uint8Array,
    kind: row.kind as OutboxKind,
    body: row.body as string,
    sourceNetwork: (row.source_network as Network | null) ?? null,
    sourceEventId: (row.source_event_id as string | null) ?? null,
    state: row.state as ConferenceOutboxItem["state"],
    attempts: row.attempts as number,
    lastError: (row.last_error as string | null) ?? null,
    nextAttemptAt: asDateOrNull(row.next_attempt_at),
    createdAt: asDate(row.created_at),
  };
}

function toInboxItem(row: Row): ConferenceInboxItem {
  return {
    id: row.id as number,
    accountId: row.account_id as number,
    conferenceId: row.conference_id as Uint8Array,
    peerPk: row.peer_pk as Uint8Array,
    peerName: row.peer_name as string,
    kind: row.kind as OutboxKind,
    body: row.body as string,
    attempts: row.attempts as number,
    nextAttemptAt: asDateOrNull(row.next_attempt_at),
    receivedAt: asDate(row.received_at),
  };
}

/** pg returns jsonb parsed, PGlite too; a string would be a driver returning text. */
function parseJson(value: unknown): unknown {
  if (typeof value !== "string") return value ?? null;
  try {
    return JSON.parse(value);
  } catch {
    return null;
  }
}

const pairs = (rows: Row[]) =>
  rows.map((r) => ({ accountId: r.account_id as number, conferenceId: r.conference_id as Uint8Array }));

export function createConferencesRepo(db: Queryable): ConferencesRepo {
  const ctx = (accountId: number, conferenceId: Uint8Array) => ({
    accountId,
    conference: keyHint(conferenceId),
  });
  const one = async <T>(map: (r: Row) => T, sql: string, params: unknown[]): Promise<T | null> => {
    const { rows } = await db.query(sql, params);
    return rows[0] ? map(rows[0]) : null;
  };
  return {
    upsert(r) {
      return withContext("conferences.upsert", ctx(r.accountId, r.conferenceId), async () => {
        const row = await one(
          toConference,
          `INSERT INTO conferences (account_id, conference_id, type, title, joined)
           VALUES ($1, $2, $3, COALESCE($4, ''), COALESCE($5, false))
           ON CONFLICT (account_id, conference_id) DO UPDATE SET
             type = EXCLUDED.type,
             title = COALESCE($4, conferences.title),
             joined = conferences.joined OR COALESCE($5, false),
             updated_at = now()
           RETURNING *`,
          [r.accountId, r.conferenceId, r.type, r.title ?? null, r.joined ?? null],
        );
        return row!;
      });
    },

    get(accountId, conferenceId) {
      return withContext("conferences.get", ctx(accountId, conferenceId), () =>
        one(toConference, "SELECT * FROM conferences WHERE account_id = $1 AND conference_id = $2", [
          accountId,
          conferenceId,
        ]),
      );
    },

    list(accountId) {
      return withContext("conferences.list", { accountId }, async () => {
        const { rows } = await db.query(
          "SELECT * FROM conferences WHERE account_id = $1 ORDER BY created_at, conference_id",
          [accountId],
        );
        return rows.map(toConference);
      });
    },

    accountsIn(conferenceId) {
      return withContext("conferences.accountsIn", { conference: keyHint(conferenceId) }, async () => {
        const { rows } = await db.query(
          "SELECT account_id FROM conferences WHERE conference_id = $1 ORDER BY account_id",
          [conferenceId],
        );
        return rows.map((r) => r.account_id as number);
      });
    },

    update(accountId, conferenceId, change) {
      return withContext("conferences.update", ctx(accountId, conferenceId), () =>
        one(
          toConference,
          `UPDATE conferences SET
             title = COALESCE($3, title),
             joined = COALESCE($4, joined),
             snapshot = CASE WHEN $5::boolean THEN $6::jsonb ELSE snapshot END,
             updated_at = now()
           WHERE account_id = $1 AND conference_id = $2 RETURNING *`,
          [
            accountId,
            conferenceId,
            change.title ?? null,
            change.joined ?? null,
            change.snapshot !== undefined,
            change.snapshot === undefined ? null : JSON.stringify(change.snapshot),
          ],
        ),
      );
    },

    delete(accountId, conferenceId) {
      return withContext("conferences.delete", ctx(accountId, conferenceId), async () => {
        const { rows } = await db.query(
          "DELETE FROM conferences WHERE account_id = $1 AND conference_id = $2 RETURNING account_id",
          [accountId, conferenceId],
        );
        return rows.length > 0;
      });
    },

    addInvite(accountId, conferenceId, friendPk) {
      return withContext("conferences.addInvite", ctx(accountId, conferenceId), async () => {
        await db.query(
          `INSERT INTO conference_invites (account_id, conference_id, friend_pk) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING`,
          [accountId, conferenceId, friendPk],
        );
      });
    },

    invitesFor(accountId, friendPk) {
      return withContext("conferences.invitesFor", { accountId, friend: keyHint(friendPk) }, async () => {
        const { rows } = await db.query(
          "SELECT conference_id FROM conference_invites WHERE account_id = $1 AND friend_pk = $2 ORDER BY created_at",
          [accountId, friendPk],
        );
        return rows.map((r) => r.conference_id as Uint8Array);
      });
    },

    deleteInvite(accountId, conferenceId, friendPk) {
      return withContext("conferences.deleteInvite", ctx(accountId, conferenceId), async () => {
        await db.query(
          "DELETE FROM conference_invites WHERE account_id = $1 AND conference_id = $2 AND friend_pk = $3",
          [accountId, conferenceId, friendPk],
        );
      });
    },

    enqueue(item) {
      return withContext("conferences.enqueue", ctx(item.accountId, item.conferenceId), async () => {
        const inserted = await one(
          toOutboxItem,
          `INSERT INTO conference_outbox (account_id, conference_id, kind, body, source_network, source_event_id)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT ON CONSTRAINT conference_outbox_source_unique DO NOTHING RETURNING *`,
          [item.accountId, item.conferenceId, item.kind, item.body, item.sourceNetwork, item.sourceEventId],
        );
        if (inserted !== null) return { item: inserted, created: true };
        const existing = await one(
          toOutboxItem,
          `SELECT * FROM conference_outbox WHERE account_id = $1 AND conference_id = $2
             AND source_network = $3 AND source_event_id = $4`,
          [item.accountId, item.conferenceId, item.sourceNetwork, item.sourceEventId],
        );
        return { item: existing!, created: false };
      });
    },

    listDue(accountId, conferenceId, now, limit) {
      return withContext("conferences.listDue", ctx(accountId, conferenceId), async () => {
        const { rows } = await db.query(
          `SELECT * FROM conference_outbox WHERE account_id = $1 AND conference_id = $2 AND state = 'queued'
             AND (next_attempt_at IS NULL OR next_attempt_at <= $3) ORDER BY id LIMIT $4`,
          [accountId, conferenceId, now, limit],
        );
        return rows.map(toOutboxItem);
      });
    },

    markSent(id) {
      return withContext("conferences.markSent", { itemId: id }, async () => {
        await db.query(
          "UPDATE conference_outbox SET state = 'sent', attempts = attempts + 1, updated_at = now() WHERE id = $1",
          [id],
        );
      });
    },

    markRetry(id, reason, retryAt) {
      return withContext("conferences.markRetry", { itemId: id }, async () => {
        await db.query(
          `UPDATE conference_outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3,
             updated_at = now() WHERE id = $1`,
          [id, reason, retryAt],
        );
      });
    },

    markFailed(id, reason) {
      return withContext("conferences.markFailed", { itemId: id }, async () => {
        await db.query(
          "UPDATE conference_outbox SET state = 'failed', last_error = $2, updated_at = now() WHERE id = $1",
          [id, reason],
        );
      });
    },

    queuedConferences() {
      return withContext("conferences.queuedConferences", {}, async () => {
        const { rows } = await db.query(
          "SELECT DISTINCT account_id, conference_id FROM conference_outbox WHERE state = 'queued'",
        );
        return pairs(rows);
      });
    },

    prune(before) {
      return withContext("conferences.prune", {}, async () => {
        const { rows } = await db.query(
          "DELETE FROM conference_outbox WHERE state IN ('sent', 'failed') AND updated_at < $1 RETURNING id",
          [before],
        );
        return rows.length;
      });
    },

    addInbound(item) {
      return withContext("conferences.addInbound", ctx(item.accountId, item.conferenceId), async () => {
        const row = await one(
          toInboxItem,
          `INSERT INTO conference_inbox (account_id, conference_id, peer_pk, peer_name, kind, body)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
          [item.accountId, item.conferenceId, item.peerPk, item.peerName, item.kind, item.body],
        );
        return row!;
      });
    },

    inboundHead(accountId, conferenceId) {
      return withContext("conferences.inboundHead", ctx(accountId, conferenceId), () =>
        one(
          toInboxItem,
          "SELECT * FROM conference_inbox WHERE account_id = $1 AND conference_id = $2 ORDER BY id LIMIT 1",
          [accountId, conferenceId],
        ),
      );
    },

    inboundPending() {
      return withContext("conferences.inboundPending", {}, async () => {
        const { rows } = await db.query("SELECT DISTINCT account_id, conference_id FROM conference_inbox");
        return pairs(rows);
      });
    },

    removeInbound(id) {
      return withContext("conferences.removeInbound", { itemId: id }, async () => {
        await db.query("DELETE FROM conference_inbox WHERE id = $1", [id]);
      });
    },

    retryInbound(id, reason, retryAt) {
      return withContext("conferences.retryInbound", { itemId: id }, async () => {
        await db.query(
          "UPDATE conference_inbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3 WHERE id = $1",
          [id, reason, retryAt],
        );
      });
    },

    inboundCount() {
      return withContext("conferences.inboundCount", {}, async () => {
        const { rows } = await db.query("SELECT count(*)::int8 AS n FROM conference_inbox");
        return (rows[0]?.n as number | undefined) ?? 0;
      });
    },
  };
}
