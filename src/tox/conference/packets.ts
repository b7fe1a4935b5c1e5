/**
 * Conference (old group chat, c-toxcore 0.2.18 group.c) packets. All of them travel inside
 * net_crypto sessions: 96 through the Messenger (friends only), 97-100 as lossless and 199 as
 * lossy packets on any friend_connection, including the non-friend "group" connections.
 *
 * `groupNumber` is always the conference number of the *receiver* of the packet (each side
 * tells the other its own number in the invite/online packets), u16 big-endian on the wire.
 *
 * Lengths are checked the way group.c checks them: fixed-size packets must be exact (invite,
 * online, new peer, kill/freeze peer), rejoin and message packets only have a minimum.
 */
import { ByteReader, ByteWriter } from "../bytes.js";
import { type ParseResult, tryParse, WireError } from "../errors.js";

export const PACKET_ID_INVITE_CONFERENCE = 96;
export const PACKET_ID_ONLINE_PACKET = 97;
export const PACKET_ID_DIRECT_CONFERENCE = 98;
export const PACKET_ID_MESSAGE_CONFERENCE = 99;
export const PACKET_ID_REJOIN_CONFERENCE = 100;
export const PACKET_ID_LOSSY_CONFERENCE = 199;

/** Sub-ids of 96. */
const INVITE_ID = 0;
const INVITE_ACCEPT_ID = 1;
const INVITE_MEMBER_ID = 2;
/** Sub-ids of 98. */
const PEER_INTRODUCED_ID = 1;
const PEER_QUERY_ID = 8;
const PEER_RESPONSE_ID = 9;
const PEER_TITLE_ID = 10;
/** Message ids inside 99. */
export const GROUP_MESSAGE_PING_ID = 0;
export const GROUP_MESSAGE_NEW_PEER_ID = 16;
export const GROUP_MESSAGE_KILL_PEER_ID = 17;
export const GROUP_MESSAGE_FREEZE_PEER_ID = 18;
export const GROUP_MESSAGE_NAME_ID = 48;
export const GROUP_MESSAGE_TITLE_ID = 49;
export const GROUP_MESSAGE_MESSAGE_ID = 64;
export const GROUP_MESSAGE_ACTION_ID = 65;

export const CONFERENCE_ID_SIZE = 32;
/** `GROUPCHAT_TYPE_TEXT` / `GROUPCHAT_TYPE_AV`. */
export const CONFERENCE_TYPE_TEXT = 0;
export const CONFERENCE_TYPE_AV = 1;
/** Names and titles: `MAX_NAME_LENGTH`. */
export const MAX_CONFERENCE_NAME_LENGTH = 128;
/** `MAX_CRYPTO_DATA_SIZE` (1373) minus id, gnum, peer number, message number and message id. */
export const MAX_GROUP_MESSAGE_DATA_LEN = 1373 - (1 + 2 + 2 + 4 + 1);
/** Peer entries in one PEER_RESPONSE must fit `MAX_CRYPTO_DATA_SIZE - (1 + 2)` together with the sub-id. */
export const MAX_PEER_RESPONSE_BODY = 1373 - 3 - 1;

const PK = 32;
const PEER_ENTRY_FIXED = 2 + PK + PK + 1;

export interface ConferenceRef {
  /** 0 text, 1 AV (other values are carried, c-toxcore compares them byte for byte). */
  confType: number;
  id: Uint8Array;
}

export interface PeerEntry {
  peerNumber: number;
  realPk: Uint8Array;
  tempPk: Uint8Array;
  nick: Uint8Array;
}

/** What a conference message (99) carries after its header. */
export type GroupMessageBody =
  | { kind: "ping" }
  | { kind: "newPeer"; peerNumber: number; realPk: Uint8Array; tempPk: Uint8Array }
  | { kind: "killPeer"; peerNumber: number }
  | { kind: "freezePeer"; peerNumber: number }
  | { kind: "name"; name: Uint8Array }
  | { kind: "title"; title: Uint8Array }
  | { kind: "message"; text: Uint8Array }
  | { kind: "action"; text: Uint8Array }
  /** An id this version does not know, or a known id with a wrong length (group.c drops both). */
  | { kind: "other"; messageId: number; data: Uint8Array };

