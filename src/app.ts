/**
 * Composition root: turns a validated config into a running bridge and back. The order is
 * store (open + migrate) -> HTTP (/health, /metrics) -> components (Tox node, Matrix, XMPP),
 * and stopping runs it backwards. Components are the extension point: each gets the shared
 * context on start and must release everything on stop.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Express } from "express";
import { Counter, Gauge } from "prom-client";
import type { Config } from "./config/schema.js";
import { type ResolvedToxNode, resolveToxNodes } from "./config/tox-nodes.js";
import type { BridgeCore } from "./core/bridge-core.js";
import { type BridgeMetrics, createMetrics } from "./http/metrics.js";
import {
  createHttpApp,
  HEALTH_DB_TIMEOUT_MS,
  listen,
  type RunningHttpServer,
  withTimeout,
} from "./http/server.js";
import type { Logger } from "./logger.js";
import { matrixComponent } from "./matrix/component.js";
import type { OpenStoreOptions, Queryable, Store } from "./store/index.js";
import type { ToxNode } from "./tox/index.js";
import { VERSION } from "./version.js";
import { xmppComponent } from "./xmpp/bridge-component.js";

/** What the Tox layer reports for /health and metrics; zeros until a Tox component sets it. */
export interface ToxStatus {
  nodes: number;
  identities: number;
}

export interface BridgeContext {
  config: Config;
  logger: Logger;
  store: Store;
  /**
   * The store's database handle, for repositories outside the Store (the core's inbox); absent
   * when a test injected its own `openStore`.
   */
  db?: Queryable;
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
  // Frontends share one core; without a frontend there is nobody to bridge for.
  if (!config.appservice.enabled && !config.xmpp.enabled) return [];
  const tox = toxCoreComponent();
  const components: BridgeComponent[] = [tox];
  if (config.appservice.enabled) components.push(matrixComponent({ core: () => tox.core() }));
  if (config.xmpp.enabled) components.push(xmppComponent({ core: () => tox.core() }));
  return components;
}

/**
 * The Tox node and the bridge core over it: every stored account is brought online at start and
 * taken offline at stop. Frontends started after it reach the core through `core()`.
 */
export function toxCoreComponent(): BridgeComponent & { core(): BridgeCore } {
  let node: ToxNode | undefined;
  let core: BridgeCore | undefined;
  return {
    name: "tox",
    core() {
      if (core === undefined) throw new Error("the Tox core component has not started");
      return core;
    },
    async start(ctx) {
      if (ctx.db === undefined) throw new Error("the bridge core needs the store's database handle");
      // Loaded here, not at import: the CLI's other commands need neither libsodium nor the core.
      const [{ ToxNode }, { BridgeCore, coreRepos }, { ToxNodeGateway }] = await Promise.all([
        import("./tox/index.js"),
        import("./core/bridge-core.js"),
        import("./core/tox-adapter.js"),
      ]);
      const tox = ctx.config.tox;
      const log = ctx.logger;
      // Names are resolved here so one dead or unresolvable node (or a machine without DNS) is a
      // warning, not a failed start: the identities stay up and bootstrap from the others.
      const [bootstrap, relays] = await Promise.all([
        resolveToxNodes(tox.bootstrap_nodes),
        resolveToxNodes(tox.tcp_relays),
      ]);
      for (const f of [...bootstrap.failed, ...relays.failed])
        log.warn({ host: f.host, reason: f.reason }, "skipping a Tox node that cannot be resolved");
      const address = (n: ResolvedToxNode) => ({
        host: n.ipPort.ip,
        port: n.ipPort.port,
        publicKey: n.publicKey,
      });
      node = await ToxNode.create({
        portRange: [tox.port_range.start, tox.port_range.end],
        udp: tox.udp_enabled,
        routing: tox.routing,
        bootstrapNodes: bootstrap.resolved.map(address),
        tcpRelays: relays.resolved.map(address),
      });
      core = new BridgeCore({
        store: ctx.store,
        repos: coreRepos(ctx.db),
        tox: new ToxNodeGateway(node, log),
        log,
        files: {
          spoolDir: ctx.config.files.spool_dir ?? join(ctx.config.database.data_dir, "files"),
          maxFileSize: ctx.config.files.max_size,
        },
      });
      await core.start();
      const running = core;
      const toxNode = node;
      ctx.setToxStatus(() => ({
        // Shared routing: the backbone's DHT close list (separate routing has one per identity).
        nodes: toxNode.backboneInfo()?.closeNodes ?? 0,
        identities: running.accounts.onlineCount(),
      }));
      registerCoreMetrics(ctx.metrics, running);
    },
    async stop() {
      await core?.stop();
      core = undefined;
      await node?.close();
      node = undefined;
    },
  };
}

