/**
 * The `tox-bridge` command line. `main(argv)` returns the process exit code instead of exiting,
 * so tests can drive it in-process; bin/tox-bridge.js does the exiting.
 *
 * Exit codes: 0 success, 1 runtime failure (database, port in use, ...), 2 bad usage or an
 * invalid config file (every problem is printed, one line each, and nothing is started/written).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  bridgeComponents,
  openConfiguredStore,
  type RunningBridge,
  type StartOptions,
  startBridge,
} from "./app.js";
import { exampleConfigYaml } from "./config/example.js";
import { type ConfigLoadResult, loadConfigFile } from "./config/load.js";
import { buildRegistration, fillMissingTokens, registrationYaml } from "./config/registration.js";
import type { Config } from "./config/schema.js";
import { createLogger } from "./logger.js";
import { TOX_PEER_HELP } from "./tools/tox-peer/args.js";
import { VERSION } from "./version.js";

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

type Signal = "SIGTERM" | "SIGINT";
type ProcessEvent = Signal | "uncaughtException" | "unhandledRejection";

/** The part of `process` the running bridge listens to; an EventEmitter in tests. */
export interface SignalSource {
  on(event: ProcessEvent, listener: (arg: unknown) => void): unknown;
  off(event: ProcessEvent, listener: (arg: unknown) => void): unknown;
}

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: NodeJS.ProcessEnv;
  cwd: string;
  signals: SignalSource;
  /** Called on a second SIGTERM/SIGINT while stopping. */
  forceExit(code: number): void;
  /** Test hook: store injection and extra components for `start`. */
  startOptions?: StartOptions;
  /**
   * After an orderly stop the process should exit on its own; if a component leaked a socket or
   * timer it would hang instead. This watchdog (unref'd, so it never keeps the process alive)
   * logs what is still open and forces the exit. 0 disables it (in-process tests).
   */
  exitWatchdogMs: number;
  /** Test hook: called once the bridge is up. */
  onStarted?(bridge: RunningBridge): void;
  /** Command input for `tox-peer` (default process.stdin). */
  stdin?: NodeJS.ReadableStream;
}

function defaultIo(): CliIo {
  return {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    env: process.env,
    cwd: process.cwd(),
    signals: process,
    forceExit: (code) => process.exit(code),
    exitWatchdogMs: 10_000,
  };
}

const GLOBAL_HELP = `tox-bridge ${VERSION}: a gateway between Matrix, XMPP and the Tox messenger

Usage: tox-bridge [command] [options]

Commands:
  start                  Run the bridge (the default). Writes an example config on first run.
  generate-registration  Write the Matrix appservice registration file.
  migrate                Apply database migrations and exit.
  tox-peer               A headless Tox client: one identity, commands on stdin, events on stdout.
  help [command]         Show help for a command.

Options:
  -h, --help             Show help (also after a command: tox-bridge start --help).
  -V, --version          Print the version.

Exit codes: 0 ok, 1 runtime failure, 2 bad usage or invalid config.
`;

const COMMAND_HELP: Record<string, string> = {
  start: `Usage: tox-bridge start [--config config.yaml]

Runs the bridge until SIGTERM or SIGINT (a second signal forces an immediate exit).
If the config file does not exist, writes a commented example with fresh random secrets,
prints the next steps and exits 0. An invalid config exits 2 with one line per problem.

Options:
  -c, --config <path>  Config file (default: config.yaml)
  -h, --help           Show this help
`,
  "generate-registration": `Usage: tox-bridge generate-registration [--config config.yaml] [--file registration.yaml]

Writes the Matrix appservice registration for your homeserver. Its tokens are the config's
(environment overrides included); missing as_token/hs_token are generated and saved into the
config file first, so the two files always agree.

Options:
  -c, --config <path>  Config file (default: config.yaml)
  -f, --file <path>    Registration file to write (default: registration.yaml)
  -h, --help           Show this help
`,
  migrate: `Usage: tox-bridge migrate [--config config.yaml]

Applies pending database migrations (PostgreSQL or the embedded PGlite) and exits.

Options:
  -c, --config <path>  Config file (default: config.yaml)
  -h, --help           Show this help
`,
};
COMMAND_HELP["tox-peer"] = TOX_PEER_HELP;
COMMAND_HELP.help = GLOBAL_HELP;

class UsageError extends Error {}

function parseCommandArgs(command: string, args: string[], withFile: boolean) {
  try {
    const { values } = parseArgs({
      args,
      allowPositionals: false,
      strict: true,
      options: {
        config: { type: "string", short: "c", default: "config.yaml" },
        help: { type: "boolean", short: "h", default: false },
        ...(withFile ? { file: { type: "string" as const, short: "f", default: "registration.yaml" } } : {}),
      },
    });
    return values as { config: string; help: boolean; file?: string };
  } catch (err) {
    throw new UsageError(`tox-bridge ${command}: ${(err as Error).message}`);
  }
}

