/**
 * Marking a portal as a DM in the user's own account data (`m.direct`), which only the user can
 * write. The invite already carries `is_direct: true`, and clients that honour it list the room
 * as a DM; some only look at `m.direct`. An appservice may act only as users in its namespace, and
 * bridged users are not, so the one standard-compatible way in is a login for the user:
 *
 * With `matrix.login_shared_secret` set to the secret of the homeserver's shared-secret login
 * module (devture's matrix-synapse-shared-secret-auth, login type `com.devture.shared_secret_auth`,
 * the way mautrix bridges did double puppeting before appservice-token puppeting), the bridge
 * logs in as the user with token = HMAC-SHA512(secret, user id), reads `m.direct`, adds the portal
 * under the ghost's id, writes it back and logs out again (no device is left behind). Only users
 * of the bridge's own homeserver can be logged in this way; others are skipped, as is everything
 * when no secret is configured. Failures are logged and never block the portal.
 */
import { createHmac } from "node:crypto";
import type { Logger } from "../logger.js";

export const SHARED_SECRET_LOGIN_TYPE = "com.devture.shared_secret_auth";

export interface DoublePuppetOptions {
  homeserverUrl: string;
  /** server_name: only users of this server are logged in. */
  domain: string;
  sharedSecret: string;
  log: Logger;
  /** Per request. Default 10 s. */
  timeoutMs?: number;
}

/** The login token the shared-secret module expects for a user. */
export function sharedSecretToken(secret: string, userId: string): string {
  return createHmac("sha512", secret).update(userId, "utf8").digest("hex");
}

export class DoublePuppet {
  private readonly base: string;

  constructor(private readonly opts: DoublePuppetOptions) {
    this.base = opts.homeserverUrl.replace(/\/+$/, "");
  }

  /** Whether this user can be logged in (a user of our own homeserver). */
  covers(userId: string): boolean {
    return userId.endsWith(`:${this.opts.domain}`);
  }

  /** Adds `roomId` as a DM with `otherUserId` to `userId`'s m.direct; false when skipped or failed. */
  async markDirect(userId: string, otherUserId: string, roomId: string): Promise<boolean> {
    if (!this.covers(userId)) return false;
    let token: string | undefined;
    try {
      token = await this.login(userId);
      const path = `/_matrix/client/v3/user/${encodeURIComponent(userId)}/account_data/m.direct`;
      const current = await this.request("GET", path, token, undefined, [404]);
      const direct: Record<string, unknown> =
        current !== null && typeof current === "object" && !Array.isArray(current) ? { ...current } : {};
      const rooms = Array.isArray(direct[otherUserId])
        ? (direct[otherUserId] as unknown[]).filter((r) => typeof r === "string")
        : [];
      if (rooms.includes(roomId)) return true;
      direct[otherUserId] = [...rooms, roomId];
      await this.request("PUT", path, token, direct);
      this.opts.log.debug({ userId, roomId }, "Matrix: portal added to the user's m.direct");
      return true;
    } catch (err) {
      this.opts.log.warn(
        { userId, roomId, err: (err as Error).message },
        "Matrix: could not add the portal to the user's m.direct (double puppeting)",
      );
      return false;
    } finally {
      if (token !== undefined)
        await this.request("POST", "/_matrix/client/v3/logout", token, {}).catch(() => undefined);
    }
  }

  private async login(userId: string): Promise<string> {
    const res = (await this.request("POST", "/_matrix/client/v3/login", undefined, {
      type: SHARED_SECRET_LOGIN_TYPE,
      identifier: { type: "m.id.user", user: userId },
      token: sharedSecretToken(this.opts.sharedSecret, userId),
      initial_device_display_name: "Tox bridge (m.direct)",
    })) as { access_token?: unknown } | null;
    if (typeof res?.access_token !== "string") throw new Error("login answer without access_token");
    return res.access_token;
  }

  /** One Client-Server call; a status in `allow` answers null, other non-2xx throw. */
  private async request(
    method: string,
    path: string,
    token: string | undefined,
    body?: unknown,
    allow: number[] = [],
  ): Promise<unknown> {
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: {
        ...(token === undefined ? {} : { Authorization: `Bearer ${token}` }),
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
    });
    const text = await res.text();
    if (allow.includes(res.status)) return null;
    if (!res.ok) {
      let errcode = "";
      try {
        errcode = String((JSON.parse(text) as { errcode?: unknown }).errcode ?? "");
      } catch {}
      throw new Error(`${method} ${path.split("?")[0]}: HTTP ${res.status} ${errcode}`.trim());
    }
    return text === "" ? null : JSON.parse(text);
  }
}
