/**
 * Messenger packets: the payloads Messenger.c exchanges inside a net_crypto session (lossless
 * ids, first byte = packet id). Pure parse/serialize; the parse rules (which lengths are
 * accepted) follow `m_handle_packet` in c-toxcore 0.2.18 so we accept and reject exactly what
 * c-toxcore does. Texts stay raw bytes here: decoding is the Messenger's job.
 */
import { type ParseResult, tryParse, WireError } from "../errors.js";

// Messenger.h / net_crypto.h 0.2.18.
export const PACKET_ID_ONLINE = 24;
export const PACKET_ID_OFFLINE = 25;
export const PACKET_ID_NICKNAME = 48;
export const PACKET_ID_STATUSMESSAGE = 49;
export const PACKET_ID_USERSTATUS = 50;
export const PACKET_ID_TYPING = 51;
export const PACKET_ID_MESSAGE = 64;
/** `PACKET_ID_MESSAGE + MESSAGE_ACTION`. */
export const PACKET_ID_ACTION = 65;
export const PACKET_ID_MSI = 69;
export const PACKET_ID_FILE_SENDREQUEST = 80;
export const PACKET_ID_FILE_CONTROL = 81;
export const PACKET_ID_FILE_DATA = 82;
export const PACKET_ID_INVITE_CONFERENCE = 96;
export const PACKET_ID_ONLINE_PACKET = 97;
export const PACKET_ID_DIRECT_CONFERENCE = 98;
export const PACKET_ID_MESSAGE_CONFERENCE = 99;
export const PACKET_ID_REJOIN_CONFERENCE = 100;
export const PACKET_ID_LOSSY_CONFERENCE = 199;

/** `MAX_NAME_LENGTH` / `TOX_MAX_NAME_LENGTH`. */
export const MAX_NAME_LENGTH = 128;
/** `MAX_STATUSMESSAGE_LENGTH` / `TOX_MAX_STATUS_MESSAGE_LENGTH`. */
export const MAX_STATUSMESSAGE_LENGTH = 1007;
/** `TOX_MAX_MESSAGE_LENGTH`: `MAX_CRYPTO_DATA_SIZE` (1373) minus the packet id byte. */
export const MAX_MESSAGE_LENGTH = 1372;

export type UserStatus = "none" | "away" | "busy";
export const USER_STATUS_CODES: readonly UserStatus[] = ["none", "away", "busy"];

export type MessageKind = "normal" | "action";

export type MessengerPacket =
  | { type: "online" }
  | { type: "offline" }
  | { type: "nickname"; name: Uint8Array }
  | { type: "statusMessage"; message: Uint8Array }
  | { type: "userStatus"; status: UserStatus }
  | { type: "typing"; typing: boolean }
  | { type: "message"; kind: MessageKind; text: Uint8Array }
  /** Any other lossless id (files, conferences, custom packets): handled by other modules. */
  | { type: "other"; id: number; data: Uint8Array };

const what = "messenger packet";

/**
 * Parses one lossless payload. Packets c-toxcore would ignore (wrong length, unknown user
 * status, empty message) are WireErrors; ids this module does not own come back as "other".
 */
export function parseMessengerPacket(packet: Uint8Array): ParseResult<MessengerPacket> {
  return tryParse(() => {
    if (packet.length === 0) throw new WireError("empty packet", { what });
    const id = packet[0]!;
    const body = packet.subarray(1);
    const fail = (why: string): never => {
      throw new WireError(why, { what, id, length: body.length });
    };
    switch (id) {
      case PACKET_ID_ONLINE:
        if (body.length !== 0) fail("ONLINE carries no data");
        return { type: "online" };
      case PACKET_ID_OFFLINE:
        if (body.length !== 0) fail("OFFLINE carries no data");
        return { type: "offline" };
      case PACKET_ID_NICKNAME:
        if (body.length > MAX_NAME_LENGTH) fail("name too long");
        return { type: "nickname", name: Uint8Array.from(body) };
      case PACKET_ID_STATUSMESSAGE:
        if (body.length > MAX_STATUSMESSAGE_LENGTH) fail("status message too long");
        return { type: "statusMessage", message: Uint8Array.from(body) };
      case PACKET_ID_USERSTATUS: {
        if (body.length !== 1) fail("USERSTATUS is one byte");
        const status = USER_STATUS_CODES[body[0]!];
        if (status === undefined) return fail("unknown user status");
        return { type: "userStatus", status };
      }
      case PACKET_ID_TYPING:
        if (body.length !== 1) fail("TYPING is one byte");
        return { type: "typing", typing: body[0] !== 0 };
      case PACKET_ID_MESSAGE:
      case PACKET_ID_ACTION:
        if (body.length === 0) fail("empty message");
        if (body.length > MAX_MESSAGE_LENGTH) fail("message too long");
        return {
          type: "message",
          kind: id === PACKET_ID_ACTION ? "action" : "normal",
          text: Uint8Array.from(body),
        };
      default:
        return { type: "other", id, data: Uint8Array.from(body) };
    }
  });
}

function withId(id: number, body: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(1 + body.length);
  out[0] = id;
  out.set(body, 1);
  return out;
}

/** Serializes a packet; throws RangeError for values c-toxcore would never send. */
export function serializeMessengerPacket(p: MessengerPacket): Uint8Array {
  switch (p.type) {
    case "online":
      return withId(PACKET_ID_ONLINE);
    case "offline":
      return withId(PACKET_ID_OFFLINE);
    case "nickname":
      if (p.name.length > MAX_NAME_LENGTH) throw new RangeError(`name over ${MAX_NAME_LENGTH} bytes`);
      return withId(PACKET_ID_NICKNAME, p.name);
    case "statusMessage":
      if (p.message.length > MAX_STATUSMESSAGE_LENGTH)
        throw new RangeError(`status message over ${MAX_STATUSMESSAGE_LENGTH} bytes`);
      return withId(PACKET_ID_STATUSMESSAGE, p.message);
    case "userStatus":
      return withId(PACKET_ID_USERSTATUS, Uint8Array.of(USER_STATUS_CODES.indexOf(p.status)));
    case "typing":
      return withId(PACKET_ID_TYPING, Uint8Array.of(p.typing ? 1 : 0));
    case "message":
      if (p.text.length === 0 || p.text.length > MAX_MESSAGE_LENGTH)
        throw new RangeError(`message must be 1..${MAX_MESSAGE_LENGTH} bytes`);
      return withId(p.kind === "action" ? PACKET_ID_ACTION : PACKET_ID_MESSAGE, p.text);
    case "other":
      return withId(p.id, p.data);
  }
}
