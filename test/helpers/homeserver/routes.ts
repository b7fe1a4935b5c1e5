/**
 * The Client-Server (v3) and media endpoints a bridge uses, over HomeserverState. Bodies are read
 * raw and parsed here so that broken JSON gets the spec's M_NOT_JSON and wrong shapes M_BAD_JSON.
 */
import express, { type NextFunction, type Request, type Response } from "express";
import { MatrixApiError, MatrixErrors } from "./errors.js";
import type { JsonObject } from "./rooms.js";
import type { CreateRoomRequest, HomeserverState, Requester } from "./state.js";

export interface Fault {
  remaining: number;
  status: number;
  errcode: string;
  match?: (req: FaultRequest) => boolean;
}

/** What a fault matcher sees of a request (before authentication runs). */
export interface FaultRequest {
  method: string;
  path: string;
  /** The request carries the appservice's as_token (header or query). */
  appservice: boolean;
  /** The `user_id` query parameter of an appservice request. */
  assertedUserId: string | undefined;
}

export interface RequestLogEntry {
  method: string;
  path: string;
  userId?: string;
  appservice?: boolean;
  status: number;
}

export interface RouteContext {
  state: HomeserverState;
  faults: Fault[];
  log: RequestLogEntry[];
  uploadLimit: number;
  /**
   * False: the authenticated media endpoints (`/_matrix/client/v1/media/*`, spec v1.11) answer
   * 404 M_UNRECOGNIZED, as on homeservers from before them.
   */
  authenticatedMedia: boolean;
  /** Calls the appservice's `/_matrix/app/v1/ping`; undefined status = no connection. */
  pingAppservice: (
    transactionId: string | undefined,
  ) => Promise<{ status?: number; body?: string; ms: number }>;
  /** Called with endpoints the double does not implement, so gaps show up in test output. */
  onUnrecognized?: (method: string, path: string) => void;
}

function tokenOf(req: Request): string | undefined {
  const header = req.headers.authorization;
  if (header !== undefined) {
    const m = /^Bearer\s+(.+)$/i.exec(header);
    return m?.[1];
  }
  const q = req.query.access_token;
  return typeof q === "string" ? q : undefined;
}

function queryString(req: Request, name: string): string | undefined {
  const v = req.query[name];
  return typeof v === "string" ? v : undefined;
}

function jsonBody(req: Request): JsonObject {
  const raw = req.body;
  if (!Buffer.isBuffer(raw) || raw.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString("utf8"));
  } catch {
    throw MatrixErrors.notJson();
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw MatrixErrors.badJson("Content must be a JSON object");
  }
  return parsed as JsonObject;
}

function param(req: Request, name: string): string {
  const v = req.params[name];
  if (v === undefined) throw MatrixErrors.missingParam(name);
  return v;
}

type Handler = (req: Request, res: Response, who: Requester | undefined) => unknown;

