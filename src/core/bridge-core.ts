/**
 * BridgeCore: the network-agnostic bridge domain around one Tox gateway (a ToxNode) and one
 * Store. Frontends register themselves and call the CoreApi; Tox events are applied to the store
 * and passed on to the account's frontend.
 *
 * The only timer lives here (the edge): every `tickMs` it retries due outbound and inbound
 * messages. Tests pass `tickMs: 0` and call `tick()` with a ManualClock.
 */

import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PermissionLevel } from "../config/permissions.js";
import type { Network, Queryable, Store } from "../store/index.js";
import { type ConferencesRepo, createConferencesRepo } from "../store/repos/conferences.js";
import { createFileTransfersRepo, type FileTransfersRepo } from "../store/repos/files.js";
import { createInboxRepo, type InboxRepo } from "../store/repos/inbox.js";
import { createOutboxEventsRepo, type OutboxEventsRepo } from "../store/repos/outbox-events.js";
import { type Clock, systemClock } from "../tox/index.js";
import { Accounts, type Presence, type Profile, toAccountRef } from "./accounts.js";
import { CommandRunner } from "./commands.js";
import { type ConferenceOptions, CoreConferences } from "./conferences.js";
import { Contacts } from "./contacts.js";
import { CoreError, type CoreLogger, errorText, silentLogger } from "./errors.js";
import { FileService, type FileServiceOptions } from "./files.js";
import type {
  AccountRef,
  CommandFile,
  CommandReply,
  ConferenceSendRequest,
  ConferenceView,
  CoreApi,
  CoreConferencesApi,
  CoreFilesApi,
  FriendView,
  Frontend,
  Owner,
  SendFileRequest,
  SendOutcome,
  SendRequest,
  SendResult,
} from "./frontend.js";
import { FrontendHub } from "./frontends.js";
import { Inbox, type InboxOptions } from "./inbox.js";
import { hex, keyBytes } from "./keys.js";
import { Lanes } from "./lanes.js";
import { type CoreGauges, CoreMetrics } from "./metrics.js";
import { Outbox, type OutboxMessage, type OutboxOptions } from "./outbox.js";
import { type ExportResult, type ImportOutcome, Profiles } from "./profiles.js";
import type { ToxGateway } from "./tox-gateway.js";

/** Tables the core needs beyond the Store's repositories (see migrations/002_inbox.sql). */
export interface CoreRepos {
  inbox: InboxRepo;
  outboxEvents: OutboxEventsRepo;
  conferences: ConferencesRepo;
  files: FileTransfersRepo;
}

/** Builds the core's extra repositories over the Db from `openStoreWithDb`. */
export function coreRepos(db: Queryable): CoreRepos {
  return {
    inbox: createInboxRepo(db),
    outboxEvents: createOutboxEventsRepo(db),
    conferences: createConferencesRepo(db),
    files: createFileTransfersRepo(db),
  };
}

export interface BridgeCoreOptions {
  store: Store;
  repos: CoreRepos;
  tox: ToxGateway;
  clock?: Clock;
  log?: CoreLogger;
  outbox?: OutboxOptions;
  inbox?: InboxOptions;
  conferences?: ConferenceOptions;
  /**
   * File transfers: spool directory (config `files.spool_dir`; default a fresh temporary one,
   * which does not survive restarts) and limits (`files.max_size`, default 100 MiB).
   */
  files?: Partial<FileServiceOptions>;
  /** Period of the retry timer; 0 = no timer (call `tick()` yourself). Default 1000 ms. */
  tickMs?: number;
}

export class BridgeCore implements CoreApi, CoreConferencesApi, CoreFilesApi {
  readonly metrics = new CoreMetrics();
  readonly accounts: Accounts;
  readonly contacts: Contacts;
  readonly outbox: Outbox;
  readonly inbox: Inbox;
  readonly commands: CommandRunner;
  readonly conferenceService: CoreConferences;
  readonly files: FileService;
  readonly profiles: Profiles;
  private readonly frontends: FrontendHub;
  private readonly store: Store;
  private readonly repos: CoreRepos;
  private readonly tox: ToxGateway;
  private readonly clock: Clock;
  private readonly log: CoreLogger;
  private readonly tickMs: number;
  /** `${accountId}:${friend}` of friends online now, for the gauge. */
  private readonly friendsOnline = new Set<string>();
  /** Contact events of one friend are applied in arrival order (they read-modify-write its row). */
  private readonly contactEvents: Lanes;
  private unsubscribe: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private started = false;

