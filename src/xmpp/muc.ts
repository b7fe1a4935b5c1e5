/**
 * Tox conferences as XEP-0045 rooms on the gateway domain (`conf-<id hex>@gateway`), the way
 * biboumi and slidge serve legacy group chats from one component:
 *
 * - joining (presence to room/nick) needs the user's account to be in the conference; the user
 *   gets the occupants (Tox peers), their own presence (110, 100) and the subject (the title);
 * - groupchat messages go to the conference from the user's own Tox identity and are reflected to
 *   all their joined sessions with the same id; Tox messages come from room/<peer nick>;
 * - a subject change sets the conference title; a mediated invite invites a friend (or another
 *   bridged user) into the conference;
 * - an unavailable presence only ends that session: clients leave rooms whenever they disconnect,
 *   so leaving the Tox conference takes an explicit "destroy" (XEP-0045 §10.9) by the user.
 *
 * Joined sessions live in memory; after a gateway restart clients rejoin by themselves (their
 * XEP-0410 self-ping gets not-acceptable, or the 332 shutdown presence told them). A conference
 * message for a user with no joined session is refused, so the core keeps it in its inbox and
 * retries: it is delivered, with its original time, once the user joins.
 */

import { permissionFor } from "../config/permissions.js";
import type {
  AccountRef,
  ConferenceUpdateReason,
  ConferenceView,
  CoreApi,
  CoreConferencesApi,
  InboundConferenceMessage,
  Owner,
  PermissionLevel,
} from "../core/frontend.js";
import { failureReply, StanzaError } from "./errors.js";
import type { StanzaSink } from "./frontend.js";
import { bareJid, formatJid, type Jid, parseJid, publicKeyOfJid } from "./jid.js";
import { MAX_BODY_LENGTH, parseMessage, toxTextOf } from "./message.js";
import { baseNick, cleanNick } from "./muc-nicks.js";
import { MucRoom } from "./muc-room.js";
import {
  conferenceOfJid,
  directInviteRoom,
  groupchatMessage,
  invitationMessage,
  isDestroyRequest,
  isEncrypted,
  isRoomLocal,
  MUC_NS,
  occupantJid,
  originIdOf,
  parseMediatedInvites,
  roomInfo,
  roomJid,
  subjectMessage,
} from "./muc-stanzas.js";
import { NS } from "./namespaces.js";
import { parsePresence } from "./presence.js";
import type { XmppLogger } from "./router.js";
import { type XmlElement, xml } from "./xml.js";

export type ConferenceCore = CoreApi & CoreConferencesApi;

/** The core with its conference half, or null when this core has none (then no rooms are served). */
export function conferenceCore(core: CoreApi): ConferenceCore | null {
  const c = core as Partial<CoreConferencesApi>;
  return typeof c.conferences === "function" &&
    typeof c.sendConference === "function" &&
    typeof c.leaveConference === "function"
    ? (core as ConferenceCore)
    : null;
}

export type { ConferenceUpdateReason };

export interface MucOptions {
  domain: string;
  core: ConferenceCore;
  sink: StanzaSink;
  permissions: () => Readonly<Record<string, PermissionLevel>>;
  log?: XmppLogger;
}

/**
 * A message older than this when it reaches the user carries its original time (XEP-0203): the
 * ones the core kept while the user was out of the room arrive after the join, and clients sort
 * them by that stamp. A stamp on a merely slow live message is harmless (it is exact).
 */
const LATE_MS = 1_000;
/** Tox's MAX_NAME_LENGTH-sized limit on a conference title (group.c), in UTF-8 bytes. */
const MAX_TITLE_BYTES = 128;

interface RoomStanza {
  stanza: XmlElement;
  from: Jid;
  fromFull: string;
  owner: Owner;
  conference: string;
  nick: string;
}

