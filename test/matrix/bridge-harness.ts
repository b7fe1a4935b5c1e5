/**
 * Test scaffolding: the homeserver double plus a real matrix-appservice-bridge started through
 * `startMatrixAppservice`, wired to each other on loopback, with the bridge's log lines captured.
 */
import type { BridgeController, WeakEvent } from "matrix-appservice-bridge";
import type { Registration } from "../../src/config/registration.js";
import { createLogger } from "../../src/logger.js";
import {
  type MatrixAppserviceOptions,
  type RunningMatrixAppservice,
  startMatrixAppservice,
} from "../../src/matrix/appservice.js";
import {
  type HomeserverDouble,
  type HomeserverOptions,
  startHomeserver,
} from "../helpers/homeserver/index.js";

export function testRegistration(over: Partial<Registration> = {}): Registration {
  return {
    id: "toxbridge-test",
    url: "http://127.0.0.1:9", // replaced once the bridge listens on its port-0 socket
    as_token: "test-as-token",
    hs_token: "test-hs-token",
    sender_localpart: "toxbot",
    rate_limited: false,
    namespaces: { users: [{ exclusive: true, regex: "@_tox_.*:localhost" }], aliases: [], rooms: [] },
    protocols: ["tox"],
    receive_ephemeral: true,
    "de.sorunome.msc2409.push_ephemeral": true,
    ...over,
  };
}

export type LogLine = { level: number; msg: string; [k: string]: unknown };

export interface BridgeOnDouble {
  hs: HomeserverDouble;
  bridge: RunningMatrixAppservice;
  registration: Registration;
  logLines: LogLine[];
  /** Every event the controller's onEvent received, in order. */
  events: WeakEvent[];
  /** Base URL of the bridge's appservice API. */
  asUrl: string;
  stop(): Promise<void>;
}

export interface BridgeOnDoubleOptions {
  registration?: Registration;
  homeserver?: Partial<HomeserverOptions>;
  /** Extra controller behaviour; events are recorded either way. */
  onEvent?: (ev: WeakEvent, bridge: RunningMatrixAppservice) => Promise<void> | void;
  onEphemeralEvent?: BridgeController["onEphemeralEvent"];
  onTransaction?: MatrixAppserviceOptions["onTransaction"];
}

export async function startBridgeOnDouble(opts: BridgeOnDoubleOptions = {}): Promise<BridgeOnDouble> {
  const registration = opts.registration ?? testRegistration();
  const hs = await startHomeserver({ registration, startPaused: true, ...opts.homeserver });
  const logLines: LogLine[] = [];
  const events: WeakEvent[] = [];
  const log = createLogger({
    level: "debug",
    destination: { write: (l: string) => logLines.push(JSON.parse(l)) },
  });
  let running: RunningMatrixAppservice | undefined;
  const controller: BridgeController = {
    onEvent: async (request) => {
      const ev = request.getData();
      events.push(ev);
      // A throw here is for startMatrixAppservice's guard to log.
      await opts.onEvent?.(ev, running!);
      request.resolve(undefined);
    },
  };
  if (opts.onEphemeralEvent) controller.onEphemeralEvent = opts.onEphemeralEvent;
  const appserviceOpts: MatrixAppserviceOptions = {
    registration,
    homeserverUrl: hs.url,
    domain: hs.domain,
    log,
    listen: { port: 0 },
    controller,
    onListening: (port) => hs.setAppserviceUrl(`http://127.0.0.1:${port}`),
  };
  if (opts.onTransaction) appserviceOpts.onTransaction = opts.onTransaction;
  running = await startMatrixAppservice(appserviceOpts);
  const asUrl = `http://127.0.0.1:${running.port}`;
  const bridge = running;
  return {
    hs,
    bridge,
    registration,
    logLines,
    events,
    asUrl,
    async stop() {
      await bridge.stop();
      await hs.close();
    },
  };
}
