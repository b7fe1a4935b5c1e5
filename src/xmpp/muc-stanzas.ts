/**
 * XEP-0045 (multi-user chat) stanzas for Tox conferences shown as rooms on the gateway: room JIDs,
 * occupant presence with status codes, subject and groupchat messages, invitations (mediated
 * XEP-0045 and direct XEP-0249), room disco, and reading what a user sends to a room. Pure.
 */
import { type Jid, parseJid } from "./jid.js";
import { NS } from "./namespaces.js";
import { child, type XmlElement, xml } from "./xml.js";

export const MUC_NS = {
  muc: "http://jabber.org/protocol/muc",
  user: "http://jabber.org/protocol/muc#user",
  owner: "http://jabber.org/protocol/muc#owner",
  roomInfo: "http://jabber.org/protocol/muc#roominfo",
  /** XEP-0045 §7.2.1: the service reflects a message with the id the sender gave it. */
  stableId: "http://jabber.org/protocol/muc#stable_id",
  /** XEP-0410: the service itself answers an occupant's ping to its own nick. */
  selfPing: "http://jabber.org/protocol/muc#self-ping-optimization",
  conference: "jabber:x:conference",
  occupantId: "urn:xmpp:occupant-id:0",
  delay: "urn:xmpp:delay",
  originId: "urn:xmpp:sid:0",
} as const;

/**
 * Room local parts are `conf-` + the 64-hex conference id. Contact JIDs are exactly 64 hex
 * characters, so the prefix (with its `-`) can never name a friend, and the id alone is enough to
 * find the conference again after a restart.
 */
const ROOM_PREFIX = "conf-";
const CONF_ID = /^[0-9a-f]{64}$/;

export function roomJid(conference: string, domain: string): string {
  return `${ROOM_PREFIX}${conference.toLowerCase()}@${domain}`;
}

/** Whether the JID's local part is in the room scheme (well-formed or not). */
export function isRoomLocal(local: string): boolean {
  return local.startsWith(ROOM_PREFIX);
}

/** The conference id (lower-case hex) a room JID names, or null (not a room, or a malformed id). */
export function conferenceOfJid(j: Jid, domain: string): string | null {
  if (j.domain !== domain.toLowerCase() || !isRoomLocal(j.local)) return null;
  const id = j.local.slice(ROOM_PREFIX.length);
  return CONF_ID.test(id) ? id : null;
}

export function occupantJid(room: string, nick: string): string {
  return `${room}/${nick}`;
}

// ---- presence ----

export type Affiliation = "owner" | "admin" | "member" | "none";
export type Role = "moderator" | "participant" | "visitor" | "none";

export interface OccupantItem {
  affiliation: Affiliation;
  role: Role;
  /** The occupant's real JID (the room is non-anonymous). */
  jid?: string;
  /** For a nick change (303): the new nick. */
  nick?: string;
}

export interface OccupantPresence {
  from: string;
  to: string;
  item: OccupantItem;
  unavailable?: boolean;
  codes?: number[];
  /** XEP-0421: stable per occupant, so clients can tell two people with the same name apart. */
  occupantId?: string;
  /** Shown name when it differs from the nick (a Tox name the nick had to be disambiguated from). */
  status?: string;
  /** XEP-0045 §10.9: the room was destroyed (the user left the conference for good). */
  destroyed?: { reason: string };
}

export function occupantPresence(p: OccupantPresence): XmlElement {
  const { item } = p;
  return xml(
    "presence",
    { from: p.from, to: p.to, type: p.unavailable ? "unavailable" : undefined },
    p.status !== undefined && xml("status", {}, p.status),
    xml(
      "x",
      { xmlns: MUC_NS.user },
      xml("item", { affiliation: item.affiliation, role: item.role, jid: item.jid, nick: item.nick }),
      p.destroyed && xml("destroy", {}, xml("reason", {}, p.destroyed.reason)),
      (p.codes ?? []).map((code) => xml("status", { code: String(code) })),
    ),
    p.occupantId !== undefined && xml("occupant-id", { xmlns: MUC_NS.occupantId, id: p.occupantId }),
  );
}

// ---- messages ----

export function subjectMessage(from: string, to: string, subject: string): XmlElement {
  return xml(
    "message",
    { type: "groupchat", from, to, id: `subject-${Date.now().toString(36)}` },
    xml("subject", {}, subject),
  );
}

export interface GroupchatMessage {
  from: string;
  to: string;
  id: string;
  /** The body as XMPP shows it (`/me ...` for actions). */
  body: string;
  occupantId?: string;
  /** XEP-0359 origin-id of the sender's stanza, reflected back so clients match their own copy. */
  originId?: string;
  /** XEP-0203: when the message reached the bridge (for a message delivered late). */
  delayedFrom?: { stamp: Date; by: string };
  /** XEP-0308: the reflected message corrects this earlier one (so the sender's clients replace it). */
  replaces?: string;
}

