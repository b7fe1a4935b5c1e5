/**
 * End to end: the real CLI in a child process, on the embedded PGlite database. First start
 * writes the example config; the second serves /health and /metrics and stops on SIGTERM; then
 * migrate finds the database up to date. One fresh PGlite only: its initdb is the slow part.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const RUNNER = fileURLToPath(new URL("./run-cli.ts", import.meta.url));

let dir: string;
let child: ChildProcess | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "toxbridge-e2e-"));
});
afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  child = undefined;
  await rm(dir, { recursive: true, force: true });
});

function startCli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const proc = spawn(process.execPath, ["--import", "tsx", RUNNER, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child = proc;
  let out = "";
  let err = "";
  proc.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  return { proc, exited, out: () => out, err: () => err };
}

/** Polls the child's stdout for a line matching `re`, failing after `ms`. */
async function waitFor(get: () => string, re: RegExp, ms: number): Promise<RegExpMatchArray> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const m = get().match(re);
    if (m) return m;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${re}; output so far:\n${get()}`);
}

describe("tox-bridge process", () => {
  it("first start writes config.yaml; second start serves /health and /metrics and stops on SIGTERM", async () => {
    const configPath = join(dir, "config.yaml");
    const first = startCli(["start", "--config", configPath]);
    expect(await first.exited).toBe(0);
    expect(first.out()).toContain("Next steps");
    const text = await readFile(configPath, "utf8");
    await writeFile(configPath, text.replace("port: 29333", "port: 0"));

    const run = startCli(["start", "--config", configPath]);
    // A fresh PGlite runs initdb in WebAssembly: ~2 s idle, 20 s+ on a loaded CI machine.
    const listening = await waitFor(run.out, /"port":(\d+),"msg":"HTTP server listening"/, 100_000);
    const base = `http://127.0.0.1:${listening[1]}`;

    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({
      status: "ok",
      database: { kind: "pglite", ok: true },
      tox: { nodes: 0, identities: 0 },
    });
    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.status).toBe(200);
    const body = await metrics.text();
    expect(body).toContain("toxbridge_database_up 1");
    expect(body).toMatch(/toxbridge_build_info\{version="[^"]+"\} 1/);

    const stoppedAt = Date.now();
    run.proc.kill("SIGTERM");
    expect(await run.exited).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);
    expect(run.out()).toContain('"msg":"bridge stopped"');
    expect((await stat(join(dir, "data", "pglite"))).isDirectory()).toBe(true);

    // Every log line is JSON (structured logs for collectors).
    for (const line of run.out().trim().split("\n")) expect(() => JSON.parse(line)).not.toThrow();

    // start applied the migrations already; migrate on the same database has nothing to do.
    const migrate = startCli(["migrate", "--config", configPath], { TOXBRIDGE_LOG_LEVEL: "warn" });
    expect(await migrate.exited).toBe(0);
    expect(migrate.out()).toBe("The pglite database is up to date.\n");
  }, 150_000);

  it("exits 2 on an invalid config without creating the database", async () => {
    const configPath = join(dir, "config.yaml");
    await writeFile(configPath, "homeserver:\n  url: http://localhost:8008\n  domain: localhost\n");
    const run = startCli(["start", "--config", configPath]);
    expect(await run.exited).toBe(2);
    expect(run.err()).toContain("appservice: missing; expected a mapping of settings");
    await expect(stat(join(dir, "data"))).rejects.toThrow();
  });
});
