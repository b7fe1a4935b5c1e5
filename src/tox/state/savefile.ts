/**
 * The c-toxcore save file (`tox_get_savedata`), as written by 0.2.18 (state.c, Messenger.c,
 * DHT.c, group.c). Used to import a qTox/toxic profile and to export one a native client loads.
 *
 * Layout: `u32 0 | u32 LE 0x15ED1B1F` then sections `length u32 LE | type u16 LE | 0x01CE u16 LE |
 * body`, until the END section (type 255, length 0). c-toxcore over-allocates, so real files end
 * with zero padding after END; it also skips unknown section types. We do both, and keep unknown
 * sections so an import/export round trip loses nothing.
 */
import { ByteReader, ByteWriter } from "../bytes.js";
import { PUBLIC_KEY_SIZE, publicKeyFromSecret, SECRET_KEY_SIZE } from "../crypto.js";
import { type ParseResult, tryParse, WireError } from "../errors.js";
import { type NodeInfo, packNodes, readNode } from "../wire/ipport.js";

export const STATE_COOKIE_GLOBAL = 0x15ed1b1f;
const STATE_COOKIE_TYPE = 0x01ce;
const DHT_STATE_COOKIE_GLOBAL = 0x0159000d;
const DHT_STATE_COOKIE_TYPE = 0x11ce;
const DHT_STATE_TYPE_NODES = 4;

export const SECTION = {
  NOSPAMKEYS: 1,
  DHT: 2,
  FRIENDS: 3,
  NAME: 4,
  STATUSMESSAGE: 5,
  STATUS: 6,
  TCP_RELAY: 10,
  PATH_NODE: 11,
  CONFERENCES: 20,
  END: 255,
} as const;

const MAX_NAME_LENGTH = 128;
const MAX_STATUSMESSAGE_LENGTH = 1007;
const SAVED_FRIEND_REQUEST_SIZE = 1024;
/** Fixed size of one friend record (`friend_size()` in Messenger.c). */
export const SAVED_FRIEND_SIZE =
  1 +
  PUBLIC_KEY_SIZE +
  SAVED_FRIEND_REQUEST_SIZE +
  1 +
  2 +
  MAX_NAME_LENGTH +
  2 +
  MAX_STATUSMESSAGE_LENGTH +
  1 +
  2 +
  1 +
  3 +
  4 +
  8;
/** Conference message numbers are saved with an offset so they keep increasing after a restart. */
export const SAVE_OFFSET_MESSAGE_NUMBER = 1 << 16;
export const SAVE_OFFSET_LOSSY_MESSAGE_NUMBER = 1 << 13;

/** Friend record status: 1 added (request not yet sent), 2 request sent, 3 confirmed friend. */
export type SavedFriendStatus = 1 | 2 | 3;

export interface SavedFriend {
  status: SavedFriendStatus;
  publicKey: Uint8Array;
  /** For status < 3: the friend request message we send. */
  requestMessage: Uint8Array;
  /** For status < 3: the nospam of the address we were given (raw bytes as in the Tox ID). */
  requestNospam: Uint8Array;
  name: Uint8Array;
  statusMessage: Uint8Array;
  userStatus: number;
  /** Unix seconds. */
  lastSeen: bigint;
}

export interface SavedConferencePeer {
  realPk: Uint8Array;
  tempPk: Uint8Array;
  peerNumber: number;
  lastActive: bigint;
  nick: Uint8Array;
}

export interface SavedConference {
  type: number;
  id: Uint8Array;
  /** The number to continue from (the saved value, offset included). */
  messageNumber: number;
  lossyMessageNumber: number;
  ownPeerNumber: number;
  title: Uint8Array;
  peers: SavedConferencePeer[];
}

export interface SaveData {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
  /** Raw nospam bytes, exactly as they appear in the Tox ID. */
  nospam: Uint8Array;
  name: Uint8Array;
  statusMessage: Uint8Array;
  userStatus: number;
  friends: SavedFriend[];
  dhtNodes: NodeInfo[];
  tcpRelays: NodeInfo[];
  pathNodes: NodeInfo[];
  conferences: SavedConference[];
  /** Sections this implementation does not interpret (e.g. NGC groups from newer clients), kept verbatim. */
  unknownSections: { type: number; data: Uint8Array }[];
}