  constructor(opts: BridgeCoreOptions) {
    this.store = opts.store;
    this.repos = opts.repos;
    this.tox = opts.tox;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? silentLogger;
    this.tickMs = opts.tickMs ?? 1000;
    const now = () => new Date(this.clock.now());
    this.frontends = new FrontendHub(this.log);
    this.contactEvents = new Lanes(this.log, "contact events");
    this.accounts = new Accounts(this.store, this.tox, this.log);
    this.contacts = new Contacts(this.store, this.tox, this.accounts, this.frontends, this.log, now);
    this.outbox = new Outbox(
      {
        store: this.store,
        outboxEvents: this.repos.outboxEvents,
        tox: this.tox,
        frontends: this.frontends,
        metrics: this.metrics,
        clock: this.clock,
        log: this.log,
      },
      opts.outbox,
    );
    this.inbox = new Inbox(
      {
        inbox: this.repos.inbox,
        frontends: this.frontends,
        metrics: this.metrics,
        clock: this.clock,
        log: this.log,
      },
      opts.inbox,
    );
    this.conferenceService = new CoreConferences(
      {
        repo: this.repos.conferences,
        store: this.store,
        tox: this.tox,
        accounts: this.accounts,
        contacts: this.contacts,
        frontends: this.frontends,
        clock: this.clock,
        log: this.log,
      },
      opts.conferences,
    );
    this.accounts.addSpecSource(async (account) => ({
      conferences: await this.conferenceService.snapshotsFor(account.id),
    }));
    this.accounts.onDelete((account) => this.conferenceService.onAccountDeleted(account));
    this.files = new FileService(
      {
        repo: this.repos.files,
        store: this.store,
        tox: this.tox,
        frontends: this.frontends,
        metrics: this.metrics,
        clock: this.clock,
        log: this.log,
      },
      {
        ...opts.files,
        // Created on first use only, so cores that never see a file leave nothing behind.
        spoolDir: opts.files?.spoolDir ?? join(tmpdir(), `toxbridge-spool-${randomBytes(8).toString("hex")}`),
        maxFileSize: opts.files?.maxFileSize ?? 100 * 1024 * 1024,
      },
    );
    this.profiles = new Profiles({
      store: this.store,
      tox: this.tox,
      accounts: this.accounts,
      clock: this.clock,
      log: this.log,
    });
    this.accounts.addSpecSource(async (account) => ({
      extraNodes: await this.profiles.savedNodes(account.id),
    }));
    this.accounts.onDelete((account) => this.files.forgetAccount(account));
    this.commands = new CommandRunner(
      this.accounts,
      this.contacts,
      this.log,
      this.conferenceService,
      this.profiles,
    );
    this.frontends.onRegister(() => void this.files.tick((id) => this.accounts.byId(id)));
    this.frontends.onRegister(() => void this.inbox.tick((id) => this.accounts.byId(id)));
    // A frontend registered after start learns the conferences it serves.
    this.frontends.onRegister(() => {
      if (this.started)
        this.conferenceService
          .announceAll()
          .catch((err: unknown) => this.log.warn({ err: errorText(err) }, "core: conferences not announced"));
    });
  }

  /** Crash recovery, then every account online, then queued messages on their way. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.outbox.recover();
    await this.files.recover();
    this.unsubscribe = this.subscribe();
    const { online, failed } = await this.accounts.bringAllOnline();
    this.log.info({ online, failed }, "core: accounts online");
    await this.conferenceService.announceAll();
    await this.tick();
    if (this.tickMs > 0) {
      this.timer = setInterval(() => {
        if (this.ticking !== undefined) return; // the previous round is still running
        this.ticking = this.tick()
          .catch((err: unknown) => this.log.warn({ err: errorText(err) }, "core: tick failed"))
          .finally(() => {
            this.ticking = undefined;
          });
      }, this.tickMs);
      this.timer.unref();
    }
  }

  /** Stops the timer, lets work in progress finish and takes every identity offline. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.idle();
    // The conferences' restart records as of now (message numbers), before the identities go.
    await this.conferenceService
      .persistSnapshots(true)
      .catch((err: unknown) => this.log.warn({ err: errorText(err) }, "core: conference state not saved"));
    await this.rememberNodes();
    await this.accounts.takeAllOffline();
    this.friendsOnline.clear();
  }

  /** One round of periodic work: retries that came due, age limits. */
  async tick(): Promise<void> {
    await this.outbox.tick((id) => this.accounts.byId(id));
    await this.inbox.tick((id) => this.accounts.byId(id));
    await this.conferenceService.tick();
    await this.files.tick((id) => this.accounts.byId(id));
  }

