/**
 * The bridge's HTTP server on the appservice port: operational endpoints (/health, /metrics)
 * now; the Matrix appservice API mounts its routes on the same express app later.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import express, { type Express } from "express";
import type { Logger } from "../logger.js";
import type { BridgeMetrics } from "./metrics.js";

export interface HealthReport {
  status: "ok" | "degraded";
  version: string;
  database: { kind: string; ok: boolean };
  tox: { nodes: number; identities: number };
}

export interface HttpDeps {
  logger: Logger;
  /** Builds the /health body; the status code is 503 when the database is not ok. */
  health: () => Promise<HealthReport>;
  /** Absent when metrics are disabled in the config: /metrics then answers 404. */
  metrics?: BridgeMetrics;
}

/** Longest a health check may wait for the database before reporting it down. */
export const HEALTH_DB_TIMEOUT_MS = 2_000;

export function createHttpApp(deps: HttpDeps): Express {
  const app = express();
  app.disable("x-powered-by");

  if (deps.metrics) {
    const counter = deps.metrics.httpRequests;
    app.use((req, res, next) => {
      res.on("finish", () => {
        // Route patterns, not raw paths, keep label cardinality bounded.
        const route = (req.route as { path?: string } | undefined)?.path ?? "unmatched";
        counter.inc({ route: String(route), status: String(res.statusCode) });
      });
      next();
    });
  }

  app.get("/health", async (_req, res) => {
    try {
      const report = await deps.health();
      res.status(report.database.ok ? 200 : 503).json(report);
    } catch (err) {
      deps.logger.error({ err }, "health check failed");
      res.status(503).json({ status: "error", error: "health check failed" });
    }
  });

  app.get("/metrics", async (_req, res) => {
    if (!deps.metrics) {
      res.status(404).type("text/plain").send("metrics are disabled (metrics.enabled: false)\n");
      return;
    }
    try {
      const body = await deps.metrics.registry.metrics();
      res.status(200).type(deps.metrics.registry.contentType).send(body);
    } catch (err) {
      deps.logger.error({ err }, "metrics collection failed");
      res.status(500).type("text/plain").send("metrics collection failed\n");
    }
  });

  return app;
}

export interface RunningHttpServer {
  server: Server;
  port: number;
  /** Stops accepting, lets in-flight requests finish briefly, then drops what is left. */
  close(): Promise<void>;
}

export function listen(
  app: Express,
  host: string,
  port: number,
  graceMs = 3_000,
): Promise<RunningHttpServer> {
  return new Promise((resolvePromise, reject) => {
    const server = app.listen(port, host);
    const onError = (err: Error) => reject(new Error(`cannot listen on ${host}:${port}: ${err.message}`));
    server.once("error", onError);
    server.once("listening", () => {
      server.off("error", onError);
      const actual = (server.address() as AddressInfo).port;
      resolvePromise({
        server,
        port: actual,
        close: () =>
          new Promise<void>((done) => {
            const force = setTimeout(() => server.closeAllConnections(), graceMs);
            force.unref();
            server.close(() => {
              clearTimeout(force);
              done();
            });
            server.closeIdleConnections();
          }),
      });
    });
  });
}

/** Resolves to `fallback` when `p` takes longer than `ms`; used so probes never hang. */
export function withTimeout<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  return new Promise((resolvePromise) => {
    const timer = setTimeout(() => resolvePromise(fallback), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolvePromise(v);
      },
      () => {
        clearTimeout(timer);
        resolvePromise(fallback);
      },
    );
  });
}
