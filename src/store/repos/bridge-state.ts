/** Bridge-wide JSON key/value state. */
import type { Queryable } from "../db.js";
import { StoreError } from "../errors.js";
import type { BridgeStateRepo } from "../types.js";
import { withContext } from "./sql.js";

/** Sent as text and cast in SQL, so neither driver re-encodes the JSON. */
function toJson(op: string, key: string, value: unknown): string {
  const json = JSON.stringify(value);
  if (json === undefined)
    throw new StoreError(`${op}: value for ${key} is not JSON-serialisable`, { op, key });
  return json;
}

export function createBridgeStateRepo(db: Queryable): BridgeStateRepo {
  return {
    get<T = unknown>(key: string) {
      return withContext("bridgeState.get", { key }, async () => {
        const { rows } = await db.query("SELECT value FROM bridge_state WHERE key = $1", [key]);
        return rows[0] ? (rows[0].value as T) : null;
      });
    },

    set(key, value) {
      return withContext("bridgeState.set", { key }, async () => {
        await db.query(
          `INSERT INTO bridge_state (key, value) VALUES ($1, $2::text::jsonb)
           ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`,
          [key, toJson("bridgeState.set", key, value)],
        );
      });
    },

    setIfAbsent(key, value) {
      return withContext("bridgeState.setIfAbsent", { key }, async () => {
        const { rows } = await db.query(
          `INSERT INTO bridge_state (key, value) VALUES ($1, $2::text::jsonb)
           ON CONFLICT (key) DO NOTHING RETURNING key`,
          [key, toJson("bridgeState.setIfAbsent", key, value)],
        );
        return rows.length > 0;
      });
    },

    delete(key) {
      return withContext("bridgeState.delete", { key }, async () => {
        const { rows } = await db.query("DELETE FROM bridge_state WHERE key = $1 RETURNING key", [key]);
        return rows.length > 0;
      });
    },
  };
}
