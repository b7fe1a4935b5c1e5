/**
 * PostgreSQL through a `pg.Pool` as a Db. Type parsing is configured per pool (not through pg's
 * global registry) so that values match the PGlite backend exactly: bytea comes back as a plain
 * Uint8Array rather than a Node Buffer, int8 as a number.
 */
import pg from "pg";
import {
  type Connection,
  type Db,
  type Executor,
  OID_BYTEA,
  OID_INT8,
  parseInt8,
  type QueryResult,
  type Row,
} from "./db.js";
import type { StoreLogger } from "./types.js";

const parseByteaAsBuffer = pg.types.getTypeParser(OID_BYTEA, "text") as (text: string) => Buffer;

/** Copies into a standalone Uint8Array: a Buffer may be a view into a shared pool slab. */
function parseBytea(text: string): Uint8Array {
  return new Uint8Array(parseByteaAsBuffer(text));
}

const typeParsers = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === OID_INT8) return parseInt8;
    if (oid === OID_BYTEA) return parseBytea;
    return pg.types.getTypeParser(oid, format ?? "text");
  },
} as pg.CustomTypesConfig;

function adapt(client: pg.PoolClient | pg.Pool): Executor {
  return {
    async query<T extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<T>> {
      const res = await client.query<T>(sql, params as unknown[]);
      return { rows: res.rows, rowCount: res.rowCount ?? res.rows.length };
    },
    async exec(sql: string): Promise<void> {
      // No parameters: pg uses the simple query protocol, which accepts several statements.
      await client.query(sql);
    },
  };
}

async function inTransaction<T>(client: pg.PoolClient, fn: (tx: Executor) => Promise<T>): Promise<T> {
  await client.query("BEGIN");
  try {
    const result = await fn(adapt(client));
    await client.query("COMMIT");
    return result;
  } catch (err) {
    try {
      await client.query("ROLLBACK");
    } catch {
      // The session is in an unknown state; withClient must destroy it rather than reuse it.
      brokenClients.add(client);
    }
    throw err;
  }
}

const brokenClients = new WeakSet<pg.PoolClient>();

export class PostgresDb implements Db {
  readonly kind = "postgres" as const;
  private readonly self: Executor;

  private constructor(private readonly pool: pg.Pool) {
    this.self = adapt(pool);
  }

  static open(url: string, opts: { poolSize?: number; logger?: StoreLogger } = {}): PostgresDb {
    const pool = new pg.Pool({
      connectionString: url,
      max: opts.poolSize ?? 10,
      types: typeParsers,
      application_name: "toxbridge",
      // Without a bound, a connect to an unreachable server hangs for minutes (TCP retries).
      connectionTimeoutMillis: 10_000,
    });
    // An idle client losing its server must not crash the process; the pool replaces it.
    pool.on("error", (err) => opts.logger?.warn(`store: idle PostgreSQL connection failed: ${err.message}`));
    return new PostgresDb(pool);
  }

  query<T extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>> {
    return this.self.query<T>(sql, params);
  }

  exec(sql: string): Promise<void> {
    return this.self.exec(sql);
  }

  transaction<T>(fn: (tx: Executor) => Promise<T>): Promise<T> {
    return this.withClient((client) => inTransaction(client, fn));
  }

  withConnection<T>(fn: (conn: Connection) => Promise<T>): Promise<T> {
    return this.withClient((client) => {
      const base = adapt(client);
      return fn({ ...base, transaction: (inner) => inTransaction(client, inner) });
    });
  }

  async close(): Promise<void> {
    if (!this.pool.ended) await this.pool.end();
  }

  private async withClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      return await fn(client);
    } finally {
      client.release(brokenClients.has(client));
    }
  }
}
