/**
 * Conferences (Tox group chats, issue 8) in the core: which accounts are in which conference,
 * durable messages both ways, and what a conference looks like to a frontend.
 *
 * Policy:
 * - An invite from an accepted friend is joined at once (the user leaves the room/MUC to leave).
 * - Conferences survive restarts: the Tox layer's save record (message numbers included) is kept
 *   in the store while the bridge runs and handed back when the identity comes online again.
 * - Our own messages come back from Tox (c-toxcore echoes them): they are dropped. A message from
 *   another account of this bridge is delivered with `bridgedOwner`, because only the frontend
 *   knows whether it already shows that user's original (a shared Matrix room does, a per-user
 *   XMPP MUC does not).
 * - `send` is durable: persisted before it resolves, kept while no other member is reachable,
 *   sent when one is, across restarts; deduplicated by the frontend's event id. Conferences have
 *   no read receipts, so a message is done once Tox put it on a live connection. After a restart
 *   "reachable" must not mean "reachable through our own identities" (they restarted too): see
 *   `rejoinWaitMs`.
 * - Frontends learn why a conference is announced ("joined", "restored", "changed"), and may ask
 *   for the kept inbound lines at once (`redeliver`) when their user can take them again.
 * - Inbound messages go through a table like the inbox: written first, removed once the frontend
 *   took them, retried with growing waits when it refused.
 * - Inviting another account of this bridge invites its own identity: the two identities become
 *   Tox friends first if they are not (both are ours, so no request is needed either way).
 */
import type { Store } from "../store/index.js";
import type { ConferenceInboxItem, ConferenceRow, ConferencesRepo } from "../store/repos/conferences.js";
import { type Clock, fromHex } from "../tox/index.js";
import { type Accounts, toAccountRef } from "./accounts.js";
import type { Contacts } from "./contacts.js";
import { CoreError, type CoreLogger, errorText } from "./errors.js";
import type {
  AccountRef,
  ConferencePeerView,
  ConferenceSendRequest,
  ConferenceUpdateReason,
  ConferenceView,
  MessageKind,
  Owner,
  SendResult,
} from "./frontend.js";
import type { FrontendHub } from "./frontends.js";
import { hex, isHexKey } from "./keys.js";
import { Lanes } from "./lanes.js";
import type { ConferencePeerInfo, ConferenceSnapshot, ConferenceType, ToxGateway } from "./tox-gateway.js";

export interface ConferenceOptions {
  /** Give up on a message not sent this long after it was queued. Default 7 days. */
  maxAgeMs?: number;
  /** Wait before retrying after Tox refused a message although a member was reachable. */
  retryDelayMs?: (attempts: number) => number;
  /** Wait before handing an inbound message to a frontend that refused it again. */
  inboundRetryDelayMs?: (attempts: number) => number;
  /** A restart record that did not change is still rewritten this often (peers' last-seen times). */
  snapshotRefreshMs?: number;
  /**
   * Queued messages wait this long after a conference becomes reachable (a restart's rejoin, a
   * peer coming back) before they go: Tox floods a message over the connections that are up, and
   * the first member back may not be linked to the others yet. Default 3 s.
   */
  settleMs?: number;
  /**
   * After a restart, queued messages also wait (at most this long) until a member that was active
   * when the bridge stopped, other than the bridge's own identities, is active again. The own
   * identities restarted too and link up with each other first (same machine): a conference
   * reachable only through them would flood a message to them alone, and Tox keeps no history
   * for the members that come back later. Default 60 s.
   */
  rejoinWaitMs?: number;
}

/** c-toxcore's limit for a conference title, in bytes. */
export const MAX_CONFERENCE_TITLE_LENGTH = 128;
/** Bytes of text per conference message packet (group.c `MAX_GROUP_MESSAGE_DATA_LEN`). */
const GROUP_MESSAGE_PIECE = 1363;
const DAY_MS = 24 * 3600 * 1000;
const RETENTION_MS = 30 * DAY_MS;
const PRUNE_EVERY_MS = 3600 * 1000;
const BATCH = 50;
/** group.c `FREEZE_TIMEOUT`: a member silent this long was not active. */
const FREEZE_TIMEOUT_S = 60;
const backoff = (attempts: number) => Math.min(1000 * 2 ** Math.max(0, attempts - 1), 5 * 60_000);

