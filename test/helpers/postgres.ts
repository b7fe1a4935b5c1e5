/**
 * Starts a throwaway PostgreSQL server for tests: initdb into a temp dir, listen on 127.0.0.1
 * only (port in 55400-55499 unless PG_TEST_PORT_BASE says otherwise), fsync off, unix socket in
 * the temp dir. As root the server runs as the `postgres` user. `stop()` shuts it down and
 * deletes the directory; an exiting test process kills it too.
 *
 * Never skips: if no server can be started the returned promise rejects with the reason, so the
 * suites that need it fail loudly. Binaries: $PG_BIN, else the newest /usr/lib/postgresql/N/bin,
 * else `pg_config --bindir`.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

export interface TestPostgres {
  /** Connection URL of the `postgres` database (superuser, trust auth). */
  url: string;
  port: number;
  /** Creates a fresh database (optionally from a template database) and returns its URL. */
  createDatabase(name?: string, template?: string): Promise<string>;
  stop(): Promise<void>;
}

const PORT_FIRST = Number(process.env.PG_TEST_PORT_BASE ?? 55400);
const PORT_COUNT = 100;

function findBinDir(): string {
  const fromEnv = process.env.PG_BIN;
  if (fromEnv) {
    if (existsSync(join(fromEnv, "postgres")) && existsSync(join(fromEnv, "initdb"))) return fromEnv;
    throw new Error(`startPostgres: PG_BIN=${fromEnv} does not contain the postgres and initdb binaries`);
  }
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, "bin", "postgres")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions[0]) return join(root, versions[0], "bin");
  try {
    return execFileSync("pg_config", ["--bindir"], { encoding: "utf8" }).trim();
  } catch {
    throw new Error(
      "startPostgres: no PostgreSQL server binaries found (looked in $PG_BIN, /usr/lib/postgresql/*/bin " +
        "and pg_config --bindir); install the postgresql package",
    );
  }
}

/** As root, PostgreSQL refuses to run; use the postgres account's uid/gid. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    return { uid, gid };
  } catch {
    throw new Error("startPostgres: running as root but there is no `postgres` user to run the server as");
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

async function pickPort(exclude: Set<number>): Promise<number> {
  const offset = (process.pid * 7) % PORT_COUNT; // spread parallel test files over the range
  for (let i = 0; i < PORT_COUNT; i++) {
    const port = PORT_FIRST + ((offset + i) % PORT_COUNT);
    if (!exclude.has(port) && (await portFree(port))) return port;
  }
  throw new Error(`startPostgres: no free port in ${PORT_FIRST}-${PORT_FIRST + PORT_COUNT - 1}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitReady(url: string, exited: () => string | null, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = "";
  while (Date.now() < deadline) {
    const exit = exited();
    if (exit !== null) throw new Error(exit);
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    try {
      await client.connect();
      await client.query("SELECT 1");
      return;
    } catch (err) {
      lastError = (err as Error).message;
    } finally {
      await client.end().catch(() => {});
    }
    await sleep(100);
  }
  throw new Error(`server did not accept connections within ${timeoutMs} ms (last error: ${lastError})`);
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = findBinDir();
  const user = runAs();
  const root = mkdtempSync(join(tmpdir(), "toxbridge-pg-"));
  const dataDir = join(root, "data");
  const socketDir = join(root, "sock");
  mkdirSync(socketDir);
  if (user) {
    chownSync(root, user.uid, user.gid);
    chownSync(socketDir, user.uid, user.gid);
  }
  const cleanupDir = () => rmSync(root, { recursive: true, force: true });

  const init = spawnSync(
    join(bin, "initdb"),
    ["-D", dataDir, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"],
    { encoding: "utf8", ...user, timeout: 60_000 },
  );
  if (init.status !== 0) {
    cleanupDir();
    throw new Error(
      `startPostgres: initdb failed (${init.error?.message ?? `exit ${init.status}`}): ${init.stderr}`,
    );
  }

  const tried = new Set<number>();
  for (let attempt = 1; ; attempt++) {
    const port = await pickPort(tried);
    tried.add(port);
    const server = spawn(
      join(bin, "postgres"),
      [
        "-D",
        dataDir,
        "-p",
        String(port),
        "-k",
        socketDir,
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "fsync=off",
        "-c",
        "synchronous_commit=off",
        "-c",
        "full_page_writes=off",
        "-c",
        "max_connections=60",
      ],
      { ...user, stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    server.stderr?.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    let exitInfo: string | null = null;
    server.once("exit", (code, signal) => {
      exitInfo = `postgres exited (${signal ?? `code ${code}`}): ${stderr.trim() || "(no output)"}`;
    });
    server.once("error", (err) => {
      exitInfo = `postgres could not be started: ${err.message}`;
    });
    // Last resort if the test process ends without stop(): immediate shutdown.
    const onExit = () => {
      if (server.exitCode === null && server.pid) server.kill("SIGQUIT");
      cleanupDir();
    };
    process.once("exit", onExit);

    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    try {
      await waitReady(url, () => exitInfo, 30_000);
    } catch (err) {
      if (server.exitCode === null) server.kill("SIGKILL");
      process.removeListener("exit", onExit);
      const message = (err as Error).message;
      // Another process may have taken the port between our check and the bind: try another one.
      if (attempt < 3 && /could not (bind|create listen)|address already in use/i.test(message)) {
        await new Promise((r) => (server.exitCode === null ? server.once("exit", r) : r(undefined)));
        continue;
      }
      cleanupDir();
      throw new Error(`startPostgres: ${message}`);
    }

    let counter = 0;
    let stopped = false;
    return {
      url,
      port,
      async createDatabase(name?: string, template?: string) {
        const db = name ?? `t_${process.pid}_${++counter}`;
        if (!/^[a-z_][a-z0-9_]*$/.test(db) || (template && !/^[a-z_][a-z0-9_]*$/.test(template)))
          throw new Error(`createDatabase: unsafe database name ${db}`);
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          await client.query(`CREATE DATABASE ${db}${template ? ` TEMPLATE ${template}` : ""}`);
        } finally {
          await client.end();
        }
        return `postgres://postgres@127.0.0.1:${port}/${db}`;
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        process.removeListener("exit", onExit);
        if (server.exitCode === null && server.signalCode === null) {
          const exited = new Promise((r) => server.once("exit", r));
          server.kill("SIGINT"); // fast shutdown: disconnects clients, no checkpoint wait on fsync=off
          const timer = setTimeout(() => server.kill("SIGKILL"), 10_000);
          await exited;
          clearTimeout(timer);
        }
        cleanupDir();
      },
    };
  }
}
