/**
 * The provisioning API: lets an integration manager or a web page manage a Matrix user's Tox
 * account without talking to the bot. JSON over HTTP on the bridge's port, authenticated with a
 * shared bearer secret (`appservice.provisioning_secret`); the Matrix user is named in the
 * `user_id` query parameter, as in other bridges' provisioning APIs, and must be permitted by
 * `bridge.permissions`.
 *
 *   GET  {prefix}/status?user_id=@alice:example.org   -> { user_id, permission, account | null }
 *   POST {prefix}/create?user_id=...                  -> 201 { account }
 *   GET  {prefix}/friends?user_id=...                 -> { friends: [...] }
 *   POST {prefix}/friends?user_id=...  {tox_id, message?} -> 201 { friend }
 *
 * Errors are `{ errcode, error }` with a status that says what went wrong (CoreError codes map
 * to 400/404/409), never an HTML page.
 */
import { timingSafeEqual } from "node:crypto";
import express, { type NextFunction, type Request, type Response } from "express";
import { type PermissionLevel, permissionFor } from "../config/permissions.js";
import type { Accounts } from "../core/accounts.js";
import type { Contacts } from "../core/contacts.js";
import { CoreError, type CoreErrorCode } from "../core/errors.js";
import type { CoreApi, FriendView, Owner } from "../core/frontend.js";
import type { Logger } from "../logger.js";

export const PROVISIONING_PREFIX = "/_toxbridge/provision/v1";

/** What the API needs of the core: the CoreApi plus account creation and friend requests. */
export interface ProvisioningCore extends Pick<CoreApi, "account" | "friends"> {
  accounts: Pick<Accounts, "create" | "profile">;
  contacts: Pick<Contacts, "add">;
}

export interface ProvisioningOptions {
  core: ProvisioningCore;
  secret: string;
  permissions: Readonly<Record<string, PermissionLevel>>;
  log: Logger;
}

const STATUS_OF: Record<CoreErrorCode, number> = {
  "no-account": 404,
  "account-exists": 409,
  "bad-tox-id": 400,
  "own-tox-id": 400,
  "already-friend": 409,
  "unknown-friend": 404,
  "ambiguous-friend": 400,
  "not-permitted": 403,
  "bad-argument": 400,
  "empty-message": 400,
  "unknown-conference": 404,
};

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly errcode: string,
    message: string,
  ) {
    super(message);
  }
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function friendJson(f: FriendView) {
  return {
    public_key: f.publicKey,
    state: f.state,
    name: f.name,
    status_message: f.statusMessage,
    online: f.online,
    status: f.status,
    last_seen: f.lastSeenAt?.toISOString() ?? null,
  };
}

export function provisioningRouter(opts: ProvisioningOptions): express.Router {
  const router = express.Router();
  const { core } = opts;

  router.use(PROVISIONING_PREFIX, (req: Request, res: Response, next: NextFunction) => {
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? "");
    if (!m) {
      res
        .status(401)
        .json({ errcode: "M_MISSING_TOKEN", error: "Missing provisioning secret (Authorization: Bearer)" });
      return;
    }
    if (!sameSecret(m[1] ?? "", opts.secret)) {
      res.status(403).json({ errcode: "M_UNKNOWN_TOKEN", error: "Wrong provisioning secret" });
      return;
    }
    next();
  });
  router.use(PROVISIONING_PREFIX, express.json({ limit: "16kb" }));

  /** The permitted Matrix user the request is about. */
  const userOf = (req: Request): { owner: Owner; permission: PermissionLevel } => {
    const userId = req.query.user_id;
    if (typeof userId !== "string" || !/^@[^:\s]+:\S+$/.test(userId))
      throw new ApiError(
        400,
        "M_INVALID_PARAM",
        "user_id must be a Matrix user id such as @alice:example.org",
      );
    const permission = permissionFor(opts.permissions, userId);
    if (permission === null)
      throw new ApiError(403, "M_FORBIDDEN", `${userId} is not permitted to use this bridge`);
    return { owner: { kind: "matrix", id: userId }, permission };
  };

  const handle =
    (fn: (req: Request) => Promise<{ status?: number; body: unknown }>) => (req: Request, res: Response) => {
      fn(req).then(
        ({ status, body }) => res.status(status ?? 200).json(body),
        (err: unknown) => {
          if (err instanceof ApiError) {
            res.status(err.status).json({ errcode: err.errcode, error: err.message });
          } else if (err instanceof CoreError) {
            res
              .status(STATUS_OF[err.code])
              .json({ errcode: `TOX_${err.code.toUpperCase().replace(/-/g, "_")}`, error: err.message });
          } else {
            opts.log.error({ err, path: req.path }, "provisioning request failed");
            res.status(500).json({ errcode: "M_UNKNOWN", error: "Internal error" });
          }
        },
      );
    };

  const accountJson = async (owner: Owner) => {
    if ((await core.account(owner)) === null) return null;
    const p = await core.accounts.profile(owner);
    return {
      tox_id: p.toxId,
      public_key: p.publicKey,
      name: p.name,
      status_message: p.statusMessage,
      presence: p.presence,
    };
  };

  router.get(
    `${PROVISIONING_PREFIX}/status`,
    handle(async (req) => {
      const { owner, permission } = userOf(req);
      return { body: { user_id: owner.id, permission, account: await accountJson(owner) } };
    }),
  );
  router.post(
    `${PROVISIONING_PREFIX}/create`,
    handle(async (req) => {
      const { owner } = userOf(req);
      await core.accounts.create(owner);
      return { status: 201, body: { account: await accountJson(owner) } };
    }),
  );
  router.get(
    `${PROVISIONING_PREFIX}/friends`,
    handle(async (req) => {
      const { owner } = userOf(req);
      return { body: { friends: (await core.friends(owner)).map(friendJson) } };
    }),
  );
  router.post(
    `${PROVISIONING_PREFIX}/friends`,
    handle(async (req) => {
      const { owner } = userOf(req);
      const body = (req.body ?? {}) as { tox_id?: unknown; message?: unknown };
      if (typeof body.tox_id !== "string")
        throw new ApiError(400, "M_BAD_JSON", "tox_id (string) is required");
      if (body.message !== undefined && typeof body.message !== "string")
        throw new ApiError(400, "M_BAD_JSON", "message must be a string");
      const friend = await core.contacts.add(owner, body.tox_id, body.message);
      return { status: 201, body: { friend: friendJson(friend) } };
    }),
  );
  router.use(PROVISIONING_PREFIX, (err: unknown, _req: Request, res: Response, next: NextFunction) => {
    const e = err as { type?: string };
    if (e?.type === "entity.parse.failed") {
      res.status(400).json({ errcode: "M_NOT_JSON", error: "Content not JSON." });
      return;
    }
    next(err);
  });
  router.use(PROVISIONING_PREFIX, (_req: Request, res: Response) => {
    res.status(404).json({ errcode: "M_UNRECOGNIZED", error: "Unknown provisioning endpoint" });
  });
  return router;
}