function readNodesSection(data: Uint8Array, what: string): NodeInfo[] {
  const r = new ByteReader(data, what);
  const nodes: NodeInfo[] = [];
  while (r.remaining > 0) nodes.push(readNode(r));
  return nodes;
}

function readFriend(r: ByteReader): SavedFriend {
  const status = r.u8("friend status");
  if (status < 1 || status > 3) throw new WireError(`save file: friend record has invalid status ${status}`);
  const publicKey = r.bytesN(PUBLIC_KEY_SIZE, "friend public key");
  const requestRaw = r.bytesN(SAVED_FRIEND_REQUEST_SIZE, "friend request message");
  r.skip(1);
  const requestLength = r.u16be("friend request length");
  const nameRaw = r.bytesN(MAX_NAME_LENGTH, "friend name");
  const nameLength = r.u16be("friend name length");
  const statusRaw = r.bytesN(MAX_STATUSMESSAGE_LENGTH, "friend status message");
  r.skip(1);
  const statusLength = r.u16be("friend status message length");
  const userStatus = r.u8("friend user status");
  r.skip(3);
  const requestNospam = r.bytesN(4, "friend request nospam");
  const lastSeen = r.u64be("friend last seen");
  const clamp = (n: number, max: number) => Math.min(n, max);
  return {
    status: status as SavedFriendStatus,
    publicKey,
    requestMessage: requestRaw.slice(0, clamp(requestLength, SAVED_FRIEND_REQUEST_SIZE)),
    requestNospam,
    name: nameRaw.slice(0, clamp(nameLength, MAX_NAME_LENGTH)),
    statusMessage: statusRaw.slice(0, clamp(statusLength, MAX_STATUSMESSAGE_LENGTH)),
    userStatus,
    lastSeen,
  };
}

function writeFriend(w: ByteWriter, f: SavedFriend): void {
  const padded = (b: Uint8Array, size: number) => {
    const out = new Uint8Array(size);
    out.set(b.subarray(0, size));
    return out;
  };
  const pending = f.status < 3;
  w.u8(f.status);
  w.bytes(f.publicKey);
  w.bytes(padded(pending ? f.requestMessage : new Uint8Array(), SAVED_FRIEND_REQUEST_SIZE));
  w.zeros(1);
  w.u16be(pending ? Math.min(f.requestMessage.length, SAVED_FRIEND_REQUEST_SIZE) : 0);
  w.bytes(padded(pending ? new Uint8Array() : f.name, MAX_NAME_LENGTH));
  w.u16be(pending ? 0 : Math.min(f.name.length, MAX_NAME_LENGTH));
  w.bytes(padded(pending ? new Uint8Array() : f.statusMessage, MAX_STATUSMESSAGE_LENGTH));
  w.zeros(1);
  w.u16be(pending ? 0 : Math.min(f.statusMessage.length, MAX_STATUSMESSAGE_LENGTH));
  w.u8(pending ? 0 : f.userStatus);
  w.zeros(3);
  w.bytes(pending ? padded(f.requestNospam, 4) : new Uint8Array(4));
  w.u64be(pending ? 0n : f.lastSeen);
}

function readConferences(data: Uint8Array): SavedConference[] {
  const r = new ByteReader(data, "save file conferences");
  const out: SavedConference[] = [];
  while (r.remaining > 0) {
    const type = r.u8("conference type");
    const id = r.bytesN(32, "conference id");
    const messageNumber = r.u32le("conference message number");
    const lossyMessageNumber = r.u16le("conference lossy number");
    const ownPeerNumber = r.u16le("conference own peer number");
    const peerCount = r.u32le("conference peer count");
    const title = r.bytesN(r.u8("conference title length"), "conference title");
    const peers: SavedConferencePeer[] = [];
    for (let i = 0; i < peerCount; i++) {
      const realPk = r.bytesN(32, "conference peer real pk");
      const tempPk = r.bytesN(32, "conference peer temp pk");
      const peerNumber = r.u16le("conference peer number");
      const lastActive = r.u64le("conference peer last active");
      const nick = r.bytesN(r.u8("conference peer nick length"), "conference peer nick");
      peers.push({ realPk, tempPk, peerNumber, lastActive, nick });
    }
    out.push({ type, id, messageNumber, lossyMessageNumber, ownPeerNumber, title, peers });
  }
  return out;
}

