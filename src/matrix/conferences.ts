/**
 * Tox conferences as Matrix rooms (issue 8). One room per conference id, shared by every Matrix
 * user of this bridge who is in the conference (each with their own Tox identity: their lines go
 * to Tox from their own identity, never through a relay bot).
 *
 * - The bot creates the room when the first account is in the conference and invites each
 *   bridged Matrix member; the mapping (conference id <-> room id) is kept in bridge_state, so a
 *   restarted bridge reuses the room.
 * - Every other Tox peer is a ghost `@_tox_<pk>` whose room-member displayname is its peer name;
 *   bridged Matrix users are themselves, never ghosts. Ghosts join and leave with the peers.
 * - Title <-> m.room.name; Tox messages/actions -> m.text/m.emote from the ghost.
 * - A user leaving the room leaves the conference; inviting a Tox ghost or another Matrix user
 *   into the room invites them into the conference.
 *
 * Several bridged accounts see the same Tox message (each identity receives it): the room shows
 * it once, from the "reader", the bridged Matrix member whose user id sorts first. The reader's
 * view of the conference also drives ghosts and the room name, so two views never fight.
 */
import type { Intent } from "matrix-appservice-bridge";
import { type PermissionLevel, permissionFor } from "../config/permissions.js";
import { CoreError } from "../core/errors.js";
import type {
  AccountRef,
  ConferenceView,
  CoreApi,
  CoreConferencesApi,
  InboundConferenceMessage,
  Owner,
} from "../core/frontend.js";
import type { Logger } from "../logger.js";
import type { Store } from "../store/index.js";
import { matrixEventToTox, toxToMatrixContent } from "./convert.js";
import { botUserId, friendKeyOfGhost, ghostUserId, isBridgeUser, type MatrixNames } from "./ids.js";

type Json = Record<string, unknown>;
export type ConferenceCore = CoreApi & CoreConferencesApi;

/** The core's conference half, when this core has one. */
export function conferenceCoreOf(core: CoreApi): ConferenceCore | null {
  const c = core as Partial<CoreConferencesApi>;
  return typeof c.conferences === "function" &&
    typeof c.sendConference === "function" &&
    typeof c.leaveConference === "function"
    ? (core as ConferenceCore)
    : null;
}

export interface MatrixConferencesOptions {
  core: ConferenceCore;
  store: Store;
  names: MatrixNames;
  permissions: Readonly<Record<string, PermissionLevel>>;
  degradeRich: boolean;
  log: Logger;
  intent: (userId?: string) => Intent;
  /** A notice from the bot in the user's bot room. */
  botSay: (userId: string, text: string) => Promise<void>;
}

/** Room state the bridge keeps up to date from the events pushed to it. */
interface RoomCache {
  members: Map<string, { membership: string; displayname?: string }>;
  name: string | undefined;
}

const roomKey = (conference: string) => `matrix.conference.room:${conference}`;
const conferenceKey = (roomId: string) => `matrix.conference.of:${roomId}`;
/** Events users send in a conference room that may carry something for Tox. */
const BRIDGED_TYPES = new Set(["m.room.message", "m.reaction", "m.room.redaction"]);

export class MatrixConferences {
  private readonly botId: string;
  /** Room id -> conference id (null: not a conference room). */
  private readonly conferenceOfRoom = new Map<string, string | null>();
  private readonly roomOfConference = new Map<string, string>();
  /** The latest view of each Matrix account in the conference, by conference then account id. */
  private readonly views = new Map<string, Map<number, { account: AccountRef; view: ConferenceView }>>();
  private readonly rooms = new Map<string, RoomCache>();
  /** Work on one conference's room runs in order (room creation, membership, deliveries). */
  private readonly chains = new Map<string, Promise<unknown>>();
  /** Refusals already explained to a user in this run (user, action, reason). */
  private readonly told = new Set<string>();

  constructor(private readonly opts: MatrixConferencesOptions) {
    this.botId = botUserId(opts.names);
  }

  // -------------------------------------------------------------------------------------------
  // core -> Matrix