export class MucService {
  readonly domain: string;
  private readonly core: ConferenceCore;
  private readonly log: XmppLogger;
  /** By `${account id} ${conference id}`. */
  private readonly rooms = new Map<string, MucRoom>();
  /** Rooms an invitation was sent for (or that the user joined) since start. */
  private readonly announced = new Set<string>();
  /**
   * Invitations for a join ("joined") that could not be sent (the component was not connected,
   * e.g. a conference joined while the gateway started): sent on the next connection.
   */
  private readonly unsentInvitations = new Map<string, AccountRef>();

  constructor(private readonly opts: MucOptions) {
    this.domain = opts.domain.toLowerCase();
    this.core = opts.core;
    this.log = opts.log ?? { debug() {}, info() {}, warn() {}, error() {} };
  }

  /** Whether a stanza is addressed to a room (or an occupant) of this service. */
  isRoomStanza(stanza: XmlElement): boolean {
    const to = parseJid(stanza.attrs.to);
    return to !== null && to.domain === this.domain && isRoomLocal(to.local);
  }

  // ---------------------------------------------------------------- stanzas from users

  /** The replies to one stanza addressed to a room; never rejects (errors become error replies). */
  async handle(stanza: XmlElement): Promise<XmlElement[]> {
    try {
      const s = this.classify(stanza);
      if (s === null) return [];
      switch (stanza.name) {
        case "presence":
          return await this.onPresence(s);
        case "message":
          return await this.onMessage(s);
        case "iq":
          return await this.onIq(s);
        default:
          return [];
      }
    } catch (err) {
      const reply = failureReply(stanza, err, this.log, "xmpp muc");
      if (reply !== null && stanza.name === "presence") reply.append(xml("x", { xmlns: MUC_NS.muc }));
      return reply ? [reply] : [];
    }
  }

  private classify(stanza: XmlElement): RoomStanza | null {
    if (stanza.name !== "iq" && stanza.name !== "message" && stanza.name !== "presence") return null;
    const from = parseJid(stanza.attrs.from);
    if (from === null || from.local === "") return null; // servers have no business with rooms
    const to = parseJid(stanza.attrs.to);
    if (to === null) return null;
    if (stanza.attrs.type === "error") {
      // Our stanza to a session bounced: that client is gone (XEP-0045 §7.2: remove the occupant).
      const conference = conferenceOfJid(to, this.domain);
      if (conference !== null) this.dropSession(formatJid(from), conference);
      return null;
    }
    const conference = conferenceOfJid(to, this.domain);
    if (conference === null) throw new StanzaError("item-not-found", "no such room");
    const owner: Owner = { kind: "xmpp", id: bareJid(from) };
    if (permissionFor(this.opts.permissions(), owner.id) === null)
      throw new StanzaError("forbidden", "this gateway is not open to your account");
    return { stanza, from, fromFull: formatJid(from), owner, conference, nick: to.resource };
  }

  /** The user's room, from the cache or the core; throws the MUC error for a non-member. */
  private async room(s: { owner: Owner; conference: string }): Promise<MucRoom> {
    const account = await this.core.account(s.owner);
    if (account === null)
      throw new StanzaError(
        "registration-required",
        "register with the gateway first (you have no Tox account)",
      );
    const key = roomKey(account.id, s.conference);
    const cached = this.rooms.get(key);
    if (cached !== undefined) return cached;
    const view = (await this.core.conferences(s.owner)).find((c) => c.id === s.conference);
    if (view === undefined) {
      const known = [...this.rooms.values()].some((r) => r.view.id === s.conference);
      if (known) throw new StanzaError("registration-required", "you are not a member of this conference");
      throw new StanzaError("item-not-found", "no such conference (or you are not in it)");
    }
    // A concurrent update may have created it meanwhile.
    const again = this.rooms.get(key);
    if (again !== undefined) return again;
    const room = new MucRoom(account, view, this.domain);
    this.rooms.set(key, room);
    return room;
  }

