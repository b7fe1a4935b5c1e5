/**
 * The wiring: `startBridge` with the Tox core component and `xmppComponent` (real store on
 * embedded PGlite, real ToxNode) against a real Prosody: a chat command to the gateway creates a
 * Tox identity and the reply carries the Tox ID.
 */
import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type RunningBridge, startBridge, toxCoreComponent } from "../../src/app.js";
import { exampleConfigYaml } from "../../src/config/example.js";
import { parseConfigText } from "../../src/config/load.js";
import { silentLogger } from "../../src/logger.js";
import { xmppComponent } from "../../src/xmpp/bridge-component.js";
import { startProsody } from "../helpers/prosody/index.js";
import { pgliteTemplate } from "../store/backends.js";
import { connectUser, xml } from "./user.js";

let cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

describe("xmppComponent", () => {
  it("runs the gateway from the config: a chat command creates a Tox identity", async () => {
    const prosody = await startProsody({
      components: [{ domain: "tox.localhost", secret: "wiring-secret" }],
      users: [{ username: "alice", password: "alice-pw" }],
    });
    cleanup.push(() => prosody.stop());
    const dir = await mkdtemp(join(tmpdir(), "toxbridge-xmpp-app-"));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    await cp(await pgliteTemplate(), join(dir, "data"), { recursive: true });
    const text = exampleConfigYaml()
      .replace(
        "  enabled: false\n  component_jid: tox.localhost",
        "  enabled: true\n  component_jid: tox.localhost",
      )
      .replace("server_port: 5347", `server_port: ${prosody.componentPort}`)
      .replace("# secret: change-me", "secret: wiring-secret")
      .replace("port: 29333", "port: 0")
      .replace("start: 33445", "start: 35300")
      .replace("end: 33545", "end: 35339");
    const parsed = parseConfigText(text, { baseDir: dir });
    if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
    expect(parsed.config.xmpp.enabled).toBe(true);

    const tox = toxCoreComponent();
    const xmpp = xmppComponent({ core: () => tox.core() });
    const bridge: RunningBridge = await startBridge(parsed.config, silentLogger(), {
      components: [tox, xmpp],
    });
    cleanup.push(() => bridge.stop());
    await xmpp.gateway?.waitOnline();

    const alice = await connectUser({
      service: prosody.c2sService,
      domain: "localhost",
      username: "alice",
      password: "alice-pw",
    });
    cleanup.push(() => alice.stop());
    await alice.xmpp.send(xml("message", { to: "tox.localhost", type: "chat" }, xml("body", {}, "create")));
    const reply = await alice.waitFor(
      (el) => el.name === "message" && el.attrs.from === "tox.localhost",
      "reply to create",
      10_000,
    );
    expect(reply.getChildText("body")).toMatch(/[0-9A-F]{76}/);
    expect(await tox.core().account({ kind: "xmpp", id: "alice@localhost" })).not.toBeNull();
  });
});
