/**
 * A thin, typed start/stop around matrix-appservice-bridge's `Bridge`: loads the library through
 * the encryption-tolerant loader, feeds it our registration, routes its logs into pino, and serves
 * the appservice HTTP API on a port we can read back (port 0 in tests).
 *
 * The HTTP side fixes gaps of the `matrix-appservice` package the library uses, so the bridge works
 * with old and new homeservers alike and answers as the AS API says:
 * - it only reads EDUs from the unstable `de.sorunome.msc2409.ephemeral` key; homeservers that
 *   implement spec v1.13 send the stable `ephemeral` key, which we copy across;
 * - a body that is not JSON got express's HTML error page; it gets a Matrix error now;
 * - the legacy paths (`/transactions/{txnId}` etc., still used by old homeservers) got a 308
 *   redirect that homeservers do not follow; we serve them as their `/_matrix/app/v1/` twins;
 * - `/_matrix/app/v1/ping` (spec v1.7) was missing; we answer it;
 * - a missing hs_token got 403; the spec says 401, and 403 only for a wrong one (also when the
 *   header and the legacy query parameter disagree).
 * It also offers `onTransaction`, run before a transaction is acknowledged: the place to persist
 * events so that an acknowledged event is never lost (the library acknowledges as soon as it has
 * handed the events to `onEvent`, without waiting for it).
 */
import { timingSafeEqual } from "node:crypto";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import express, { type NextFunction, type Request, type Response } from "express";
import type { Bridge, BridgeController } from "matrix-appservice-bridge";
import type { Registration } from "../config/registration.js";
import type { Logger } from "../logger.js";
import { routeLibraryLogs } from "./library-logging.js";
import { type BridgeModule, type EncryptionSupport, loadBridgeLibrary } from "./load-bridge.js";
import { checkHomeserver, type PingResult, pingFromHomeserver } from "./startup-checks.js";

export interface MatrixAppserviceOptions {
  registration: Registration;
  /** Client-Server API base URL the bridge talks to, e.g. http://localhost:8008. */
  homeserverUrl: string;
  /** server_name, e.g. "example.org". */
  domain: string;
  log: Logger;
  controller: BridgeController;
  /**
   * Where the appservice API listens. `port: 0` picks a free port (read it from `port`).
   * `external: true` serves nothing: mount `router` on an existing express app instead.
   */
  listen: { port: number; host?: string } | { external: true };
  /** Largest transaction body accepted; Synapse batches up to 100 events plus EDUs. */
  maxBodyBytes?: number;
  /**
   * Runs for each authenticated, well-formed transaction before it is acknowledged and before
   * `controller.onEvent` sees its events. Throwing answers 500, so the homeserver retries the same
   * transaction later; the library then still sees the events only once.
   */
  onTransaction?: (txn: AppserviceTransaction) => Promise<void>;
  /**
   * Before initialising: check the homeserver answers and accepts the as_token (fatal when not).
   * After listening: ask the homeserver to ping us back (logged, never fatal). Both on by default.
   */
  startupChecks?: { homeserver?: boolean; ping?: boolean };
  /**
   * Called once the appservice API is ready, before the ping: with `external: true`, mount `router`
   * on the shared server here; tests point the homeserver at `port` here.
   */
  onListening?: (port: number | undefined, router: express.Router) => void | Promise<void>;
}

export interface AppserviceTransaction {
  txnId: string;
  events: Array<Record<string, unknown>>;
  /** EDUs from whichever key the homeserver used. */
  ephemeral: Array<Record<string, unknown>>;
}

export interface RunningMatrixAppservice {
  bridge: Bridge;
  lib: BridgeModule;
  encryption: EncryptionSupport;
  /** The bound port; undefined with `external: true`. */
  port: number | undefined;
  /** The appservice API as express middleware, for mounting on a shared HTTP server. */
  router: express.Router;
  /** Outcome of the start-up ping; undefined when the check is off. */
  ping: PingResult | undefined;
  /** Idempotent. */
  stop(): Promise<void>;
}

