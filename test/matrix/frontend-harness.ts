/**
 * The Matrix frontend end to end in one process: the homeserver double (real HTTP), the real
 * matrix-appservice-bridge through startMatrixAppservice, the bridge core on a PGlite store, and a
 * ToxGateway (the in-memory FakeTox by default, or a real ToxNode). A thin layer over
 * startWholeBridge (test/helpers/whole-bridge.ts) that also owns the homeserver and the store.
 */
import type { BridgeCore, coreRepos } from "../../src/core/bridge-core.js";
import type { AccountRef, CoreApi, CoreFilesApi } from "../../src/core/frontend.js";
import type { ToxNodeGateway } from "../../src/core/tox-adapter.js";
import type { ToxGateway } from "../../src/core/tox-gateway.js";
import type { RunningMatrixAppservice } from "../../src/matrix/appservice.js";
import type { MatrixFrontend, MatrixFrontendOptions } from "../../src/matrix/frontend.js";
import { ghostUserId } from "../../src/matrix/ids.js";
import type { Store } from "../../src/store/index.js";
import { ipPort, type ToxNode } from "../../src/tox/index.js";
import { FakeTox } from "../core/fake-tox.js";
import { stranger } from "../core/helpers.js";
import {
  type HomeserverDouble,
  type HomeserverOptions,
  startHomeserver,
  type TestClient,
} from "../helpers/homeserver/index.js";
import { waitUntil } from "../helpers/wait.js";
import { startWholeBridge } from "../helpers/whole-bridge.js";
import type { CToxPeer } from "../interop/ctoxcore.js";
import { openTestStore } from "../store/backends.js";
import { type LogLine, testRegistration } from "./bridge-harness.js";

export interface FrontendRig<T extends ToxGateway = FakeTox> {
  hs: HomeserverDouble;
  store: Store;
  core: BridgeCore;
  tox: T;
  /** The ToxNode when the rig was asked for one (`tox: { ports }`). */
  node: ToxNode | undefined;
  frontend: MatrixFrontend;
  appservice: RunningMatrixAppservice;
  logLines: LogLine[];
  stop(): Promise<void>;
}

export interface RigOptions<T extends ToxGateway> {
  /** The Tox side: a ToxGateway (default a FakeTox), or a real ToxNode bound within `ports`. */
  tox?: T | { ports: [number, number] };
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
  const hs = await startHomeserver({
    registration: testRegistration(),
    startPaused: true,
    ...opts.homeserver,
  });
  // These suites run beside others on small CI machines: wait generously, fail only on real hangs.
  hs.defaultWaitMs = 20_000;
  const opened = opts.store === undefined ? await openTestStore() : undefined;
  const bridge = await startWholeBridge<T>({
    store: opts.store ?? opened!,
    tox: opts.tox ?? (new FakeTox() as ToxGateway as T),
    core: { tickMs: 50, inbox: { retryDelayMs: () => 50 } },
    matrix: {
      hs,
      frontend: {
        ...(opts.spoolDir === undefined ? {} : { spoolDir: opts.spoolDir }),
        permissions: opts.permissions ?? { localhost: "user" },
        degradeRich: opts.degradeRich ?? true,
        ...opts.frontend?.(hs),
      },
      ...(opts.frontendCore === undefined ? {} : { frontendCore: opts.frontendCore }),
    },
  });
  const { frontend, appservice } = bridge.matrix!;
  return {
    hs,
    store: (opts.store ?? opened!).store,
    core: bridge.core,
    tox: bridge.tox,
    node: bridge.node,
    frontend,
    appservice,
    logLines: bridge.logLines,
    async stop() {
      await bridge.stop();
      await hs.close();
      await opened?.close();
    },
  };
}

// ---- the users and friends most rig tests start from ----

/** A Matrix user who made a Tox identity with the bot: greeted in the DM, `create`, QR code seen. */
export async function userWithAccount(r: FrontendRig<ToxGateway>, localpart: string) {
  const user = r.hs.asUser(r.hs.createUser(localpart));
  const botRoom = await user.createDirectRoom(r.hs.botUserId);
  await r.hs.waitForMembership(botRoom, r.hs.botUserId, "join");
  await r.hs.waitForMessage({ roomId: botRoom, sender: r.hs.botUserId, body: /send `create`/i });
  await user.sendMessage(botRoom, "create");
  await r.hs.waitForMessage({ roomId: botRoom, sender: r.hs.botUserId, msgtype: "m.image" });
  const account = await r.core.account({ kind: "matrix", id: user.userId });
  if (account === null) throw new Error(`${localpart} has no account after "create"`);
  return { user, botRoom, account };
}

/** A new Tox friend of the user's account, accepted and online (on the FakeTox). */
export async function onlineFriend(r: FrontendRig, user: TestClient, account: AccountRef): Promise<string> {
  const f = stranger();
  await r.core.contacts.add({ kind: "matrix", id: user.userId }, f.toxId);
  r.tox.setOnline(account.publicKey, f.publicKey, true);
  await r.core.idle();
  return f.publicKey;
}

/** An online friend (onlineFriend) and the DM portal the user opened by inviting its ghost, joined. */
export async function friendWithPortal(r: FrontendRig, user: TestClient, account: AccountRef) {
  const friend = await onlineFriend(r, user, account);
  const ghost = ghostUserId(
    { domain: r.hs.domain, botLocalpart: testRegistration().sender_localpart, userPrefix: "_tox_" },
    friend,
  );
  const room = await user.createDirectRoom(ghost);
  await r.hs.waitForMembership(room, ghost, "join");
  return { friend, ghost, room };
}

/**
 * The user adds the c-toxcore peer `c` through the bot; `c` adds the user's identity without a
 * request (no onion in these tests) and the identity dials it directly over loopback. Resolves
 * once each sees the other online, with `c`'s friend number for the user and `c`'s key as the
 * core writes it.
 */
export async function befriendCPeerThroughBot(
  r: FrontendRig<ToxNodeGateway>,
  who: { user: TestClient; botRoom: string; account: AccountRef },
  c: CToxPeer,
  message = "hi",
): Promise<{ friendNo: number; friend: string }> {
  const me = r.node?.identity(who.account.publicKey);
  if (me === undefined) throw new Error("the user's identity is not online in the rig's ToxNode");
  await who.user.sendMessage(who.botRoom, `add ${c.addressHex} ${message}`);
  await r.hs.waitForMessage({ roomId: who.botRoom, sender: r.hs.botUserId, body: /Friend request sent/ });
  const friendNo = c.friendAddNoRequest(me.publicKeyBytes);
  await me.connectFriendDirect(c.publicKey, c.dhtId, ipPort("127.0.0.1", c.udpPort));
  await waitUntil(() => c.friendConnectionStatus(friendNo) === "udp", 15_000, "C sees us online");
  const friend = c.publicKeyHex.toLowerCase();
  await waitUntil(
    () => r.tox.friendPresence(who.account.publicKey, friend).online,
    10_000,
    "we see the C peer online",
  );
  return { friendNo, friend };
}
