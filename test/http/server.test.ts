import { afterEach, describe, expect, it } from "vitest";
import { createMetrics } from "../../src/http/metrics.js";
import {
  createHttpApp,
  type HealthReport,
  listen,
  type RunningHttpServer,
  withTimeout,
} from "../../src/http/server.js";
import { silentLogger } from "../../src/logger.js";

let running: RunningHttpServer | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

function report(ok: boolean): HealthReport {
  return {
    status: ok ? "ok" : "degraded",
    version: "1.2.3",
    database: { kind: "pglite", ok },
    tox: { nodes: 3, identities: 1 },
  };
}

async function serve(opts: { dbOk?: boolean; metrics?: boolean; failHealth?: boolean } = {}) {
  const metrics = createMetrics({
    version: "1.2.3",
    databaseOk: async () => opts.dbOk ?? true,
    toxStatus: () => ({ nodes: 7, identities: 2 }),
    defaultMetrics: false,
  });
  const app = createHttpApp({
    logger: silentLogger(),
    health: async () => {
      if (opts.failHealth) throw new Error("boom");
      return report(opts.dbOk ?? true);
    },
    ...(opts.metrics === false ? {} : { metrics }),
  });
  running = await listen(app, "127.0.0.1", 0);
  return `http://127.0.0.1:${running.port}`;
}

describe("HTTP endpoints", () => {
  it("GET /health answers 200 with the report when the database is ok", async () => {
    const base = await serve();
    const res = await fetch(`${base}/health`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/application\/json/);
    expect(await res.json()).toEqual(report(true));
  });

  it("GET /health answers 503 when the database is down or the check fails", async () => {
    let base = await serve({ dbOk: false });
    let res = await fetch(`${base}/health`);
    expect(res.status).toBe(503);
    expect(((await res.json()) as HealthReport).database.ok).toBe(false);
    await running?.close();
    base = await serve({ failHealth: true });
    res = await fetch(`${base}/health`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: "error", error: "health check failed" });
  });

  it("GET /metrics serves Prometheus text with the bridge gauges", async () => {
    const base = await serve({ dbOk: false });
    await fetch(`${base}/health`);
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain;.*version=0\.0\.4/);
    const body = await res.text();
    expect(body).toContain('toxbridge_build_info{version="1.2.3"} 1');
    expect(body).toContain("toxbridge_database_up 0");
    expect(body).toContain("toxbridge_tox_dht_nodes 7");
    expect(body).toContain("toxbridge_tox_identities 2");
    expect(body).toContain('toxbridge_http_requests_total{route="/health",status="503"} 1');
  });

  it("GET /metrics is 404 when metrics are disabled; unknown paths are 404", async () => {
    const base = await serve({ metrics: false });
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

  it("includes Node.js default metrics when asked", async () => {
    const m = createMetrics({ version: "x", databaseOk: async () => true });
    expect(await m.registry.metrics()).toContain("toxbridge_process_cpu_user_seconds_total");
  });

  it("close() finishes even with an idle keep-alive connection open", async () => {
    const base = await serve();
    await fetch(`${base}/health`, { keepalive: true });
    const started = Date.now();
    await running?.close();
    running = undefined;
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("listen() reports a port already in use with the address", async () => {
    await serve();
    const app = createHttpApp({ logger: silentLogger(), health: async () => report(true) });
    await expect(listen(app, "127.0.0.1", running!.port)).rejects.toThrow(
      /cannot listen on 127\.0\.0\.1:\d+/,
    );
  });
});

describe("withTimeout", () => {
  it("returns the fallback for slow or failing promises", async () => {
    expect(await withTimeout(new Promise<boolean>(() => {}), 10, false)).toBe(false);
    expect(await withTimeout(Promise.reject(new Error("x")), 1000, false)).toBe(false);
    expect(await withTimeout(Promise.resolve(true), 1000, false)).toBe(true);
  });
});
