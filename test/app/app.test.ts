import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type BridgeComponent, type BridgeContext, type RunningBridge, startBridge } from "../../src/app.js";
import { exampleConfigYaml } from "../../src/config/example.js";
import { parseConfigText } from "../../src/config/load.js";
import type { Config } from "../../src/config/schema.js";
import { silentLogger } from "../../src/logger.js";
import { VERSION } from "../../src/version.js";
import { type FakeStore, fakeStore, openerFor } from "./fake-store.js";

let dir: string;
let bridge: RunningBridge | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "toxbridge-app-"));
});
afterEach(async () => {
  await bridge?.stop();
  bridge = undefined;
  await rm(dir, { recursive: true, force: true });
});

function testConfig(edit: (text: string) => string = (t) => t): Config {
  const text = edit(exampleConfigYaml().replace("port: 29333", "port: 0"));
  const r = parseConfigText(text, { baseDir: dir });
  if (!r.ok) throw new Error(r.errors.join("\n"));
  return r.config;
}

function recorder(
  name: string,
  log: string[],
  fail?: "start" | "stop",
): BridgeComponent & { ctx?: BridgeContext } {
  const c: BridgeComponent & { ctx?: BridgeContext } = {
    name,
    async start(ctx) {
      c.ctx = ctx;
      log.push(`start ${name}`);
      if (fail === "start") throw new Error(`${name} cannot start`);
    },
    async stop() {
      log.push(`stop ${name}`);
      if (fail === "stop") throw new Error(`${name} cannot stop`);
    },
  };
  return c;
}

describe("startBridge", () => {
  it("opens and migrates the store, serves /health and /metrics, and stops everything", async () => {
    const store = fakeStore();
    bridge = await startBridge(testConfig(), silentLogger(), { openStore: openerFor(store) });
    expect(store.calls).toEqual(["open", "migrate"]);
    expect(store.openedWith?.dataDir).toBe(join(dir, "data"));
    expect(store.openedWith?.url).toBeUndefined();
    expect(store.openedWith?.poolSize).toBe(10);
    expect((await stat(join(dir, "data"))).isDirectory()).toBe(true);

    const base = `http://127.0.0.1:${bridge.httpPort}`;
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({
      status: "ok",
      version: VERSION,
      database: { kind: "pglite", ok: true },
      tox: { nodes: 0, identities: 0 },
    });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain("toxbridge_database_up 1");
    expect(metrics).toContain("toxbridge_process_resident_memory_bytes");

    await bridge.stop();
    await bridge.stop(); // idempotent
    expect(store.calls).toEqual(["open", "migrate", "close"]);
    await expect(fetch(`${base}/health`)).rejects.toThrow();
  });

  it("reports 503 on /health when the database stops answering", async () => {
    const store = fakeStore();
    bridge = await startBridge(testConfig(), silentLogger(), { openStore: openerFor(store) });
    store.healthy = false;
    const res = await fetch(`http://127.0.0.1:${bridge.httpPort}/health`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: "degraded", database: { kind: "pglite", ok: false } });
  });

  it("passes a database URL through and does not create the data dir for PostgreSQL", async () => {
    const store = fakeStore("postgres");
    const config = testConfig((t) =>
      t.replace("# url: postgresql://toxbridge:password@localhost/toxbridge", "url: postgresql://u:p@db/x"),
    );
    bridge = await startBridge(config, silentLogger(), { openStore: openerFor(store) });
    expect(store.openedWith?.url).toBe("postgresql://u:p@db/x");
    await expect(stat(join(dir, "data"))).rejects.toThrow();
  });

  it("starts components in order with the shared context and stops them in reverse", async () => {
    const log: string[] = [];
    const tox = recorder("tox", log);
    const matrix = recorder("matrix", log);
    const store = fakeStore();
    bridge = await startBridge(testConfig(), silentLogger(), {
      openStore: openerFor(store),
      components: [tox, matrix],
    });
    expect(log).toEqual(["start tox", "start matrix"]);
    expect(tox.ctx?.store).toBe(store);

    // Components publish Tox numbers and mount routes on the shared app.
    tox.ctx?.setToxStatus(() => ({ nodes: 12, identities: 3 }));
    matrix.ctx?.http.get("/_matrix/app/v1/ping", (_req, res) => {
      res.json({});
    });
    const base = `http://127.0.0.1:${bridge.httpPort}`;
    expect(((await (await fetch(`${base}/health`)).json()) as { tox: unknown }).tox).toEqual({
      nodes: 12,
      identities: 3,
    });
    expect(await (await fetch(`${base}/metrics`)).text()).toContain("toxbridge_tox_dht_nodes 12");
    expect((await fetch(`${base}/_matrix/app/v1/ping`)).status).toBe(200);

    await bridge.stop();
    expect(log).toEqual(["start tox", "start matrix", "stop matrix", "stop tox"]);
    expect(store.calls.at(-1)).toBe("close");
  });

  it("keeps stopping the rest when one component fails to stop", async () => {
    const log: string[] = [];
    const store = fakeStore();
    bridge = await startBridge(testConfig(), silentLogger(), {
      openStore: openerFor(store),
      components: [recorder("a", log), recorder("b", log, "stop")],
    });
    await bridge.stop();
    expect(log).toEqual(["start a", "start b", "stop b", "stop a"]);
    expect(store.calls.at(-1)).toBe("close");
  });

  it("undoes a partial start when a component fails, and rethrows", async () => {
    const log: string[] = [];
    const store: FakeStore = fakeStore();
    await expect(
      startBridge(testConfig(), silentLogger(), {
        openStore: openerFor(store),
        components: [recorder("a", log), recorder("b", log, "start")],
      }),
    ).rejects.toThrow("b cannot start");
    expect(log).toEqual(["start a", "start b", "stop a"]);
    expect(store.calls).toEqual(["open", "migrate", "close"]);
  });

  it("closes the store when migrations fail", async () => {
    const store = fakeStore();
    store.migrate = async () => {
      throw new Error("migration 002 failed");
    };
    await expect(startBridge(testConfig(), silentLogger(), { openStore: openerFor(store) })).rejects.toThrow(
      "migration 002 failed",
    );
    expect(store.calls).toEqual(["open", "close"]);
  });
});
