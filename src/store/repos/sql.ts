/** Small helpers shared by the repositories. */
import { wrapDbError } from "../errors.js";

/** Runs a repository operation, turning driver errors into StoreErrors that name it. */
export async function withContext<T>(
  op: string,
  context: Record<string, unknown>,
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw wrapDbError(err, op, context);
  }
}

/**
 * Builds "col = $n, ..." from the defined fields of an update, mapping property names to columns.
 * Undefined means "leave unchanged"; null is written as NULL.
 */
export function setClause(
  update: Record<string, unknown>,
  columns: Record<string, string>,
  firstParam: number,
): { sql: string; params: unknown[] } {
  const parts: string[] = [];
  const params: unknown[] = [];
  for (const [prop, column] of Object.entries(columns)) {
    const value = update[prop];
    if (value === undefined) continue;
    params.push(value);
    parts.push(`${column} = $${firstParam + params.length - 1}`);
  }
  return { sql: parts.join(", "), params };
}

/** Short printable form of a key for error context ("3f9a…c01d"). */
export function keyHint(key: Uint8Array): string {
  const hex = Buffer.from(key).toString("hex");
  return hex.length <= 16 ? hex : `${hex.slice(0, 8)}…${hex.slice(-8)}`;
}

export function asDate(value: unknown): Date {
  return value instanceof Date ? value : new Date(value as string);
}

export function asDateOrNull(value: unknown): Date | null {
  return value === null || value === undefined ? null : asDate(value);
}