  /** Resolves when all queued deliveries and event handling have settled (tests, shutdown). */
  async idle(): Promise<void> {
    // Handling may queue more (a receipt after a send): settle twice.
    for (let i = 0; i < 2; i++)
      await Promise.all([
        this.contactEvents.idle(),
        this.outbox.idle(),
        this.inbox.idle(),
        this.conferenceService.idle(),
        this.files.idle(),
      ]);
  }

  async gauges(): Promise<CoreGauges> {
    const depth = await this.store.outbox.depth();
    return {
      accountsOnline: this.accounts.onlineCount(),
      friendsOnline: this.friendsOnline.size,
      outboxQueued: depth.queued,
      outboxSending: depth.sending,
      inboxWaiting: await this.repos.inbox.count(),
      outboxOldestMs:
        depth.oldestPendingAt === null ? 0 : Math.max(0, this.clock.now() - depth.oldestPendingAt.getTime()),
    };
  }

  // -------------------------------------------------------------------------------------------
  // CoreApi

  registerFrontend(frontend: Frontend): void {
    this.frontends.register(frontend);
  }

  /** A frontend shutting down: inbound messages for its accounts wait in the inbox meanwhile. */
  unregisterFrontend(network: Network): void {
    this.frontends.unregister(network);
  }

  async send(request: SendRequest): Promise<SendResult> {
    const account = await this.ref(request.owner);
    keyBytes(request.friend);
    return this.outbox.send(
      account,
      request.friend.toLowerCase(),
      request.text,
      request.kind,
      request.sourceEventId,
    );
  }

  async sendBatch(requests: readonly SendRequest[]): Promise<SendOutcome[]> {
    const outcomes: (SendOutcome | undefined)[] = requests.map(() => undefined);
    const messages: OutboxMessage[] = [];
    const indexOf: number[] = [];
    for (const [i, request] of requests.entries()) {
      try {
        const account = await this.ref(request.owner);
        keyBytes(request.friend);
        messages.push({
          account,
          friend: request.friend.toLowerCase(),
          text: request.text,
          ...(request.kind === undefined ? {} : { kind: request.kind }),
          ...(request.sourceEventId === undefined ? {} : { sourceEventId: request.sourceEventId }),
        });
        indexOf.push(i);
      } catch (err) {
        if (!(err instanceof CoreError)) throw err;
        outcomes[i] = { ok: false, error: err };
      }
    }
    for (const [j, outcome] of (await this.outbox.sendMany(messages)).entries())
      outcomes[indexOf[j] ?? -1] = outcome;
    return outcomes.map((o) => {
      if (o === undefined) throw new Error("core: a batched message got no outcome");
      return o;
    });
  }

  async setTyping(owner: Owner, friend: string, typing: boolean): Promise<void> {
    const account = await this.ref(owner);
    keyBytes(friend);
    try {
      await this.tox.setTyping(account.publicKey, friend.toLowerCase(), typing);
    } catch (err) {
      // Typing to an offline or unknown friend is not worth an error to the user.
      this.log.debug({ account: account.id, err: errorText(err) }, "core: typing not sent");
    }
  }

  command(
    owner: Owner,
    text: string,
    permission: PermissionLevel | null,
    files?: CommandFile[],
  ): Promise<CommandReply> {
    return this.commands.run(owner, text, permission, files);
  }

  async account(owner: Owner): Promise<AccountRef | null> {
    const account = await this.accounts.get(owner);
    if (account === null) return null;
    return this.accounts.byIdentity(hex(account.publicKey)) ?? toAccountRef(account);
  }

  /**
   * Every account of one network (not part of CoreApi): a frontend that reconnects after a
   * crash re-announces presence to each owner (the XMPP gateway's AccountListing).
   */
  async accountsOf(network: Network): Promise<AccountRef[]> {
    const rows = await this.store.accounts.list();
    return rows
      .filter((a) => a.ownerKind === network)
      .map((a) => this.accounts.byId(a.id) ?? toAccountRef(a));
  }

