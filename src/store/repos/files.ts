/**
 * File transfers between bridged users and their Tox friends (migrations/003_files.sql): what
 * each spooled file is and how far it got, so transfers survive disconnects and restarts.
 *
 * Not a field of Store (like the inbox): build it with `createFileTransfersRepo(db)`.
 */
import type { Queryable, Row } from "../db.js";
import type { Network } from "../types.js";
import { asDate, asDateOrNull, keyHint, setClause, withContext } from "./sql.js";

export type FileTransferDirection = "in" | "out";
export type FileTransferState = "receiving" | "received" | "queued" | "sending";

export interface FileTransfer {
  id: number;
  accountId: number;
  friendPk: Uint8Array;
  direction: FileTransferDirection;
  state: FileTransferState;
  fileId: Uint8Array;
  fileName: string;
  size: number;
  mimeType: string;
  path: string;
  transferred: number;
  sourceNetwork: Network | null;
  sourceEventId: string | null;
  attempts: number;
  lastError: string | null;
  nextAttemptAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewFileTransfer {
  accountId: number;
  friendPk: Uint8Array;
  direction: FileTransferDirection;
  state: FileTransferState;
  fileId: Uint8Array;
  fileName: string;
  size: number;
  mimeType?: string;
  path: string;
  source?: { network: Network; eventId: string };
}

export interface FileTransferUpdate {
  state?: FileTransferState;
  transferred?: number;
  mimeType?: string;
  path?: string;
  lastError?: string | null;
  nextAttemptAt?: Date | null;
}

export interface FileTransfersRepo {
  /** Inserts; with a source already recorded for the account, returns that row and created=false. */
  add(t: NewFileTransfer): Promise<{ transfer: FileTransfer; created: boolean }>;
  get(id: number): Promise<FileTransfer | null>;
  /** The transfer recorded for this frontend event, if any. */
  bySource(accountId: number, network: Network, eventId: string): Promise<FileTransfer | null>;
  /** A partly received file from this friend with this Tox file id (to resume it). */
  findReceiving(accountId: number, friendPk: Uint8Array, fileId: Uint8Array): Promise<FileTransfer | null>;
  /** One friend's transfers of a direction in these states, oldest first. */
  forFriend(
    accountId: number,
    friendPk: Uint8Array,
    direction: FileTransferDirection,
    states: FileTransferState[],
  ): Promise<FileTransfer[]>;
  /** Every transfer in these states, oldest first. */
  inStates(states: FileTransferState[]): Promise<FileTransfer[]>;
  update(id: number, update: FileTransferUpdate, now: Date): Promise<FileTransfer | null>;
  /** attempts + 1, the error, and the time of the next try. */
  markRetry(id: number, reason: string, retryAt: Date, now: Date): Promise<FileTransfer | null>;
  remove(id: number): Promise<boolean>;
  /** After a restart nothing is on the wire: every `sending` row is `queued` again. Count. */
  requeueSending(): Promise<number>;
}

function toTransfer(row: Row): FileTransfer {
  return {
    id: row.id as number,
    accountId: row.account_id as number,
    friendPk: row.friend_pk as Uint8Array,
    direction: row.direction as FileTransferDirection,
    state: row.state as FileTransferState,
    fileId: row.file_id as Uint8Array,
    fileName: row.file_name as string,
    size: row.size as number,
    mimeType: row.mime_type as string,
    path: row.path as string,
    transferred: row.transferred as number,
    sourceNetwork: (row.source_network as Network | null) ?? null,
    sourceEventId: (row.source_event_id as string | null) ?? null,
    attempts: row.attempts as number,
    lastError: (row.last_error as string | null) ?? null,
    nextAttemptAt: asDateOrNull(row.next_attempt_at),
    createdAt: asDate(row.created_at),
    updatedAt: asDate(row.updated_at),
  };
}

const UPDATE_COLUMNS = {
  state: "state",
  transferred: "transferred",
  mimeType: "mime_type",
  path: "path",
  lastError: "last_error",
  nextAttemptAt: "next_attempt_at",
};

export function createFileTransfersRepo(db: Queryable): FileTransfersRepo {
  const one = async (sql: string, params: unknown[]): Promise<FileTransfer | null> => {
    const { rows } = await db.query(sql, params);
    return rows[0] ? toTransfer(rows[0]) : null;
  };
  const many = async (sql: string, params: unknown[]): Promise<FileTransfer[]> =>
    (await db.query(sql, params)).rows.map(toTransfer);
  return {
    add(t) {
      return withContext(
        "fileTransfers.add",
        { accountId: t.accountId, friend: keyHint(t.friendPk), direction: t.direction },
        async () => {
          const added = await one(
            `INSERT INTO file_transfers (account_id, friend_pk, direction, state, file_id, file_name, size,
               mime_type, path, source_network, source_event_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT ON CONSTRAINT file_transfers_source_unique DO NOTHING
             RETURNING *`,
            [
              t.accountId,
              t.friendPk,
              t.direction,
              t.state,
              t.fileId,
              t.fileName,
              t.size,
              t.mimeType ?? "application/octet-stream",
              t.path,
              t.source?.network ?? null,
              t.source?.eventId ?? null,
            ],
          );
          if (added !== null) return { transfer: added, created: true };
          const existing = await one(
            `SELECT * FROM file_transfers WHERE account_id = $1 AND source_network = $2 AND source_event_id = $3`,
            [t.accountId, t.source?.network ?? null, t.source?.eventId ?? null],
          );
          if (existing === null) throw new Error("file transfer insert conflicted but no row was found");
          return { transfer: existing, created: false };
        },
      );
    },

    get(id) {
      return withContext("fileTransfers.get", { transferId: id }, () =>
        one("SELECT * FROM file_transfers WHERE id = $1", [id]),
      );
    },

    bySource(accountId, network, eventId) {
      return withContext("fileTransfers.bySource", { accountId, network, eventId }, () =>
        one(
          "SELECT * FROM file_transfers WHERE account_id = $1 AND source_network = $2 AND source_event_id = $3",
          [accountId, network, eventId],
        ),
      );
    },

    findReceiving(accountId, friendPk, fileId) {
      return withContext("fileTransfers.findReceiving", { accountId, friend: keyHint(friendPk) }, () =>
        one(
          `SELECT * FROM file_transfers WHERE account_id = $1 AND friend_pk = $2 AND file_id = $3
             AND direction = 'in' AND state = 'receiving' ORDER BY id LIMIT 1`,
          [accountId, friendPk, fileId],
        ),
      );
    },

    forFriend(accountId, friendPk, direction, states) {
      return withContext("fileTransfers.forFriend", { accountId, friend: keyHint(friendPk), direction }, () =>
        many(
          `SELECT * FROM file_transfers WHERE account_id = $1 AND friend_pk = $2 AND direction = $3
             AND state = ANY($4::text[]) ORDER BY id`,
          [accountId, friendPk, direction, states],
        ),
      );
    },

    inStates(states) {
      return withContext("fileTransfers.inStates", { states }, () =>
        many("SELECT * FROM file_transfers WHERE state = ANY($1::text[]) ORDER BY id", [states]),
      );
    },

    update(id, update, now) {
      return withContext("fileTransfers.update", { transferId: id }, async () => {
        const set = setClause(update as Record<string, unknown>, UPDATE_COLUMNS, 3);
        const sql = set.sql === "" ? "updated_at = $2" : `${set.sql}, updated_at = $2`;
        return one(`UPDATE file_transfers SET ${sql} WHERE id = $1 RETURNING *`, [id, now, ...set.params]);
      });
    },

    markRetry(id, reason, retryAt, now) {
      return withContext("fileTransfers.markRetry", { transferId: id, reason }, () =>
        one(
          `UPDATE file_transfers SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3,
             updated_at = $4 WHERE id = $1 RETURNING *`,
          [id, reason, retryAt, now],
        ),
      );
    },

    remove(id) {
      return withContext("fileTransfers.remove", { transferId: id }, async () => {
        const { rows } = await db.query("DELETE FROM file_transfers WHERE id = $1 RETURNING id", [id]);
        return rows.length > 0;
      });
    },

    requeueSending() {
      return withContext("fileTransfers.requeueSending", {}, async () => {
        const { rows } = await db.query(
          "UPDATE file_transfers SET state = 'queued' WHERE state = 'sending' RETURNING id",
        );
        return rows.length;
      });
    },
  };
}