/** Copies stable `ephemeral` EDUs to the unstable key, the only one matrix-appservice reads. */
export function normaliseEphemeralKeys(body: unknown): void {
  if (typeof body !== "object" || body === null) return;
  const b = body as Record<string, unknown>;
  if (Array.isArray(b.ephemeral) && !Array.isArray(b["de.sorunome.msc2409.ephemeral"])) {
    b["de.sorunome.msc2409.ephemeral"] = b.ephemeral;
  }
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The homeserver's token from `Authorization: Bearer` and/or the legacy `access_token` query. */
export function checkHomeserverToken(
  hsToken: string,
  header: string | undefined,
  query: unknown,
): { ok: true } | { ok: false; status: 401 | 403; errcode: string; error: string } {
  const fromHeader = header === undefined ? undefined : /^Bearer\s+(.+)$/i.exec(header)?.[1];
  const fromQuery = typeof query === "string" ? query : undefined;
  if (fromHeader === undefined && fromQuery === undefined) {
    return { ok: false, status: 401, errcode: "M_UNAUTHORIZED", error: "Missing hs_token" };
  }
  for (const t of [fromHeader, fromQuery]) {
    if (t !== undefined && !sameToken(t, hsToken)) {
      return { ok: false, status: 403, errcode: "M_FORBIDDEN", error: "Bad hs_token supplied" };
    }
  }
  return { ok: true };
}

/** Paths of the AS API (current and legacy) that the homeserver calls with its token. */
const HOMESERVER_PATHS = /^\/(_matrix\/app\/|transactions\/|users\/|rooms\/)/;
const TRANSACTION_PATH = /^\/_matrix\/app\/v1\/transactions\/([^/]+)$/;

function appserviceRouter(
  inner: express.RequestHandler,
  hsToken: string,
  maxBodyBytes: number,
  onTransaction: MatrixAppserviceOptions["onTransaction"],
): express.Router {
  const router = express.Router();
  // Authenticate before reading a body: unauthenticated callers get no parsing work out of us.
  router.use((req: Request, res: Response, next: NextFunction) => {
    if (!HOMESERVER_PATHS.test(req.path)) return next();
    const check = checkHomeserverToken(hsToken, req.headers.authorization, req.query.access_token);
    if (check.ok) return next();
    res.status(check.status).json({ errcode: check.errcode, error: check.error });
  });
  router.use((req: Request, _res: Response, next: NextFunction) => {
    if (/^\/(transactions|users|rooms)\//.test(req.path)) req.url = `/_matrix/app/v1${req.url}`;
    next();
  });
  router.use(express.json({ limit: maxBodyBytes }));
  router.post("/_matrix/app/v1/ping", (_req: Request, res: Response) => {
    res.json({});
  });
  router.use((req: Request, res: Response, next: NextFunction) => {
    const m = req.method === "PUT" ? TRANSACTION_PATH.exec(req.path) : null;
    if (!m) return next();
    const body = req.body as Record<string, unknown> | undefined;
    if (typeof body !== "object" || body === null || !Array.isArray(body.events)) {
      res.status(400).json({ errcode: "M_BAD_JSON", error: "A transaction needs an events list" });
      return;
    }
    normaliseEphemeralKeys(body);
    if (!onTransaction) return next();
    const ephemeral = body["de.sorunome.msc2409.ephemeral"];
    onTransaction({
      txnId: decodeURIComponent(m[1] ?? ""),
      events: body.events as AppserviceTransaction["events"],
      ephemeral: Array.isArray(ephemeral) ? (ephemeral as AppserviceTransaction["ephemeral"]) : [],
    }).then(
      () => next(),
      (err: unknown) => {
        res
          .status(500)
          .json({ errcode: "M_UNKNOWN", error: `Transaction not stored: ${(err as Error).message}` });
      },
    );
  });
  router.use(inner);
  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    const e = err as { type?: string; status?: number };
    if (e?.type === "entity.parse.failed") {
      res.status(400).json({ errcode: "M_NOT_JSON", error: "Content not JSON." });
      return;
    }
    if (e?.type === "entity.too.large") {
      res.status(413).json({ errcode: "M_TOO_LARGE", error: "Transaction too large" });
      return;
    }
    next(err);
  });
  return router;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof (v as { then?: unknown } | null)?.then === "function";
}

/**
 * The library calls `onEvent` (and `onEphemeralEvent`, from an event emitter) without handling a
 * rejected promise, and re-throws a rejected request from an async event-emitter listener: either
 * way a failing handler becomes an unhandled rejection, which ends a Node process. So failures
 * (a throw, a rejected promise, or `request.reject`) are logged with the event they were about and
 * the request is resolved. Durability does not depend on this: see `onTransaction`.
 */
