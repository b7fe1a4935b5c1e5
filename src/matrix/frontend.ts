/**
 * The Matrix frontend: translates between Matrix (through matrix-appservice-bridge intents) and
 * the bridge core. It holds no business rules: commands, friends, queues and retries are the
 * core's; this module decides only which Matrix room or user a core event belongs to.
 *
 * - The bot (`@toxbot`) answers commands in the rooms users invited it to (its "bot rooms").
 * - Each Tox friend is a ghost `@_tox_<pk>` and gets one DM portal room per bridged user, made on
 *   first contact either way: a Tox message (the ghost creates the room and invites the user) or
 *   the user inviting the ghost to a room of their own.
 * - Everything a homeserver pushes is handled in `onTransaction`, before the transaction is
 *   acknowledged: a portal message is acknowledged only once the core has it in its outbox, and
 *   a failure to persist answers 500 so the homeserver sends the transaction again. Events the
 *   core already has (same event id) are no-ops, so redelivery never sends twice.
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BridgeController, Intent } from "matrix-appservice-bridge";
import { type PermissionLevel, permissionFor } from "../config/permissions.js";
import { CoreError } from "../core/errors.js";
import type {
  AccountRef,
  AvatarFile,
  CommandFile,
  CommandReply,
  ConferenceView,
  CoreApi,
  CoreFilesApi,
  FriendView,
  Frontend,
  InboundConferenceMessage,
  InboundFile,
  InboundMessage,
  Notice,
  Owner,
  SendOutcome,
  SendRequest,
} from "../core/frontend.js";
import type { Logger } from "../logger.js";
import type { Portal, Store } from "../store/index.js";
import { fromHex } from "../tox/index.js";
import type { AppserviceTransaction } from "./appservice.js";
import { MatrixAvatars } from "./avatars.js";
import { conferenceCoreOf, MatrixConferences } from "./conferences.js";
import { matrixEventToTox, toxToMatrixContent } from "./convert.js";
import type { DoublePuppet } from "./double-puppet.js";
import { botUserId, friendKeyOfGhost, ghostUserId, isBridgeUser, type MatrixNames } from "./ids.js";
import { MatrixMedia } from "./media.js";
import { isMediaMsgtype } from "./media-content.js";
import { PortalCache } from "./portal-cache.js";
import { MatrixPresenceSync, type PresenceTarget, parsePresenceEdu } from "./presence.js";

type Json = Record<string, unknown>;

/** A portal message waiting to be persisted with the rest of its transaction. */
interface PortalSend {
  roomId: string;
  request: SendRequest;
}

interface ReceiptSlot {
  next: { ghostId: string; eventId: string } | undefined;
}

export interface MatrixFrontendOptions {
  /** The core; its files API (issue 7), when present, bridges media and avatars. */
  core: CoreApi & Partial<CoreFilesApi>;
  store: Store;
  names: MatrixNames;
  permissions: Readonly<Record<string, PermissionLevel>>;
  degradeRich: boolean;
  log: Logger;
  /** Where media downloads wait before the core takes them (default: the OS temp directory). */
  spoolDir?: string;
  /**
   * Users' Matrix presence and status message colour their Tox identity (config
   * `matrix.presence_to_tox`, default on; needs a core with profile/setProfile). See presence.ts.
   */
  presenceToTox?: boolean;
  /** Quiet time before a presence change is applied (default 3 s). */
  presenceDebounceMs?: number;
  /** Writes new portals into the user's own m.direct (config `matrix.login_shared_secret`). */
  doublePuppet?: DoublePuppet;
}

/** Event types that may carry something for a Tox friend. */
const BRIDGED_TYPES = new Set(["m.room.message", "m.reaction", "m.room.redaction"]);

const botRoomKey = (roomId: string) => `matrix.botroom.room:${roomId}`;
const userBotRoomKey = (userId: string) => `matrix.botroom.user:${userId}`;
const refusedKey = (userId: string) => `matrix.refused:${userId}`;
const COMMAND_PREFIX = "matrix.command:";