export type ConferencePacket =
  /** `96 | 0 | inviter gnum | type | id`: the 35 bytes after the sub-id are the join cookie. */
  | ({ type: "invite"; groupNumber: number } & ConferenceRef)
  /** `96 | 1 | joiner gnum | inviter gnum | type | id`. */
  | ({ type: "inviteAccept"; joinerGroupNumber: number; groupNumber: number } & ConferenceRef)
  /** `96 | 2 | ... | peer number`: the invitee is already a member (with that peer number). */
  | ({
      type: "inviteMember";
      joinerGroupNumber: number;
      groupNumber: number;
      peerNumber: number;
    } & ConferenceRef)
  /** `97 | sender gnum | type | id`. */
  | ({ type: "online"; groupNumber: number } & ConferenceRef)
  /** `100 | type | id`. */
  | ({ type: "rejoin" } & ConferenceRef)
  | { type: "peerIntroduced"; groupNumber: number }
  | { type: "peerQuery"; groupNumber: number }
  | { type: "peerResponse"; groupNumber: number; peers: PeerEntry[] }
  | { type: "directTitle"; groupNumber: number; title: Uint8Array }
  | { type: "directOther"; groupNumber: number; subId: number; data: Uint8Array }
  | {
      type: "message";
      groupNumber: number;
      peerNumber: number;
      messageNumber: number;
      body: GroupMessageBody;
    }
  | {
      type: "lossy";
      groupNumber: number;
      peerNumber: number;
      lossyNumber: number;
      lossyType: number;
      data: Uint8Array;
    };

export function isConferencePacketId(id: number | undefined): boolean {
  return (
    id === PACKET_ID_INVITE_CONFERENCE ||
    id === PACKET_ID_ONLINE_PACKET ||
    id === PACKET_ID_DIRECT_CONFERENCE ||
    id === PACKET_ID_MESSAGE_CONFERENCE ||
    id === PACKET_ID_REJOIN_CONFERENCE ||
    id === PACKET_ID_LOSSY_CONFERENCE
  );
}

function readRef(r: ByteReader): ConferenceRef {
  const confType = r.u8("conference type");
  const id = r.bytesN(CONFERENCE_ID_SIZE, "conference id");
  return { confType, id };
}

function exact(packet: Uint8Array, size: number, what: string): void {
  if (packet.length !== size)
    throw new WireError(`${what}: ${packet.length} bytes, expected ${size}`, { what, length: packet.length });
}

/** Parses a conference packet (id byte first). */
export function parseConferencePacket(packet: Uint8Array): ParseResult<ConferencePacket> {
  return tryParse(() => {
    const r = new ByteReader(packet, "conference packet");
    const id = r.u8("packet id");
    switch (id) {
      case PACKET_ID_INVITE_CONFERENCE:
        return parseInvite(packet, r);
      case PACKET_ID_ONLINE_PACKET: {
        exact(packet, 1 + 2 + 1 + CONFERENCE_ID_SIZE, "conference online");
        const groupNumber = r.u16be("group number");
        return { type: "online", groupNumber, ...readRef(r) };
      }
      case PACKET_ID_REJOIN_CONFERENCE:
        // handle_packet_rejoin only checks a minimum length.
        return { type: "rejoin", ...readRef(r) };
      case PACKET_ID_DIRECT_CONFERENCE:
        return parseDirect(r);
      case PACKET_ID_MESSAGE_CONFERENCE: {
        const groupNumber = r.u16be("group number");
        const peerNumber = r.u16be("peer number");
        const messageNumber = r.u32be("message number");
        const messageId = r.u8("message id");
        const body = parseMessageBody(messageId, r.rest());
        return { type: "message", groupNumber, peerNumber, messageNumber, body };
      }
      case PACKET_ID_LOSSY_CONFERENCE: {
        const groupNumber = r.u16be("group number");
        const peerNumber = r.u16be("peer number");
        const lossyNumber = r.u16be("lossy number");
        const lossyType = r.u8("lossy type");
        return { type: "lossy", groupNumber, peerNumber, lossyNumber, lossyType, data: r.rest() };
      }
      default:
        throw new WireError("not a conference packet", { what: "conference packet", id });
    }
  });
}

