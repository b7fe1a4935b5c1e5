/**
 * Structured logging (pino). JSON lines by default, which is what log collectors want; a human
 * format only when `logging.pretty` is set and the optional pino-pretty package is installed.
 */
import { createRequire } from "node:module";
import pino, { type DestinationStream, type Logger } from "pino";

export type { Logger } from "pino";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerOptions {
  level: LogLevel;
  pretty?: boolean;
  /** Where lines go; stdout when absent. Tests pass a stream to capture output. */
  destination?: DestinationStream;
}

/** Field names whose values never reach a log line, wherever they appear in a logged object. */
const REDACTED_PATHS = [
  "as_token",
  "hs_token",
  "secret",
  "encryption_key",
  "encryptionKey",
  "password",
  "*.as_token",
  "*.hs_token",
  "*.secret",
  "*.encryption_key",
  "*.encryptionKey",
  "*.password",
];

function prettyTransportAvailable(): boolean {
  try {
    createRequire(import.meta.url).resolve("pino-pretty");
    return true;
  } catch {
    return false;
  }
}

export function createLogger(opts: LoggerOptions): Logger {
  const base = { name: "toxbridge" };
  const redact = { paths: REDACTED_PATHS, censor: "[redacted]" };
  if (opts.pretty && !opts.destination) {
    if (prettyTransportAvailable()) {
      return pino({ level: opts.level, base, redact, transport: { target: "pino-pretty" } });
    }
    const logger = pino({ level: opts.level, base, redact });
    logger.warn("logging.pretty is set but pino-pretty is not installed; logging JSON");
    return logger;
  }
  return opts.destination
    ? pino({ level: opts.level, base, redact }, opts.destination)
    : pino({ level: opts.level, base, redact });
}

/** A logger that drops everything; for library callers and tests that do not care. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