export async function main(argv: string[], ioOverrides: Partial<CliIo> = {}): Promise<number> {
  const io: CliIo = { ...defaultIo(), ...ioOverrides };
  const [first, ...rest] = argv;
  try {
    if (first === undefined) return await startCommand(io, []);
    if (first === "-h" || first === "--help") {
      io.stdout(GLOBAL_HELP);
      return EXIT_OK;
    }
    if (first === "-V" || first === "--version") {
      io.stdout(`${VERSION}\n`);
      return EXIT_OK;
    }
    if (first === "help") {
      const topic = rest[0];
      const text =
        topic === undefined
          ? GLOBAL_HELP
          : Object.hasOwn(COMMAND_HELP, topic)
            ? COMMAND_HELP[topic]
            : undefined;
      if (text === undefined) throw new UsageError(`tox-bridge help: unknown command "${topic}"`);
      io.stdout(text);
      return EXIT_OK;
    }
    // Options without a command mean "start" (e.g. `tox-bridge --config x.yaml`).
    if (first.startsWith("-")) return await startCommand(io, argv);
    switch (first) {
      case "start":
        return await startCommand(io, rest);
      case "generate-registration":
        return await generateRegistrationCommand(io, rest);
      case "migrate":
        return await migrateCommand(io, rest);
      case "tox-peer":
        return await toxPeerCommand(io, rest);
      default:
        throw new UsageError(`tox-bridge: unknown command "${first}"`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`${err.message}\nRun "tox-bridge --help" for usage.\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
}

function reportConfigErrors(
  io: CliIo,
  result: Extract<ConfigLoadResult, { ok: false }>,
  label: string,
): number {
  for (const line of result.errors) io.stderr(`${line}\n`);
  if (result.notFound) {
    io.stderr(`Run "tox-bridge start --config ${label}" once to create an example config.\n`);
  } else {
    const n = result.errors.length;
    io.stderr(`${label}: ${n} problem${n === 1 ? "" : "s"}; nothing was started or written.\n`);
  }
  return EXIT_USAGE;
}

function displayPath(io: CliIo, path: string): string {
  const rel = relative(io.cwd, path);
  return rel === "" || rel.startsWith("..") ? path : rel;
}

async function startCommand(io: CliIo, args: string[]): Promise<number> {
  const opts = parseCommandArgs("start", args, false);
  if (opts.help) {
    io.stdout(COMMAND_HELP.start!);
    return EXIT_OK;
  }
  const path = resolve(io.cwd, opts.config);
  const label = displayPath(io, path);
  const loaded = await loadConfigFile(path, { fileLabel: label, env: io.env });
  if (!loaded.ok && loaded.notFound) return writeExampleConfig(io, path, label);
  if (!loaded.ok) return reportConfigErrors(io, loaded, label);
  return runBridge(io, loaded.config, loaded.warnings, loaded.envApplied);
}

async function writeExampleConfig(io: CliIo, path: string, label: string): Promise<number> {
  try {
    await mkdir(dirname(path), { recursive: true });
    // "wx": never clobber a config that appeared since we looked; 0600: it holds secrets.
    await writeFile(path, exampleConfigYaml(), { flag: "wx", mode: 0o600 });
  } catch (err) {
    io.stderr(`${label}: not found, and writing an example there failed: ${(err as Error).message}\n`);
    return EXIT_FAILURE;
  }
  io.stdout(`No config found, so I wrote an example to ${label} (with fresh random secrets).

Next steps:
  1. Edit ${label}: set homeserver.url and homeserver.domain (and bridge.permissions).
  2. Generate the appservice registration:
       tox-bridge generate-registration --config ${label} --file registration.yaml
  3. Add registration.yaml to your homeserver (Synapse: app_service_config_files) and restart it,
     then set appservice.enabled: true in ${label}.
     For XMPP: set xmpp.enabled, xmpp.component_jid and xmpp.secret, and declare the component
     in your XMPP server (README, "XMPP").
  4. Start the bridge:
       tox-bridge start --config ${label}
     With no database.url it uses the embedded database in database.data_dir (./data).
(In a source checkout, run "node bin/tox-bridge.js" or "npm start" where it says "tox-bridge".)
`);
  return EXIT_OK;
}

async function runBridge(
  io: CliIo,
  config: Config,
  warnings: string[],
  envApplied: string[],
): Promise<number> {
  const logger = createLogger({ level: config.logging.level, pretty: config.logging.pretty });
  for (const w of warnings) logger.warn(w);
  logger.info({ version: VERSION, env: envApplied.length ? envApplied : undefined }, "starting toxbridge");

  // Listen before starting: a signal during a slow start must still stop cleanly afterwards.
  let stopReason: string | undefined;
  let exitCode = EXIT_OK;
  let wake: (() => void) | undefined;
  const requestStop = (reason: string, code: number) => {
    if (stopReason) {
      logger.warn({ reason }, "second stop request while stopping: exiting immediately");
      io.forceExit(code === EXIT_OK ? 130 : code);
      return;
    }
    stopReason = reason;
    exitCode = code;
    logger.info({ reason }, "stopping");
    wake?.();
  };
  const onTerm = () => requestStop("SIGTERM", EXIT_OK);
  const onInt = () => requestStop("SIGINT", EXIT_OK);
  // A thrown error nobody caught leaves some component in an unknown state: stop everything in
  // order and exit non-zero so a supervisor restarts us. A stray rejected promise is logged only;
  // the component that lost it is still expected to report its own failure.
  const onUncaught = (err: unknown) => {
    logger.fatal({ err }, "uncaught exception");
    requestStop("uncaught exception", EXIT_FAILURE);
  };
  const onUnhandled = (err: unknown) => {
    logger.error({ err }, "unhandled promise rejection");
  };
  const listeners: Array<[ProcessEvent, (arg: unknown) => void]> = [
    ["SIGTERM", onTerm],
    ["SIGINT", onInt],
    ["uncaughtException", onUncaught],
    ["unhandledRejection", onUnhandled],
  ];
  for (const [event, listener] of listeners) io.signals.on(event, listener);
  try {
    let bridge: RunningBridge;
    try {
      bridge = await startBridge(config, logger, {
        components: bridgeComponents(config),
        ...io.startOptions,
      });
    } catch (err) {
      logger.error({ err }, "bridge failed to start");
      io.stderr(`tox-bridge: failed to start: ${(err as Error).message}\n`);
      return EXIT_FAILURE;
    }
    io.onStarted?.(bridge);
    if (!stopReason) {
      await new Promise<void>((resolveWait) => {
        wake = resolveWait;
      });
    }
    await bridge.stop();
    if (io.exitWatchdogMs > 0) {
      setTimeout(() => {
        logger.warn(
          { open: process.getActiveResourcesInfo() },
          "still running after stop; a component left handles open; forcing exit",
        );
        io.forceExit(exitCode);
      }, io.exitWatchdogMs).unref();
    }
    return exitCode;
  } finally {
    for (const [event, listener] of listeners) io.signals.off(event, listener);
  }
}

async function loadExisting(io: CliIo, configArg: string) {
  const path = resolve(io.cwd, configArg);
  const label = displayPath(io, path);
  return { path, label, loaded: await loadConfigFile(path, { fileLabel: label, env: io.env }) };
}

async function generateRegistrationCommand(io: CliIo, args: string[]): Promise<number> {
  const opts = parseCommandArgs("generate-registration", args, true);
  if (opts.help) {
    io.stdout(COMMAND_HELP["generate-registration"]!);
    return EXIT_OK;
  }
  const path = resolve(io.cwd, opts.config);
  const label = displayPath(io, path);
  let filled: string[] = [];
  try {
    filled = await fillMissingTokens(path, io.env);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const { loaded } = await loadExisting(io, opts.config);
  if (!loaded.ok) return reportConfigErrors(io, loaded, label);
  const regPath = resolve(io.cwd, opts.file ?? "registration.yaml");
  await mkdir(dirname(regPath), { recursive: true });
  await writeFile(regPath, registrationYaml(buildRegistration(loaded.config)), { mode: 0o600 });
  if (filled.length) io.stdout(`Generated ${filled.join(" and ")} and saved them in ${label}.\n`);
  io.stdout(`Wrote ${displayPath(io, regPath)} (appservice id "${loaded.config.appservice.id}", url ${loaded.config.appservice.address}).
Add it to your homeserver, e.g. for Synapse in homeserver.yaml:
  app_service_config_files:
    - ${regPath}
then restart the homeserver and start the bridge.
`);
  return EXIT_OK;
}

async function migrateCommand(io: CliIo, args: string[]): Promise<number> {
  const opts = parseCommandArgs("migrate", args, false);
  if (opts.help) {
    io.stdout(COMMAND_HELP.migrate!);
    return EXIT_OK;
  }
  const { label, loaded } = await loadExisting(io, opts.config);
  if (!loaded.ok) return reportConfigErrors(io, loaded, label);
  const logger = createLogger({ level: loaded.config.logging.level, pretty: loaded.config.logging.pretty });
  try {
    const store = await openConfiguredStore(loaded.config, logger, io.startOptions?.openStore);
    try {
      const { applied } = await store.migrate();
      io.stdout(
        applied.length
          ? `Applied ${applied.length} migration(s) to the ${store.kind} database: ${applied.join(", ")}\n`
          : `The ${store.kind} database is up to date.\n`,
      );
    } finally {
      await store.close();
    }
    return EXIT_OK;
  } catch (err) {
    logger.error({ err }, "migration failed");
    io.stderr(`tox-bridge migrate: ${(err as Error).message}\n`);
    return EXIT_FAILURE;
  }
}

async function toxPeerCommand(io: CliIo, args: string[]): Promise<number> {
  // Loaded on demand: the Tox stack is not needed by the other commands.
  const { runToxPeer } = await import("./tools/tox-peer/run.js");
  return runToxPeer(args, {
    stdin: io.stdin ?? process.stdin,
    stdout: io.stdout,
    stderr: io.stderr,
    cwd: io.cwd,
    signals: io.signals,
  });
}
