/** Ids of Matrix/XMPP events already handled: redelivered transactions and stanzas are no-ops. */
import type { Queryable } from "../db.js";
import type { ProcessedEventsRepo } from "../types.js";
import { withContext } from "./sql.js";

export function createProcessedEventsRepo(db: Queryable): ProcessedEventsRepo {
  return {
    markProcessed(network, eventId) {
      return withContext("processedEvents.markProcessed", { network, eventId }, async () => {
        const { rows } = await db.query(
          `INSERT INTO processed_events (network, event_id) VALUES ($1, $2)
           ON CONFLICT ON CONSTRAINT processed_events_pkey DO NOTHING RETURNING event_id`,
          [network, eventId],
        );
        return rows.length > 0;
      });
    },

    has(network, eventId) {
      return withContext("processedEvents.has", { network, eventId }, async () => {
        const { rows } = await db.query(
          "SELECT 1 FROM processed_events WHERE network = $1 AND event_id = $2",
          [network, eventId],
        );
        return rows.length > 0;
      });
    },

    prune(before) {
      return withContext("processedEvents.prune", { before }, async () => {
        const { rows } = await db.query(
          "DELETE FROM processed_events WHERE processed_at < $1 RETURNING event_id",
          [before],
        );
        return rows.length;
      });
    },
  };
}