  friends(owner: Owner): Promise<FriendView[]> {
    return this.contacts.list(owner);
  }

  friend(owner: Owner, friend: string): Promise<FriendView | null> {
    return this.contacts.get(owner, friend.toLowerCase());
  }

  // -------------------------------------------------------------------------------------------
  // CoreFilesApi (issue 7): see files.ts; profiles: see profiles.ts

  get maxFileSize(): number {
    return this.files.maxFileSize;
  }

  async sendFile(request: SendFileRequest): Promise<SendResult> {
    const account = await this.ref(request.owner);
    keyBytes(request.friend);
    return this.files.send(account, request);
  }

  async setAvatar(owner: Owner, avatar: { path: string; mimeType: string } | null): Promise<void> {
    const account = await this.ref(owner);
    const online = [...this.friendsOnline]
      .filter((k) => k.startsWith(`${account.id}:`))
      .map((k) => k.slice(k.indexOf(":") + 1));
    await this.files.setAvatar(account, avatar, online);
  }

  /** Imports a .tox profile (see `import`); CoreErrors for bad files, wrong passphrases, conflicts. */
  importProfile(
    owner: Owner,
    data: Uint8Array,
    opts: { passphrase?: string; replace?: boolean } = {},
  ): Promise<ImportOutcome> {
    return this.profiles.import(owner, data, opts);
  }

  /** The owner's profile as a .tox file (encrypted with `passphrase` when given). */
  exportProfile(owner: Owner, passphrase?: string): Promise<ExportResult> {
    return this.profiles.export(owner, passphrase);
  }

  // -------------------------------------------------------------------------------------------
  // CoreConferencesApi (issue 8): see conferences.ts

  conferences(owner: Owner): Promise<ConferenceView[]> {
    return this.conferenceService.list(owner);
  }

  createConference(owner: Owner, title?: string): Promise<ConferenceView> {
    return this.conferenceService.create(owner, title);
  }

  inviteToConference(owner: Owner, conference: string, invitee: string | Owner): Promise<void> {
    return this.conferenceService.invite(owner, conference, invitee);
  }

  sendConference(request: ConferenceSendRequest): Promise<SendResult> {
    return this.conferenceService.send(request);
  }

  setConferenceTitle(owner: Owner, conference: string, title: string): Promise<void> {
    return this.conferenceService.setTitle(owner, conference, title);
  }

  leaveConference(owner: Owner, conference: string): Promise<void> {
    return this.conferenceService.leave(owner, conference);
  }

  redeliverConference(owner: Owner, conference: string): Promise<void> {
    return this.conferenceService.redeliver(owner, conference);
  }

  // -------------------------------------------------------------------------------------------
  // Structured operations (the same as the commands, for provisioning APIs and XMPP forms).
  // Outside CoreApi so frontends' test doubles need not implement them; errors are CoreErrors.

  async createAccount(owner: Owner): Promise<Profile> {
    await this.accounts.create(owner);
    return this.accounts.profile(owner);
  }

  deleteAccount(owner: Owner): Promise<boolean> {
    return this.accounts.delete(owner);
  }

  profile(owner: Owner): Promise<Profile> {
    return this.accounts.profile(owner);
  }

  async setProfile(owner: Owner, change: { name?: string; statusMessage?: string; presence?: Presence }) {
    if (change.name !== undefined) await this.accounts.setName(owner, change.name);
    if (change.statusMessage !== undefined) await this.accounts.setStatusMessage(owner, change.statusMessage);
    if (change.presence !== undefined) await this.accounts.setPresence(owner, change.presence);
  }

  addFriend(owner: Owner, toxId: string, message?: string): Promise<FriendView> {
    return this.contacts.add(owner, toxId, message);
  }

  requests(owner: Owner): Promise<FriendView[]> {
    return this.contacts.requests(owner);
  }

  /** `friend`: public key, Tox ID, 1-based position in `requests`, or a unique name. */
  acceptFriend(owner: Owner, friend: string): Promise<FriendView> {
    return this.contacts.accept(owner, friend);
  }

  declineFriend(owner: Owner, friend: string): Promise<FriendView> {
    return this.contacts.decline(owner, friend);
  }

  removeFriend(owner: Owner, friend: string): Promise<FriendView> {
    return this.contacts.remove(owner, friend);
  }

  // -------------------------------------------------------------------------------------------

