/**
 * The whole bridge in one test process, wired as src/app.ts wires it: a Tox side (a real ToxNode
 * on loopback, or a ToxGateway double), BridgeCore on a store the caller owns, and the frontends
 * a test asks for: Matrix (MatrixFrontend behind the real matrix-appservice-bridge, talking to a
 * homeserver double) and/or XMPP (XmppGateway on a real Prosody's component).
 *
 * The store, the homeserver and Prosody belong to the caller because they outlive a bridge
 * restart; `restart()` stops this bridge and starts the same one again over them.
 */
import { BridgeCore, type BridgeCoreOptions, coreRepos } from "../../src/core/bridge-core.js";
import type { CoreApi, CoreFilesApi } from "../../src/core/frontend.js";
import { ToxNodeGateway } from "../../src/core/tox-adapter.js";
import type { ToxGateway } from "../../src/core/tox-gateway.js";
import { createLogger, type Logger, type LogLevel } from "../../src/logger.js";
import {
  type MatrixAppserviceOptions,
  type RunningMatrixAppservice,
  startMatrixAppservice,
} from "../../src/matrix/appservice.js";
import { MatrixFrontend, type MatrixFrontendOptions } from "../../src/matrix/frontend.js";
import type { Store } from "../../src/store/index.js";
import { ToxNode } from "../../src/tox/index.js";
import type { XmppGateway } from "../../src/xmpp/gateway.js";
import { type LogLine, testRegistration } from "../matrix/bridge-harness.js";
import { type ComponentTarget, type GatewayExtras, startXmppGateway } from "../xmpp/harness.js";
import type { HomeserverDouble } from "./homeserver/index.js";

export interface WholeBridgeOptions<T extends ToxGateway = ToxGateway> {
  /** The store the core runs on (kept across `restart()`; closed by the caller). */
  store: { store: Store; db: Parameters<typeof coreRepos>[0] };
  /**
   * The Tox side: `{ ports }` makes a real ToxNode on 127.0.0.1 bound within that range (closed
   * with the bridge, made anew by `restart()`); a ToxGateway (a double) is used as it is.
   */
  tox: { ports: [number, number] } | T;
  /** BridgeCore options over the harness's `tickMs: 100` (retry delays, files, conferences...). */
  core?: Partial<Omit<BridgeCoreOptions, "store" | "repos" | "tox">>;
  /** Log lines at this level and above land in `logLines` (default "debug"; "silent" for none). */
  logLevel?: LogLevel;
  /**
   * A logger of the caller's instead (a bridge child process logs to its stdout): then the core
   * and the ToxNode adapter log to it too, and `logLines` stays empty.
   */
  log?: Logger;
  matrix?: {
    /** The homeserver double, or where one listens (a child process knows only its URL). */
    hs: Pick<HomeserverDouble, "url" | "domain"> & Partial<Pick<HomeserverDouble, "setAppserviceUrl">>;
    /** Registration (default testRegistration()). */
    registration?: ReturnType<typeof testRegistration>;
    /** MatrixFrontend options over the harness's (names from the registration, `localhost` users). */
    frontend?: Partial<MatrixFrontendOptions>;
    /** What the frontend sees as the core (a test double adding the files API, say). */
    frontendCore?: (core: BridgeCore) => CoreApi & Partial<CoreFilesApi>;
    /** startMatrixAppservice options over the harness's (startupChecks, say). */
    appservice?: Partial<MatrixAppserviceOptions>;
  };
  /** The XMPP gateway, started after the core (as src/app.ts orders them). */
  xmpp?: ComponentTarget & { gateway?: GatewayExtras };
}

export interface WholeBridge<T extends ToxGateway = ToxGateway> {
  /** The ToxNode when the options asked for one. */
  node: ToxNode | undefined;
  tox: T;
  core: BridgeCore;
  /** Set when the options asked for Matrix. */
  matrix: { frontend: MatrixFrontend; appservice: RunningMatrixAppservice } | undefined;
  /** Set when the options asked for XMPP. */
  gateway: XmppGateway | undefined;
  logLines: LogLine[];
  /** Stops the frontends, the core and the ToxNode (not the store, homeserver or Prosody). Idempotent. */
  stop(): Promise<void>;
  /** Stops this bridge and starts one with the same options (but for `over`: a fresh Tox double, say). */
  restart(over?: Partial<WholeBridgeOptions<T>>): Promise<WholeBridge<T>>;
}

/** The ToxNode of a bridge (or Matrix rig) that has one; throws for one on a Tox double. */
export const nodeOf = (bridge: { node: ToxNode | undefined }): ToxNode => {
  if (bridge.node === undefined) throw new Error("this bridge runs on a Tox double, not a ToxNode");
  return bridge.node;
};

export async function startWholeBridge<T extends ToxGateway = ToxNodeGateway>(
  opts: WholeBridgeOptions<T>,
): Promise<WholeBridge<T>> {
  const logLines: LogLine[] = [];
  const log: Logger =
    opts.log ??
    createLogger({
      level: opts.logLevel ?? "debug",
      destination: { write: (l: string) => logLines.push(JSON.parse(l)) },
    });
  const node =
    "ports" in opts.tox ? await ToxNode.create({ host: "127.0.0.1", portRange: opts.tox.ports }) : undefined;
  const tox = (node === undefined ? opts.tox : new ToxNodeGateway(node, opts.log)) as T;
  const core = new BridgeCore({
    tickMs: 100,
    ...(opts.log === undefined ? {} : { log: opts.log }),
    ...opts.core,
    store: opts.store.store,
    repos: coreRepos(opts.store.db),
    tox,
  });

  let matrix: WholeBridge["matrix"];
  if (opts.matrix !== undefined) {
    const m = opts.matrix;
    const registration = m.registration ?? testRegistration();
    const frontend = new MatrixFrontend({
      core: m.frontendCore?.(core) ?? core,
      store: opts.store.store,
      names: { domain: m.hs.domain, botLocalpart: registration.sender_localpart, userPrefix: "_tox_" },
      permissions: { localhost: "user" },
      degradeRich: true,
      log,
      ...m.frontend,
    });
    const appservice = await startMatrixAppservice({
      registration,
      homeserverUrl: m.hs.url,
      domain: m.hs.domain,
      log,
      listen: { port: 0 },
      controller: frontend.controller(),
      onTransaction: (txn) => frontend.onTransaction(txn),
      onListening: (port) => m.hs.setAppserviceUrl?.(`http://127.0.0.1:${port}`),
      ...m.appservice,
    });
    frontend.attach((userId) => appservice.bridge.getIntent(userId));
    core.registerFrontend(frontend);
    matrix = { frontend, appservice };
  }
  await core.start();
  // As src/xmpp/bridge-component.ts: file delivery records in the store, so they outlive a restart.
  const gateway =
    opts.xmpp === undefined
      ? undefined
      : await startXmppGateway(opts.xmpp, core, {
          fileDeliveries: opts.store.store.bridgeState,
          ...opts.xmpp.gateway,
        });

  let stopped = false;
  const bridge: WholeBridge<T> = {
    node,
    tox,
    core,
    matrix,
    gateway,
    logLines,
    async stop() {
      if (stopped) return;
      stopped = true;
      await gateway?.stop();
      await core.stop();
      await matrix?.appservice.stop();
      await node?.close();
    },
    async restart(over = {}) {
      await bridge.stop();
      return startWholeBridge<T>({ ...opts, ...over });
    },
  };
  return bridge;
}
