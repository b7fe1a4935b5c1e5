/**
 * Prometheus metrics. One Registry per bridge instance (not prom-client's global one), so tests
 * and several bridges in one process do not collide. Components add their own metrics to
 * `registry` with the `toxbridge_` prefix.
 */
import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";

export interface BridgeMetrics {
  registry: Registry;
  /** 1 while the database answers; refreshed at scrape time. */
  databaseUp: Gauge;
  /** DHT nodes the Tox layer currently knows (set by the Tox component). */
  toxNodes: Gauge;
  /** Tox identities the bridge keeps online (set by the Tox component). */
  toxIdentities: Gauge;
  httpRequests: Counter<"route" | "status">;
}

export interface MetricsOptions {
  version: string;
  /** Evaluated on every scrape; must not throw. */
  databaseOk: () => Promise<boolean>;
  /** Tox numbers, read at scrape time so the gauges never go stale; must not throw. */
  toxStatus?: () => { nodes: number; identities: number };
  /** Node.js process metrics (event loop lag, GC, memory); off in tests for speed. */
  defaultMetrics?: boolean;
}

export function createMetrics(opts: MetricsOptions): BridgeMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: "toxbridge_" });

  const info = new Gauge({
    name: "toxbridge_build_info",
    help: "Always 1; the version label says which toxbridge is running",
    labelNames: ["version"],
    registers: [registry],
  });
  info.set({ version: opts.version }, 1);

  const databaseUp = new Gauge({
    name: "toxbridge_database_up",
    help: "1 when the database answered a trivial query at scrape time, else 0",
    registers: [registry],
    async collect() {
      this.set((await opts.databaseOk()) ? 1 : 0);
    },
  });
  const toxNodes = new Gauge({
    name: "toxbridge_tox_dht_nodes",
    help: "DHT nodes currently known to the Tox layer",
    registers: [registry],
    collect() {
      if (opts.toxStatus) this.set(opts.toxStatus().nodes);
    },
  });
  const toxIdentities = new Gauge({
    name: "toxbridge_tox_identities",
    help: "Tox identities the bridge keeps online",
    registers: [registry],
    collect() {
      if (opts.toxStatus) this.set(opts.toxStatus().identities);
    },
  });
  const httpRequests = new Counter({
    name: "toxbridge_http_requests_total",
    help: "HTTP requests served, by route and status code",
    labelNames: ["route", "status"] as const,
    registers: [registry],
  });
  return { registry, databaseUp, toxNodes, toxIdentities, httpRequests };
}
