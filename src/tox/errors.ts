/**
 * Error types of the Tox stack. One class per concern, each carrying context (which packet,
 * which field, which peer) so a log line is enough to understand a failure.
 */

export interface WireErrorContext {
  /** Structure being parsed, e.g. "nodes response". */
  what?: string;
  field?: string;
  offset?: number;
  [key: string]: unknown;
}

/** Malformed, truncated or undecryptable input. Never fatal: the packet is dropped. */
export class WireError extends Error {
  override readonly name = "WireError";
  constructor(
    message: string,
    readonly context: WireErrorContext = {},
  ) {
    super(message);
  }
}

/** A protocol rule was violated by a peer or by a local call (state machines raise these). */
export class ToxProtocolError extends Error {
  override readonly name = "ToxProtocolError";
  constructor(
    message: string,
    readonly context: Record<string, unknown> = {},
  ) {
    super(message);
  }

  /** Machine-readable reason (`context.code`), e.g. "already-friend" from `addFriend`. */
  get code(): string | undefined {
    return typeof this.context.code === "string" ? this.context.code : undefined;
  }
}

/** Result of a pure parser: either the value or a typed error. Parsers never throw. */
export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: WireError };

/** Runs a throwing parse body and converts WireError (and only WireError) into a ParseResult. */
export function tryParse<T>(body: () => T): ParseResult<T> {
  try {
    return { ok: true, value: body() };
  } catch (err) {
    if (err instanceof WireError) return { ok: false, error: err };
    throw err;
  }
}

/** Unwraps a ParseResult, throwing its WireError (for tests and internal use). */
export function unwrap<T>(result: ParseResult<T>): T {
  if (!result.ok) throw result.error;
  return result.value;
}