function parseInvite(packet: Uint8Array, r: ByteReader): ConferencePacket {
  const sub = r.u8("invite sub-id");
  switch (sub) {
    case INVITE_ID: {
      exact(packet, 1 + 1 + 2 + 1 + CONFERENCE_ID_SIZE, "conference invite");
      const groupNumber = r.u16be("inviter group number");
      return { type: "invite", groupNumber, ...readRef(r) };
    }
    case INVITE_ACCEPT_ID: {
      exact(packet, 1 + 1 + 4 + 1 + CONFERENCE_ID_SIZE, "conference invite accept");
      const joinerGroupNumber = r.u16be("joiner group number");
      const groupNumber = r.u16be("inviter group number");
      return { type: "inviteAccept", joinerGroupNumber, groupNumber, ...readRef(r) };
    }
    case INVITE_MEMBER_ID: {
      exact(packet, 1 + 1 + 4 + 1 + CONFERENCE_ID_SIZE + 2, "conference invite member");
      const joinerGroupNumber = r.u16be("joiner group number");
      const groupNumber = r.u16be("inviter group number");
      const ref = readRef(r);
      const peerNumber = r.u16be("peer number");
      return { type: "inviteMember", joinerGroupNumber, groupNumber, peerNumber, ...ref };
    }
    default:
      throw new WireError("unknown conference invite sub-id", { what: "conference invite", id: sub });
  }
}

function parseDirect(r: ByteReader): ConferencePacket {
  const groupNumber = r.u16be("group number");
  const subId = r.u8("direct sub-id");
  switch (subId) {
    case PEER_INTRODUCED_ID:
      return { type: "peerIntroduced", groupNumber };
    case PEER_QUERY_ID:
      return { type: "peerQuery", groupNumber };
    case PEER_RESPONSE_ID: {
      const peers: PeerEntry[] = [];
      // handle_send_peers: entries while a fixed part fits; a nick running past the end is an error.
      while (r.remaining >= PEER_ENTRY_FIXED) {
        const peerNumber = r.u16be("peer number");
        const realPk = r.bytesN(PK, "peer real pk");
        const tempPk = r.bytesN(PK, "peer temp pk");
        const nickLen = r.u8("nick length");
        if (nickLen > MAX_CONFERENCE_NAME_LENGTH)
          throw new WireError("peer nick over 128 bytes", { what: "peer response", length: nickLen });
        const nick = r.bytesN(nickLen, "peer nick");
        peers.push({ peerNumber, realPk, tempPk, nick });
      }
      return { type: "peerResponse", groupNumber, peers };
    }
    case PEER_TITLE_ID:
      return { type: "directTitle", groupNumber, title: r.rest() };
    default:
      return { type: "directOther", groupNumber, subId, data: r.rest() };
  }
}

function parseMessageBody(messageId: number, data: Uint8Array): GroupMessageBody {
  const other = (): GroupMessageBody => ({ kind: "other", messageId, data });
  switch (messageId) {
    case GROUP_MESSAGE_PING_ID:
      return data.length === 0 ? { kind: "ping" } : other();
    case GROUP_MESSAGE_NEW_PEER_ID: {
      if (data.length !== 2 + PK + PK) return other();
      const r = new ByteReader(data, "new peer");
      return { kind: "newPeer", peerNumber: r.u16be(), realPk: r.bytesN(PK), tempPk: r.bytesN(PK) };
    }
    case GROUP_MESSAGE_KILL_PEER_ID:
    case GROUP_MESSAGE_FREEZE_PEER_ID: {
      if (data.length !== 2) return other();
      const peerNumber = ((data[0]! << 8) | data[1]!) >>> 0;
      return { kind: messageId === GROUP_MESSAGE_KILL_PEER_ID ? "killPeer" : "freezePeer", peerNumber };
    }
    case GROUP_MESSAGE_NAME_ID:
      return data.length <= MAX_CONFERENCE_NAME_LENGTH ? { kind: "name", name: data } : other();
    case GROUP_MESSAGE_TITLE_ID:
      return data.length >= 1 && data.length <= MAX_CONFERENCE_NAME_LENGTH
        ? { kind: "title", title: data }
        : other();
    case GROUP_MESSAGE_MESSAGE_ID:
      return data.length > 0 ? { kind: "message", text: data } : other();
    case GROUP_MESSAGE_ACTION_ID:
      return data.length > 0 ? { kind: "action", text: data } : other();
    default:
      return other();
  }
}

function writeRef(w: ByteWriter, ref: ConferenceRef): void {
  if (ref.id.length !== CONFERENCE_ID_SIZE) throw new RangeError("conference id is 32 bytes");
  w.u8(ref.confType).bytes(ref.id);
}