export class MatrixFrontend implements Frontend {
  readonly network = "matrix" as const;
  private intentFor: ((userId?: string) => Intent) | undefined;
  /** Ghosts known to be registered in this run (registration is idempotent, but costs a request). */
  private readonly registered = new Set<string>();
  /** Last display name set per ghost, to skip no-op profile writes. */
  private readonly ghostNames = new Map<string, string>();
  /** Portal creation in progress per account+friend: two first contacts must not make two rooms. */
  private readonly creating = new Map<string, Promise<string>>();
  /** Owners typing in portal rooms now (roomId -> typing), from m.typing EDUs. */
  private readonly typing = new Map<string, boolean>();
  /** Read receipts per portal room: the newest one waiting while another is in flight. */
  private readonly receipts = new Map<string, ReceiptSlot>();
  private readonly botId: string;
  private readonly portals: PortalCache;
  /** Tox conferences as rooms (issue 8); absent when the core has no conference half. */
  private readonly conferences: MatrixConferences | undefined;
  private readonly media: MatrixMedia;
  private readonly avatars: MatrixAvatars;
  /** Matrix presence -> Tox status; absent when off or the core cannot set profiles. */
  readonly presence: MatrixPresenceSync | undefined;

  constructor(private readonly opts: MatrixFrontendOptions) {
    this.botId = botUserId(opts.names);
    this.portals = new PortalCache(opts.store);
    const presenceTarget = presenceTargetOf(opts.core);
    this.presence =
      opts.presenceToTox === false || presenceTarget === null
        ? undefined
        : new MatrixPresenceSync({
            target: presenceTarget,
            memory: opts.store.bridgeState,
            log: opts.log,
            ...(opts.presenceDebounceMs === undefined ? {} : { debounceMs: opts.presenceDebounceMs }),
          });
    const conferenceCore = conferenceCoreOf(opts.core);
    this.conferences =
      conferenceCore === null
        ? undefined
        : new MatrixConferences({
            core: conferenceCore,
            store: opts.store,
            names: opts.names,
            permissions: opts.permissions,
            degradeRich: opts.degradeRich,
            log: opts.log,
            intent: (userId) => this.intent(userId),
            botSay: (userId, text) => this.botSay(userId, text),
          });
    const intent = (userId?: string) => this.intent(userId);
    this.media = new MatrixMedia({
      core: opts.core,
      store: opts.store,
      log: opts.log,
      spoolDir: opts.spoolDir ?? join(tmpdir(), "toxbridge-spool"),
      botId: this.botId,
      intent,
    });
    this.avatars = new MatrixAvatars({
      media: this.media,
      core: opts.core,
      store: opts.store,
      log: opts.log,
      intent,
    });
  }

  /** Start-up: offers each Matrix user's current avatar to Tox (it may have changed while down). */
  syncUserAvatars(): Promise<void> {
    return this.avatars.syncAllUsers();
  }

  /** Connects the frontend to a started bridge (`bridge.getIntent`). */
  attach(intentFor: (userId?: string) => Intent): void {
    this.intentFor = intentFor;
  }