interface Deps {
  repo: ConferencesRepo;
  store: Store;
  tox: ToxGateway;
  accounts: Accounts;
  contacts: Contacts;
  frontends: FrontendHub;
  clock: Clock;
  log: CoreLogger;
}

export class CoreConferences {
  /** Per account+conference: view updates, outbox pumps and inbound deliveries, each in order. */
  private readonly lanes: Lanes;
  private readonly maxAgeMs: number;
  private readonly retryDelayMs: (attempts: number) => number;
  private readonly inboundRetryDelayMs: (attempts: number) => number;
  private readonly snapshotRefreshMs: number;
  private readonly settleMs: number;
  private readonly rejoinWaitMs: number;
  /**
   * Per `${account}:${conference}` restored from a restart record: the members active when it was
   * taken, and until when queued messages wait for one of them (see `rejoinWaitMs`).
   */
  private readonly awaitingRejoin = new Map<string, { members: Set<string>; until: number }>();
  /** Since when each `${account}:${conference}` has been reachable without a break. */
  private readonly reachableSince = new Map<string, number>();
  /** Conference ids per account id (of accounts whose identity is online). */
  private readonly joined = new Map<number, Set<string>>();
  /** Last restart record written per `${account}:${conference}` (without times) and when. */
  private readonly written = new Map<string, { key: string; at: number }>();
  private lastPrune = Number.NEGATIVE_INFINITY;
  private readonly announcing = new Set<Promise<void>>();
  /**
   * `${account}:${conference}` joined while no frontend of the account's network was registered:
   * the next announce to a frontend says "joined", not "restored", so the user still gets invited.
   */
  private readonly untoldJoins = new Set<string>();
  /** Accounts whose conference state changed since the last restart records were taken. */
  private dirty = new Set<number>();
  private lastRefresh = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly deps: Deps,
    opts: ConferenceOptions = {},
  ) {
    this.lanes = new Lanes(deps.log, "conferences");
    this.maxAgeMs = opts.maxAgeMs ?? 7 * DAY_MS;
    this.retryDelayMs = opts.retryDelayMs ?? backoff;
    this.inboundRetryDelayMs = opts.inboundRetryDelayMs ?? backoff;
    this.snapshotRefreshMs = opts.snapshotRefreshMs ?? 5 * 60_000;
    this.settleMs = opts.settleMs ?? 3000;
    this.rejoinWaitMs = opts.rejoinWaitMs ?? 60_000;
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle

  /** The restart records of an account's conferences, for its IdentitySpec. */
  async snapshotsFor(accountId: number): Promise<ConferenceSnapshot[]> {
    const rows = await this.deps.repo.list(accountId);
    const snapshots = rows.flatMap((r) => (isSnapshot(r.snapshot) ? [r.snapshot] : []));
    // The identity is coming (back) online with these: note whom each conference should see again.
    const until = this.deps.clock.now() + this.rejoinWaitMs;
    for (const snapshot of snapshots) {
      const members = activeMembers(snapshot);
      const key = `${accountId}:${snapshot.id}`;
      if (members.size > 0 && this.rejoinWaitMs > 0) this.awaitingRejoin.set(key, { members, until });
      else this.awaitingRejoin.delete(key);
    }
    return snapshots;
  }

  /**
   * Frontends learn each stored conference of the online accounts again (after every account
   * came online at start, and when a frontend registers).
   */
  announceAll(): Promise<void> {
    const run = this.announceAllNow();
    this.announcing.add(run);
    void run.finally(() => this.announcing.delete(run)).catch(() => {});
    return run;
  }

  private async announceAllNow(): Promise<void> {
    for (const account of await this.deps.store.accounts.list()) {
      const ref = this.deps.accounts.byId(account.id);
      if (ref === undefined) continue;
      for (const row of await this.deps.repo.list(account.id)) {
        const id = hex(row.conferenceId);
        this.track(ref.id, id);
        // "restored", unless no frontend was told of the join yet (tellUpdated makes it "joined").
        void this.update(ref, id, "restored");
      }
    }
  }

  /** Periodic: restart records, queued messages to reachable conferences, inbound retries. */
  async tick(): Promise<void> {
    await this.persistSnapshots(false);
    const now = this.deps.clock.now();
    if (now - this.lastPrune >= PRUNE_EVERY_MS) {
      this.lastPrune = now;
      await this.deps.repo.prune(new Date(now - RETENTION_MS));
    }
    for (const { accountId, conferenceId } of await this.deps.repo.queuedConferences()) {
      const account = this.deps.accounts.byId(accountId);
      if (account !== undefined) void this.kick(account, hex(conferenceId));
    }
    for (const { accountId, conferenceId } of await this.deps.repo.inboundPending()) {
      const account = this.deps.accounts.byId(accountId);
      const id = hex(conferenceId);
      if (account !== undefined)
        void this.lanes.runOnce(laneKey(account, id), "drain", () => this.drain(account, id));
    }
  }

  /**
   * Writes the restart record of every conference whose Tox state changed (message number, peers,
   * names, title), and of all of them when `force` (shutdown) or after `snapshotRefreshMs`.
   */
  async persistSnapshots(force: boolean): Promise<void> {
    const now = this.deps.clock.now();
    // Taking a record costs a save-data walk of the identity: only for accounts whose conferences
    // changed (or sent) since the last round, and for all of them every `snapshotRefreshMs`.
    const refresh = force || now - this.lastRefresh >= this.snapshotRefreshMs;
    if (refresh) this.lastRefresh = now;
    const dirty = this.dirty;
    this.dirty = new Set();
    for (const [accountId, ids] of this.joined) {
      if (ids.size === 0 || (!refresh && !dirty.has(accountId))) continue;
      const account = this.deps.accounts.byId(accountId);
      if (account === undefined || !this.deps.tox.isOnline(account.publicKey)) continue;
      for (const snapshot of this.deps.tox.conferenceSnapshots(account.publicKey)) {
        if (!ids.has(snapshot.id)) continue;
        const slot = `${accountId}:${snapshot.id}`;
        const key = JSON.stringify({
          ...snapshot,
          peers: snapshot.peers.map((p) => ({ ...p, lastActive: 0 })),
        });
        const last = this.written.get(slot);
        if (!force && last !== undefined && last.key === key && now - last.at < this.snapshotRefreshMs)
          continue;
        await this.deps.repo.update(accountId, fromHex(snapshot.id), { snapshot, joined: true });
        this.written.set(slot, { key, at: now });
      }
    }
  }

  async idle(): Promise<void> {
    await Promise.allSettled([...this.announcing]);
    await this.lanes.idle();
  }

  /**
   * The account is about to be deleted (its rows go with it): its identity leaves each conference
   * for good, so the others see it go, and the frontends drop the rooms.
   */
  async onAccountDeleted(account: AccountRef): Promise<void> {
    for (const row of await this.deps.repo.list(account.id)) {
      const id = hex(row.conferenceId);
      if (this.deps.tox.isOnline(account.publicKey))
        await this.deps.tox
          .conferenceLeave(account.publicKey, id)
          .catch((err: unknown) =>
            this.deps.log.debug({ account: account.id, err: errorText(err) }, "core: conference not left"),
          );
      await this.deps.frontends.tell(account, "conferenceRemoved", (f) => f.conferenceRemoved?.(account, id));
      this.written.delete(`${account.id}:${id}`);
      this.untoldJoins.delete(laneKey(account, id));
      this.awaitingRejoin.delete(laneKey(account, id));
    }
    this.joined.delete(account.id);
    this.dirty.delete(account.id);
  }

  // -------------------------------------------------------------------------------------------
  // CoreConferencesApi (owner-level)

  async list(owner: Owner): Promise<ConferenceView[]> {
    const account = await this.ref(owner);
    const rows = await this.deps.repo.list(account.id);
    return rows.map((r) => this.view(account, hex(r.conferenceId), r));
  }

  async create(owner: Owner, title?: string): Promise<ConferenceView> {
    const account = await this.ref(owner);
    if (title !== undefined) checkTitle(title);
    this.requireOnline(account);
    const id = await this.deps.tox.conferenceNew(account.publicKey, "text");
    if (title !== undefined && title !== "")
      await this.deps.tox.conferenceSetTitle(account.publicKey, id, title);
    await this.deps.repo.upsert({
      accountId: account.id,
      conferenceId: fromHex(id),
      type: "text",
      title: title ?? "",
      joined: true,
    });
    this.track(account.id, id);
    await this.persistSnapshots(false);
    this.deps.log.info({ account: account.id, conference: id.slice(0, 16) }, "core: conference created");
    const view = this.view(account, id);
    await this.tellUpdated(account, view, "joined");
    return view;
  }

  /** `invitee`: a friend (key, Tox ID, list number or name) or another bridged user. */
  async invite(owner: Owner, conference: string, invitee: string | Owner): Promise<void> {
    const account = await this.ref(owner);
    const id = await this.requireConference(account, conference);
    let friend: string;
    if (typeof invitee === "string") {
      const f = await this.deps.contacts.resolve(account, invitee, ["accepted"], "friend");
      friend = hex(f.publicKey);
    } else {
      friend = await this.befriendBridged(account, invitee);
    }
    await this.deps.repo.addInvite(account.id, fromHex(id), fromHex(friend));
    // Sent now when the friend is online, otherwise when it comes online (onFriendOnline).
    await this.sendInvites(account, friend);
  }

  async send(request: ConferenceSendRequest): Promise<SendResult> {
    const account = await this.ref(request.owner);
    if (request.text.length === 0)
      throw new CoreError("empty-message", "An empty message cannot be sent to Tox.");
    const id = await this.requireConference(account, request.conference);
    const { created } = await this.deps.repo.enqueue({
      accountId: account.id,
      conferenceId: fromHex(id),
      kind: request.kind ?? "normal",
      body: request.text,
      sourceNetwork: request.sourceEventId === undefined ? null : account.owner.kind,
      sourceEventId: request.sourceEventId ?? null,
    });
    void this.kick(account, id);
    const bytes = Buffer.byteLength(request.text, "utf8");
    return { created, parts: Math.max(1, Math.ceil(bytes / GROUP_MESSAGE_PIECE)) };
  }

  async setTitle(owner: Owner, conference: string, title: string): Promise<void> {
    const account = await this.ref(owner);
    checkTitle(title);
    if (title === "") throw new CoreError("bad-argument", "A conference title cannot be empty.");
    const id = await this.requireConference(account, conference);
    this.requireOnline(account);
    await this.deps.tox.conferenceSetTitle(account.publicKey, id, title);
    await this.deps.repo.update(account.id, fromHex(id), { title });
    this.dirty.add(account.id);
    // The Tox layer reports no change of our own: tell the frontends here.
    void this.update(account, id, "changed");
  }

  async leave(owner: Owner, conference: string): Promise<void> {
    const account = await this.ref(owner);
    const id = await this.requireConference(account, conference);
    if (this.deps.tox.isOnline(account.publicKey)) await this.deps.tox.conferenceLeave(account.publicKey, id);
    await this.deps.repo.delete(account.id, fromHex(id));
    this.joined.get(account.id)?.delete(id);
    this.written.delete(`${account.id}:${id}`);
    this.untoldJoins.delete(laneKey(account, id));
    this.awaitingRejoin.delete(laneKey(account, id));
    this.deps.log.info({ account: account.id, conference: id.slice(0, 16) }, "core: left conference");
    await this.deps.frontends.tell(account, "conferenceRemoved", (f) => f.conferenceRemoved?.(account, id));
  }

  // -------------------------------------------------------------------------------------------
  // Tox events

  async onInvite(account: AccountRef, e: { friend: string; type: ConferenceType; cookie: Uint8Array }) {
    const friend = await this.deps.store.friends.get(account.id, fromHex(e.friend));
    if (friend?.requestState !== "accepted") {
      this.deps.log.info(
        { account: account.id, friend: e.friend.slice(0, 16) },
        "core: conference invite from a non-friend ignored",
      );
      return;
    }
    let id: string;
    try {
      id = await this.deps.tox.conferenceJoin(account.publicKey, e.friend, e.cookie);
    } catch (err) {
      this.deps.log.warn(
        { account: account.id, friend: e.friend.slice(0, 16), err: errorText(err) },
        "core: could not join a conference",
      );
      return;
    }
    await this.deps.repo.upsert({ accountId: account.id, conferenceId: fromHex(id), type: e.type });
    this.track(account.id, id);
    this.deps.log.info(
      { account: account.id, conference: id.slice(0, 16), inviter: e.friend.slice(0, 16) },
      "core: joined conference on invite",
    );
    void this.update(account, id, "joined");
  }

  onChanged(account: AccountRef, conference: string): Promise<void> {
    return this.lanes.runOnce(laneKey(account, conference), "changed", async () => {
      const info = this.deps.tox.conferenceInfo(account.publicKey, conference);
      if (info === undefined) return;
      const row = await this.deps.repo.get(account.id, fromHex(conference));
      if (row === null || row.title !== info.title || row.joined !== (row.joined || info.connected))
        await this.deps.repo.upsert({
          accountId: account.id,
          conferenceId: fromHex(conference),
          type: info.type,
          title: info.title,
          joined: info.connected,
        });
      this.track(account.id, conference);
      // Freshly connected: keep the restart record from the start.
      if (info.connected && (row === null || !row.joined)) await this.persistSnapshots(false);
      // Even for a conference the store did not know yet: Tox reports a new one while create or
      // onInvite is still storing it, and they announce the join themselves.
      await this.announce(account, conference, "changed");
      if (this.deps.tox.conferenceReachable(account.publicKey, conference))
        void this.kick(account, conference);
    });
  }

  onMessage(
    account: AccountRef,
    e: { conference: string; peer: string; peerName: string; self: boolean; kind: MessageKind; text: string },
  ): Promise<void> {
    if (e.self || e.peer === account.publicKey) return Promise.resolve(); // Tox's echo of our own
    const key = laneKey(account, e.conference);
    return this.lanes.run(key, async () => {
      const conferenceId = fromHex(e.conference);
      if ((await this.deps.repo.get(account.id, conferenceId)) === null) {
        const info = this.deps.tox.conferenceInfo(account.publicKey, e.conference);
        await this.deps.repo.upsert({ accountId: account.id, conferenceId, type: info?.type ?? "text" });
      }
      await this.deps.repo.addInbound({
        accountId: account.id,
        conferenceId,
        peerPk: fromHex(e.peer),
        peerName: e.peerName,
        kind: e.kind,
        body: e.text,
      });
      await this.drain(account, e.conference);
    });
  }

  /** A friend came online: invites waiting for it go out. */
  async onFriendOnline(account: AccountRef, friend: string): Promise<void> {
    await this.sendInvites(account, friend);
  }

  // -------------------------------------------------------------------------------------------

  view(account: AccountRef, conference: string, row?: ConferenceRow): ConferenceView {
    const { tox, accounts } = this.deps;
    const info = tox.isOnline(account.publicKey)
      ? tox.conferenceInfo(account.publicKey, conference)
      : undefined;
    const peerView = (p: ConferencePeerInfo): ConferencePeerView => {
      const owner = p.self ? account.owner : accounts.byIdentity(p.publicKey)?.owner;
      return {
        publicKey: p.publicKey,
        name: p.name,
        self: p.self,
        ...(owner ? { bridgedOwner: owner } : {}),
      };
    };
    const away = (info?.frozen ?? []).map(peerView);
    return {
      id: conference,
      title: info?.title ?? row?.title ?? "",
      type: info?.type ?? row?.type ?? "text",
      peers: (info?.peers ?? []).map(peerView),
      ...(away.length > 0 ? { away } : {}),
      connected: info?.connected === true && tox.conferenceReachable(account.publicKey, conference),
    };
  }

  /** Queues an announce on the conference's lane (one waiting per reason: a "joined" is never merged away). */
  private update(account: AccountRef, conference: string, reason: ConferenceUpdateReason): Promise<void> {
    return this.lanes.runOnce(laneKey(account, conference), `update:${reason}`, () =>
      this.announce(account, conference, reason),
    );
  }

  private async announce(
    account: AccountRef,
    conference: string,
    reason: ConferenceUpdateReason,
  ): Promise<void> {
    const row = await this.deps.repo.get(account.id, fromHex(conference));
    if (row === null) return; // left meanwhile
    await this.tellUpdated(account, this.view(account, conference, row), reason);
  }

  private async tellUpdated(
    account: AccountRef,
    view: ConferenceView,
    reason: ConferenceUpdateReason,
  ): Promise<void> {
    const key = laneKey(account, view.id);
    if (this.deps.frontends.for(account) === undefined) {
      if (reason === "joined") this.untoldJoins.add(key);
      return;
    }
    // A join no frontend heard of yet is still news to the user, whatever changed since.
    const told = this.untoldJoins.delete(key) ? "joined" : reason;
    await this.deps.frontends.tell(account, "conferenceUpdated", (f) =>
      f.conferenceUpdated?.(account, view, told),
    );
  }

  /**
   * Offers the kept inbound messages of this conference to the frontend now, whatever their retry
   * time (the frontend says the user can take them again).
   */
  async redeliver(owner: Owner, conference: string): Promise<void> {
    const account = await this.ref(owner);
    const id = await this.requireConference(account, conference);
    await this.lanes.runOnce(laneKey(account, id), "redeliver", () => this.drain(account, id, true));
  }

  private kick(account: AccountRef, conference: string): Promise<void> {
    return this.lanes.runOnce(laneKey(account, conference), "pump", () => this.pump(account, conference));
  }

  private async pump(account: AccountRef, conference: string): Promise<void> {
    const { repo, tox, frontends, log } = this.deps;
    const conferenceId = fromHex(conference);
    const reachable = () =>
      tox.isOnline(account.publicKey) && tox.conferenceReachable(account.publicKey, conference);
    const key = laneKey(account, conference);
    for (;;) {
      if (!reachable()) {
        this.reachableSince.delete(key);
        return; // kept until a member is back
      }
      const now = this.deps.clock.now();
      if (!this.rejoined(account, conference, now)) {
        this.reachableSince.delete(key); // the settling time counts from their return
        return; // the periodic tick comes back for it
      }
      const since = this.reachableSince.get(key) ?? now;
      this.reachableSince.set(key, since);
      if (now - since < this.settleMs) return; // the periodic tick comes back for it
      const due = await repo.listDue(account.id, conferenceId, new Date(now), BATCH);
      for (const item of due) {
        if (now - item.createdAt.getTime() > this.maxAgeMs) {
          const reason = "no other member of the conference was reachable for too long";
          await repo.markFailed(item.id, reason);
          const preview = item.body.length > 60 ? `${item.body.slice(0, 60)}…` : item.body;
          await frontends.tell(account, "notice", (f) =>
            f.notice(account, {
              code: "delivery-failed",
              text: `Your conference message "${preview}" could not be delivered to Tox (${reason}).`,
              ...(item.sourceEventId === null ? {} : { sourceEventId: item.sourceEventId }),
            }),
          );
          continue;
        }
        try {
          await tox.conferenceSend(account.publicKey, conference, item.body, item.kind);
        } catch (err) {
          if (!reachable()) return; // everyone left between the check and the send: wait
          await repo.markRetry(item.id, errorText(err), new Date(now + this.retryDelayMs(item.attempts + 1)));
          log.warn(
            { account: account.id, conference: conference.slice(0, 16), item: item.id, err: errorText(err) },
            "core: Tox refused a conference message; will retry",
          );
          return;
        }
        await repo.markSent(item.id);
        this.dirty.add(account.id); // a new message number
      }
      if (due.length < BATCH) return;
    }
  }

  /**
   * Whether a conference restored after a restart is linked to the members that did not restart:
   * one that was active when the record was taken (not an identity of this bridge) is active
   * again, or none was, or `rejoinWaitMs` is over.
   */
  private rejoined(account: AccountRef, conference: string, now: number): boolean {
    const key = laneKey(account, conference);
    const wait = this.awaitingRejoin.get(key);
    if (wait === undefined) return true;
    const { accounts, tox, log } = this.deps;
    const others = [...wait.members].filter((pk) => accounts.byIdentity(pk) === undefined);
    const peers = tox.conferenceInfo(account.publicKey, conference)?.peers ?? [];
    const back = peers.find((p) => !p.self && others.includes(p.publicKey));
    if (others.length > 0 && back === undefined && now < wait.until) return false;
    this.awaitingRejoin.delete(key);
    if (others.length > 0)
      log.info(
        {
          account: account.id,
          conference: conference.slice(0, 16),
          member: back?.publicKey.slice(0, 16) ?? null,
          waitedMs: now - (wait.until - this.rejoinWaitMs),
        },
        back
          ? "core: conference rejoined after restart"
          : "core: no member back after restart; sending anyway",
      );
    return true;
  }

  /** Hands the conference's kept inbound messages over in order; `now`: regardless of their retry time. */
  private async drain(account: AccountRef, conference: string, now = false): Promise<void> {
    const { repo, frontends, clock, log } = this.deps;
    const conferenceId = fromHex(conference);
    for (;;) {
      const frontend = frontends.for(account);
      if (frontend === undefined) return; // kept until one registers
      const item = await repo.inboundHead(account.id, conferenceId);
      if (item === null) return;
      if (!now && item.nextAttemptAt !== null && item.nextAttemptAt.getTime() > clock.now()) return;
      if (frontend.deliverConferenceMessage === undefined) {
        // A frontend without conferences: nothing will ever take it.
        await repo.removeInbound(item.id);
        continue;
      }
      try {
        await frontend.deliverConferenceMessage(account, this.inbound(item));
      } catch (err) {
        await repo.retryInbound(
          item.id,
          errorText(err),
          new Date(clock.now() + this.inboundRetryDelayMs(item.attempts + 1)),
        );
        log.debug(
          { account: account.id, conference: conference.slice(0, 16), item: item.id, err: errorText(err) },
          "core: frontend refused a conference message; will retry",
        );
        return;
      }
      await repo.removeInbound(item.id);
    }
  }

  private inbound(item: ConferenceInboxItem) {
    const peer = hex(item.peerPk);
    const owner = this.deps.accounts.byIdentity(peer)?.owner;
    return {
      id: item.id,
      conference: hex(item.conferenceId),
      peer,
      peerName: item.peerName,
      ...(owner ? { bridgedOwner: owner } : {}),
      kind: item.kind,
      text: item.body,
      receivedAt: item.receivedAt,
    };
  }

  private async sendInvites(account: AccountRef, friend: string): Promise<void> {
    const { repo, tox, log } = this.deps;
    if (!tox.isOnline(account.publicKey) || !tox.friendPresence(account.publicKey, friend).online) return;
    for (const conferenceId of await repo.invitesFor(account.id, fromHex(friend))) {
      const id = hex(conferenceId);
      try {
        await tox.conferenceInvite(account.publicKey, id, friend);
        await repo.deleteInvite(account.id, conferenceId, fromHex(friend));
        log.info(
          { account: account.id, conference: id.slice(0, 16), friend: friend.slice(0, 16) },
          "core: conference invite sent",
        );
      } catch (err) {
        // Kept: tried again when the friend next comes online.
        log.warn(
          {
            account: account.id,
            conference: id.slice(0, 16),
            friend: friend.slice(0, 16),
            err: errorText(err),
          },
          "core: conference invite not sent yet",
        );
      }
    }
  }

  /**
   * Makes another bridged user's identity a Tox friend of this one (both ways, without a
   * request: both are ours) and returns its key.
   */
  private async befriendBridged(account: AccountRef, invitee: Owner): Promise<string> {
    const { store, tox, accounts, frontends } = this.deps;
    const other = await accounts.get(invitee);
    if (other === null)
      throw new CoreError(
        "no-account",
        `${invitee.id} has no Tox account on this bridge yet: they can make one by sending \`create\` to the bridge bot.`,
        { invitee: invitee.id },
      );
    const otherRef = accounts.byId(other.id) ?? toAccountRef(other);
    if (otherRef.id === account.id)
      throw new CoreError("bad-argument", "You are already in this conference.");
    const pair: [AccountRef, AccountRef][] = [
      [account, otherRef],
      [otherRef, account],
    ];
    for (const [me, them] of pair) {
      const pk = fromHex(them.publicKey);
      const existing = await store.friends.get(me.id, pk);
      if (existing?.requestState === "accepted") continue;
      const row =
        existing === null
          ? await store.friends.upsert({ accountId: me.id, publicKey: pk, requestState: "accepted" })
          : await store.friends.update(me.id, pk, { requestState: "accepted", requestMessage: "" });
      if (tox.isOnline(me.publicKey)) await tox.addFriendNoRequest(me.publicKey, them.publicKey);
      if (row !== null) {
        const view = this.deps.contacts.view(me, row);
        await frontends.tell(me, "friendUpdated", (f) => f.friendUpdated(me, view));
      }
    }
    return otherRef.publicKey;
  }

  private async requireConference(account: AccountRef, conference: string): Promise<string> {
    const id = conference.toLowerCase();
    if (!isHexKey(id) || (await this.deps.repo.get(account.id, fromHex(id))) === null)
      throw new CoreError("unknown-conference", "You are not in that Tox conference.", {
        conference: conference.slice(0, 80),
      });
    return id;
  }

  private requireOnline(account: AccountRef): void {
    if (!this.deps.tox.isOnline(account.publicKey))
      throw new CoreError(
        "not-permitted",
        "Your Tox identity is not online right now; please try again later.",
      );
  }

  private track(accountId: number, conference: string): void {
    this.dirty.add(accountId);
    let set = this.joined.get(accountId);
    if (set === undefined) {
      set = new Set();
      this.joined.set(accountId, set);
    }
    set.add(conference);
  }

  private async ref(owner: Owner): Promise<AccountRef> {
    const online = this.deps.accounts.byOwner(owner);
    if (online !== undefined) return online;
    const account = await this.deps.accounts.require(owner);
    return this.deps.accounts.byIdentity(hex(account.publicKey)) ?? toAccountRef(account);
  }
}

function laneKey(account: AccountRef, conference: string): string {
  return `${account.id}:${conference}`;
}

function checkTitle(title: string): void {
  if (Buffer.byteLength(title, "utf8") > MAX_CONFERENCE_TITLE_LENGTH)
    throw new CoreError(
      "bad-argument",
      `A conference title is at most ${MAX_CONFERENCE_TITLE_LENGTH} bytes.`,
    );
}

/**
 * The members of a restart record that were active when it was taken: heard from within the
 * freeze timeout of the latest sign of life in it (active members ping every 20 s).
 */
function activeMembers(snapshot: ConferenceSnapshot): Set<string> {
  const latest = Math.max(0, ...snapshot.peers.map((p) => p.lastActive));
  return new Set(
    snapshot.peers.filter((p) => p.lastActive >= latest - FREEZE_TIMEOUT_S).map((p) => p.publicKey),
  );
}

function isSnapshot(value: unknown): value is ConferenceSnapshot {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as ConferenceSnapshot).id === "string" &&
    Array.isArray((value as ConferenceSnapshot).peers)
  );
}