/** The message id and payload of a message body. */
export function serializeMessageBody(body: GroupMessageBody): { messageId: number; data: Uint8Array } {
  switch (body.kind) {
    case "ping":
      return { messageId: GROUP_MESSAGE_PING_ID, data: new Uint8Array(0) };
    case "newPeer":
      return {
        messageId: GROUP_MESSAGE_NEW_PEER_ID,
        data: new ByteWriter(66).u16be(body.peerNumber).bytes(body.realPk).bytes(body.tempPk).finish(),
      };
    case "killPeer":
    case "freezePeer":
      return {
        messageId: body.kind === "killPeer" ? GROUP_MESSAGE_KILL_PEER_ID : GROUP_MESSAGE_FREEZE_PEER_ID,
        data: new ByteWriter(2).u16be(body.peerNumber).finish(),
      };
    case "name":
      return { messageId: GROUP_MESSAGE_NAME_ID, data: body.name };
    case "title":
      return { messageId: GROUP_MESSAGE_TITLE_ID, data: body.title };
    case "message":
      return { messageId: GROUP_MESSAGE_MESSAGE_ID, data: body.text };
    case "action":
      return { messageId: GROUP_MESSAGE_ACTION_ID, data: body.text };
    case "other":
      return { messageId: body.messageId, data: body.data };
  }
}

export function serializeConferencePacket(p: ConferencePacket): Uint8Array {
  const w = new ByteWriter(64);
  switch (p.type) {
    case "invite":
      w.u8(PACKET_ID_INVITE_CONFERENCE).u8(INVITE_ID).u16be(p.groupNumber);
      writeRef(w, p);
      break;
    case "inviteAccept":
      w.u8(PACKET_ID_INVITE_CONFERENCE).u8(INVITE_ACCEPT_ID).u16be(p.joinerGroupNumber).u16be(p.groupNumber);
      writeRef(w, p);
      break;
    case "inviteMember":
      w.u8(PACKET_ID_INVITE_CONFERENCE).u8(INVITE_MEMBER_ID).u16be(p.joinerGroupNumber).u16be(p.groupNumber);
      writeRef(w, p);
      w.u16be(p.peerNumber);
      break;
    case "online":
      w.u8(PACKET_ID_ONLINE_PACKET).u16be(p.groupNumber);
      writeRef(w, p);
      break;
    case "rejoin":
      w.u8(PACKET_ID_REJOIN_CONFERENCE);
      writeRef(w, p);
      break;
    case "peerIntroduced":
      w.u8(PACKET_ID_DIRECT_CONFERENCE).u16be(p.groupNumber).u8(PEER_INTRODUCED_ID);
      break;
    case "peerQuery":
      w.u8(PACKET_ID_DIRECT_CONFERENCE).u16be(p.groupNumber).u8(PEER_QUERY_ID);
      break;
    case "peerResponse":
      w.u8(PACKET_ID_DIRECT_CONFERENCE).u16be(p.groupNumber).u8(PEER_RESPONSE_ID);
      for (const e of p.peers) {
        if (e.nick.length > MAX_CONFERENCE_NAME_LENGTH) throw new RangeError("nick over 128 bytes");
        w.u16be(e.peerNumber).bytes(e.realPk).bytes(e.tempPk).u8(e.nick.length).bytes(e.nick);
      }
      break;
    case "directTitle":
      w.u8(PACKET_ID_DIRECT_CONFERENCE).u16be(p.groupNumber).u8(PEER_TITLE_ID).bytes(p.title);
      break;
    case "directOther":
      w.u8(PACKET_ID_DIRECT_CONFERENCE).u16be(p.groupNumber).u8(p.subId).bytes(p.data);
      break;
    case "message": {
      const { messageId, data } = serializeMessageBody(p.body);
      w.u8(PACKET_ID_MESSAGE_CONFERENCE).u16be(p.groupNumber).u16be(p.peerNumber).u32be(p.messageNumber);
      w.u8(messageId).bytes(data);
      break;
    }
    case "lossy":
      w.u8(PACKET_ID_LOSSY_CONFERENCE).u16be(p.groupNumber).u16be(p.peerNumber).u16be(p.lossyNumber);
      w.u8(p.lossyType).bytes(p.data);
      break;
  }
  return w.finish();
}

/**
 * Splits a peer list into PEER_RESPONSE bodies that each fit one net_crypto packet (`send_peers`
 * starts a new packet when the next entry would not fit).
 */
export function chunkPeerEntries(peers: readonly PeerEntry[]): PeerEntry[][] {
  const out: PeerEntry[][] = [];
  let cur: PeerEntry[] = [];
  let size = 0;
  for (const e of peers) {
    const len = PEER_ENTRY_FIXED + e.nick.length;
    if (size + len > MAX_PEER_RESPONSE_BODY && cur.length > 0) {
      out.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(e);
    size += len;
  }
  out.push(cur);
  return out;
}
