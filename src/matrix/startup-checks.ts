/**
 * Start-up checks the bridge library does not make: that the homeserver answers, accepts our
 * as_token (i.e. has loaded the registration), and can reach the appservice back. A wrong URL or a
 * registration the homeserver never loaded otherwise shows up only as silence when users write.
 */

export class MatrixStartupError extends Error {
  override readonly name = "MatrixStartupError";
  constructor(
    message: string,
    readonly context: { homeserverUrl: string; status?: number; errcode?: string },
    options?: { cause: unknown },
  ) {
    super(message, options);
  }
}

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

async function call(
  homeserverUrl: string,
  method: string,
  path: string,
  asToken: string | undefined,
  body?: unknown,
  timeoutMs = 10_000,
): Promise<Reply> {
  let res: Response;
  try {
    res = await fetch(`${homeserverUrl.replace(/\/+$/, "")}${path}`, {
      method,
      headers: {
        ...(asToken !== undefined ? { Authorization: `Bearer ${asToken}` } : {}),
        ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new MatrixStartupError(
      `Cannot reach the homeserver at ${homeserverUrl} (${method} ${path}): ${(err as Error).message}`,
      { homeserverUrl },
      { cause: err },
    );
  }
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = text === "" ? {} : (JSON.parse(text) as Record<string, unknown>);
  } catch {
    parsed = { raw: text.slice(0, 200) };
  }
  return { status: res.status, body: parsed };
}

/**
 * Checks that the homeserver speaks the Client-Server API and knows our as_token as the appservice
 * whose bot is `botUserId`. Returns the spec versions it supports; throws MatrixStartupError.
 */
export async function checkHomeserver(opts: {
  homeserverUrl: string;
  asToken: string;
  botUserId: string;
}): Promise<{ versions: string[] }> {
  const { homeserverUrl } = opts;
  const versions = await call(homeserverUrl, "GET", "/_matrix/client/versions", undefined);
  if (versions.status !== 200 || !Array.isArray(versions.body.versions)) {
    throw new MatrixStartupError(
      `${homeserverUrl} does not look like a Matrix homeserver (GET /_matrix/client/versions -> ${versions.status})`,
      { homeserverUrl, status: versions.status },
    );
  }
  const who = await call(homeserverUrl, "GET", "/_matrix/client/v3/account/whoami", opts.asToken);
  if (who.status !== 200) {
    const errcode = typeof who.body.errcode === "string" ? who.body.errcode : undefined;
    const hint =
      errcode === "M_UNKNOWN_TOKEN" || errcode === "M_MISSING_TOKEN"
        ? ": the homeserver does not know our as_token; is the registration file listed in its config " +
          "(Synapse: app_service_config_files) and was it restarted after the last change?"
        : "";
    throw new MatrixStartupError(
      `The homeserver refused the appservice token (whoami -> ${who.status} ${errcode ?? ""})${hint}`,
      errcode !== undefined
        ? { homeserverUrl, status: who.status, errcode }
        : { homeserverUrl, status: who.status },
    );
  }
  if (who.body.user_id !== opts.botUserId) {
    throw new MatrixStartupError(
      `The homeserver says our as_token belongs to ${String(who.body.user_id)}, expected ${opts.botUserId}: ` +
        "check sender_localpart and homeserver.domain",
      { homeserverUrl },
    );
  }
  return { versions: versions.body.versions.filter((v): v is string => typeof v === "string") };
}

export type PingResult =
  | { ok: true; durationMs: number }
  /** The homeserver predates the ping endpoint (spec v1.7); nothing is known either way. */
  | { ok: false; unsupported: true; reason: string }
  | { ok: false; unsupported: false; reason: string };

/**
 * Asks the homeserver to call us back (`/_matrix/client/v1/appservice/{id}/ping`), which proves
 * the registration's url and hs_token are right. Never throws: callers log the outcome.
 */
export async function pingFromHomeserver(opts: {
  homeserverUrl: string;
  asToken: string;
  appserviceId: string;
  timeoutMs?: number;
}): Promise<PingResult> {
  const path = `/_matrix/client/v1/appservice/${encodeURIComponent(opts.appserviceId)}/ping`;
  let reply: Reply;
  try {
    reply = await call(
      opts.homeserverUrl,
      "POST",
      path,
      opts.asToken,
      { transaction_id: `startup-${Date.now()}` },
      opts.timeoutMs,
    );
  } catch (err) {
    return { ok: false, unsupported: false, reason: (err as Error).message };
  }
  if (reply.status === 200) {
    const ms = reply.body.duration_ms;
    return { ok: true, durationMs: typeof ms === "number" ? ms : 0 };
  }
  const errcode = typeof reply.body.errcode === "string" ? reply.body.errcode : "";
  if (reply.status === 404 || reply.status === 405 || errcode === "M_UNRECOGNIZED") {
    return { ok: false, unsupported: true, reason: "the homeserver has no appservice ping endpoint" };
  }
  const reasons: Record<string, string> = {
    M_CONNECTION_FAILED: "the homeserver cannot connect to the appservice url in the registration",
    M_CONNECTION_TIMEOUT: "the homeserver timed out connecting to the appservice url in the registration",
    M_BAD_STATUS: `the appservice answered the homeserver with ${String(reply.body.status)} (is hs_token the same in both places?)`,
  };
  return {
    ok: false,
    unsupported: false,
    reason: reasons[errcode] ?? `ping -> ${reply.status} ${errcode}`.trim(),
  };
}
