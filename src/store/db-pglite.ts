/**
 * PGlite (PostgreSQL compiled to WASM, in-process) as a Db. The default backend: no server to run,
 * the database lives in a directory. One PGlite instance is one session; PGlite serialises
 * queries and transactions internally.
 */
import { mkdirSync } from "node:fs";
import { PGlite, type Transaction } from "@electric-sql/pglite";
import {
  type Connection,
  type Db,
  type Executor,
  OID_INT8,
  parseInt8,
  type QueryResult,
  type Row,
} from "./db.js";

function adapt(q: PGlite | Transaction): Executor {
  return {
    async exec(sql: string): Promise<void> {
      await q.exec(sql);
    },
    async query<T extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<T>> {
      const res = await q.query<T>(sql, params as unknown[]);
      // affectedRows is set for DML; for SELECT it is 0 and the row count is what matters.
      return { rows: res.rows, rowCount: Math.max(res.rows.length, res.affectedRows ?? 0) };
    },
  };
}

export class PgliteDb implements Db {
  readonly kind = "pglite" as const;
  private readonly self: Executor;

  private constructor(private readonly pg: PGlite) {
    this.self = adapt(pg);
  }

  /** Opens (creating on first use) the database in `dir`; `dir === null` keeps it in memory. */
  static async open(dir: string | null): Promise<PgliteDb> {
    if (dir !== null) mkdirSync(dir, { recursive: true });
    const options = { parsers: { [OID_INT8]: parseInt8 } };
    const pg = dir === null ? new PGlite(options) : new PGlite(dir, options);
    await pg.waitReady;
    return new PgliteDb(pg);
  }

  query<T extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>> {
    return this.self.query<T>(sql, params);
  }

  exec(sql: string): Promise<void> {
    return this.self.exec(sql);
  }

  transaction<T>(fn: (tx: Executor) => Promise<T>): Promise<T> {
    return this.pg.transaction((tx) => fn(adapt(tx)));
  }

  withConnection<T>(fn: (conn: Connection) => Promise<T>): Promise<T> {
    return fn(this);
  }

  async close(): Promise<void> {
    if (!this.pg.closed) await this.pg.close();
  }
}
