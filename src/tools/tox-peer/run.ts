/**
 * `tox-bridge tox-peer`: reads commands from stdin, prints events on stdout, until `quit`, end of
 * input or SIGTERM/SIGINT (all three save the --save profile first). Returns the exit code.
 */
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import type { SaveData } from "../../tox/index.js";
import { parseToxPeerArgs, TOX_PEER_HELP, type ToxPeerOptions } from "./args.js";
import { type PeerBackend, PeerEngine } from "./engine.js";
import { fmt } from "./events.js";
import { loadProfile, writeProfileAtomically } from "./profile.js";

/** What the identity reports; the engine implements it. Keys are lower-case hex. */
export type PeerEventSink = Pick<
  PeerEngine,
  "selfConnection" | "friendRequest" | "friendConnection" | "friendMessage" | "readReceipt" | "friendName"
>;

export interface OpenedBackend {
  backend: PeerBackend;
  close(): Promise<void>;
}

/** Starts the identity (socket bound, bootstrap and relays given to it). */
export type BackendFactory = (
  options: ToxPeerOptions,
  save: SaveData | undefined,
  events: PeerEventSink,
  warn: (text: string) => void,
) => Promise<OpenedBackend>;

type StopSignal = "SIGTERM" | "SIGINT";

export interface ToxPeerIo {
  stdin: NodeJS.ReadableStream;
  stdout(text: string): void;
  stderr(text: string): void;
  cwd: string;
  signals?: {
    on(event: StopSignal, listener: () => void): unknown;
    off(event: StopSignal, listener: () => void): unknown;
  };
  openBackend?: BackendFactory;
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export async function runToxPeer(args: string[], io: ToxPeerIo): Promise<number> {
  const parsed = parseToxPeerArgs(args);
  if (!parsed.ok) {
    for (const e of parsed.errors) io.stderr(`tox-bridge tox-peer: ${e}\n`);
    io.stderr('Run "tox-bridge tox-peer --help" for usage.\n');
    return EXIT_USAGE;
  }
  const options = parsed.options;
  if (options.help) {
    io.stdout(TOX_PEER_HELP);
    return EXIT_OK;
  }
  const savePath = options.save === undefined ? undefined : resolve(io.cwd, options.save);
  let save: SaveData | undefined;
  if (savePath !== undefined) {
    const loaded = await loadProfile(savePath);
    if (!loaded.ok) {
      io.stderr(`tox-bridge tox-peer: ${loaded.error}\n`);
      return EXIT_FAILURE;
    }
    save = loaded.save;
  }

  const print = (line: string) => io.stdout(`${line}\n`);
  // Events that arrive while the engine is not yet up (between bind and READY) wait here.
  let engine: PeerEngine | undefined;
  const early: Array<(e: PeerEngine) => void> = [];
  const deliver = (f: (e: PeerEngine) => void) => {
    if (engine === undefined) early.push(f);
    else f(engine);
  };
  const sink: PeerEventSink = {
    selfConnection: (s) => deliver((e) => e.selfConnection(s)),
    friendRequest: async (pk, msg) => deliver((e) => void e.friendRequest(pk, msg)),
    friendConnection: (pk, s) => deliver((e) => e.friendConnection(pk, s)),
    friendMessage: (pk, t, text) => deliver((e) => e.friendMessage(pk, t, text)),
    readReceipt: (pk, id) => deliver((e) => e.readReceipt(pk, id)),
    friendName: (pk, name) => deliver((e) => e.friendName(pk, name)),
  };

  const openBackend = io.openBackend ?? (await import("./tox-node-backend.js")).openToxNodeBackend;
  let opened: OpenedBackend;
  try {
    opened = await openBackend(options, save, sink, io.stderr);
  } catch (err) {
    io.stderr(`tox-bridge tox-peer: cannot start the Tox identity: ${(err as Error).message}\n`);
    return EXIT_FAILURE;
  }

  try {
    engine = await PeerEngine.start({
      backend: opened.backend,
      print,
      save:
        savePath === undefined
          ? undefined
          : async (data) => {
              await writeProfileAtomically(savePath, data);
              return options.save!;
            },
    });
    for (const f of early.splice(0)) f(engine);
    // A new profile is written at once, so the Tox ID printed in READY survives a crash.
    if (savePath !== undefined && save === undefined) await engine.handleLine("save");
    await serveCommands(engine, io, print);
    return EXIT_OK;
  } finally {
    await opened.close();
  }
}

/**
 * Feeds stdin lines to the engine one at a time. `quit` ends the run (later lines are ignored);
 * end of input lets the commands already read finish, then saves like `quit`; a stop signal
 * skips commands not yet started, then saves.
 */
function serveCommands(engine: PeerEngine, io: ToxPeerIo, print: (line: string) => void): Promise<void> {
  return new Promise<void>((done) => {
    const rl = createInterface({ input: io.stdin, crlfDelay: Number.POSITIVE_INFINITY, terminal: false });
    let chain = Promise.resolve();
    /** No further command runs (quit or a signal). */
    let stopped = false;
    let quitDone = false;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      io.signals?.off("SIGTERM", onSignal);
      io.signals?.off("SIGINT", onSignal);
      rl.close();
      // A closed readline leaves stdin open, and an open stdin pipe keeps the process alive
      // after a signal: let go of it (nothing more is read).
      const input = io.stdin as NodeJS.ReadableStream & { destroy?: () => void };
      input.destroy?.();
      // Runs after every queued command; `quit` has saved already.
      chain = chain
        .then(() => (quitDone ? undefined : engine.saveIfConfigured()))
        .catch((err: unknown) => print(fmt.error(`save: ${(err as Error).message}`)))
        .then(done);
    };
    const onSignal = () => {
      stopped = true;
      finish();
    };
    io.signals?.on("SIGTERM", onSignal);
    io.signals?.on("SIGINT", onSignal);
    rl.on("line", (line) => {
      if (stopped) return;
      chain = chain.then(async () => {
        if (stopped) return;
        if ((await engine.handleLine(line)) === "quit") {
          stopped = true;
          quitDone = true;
          finish();
        }
      });
    });
    rl.on("close", () => finish());
  });
}
