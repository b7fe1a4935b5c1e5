import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MigrationError, StoreKeyError } from "../../src/store/index.js";
import { checksumOf, DEFAULT_MIGRATIONS_DIR, loadMigrations } from "../../src/store/migrate.js";
import { backends, StoreTracker } from "./backends.js";

const scratch = mkdtempSync(join(tmpdir(), "toxbridge-migrations-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let dirCount = 0;

/** A migrations directory holding the given files (name -> SQL). */
function migrationsDir(files: Record<string, string>): string {
  const dir = join(scratch, `m${++dirCount}`);
  mkdirSync(dir);
  for (const [name, sql] of Object.entries(files)) writeFileSync(join(dir, name), sql);
  return dir;
}

const INITIAL = readFileSync(join(DEFAULT_MIGRATIONS_DIR, "001_initial.sql"), "utf8");
/** Every shipped migration (later ones are added over time; these tests must not care how many). */
const SHIPPED = loadMigrations();
const ALL_FILES = SHIPPED.map((m) => m.file);

describe("loadMigrations", () => {
  it("reads the shipped migrations in version order with checksums", () => {
    const ms = loadMigrations();
    expect(ms[0]).toMatchObject({ version: 1, file: "001_initial.sql", name: "initial" });
    expect(ms[0]!.checksum).toBe(checksumOf(INITIAL));
    expect(ms.map((m) => m.version)).toEqual([...ms.map((m) => m.version)].sort((a, b) => a - b));
  });

  it("treats CRLF line endings as the same file", () => {
    expect(checksumOf("a;\r\nb;\r\n")).toBe(checksumOf("a;\nb;\n"));
    expect(checksumOf("a;\nb;\n")).not.toBe(checksumOf("a;\nc;\n"));
  });

  it("orders numerically and ignores non-SQL files", () => {
    const dir = migrationsDir({
      "010_ten.sql": "SELECT 10;",
      "002_two.sql": "SELECT 2;",
      "README.md": "# notes",
    });
    expect(loadMigrations(dir).map((m) => m.file)).toEqual(["002_two.sql", "010_ten.sql"]);
  });

  it.each([
    [{ "1_short.sql": "SELECT 1;" }, /1_short\.sql .*not named NNN_lowercase_name\.sql/],
    [{ "002_Bad-Name.sql": "SELECT 1;" }, /002_Bad-Name\.sql/],
    [
      { "003_a.sql": "SELECT 1;", "003_b.sql": "SELECT 2;" },
      /003_a\.sql and 003_b\.sql have the same version 3/,
    ],
    [{ "004_empty.sql": "  \n" }, /004_empty\.sql is empty/],
    [{}, /no migration files found/],
  ])("refuses a bad set of files %#", (files, message) => {
    const dir = migrationsDir(files);
    expect(() => loadMigrations(dir)).toThrow(MigrationError);
    expect(() => loadMigrations(dir)).toThrow(message);
  });

  it("reports a missing directory", () => {
    expect(() => loadMigrations(join(scratch, "nope"))).toThrow(/migrations directory .*nope cannot be read/);
  });
});

describe.each(backends)("migrations on $name", (backend) => {
  const stores = new StoreTracker();
  beforeAll(() => backend.setup());
  afterEach(() => stores.closeAll());
  afterAll(() => backend.teardown());

  it("applies 001 on a fresh database, records it, and is a no-op the second time", async () => {
    const opts = await backend.fresh();
    const store = await stores.open_(opts);
    expect(store.kind).toBe(backend.name);
    expect(await store.migrate()).toEqual({ applied: ALL_FILES });
    expect(ALL_FILES[0]).toBe("001_initial.sql");
    expect(await store.migrate()).toEqual({ applied: [] });
    await stores.closeAll();
    const again = await stores.open_(opts);
    expect(await again.migrate()).toEqual({ applied: [] });
    // the repositories work on the migrated schema
    expect(await again.accounts.list()).toEqual([]);
  });

  it("applies only the pending files, in order, on a later upgrade", async () => {
    const opts = await backend.fresh();
    const v1 = migrationsDir({ "001_initial.sql": INITIAL });
    expect((await (await stores.open_({ ...opts, migrationsDir: v1 })).migrate()).applied).toEqual([
      "001_initial.sql",
    ]);
    await stores.closeAll();
    const v3 = migrationsDir({
      "001_initial.sql": INITIAL,
      "003_more.sql": "ALTER TABLE extra ADD COLUMN b int;",
      "002_extra.sql": "CREATE TABLE extra (a int);",
    });
    const store = await stores.open_({ ...opts, migrationsDir: v3 });
    expect(await store.migrate()).toEqual({ applied: ["002_extra.sql", "003_more.sql"] });
    expect(await store.migrate()).toEqual({ applied: [] });
  });

  it("refuses to start when an applied file was modified, naming the file", async () => {
    const opts = await backend.fresh();
    const dir = migrationsDir({ "001_initial.sql": INITIAL, "002_extra.sql": "CREATE TABLE extra (a int);" });
    await (await stores.open_({ ...opts, migrationsDir: dir })).migrate();
    await stores.closeAll();
    writeFileSync(join(dir, "002_extra.sql"), "CREATE TABLE extra (a bigint);");
    const store = await stores.open_({ ...opts, migrationsDir: dir });
    const err = await store.migrate().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as Error).message).toMatch(/migration 002_extra\.sql was modified after it was applied/);
    expect((err as MigrationError).context).toMatchObject({ file: "002_extra.sql" });
  });

  it("refuses a database that has a migration this version does not know", async () => {
    const opts = await backend.fresh();
    const newer = migrationsDir({
      "001_initial.sql": INITIAL,
      "002_extra.sql": "CREATE TABLE extra (a int);",
    });
    await (await stores.open_({ ...opts, migrationsDir: newer })).migrate();
    await stores.closeAll();
    const older = migrationsDir({ "001_initial.sql": INITIAL });
    const store = await stores.open_({ ...opts, migrationsDir: older });
    await expect(store.migrate()).rejects.toThrow(/migration 2 \(extra\) applied but no such file exists/);
  });

  it("refuses a new file numbered below an applied one", async () => {
    const opts = await backend.fresh();
    const first = migrationsDir({ "001_initial.sql": INITIAL, "005_five.sql": "CREATE TABLE five (a int);" });
    await (await stores.open_({ ...opts, migrationsDir: first })).migrate();
    await stores.closeAll();
    const second = migrationsDir({
      "001_initial.sql": INITIAL,
      "003_three.sql": "CREATE TABLE three (a int);",
      "005_five.sql": "CREATE TABLE five (a int);",
    });
    const store = await stores.open_({ ...opts, migrationsDir: second });
    await expect(store.migrate()).rejects.toThrow(/003_three\.sql is pending but the later migration 5/);
  });

  it("rolls back a failing migration completely and names it", async () => {
    const opts = await backend.fresh();
    const dir = migrationsDir({
      "001_initial.sql": INITIAL,
      "002_broken.sql": "CREATE TABLE half_done (a int);\nCREATE TABLE oops (a nosuchtype);",
    });
    const store = await stores.open_({ ...opts, migrationsDir: dir });
    const err = await store.migrate().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as Error).message).toMatch(
      /migration 002_broken\.sql failed and was rolled back: .*nosuchtype/,
    );
    // 001 stayed applied; 002 left nothing behind and is not recorded, so a fixed file applies cleanly.
    writeFileSync(join(dir, "002_broken.sql"), "CREATE TABLE half_done (a int);");
    expect(await store.migrate()).toEqual({ applied: ["002_broken.sql"] });
  });

  it("refuses to start with a different encryption key", async () => {
    const opts = await backend.fresh();
    await (await stores.open_(opts)).migrate();
    await stores.closeAll();
    const wrong = await stores.open_({ ...opts, encryptionKey: "some other key" });
    const err = await wrong.migrate().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreKeyError);
    expect((err as Error).message).toMatch(/encryption key is not the one this database was created with/);
  });

  it("serialises concurrent migrate() calls on one store", async () => {
    const store = await stores.open_(await backend.fresh());
    const results = await Promise.all([store.migrate(), store.migrate(), store.migrate()]);
    expect(results.flatMap((r) => r.applied)).toEqual(ALL_FILES);
  });

  if (backend.name === "postgres") {
    it("applies once when several processes migrate the same database at once", async () => {
      const opts = await backend.fresh();
      // Separate stores = separate pools and sessions, as separate processes would have.
      const racers = await Promise.all(Array.from({ length: 4 }, () => stores.open_(opts)));
      const results = await Promise.all(racers.map((s) => s.migrate()));
      expect(results.flatMap((r) => r.applied)).toEqual(ALL_FILES);
      const client = new pg.Client({ connectionString: opts.url });
      await client.connect();
      try {
        const { rows } = await client.query("SELECT version, name FROM schema_migrations ORDER BY version");
        expect(rows).toEqual(SHIPPED.map((m) => ({ version: m.version, name: m.name })));
      } finally {
        await client.end();
      }
    });
  } else {
    it("refuses a second store on the same data directory while the first is open", async () => {
      const opts = await backend.fresh();
      await stores.open_(opts);
      await expect(stores.open_(opts)).rejects.toThrow(
        /already held by this process \(store opened twice\?\)/,
      );
    });
  }
});
