/**
 * Questions about a whole source event in the outbox (one Matrix/XMPP event may be split into
 * several Tox messages, one row per part). Kept apart from the outbox repository so it can grow
 * without touching it; build it with `createOutboxEventsRepo(db)`.
 */
import type { Queryable } from "../db.js";
import type { Network } from "../types.js";
import { keyHint, withContext } from "./sql.js";

export interface OutboxEventsRepo {
  /** Every (account, friend) with at least one queued item, in one query (the retry sweep). */
  queuedFriends(): Promise<{ accountId: number; friendPk: Uint8Array }[]>;
  /** Parts of this source event not yet delivered (queued or sending). */
  pendingParts(accountId: number, friendPk: Uint8Array, network: Network, eventId: string): Promise<number>;
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