  conferenceUpdated(account: AccountRef, view: ConferenceView): Promise<void> {
    if (account.owner.kind !== "matrix") return Promise.resolve();
    this.remember(account, view);
    return this.serial(view.id, () => this.sync(account, view));
  }

  deliverConferenceMessage(account: AccountRef, message: InboundConferenceMessage): Promise<void> {
    // A Matrix user of this bridge: their own event is already in the room.
    if (message.bridgedOwner?.kind === "matrix") return Promise.resolve();
    return this.serial(message.conference, async () => {
      const view = await this.viewOf(account, message.conference);
      if (view === undefined) return; // left meanwhile
      if (this.reader(message.conference)?.id !== account.id) return; // another member posts it
      const roomId = await this.ensureRoom(account, view);
      await this.ensureGhost(roomId, message.peer, message.peerName);
      // The transaction id comes from the inbox row: a retry after a lost answer is not posted twice.
      const txnId = `toxconf.${account.id}.${message.id}`;
      await this.opts
        .intent(ghostUserId(this.opts.names, message.peer))
        .matrixClient.doRequest(
          "PUT",
          `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${encodeURIComponent(txnId)}`,
          null,
          toxToMatrixContent(message.kind, message.text),
        );
    });
  }

  conferenceRemoved(account: AccountRef, conference: string): Promise<void> {
    if (account.owner.kind !== "matrix") return Promise.resolve();
    this.views.get(conference)?.delete(account.id);
    return this.serial(conference, async () => {
      const roomId = await this.roomOf(conference);
      if (roomId === null) return;
      const room = await this.roomCache(roomId);
      const userId = account.owner.id;
      const membership = room.members.get(userId)?.membership;
      if (membership === "join" || membership === "invite") {
        await this.bot()
          .kick(roomId, userId, "You left the Tox conference.")
          .catch((err: unknown) =>
            this.opts.log.debug({ err, roomId }, "Matrix: conference member not removed"),
          );
        room.members.set(userId, { membership: "leave" });
      }
      if ((this.views.get(conference)?.size ?? 0) > 0) return;
      // Nobody of this bridge is left in the conference: the room is done.
      for (const [member, m] of room.members)
        if (m.membership === "join" && friendKeyOfGhost(this.opts.names, member) !== null)
          await this.opts
            .intent(member)
            .leave(roomId)
            .catch(() => {});
      await this.bot()
        .leave(roomId)
        .catch(() => {});
      await this.opts.store.bridgeState.delete(roomKey(conference));
      await this.opts.store.bridgeState.delete(conferenceKey(roomId));
      this.roomOfConference.delete(conference);
      this.conferenceOfRoom.set(roomId, null);
      this.rooms.delete(roomId);
      this.views.delete(conference);
      this.opts.log.info({ roomId, conference: conference.slice(0, 16) }, "Matrix: conference room closed");
    });
  }

  // -------------------------------------------------------------------------------------------
  // Matrix -> core

  /** The conference a room stands for, or null. */
  async conferenceIn(roomId: string): Promise<string | null> {
    const known = this.conferenceOfRoom.get(roomId);
    if (known !== undefined) return known;
    const stored = await this.opts.store.bridgeState.get<string>(conferenceKey(roomId));
    this.conferenceOfRoom.set(roomId, stored);
    if (stored !== null) this.roomOfConference.set(stored, roomId);
    return stored;
  }