/**
 * The core's numbers as Prometheus metrics, read at scrape time: puppets (identities) and friends
 * online, messages each way, and the queues. Registered once per bridge (one registry each).
 */
function registerCoreMetrics(metrics: BridgeMetrics, core: BridgeCore): void {
  const registers = [metrics.registry];
  // The core keeps plain counters; a scrape adds what they grew by since the last one.
  const seen: Record<string, number> = {};
  new Counter({
    name: "toxbridge_messages_total",
    help:
      "Messages bridged: to_tox = handed to Tox (each part), from_tox = received from Tox friends, " +
      "delivered = confirmed by a Tox read receipt, failed = given up",
    labelNames: ["direction"],
    registers,
    collect() {
      const m = core.metrics;
      const now = {
        to_tox: m.messagesToTox,
        from_tox: m.messagesFromTox,
        delivered: m.messagesDelivered,
        failed: m.messagesFailed,
      };
      for (const [direction, value] of Object.entries(now)) {
        const delta = value - (seen[direction] ?? 0);
        if (delta > 0) this.inc({ direction }, delta);
        seen[direction] = value;
      }
    },
  });
  new Counter({
    name: "toxbridge_files_total",
    help:
      "Files bridged: to_tox = taken completely by the Tox friend, from_tox = received completely " +
      "from a Tox friend, failed = ended unfinished for good (declined, cancelled, failed, too old)",
    labelNames: ["direction"],
    registers,
    collect() {
      const m = core.metrics;
      const now = { to_tox: m.filesToTox, from_tox: m.filesFromTox, failed: m.filesFailed };
      for (const [direction, value] of Object.entries(now)) {
        const delta = value - (seen[`files.${direction}`] ?? 0);
        if (delta > 0) this.inc({ direction }, delta);
        seen[`files.${direction}`] = value;
      }
    },
  });
  new Counter({
    name: "toxbridge_file_bytes_total",
    help: "Bytes of the files counted in toxbridge_files_total (to_tox, from_tox)",
    labelNames: ["direction"],
    registers,
    collect() {
      const m = core.metrics;
      const now = { to_tox: m.fileBytesToTox, from_tox: m.fileBytesFromTox };
      for (const [direction, value] of Object.entries(now)) {
        const delta = value - (seen[`bytes.${direction}`] ?? 0);
        if (delta > 0) this.inc({ direction }, delta);
        seen[`bytes.${direction}`] = value;
      }
    },
  });
  new Gauge({
    name: "toxbridge_friends_online",
    help: "Tox friends of bridged users that are online now",
    registers,
    async collect() {
      const g = await core.gauges().catch(() => undefined);
      if (g !== undefined) this.set(g.friendsOnline);
    },
  });
  new Gauge({
    name: "toxbridge_queue_depth",
    help: "Messages waiting: outbox_queued/outbox_sending (to Tox), inbox (to the users' networks)",
    labelNames: ["queue"],
    registers,
    async collect() {
      const g = await core.gauges().catch(() => undefined);
      if (g === undefined) return;
      this.set({ queue: "outbox_queued" }, g.outboxQueued);
      this.set({ queue: "outbox_sending" }, g.outboxSending);
      this.set({ queue: "inbox" }, g.inboxWaiting);
    },
  });
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
    let db: Queryable | undefined;
    const store = await openConfiguredStore(
      config,
      logger,
      opts.openStore ??
        (async (o) => {
          const opened = await (await import("./store/index.js")).openStoreWithDb(o);
          db = opened.db;
          return opened.store;
        }),
    );
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
      ...(db === undefined ? {} : { db }),
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
