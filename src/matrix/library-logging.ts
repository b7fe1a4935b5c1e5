/**
 * Sends the log lines of matrix-appservice-bridge (winston) and of the bot-sdk under it into our
 * pino logger, so the bridge writes one log format. Without this they print coloured text to the
 * console on their own.
 */
import { Writable } from "node:stream";
import type { Logger } from "../logger.js";
import type { BridgeModule } from "./load-bridge.js";

type PinoLevel = "error" | "warn" | "info" | "debug" | "trace";

const LEVELS: Record<string, PinoLevel> = {
  ERROR: "error",
  WARN: "warn",
  INFO: "info",
  HTTP: "debug",
  VERBOSE: "debug",
  DEBUG: "debug",
  SILLY: "trace",
  TRACE: "trace",
};

interface LibraryLine {
  level?: string;
  module?: string;
  message?: string;
  error?: string;
  requestId?: string;
}

/** Parses one JSON line of the library's winston output and logs it through `log`. */
export function forwardLibraryLine(log: Logger, line: string): void {
  if (line.trim() === "") return;
  let entry: LibraryLine;
  try {
    entry = JSON.parse(line) as LibraryLine;
  } catch {
    log.info({ module: "matrix-lib" }, line);
    return;
  }
  const level = LEVELS[(entry.level ?? "INFO").toUpperCase()] ?? "info";
  const fields: Record<string, unknown> = { module: entry.module ?? "matrix-lib" };
  if (entry.error !== undefined) fields.error = entry.error;
  if (entry.requestId !== undefined) fields.requestId = entry.requestId;
  log[level](fields, entry.message ?? "");
}

/** Configures the library's global logger to write JSON lines into `log` (and nowhere else). */
export function routeLibraryLogs(lib: BridgeModule, log: Logger): void {
  let pending = "";
  const sink = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      pending += chunk.toString();
      let nl = pending.indexOf("\n");
      while (nl >= 0) {
        forwardLibraryLine(log, pending.slice(0, nl));
        pending = pending.slice(nl + 1);
        nl = pending.indexOf("\n");
      }
      done();
    },
  });
  lib.Logger.root.configureLogging({ json: true }, sink);
}