  /**
   * The owner's account. When its identity is not online (it failed to come up) the ref is built
   * from the store: messages are still queued, and go out once it is online.
   */
  private async ref(owner: Owner): Promise<AccountRef> {
    const online = this.accounts.byOwner(owner);
    if (online !== undefined) return online;
    const account = await this.accounts.require(owner);
    return this.accounts.byIdentity(hex(account.publicKey)) ?? toAccountRef(account);
  }

  /** Each online identity's DHT nodes and TCP relays, for the next start and for exports. */
  private async rememberNodes(): Promise<void> {
    for (const account of (await this.store.accounts.list()).map(toAccountRef)) {
      const online = this.accounts.byId(account.id);
      if (online === undefined) continue;
      await this.profiles
        .rememberNodes(online)
        .catch((err: unknown) => this.log.debug({ err: errorText(err) }, "core: nodes not remembered"));
    }
  }

  private subscribe(): () => void {
    const on =
      <E extends { identity: string }>(
        what: string,
        handle: (account: AccountRef, e: E) => Promise<unknown>,
      ) =>
      (e: E) => {
        const account = this.accounts.byIdentity(e.identity);
        if (account === undefined) return;
        try {
          handle(account, e).catch((err: unknown) =>
            this.log.warn(
              { account: account.id, what, err: errorText(err) },
              "core: Tox event handling failed",
            ),
          );
        } catch (err) {
          this.log.warn(
            { account: account.id, what, err: errorText(err) },
            "core: Tox event handling failed",
          );
        }
      };
    const contact = (account: AccountRef, friend: string, job: () => Promise<void>) =>
      this.contactEvents.run(`${account.id}:${friend}`, job);
    return this.tox.subscribe({
      friendConnection: on("friendConnection", (account, e) => {
        const key = `${account.id}:${e.friend}`;
        // The node also reports path changes (udp <-> tcp) of a friend that stays online.
        if (e.online && this.friendsOnline.has(key)) return this.outbox.kick(account, e.friend);
        if (e.online) this.friendsOnline.add(key);
        else this.friendsOnline.delete(key);
        if (e.online) void this.conferenceService.onFriendOnline(account, e.friend);
        if (e.online) void this.files.onConnection(account, e.friend, true);
        return Promise.all([
          contact(account, e.friend, () => this.contacts.onConnection(account, e.friend, e.online)),
          this.outbox.onConnection(account, e.friend, e.online, e.unconfirmed),
        ]);
      }),
      friendMessage: on("friendMessage", (account, e) =>
        this.inbox.onMessage(account, e.friend, e.kind, e.text),
      ),
      readReceipt: on("readReceipt", (account, e) => this.outbox.onReceipt(account, e.friend, e.messageId)),
      friendName: on("friendName", (account, e) =>
        contact(account, e.friend, () => this.contacts.onProfile(account, e.friend, { name: e.name })),
      ),
      friendStatusMessage: on("friendStatusMessage", (account, e) =>
        contact(account, e.friend, () =>
          this.contacts.onProfile(account, e.friend, { statusMessage: e.statusMessage }),
        ),
      ),
      friendStatus: on("friendStatus", (account, e) =>
        contact(account, e.friend, () => this.contacts.onProfile(account, e.friend, { status: e.status })),
      ),
      friendTyping: on("friendTyping", (account, e) =>
        contact(account, e.friend, () =>
          this.frontends.tell(account, "friendTyping", (f) => f.friendTyping(account, e.friend, e.typing)),
        ),
      ),
      friendRequest: on("friendRequest", (account, e) =>
        contact(account, e.friend, () => this.contacts.onRequest(account, e.friend, e.message)),
      ),
      conferenceInvite: on("conferenceInvite", (account, e) => this.conferenceService.onInvite(account, e)),
      conferenceChanged: on("conferenceChanged", (account, e) =>
        this.conferenceService.onChanged(account, e.conference),
      ),
      conferenceMessage: on("conferenceMessage", (account, e) =>
        this.conferenceService.onMessage(account, e),
      ),
      fileOffer: on("fileOffer", (account, e) => this.files.onOffer(account, e)),
      fileControl: on("fileControl", async (account, e) => this.files.onControl(account, e)),
      fileComplete: on("fileComplete", (account, e) => this.files.onComplete(account, e)),
      fileEnded: on("fileEnded", (account, e) => this.files.onEnded(account, e)),
    });
  }
}