  /**
   * One event of a conference room. Rejects (the transaction is retried) only when a message
   * could not be persisted; the user's own mistakes get a notice from the bot instead.
   */
  async onRoomEvent(conference: string, ev: Json): Promise<void> {
    const type = typeof ev.type === "string" ? ev.type : "";
    const roomId = typeof ev.room_id === "string" ? ev.room_id : "";
    const sender = typeof ev.sender === "string" ? ev.sender : "";
    const eventId = typeof ev.event_id === "string" ? ev.event_id : "";
    const content = (ev.content ?? {}) as Json;
    const stateKey = typeof ev.state_key === "string" ? ev.state_key : undefined;
    this.observe(roomId, type, stateKey, content);
    if (isBridgeUser(this.opts.names, sender)) return; // our own doing
    if (permissionFor(this.opts.permissions, sender) === null) return;
    const owner: Owner = { kind: "matrix", id: sender };
    if (type === "m.room.member" && stateKey !== undefined)
      return this.onMembership(conference, roomId, owner, stateKey, content.membership);
    if (type === "m.room.name" && stateKey === "") {
      const name = typeof content.name === "string" ? content.name.trim() : "";
      if (name === "") return;
      await this.quietly(owner, "The conference title was not changed", () =>
        this.opts.core.setConferenceTitle(owner, conference, name),
      );
      return;
    }
    if (!BRIDGED_TYPES.has(type)) return;
    const converted = matrixEventToTox(type, ev.content, { degradeRich: this.opts.degradeRich });
    if (converted === null) return;
    await this.quietly(owner, "Your message was not sent to the Tox conference", () =>
      this.opts.core.sendConference({
        owner,
        conference,
        text: converted.text,
        kind: converted.kind,
        sourceEventId: eventId,
      }),
    );
  }

  private async onMembership(
    conference: string,
    roomId: string,
    sender: Owner,
    target: string,
    membership: unknown,
  ): Promise<void> {
    if ((membership === "leave" || membership === "ban") && !isBridgeUser(this.opts.names, target)) {
      // The user left (or was removed from) the room: their identity leaves the conference.
      const owner: Owner = { kind: "matrix", id: target };
      if ((await this.opts.core.account(owner)) === null) return;
      await this.opts.core.leaveConference(owner, conference).catch((err: unknown) => {
        if (!(err instanceof CoreError)) throw err; // not in it (any more): nothing to do
      });
      return;
    }
    if (membership !== "invite" || target === sender.id || target === this.botId) return;
    const ghostKey = friendKeyOfGhost(this.opts.names, target);
    if (ghostKey === null && isBridgeUser(this.opts.names, target)) return;
    const invitee: string | Owner = ghostKey ?? { kind: "matrix", id: target };
    try {
      await this.opts.core.inviteToConference(sender, conference, invitee);
      this.opts.log.info({ roomId, target }, "Matrix: invited into the Tox conference");
    } catch (err) {
      if (!(err instanceof CoreError)) throw err;
      if (err.code === "no-account" && ghostKey === null && (await this.opts.core.account(sender)) !== null) {
        // The invitee has no Tox identity here: tell them how to get one.
        await this.opts
          .botSay(
            target,
            `${sender.id} invited you to a Tox conference. To take part, send \`create\` here to get ` +
              "your Tox identity, then ask them to invite you again.",
          )
          .catch((e: unknown) =>
            this.opts.log.warn({ err: e, target }, "Matrix: could not tell the invitee"),
          );
        return;
      }
      await this.opts
        .botSay(sender.id, `Could not invite ${target} to the Tox conference: ${err.message}`)
        .catch(() => {});
    }
  }

  /** Runs a user action; a CoreError becomes a bot notice to the user, other errors propagate. */
  private async quietly(owner: Owner, what: string, action: () => Promise<unknown>): Promise<void> {
    try {
      await action();
    } catch (err) {
      if (!(err instanceof CoreError)) throw err;
      this.opts.log.info({ code: err.code, user: owner.id }, "Matrix: conference action refused by the core");
      // Someone without an account (or not in the conference) chatting in the room: tell them
      // once, not at every line.
      const key = `${owner.id}\u0000${what}\u0000${err.code}`;
      if (this.told.has(key)) return;
      if (this.told.size > 10_000) this.told.clear();
      this.told.add(key);
      await this.opts
        .botSay(owner.id, `${what}: ${err.message}`)
        .catch((e: unknown) => this.opts.log.warn({ err: e }, "Matrix: could not tell the user"));
    }
  }

  // -------------------------------------------------------------------------------------------

  private remember(account: AccountRef, view: ConferenceView): void {
    let byAccount = this.views.get(view.id);
    if (byAccount === undefined) {
      byAccount = new Map();
      this.views.set(view.id, byAccount);
    }
    byAccount.set(account.id, { account, view });
  }

