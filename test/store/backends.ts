/**
 * The two store backends the store suites run against. Each hands out fresh, isolated databases
 * quickly: PGlite by copying a prepared data directory (initdb in WASM takes seconds), PostgreSQL
 * with CREATE DATABASE from a template on one server started for the test file.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type Db,
  type OpenStoreOptions,
  openStore,
  openStoreWithDb,
  type Store,
} from "../../src/store/index.js";
import { startPostgres, type TestPostgres } from "../helpers/postgres.js";

export const TEST_KEY = "test store key: correct horse battery staple";

export interface Backend {
  readonly name: "pglite" | "postgres";
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** Options for a fresh database; `migrated` starts from an already migrated one (faster). */
  fresh(opts?: { migrated?: boolean }): Promise<OpenStoreOptions>;
}

function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * A freshly initdb'd, unmigrated PGlite data directory (as openStore lays it out), cached under
 * node_modules/.cache per PGlite version: initdb in WASM takes seconds, copying it milliseconds.
 * Built in a temp sibling and renamed into place, so parallel test files never see half a cache.
 */
export async function pgliteTemplate(): Promise<string> {
  const nodeModules = fileURLToPath(new URL("../../node_modules/", import.meta.url));
  const pkgPath = join(nodeModules, "@electric-sql", "pglite", "package.json");
  const version = (JSON.parse(readFileSync(pkgPath, "utf8")) as { version: string }).version;
  const cacheRoot = join(nodeModules, ".cache", "toxbridge-test");
  const finalDir = join(cacheRoot, `pglite-${version}-initdb`);
  if (existsSync(join(finalDir, "pglite", "PG_VERSION"))) return finalDir;
  mkdirSync(cacheRoot, { recursive: true });
  const building = mkdtempSync(join(cacheRoot, "building-"));
  try {
    const store = await openStore({ dataDir: building, encryptionKey: TEST_KEY });
    await store.close();
    try {
      renameSync(building, finalDir);
    } catch (err) {
      // Another test file finished first: use theirs.
      if (!existsSync(join(finalDir, "pglite", "PG_VERSION"))) throw err;
    }
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  return finalDir;
}

/**
 * For other suites (core, frontends) that need a real store: a migrated embedded database in a
 * temp dir, ready in well under a second after the first use. `close()` also deletes it.
 */
export async function openTestStore(): Promise<{ store: Store; db: Db; close(): Promise<void> }> {
  const dir = tempDir("toxbridge-teststore-");
  cpSync(await pgliteTemplate(), dir, { recursive: true });
  const { store, db } = await openStoreWithDb({ dataDir: dir, encryptionKey: TEST_KEY });
  try {
    await store.migrate();
  } catch (err) {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    store,
    db,
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

class PgliteBackend implements Backend {
  readonly name = "pglite" as const;
  private root = "";
  private emptyTemplate = "";
  private migratedTemplate = "";
  private count = 0;

  async setup() {
    this.root = tempDir("toxbridge-pglite-");
    this.emptyTemplate = await pgliteTemplate();
    this.migratedTemplate = join(this.root, "migrated");
    cpSync(this.emptyTemplate, this.migratedTemplate, { recursive: true });
    const migrated = await openStore({ dataDir: this.migratedTemplate, encryptionKey: TEST_KEY });
    await migrated.migrate();
    await migrated.close();
  }

  async teardown() {
    if (this.root) rmSync(this.root, { recursive: true, force: true });
  }

  async fresh(opts: { migrated?: boolean } = {}) {
    const dataDir = join(this.root, `db${++this.count}`);
    cpSync(opts.migrated ? this.migratedTemplate : this.emptyTemplate, dataDir, { recursive: true });
    return { dataDir, encryptionKey: TEST_KEY };
  }
}

class PostgresBackend implements Backend {
  readonly name = "postgres" as const;
  private server: TestPostgres | undefined;
  private dataDir = "";

  async setup() {
    this.server = await startPostgres();
    this.dataDir = tempDir("toxbridge-pgdata-");
    const url = await this.server.createDatabase("tpl_migrated");
    const store = await openStore({ url, dataDir: this.dataDir, encryptionKey: TEST_KEY });
    await store.migrate();
    await store.close();
  }

  async teardown() {
    await this.server?.stop();
    if (this.dataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }

  async fresh(opts: { migrated?: boolean } = {}) {
    if (!this.server) throw new Error("postgres backend used before setup");
    const url = await this.server.createDatabase(undefined, opts.migrated ? "tpl_migrated" : undefined);
    return { url, dataDir: this.dataDir, encryptionKey: TEST_KEY };
  }
}

export const backends: Backend[] = [new PgliteBackend(), new PostgresBackend()];

/** Opens a store and remembers it so the suite can close everything after each test. */
export class StoreTracker {
  private readonly open: Store[] = [];

  async open_(opts: OpenStoreOptions): Promise<Store> {
    return (await this.openWithDb(opts)).store;
  }

  async openWithDb(opts: OpenStoreOptions): Promise<{ store: Store; db: Db }> {
    const opened = await openStoreWithDb(opts);
    this.open.push(opened.store);
    return opened;
  }

  async closeAll() {
    await Promise.all(this.open.splice(0).map((s) => s.close()));
  }
}