function writeConferences(w: ByteWriter, confs: readonly SavedConference[]): void {
  for (const c of confs) {
    w.u8(c.type).bytes(c.id).u32le(c.messageNumber).u16le(c.lossyMessageNumber).u16le(c.ownPeerNumber);
    w.u32le(c.peers.length).u8(Math.min(c.title.length, 255)).bytes(c.title.subarray(0, 255));
    for (const p of c.peers) {
      w.bytes(p.realPk).bytes(p.tempPk).u16le(p.peerNumber).u64le(p.lastActive);
      w.u8(Math.min(p.nick.length, 255)).bytes(p.nick.subarray(0, 255));
    }
  }
}

function readDhtSection(data: Uint8Array): NodeInfo[] {
  const r = new ByteReader(data, "save file DHT section");
  if (r.u32le("DHT cookie") !== DHT_STATE_COOKIE_GLOBAL)
    throw new WireError("save file: bad DHT section cookie");
  const nodes: NodeInfo[] = [];
  while (r.remaining >= 8) {
    const length = r.u32le("DHT sub-section length");
    const type = r.u16le("DHT sub-section type");
    if (r.u16le("DHT sub-section cookie") !== DHT_STATE_COOKIE_TYPE)
      throw new WireError("save file: garbled DHT section");
    const body = r.bytesN(length, "DHT sub-section");
    if (type === DHT_STATE_TYPE_NODES) nodes.push(...readNodesSection(body, "save file DHT nodes"));
  }
  return nodes;
}

/** Parses a plain (unencrypted) save file. Encrypted ones must go through toxencryptsave first. */
export function parseSaveData(bytes: Uint8Array): ParseResult<SaveData> {
  return tryParse(() => {
    const r = new ByteReader(bytes, "save file");
    if (bytes.length < 8 || r.u32le("zero") !== 0 || r.u32le("cookie") !== STATE_COOKIE_GLOBAL) {
      throw new WireError("not a Tox save file (bad magic; encrypted profiles need their passphrase)", {
        what: "save file",
      });
    }
    const out: SaveData = {
      secretKey: new Uint8Array(0),
      publicKey: new Uint8Array(0),
      nospam: new Uint8Array(4),
      name: new Uint8Array(),
      statusMessage: new Uint8Array(),
      userStatus: 0,
      friends: [],
      dhtNodes: [],
      tcpRelays: [],
      pathNodes: [],
      conferences: [],
      unknownSections: [],
    };
    let sawKeys = false;
    let sawEnd = false;
    while (r.remaining >= 8) {
      const length = r.u32le("section length");
      const type = r.u16le("section type");
      const cookie = r.u16le("section cookie");
      if (cookie !== STATE_COOKIE_TYPE) {
        throw new WireError(
          `save file garbled: section cookie ${cookie.toString(16)} at offset ${r.position - 2}`,
        );
      }
      if (length > r.remaining) {
        throw new WireError(
          `save file truncated: section ${type} needs ${length} bytes, ${r.remaining} left`,
        );
      }
      const body = r.bytesN(length, `section ${type}`);
      switch (type) {
        case SECTION.NOSPAMKEYS: {
          if (length !== 4 + PUBLIC_KEY_SIZE + SECRET_KEY_SIZE)
            throw new WireError("save file: bad key section size");
          out.nospam = body.slice(0, 4);
          out.publicKey = body.slice(4, 36);
          out.secretKey = body.slice(36, 68);
          const derived = publicKeyFromSecret(out.secretKey);
          if (!derived.every((b, i) => b === out.publicKey[i])) {
            throw new WireError("save file: public key does not match secret key (corrupt profile)");
          }
          sawKeys = true;
          break;
        }
        case SECTION.DHT:
          out.dhtNodes = readDhtSection(body);
          break;
        case SECTION.FRIENDS: {
          if (length % SAVED_FRIEND_SIZE !== 0) {
            throw new WireError(
              `save file: friends section length ${length} is not a multiple of ${SAVED_FRIEND_SIZE}`,
            );
          }
          const fr = new ByteReader(body, "save file friends");
          while (fr.remaining > 0) out.friends.push(readFriend(fr));
          break;
        }
        case SECTION.NAME:
          out.name = body.slice(0, MAX_NAME_LENGTH);
          break;
        case SECTION.STATUSMESSAGE:
          out.statusMessage = body.slice(0, MAX_STATUSMESSAGE_LENGTH);
          break;
        case SECTION.STATUS:
          if (length === 1) out.userStatus = body[0]!;
          break;
        case SECTION.TCP_RELAY:
          out.tcpRelays = readNodesSection(body, "save file TCP relays");
          break;
        case SECTION.PATH_NODE:
          out.pathNodes = readNodesSection(body, "save file path nodes");
          break;
        case SECTION.CONFERENCES:
          out.conferences.push(...readConferences(body));
          break;
        case SECTION.END:
          if (length !== 0) throw new WireError("save file: END section with non-zero length");
          sawEnd = true;
          break;
        default:
          out.unknownSections.push({ type, data: body });
      }
      if (sawEnd) break;
    }
    // After END only zero padding may follow (tox_get_savedata_size over-allocates).
    if (!sawEnd && r.remaining !== 0)
      throw new WireError(`save file: ${r.remaining} unparsed trailing bytes`);
    if (!sawKeys) throw new WireError("save file has no key section (not a Tox profile?)");
    return out;
  });
}

