import { EventEmitter } from "node:events";
import { mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { type CliIo, main } from "../../src/cli.js";
import { parseConfigText } from "../../src/config/load.js";
import { VERSION } from "../../src/version.js";
import { fakeStore, openerFor } from "../app/fake-store.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "toxbridge-cli-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Captured {
  out: string;
  err: string;
  io: Partial<CliIo>;
}

function capture(extra: Partial<CliIo> = {}): Captured {
  const c: Captured = { out: "", err: "", io: {} };
  c.io = {
    stdout: (t) => {
      c.out += t;
    },
    stderr: (t) => {
      c.err += t;
    },
    env: {},
    cwd: dir,
    signals: new EventEmitter(),
    forceExit: () => {
      throw new Error("forceExit not expected");
    },
    exitWatchdogMs: 0,
    ...extra,
  };
  return c;
}

async function run(argv: string[], extra: Partial<CliIo> = {}) {
  const c = capture(extra);
  const code = await main(argv, c.io);
  return { code, out: c.out, err: c.err };
}

describe("help and usage", () => {
  it("prints global help and the version", async () => {
    for (const argv of [["--help"], ["-h"], ["help"]]) {
      const r = await run(argv);
      expect(r.code).toBe(0);
      expect(r.out).toContain("Usage: tox-bridge [command] [options]");
      for (const cmd of ["start", "generate-registration", "migrate"]) expect(r.out).toContain(cmd);
    }
    expect(await run(["--version"])).toEqual({ code: 0, out: `${VERSION}\n`, err: "" });
  });

  it("has --help on every command, and help <command> says the same", async () => {
    for (const cmd of ["start", "generate-registration", "migrate"]) {
      const a = await run([cmd, "--help"]);
      const b = await run(["help", cmd]);
      expect(a.code).toBe(0);
      expect(a.out).toContain(`Usage: tox-bridge ${cmd}`);
      expect(b.out).toBe(a.out);
    }
    expect(await readdir(dir)).toEqual([]); // help writes nothing
  });

  it("rejects unknown commands and options with exit code 2", async () => {
    const a = await run(["frobnicate"]);
    expect(a.code).toBe(2);
    expect(a.err).toContain('unknown command "frobnicate"');
    const b = await run(["start", "--bogus"]);
    expect(b.code).toBe(2);
    expect(b.err).toContain("tox-bridge start: Unknown option '--bogus'");
    const c = await run(["help", "nope"]);
    expect(c.code).toBe(2);
    expect((await run(["help", "constructor"])).code).toBe(2);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe("first start", () => {
  it("writes a valid, commented example config with next steps and exits 0", async () => {
    const r = await run(["start"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("wrote an example to config.yaml");
    expect(r.out).toContain("tox-bridge generate-registration --config config.yaml --file registration.yaml");
    expect(await readdir(dir)).toEqual(["config.yaml"]);
    const text = await readFile(join(dir, "config.yaml"), "utf8");
    expect(text).toMatch(/^# toxbridge configuration/);
    expect(parseConfigText(text).ok).toBe(true);
    expect((await stat(join(dir, "config.yaml"))).mode & 0o077).toBe(0); // holds secrets
  });

  it("is the default command, honours --config and creates parent directories", async () => {
    const r = await run(["--config", "etc/toxbridge/bridge.yaml"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("etc/toxbridge/bridge.yaml");
    expect(parseConfigText(await readFile(join(dir, "etc/toxbridge/bridge.yaml"), "utf8")).ok).toBe(true);
  });
});

describe("first start where the config cannot be written", () => {
  it("exits 1 and says why", async () => {
    // A dangling symlink reads as "not found" but refuses an exclusive create.
    await symlink(join(dir, "missing-target.yaml"), join(dir, "config.yaml"));
    const r = await run(["start"]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^config\.yaml: not found, and writing an example there failed: EEXIST/);
  });
});

describe("start with a bad config", () => {
  it("prints one line per problem naming the key, exits 2 and writes nothing", async () => {
    await run(["start"]);
    const path = join(dir, "config.yaml");
    const good = await readFile(path, "utf8");
    await writeFile(path, good.replace("port: 29333", 'port: "abc"').replace("level: info", "level: loud"));
    const before = await readFile(path, "utf8");
    const r = await run(["start"]);
    expect(r.code).toBe(2);
    expect(r.err.trim().split("\n")).toEqual([
      'config.yaml: appservice.port: expected an integer between 0 and 65535 (0 picks a free port), got "abc"',
      'config.yaml: logging.level: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"',
      "config.yaml: 2 problems; nothing was started or written.",
    ]);
    expect(await readdir(dir)).toEqual(["config.yaml"]);
    expect(await readFile(path, "utf8")).toBe(before);
  });
});

describe("generate-registration", () => {
  it("writes a registration that parses and matches the config's tokens", async () => {
    await run(["start"]);
    const r = await run(["generate-registration", "--config", "config.yaml", "--file", "registration.yaml"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("app_service_config_files");
    const config = parse(await readFile(join(dir, "config.yaml"), "utf8"));
    const reg = parse(await readFile(join(dir, "registration.yaml"), "utf8"));
    expect(reg.as_token).toBe(config.appservice.as_token);
    expect(reg.hs_token).toBe(config.appservice.hs_token);
    expect(reg.as_token).not.toBe(reg.hs_token);
    expect(reg.sender_localpart).toBe("toxbot");
    expect(reg.url).toBe("http://localhost:29333");
    expect(reg.namespaces.users).toEqual([{ exclusive: true, regex: "@_tox_.*:localhost" }]);
    expect(reg.receive_ephemeral).toBe(true);
    expect(reg["de.sorunome.msc2409.push_ephemeral"]).toBe(true);
  });

  it("generates missing tokens into the config first so both files agree", async () => {
    await run(["start"]);
    const path = join(dir, "config.yaml");
    await writeFile(
      path,
      (await readFile(path, "utf8"))
        .replace(/ {2}as_token: \S+\n/, "")
        .replace(/hs_token: \S+/, 'hs_token: ""'),
    );
    const r = await run(["generate-registration", "-f", "out/reg.yaml"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("Generated appservice.as_token and appservice.hs_token");
    const config = parse(await readFile(path, "utf8"));
    const reg = parse(await readFile(join(dir, "out/reg.yaml"), "utf8"));
    expect(config.appservice.as_token.length).toBeGreaterThanOrEqual(32);
    expect(reg.as_token).toBe(config.appservice.as_token);
    expect(reg.hs_token).toBe(config.appservice.hs_token);
  });

  it("uses tokens from the environment", async () => {
    await run(["start"]);
    const env = {
      TOXBRIDGE_AS_TOKEN: "env-as-token-0123456789",
      TOXBRIDGE_HS_TOKEN: "env-hs-token-0123456789",
    };
    expect((await run(["generate-registration"], { env })).code).toBe(0);
    const reg = parse(await readFile(join(dir, "registration.yaml"), "utf8"));
    expect([reg.as_token, reg.hs_token]).toEqual([env.TOXBRIDGE_AS_TOKEN, env.TOXBRIDGE_HS_TOKEN]);
  });

  it("fails with exit 2 when the config is missing or invalid, writing nothing", async () => {
    const a = await run(["generate-registration"]);
    expect(a.code).toBe(2);
    expect(a.err).toContain("config.yaml: file not found");
    expect(await readdir(dir)).toEqual([]);
    await writeFile(join(dir, "config.yaml"), "homeserver: {}\n");
    const b = await run(["generate-registration"]);
    expect(b.code).toBe(2);
    expect(b.err).toContain("config.yaml: homeserver.url: missing");
    expect(await readdir(dir)).toEqual(["config.yaml"]);
  });
});

describe("migrate", () => {
  it("applies migrations through the store and closes it", async () => {
    await run(["start"]);
    const store = fakeStore();
    const r = await run(["migrate"], { startOptions: { openStore: openerFor(store) } });
    expect(r.code).toBe(0);
    expect(r.out).toBe("Applied 1 migration(s) to the pglite database: 001_initial\n");
    expect(store.calls).toEqual(["open", "migrate", "close"]);
  });

  it("exits 1 with the reason when the database fails", async () => {
    await run(["start"]);
    const store = fakeStore();
    store.migrate = async () => {
      throw new Error("disk full");
    };
    const r = await run(["migrate", "--config", "config.yaml"], {
      startOptions: { openStore: openerFor(store) },
      env: { TOXBRIDGE_LOG_LEVEL: "silent" },
    });
    expect(r.code).toBe(1);
    expect(r.err).toContain("tox-bridge migrate: disk full");
    expect(store.calls).toEqual(["open", "close"]);
  });
});

describe("start", () => {
  async function writeTestConfig() {
    await run(["start"]);
    const path = join(dir, "config.yaml");
    await writeFile(
      path,
      (await readFile(path, "utf8"))
        .replace("port: 29333", "port: 0")
        .replace("level: info", "level: silent"),
    );
  }

  it("runs until SIGTERM, then stops in order and exits 0", async () => {
    await writeTestConfig();
    const signals = new EventEmitter();
    const store = fakeStore();
    let port = 0;
    const c = capture({
      signals,
      startOptions: { openStore: openerFor(store) },
      onStarted: (bridge) => {
        port = bridge.httpPort;
        fetch(`http://127.0.0.1:${port}/health`)
          .then((res) => {
            expect(res.status).toBe(200);
            signals.emit("SIGTERM");
          })
          .catch(() => signals.emit("SIGTERM"));
      },
    });
    expect(await main(["start"], c.io)).toBe(0);
    expect(port).toBeGreaterThan(0);
    expect(store.calls).toEqual(["open", "migrate", "close"]);
    expect(signals.listenerCount("SIGTERM")).toBe(0);
    expect(signals.listenerCount("SIGINT")).toBe(0);
  });

  it("honours a SIGTERM that arrives while the bridge is still starting", async () => {
    await writeTestConfig();
    const signals = new EventEmitter();
    const store = fakeStore();
    const open = openerFor(store);
    let started = false;
    const c = capture({
      signals,
      startOptions: {
        openStore: async (opts) => {
          signals.emit("SIGTERM"); // mid-start: nobody has seen the bridge yet
          await new Promise((r) => setTimeout(r, 20));
          return open(opts);
        },
      },
      onStarted: () => {
        started = true;
      },
    });
    expect(await main(["start"], c.io)).toBe(0);
    expect(started).toBe(true);
    expect(store.calls).toEqual(["open", "migrate", "close"]);
  });

  it("forces exit on a second signal while stopping", async () => {
    await writeTestConfig();
    const signals = new EventEmitter();
    const store = fakeStore();
    let releaseClose: () => void = () => {};
    store.close = () =>
      new Promise<void>((r) => {
        releaseClose = r;
      });
    const forced: number[] = [];
    const c = capture({
      signals,
      startOptions: { openStore: openerFor(store) },
      forceExit: (code) => {
        forced.push(code);
        releaseClose();
      },
      onStarted: () => {
        signals.emit("SIGINT");
        setTimeout(() => signals.emit("SIGTERM"), 20);
      },
    });
    expect(await main(["start"], c.io)).toBe(0);
    expect(forced).toEqual([130]);
  });

  it("arms an exit watchdog after stopping, for components that leak handles", async () => {
    await writeTestConfig();
    const signals = new EventEmitter();
    const forced: number[] = [];
    const c = capture({
      signals,
      exitWatchdogMs: 20,
      forceExit: (code) => forced.push(code),
      startOptions: { openStore: openerFor(fakeStore()) },
      onStarted: () => signals.emit("SIGTERM"),
    });
    expect(await main(["start"], c.io)).toBe(0);
    expect(forced).toEqual([]);
    await new Promise((r) => setTimeout(r, 60));
    expect(forced).toEqual([0]);
  });

  it("stops in order and exits 1 after an uncaught exception; only logs stray rejections", async () => {
    await writeTestConfig();
    const signals = new EventEmitter();
    const store = fakeStore();
    const c = capture({
      signals,
      startOptions: { openStore: openerFor(store) },
      onStarted: () => {
        signals.emit("unhandledRejection", new Error("lost promise"));
        setTimeout(() => signals.emit("uncaughtException", new Error("component blew up")), 10);
      },
    });
    expect(await main(["start"], c.io)).toBe(1);
    expect(store.calls).toEqual(["open", "migrate", "close"]);
    for (const event of ["SIGTERM", "SIGINT", "uncaughtException", "unhandledRejection"]) {
      expect(signals.listenerCount(event)).toBe(0);
    }
  });

  it("exits 1 with the reason when the bridge cannot start", async () => {
    await writeTestConfig();
    const store = fakeStore();
    store.migrate = async () => {
      throw new Error("database is locked");
    };
    const r = await run(["start"], { startOptions: { openStore: openerFor(store) } });
    expect(r.code).toBe(1);
    expect(r.err).toContain("tox-bridge: failed to start: database is locked");
    expect(store.calls).toEqual(["open", "close"]);
  });
});
