/**
 * Errors the core reports to users through a frontend. Each has a code a frontend may map to its
 * own error (an XMPP error condition, a Matrix notice) and a message fit to show as it is.
 */
export type CoreErrorCode =
  | "no-account"
  | "account-exists"
  | "bad-tox-id"
  | "own-tox-id"
  | "already-friend"
  | "unknown-friend"
  | "ambiguous-friend"
  | "not-permitted"
  | "bad-argument"
  | "empty-message"
  | "unknown-conference";

export class CoreError extends Error {
  override readonly name = "CoreError";
  constructor(
    readonly code: CoreErrorCode,
    message: string,
    readonly context: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** Minimal structured logger (pino's shape), so the core does not depend on pino. */
export interface CoreLogger {
  debug(obj: Record<string, unknown>, msg: string): void;
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

export const silentLogger: CoreLogger = { debug() {}, info() {}, warn() {}, error() {} };

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
