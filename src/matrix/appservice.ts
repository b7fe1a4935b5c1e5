/**
 * A thin, typed start/stop around matrix-appservice-bridge's `Bridge`: loads the library through
 * the encryption-tolerant loader, feeds it our registration, routes its logs into pino, and serves
 * the appservice HTTP API on a port we can read back (port 0 in tests).
 *
 * The HTTP side fixes two gaps of the `matrix-appservice` package the library uses, so the bridge
 * works with old and new homeservers alike:
 * - it only reads EDUs from the unstable `de.sorunome.msc2409.ephemeral` key; homeservers that
 *   implement spec v1.13 send the stable `ephemeral` key, which we copy across;
 * - a body that is not JSON got express's HTML error page; it gets a Matrix error now.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import express, { type NextFunction, type Request, type Response } from "express";
import type { Bridge, BridgeController } from "matrix-appservice-bridge";
import type { Registration } from "../config/registration.js";
import type { Logger } from "../logger.js";
import { routeLibraryLogs } from "./library-logging.js";
import { type BridgeModule, type EncryptionSupport, loadBridgeLibrary } from "./load-bridge.js";

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
}

export interface RunningMatrixAppservice {
  bridge: Bridge;
  lib: BridgeModule;
  encryption: EncryptionSupport;
  /** The bound port; undefined with `external: true`. */
  port: number | undefined;
  /** The appservice API as express middleware, for mounting on a shared HTTP server. */
  router: express.Router;
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

function appserviceRouter(inner: express.RequestHandler, maxBodyBytes: number): express.Router {
  const router = express.Router();
  router.use(express.json({ limit: maxBodyBytes }));
  router.use((req: Request, _res: Response, next: NextFunction) => {
    if (req.method === "PUT" && /\/transactions\/[^/]+$/.test(req.path)) normaliseEphemeralKeys(req.body);
    next();
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

export async function startMatrixAppservice(opts: MatrixAppserviceOptions): Promise<RunningMatrixAppservice> {
  const log = opts.log.child({ component: "matrix" });
  const { lib, encryption } = loadBridgeLibrary(log);
  routeLibraryLogs(lib, log);

  const registration = lib.AppServiceRegistration.fromObject(
    opts.registration as unknown as Parameters<typeof lib.AppServiceRegistration.fromObject>[0],
  );
  const maxBodyBytes = opts.maxBodyBytes ?? 10 * 1024 * 1024;
  const appService = new lib.AppService({ homeserverToken: opts.registration.hs_token });
  // matrix-appservice is typed against its own copy of @types/express; an Application is a handler.
  const router = appserviceRouter(appService.expressApp as unknown as express.RequestHandler, maxBodyBytes);
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
    controller: {
      onLog: (line, isError) => (isError ? log.error(line) : log.debug(line)),
      ...opts.controller,
    },
    // Rooms, users and events live in our own store (src/store); the library keeps none.
    disableStores: true,
    disableContext: true,
    suppressEcho: true,
  });
  const host = "external" in listenOpt ? "127.0.0.1" : (listenOpt.host ?? "127.0.0.1");
  const port = "external" in listenOpt ? 0 : listenOpt.port;
  await bridge.initialise();
  await bridge.listen(port, host, 10, appService);
  const boundPort = server ? (server as Server).address() : undefined;
  log.info(
    {
      homeserver: opts.homeserverUrl,
      port: boundPort ? (boundPort as AddressInfo).port : undefined,
      encryption,
    },
    "Matrix appservice started",
  );

  let stopped = false;
  return {
    bridge,
    lib,
    encryption,
    port: boundPort ? (boundPort as AddressInfo).port : undefined,
    router,
    async stop() {
      if (stopped) return;
      stopped = true;
      await bridge.close().catch((err: unknown) => log.warn({ err }, "error closing the Matrix bridge"));
    },
  };
}