function section(w: ByteWriter, type: number, body: Uint8Array): void {
  w.u32le(body.length).u16le(type).u16le(STATE_COOKIE_TYPE).bytes(body);
}

/** Serialises a save file that c-toxcore 0.2.18 loads (`tox_new` with TOX_SAVEDATA_TYPE_TOX_SAVE). */
export function serializeSaveData(s: SaveData): Uint8Array {
  const w = new ByteWriter(4096);
  w.u32le(0).u32le(STATE_COOKIE_GLOBAL);
  section(
    w,
    SECTION.NOSPAMKEYS,
    new ByteWriter().bytes(s.nospam).bytes(s.publicKey).bytes(s.secretKey).finish(),
  );
  const dht = new ByteWriter().u32le(DHT_STATE_COOKIE_GLOBAL);
  const dhtNodes = packNodes(s.dhtNodes);
  dht.u32le(dhtNodes.length).u16le(DHT_STATE_TYPE_NODES).u16le(DHT_STATE_COOKIE_TYPE).bytes(dhtNodes);
  section(w, SECTION.DHT, dht.finish());
  const friends = new ByteWriter(s.friends.length * SAVED_FRIEND_SIZE);
  for (const f of s.friends) writeFriend(friends, f);
  section(w, SECTION.FRIENDS, friends.finish());
  section(w, SECTION.NAME, s.name.subarray(0, MAX_NAME_LENGTH));
  section(w, SECTION.STATUSMESSAGE, s.statusMessage.subarray(0, MAX_STATUSMESSAGE_LENGTH));
  section(w, SECTION.STATUS, Uint8Array.of(s.userStatus));
  section(w, SECTION.TCP_RELAY, packNodes(s.tcpRelays.slice(0, 8)));
  section(w, SECTION.PATH_NODE, packNodes(s.pathNodes.slice(0, 8)));
  const confs = new ByteWriter();
  writeConferences(confs, s.conferences);
  section(w, SECTION.CONFERENCES, confs.finish());
  for (const u of s.unknownSections) section(w, u.type, u.data);
  section(w, SECTION.END, new Uint8Array());
  return w.finish();
}
