/**
 * The wiring: `startBridge` with `bridgeComponents(config)` (Tox node + core + Matrix frontend on
 * the shared HTTP port) against the homeserver double, on a real embedded database.
 */
import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { bridgeComponents, type RunningBridge, startBridge } from "../../src/app.js";
import { exampleConfigYaml } from "../../src/config/example.js";
import { parseConfigText } from "../../src/config/load.js";
import { buildRegistration } from "../../src/config/registration.js";
import { silentLogger } from "../../src/logger.js";
import { type HomeserverDouble, startHomeserver } from "../helpers/homeserver/index.js";
import { pgliteTemplate } from "../store/backends.js";

let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

describe("bridgeComponents", () => {
  it("are none while appservice.enabled is false (the generated config's default)", () => {
    const r = parseConfigText(exampleConfigYaml(), { baseDir: "/tmp" });
    if (!r.ok) throw new Error(r.errors.join("\n"));
    expect(bridgeComponents(r.config)).toEqual([]);
  });

  it("start the Tox core and the Matrix frontend: the bot answers on the shared HTTP port", async () => {
    const dir = await mkdtemp(join(tmpdir(), "toxbridge-matrix-app-"));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    // An initdb'd database from the test template: a fresh initdb costs seconds.
    await cp(await pgliteTemplate(), join(dir, "data"), { recursive: true });
    let hs: HomeserverDouble | undefined;
    // The double must exist first (its URL goes into the config), with the registration the
    // config yields; the registration is only known after parsing, so parse twice.
    const text = (url: string) =>
      exampleConfigYaml()
        .replace("enabled: false\n  # The URL", "enabled: true\n  # The URL")
        .replace("url: http://localhost:8008", `url: ${url}`)
        .replace("port: 29333", "port: 0")
        .replace("# provisioning_secret: a-long-random-secret", "provisioning_secret: component-test-secret")
        // Loopback only: no public bootstrap nodes in tests.
        .replace(/bootstrap_nodes:\n( {4}- .*\n)+/, "bootstrap_nodes: []\n")
        .replace("start: 33445", "start: 35420")
        .replace("end: 33545", "end: 35439");
    const first = parseConfigText(text("http://127.0.0.1:9"), { baseDir: dir });
    if (!first.ok) throw new Error(first.errors.join("\n"));
    hs = await startHomeserver({ registration: buildRegistration(first.config), startPaused: true });
    cleanup.push(() => hs!.close());
    const parsed = parseConfigText(
      text(hs.url)
        .replace(/as_token: \S+/, `as_token: ${first.config.appservice.as_token}`)
        .replace(/hs_token: \S+/, `hs_token: ${first.config.appservice.hs_token}`),
      { baseDir: dir },
    );
    if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
    const config = parsed.config;
    expect(config.appservice.enabled).toBe(true);
    expect(config.tox.bootstrap_nodes).toEqual([]);
    const bridge: RunningBridge = await startBridge(config, silentLogger(), {
      components: bridgeComponents(config),
    });
    cleanup.push(() => bridge.stop());
    hs.setAppserviceUrl(`http://127.0.0.1:${bridge.httpPort}`);

    const alice = hs.asUser(hs.createUser("alice"));
    const room = await alice.createDirectRoom(hs.botUserId);
    await hs.waitForMembership(room, hs.botUserId, "join");
    await alice.sendMessage(room, "create");
    const reply = await hs.waitForMessage(
      { roomId: room, sender: hs.botUserId, body: /Your Tox ID: / },
      { timeoutMs: 10_000 },
    );
    expect(String(reply.content.body)).toMatch(/[0-9A-F]{76}/);
    const health = await (await fetch(`http://127.0.0.1:${bridge.httpPort}/health`)).json();
    expect(health).toMatchObject({ status: "ok", tox: { identities: 1 } });
    const metrics = await (await fetch(`http://127.0.0.1:${bridge.httpPort}/metrics`)).text();
    expect(metrics).toContain("toxbridge_tox_identities 1");
    expect(metrics).toContain("toxbridge_friends_online 0");
    expect(metrics).toContain('toxbridge_queue_depth{queue="outbox_queued"} 0');
    expect(metrics).toContain("# TYPE toxbridge_messages_total counter");
    const status = await fetch(
      `http://127.0.0.1:${bridge.httpPort}/_toxbridge/provision/v1/status?user_id=${encodeURIComponent(alice.userId)}`,
      { headers: { Authorization: "Bearer component-test-secret" } },
    );
    expect(await status.json()).toMatchObject({ user_id: alice.userId, account: { name: "alice" } });
  }, 60_000);
});
