/**
 * The Matrix frontend end to end in one process: the homeserver double (real HTTP), the real
 * matrix-appservice-bridge through startMatrixAppservice, the bridge core on a PGlite store, and a
 * ToxGateway (the in-memory FakeTox by default, or a real ToxNode adapter).
 */
import { BridgeCore, coreRepos } from "../../src/core/bridge-core.js";
import type { CoreApi, CoreFilesApi } from "../../src/core/frontend.js";
import type { ToxGateway } from "../../src/core/tox-gateway.js";
import { createLogger } from "../../src/logger.js";
import { type RunningMatrixAppservice, startMatrixAppservice } from "../../src/matrix/appservice.js";
import { MatrixFrontend, type MatrixFrontendOptions } from "../../src/matrix/frontend.js";
import type { Store } from "../../src/store/index.js";
import { FakeTox } from "../core/fake-tox.js";
import {
  type HomeserverDouble,
  type HomeserverOptions,
  startHomeserver,
} from "../helpers/homeserver/index.js";
import { openTestStore } from "../store/backends.js";
import { type LogLine, testRegistration } from "./bridge-harness.js";

export interface FrontendRig<T extends ToxGateway = FakeTox> {
  hs: HomeserverDouble;
  store: Store;
  core: BridgeCore;
  tox: T;
  frontend: MatrixFrontend;
  appservice: RunningMatrixAppservice;
  logLines: LogLine[];
  stop(): Promise<void>;
}

export interface RigOptions<T extends ToxGateway> {
  tox?: T;
  permissions?: Record<string, "user" | "admin">;
  degradeRich?: boolean;
  /** Reuse a store (restart tests); closed by the caller then. */
  store?: { store: Store; db: Parameters<typeof coreRepos>[0] };
  /** How the double talks to us (legacy paths, unstable EDU key: an older homeserver). */
  homeserver?: Partial<
    Pick<
      HomeserverOptions,
      "transactionPath" | "ephemeralKeys" | "uploadLimit" | "authenticatedMedia" | "loginSharedSecret"
    >
  >;
  /** Extra frontend options, made once the homeserver's URL is known (double puppeting, say). */
  frontend?: (hs: HomeserverDouble) => Partial<MatrixFrontendOptions>;
  /** What the frontend sees as the core (a test double adding the files API, say). */
  frontendCore?: (core: BridgeCore) => CoreApi & Partial<CoreFilesApi>;
  /** The frontend's media spool directory. */
  spoolDir?: string;
}

export async function startFrontendRig<T extends ToxGateway = FakeTox>(
  opts: RigOptions<T> = {},
): Promise<FrontendRig<T>> {
  const registration = testRegistration();
  const hs = await startHomeserver({ registration, startPaused: true, ...opts.homeserver });
  // These suites run beside others on small CI machines: wait generously, fail only on real hangs.
  hs.defaultWaitMs = 20_000;
  const opened = opts.store === undefined ? await openTestStore() : undefined;
  const { store, db } = opts.store ?? opened!;
  const tox = (opts.tox ?? new FakeTox()) as T;
  const logLines: LogLine[] = [];
  const log = createLogger({
    level: "debug",
    destination: { write: (l: string) => logLines.push(JSON.parse(l)) },
  });
  const core = new BridgeCore({
    store,
    repos: coreRepos(db),
    tox,
    tickMs: 50,
    inbox: { retryDelayMs: () => 50 },
  });
  const frontend = new MatrixFrontend({
    core: opts.frontendCore?.(core) ?? core,
    ...(opts.spoolDir === undefined ? {} : { spoolDir: opts.spoolDir }),
    store,
    names: { domain: hs.domain, botLocalpart: registration.sender_localpart, userPrefix: "_tox_" },
    permissions: opts.permissions ?? { localhost: "user" },
    degradeRich: opts.degradeRich ?? true,
    log,
    ...opts.frontend?.(hs),
  });
  const appservice = await startMatrixAppservice({
    registration,
    homeserverUrl: hs.url,
    domain: hs.domain,
    log,
    listen: { port: 0 },
    controller: frontend.controller(),
    onTransaction: (txn) => frontend.onTransaction(txn),
    onListening: (port) => hs.setAppserviceUrl(`http://127.0.0.1:${port}`),
  });
  frontend.attach((userId) => appservice.bridge.getIntent(userId));
  core.registerFrontend(frontend);
  await core.start();
  return {
    hs,
    store,
    core,
    tox,
    frontend,
    appservice,
    logLines,
    async stop() {
      await core.stop();
      await appservice.stop();
      await hs.close();
      await opened?.close();
    },
  };
}