  /** The bridged Matrix member that posts Tox messages and drives ghosts and the room name. */
  private reader(conference: string): AccountRef | undefined {
    let best: AccountRef | undefined;
    for (const { account } of this.views.get(conference)?.values() ?? [])
      if (best === undefined || account.owner.id < best.owner.id) best = account;
    return best;
  }

  private async viewOf(account: AccountRef, conference: string): Promise<ConferenceView | undefined> {
    const known = this.views.get(conference)?.get(account.id)?.view;
    if (known !== undefined) return known;
    const view = (await this.opts.core.conferences(account.owner)).find((v) => v.id === conference);
    if (view !== undefined) this.remember(account, view);
    return view;
  }

  private async sync(account: AccountRef, view: ConferenceView): Promise<void> {
    // Right after accepting an invite we are not in the peer list yet (and have no title): the
    // room waits for the join to complete, so a failed join leaves no empty room behind.
    if (!view.peers.some((p) => p.self) && (await this.roomOf(view.id)) === null) return;
    const roomId = await this.ensureRoom(account, view);
    const room = await this.roomCache(roomId);
    const userId = account.owner.id;
    const membership = room.members.get(userId)?.membership;
    if (membership !== "join" && membership !== "invite") {
      await this.bot().invite(roomId, userId);
      room.members.set(userId, { membership: "invite" });
    }
    if (this.reader(view.id)?.id !== account.id) return;
    const wanted = new Map<string, string>();
    for (const p of view.peers)
      if (!p.self && p.bridgedOwner?.kind !== "matrix") wanted.set(p.publicKey.toLowerCase(), p.name);
    for (const [pk, name] of wanted) await this.ensureGhost(roomId, pk, name);
    // Silent members (and everyone right after a restart, until they answer) keep their ghosts:
    // a ghost leaves only when its peer left the conference.
    for (const p of view.away ?? []) wanted.set(p.publicKey.toLowerCase(), p.name);
    for (const [member, m] of [...room.members]) {
      const pk = friendKeyOfGhost(this.opts.names, member);
      if (pk === null || m.membership !== "join" || wanted.has(pk)) continue;
      await this.opts
        .intent(member)
        .leave(roomId)
        .catch((err: unknown) => this.opts.log.debug({ err, roomId }, "Matrix: ghost did not leave"));
      room.members.set(member, { membership: "leave" });
    }
    const title = view.title.trim();
    if (title !== "" && room.name !== title) {
      await this.bot().setRoomName(roomId, title);
      room.name = title;
    }
  }

  /** The ghost of a Tox peer joined to the room, with the peer's name as its room displayname. */
  private async ensureGhost(roomId: string, publicKey: string, peerName: string): Promise<void> {
    const room = await this.roomCache(roomId);
    const ghostId = ghostUserId(this.opts.names, publicKey);
    const displayname = peerName.trim() !== "" ? peerName.trim() : `Tox ${publicKey.slice(0, 8)}`;
    const current = room.members.get(ghostId);
    const ghost = this.opts.intent(ghostId);
    if (current?.membership !== "join") {
      await ghost.ensureRegistered();
      if (current?.membership !== "invite") await this.bot().invite(roomId, ghostId);
      await ghost.matrixClient.joinRoom(roomId);
    } else if (current.displayname === displayname) return;
    await ghost.matrixClient.sendStateEvent(roomId, "m.room.member", ghostId, {
      membership: "join",
      displayname,
    });
    room.members.set(ghostId, { membership: "join", displayname });
  }

  private async roomOf(conference: string): Promise<string | null> {
    const known = this.roomOfConference.get(conference);
    if (known !== undefined) return known;
    const stored = await this.opts.store.bridgeState.get<string>(roomKey(conference));
    if (stored !== null) {
      this.roomOfConference.set(conference, stored);
      this.conferenceOfRoom.set(stored, conference);
    }
    return stored;
  }

