/** The test PostgreSQL launcher other suites rely on: it starts, isolates, stops, and fails loudly. */
import { existsSync } from "node:fs";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { startPostgres } from "../helpers/postgres.js";

describe("startPostgres", () => {
  const savedBin = process.env.PG_BIN;
  afterEach(() => {
    if (savedBin === undefined) delete process.env.PG_BIN;
    else process.env.PG_BIN = savedBin;
  });

  it("starts a loopback server, creates databases, and stops it completely", async () => {
    const server = await startPostgres();
    expect(server.url).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
    expect(server.port).toBeGreaterThanOrEqual(55400);
    expect(server.port).toBeLessThan(55500);
    const url = await server.createDatabase("helper_check");
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query(
      "SELECT current_database() AS db, current_setting('fsync') AS fsync, current_setting('listen_addresses') AS listen",
    );
    await client.end();
    expect(rows[0]).toEqual({ db: "helper_check", fsync: "off", listen: "127.0.0.1" });
    const dataDir = await dataDirectory(server.url);
    await server.stop();
    await server.stop(); // idempotent
    expect(existsSync(dataDir)).toBe(false);
    const after = new pg.Client({ connectionString: server.url, connectionTimeoutMillis: 2000 });
    await expect(after.connect()).rejects.toThrow();
    await after.end().catch(() => {});
  });

  it("rejects with the reason when the server cannot be started", async () => {
    process.env.PG_BIN = "/nonexistent/postgres/bin";
    await expect(startPostgres()).rejects.toThrow(/PG_BIN=\/nonexistent\/postgres\/bin does not contain/);
  });
});

async function dataDirectory(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query("SHOW data_directory");
    return (rows[0] as { data_directory: string }).data_directory;
  } finally {
    await client.end();
  }
}
