/**
 * Store errors. Each carries the operation and the rows involved so a log line explains itself;
 * driver errors from pg and PGlite (same SQLSTATE fields) are translated in one place.
 */

export interface StoreErrorContext {
  /** Repository operation, e.g. "accounts.create". */
  op?: string;
  [key: string]: unknown;
}

export class StoreError extends Error {
  override name = "StoreError";
  constructor(
    message: string,
    readonly context: StoreErrorContext = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A unique, foreign-key, check or not-null constraint refused a write. */
export class StoreConstraintError extends StoreError {
  override name = "StoreConstraintError";
  constructor(
    message: string,
    readonly kind: "unique" | "foreign_key" | "check" | "not_null",
    readonly constraint: string | undefined,
    context: StoreErrorContext = {},
    options?: { cause?: unknown },
  ) {
    super(message, context, options);
  }
}

/** A stored secret could not be decrypted: wrong store encryption key, or a tampered row. */
export class StoreKeyError extends StoreError {
  override name = "StoreKeyError";
}

/** Migration files or the migration history are inconsistent; the store refuses to start. */
export class MigrationError extends StoreError {
  override name = "MigrationError";
}

/** The SQLSTATE fields pg and PGlite both put on their DatabaseError. */
interface DriverError {
  code?: string;
  constraint?: string;
  detail?: string;
  table?: string;
  column?: string;
  message: string;
}

function isDriverError(err: unknown): err is DriverError {
  return err instanceof Error && typeof (err as { code?: unknown }).code === "string";
}

const CONSTRAINT_CODES: Record<string, StoreConstraintError["kind"]> = {
  "23505": "unique",
  "23503": "foreign_key",
  "23514": "check",
  "23502": "not_null",
};

/**
 * Wraps a driver error with the operation and its arguments. Constraint violations become
 * StoreConstraintError naming the constraint and the driver's detail ("Key (x)=(y) already exists").
 */
export function wrapDbError(err: unknown, op: string, context: Record<string, unknown> = {}): StoreError {
  if (err instanceof StoreError) return err;
  if (isDriverError(err)) {
    const kind = err.code === undefined ? undefined : CONSTRAINT_CODES[err.code];
    const where = err.table ? ` on ${err.table}` : "";
    const detail = err.detail ? ` (${err.detail})` : "";
    if (kind) {
      const name = err.constraint ?? err.column ?? "?";
      return new StoreConstraintError(
        `${op}: ${kind.replace("_", " ")} constraint ${name} violated${where}${detail}`,
        kind,
        err.constraint,
        { op, ...context, code: err.code, table: err.table },
        { cause: err },
      );
    }
    return new StoreError(
      `${op}: ${err.message}${where}${detail}`,
      { op, ...context, code: err.code },
      { cause: err },
    );
  }
  const message = err instanceof Error ? err.message : String(err);
  return new StoreError(`${op}: ${message}`, { op, ...context }, { cause: err });
}