export function guardController(controller: BridgeController, log: Logger): BridgeController {
  const describe = (data: unknown) => {
    const d = (data ?? {}) as { event_id?: unknown; room_id?: unknown; type?: unknown; sender?: unknown };
    return { eventId: d.event_id, roomId: d.room_id, type: d.type, sender: d.sender };
  };
  const guarded: BridgeController = {
    onLog: (line, isError) => (isError ? log.error(line) : log.debug(line)),
    ...controller,
    onEvent: (request, context) => {
      let failed = false;
      const fail = (err: unknown) => {
        if (failed) return;
        failed = true;
        log.error({ err, ...describe(request.getData()) }, "handling a Matrix event failed");
        request.resolve(undefined);
      };
      request.reject = fail;
      try {
        const out: unknown = controller.onEvent(request, context);
        if (isThenable(out)) Promise.resolve(out).catch(fail);
      } catch (err) {
        fail(err);
      }
    },
  };
  const onEphemeral = controller.onEphemeralEvent;
  if (onEphemeral) {
    guarded.onEphemeralEvent = (request) => {
      const fail = (err: unknown) => {
        log.error({ err, ...describe(request.getData()) }, "handling a Matrix ephemeral event failed");
      };
      try {
        const out: unknown = onEphemeral(request);
        if (isThenable(out)) Promise.resolve(out).catch(fail);
      } catch (err) {
        fail(err);
      }
    };
  }
  return guarded;
}

export async function startMatrixAppservice(opts: MatrixAppserviceOptions): Promise<RunningMatrixAppservice> {
  const log = opts.log.child({ component: "matrix" });
  const { lib, encryption } = loadBridgeLibrary(log);
  routeLibraryLogs(lib, log);
  const botUserId = `@${opts.registration.sender_localpart}:${opts.domain}`;
  if (opts.startupChecks?.homeserver !== false) {
    const { versions } = await checkHomeserver({
      homeserverUrl: opts.homeserverUrl,
      asToken: opts.registration.as_token,
      botUserId,
    });
    log.debug({ versions }, "homeserver accepts the appservice token");
  }

  const registration = lib.AppServiceRegistration.fromObject(
    opts.registration as unknown as Parameters<typeof lib.AppServiceRegistration.fromObject>[0],
  );
  const maxBodyBytes = opts.maxBodyBytes ?? 10 * 1024 * 1024;
  const appService = new lib.AppService({ homeserverToken: opts.registration.hs_token });
  // matrix-appservice is typed against its own copy of @types/express; an Application is a handler.
  const router = appserviceRouter(
    appService.expressApp as unknown as express.RequestHandler,
    opts.registration.hs_token,
    maxBodyBytes,
    opts.onTransaction,
  );
  let server: Server | undefined;

  // The bridge calls appService.listen(); serve our router (not the bare inner app) instead.
  const listenOpt = opts.listen;
  appService.listen = (port: number, hostname: string) => {
    if ("external" in listenOpt) return Promise.resolve();
    const outer = express();
    outer.disable("x-powered-by");
    outer.use(router);
    return new Promise<void>((resolve, reject) => {
      const s = outer.listen(port, hostname);
      s.once("listening", () => {
        server = s;
        resolve();
      });
      s.once("error", reject);
    });
  };
  appService.close = async () => {
    const s = server;
    server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  };

  const bridge = new lib.Bridge({
    homeserverUrl: opts.homeserverUrl,
    domain: opts.domain,
    registration,
    controller: guardController(opts.controller, log),
    // Rooms, users and events live in our own store (src/store); the library keeps none.
    disableStores: true,
    disableContext: true,
    suppressEcho: true,
  });
  const host = "external" in listenOpt ? "127.0.0.1" : (listenOpt.host ?? "127.0.0.1");
  const port = "external" in listenOpt ? 0 : listenOpt.port;
  await bridge.initialise();
  await bridge.listen(port, host, 10, appService);
  const address = server ? (server as Server).address() : undefined;
  const boundPort = address ? (address as AddressInfo).port : undefined;
  try {
    await opts.onListening?.(boundPort, router);
  } catch (err) {
    await bridge.close().catch(() => {});
    throw err;
  }
  let ping: PingResult | undefined;
  if (opts.startupChecks?.ping !== false) {
    ping = await pingFromHomeserver({
      homeserverUrl: opts.homeserverUrl,
      asToken: opts.registration.as_token,
      appserviceId: opts.registration.id,
    });
    if (ping.ok) log.debug({ durationMs: ping.durationMs }, "the homeserver reaches the appservice");
    else if (ping.unsupported)
      log.debug({ reason: ping.reason }, "cannot check that the homeserver reaches us");
    else
      log.warn(
        { reason: ping.reason, url: opts.registration.url },
        "the homeserver cannot reach the appservice",
      );
  }
  log.info(
    { homeserver: opts.homeserverUrl, port: boundPort, encryption: encryption.available },
    "Matrix appservice started",
  );

  let stopped = false;
  return {
    bridge,
    lib,
    encryption,
    port: boundPort,
    router,
    ping,
    async stop() {
      if (stopped) return;
      stopped = true;
      await bridge.close().catch((err: unknown) => log.warn({ err }, "error closing the Matrix bridge"));
    },
  };
}