  private joinedRoom(room: MucRoom, s: RoomStanza): void {
    if (!room.sessions.has(s.fromFull))
      throw new StanzaError("not-acceptable", "you are not in this room; join it first");
  }

  // ---- presence

  private async onPresence(s: RoomStanza): Promise<XmlElement[]> {
    const p = parsePresence(s.stanza);
    if (p === null) throw new StanzaError("bad-request", "malformed presence");
    if (p.type === "unavailable") {
      // A client leaving (often just disconnecting): the session ends, the conference stays.
      const account = await this.core.account(s.owner);
      const room = account && this.rooms.get(roomKey(account.id, s.conference));
      const bye = room?.leave(s.fromFull) ?? null;
      return bye ? [bye] : [];
    }
    if (p.type !== "available") return [];
    const nick = cleanNick(s.nick);
    if (s.nick === "" || nick !== s.nick)
      throw new StanzaError("jid-malformed", "a room nickname is required");
    const room = await this.room(s);
    if (!room.sessions.has(s.fromFull)) return this.join(room, s, nick);
    if (nick === room.userNick) return []; // a presence update: nothing to bridge
    if (!room.nickFree(nick))
      throw new StanzaError("conflict", "a Tox peer in this conference has that nick");
    return room.renameUser(nick);
  }

  private join(room: MucRoom, s: RoomStanza, nick: string): XmlElement[] {
    // Other sessions of the same user are already in under a nick: this one shares it (210).
    let assigned = false;
    if (room.userNick !== null && room.userNick !== nick) assigned = true;
    else if (!room.nickFree(nick))
      throw new StanzaError("conflict", "a Tox peer in this conference has that nick");
    else room.userNick = nick;
    this.announced.add(roomKey(room.account.id, room.view.id));
    this.unsentInvitations.delete(roomKey(room.account.id, room.view.id));
    this.log.debug({ owner: s.owner.id, conference: room.view.id, session: s.fromFull }, "xmpp muc: joined");
    const out = room.join(s.fromFull, assigned);
    // After the join stanzas are out (the router sends them first): what the core kept while
    // the user was out comes now, not at its next retry (up to minutes away).
    const core = this.core;
    if (typeof core.redeliverConference === "function")
      setImmediate(() => {
        core.redeliverConference?.(s.owner, room.view.id).catch((err: unknown) => {
          this.log.debug({ owner: s.owner.id, err: String(err) }, "xmpp muc: redelivery not started");
        });
      });
    return out;
  }

  // ---- message

  private async onMessage(s: RoomStanza): Promise<XmlElement[]> {
    const m = parseMessage(s.stanza);
    if (m === null) throw new StanzaError("bad-request", "unknown message type");
    const invites = parseMediatedInvites(s.stanza);
    if (invites === "malformed") throw new StanzaError("bad-request", "malformed invitation");
    if (invites !== null) {
      const room = await this.room(s);
      for (const inv of invites) await this.invite(s.owner, room, inv.to);
      return [];
    }
    if (s.nick !== "") {
      const pk = (await this.room(s)).peerByNick(s.nick);
      const hint = pk ? `: write to ${pk}@${this.domain} instead` : "";
      throw new StanzaError("not-acceptable", `private messages in Tox conferences are not bridged${hint}`);
    }
    if (m.type !== "groupchat") return [];
    const room = await this.room(s);
    this.joinedRoom(room, s);
    if (isEncrypted(s.stanza))
      // Conversations turns OMEMO on by itself in members-only, non-anonymous rooms.
      throw new StanzaError(
        "not-acceptable",
        "encrypted messages cannot be bridged to Tox: turn off OMEMO/OpenPGP for this group chat",
      );
    const subject = s.stanza.getChild("subject");
    if (subject !== undefined && m.body === undefined) return this.setSubject(s, room, subject.getText());
    if (m.body !== undefined && m.body.length > MAX_BODY_LENGTH)
      throw new StanzaError("policy-violation", `message longer than ${MAX_BODY_LENGTH} characters`);
    const text = toxTextOf(m);
    if (text === null || m.body === undefined) return []; // chat states: Tox conferences have no typing
    const originId = originIdOf(s.stanza);
    const sent = await this.core.sendConference({
      owner: s.owner,
      conference: room.view.id,
      text: text.text,
      kind: text.kind,
      sourceEventId: originId ?? m.id,
    });
    this.log.debug(
      { owner: s.owner.id, conference: room.view.id, id: m.id, created: sent.created },
      "xmpp muc: queued",
    );
    // MUC reflects every message to its sender's sessions with the id it came with; the
    // conference itself does not echo our own messages back.
    const id = m.id ?? originId ?? `muc-${Date.now().toString(36)}`;
    return [...room.sessions].map((to) =>
      groupchatMessage({
        from: occupantJid(room.jid, room.userNick ?? ""),
        to,
        id,
        body: m.body ?? "",
        originId,
        replaces: m.replaces,
        occupantId: room.occupantId(room.account.publicKey),
      }),
    );
  }