  /** The conference's room, made by the bot (inviting this account's user) when there is none. */
  private async ensureRoom(account: AccountRef, view: ConferenceView): Promise<string> {
    const existing = await this.roomOf(view.id);
    if (existing !== null) return existing;
    const title = view.title.trim();
    const info = {
      bridgebot: this.botId,
      protocol: { id: "tox", displayname: "Tox" },
      channel: { id: view.id, displayname: title !== "" ? title : `Tox conference ${view.id.slice(0, 8)}` },
    };
    const stateKey = `toxbridge://tox/conference/${view.id}`;
    const { room_id: roomId } = await this.bot().createRoom({
      createAsClient: true,
      options: {
        preset: "private_chat",
        visibility: "private",
        invite: [account.owner.id],
        ...(title !== "" ? { name: title } : {}),
        initial_state: [
          { type: "m.bridge", state_key: stateKey, content: info },
          { type: "uk.half-shot.bridge", state_key: stateKey, content: info },
        ],
        // Anyone may rename the room, as anyone in a Tox conference may change its title.
        power_level_content_override: {
          users: { [this.botId]: 100 },
          events: {
            "m.room.name": 0,
            "m.room.power_levels": 100,
            "m.room.history_visibility": 100,
            "m.room.canonical_alias": 50,
            "m.room.avatar": 50,
            "m.room.tombstone": 100,
            "m.room.server_acl": 100,
            "m.room.encryption": 100,
          },
        },
      },
    });
    await this.opts.store.bridgeState.set(roomKey(view.id), roomId);
    await this.opts.store.bridgeState.set(conferenceKey(roomId), view.id);
    this.roomOfConference.set(view.id, roomId);
    this.conferenceOfRoom.set(roomId, view.id);
    this.rooms.set(roomId, {
      members: new Map([
        [this.botId, { membership: "join" }],
        [account.owner.id, { membership: "invite" }],
      ]),
      name: title !== "" ? title : undefined,
    });
    this.opts.log.info(
      { account: account.id, conference: view.id.slice(0, 16), roomId },
      "Matrix: conference room created",
    );
    return roomId;
  }

  /** Members and name of a room, read once from the homeserver, then kept from pushed events. */
  private async roomCache(roomId: string): Promise<RoomCache> {
    const known = this.rooms.get(roomId);
    if (known !== undefined) return known;
    const room: RoomCache = { members: new Map(), name: undefined };
    const bot = this.bot().matrixClient;
    const members = (await bot.doRequest(
      "GET",
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/members`,
    )) as { chunk?: Json[] };
    for (const ev of members.chunk ?? []) {
      const content = (ev.content ?? {}) as Json;
      if (typeof ev.state_key === "string" && typeof content.membership === "string")
        room.members.set(ev.state_key, {
          membership: content.membership,
          ...(typeof content.displayname === "string" ? { displayname: content.displayname } : {}),
        });
    }
    const name = (await bot.getRoomStateEvent(roomId, "m.room.name", "").catch(() => null)) as Json | null;
    if (typeof name?.name === "string") room.name = name.name;
    this.rooms.set(roomId, room);
    return room;
  }

  /** Keeps the room cache current from a pushed event (ours included). */
  private observe(roomId: string, type: string, stateKey: string | undefined, content: Json): void {
    const room = this.rooms.get(roomId);
    if (room === undefined || stateKey === undefined) return;
    if (type === "m.room.member" && typeof content.membership === "string")
      room.members.set(stateKey, {
        membership: content.membership,
        ...(typeof content.displayname === "string" ? { displayname: content.displayname } : {}),
      });
    if (type === "m.room.name" && stateKey === "")
      room.name = typeof content.name === "string" ? content.name : undefined;
  }

  private bot(): Intent {
    return this.opts.intent();
  }

  /** Runs `job` after every earlier job of the conference; its own result or error. */
  private serial<T>(conference: string, job: () => Promise<T>): Promise<T> {
    const previous = this.chains.get(conference) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(job);
    this.chains.set(conference, next);
    void next
      .catch(() => undefined)
      .then(() => {
        if (this.chains.get(conference) === next) this.chains.delete(conference);
      });
    return next;
  }
}