export function createRoutes(ctx: RouteContext): express.Router {
  const { state } = ctx;
  const r = express.Router();

  r.use(express.raw({ type: () => true, limit: Math.max(ctx.uploadLimit, 1024 * 1024) * 2 }));

  // Logging and injected faults come first: a fault must change nothing.
  r.use((req: Request, res: Response, next: NextFunction) => {
    const entry: RequestLogEntry = { method: req.method, path: req.path, status: 0 };
    ctx.log.push(entry);
    res.on("finish", () => {
      entry.status = res.statusCode;
    });
    res.locals.logEntry = entry;
    const info: FaultRequest = {
      method: req.method,
      path: req.path,
      appservice: tokenOf(req) === state.registration.as_token,
      assertedUserId: queryString(req, "user_id"),
    };
    const fault = ctx.faults.find((f) => f.remaining > 0 && (!f.match || f.match(info)));
    if (fault) {
      fault.remaining--;
      res.status(fault.status).json({ errcode: fault.errcode, error: "Injected fault" });
      return;
    }
    next();
  });

  const auth = (req: Request, res: Response): Requester => {
    const who = state.authenticate(tokenOf(req), queryString(req, "user_id"));
    const entry = res.locals.logEntry as RequestLogEntry;
    entry.userId = who.userId;
    entry.appservice = who.appservice;
    return who;
  };

  const route = (method: "get" | "put" | "post", path: string, needsAuth: boolean, h: Handler) => {
    r[method](path, (req: Request, res: Response, next: NextFunction) => {
      try {
        const who = needsAuth ? auth(req, res) : undefined;
        const out = h(req, res, who);
        if (out instanceof Promise) {
          out.then((v) => {
            if (!res.headersSent && v !== undefined) res.json(v);
          }, next);
        } else if (!res.headersSent && out !== undefined) res.json(out);
      } catch (err) {
        next(err);
      }
    });
  };

  const C = "/_matrix/client/v3";

  route("get", "/_matrix/client/versions", false, () => ({
    versions: [
      "r0.6.1",
      "v1.1",
      "v1.2",
      "v1.3",
      "v1.4",
      "v1.5",
      "v1.6",
      "v1.7",
      "v1.8",
      "v1.9",
      "v1.10",
      "v1.11",
    ],
    unstable_features: {},
  }));

  route("get", `${C}/capabilities`, true, () => ({
    capabilities: { "m.change_password": { enabled: false }, "m.set_displayname": { enabled: true } },
  }));

  route("get", `${C}/account/whoami`, true, (_req, _res, who) => ({
    user_id: who!.userId,
    device_id: who!.deviceId,
    is_guest: false,
  }));

  route("post", `${C}/register`, false, (req) => {
    if (queryString(req, "kind") === "guest") throw MatrixErrors.forbidden("Guest access is disabled");
    return state.register(jsonBody(req), tokenOf(req));
  });

  route("get", `${C}/login`, false, () => ({
    flows: [
      { type: "m.login.application_service" },
      ...(state.loginSharedSecret === undefined ? [] : [{ type: "com.devture.shared_secret_auth" }]),
    ],
  }));
  route("post", `${C}/login`, false, (req) => state.login(jsonBody(req), tokenOf(req)));
  route("post", `${C}/logout`, true, (_req, _res, who) => {
    if (who!.appservice) throw MatrixErrors.forbidden("The appservice token cannot be logged out");
    state.logout(who!.token);
    return {};
  });

  // The AS API ping (spec v1.7): the homeserver calls the appservice and reports what happened.
  route("post", "/_matrix/client/v1/appservice/:appserviceId/ping", true, async (req, _res, who) => {
    if (!who!.appservice) throw MatrixErrors.forbidden("Only the appservice can ping itself");
    if (param(req, "appserviceId") !== state.registration.id) {
      throw MatrixErrors.forbidden("Provided access token is not for the requested appservice");
    }
    const body = jsonBody(req);
    const txn = typeof body.transaction_id === "string" ? body.transaction_id : undefined;
    const result = await ctx.pingAppservice(txn);
    if (result.status === undefined)
      throw new MatrixApiError(502, "M_CONNECTION_FAILED", "Cannot reach the appservice");
    if (result.status < 200 || result.status >= 300) {
      throw new MatrixApiError(502, "M_BAD_STATUS", "The appservice answered with an error", {
        status: result.status,
        body: result.body ?? "",
      });
    }
    return { duration_ms: result.ms };
  });

  // ---- profile --------------------------------------------------------------------------------
  route("get", `${C}/profile/:userId`, false, (req) => {
    const a = state.account(param(req, "userId"));
    const out: JsonObject = {};
    if (a.displayname !== undefined) out.displayname = a.displayname;
    if (a.avatar_url !== undefined) out.avatar_url = a.avatar_url;
    return out;
  });
  for (const field of ["displayname", "avatar_url"] as const) {
    route("get", `${C}/profile/:userId/${field}`, false, (req) => {
      const a = state.account(param(req, "userId"));
      if (a[field] === undefined) throw MatrixErrors.notFound(`No ${field} set for ${a.userId}`);
      return { [field]: a[field] };
    });
    route("put", `${C}/profile/:userId/${field}`, true, (req, _res, who) => {
      const body = jsonBody(req);
      if (!(field in body)) throw MatrixErrors.missingParam(field);
      state.setProfile(who!, param(req, "userId"), field, body[field]);
      return {};
    });
  }

  // ---- rooms ----------------------------------------------------------------------------------
  route("post", `${C}/createRoom`, true, (req, _res, who) => {
    const body = jsonBody(req) as CreateRoomRequest;
    if (body.invite !== undefined && !Array.isArray(body.invite))
      throw MatrixErrors.badJson("invite must be a list");
    if (body.initial_state !== undefined && !Array.isArray(body.initial_state)) {
      throw MatrixErrors.badJson("initial_state must be a list");
    }
    return { room_id: state.createRoom(who!, body).roomId };
  });

  const join = (req: Request, who: Requester, idOrAlias: string) => {
    const room = state.resolveRoom(idOrAlias);
    if (room.membership(who.userId) !== "join") {
      state.changeMembership(who, room, who.userId, "join", pickReason(jsonBody(req)));
    }
    return { room_id: room.roomId };
  };
  route("post", `${C}/join/:roomIdOrAlias`, true, (req, _res, who) =>
    join(req, who!, param(req, "roomIdOrAlias")),
  );
  route("post", `${C}/rooms/:roomId/join`, true, (req, _res, who) => join(req, who!, param(req, "roomId")));

  route("post", `${C}/rooms/:roomId/invite`, true, (req, _res, who) => {
    const body = jsonBody(req);
    if (typeof body.user_id !== "string") throw MatrixErrors.missingParam("user_id");
    state.changeMembership(
      who!,
      state.visibleRoom(who!, param(req, "roomId")),
      body.user_id,
      "invite",
      pickReason(body),
    );
    return {};
  });
  route("post", `${C}/rooms/:roomId/leave`, true, (req, _res, who) => {
    const room = state.visibleRoom(who!, param(req, "roomId"));
    state.changeMembership(who!, room, who!.userId, "leave", pickReason(jsonBody(req)));
    return {};
  });
  route("post", `${C}/rooms/:roomId/kick`, true, (req, _res, who) => {
    const body = jsonBody(req);
    if (typeof body.user_id !== "string") throw MatrixErrors.missingParam("user_id");
    const room = state.visibleRoom(who!, param(req, "roomId"));
    state.changeMembership(who!, room, body.user_id, "leave", pickReason(body));
    return {};
  });
  route("post", `${C}/rooms/:roomId/ban`, true, (req, _res, who) => {
    const body = jsonBody(req);
    if (typeof body.user_id !== "string") throw MatrixErrors.missingParam("user_id");
    const room = state.visibleRoom(who!, param(req, "roomId"));
    state.changeMembership(who!, room, body.user_id, "ban", pickReason(body));
    return {};
  });

  route("put", `${C}/rooms/:roomId/send/:eventType/:txnId`, true, (req, _res, who) => {
    const room = state.visibleRoom(who!, param(req, "roomId"));
    const type = param(req, "eventType");
    const body = jsonBody(req);
    const ts = appserviceTs(req, who!);
    const eventId = state.idempotent(who!, "send", param(req, "txnId"), () => {
      return state.sendEvent(who!, room, type, body, undefined, ts).event_id;
    });
    return { event_id: eventId };
  });

  const putState = (req: Request, who: Requester) => {
    const room = state.visibleRoom(who, param(req, "roomId"));
    const ev = state.sendEvent(
      who,
      room,
      param(req, "eventType"),
      jsonBody(req),
      req.params.stateKey ?? "",
      appserviceTs(req, who),
    );
    return { event_id: ev.event_id };
  };
  route("put", `${C}/rooms/:roomId/state/:eventType/:stateKey`, true, (req, _res, who) =>
    putState(req, who!),
  );
  route("put", `${C}/rooms/:roomId/state/:eventType`, true, (req, _res, who) => putState(req, who!));

  const getState = (req: Request, who: Requester) => {
    const room = state.visibleRoom(who, param(req, "roomId"));
    const ev = room.getState(param(req, "eventType"), req.params.stateKey ?? "");
    if (!ev) throw MatrixErrors.notFound("Event not found.");
    return req.query.format === "event" ? ev : ev.content;
  };
  route("get", `${C}/rooms/:roomId/state/:eventType/:stateKey`, true, (req, _res, who) =>
    getState(req, who!),
  );
  route("get", `${C}/rooms/:roomId/state/:eventType`, true, (req, _res, who) => getState(req, who!));
  route("get", `${C}/rooms/:roomId/state`, true, (req, _res, who) =>
    state.visibleRoom(who!, param(req, "roomId")).allState(),
  );

  route("get", `${C}/rooms/:roomId/event/:eventId`, true, (req, _res, who) => {
    const ev = state.visibleRoom(who!, param(req, "roomId")).event(param(req, "eventId"));
    if (!ev) throw MatrixErrors.notFound("Event not found.");
    return ev;
  });

  route("put", `${C}/rooms/:roomId/redact/:eventId/:txnId`, true, (req, _res, who) => {
    const room = state.visibleRoom(who!, param(req, "roomId"));
    const body = jsonBody(req);
    const reason = typeof body.reason === "string" ? body.reason : undefined;
    const eventId = state.idempotent(who!, "redact", param(req, "txnId"), () => {
      return state.redact(who!, room, param(req, "eventId"), reason).event_id;
    });
    return { event_id: eventId };
  });

  route("get", `${C}/rooms/:roomId/joined_members`, true, (req, _res, who) => {
    const room = state.visibleRoom(who!, param(req, "roomId"));
    if (room.membership(who!.userId) !== "join")
      throw MatrixErrors.forbidden(`${who!.userId} is not in the room`);
    const joined: Record<string, JsonObject> = {};
    for (const u of room.members("join")) {
      const c = room.getState("m.room.member", u)?.content ?? {};
      joined[u] = { display_name: c.displayname ?? null, avatar_url: c.avatar_url ?? null };
    }
    return { joined };
  });
  route("get", `${C}/rooms/:roomId/members`, true, (req, _res, who) => {
    const room = state.visibleRoom(who!, param(req, "roomId"));
    return { chunk: room.allState().filter((e) => e.type === "m.room.member") };
  });
  route("get", `${C}/joined_rooms`, true, (_req, _res, who) => ({
    joined_rooms: state.joinedRooms(who!.userId),
  }));

  route("put", `${C}/rooms/:roomId/typing/:userId`, true, (req, _res, who) => {
    const body = jsonBody(req);
    if (typeof body.typing !== "boolean") throw MatrixErrors.badJson("typing must be a boolean");
    if (body.timeout !== undefined && typeof body.timeout !== "number") {
      throw MatrixErrors.badJson("timeout must be a number of milliseconds");
    }
    const room = state.visibleRoom(who!, param(req, "roomId"));
    state.setTyping(who!, room, param(req, "userId"), body.typing, body.timeout as number | undefined);
    return {};
  });

  route("post", `${C}/rooms/:roomId/receipt/:receiptType/:eventId`, true, (req, _res, who) => {
    const body = jsonBody(req);
    const threadId = typeof body.thread_id === "string" ? body.thread_id : undefined;
    const room = state.visibleRoom(who!, param(req, "roomId"));
    state.sendReceipt(who!, room, param(req, "receiptType"), param(req, "eventId"), threadId);
    return {};
  });

  route("put", `${C}/presence/:userId/status`, true, (req, _res, who) => {
    const body = jsonBody(req);
    if (typeof body.presence !== "string") throw MatrixErrors.missingParam("presence");
    const msg = typeof body.status_msg === "string" ? body.status_msg : undefined;
    state.setPresence(who!, param(req, "userId"), body.presence, msg);
    return {};
  });
  route("get", `${C}/presence/:userId/status`, true, (req) => {
    const p = state.account(param(req, "userId")).presence;
    const out: JsonObject = {
      presence: p.presence,
      last_active_ago: Date.now() - p.lastActive,
      currently_active: p.presence === "online",
    };
    if (p.status_msg !== undefined) out.status_msg = p.status_msg;
    return out;
  });

  // ---- account data ---------------------------------------------------------------------------
  const ownAccount = (req: Request, who: Requester) => {
    const userId = param(req, "userId");
    if (userId !== who.userId) throw MatrixErrors.forbidden(`Cannot access account data of ${userId}`);
    return state.account(userId);
  };
  route("put", `${C}/user/:userId/account_data/:type`, true, (req, _res, who) => {
    ownAccount(req, who!).accountData.set(param(req, "type"), jsonBody(req));
    return {};
  });
  route("get", `${C}/user/:userId/account_data/:type`, true, (req, _res, who) => {
    const data = ownAccount(req, who!).accountData.get(param(req, "type"));
    if (!data) throw MatrixErrors.notFound("Account data not found");
    return data;
  });
  route("put", `${C}/user/:userId/rooms/:roomId/account_data/:type`, true, (req, _res, who) => {
    const account = ownAccount(req, who!);
    const roomId = param(req, "roomId");
    let perRoom = account.roomAccountData.get(roomId);
    if (!perRoom) {
      perRoom = new Map();
      account.roomAccountData.set(roomId, perRoom);
    }
    perRoom.set(param(req, "type"), jsonBody(req));
    return {};
  });
  route("get", `${C}/user/:userId/rooms/:roomId/account_data/:type`, true, (req, _res, who) => {
    const data = ownAccount(req, who!).roomAccountData.get(param(req, "roomId"))?.get(param(req, "type"));
    if (!data) throw MatrixErrors.notFound("Room account data not found");
    return data;
  });

  // ---- media ----------------------------------------------------------------------------------
  // Old homeservers know no /_matrix/client/v1/media: the spec's answer to an unknown endpoint.
  r.use("/_matrix/client/v1/media", (req: Request, _res: Response, next: NextFunction) => {
    if (ctx.authenticatedMedia) return next();
    next(MatrixErrors.unrecognized(req.method, req.originalUrl.split("?")[0] ?? ""));
  });

  route("post", "/_matrix/media/v3/upload", true, (req, _res, who) => {
    // As Synapse: the size must be known before the body is read (a streamed upload sets it too).
    const declared = req.headers["content-length"];
    if (declared === undefined) throw MatrixErrors.unknown(400, "Request must specify a Content-Length");
    if (Number(declared) > ctx.uploadLimit) throw MatrixErrors.tooLarge(ctx.uploadLimit);
    const data = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (data.length > ctx.uploadLimit) throw MatrixErrors.tooLarge(ctx.uploadLimit);
    const contentType = req.headers["content-type"] ?? "application/octet-stream";
    return { content_uri: state.storeMedia(who!.userId, data, contentType, queryString(req, "filename")) };
  });
  const config = () => ({ "m.upload.size": ctx.uploadLimit });
  route("get", "/_matrix/media/v3/config", true, config);
  route("get", "/_matrix/client/v1/media/config", true, config);

  const download = (req: Request, res: Response) => {
    if (param(req, "serverName") !== state.domain)
      throw MatrixErrors.notFound("Remote media is not available");
    const m = state.media.get(param(req, "mediaId"));
    if (!m) throw MatrixErrors.notFound("Media not found");
    const name = req.params.fileName ?? m.filename;
    res.setHeader("Content-Type", m.contentType);
    const disposition = /^(text\/plain|image\/(png|jpeg|gif|webp)|audio\/|video\/)/.test(m.contentType)
      ? "inline"
      : "attachment";
    res.setHeader(
      "Content-Disposition",
      name !== undefined ? `${disposition}; filename*=utf-8''${encodeURIComponent(name)}` : disposition,
    );
    res.setHeader("Content-Security-Policy", "sandbox; default-src 'none'");
    res.send(m.data);
    return undefined;
  };
  // The double cannot scale images: it serves a thumbnail a test registered (state.setThumbnail),
  // else the original of an image, as Synapse does when the original is already small enough.
  const thumbnail = (req: Request, res: Response) => {
    for (const dim of ["width", "height"]) {
      const v = queryString(req, dim);
      if (v === undefined) throw MatrixErrors.missingParam(dim);
      if (!/^[1-9][0-9]{0,4}$/.test(v)) throw MatrixErrors.invalidParam(`${dim} must be a positive integer`);
    }
    if (param(req, "serverName") !== state.domain)
      throw MatrixErrors.notFound("Remote media is not available");
    const mediaId = param(req, "mediaId");
    const m = state.thumbnails.get(mediaId) ?? state.media.get(mediaId);
    if (!m) throw MatrixErrors.notFound("Media not found");
    if (!m.contentType.startsWith("image/")) throw MatrixErrors.notFound("Cannot thumbnail this media");
    res.setHeader("Content-Type", m.contentType);
    res.setHeader("Content-Disposition", "inline");
    res.setHeader("Content-Security-Policy", "sandbox; default-src 'none'");
    res.send(m.data);
    return undefined;
  };
  route("get", "/_matrix/client/v1/media/thumbnail/:serverName/:mediaId", true, thumbnail);
  route("get", "/_matrix/media/v3/thumbnail/:serverName/:mediaId", false, thumbnail);
  route("get", "/_matrix/client/v1/media/download/:serverName/:mediaId/:fileName", true, download);
  route("get", "/_matrix/client/v1/media/download/:serverName/:mediaId", true, download);
  route("get", "/_matrix/media/v3/download/:serverName/:mediaId/:fileName", false, download);
  route("get", "/_matrix/media/v3/download/:serverName/:mediaId", false, download);

  // ---- everything else ------------------------------------------------------------------------
  r.use((req: Request, _res: Response, next: NextFunction) => {
    ctx.onUnrecognized?.(req.method, req.path);
    const err = MatrixErrors.unrecognized(req.method, req.path);
    // A known endpoint with another method is 405, an unknown one 404 (both M_UNRECOGNIZED).
    const known = (r.stack as unknown as Array<{ route?: unknown; match(path: string): boolean }>).some(
      (layer) => layer.route !== undefined && layer.match(req.path),
    );
    next(known ? new MatrixApiError(405, err.errcode, err.message) : err);
  });
  r.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e =
      err instanceof MatrixApiError
        ? err
        : isPayloadTooLarge(err)
          ? MatrixErrors.tooLarge(ctx.uploadLimit)
          : MatrixErrors.unknown(500, `Internal error: ${(err as Error)?.message ?? String(err)}`);
    res.status(e.status).json(e.toJSON());
  });
  return r;
}

function pickReason(body: JsonObject): JsonObject {
  return typeof body.reason === "string" ? { reason: body.reason } : {};
}

/** The AS API's timestamp massaging: `ts` is honoured for appservice senders only. */
function appserviceTs(req: Request, who: Requester): number | undefined {
  const ts = queryString(req, "ts");
  if (ts === undefined || !who.appservice) return undefined;
  const n = Number(ts);
  if (!Number.isSafeInteger(n) || n < 0) throw MatrixErrors.invalidParam("ts must be a timestamp in ms");
  return n;
}

function isPayloadTooLarge(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { type?: string }).type === "entity.too.large";
}