  private async setSubject(s: RoomStanza, room: MucRoom, subject: string): Promise<XmlElement[]> {
    const title = subject.replace(/[\r\n]+/g, " ").trim();
    if (Buffer.byteLength(title, "utf8") > MAX_TITLE_BYTES)
      throw new StanzaError("not-acceptable", `a Tox conference title has at most ${MAX_TITLE_BYTES} bytes`);
    await this.core.setConferenceTitle(s.owner, room.view.id, title);
    if (room.view.title === title) return [];
    // Tox does not tell us about our own title change: show it now; the core's update that may
    // follow then changes nothing.
    room.view = { ...room.view, title };
    return [...room.sessions].map((to) =>
      subjectMessage(occupantJid(room.jid, room.userNick ?? ""), to, title),
    );
  }

  private async invite(owner: Owner, room: MucRoom, to: Jid): Promise<void> {
    const friend = publicKeyOfJid(to, this.domain);
    if (friend !== null) {
      await this.core.inviteToConference(owner, room.view.id, friend);
      return;
    }
    if (to.local === "" || to.domain === this.domain)
      throw new StanzaError(
        "item-not-found",
        "invite a Tox contact (<public key>@gateway) or a user of this bridge",
      );
    // Another XMPP user of this bridge joins with their own Tox identity.
    await this.core.inviteToConference(owner, room.view.id, { kind: "xmpp", id: bareJid(to) });
  }

  /**
   * A XEP-0249 direct invitation the user sent to a contact JID (`friend`): invites that friend
   * into the conference. False when the message is not an invitation to one of our rooms.
   */
  async directInvite(owner: Owner, friend: string, message: XmlElement): Promise<boolean> {
    const target = directInviteRoom(message);
    if (target === null) return false;
    const conference = conferenceOfJid(target, this.domain);
    if (conference === null)
      throw new StanzaError("item-not-found", "that room is not a Tox conference of this gateway");
    const room = await this.room({ owner, conference });
    await this.core.inviteToConference(owner, room.view.id, friend);
    return true;
  }

  // ---- iq

