/**
 * The one database interface repositories are written against, with two implementations:
 * `pg.Pool` (db-postgres.ts) and in-process PGlite (db-pglite.ts). Both return identical values:
 * int8 as number (bigint only beyond 2^53, which our columns never reach), bytea as a plain
 * Uint8Array, timestamptz as Date, json/jsonb parsed.
 */

export type Row = Record<string, unknown>;

export interface QueryResult<T extends Row = Row> {
  rows: T[];
  /** Rows returned, or rows affected for INSERT/UPDATE/DELETE without RETURNING. */
  rowCount: number;
}

export interface Queryable {
  /** One statement with $1.. parameters (extended protocol). */
  query<T extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>>;
}

export interface Executor extends Queryable {
  /** Several statements without parameters (simple protocol): migration files. */
  exec(sql: string): Promise<void>;
}

export interface Connection extends Executor {
  /** BEGIN .. COMMIT around fn; ROLLBACK and rethrow if it throws. */
  transaction<T>(fn: (tx: Executor) => Promise<T>): Promise<T>;
}

export interface Db extends Connection {
  readonly kind: "pglite" | "postgres";
  /**
   * Runs fn on one dedicated session (session-level advisory locks need that). PGlite has exactly
   * one session, so there it is the database itself.
   */
  withConnection<T>(fn: (conn: Connection) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export const OID_INT8 = 20;
export const OID_BYTEA = 17;

/** int8 text -> number when exact, else bigint (never silently rounded). */
export function parseInt8(text: string): number | bigint {
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : BigInt(text);
}
