/**
 * Shared setup for core tests: one PGlite store per test file (emptied between tests), a
 * recording frontend, and a core over the fake Tox gateway driven by a ManualClock.
 */
import { BridgeCore, type BridgeCoreOptions, coreRepos } from "../../src/core/bridge-core.js";
import type {
  AccountRef,
  FriendView,
  Frontend,
  InboundMessage,
  Network,
  Notice,
  Owner,
} from "../../src/core/frontend.js";
import type { Db, Store } from "../../src/store/index.js";
import { ManualClock } from "../../src/tox/clock.js";
import { newKeyPair } from "../../src/tox/crypto.js";
import { formatAddress, toHex } from "../../src/tox/index.js";
import { backends, StoreTracker } from "../store/backends.js";
import { FakeTox } from "./fake-tox.js";

export const pglite = backends.find((b) => b.name === "pglite")!;

export class TestDb {
  private readonly tracker = new StoreTracker();
  store!: Store;
  db!: Db;
  async setup() {
    await pglite.setup();
    ({ store: this.store, db: this.db } = await this.tracker.openWithDb(
      await pglite.fresh({ migrated: true }),
    ));
  }
  async reset() {
    await this.db.exec(
      `TRUNCATE accounts, processed_events, inbox RESTART IDENTITY CASCADE;
       DELETE FROM bridge_state WHERE key <> 'store.encryption_key_check';`,
    );
  }
  async teardown() {
    await this.tracker.closeAll();
    await pglite.teardown();
  }
}

/** A frontend that records what it is told; `refuse` makes deliverMessage reject. */
export class RecordingFrontend implements Frontend {
  readonly delivered: { account: AccountRef; message: InboundMessage }[] = [];
  readonly updates: { account: AccountRef; friend: FriendView }[] = [];
  readonly typing: { friend: string; typing: boolean }[] = [];
  readonly requests: { friend: string; message: string }[] = [];
  readonly removed: string[] = [];
  readonly receipts: { friend: string; sourceEventId: string }[] = [];
  readonly notices: Notice[] = [];
  refuse: Error | undefined;

  constructor(readonly network: Network = "matrix") {}

  async deliverMessage(account: AccountRef, message: InboundMessage) {
    if (this.refuse) throw this.refuse;
    this.delivered.push({ account, message });
  }
  friendUpdated(account: AccountRef, friend: FriendView) {
    this.updates.push({ account, friend });
  }
  friendTyping(_account: AccountRef, friend: string, typing: boolean) {
    this.typing.push({ friend, typing });
  }
  friendRequest(_account: AccountRef, request: { friend: string; message: string }) {
    this.requests.push(request);
  }
  friendRemoved(_account: AccountRef, friend: string) {
    this.removed.push(friend);
  }
  readReceipt(_account: AccountRef, friend: string, sourceEventId: string) {
    this.receipts.push({ friend, sourceEventId });
  }
  notice(_account: AccountRef, notice: Notice) {
    this.notices.push(notice);
  }
}

export const alice: Owner = { kind: "matrix", id: "@alice:example.org" };
export const bob: Owner = { kind: "xmpp", id: "bob@example.org" };

/** A Tox friend out there: its key pair and Tox ID. */
export function stranger() {
  const keys = newKeyPair();
  const publicKey = toHex(keys.publicKey);
  return {
    publicKey,
    toxId: formatAddress({ publicKey: keys.publicKey, nospam: Uint8Array.of(1, 2, 3, 4) }),
  };
}

export async function makeCore(
  t: TestDb,
  opts: Partial<BridgeCoreOptions> & { tox?: FakeTox; clock?: ManualClock } = {},
) {
  const tox = opts.tox ?? new FakeTox();
  const clock = opts.clock ?? new ManualClock(Date.now());
  const core = new BridgeCore({ store: t.store, repos: coreRepos(t.db), tox, clock, tickMs: 0, ...opts });
  const frontend = new RecordingFrontend("matrix");
  const xmpp = new RecordingFrontend("xmpp");
  core.registerFrontend(frontend);
  core.registerFrontend(xmpp);
  await core.start();
  return { core, tox, clock, frontend, xmpp };
}

/** Creates alice's account and an accepted friend (stored and known to Tox), offline. */
export async function withFriend(core: BridgeCore, tox: FakeTox, owner: Owner = alice) {
  const account = await core.accounts.create(owner);
  const ref = (await core.account(owner))!;
  const friend = stranger();
  await core.contacts.add(owner, friend.toxId);
  // The friend accepts: its session comes up once.
  tox.setOnline(ref.publicKey, friend.publicKey, true);
  await core.idle();
  tox.setOnline(ref.publicKey, friend.publicKey, false);
  await core.idle();
  return { account, ref, friend: friend.publicKey, toxId: friend.toxId };
}