  /**
   * The library controller: everything is handled in `onTransaction`, so its per-event callbacks
   * only resolve the request.
   */
  controller(): BridgeController {
    return {
      onEvent: (request) => {
        request.resolve(undefined);
      },
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Matrix -> core

  /** Handles one pushed transaction; rejects (-> 500, retried) only when something was not stored. */
  async onTransaction(txn: AppserviceTransaction): Promise<void> {
    // Events of one room are handled in order (an invite before the message that follows it, one
    // friend's messages in sequence); rooms do not wait for each other. When a room fails, the
    // others still finish, so the homeserver's retry finds their work done (and deduplicated).
    const byRoom = new Map<string, Json[]>();
    for (const ev of txn.events) {
      const roomId = typeof ev.room_id === "string" ? ev.room_id : "";
      const list = byRoom.get(roomId);
      if (list === undefined) byRoom.set(roomId, [ev]);
      else list.push(ev);
    }
    // Portal messages are collected and persisted together afterwards: one commit for the whole
    // transaction instead of one per message (the bridge's throughput is bound by commits).
    const sends: PortalSend[] = [];
    const results = await Promise.allSettled(
      [...byRoom.values()].map(async (events) => {
        for (const ev of events) await this.onRoomEvent(ev, sends);
      }),
    );
    await this.persistSends(sends);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed !== undefined) throw failed.reason;
    for (const edu of txn.ephemeral) {
      try {
        await this.onEphemeral(edu);
      } catch (err) {
        this.opts.log.warn({ err, type: edu.type }, "Matrix: ephemeral event not handled");
      }
    }
  }

  private async onRoomEvent(ev: Json, sends: PortalSend[]): Promise<void> {
    const type = typeof ev.type === "string" ? ev.type : "";
    const roomId = typeof ev.room_id === "string" ? ev.room_id : "";
    const sender = typeof ev.sender === "string" ? ev.sender : "";
    const eventId = typeof ev.event_id === "string" ? ev.event_id : "";
    if (roomId === "" || sender === "" || eventId === "") return;
    const ctx = { roomId, sender, eventId, type };
    // Conference rooms have their own rules (several bridged users, ghost invites, names).
    const conference = this.conferences === undefined ? null : await this.conferences.conferenceIn(roomId);
    if (conference !== null) return this.conferences?.onRoomEvent(conference, ev);
    if (type === "m.room.member") {
      try {
        await this.onMembership(ev, roomId, sender);
      } catch (err) {
        this.opts.log.warn({ err, ...ctx }, "Matrix: membership event not handled");
      }
      return;
    }
    if (!BRIDGED_TYPES.has(type) || isBridgeUser(this.opts.names, sender)) return;

    const portal = await this.portals.inRoom(roomId);
    if (portal !== null) {
      // Durable path: errors other than the user's own mistakes propagate and fail the transaction.
      await this.onPortalEvent(portal, ev, type, sender, eventId, sends);
      return;
    }
    if (type !== "m.room.message") return;
    try {
      await this.onBotRoomMessage(ev, roomId, sender, eventId);
    } catch (err) {
      this.opts.log.warn({ err, ...ctx }, "Matrix: bot command not handled");
    }
  }

  private async onPortalEvent(
    portal: Portal,
    ev: Json,
    type: string,
    sender: string,
    eventId: string,
    sends: PortalSend[],
  ): Promise<void> {
    // Only the portal's owner speaks for their Tox identity; others in the room are not bridged.
    if ((await this.portals.ownerOf(portal.accountId)) !== sender) return;
    // Permissions are read from the config at every event: a user taken off the list stops here.
    if (permissionFor(this.opts.permissions, sender) === null) return;
    const friend = hexKey(portal.targetKey);
    const owner: Owner = { kind: "matrix", id: sender };
    // A new file (an edit of a caption repeats the url, but is text: see matrixEventToTox).
    if (type === "m.room.message" && isNewMedia(contentOf(ev)) && this.media.files() !== null) {
      const outcome = await this.media.sendToFriend(owner, friend, ev.content, eventId);
      if (!outcome.ok)
        await this.botSay(sender, outcome.notice).catch((e: unknown) =>
          this.opts.log.warn({ err: e, eventId }, "Matrix: could not tell the user"),
        );
      return;
    }
    const converted = matrixEventToTox(type, ev.content, { degradeRich: this.opts.degradeRich });
    if (converted === null) return;
    sends.push({
      roomId: portal.remoteId,
      request: {
        owner,
        friend,
        text: converted.text,
        kind: converted.kind,
        sourceEventId: eventId,
      },
    });
  }

  /**
   * Persists the transaction's portal messages, in one call when the core can batch. A storage
   * failure rejects (the transaction is answered 500 and retried); a message the core refuses
   * (not a friend any more, no account) gets a notice to its sender and the others go on.
   */
  private async persistSends(sends: PortalSend[]): Promise<void> {
    if (sends.length === 0) return;
    const { core } = this.opts;
    const outcomes: (SendOutcome | undefined)[] =
      core.sendBatch !== undefined ? await core.sendBatch(sends.map((s) => s.request)) : [];
    let failure: { error: unknown } | undefined;
    if (core.sendBatch === undefined) {
      // One by one: rooms side by side, each in order; a storage failure fails the transaction
      // once the other rooms are in.
      const byRoom = new Map<string, number[]>();
      for (const [i, s] of sends.entries()) byRoom.set(s.roomId, [...(byRoom.get(s.roomId) ?? []), i]);
      await Promise.all(
        [...byRoom.values()].map(async (indexes) => {
          for (const i of indexes) {
            const request = sends[i]?.request;
            if (request === undefined) continue;
            try {
              outcomes[i] = { ok: true, result: await core.send(request) };
            } catch (err) {
              if (!(err instanceof CoreError)) {
                failure ??= { error: err };
                return;
              }
              outcomes[i] = { ok: false, error: err };
            }
          }
        }),
      );
    }
    for (const [i, outcome] of outcomes.entries()) {
      const send = sends[i];
      if (outcome === undefined || outcome.ok || send === undefined) continue;
      const err = outcome.error;
      const { sourceEventId: eventId, owner } = send.request;
      this.opts.log.info(
        { code: err.code, eventId, roomId: send.roomId },
        "Matrix: message refused by the core",
      );
      // Best effort: a failing notice must not fail the transaction (its retry would fail again).
      await this.botSay(owner.id, `Your message was not sent to Tox: ${err.message}`).catch((e: unknown) =>
        this.opts.log.warn({ err: e, eventId }, "Matrix: could not tell the user"),
      );
    }
    if (failure !== undefined) throw failure.error;
  }

  private async onBotRoomMessage(ev: Json, roomId: string, sender: string, eventId: string): Promise<void> {
    const roomUser = await this.opts.store.bridgeState.get<string>(botRoomKey(roomId));
    if (roomUser === null) return; // not a room we answer commands in
    const content = contentOf(ev);
    const body = typeof content.body === "string" ? content.body : "";
    // A file sent to the bot is a command file: `import` (or its caption, e.g. `import <passphrase>`);
    // any media type, so a profile a client labels oddly still gets an answer.
    const isFile = isMediaMsgtype(content.msgtype);
    if (!isFile && (content.msgtype !== "m.text" || body.trim() === "")) return;
    if (content["m.relates_to"] !== undefined) return; // edits and replies to the bot are not commands
    const permission = permissionFor(this.opts.permissions, sender);
    if (permission === null) {
      await this.refuseOnce(roomId, sender);
      return;
    }
    // At most once: a redelivered transaction must not run `create` or `add` again.
    if (!(await this.opts.store.processedEvents.markProcessed("matrix", COMMAND_PREFIX + eventId))) return;
    const owner: Owner = { kind: "matrix", id: sender };
    let text = body;
    const files: CommandFile[] = [];
    if (isFile) {
      // The command is marked as run already: a download that fails now must not be silent.
      const got = await this.media.commandFile(content).catch((err: unknown) => {
        this.opts.log.warn({ err, eventId }, "Matrix: a file sent to the bot could not be downloaded");
        return {
          ok: false as const,
          notice: "I could not download that file from your homeserver; please send it again.",
        };
      });
      if (!got.ok) {
        await this.intent().sendMessage(roomId, { msgtype: "m.notice", body: got.notice });
        return;
      }
      files.push(got.file);
      text = got.caption !== undefined && /^\W?import\b/i.test(got.caption.trim()) ? got.caption : "import";
    }
    // `logout` deletes the account and, by cascade, its portals: drop them from the cache too.
    // `create` and `import` make one (or replace it): its Tox identity then takes the user's avatar.
    const watch = isFile || /^\W?(logout|create|import)\b/i.test(text.trim());
    const before = watch ? await this.opts.core.account(owner) : null;
    const reply =
      files.length > 0
        ? await this.opts.core.command(owner, text, permission, files)
        : await this.opts.core.command(owner, text, permission);
    const after = watch ? await this.opts.core.account(owner) : null;
    if (before !== null && after === null) this.portals.forgetAccount(before.id);
    if (/^\W?help\s+import\b/i.test(text.trim())) reply.text += `\n\n${IMPORT_WARNING}`;
    await this.sendReply(roomId, reply);
    if (after !== null && after.publicKey !== before?.publicKey) await this.avatars.syncFromProfile(sender);
  }

  private async sendReply(roomId: string, reply: CommandReply): Promise<void> {
    const bot = this.intent();
    await bot.sendMessage(roomId, { msgtype: "m.notice", body: reply.text });
    await this.media.sendAttachments(roomId, reply.attachments ?? []);
  }

  private async refuseOnce(roomId: string, userId: string): Promise<boolean> {
    if (!(await this.opts.store.bridgeState.setIfAbsent(refusedKey(userId), true))) return false;
    await this.intent().sendMessage(roomId, {
      msgtype: "m.notice",
      body: "Sorry, you are not permitted to use this Tox bridge. Ask its operator if you think you should be.",
    });
    return true;
  }

  private async onMembership(ev: Json, roomId: string, sender: string): Promise<void> {
    const target = typeof ev.state_key === "string" ? ev.state_key : "";
    const content = (ev.content ?? {}) as Json;
    const membership = content.membership;
    if (membership === "invite" && target === this.botId) return this.onBotInvited(roomId, sender);
    const friend = friendKeyOfGhost(this.opts.names, target);
    if (membership === "invite" && friend !== null)
      return this.onGhostInvited(roomId, sender, target, friend);
    if ((membership === "leave" || membership === "ban") && friend !== null && sender !== target) {
      // The ghost was kicked or banned: the room no longer reaches the friend, so forget it (the
      // next message from the friend opens a new DM instead of failing forever).
      const portal = await this.portals.inRoom(roomId);
      if (portal !== null && hexKey(portal.targetKey) === friend) await this.portals.delete(portal);
      return;
    }
    if ((membership === "leave" || membership === "ban") && !isBridgeUser(this.opts.names, target)) {
      const portal = await this.portals.inRoom(roomId);
      if (portal !== null && (await this.portals.ownerOf(portal.accountId)) === target) {
        // The owner left their DM: forget it; the next message either way makes a new one.
        await this.portals.delete(portal);
        await this.intent(ghostUserId(this.opts.names, hexKey(portal.targetKey)))
          .leave(roomId)
          .catch(() => {});
      }
      if ((await this.opts.store.bridgeState.get<string>(botRoomKey(roomId))) === target) {
        await this.opts.store.bridgeState.delete(botRoomKey(roomId));
        if ((await this.opts.store.bridgeState.get<string>(userBotRoomKey(target))) === roomId)
          await this.opts.store.bridgeState.delete(userBotRoomKey(target));
        await this.intent()
          .leave(roomId)
          .catch(() => {});
      }
      return;
    }
    if (membership === "join" && sender === target && !isBridgeUser(this.opts.names, target)) {
      // A profile change reaches us as a member event in each room the user is in: the portal
      // owner's new avatar becomes their Tox avatar (once, however many portals they have).
      const portal = await this.portals.inRoom(roomId);
      if (portal !== null && (await this.portals.ownerOf(portal.accountId)) === target)
        await this.avatars.syncUserAvatar(target, content.avatar_url);
    }
  }

  private async onBotInvited(roomId: string, sender: string): Promise<void> {
    const bot = this.intent();
    await bot.join(roomId);
    if (permissionFor(this.opts.permissions, sender) === null) {
      await this.refuseOnce(roomId, sender);
      await bot.leave(roomId);
      return;
    }
    await this.opts.store.bridgeState.set(botRoomKey(roomId), sender);
    await this.opts.store.bridgeState.set(userBotRoomKey(sender), roomId);
    const account = await this.opts.core.account({ kind: "matrix", id: sender });
    await bot.sendMessage(roomId, {
      msgtype: "m.notice",
      body:
        account === null
          ? "Hello! I bridge you to Tox. Send `create` to get your Tox identity, or `help` for all commands."
          : "Hello again! Send `help` for the commands.",
    });
  }

  private async onGhostInvited(
    roomId: string,
    sender: string,
    ghostId: string,
    friend: string,
  ): Promise<void> {
    const ghost = this.intent(ghostId);
    const refuse = async (why: string) => {
      await ghost.join(roomId).catch(() => {});
      await ghost.leave(roomId, why).catch(() => {});
    };
    const permission = permissionFor(this.opts.permissions, sender);
    const account = permission === null ? null : await this.opts.core.account({ kind: "matrix", id: sender });
    if (account === null) return refuse("You have no Tox account on this bridge.");
    const view = await this.opts.core.friend({ kind: "matrix", id: sender }, friend);
    if (view === null || view.state !== "accepted") return refuse("This Tox user is not your friend (yet).");
    await this.ensureGhost(ghostId, view);
    await ghost.join(roomId);
    const existing = await this.portals.forFriend(account.id, friend);
    if (existing !== null) await this.portals.delete(existing);
    await this.portals.create({
      accountId: account.id,
      kind: "friend",
      targetKey: fromHex(friend),
      remoteId: roomId,
    });
    await ghost
      .sendStateEvent(roomId, "m.bridge", bridgeStateKey(friend), this.bridgeInfo(friend, view))
      .catch(() => {});
  }

  private onPresence(edu: Json): void {
    const parsed = this.presence === undefined ? null : parsePresenceEdu(edu);
    if (parsed === null || isBridgeUser(this.opts.names, parsed.userId)) return;
    if (permissionFor(this.opts.permissions, parsed.userId) === null) return;
    this.presence?.onPresence(parsed.userId, parsed.wanted);
  }

  private async onEphemeral(edu: Json): Promise<void> {
    if (edu.type === "m.presence") return this.onPresence(edu);
    if (edu.type !== "m.typing") return;
    const roomId = typeof edu.room_id === "string" ? edu.room_id : "";
    const userIds = ((edu.content ?? {}) as Json).user_ids;
    if (roomId === "" || !Array.isArray(userIds)) return;
    const portal = await this.portals.inRoom(roomId);
    if (portal === null) return;
    const ownerId = await this.portals.ownerOf(portal.accountId);
    if (ownerId === null) return;
    const typing = userIds.includes(ownerId);
    if ((this.typing.get(roomId) ?? false) === typing) return;
    this.typing.set(roomId, typing);
    await this.opts.core.setTyping({ kind: "matrix", id: ownerId }, hexKey(portal.targetKey), typing);
  }

  // ---------------------------------------------------------------------------------------------
  // core -> Matrix (the Frontend interface)

  async deliverMessage(account: AccountRef, message: InboundMessage): Promise<void> {
    const roomId = await this.ensurePortal(account, message.friend);
    const ghost = this.intent(ghostUserId(this.opts.names, message.friend));
    // A transaction id derived from the inbox row: when we retry after a lost answer, the
    // homeserver recognises the retry and does not post the message twice.
    const txnId = `toxin.${account.id}.${message.id}`;
    await ghost.matrixClient.doRequest(
      "PUT",
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${encodeURIComponent(txnId)}`,
      null,
      toxToMatrixContent(message.kind, message.text),
    );
  }

  /** A complete file from a friend: posted in its portal (made if needed) by its ghost, once. */
  async deliverFile(account: AccountRef, file: InboundFile): Promise<void> {
    const roomId = await this.ensurePortal(account, file.friend);
    const ghostId = ghostUserId(this.opts.names, file.friend);
    // The ghost uploads the file: registered already unless this is the first thing after a restart.
    await this.registerGhost(ghostId);
    await this.media.deliverFile(account, file, roomId, ghostId);
  }

  async friendAvatar(account: AccountRef, friend: string, avatar: AvatarFile | null): Promise<void> {
    const ghostId = ghostUserId(this.opts.names, friend);
    await this.registerGhost(ghostId);
    await this.avatars.friendAvatar(ghostId, avatar);
    void account;
  }

  async friendUpdated(account: AccountRef, friend: FriendView): Promise<void> {
    if (friend.state !== "accepted") return;
    const ghostId = ghostUserId(this.opts.names, friend.publicKey);
    await this.ensureGhost(ghostId, friend);
    const presence = !friend.online ? "offline" : friend.status === "none" ? "online" : "unavailable";
    await this.intent(ghostId)
      .setPresence(presence, friend.statusMessage === "" ? undefined : friend.statusMessage)
      .catch((err: unknown) => this.opts.log.debug({ err, ghostId }, "Matrix: presence not set"));
    void account;
  }

  async friendTyping(account: AccountRef, friend: string, typing: boolean): Promise<void> {
    const portal = await this.portalOf(account, friend);
    if (portal === null) return;
    await this.intent(ghostUserId(this.opts.names, friend)).sendTyping(portal.remoteId, typing);
  }

  async friendRequest(account: AccountRef, request: { friend: string; message: string }): Promise<void> {
    const text =
      `Friend request from Tox user ${request.friend}:\n"${request.message.slice(0, 500)}"\n` +
      "Send `requests` to list requests, then `accept <number>` or `decline <number>`.";
    await this.botSay(account.owner.id, text);
  }

  async friendRemoved(account: AccountRef, friend: string): Promise<void> {
    const portal = await this.portalOf(account, friend);
    if (portal === null) return;
    await this.portals.delete(portal);
    await this.intent(ghostUserId(this.opts.names, friend))
      .leave(portal.remoteId)
      .catch(() => {});
  }

  /**
   * Returns without waiting for the homeserver: the core calls this inside the friend's outbox
   * lane, and a receipt's round trip would hold up that friend's next message. Receipts of one
   * room go out one at a time, in order, and coalesce: a read receipt means "read up to here",
   * so while one is in flight only the newest waiting one matters.
   */
  async readReceipt(account: AccountRef, friend: string, sourceEventId: string): Promise<void> {
    const portal = await this.portalOf(account, friend);
    if (portal === null) return;
    const roomId = portal.remoteId;
    const ghostId = ghostUserId(this.opts.names, friend);
    const slot = this.receipts.get(roomId);
    if (slot !== undefined) {
      slot.next = { ghostId, eventId: sourceEventId };
      return;
    }
    const state: ReceiptSlot = { next: { ghostId, eventId: sourceEventId } };
    this.receipts.set(roomId, state);
    void (async () => {
      while (state.next !== undefined) {
        const { ghostId: ghost, eventId } = state.next;
        state.next = undefined;
        await this.intent(ghost)
          .sendReadReceipt(roomId, eventId)
          .catch((err: unknown) =>
            this.opts.log.debug({ err, roomId, eventId }, "Matrix: read receipt not sent"),
          );
      }
      this.receipts.delete(roomId);
    })();
  }

  // Conferences (issue 8): see conferences.ts
  async conferenceUpdated(account: AccountRef, view: ConferenceView): Promise<void> {
    await this.conferences?.conferenceUpdated(account, view);
  }

  async deliverConferenceMessage(account: AccountRef, message: InboundConferenceMessage): Promise<void> {
    await this.conferences?.deliverConferenceMessage(account, message);
  }

  async conferenceRemoved(account: AccountRef, conference: string): Promise<void> {
    await this.conferences?.conferenceRemoved(account, conference);
  }

  /** Resolves when no read receipt is waiting or in flight (tests, shutdown). */
  async receiptsIdle(): Promise<void> {
    while (this.receipts.size > 0) await new Promise((r) => setTimeout(r, 5));
  }

  async notice(account: AccountRef, notice: Notice): Promise<void> {
    await this.botSay(account.owner.id, notice.text);
  }

  // ---------------------------------------------------------------------------------------------

  private intent(userId?: string): Intent {
    if (this.intentFor === undefined) throw new Error("Matrix frontend used before attach()");
    return this.intentFor(userId);
  }

  private async portalOf(account: AccountRef, friend: string): Promise<Portal | null> {
    return this.portals.forFriend(account.id, friend);
  }

  /** The friend's portal room, created by its ghost (inviting the user) when there is none. */
  private ensurePortal(account: AccountRef, friend: string): Promise<string> {
    const key = `${account.id}:${friend}`;
    let pending = this.creating.get(key);
    if (pending === undefined) {
      pending = this.createPortal(account, friend).finally(() => this.creating.delete(key));
      this.creating.set(key, pending);
    }
    return pending;
  }

  private async createPortal(account: AccountRef, friend: string): Promise<string> {
    const existing = await this.portalOf(account, friend);
    if (existing !== null) return existing.remoteId;
    const view = await this.opts.core.friend(account.owner, friend);
    const ghostId = ghostUserId(this.opts.names, friend);
    await this.ensureGhost(ghostId, view);
    const ghost = this.intent(ghostId);
    const info = this.bridgeInfo(friend, view);
    const { room_id: roomId } = await ghost.createRoom({
      createAsClient: true,
      options: {
        preset: "trusted_private_chat",
        is_direct: true,
        visibility: "private",
        invite: [account.owner.id],
        initial_state: [
          { type: "m.bridge", state_key: bridgeStateKey(friend), content: info },
          { type: "uk.half-shot.bridge", state_key: bridgeStateKey(friend), content: info },
        ],
      },
    });
    await this.portals.create({
      accountId: account.id,
      kind: "friend",
      targetKey: fromHex(friend),
      remoteId: roomId,
    });
    // The ghost's own m.direct, so the ghost's side of the DM is marked like the user's invite.
    await ghost.matrixClient
      .setAccountData("m.direct", { [account.owner.id]: [roomId] })
      .catch((err: unknown) => this.opts.log.debug({ err, ghostId }, "Matrix: ghost m.direct not set"));
    // And the user's, which only a login as the user can write (optional; see double-puppet.ts).
    await this.opts.doublePuppet?.markDirect(account.owner.id, ghostId, roomId);
    this.opts.log.info(
      { account: account.id, friend: friend.slice(0, 16), roomId },
      "Matrix: portal created",
    );
    return roomId;
  }

  private async registerGhost(ghostId: string): Promise<void> {
    if (this.registered.has(ghostId)) return;
    await this.intent(ghostId).ensureRegistered();
    this.registered.add(ghostId);
  }

  private async ensureGhost(ghostId: string, view: FriendView | null): Promise<void> {
    const ghost = this.intent(ghostId);
    await this.registerGhost(ghostId);
    const name = displayName(view, friendKeyOfGhost(this.opts.names, ghostId) ?? "");
    if (this.ghostNames.get(ghostId) === name) return;
    await ghost.setDisplayName(name);
    this.ghostNames.set(ghostId, name);
  }

  private bridgeInfo(friend: string, view: FriendView | null): Json {
    return {
      bridgebot: this.botId,
      protocol: { id: "tox", displayname: "Tox" },
      channel: { id: friend, displayname: displayName(view, friend) },
    };
  }

  /** A notice from the bot in the user's bot room, creating one when the user has none. */
  private async botSay(userId: string, text: string): Promise<void> {
    const roomId = await this.botRoomOf(userId);
    await this.intent().sendMessage(roomId, { msgtype: "m.notice", body: text });
  }

  private async botRoomOf(userId: string): Promise<string> {
    const known = await this.opts.store.bridgeState.get<string>(userBotRoomKey(userId));
    if (known !== null) return known;
    const { room_id: roomId } = await this.intent().createRoom({
      createAsClient: true,
      options: {
        preset: "trusted_private_chat",
        is_direct: true,
        visibility: "private",
        invite: [userId],
        name: "Tox bridge",
      },
    });
    await this.opts.store.bridgeState.set(botRoomKey(roomId), userId);
    await this.opts.store.bridgeState.set(userBotRoomKey(userId), roomId);
    return roomId;
  }
}

const IMPORT_WARNING =
  "Warning: this room with the bot is not end-to-end encrypted, so your homeserver keeps a copy of " +
  "every file sent here, and a plain .tox profile holds your Tox secret key. Prefer an encrypted " +
  "profile (set a password in your Tox client first); give its passphrase as the file's caption " +
  "(`import <passphrase>`) or in a message right after it. `export <passphrase>` gives it back encrypted.";

function isNewMedia(content: Json): boolean {
  const rel = content["m.relates_to"] as Json | undefined;
  return isMediaMsgtype(content.msgtype) && rel?.rel_type !== "m.replace";
}

function contentOf(ev: Json): Json {
  const c = ev.content;
  return typeof c === "object" && c !== null && !Array.isArray(c) ? (c as Json) : {};
}

/** The core's profile calls, when it has them (BridgeCore does; CoreApi test doubles may not). */
function presenceTargetOf(core: MatrixFrontendOptions["core"]): PresenceTarget | null {
  const c = core as Partial<PresenceTarget>;
  if (typeof c.profile !== "function" || typeof c.setProfile !== "function") return null;
  return {
    profile: (owner) => c.profile!(owner),
    setProfile: (owner, change) => c.setProfile!(owner, change),
  };
}

function hexKey(key: Uint8Array): string {
  return Buffer.from(key).toString("hex");
}

function bridgeStateKey(friend: string): string {
  return `toxbridge://tox/${friend}`;
}

function displayName(view: FriendView | null, friend: string): string {
  const name = view?.name.trim() ?? "";
  return name !== "" ? `${name} (Tox)` : `Tox ${friend.slice(0, 8)}`;
}
