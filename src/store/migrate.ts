/**
 * SQL migrations: `NNN_name.sql` files applied in version order, each in its own transaction
 * together with its row in `schema_migrations`. Concurrent starts are serialised with a
 * session-level advisory lock (PostgreSQL) and an in-process queue (PGlite has one session, where
 * the advisory lock is re-entrant and would not exclude anyone).
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Db } from "./db.js";
import { MigrationError } from "./errors.js";
import type { StoreLogger } from "./types.js";

export interface Migration {
  version: number;
  /** File name, e.g. "001_initial.sql"; what errors and the `applied` list report. */
  file: string;
  name: string;
  sql: string;
  /** sha256 hex of the SQL with line endings normalised (a CRLF checkout is not a change). */
  checksum: string;
}

/** `migrations/` at the repository root, from both src/store and dist/store. */
export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL("../../migrations/", import.meta.url));

/** Arbitrary constant identifying toxbridge's migration lock among other advisory locks. */
const MIGRATION_LOCK_KEY = 0x746f_7862_7367; // "toxbsg"

const FILE_PATTERN = /^(\d{3,})_([a-z0-9][a-z0-9_]*)\.sql$/;

export function checksumOf(sql: string): string {
  return createHash("sha256").update(sql.replace(/\r\n/g, "\n")).digest("hex");
}

/** Reads and validates the migration files; throws MigrationError naming the offending file. */
export function loadMigrations(dir: string = DEFAULT_MIGRATIONS_DIR): Migration[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (err) {
    throw new MigrationError(`migrations directory ${dir} cannot be read: ${(err as Error).message}`, {
      dir,
    });
  }
  const byVersion = new Map<number, Migration>();
  for (const file of entries.filter((f) => f.endsWith(".sql")).sort()) {
    const match = FILE_PATTERN.exec(file);
    if (!match)
      throw new MigrationError(`migration file ${file} in ${dir} is not named NNN_lowercase_name.sql`, {
        dir,
        file,
      });
    const version = Number(match[1]);
    const clash = byVersion.get(version);
    if (clash)
      throw new MigrationError(`migration files ${clash.file} and ${file} have the same version ${version}`, {
        dir,
        file,
      });
    const sql = readFileSync(join(dir, file), "utf8");
    if (sql.trim() === "") throw new MigrationError(`migration file ${file} is empty`, { dir, file });
    byVersion.set(version, { version, file, name: match[2]!, sql, checksum: checksumOf(sql) });
  }
  if (byVersion.size === 0) throw new MigrationError(`no migration files found in ${dir}`, { dir });
  return [...byVersion.values()].sort((a, b) => a.version - b.version);
}

interface AppliedRow {
  version: number;
  name: string;
  checksum: string;
  [key: string]: unknown;
}

const inProcessQueues = new WeakMap<Db, Promise<unknown>>();

/** Applies pending migrations; returns the files applied by this call (empty when up to date). */
export function runMigrations(
  db: Db,
  migrations: readonly Migration[],
  logger?: StoreLogger,
): Promise<{ applied: string[] }> {
  const previous = inProcessQueues.get(db) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(() => migrateLocked(db, migrations, logger));
  inProcessQueues.set(db, run);
  return run;
}

async function migrateLocked(
  db: Db,
  migrations: readonly Migration[],
  logger?: StoreLogger,
): Promise<{ applied: string[] }> {
  return db.withConnection(async (conn) => {
    await conn.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
    try {
      // Created under the lock: concurrent CREATE TABLE IF NOT EXISTS can still collide.
      await conn.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version    integer PRIMARY KEY,
        name       text NOT NULL,
        checksum   text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
      const { rows } = await conn.query<AppliedRow>(
        "SELECT version, name, checksum FROM schema_migrations ORDER BY version",
      );
      const pending = pendingMigrations(migrations, rows);
      const applied: string[] = [];
      for (const m of pending) {
        const started = Date.now();
        try {
          await conn.transaction(async (tx) => {
            await tx.exec(m.sql);
            await tx.query("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)", [
              m.version,
              m.name,
              m.checksum,
            ]);
          });
        } catch (err) {
          throw new MigrationError(
            `migration ${m.file} failed and was rolled back: ${(err as Error).message}`,
            { file: m.file, version: m.version },
            { cause: err },
          );
        }
        logger?.info(`store: applied migration ${m.file} in ${Date.now() - started} ms`);
        applied.push(m.file);
      }
      return { applied };
    } finally {
      // Must not mask the real error; a session that died has released its locks anyway.
      await conn
        .query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY])
        .catch((err: unknown) => logger?.warn(`store: releasing the migration lock failed: ${String(err)}`));
    }
  });
}

/** Compares the recorded history with the files; anything inconsistent refuses to start. */
function pendingMigrations(migrations: readonly Migration[], applied: readonly AppliedRow[]): Migration[] {
  const files = new Map(migrations.map((m) => [m.version, m]));
  let highestApplied = 0;
  for (const row of applied) {
    const m = files.get(row.version);
    if (!m)
      throw new MigrationError(
        `the database has migration ${row.version} (${row.name}) applied but no such file exists; ` +
          "is this an older toxbridge than the one that last used this database?",
        { version: row.version },
      );
    if (m.checksum !== row.checksum)
      throw new MigrationError(
        `migration ${m.file} was modified after it was applied (checksum ${row.checksum.slice(0, 12)}… ` +
          `recorded, file has ${m.checksum.slice(0, 12)}…); restore the original and add a new migration instead`,
        { file: m.file, version: m.version },
      );
    highestApplied = Math.max(highestApplied, row.version);
  }
  const done = new Set(applied.map((r) => r.version));
  const pending = migrations.filter((m) => !done.has(m.version));
  const outOfOrder = pending.find((m) => m.version < highestApplied);
  if (outOfOrder)
    throw new MigrationError(
      `migration ${outOfOrder.file} is pending but the later migration ${highestApplied} is already applied; ` +
        "renumber it after the applied ones",
      { file: outOfOrder.file, version: outOfOrder.version },
    );
  return pending;
}
