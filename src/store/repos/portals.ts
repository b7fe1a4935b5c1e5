/** Portals: the Matrix room or XMPP JID that stands for a Tox friend or conference. */
import type { Queryable, Row } from "../db.js";
import type { Network, NewPortal, Portal, PortalKind, PortalsRepo } from "../types.js";
import { asDate, keyHint, withContext } from "./sql.js";

function toPortal(row: Row): Portal {
  return {
    id: row.id as number,
    accountId: row.account_id as number,
    kind: row.kind as PortalKind,
    targetKey: row.target_key as Uint8Array,
    network: row.network as Network,
    remoteId: row.remote_id as string,
    createdAt: asDate(row.created_at),
  };
}

export function createPortalsRepo(db: Queryable): PortalsRepo {
  const one = async (sql: string, params: unknown[]): Promise<Portal | null> => {
    const { rows } = await db.query(sql, params);
    return rows[0] ? toPortal(rows[0]) : null;
  };

  return {
    create(portal: NewPortal) {
      const context = {
        accountId: portal.accountId,
        target: `${portal.kind}:${keyHint(portal.targetKey)}`,
        remote: `${portal.network}:${portal.remoteId}`,
      };
      return withContext("portals.create", context, async () => {
        const { rows } = await db.query(
          `INSERT INTO portals (account_id, kind, target_key, network, remote_id)
           VALUES ($1, $2, $3, $4, $5) RETURNING *`,
          [portal.accountId, portal.kind, portal.targetKey, portal.network, portal.remoteId],
        );
        return toPortal(rows[0]!);
      });
    },

    get(id) {
      return withContext("portals.get", { portalId: id }, () =>
        one("SELECT * FROM portals WHERE id = $1", [id]),
      );
    },

    getByRemote(network, remoteId) {
      return withContext("portals.getByRemote", { remote: `${network}:${remoteId}` }, () =>
        one("SELECT * FROM portals WHERE network = $1 AND remote_id = $2", [network, remoteId]),
      );
    },

    getByTarget(accountId, kind, targetKey, network) {
      return withContext(
        "portals.getByTarget",
        { accountId, target: `${kind}:${keyHint(targetKey)}`, network },
        () =>
          one(
            "SELECT * FROM portals WHERE account_id = $1 AND kind = $2 AND target_key = $3 AND network = $4",
            [accountId, kind, targetKey, network],
          ),
      );
    },

    listForAccount(accountId, network) {
      return withContext("portals.listForAccount", { accountId, network }, async () => {
        const { rows } =
          network === undefined
            ? await db.query("SELECT * FROM portals WHERE account_id = $1 ORDER BY id", [accountId])
            : await db.query("SELECT * FROM portals WHERE account_id = $1 AND network = $2 ORDER BY id", [
                accountId,
                network,
              ]);
        return rows.map(toPortal);
      });
    },

    delete(id) {
      return withContext("portals.delete", { portalId: id }, async () => {
        const { rows } = await db.query("DELETE FROM portals WHERE id = $1 RETURNING id", [id]);
        return rows.length > 0;
      });
    },
  };
}
