/**
 * Composition root: turns a validated config into a running bridge and back. The order is
 * store (open + migrate) -> HTTP (/health, /metrics) -> components (Tox node, Matrix, XMPP),
 * and stopping runs it backwards. Components are the extension point: each gets the shared
 * context on start and must release everything on stop.
 */
import { mkdir } from "node:fs/promises";
import type { Express } from "express";
import type { Config } from "./config/schema.js";
import { type BridgeMetrics, createMetrics } from "./http/metrics.js";
import {
  createHttpApp,
  HEALTH_DB_TIMEOUT_MS,
  listen,
  type RunningHttpServer,
  withTimeout,
} from "./http/server.js";
import type { Logger } from "./logger.js";
import type { OpenStoreOptions, Store } from "./store/index.js";
import { VERSION } from "./version.js";

/** What the Tox layer reports for /health and metrics; zeros until a Tox component sets it. */
export interface ToxStatus {
  nodes: number;
  identities: number;
}

export interface BridgeContext {
  config: Config;
  logger: Logger;
  store: Store;
  metrics: BridgeMetrics;
  /** The appservice-port express app; components may mount routes (e.g. /_matrix/app/v1). */
  http: Express;
  /** Lets the Tox component publish its numbers to /health and the metrics. */
  setToxStatus(source: () => ToxStatus): void;
}

export interface BridgeComponent {
  readonly name: string;
  start(ctx: BridgeContext): Promise<void>;
  stop(): Promise<void>;
}

export interface RunningBridge {
  httpPort: number;
  store: Store;
  /** Idempotent; resolves when everything is closed. Errors are logged, not thrown. */
  stop(): Promise<void>;
}

export interface StartOptions {
  components?: BridgeComponent[];
  /** Injected for tests; defaults to the real store. */
  openStore?: (opts: OpenStoreOptions) => Promise<Store>;
}

export async function openConfiguredStore(
  config: Config,
  logger: Logger,
  open?: (opts: OpenStoreOptions) => Promise<Store>,
): Promise<Store> {
  const opener = open ?? (await import("./store/index.js")).openStore;
  if (!config.database.url) await mkdir(config.database.data_dir, { recursive: true });
  const opts: OpenStoreOptions = {
    dataDir: config.database.data_dir,
    poolSize: config.database.pool_size,
    encryptionKey: config.bridge.encryption_key,
    logger: logger.child({ component: "store" }),
  };
  if (config.database.url) opts.url = config.database.url;
  return opener(opts);
}

/**
 * The components `tox-bridge start` runs, in start order. This is where the Tox node, then the
 * Matrix and XMPP frontends (when enabled in the config), are added as they land; each gets the
 * shared BridgeContext in `start` and must release everything in `stop`.
 */
export function bridgeComponents(config: Config): BridgeComponent[] {
  void config;
  return [];
}

export async function startBridge(
  config: Config,
  logger: Logger,
  opts: StartOptions = {},
): Promise<RunningBridge> {
  const started: Array<{ name: string; stop: () => Promise<void> }> = [];
  const stopAll = async () => {
    while (started.length > 0) {
      const part = started.pop()!;
      try {
        await part.stop();
        logger.debug({ component: part.name }, "stopped");
      } catch (err) {
        logger.error({ err, component: part.name }, "error while stopping");
      }
    }
  };

  try {
    const store = await openConfiguredStore(config, logger, opts.openStore);
    started.push({ name: "store", stop: () => store.close() });
    const { applied } = await store.migrate();
    logger.info(
      { database: store.kind, applied, dataDir: config.database.url ? undefined : config.database.data_dir },
      applied.length ? "database migrated" : "database up to date",
    );

    const databaseOk = () => withTimeout(store.ping(), HEALTH_DB_TIMEOUT_MS, false);
    let toxStatus: () => ToxStatus = () => ({ nodes: 0, identities: 0 });
    const metrics = createMetrics({ version: VERSION, databaseOk, toxStatus: () => toxStatus() });
    const app = createHttpApp({
      logger,
      ...(config.metrics.enabled ? { metrics } : {}),
      health: async () => {
        const ok = await databaseOk();
        return {
          status: ok ? "ok" : "degraded",
          version: VERSION,
          database: { kind: store.kind, ok },
          tox: toxStatus(),
        };
      },
    });
    const http: RunningHttpServer = await listen(app, config.appservice.hostname, config.appservice.port);
    started.push({ name: "http", stop: () => http.close() });
    logger.info({ host: config.appservice.hostname, port: http.port }, "HTTP server listening");

    const ctx: BridgeContext = {
      config,
      logger,
      store,
      metrics,
      http: app,
      setToxStatus(source) {
        toxStatus = source;
      },
    };
    for (const component of opts.components ?? []) {
      await component.start({ ...ctx, logger: logger.child({ component: component.name }) });
      started.push({ name: component.name, stop: () => component.stop() });
      logger.info({ component: component.name }, "started");
    }

    let stopping: Promise<void> | undefined;
    return {
      httpPort: http.port,
      store,
      stop: () => {
        stopping ??= stopAll().then(() => logger.info("bridge stopped"));
        return stopping;
      },
    };
  } catch (err) {
    // Undo whatever did start, so a failed start leaves no open handles behind.
    await stopAll();
    throw err;
  }
}