  private async onIq(s: RoomStanza): Promise<XmlElement[]> {
    const type = s.stanza.attrs.type;
    if (type === "result") return [];
    if (type !== "get" && type !== "set") throw new StanzaError("bad-request", "iq type must be get or set");
    if (s.stanza.attrs.id === undefined) throw new StanzaError("bad-request", "iq without id");
    const children = s.stanza.getChildElements();
    const payload = children[0];
    if (payload === undefined || children.length !== 1)
      throw new StanzaError("bad-request", "iq needs one payload");
    const room = await this.room(s);
    const result = (child?: XmlElement) =>
      xml(
        "iq",
        { type: "result", id: s.stanza.attrs.id, from: s.stanza.attrs.to, to: s.stanza.attrs.from },
        child,
      );
    const key = `${type} ${payload.attrs.xmlns ?? ""} ${payload.name}`;
    if (s.nick !== "") {
      // To an occupant. XEP-0410 self-ping: answered here; not-acceptable tells a client that
      // lost its session (e.g. across a gateway restart) to join again.
      if (!room.sessions.has(s.fromFull)) throw new StanzaError("not-acceptable", "you are not in this room");
      if (s.nick !== room.userNick && room.peerByNick(s.nick) === undefined)
        throw new StanzaError("item-not-found", "no such occupant");
      if (key === `get ${NS.ping} ping`) return [result()];
      throw new StanzaError("service-unavailable"); // Tox peers answer no XMPP queries
    }
    switch (key) {
      case `get ${NS.discoInfo} query`:
        if (payload.attrs.node !== undefined) throw new StanzaError("item-not-found", "no such node");
        return [result(roomInfo({ title: room.view.title, occupants: room.view.peers.length }))];
      case `get ${NS.discoItems} query`:
        return [result(xml("query", { xmlns: NS.discoItems }))];
      case `get ${NS.ping} ping`:
        return [result()];
      case `set ${MUC_NS.owner} query`:
        if (!isDestroyRequest(payload))
          throw new StanzaError("feature-not-implemented", "rooms have no configuration");
        return [...(await this.leaveConference(s.owner, room)), result()];
      case `get ${MUC_NS.owner} query`:
        throw new StanzaError("feature-not-implemented", "rooms have no configuration");
      default:
        throw new StanzaError("service-unavailable");
    }
  }

  /** The user leaves the Tox conference for good: tell every session the room is gone. */
  private async leaveConference(owner: Owner, room: MucRoom): Promise<XmlElement[]> {
    await this.core.leaveConference(owner, room.view.id);
    const key = roomKey(room.account.id, room.view.id);
    if (this.rooms.get(key) !== room) return []; // conferenceRemoved already tore it down
    this.rooms.delete(key);
    this.announced.delete(key);
    this.unsentInvitations.delete(key);
    return room.destroy("You left the Tox conference.");
  }

  private dropSession(fullJid: string, conference: string): void {
    for (const room of this.rooms.values()) {
      if (room.view.id === conference && room.sessions.has(fullJid)) {
        room.drop(fullJid);
        this.log.debug({ session: fullJid, conference: room.view.id }, "xmpp muc: session gone (bounce)");
      }
    }
  }

  // ---------------------------------------------------------------- for the gateway

  /** disco#items of the gateway: the asker's conferences (hidden rooms are listed to members only). */
  async roomItems(
    owner: Owner,
    permission: PermissionLevel | null,
  ): Promise<{ jid: string; name?: string }[]> {
    if (permission === null || (await this.core.account(owner)) === null) return [];
    const views = await this.core.conferences(owner);
    return views.map((v) => ({ jid: roomJid(v.id, this.domain), name: v.title || undefined }));
  }

  /** The gateway is going away: joined sessions get 332 so clients know to rejoin later. */
  async goodbye(): Promise<void> {
    const out = [...this.rooms.values()].flatMap((r) => r.shutdown());
    for (const s of out) await this.opts.sink.send(s);
  }

  /**
   * The component is (re)connected. After a drop the server may have restarted and its clients
   * with it, and a message to a session that is gone would bounce after the server had already
   * confirmed it (lost for that user). So every session ends: clients still there get 332 and
   * rejoin, and until they do the core keeps the conference's messages.
   */
  async reconnected(): Promise<void> {
    const out = [...this.rooms.values()].flatMap((r) => r.shutdown());
    for (const s of out) await this.opts.sink.send(s).catch(() => undefined);
    for (const [key, account] of [...this.unsentInvitations]) {
      const room = this.rooms.get(key);
      if (room === undefined) {
        this.unsentInvitations.delete(key); // left meanwhile
        continue;
      }
      if (await this.sendInvitation(account, room.view)) this.unsentInvitations.delete(key);
    }
  }