export function groupchatMessage(m: GroupchatMessage): XmlElement {
  return xml(
    "message",
    { type: "groupchat", from: m.from, to: m.to, id: m.id },
    xml("body", {}, m.body),
    m.originId !== undefined && xml("origin-id", { xmlns: MUC_NS.originId, id: m.originId }),
    m.replaces !== undefined && xml("replace", { xmlns: NS.correct, id: m.replaces }),
    m.occupantId !== undefined && xml("occupant-id", { xmlns: MUC_NS.occupantId, id: m.occupantId }),
    m.delayedFrom !== undefined &&
      xml("delay", { xmlns: MUC_NS.delay, stamp: m.delayedFrom.stamp.toISOString(), from: m.delayedFrom.by }),
  );
}

/**
 * An invitation to a room, as one message carrying both forms: the mediated XEP-0045 invite (from
 * the room) and the direct XEP-0249 one, plus a body for clients that know neither. One message,
 * not two, so clients that read both do not show the invitation twice.
 */
export function invitationMessage(opts: {
  room: string;
  to: string;
  inviter: string;
  reason: string;
  title: string;
}): XmlElement {
  return xml(
    "message",
    { from: opts.room, to: opts.to, id: `invite-${Date.now().toString(36)}` },
    xml("x", { xmlns: MUC_NS.user }, xml("invite", { from: opts.inviter }, xml("reason", {}, opts.reason))),
    xml("x", { xmlns: MUC_NS.conference, jid: opts.room, reason: opts.reason }),
    xml("body", {}, `${opts.reason}: xmpp:${opts.room}?join`),
    xml("store", { xmlns: NS.hints }),
  );
}

// ---- disco ----

export interface RoomInfo {
  title: string;
  occupants: number;
}

/** What every room supports: persistent, members-only, non-anonymous, hidden (listed to members only). */
export const ROOM_FEATURES = [
  MUC_NS.muc,
  "muc_persistent",
  "muc_membersonly",
  "muc_nonanonymous",
  "muc_hidden",
  "muc_unmoderated",
  "muc_unsecured",
  MUC_NS.stableId,
  MUC_NS.selfPing,
  MUC_NS.occupantId,
  NS.discoInfo,
  NS.ping,
];

export function roomInfo(info: RoomInfo): XmlElement {
  return xml(
    "query",
    { xmlns: NS.discoInfo },
    xml("identity", { category: "conference", type: "text", name: info.title || undefined }),
    [...ROOM_FEATURES].sort().map((f) => xml("feature", { var: f })),
    // XEP-0128 room info: every member may change the subject (any Tox member can set the title).
    xml(
      "x",
      { xmlns: NS.data, type: "result" },
      field("FORM_TYPE", MUC_NS.roomInfo, "hidden"),
      field("muc#roominfo_subject", info.title),
      field("muc#roominfo_changesubject", "1"),
      field("muc#roominfo_occupants", String(info.occupants)),
    ),
  );
}

function field(name: string, value: string, type?: string): XmlElement {
  return xml("field", { var: name, type }, xml("value", {}, value));
}

// ---- reading what users send ----

export interface MediatedInvite {
  to: Jid;
  reason: string;
}

/**
 * Mediated invitations in a message to the room (XEP-0045 §7.8.2). Null when the message has no
 * muc#user payload; `"malformed"` when it has one with an unusable invite.
 */
export function parseMediatedInvites(message: XmlElement): MediatedInvite[] | null | "malformed" {
  const x = child(message, "x", MUC_NS.user);
  if (x === undefined) return null;
  const invites = x.getChildren("invite");
  if (invites.length === 0) return "malformed";
  const out: MediatedInvite[] = [];
  for (const inv of invites) {
    const to = parseJid(inv.attrs.to);
    if (to === null) return "malformed";
    out.push({ to, reason: inv.getChildText("reason") ?? "" });
  }
  return out;
}

/** XEP-0249: the room a direct invitation (sent by the user to a contact) is for. */
export function directInviteRoom(message: XmlElement): Jid | null {
  const x = child(message, "x", MUC_NS.conference);
  return x === undefined ? null : parseJid(x.attrs.jid);
}

/** End-to-end encryption a gateway cannot read: OMEMO (legacy and :2), OpenPGP (XEP-0373/0027). */
const ENCRYPTED = [
  ["encrypted", "eu.siacs.conversations.axolotl"],
  ["encrypted", "urn:xmpp:omemo:2"],
  ["openpgp", "urn:xmpp:openpgp:0"],
  ["x", "jabber:x:encrypted"],
] as const;

/**
 * Whether a message is end-to-end encrypted. Its body is then only a fallback ("I sent you an
 * OMEMO encrypted message...") that must not reach Tox as if the user had written it.
 */
export function isEncrypted(message: XmlElement): boolean {
  return ENCRYPTED.some(([name, ns]) => child(message, name, ns) !== undefined);
}

export function originIdOf(message: XmlElement): string | undefined {
  return child(message, "origin-id", MUC_NS.originId)?.attrs.id;
}

/** `<iq><query xmlns=muc#owner><destroy/></query></iq>`: the owner destroys the room. */
export function isDestroyRequest(payload: XmlElement): boolean {
  return (
    payload.name === "query" &&
    payload.attrs.xmlns === MUC_NS.owner &&
    payload.getChild("destroy") !== undefined
  );
}