  // ---------------------------------------------------------------- from the core

  /**
   * The user is invited to the room when the core says the account just joined the conference
   * (`reason` "joined"; once per room since start). A core that gives no reason: a conference seen
   * for the first time since start gets the invitation; the ones the core announces at startup
   * normally get none, because that happens before the component is connected and an invitation
   * that cannot be sent is not retried (the room is in the gateway's disco#items and the
   * `conferences` command).
   */
  async conferenceUpdated(
    account: AccountRef,
    view: ConferenceView,
    reason?: ConferenceUpdateReason,
  ): Promise<void> {
    if (account.owner.kind !== "xmpp") return;
    const key = roomKey(account.id, view.id);
    const room = this.rooms.get(key);
    if (room !== undefined) for (const s of room.update(view)) await this.opts.sink.send(s);
    else this.rooms.set(key, new MucRoom(account, view, this.domain));
    // With a reason, an earlier "changed" (Tox may report the conference before the join is
    // complete) does not cost the invitation.
    const invite = reason === undefined ? room === undefined : reason === "joined";
    if (!invite || this.announced.has(key)) return;
    this.announced.add(key);
    const sent = await this.sendInvitation(account, view);
    if (!sent && reason === "joined") this.unsentInvitations.set(key, account);
  }

  private async sendInvitation(account: AccountRef, view: ConferenceView): Promise<boolean> {
    const title = view.title.trim();
    const invitation = invitationMessage({
      room: roomJid(view.id, this.domain),
      to: account.owner.id,
      inviter: this.domain,
      reason: title ? `You are in the Tox conference "${title}"` : "You are in a Tox conference",
      title,
    });
    return this.opts.sink.send(invitation).then(
      () => true,
      (err: unknown) => {
        this.log.debug(
          { owner: account.owner.id, conference: view.id, err: String(err) },
          "xmpp muc: invitation not sent (not connected)",
        );
        return false;
      },
    );
  }

  async deliverConferenceMessage(account: AccountRef, message: InboundConferenceMessage): Promise<void> {
    const room = this.rooms.get(roomKey(account.id, message.conference));
    const sessions = room ? [...room.sessions] : [];
    if (room === undefined || sessions.length === 0) {
      // Refused on purpose: the core keeps it and retries, so it reaches the user once they join.
      throw new Error("no joined MUC session: kept until the user joins the room");
    }
    if (message.peer === account.publicKey) return; // our own message, already reflected
    const nick = room.nicks.get(message.peer) ?? baseNick(message.peerName, message.peer);
    const late = Date.now() - message.receivedAt.getTime() > LATE_MS;
    const stanzas = sessions.map((to) =>
      groupchatMessage({
        from: occupantJid(room.jid, nick),
        to,
        id: `tox-conf-in-${message.id}`,
        body: message.kind === "action" ? `/me ${message.text}` : message.text,
        occupantId: room.occupantId(message.peer),
        delayedFrom: late ? { stamp: message.receivedAt, by: room.jid } : undefined,
      }),
    );
    const last = stanzas.pop();
    for (const s of stanzas) await this.opts.sink.send(s);
    // Confirmed by the server before the core forgets the message.
    if (last !== undefined) await this.opts.sink.sendConfirmed(last);
  }

  async conferenceRemoved(account: AccountRef, conference: string): Promise<void> {
    const key = roomKey(account.id, conference);
    const room = this.rooms.get(key);
    this.rooms.delete(key);
    this.announced.delete(key);
    this.unsentInvitations.delete(key);
    if (room === undefined) return;
    for (const s of room.destroy("You are no longer in this Tox conference.")) await this.opts.sink.send(s);
  }
}

function roomKey(accountId: number, conference: string): string {
  return `${accountId} ${conference}`;
}
