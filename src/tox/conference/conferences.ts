/**
 * Conferences (c-toxcore 0.2.18 group.c, "old groups") for one identity: create, invite, join
 * by invite, peer list sync and names, title, messages and actions, pings, freezing silent
 * peers, leaving, saving and rejoining after a restart.
 *
 * How a conference works on the wire (all of it copied from group.c because peers rely on it):
 * - Members keep net_crypto sessions ("connections") to some other members: the friend that
 *   introduced us, friends we introduced, and up to 4 ring neighbours ordered by the first 8
 *   bytes of the real keys. Neighbours are usually *not* friends; the transport must open
 *   friend_connection entries for them from the DHT key the peer list carries.
 * - A connection is usable ("online") once both sides exchanged ONLINE (97) for the conference;
 *   each side tells the other its own conference number there, and every later packet carries
 *   the receiver's number.
 * - Messages (99) are flooded: each receiver passes a new message on to all its online
 *   connections except the one it came from, and back to the sender when it came straight from
 *   it (the only way a 2-member conference echoes). Per-sender message numbers rise by one and
 *   an 8-entry window drops duplicates.
 * - A member silent for 60 s is frozen (kept, not shown); it thaws when it speaks again. When a
 *   session to a frozen member's key comes up we send REJOIN (100), which is also how a restarted
 *   member gets back in: its saved peers start frozen.
 * - Our message number is saved with +65536 so it keeps rising across restarts (peers would
 *   drop "old" numbers otherwise).
 *
 * Pure state machine: time from the injected Clock, I/O through ConferenceTransport; the caller
 * routes packets 96 (from online friends) and 97-100/199 (from any friend_connection) in.
 */
import { bytesEqual, toHex } from "../bytes.js";
import type { Clock } from "../clock.js";
import { randomU32 } from "../crypto.js";
import { ToxProtocolError } from "../errors.js";
import { LazyMap } from "../lazy-collections.js";
import { splitMessageBytes } from "../messenger/split.js";
import {
  SAVE_OFFSET_LOSSY_MESSAGE_NUMBER,
  SAVE_OFFSET_MESSAGE_NUMBER,
  type SavedConference,
} from "../state/savefile.js";
import {
  CONFERENCE_ID_SIZE,
  CONFERENCE_TYPE_AV,
  CONFERENCE_TYPE_TEXT,
  type ConferencePacket,
  chunkPeerEntries,
  type GroupMessageBody,
  MAX_CONFERENCE_NAME_LENGTH,
  MAX_GROUP_MESSAGE_DATA_LEN,
  PACKET_ID_INVITE_CONFERENCE,
  PACKET_ID_LOSSY_CONFERENCE,
  PACKET_ID_MESSAGE_CONFERENCE,
  parseConferencePacket,
  serializeConferencePacket,
  serializeMessageBody,
} from "./packets.js";

/** `GROUP_PING_INTERVAL`. */
export const GROUP_PING_INTERVAL_MS = 20_000;
/** `FREEZE_TIMEOUT` = 3 ping intervals. */
export const FREEZE_TIMEOUT_MS = 3 * GROUP_PING_INTERVAL_MS;
/** `DESIRED_CLOSEST`: ring neighbours, half on each side. */
export const DESIRED_CLOSEST = 4;
/** `MAX_GROUP_CONNECTIONS`. */
export const MAX_GROUP_CONNECTIONS = 16;
/** `MAX_LAST_MESSAGE_INFOS`. */
const MAX_LAST_MESSAGE_INFOS = 8;
/** Lossy numbers remembered per sender (group.c keeps a 256-packet bitmap). */
const LOSSY_WINDOW = 256;
/** `MAX_FROZEN_DEFAULT`. */
const MAX_FROZEN = 128;
/** Join cookie = the invite after its sub-id: inviter's conference number, type, id. */
export const CONFERENCE_COOKIE_SIZE = 2 + 1 + CONFERENCE_ID_SIZE;

/** Why a connection is kept (group.c `GROUPCHAT_CONNECTION_REASON_*`); dropped when none is left. */
const REASON_CLOSEST = 1;
const REASON_INTRODUCING = 2;
const REASON_INTRODUCER = 4;

export type ConferenceMessageKind = "normal" | "action";

/** What the conference layer needs below it; see conference/attach.ts for the Identity wiring. */
export interface ConferenceTransport {
  /** Lossless packet on the peer's friend_connection (friend or not), no congestion control; -1 on failure. */
  sendLossless(peerPk: Uint8Array, data: Uint8Array): number;
  sendLossy?(peerPk: Uint8Array, data: Uint8Array): boolean;
  /** Whether the peer's friend_connection session is up. */
  isConnected(peerPk: Uint8Array): boolean;
  /** Invite packets (96) go through the Messenger: false unless the friend is online. */
  sendToFriend(friendPk: Uint8Array, data: Uint8Array): boolean;
  /** The peer's current DHT ("temp") key, if a session or search knows it. */
  dhtKeyOf(peerPk: Uint8Array): Uint8Array | undefined;
  /**
   * A conference needs a session to this peer: create a friend_connection entry (for a non-friend)
   * and start looking for it under `tempPk`. Called once per peer while any conference needs it.
   */
  openConnection(peerPk: Uint8Array, tempPk: Uint8Array): void;
  /** No conference needs the session any more (the wiring keeps friends' sessions). */
  closeConnection(peerPk: Uint8Array): void;
}

/** A peer as the API shows it. */
export interface ConferencePeer {
  peerNumber: number;
  publicKey: Uint8Array;
  name: string;
  /** The peer is us. */
  self: boolean;
}

export interface ConferenceEvents {
  /** A friend invites us; pass `cookie` to `join()`. */
  onInvite?(friendPk: Uint8Array, confType: number, cookie: Uint8Array): void;
  /** We are in (the peer list arrived and contains us). */
  onConnected?(conference: number): void;
  onMessage?(conference: number, peer: ConferencePeer, kind: ConferenceMessageKind, text: string): void;
  onPeerName?(conference: number, peer: ConferencePeer, name: string): void;
  /** Someone joined, left, froze or thawed; read `peers()`. */
  onPeerListChanged?(conference: number): void;
  /** `peer` is undefined when the title came with the peer list. */
  onTitle?(conference: number, peer: ConferencePeer | undefined, title: string): void;
  /** A member left for good (KILL_PEER). */
  onPeerLeft?(conference: number, peer: ConferencePeer): void;
  /** Lossy data of AV conferences (type byte first), not relayed further. */
  onLossy?(conference: number, peer: ConferencePeer, lossyType: number, data: Uint8Array): void;
  log?(obj: Record<string, unknown>, msg: string): void;
}

export interface ConferencesOptions {
  clock: Clock;
  selfPk: Uint8Array;
  /** Our current DHT key (peers connect to us with it). */
  selfDhtPk: () => Uint8Array;
  /** Our current name (the Messenger's). */
  selfName: () => string;
  transport: ConferenceTransport;
  events: ConferenceEvents;
  /** Random u16 peer numbers (tests inject a sequence). */
  random16?: () => number;
}

interface Peer {
  peerNumber: number;
  realPk: Uint8Array;
  hex: string;
  tempPk: Uint8Array;
  tempPkUpdated: boolean;
  nick: Uint8Array;
  nickUpdated: boolean;
  /** Clock ms of the last sign of life. */
  lastActive: number;
  /** Recent (message number, message id) pairs, newest first (`last_message_infos`). */
  infos: Array<{ num: number; id: number }>;
  /** Recent lossy numbers (duplicate filter for the lossy flood). */
  lossySeen: number[];
}

interface Conn {
  pk: Uint8Array;
  hex: string;
  online: boolean;
  /** The peer's number for this conference (learned from its ONLINE / invite packets). */
  otherNumber: number;
  reasons: number;
}

interface Conf {
  number: number;
  type: number;
  id: Uint8Array;
  /** Joined but not yet in the peer list ("valid"), or a member ("connected"). */
  connected: boolean;
  peerNumber: number;
  messageNumber: number;
  lossyNumber: number;
  title: Uint8Array;
  titleFresh: boolean;
  peers: Map<number, Peer>;
  frozen: Map<number, Peer>;
  conns: Map<string, Conn>;
  closest: Peer[];
  closestChanged: boolean;
  lastPingAt: number;
  needSendName: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: false });

function err(code: string, message: string, ctx: Record<string, unknown> = {}): ToxProtocolError {
  return new ToxProtocolError(message, { code, ...ctx });
}

/** `calculate_comp_value`: the first 8 key bytes as u64, a - b modulo 2^64. */
function compValue(a: Uint8Array, b: Uint8Array): bigint {
  let x = 0n;
  let y = 0n;
  for (let i = 0; i < 8; i++) {
    x = (x << 8n) | BigInt(a[i]!);
    y = (y << 8n) | BigInt(b[i]!);
  }
  return BigInt.asUintN(64, x - y);
}

export class Conferences {
  private readonly clock: Clock;
  private readonly selfPk: Uint8Array;
  private readonly selfHex: string;
  private readonly opts: ConferencesOptions;
  private readonly transport: ConferenceTransport;
  private readonly events: ConferenceEvents;
  private readonly random16: () => number;
  private readonly confs = new LazyMap<number, Conf>();
  /** How many conferences hold a connection to each peer (the transport opens/closes once). */
  private readonly connRefs = new LazyMap<string, number>();

  constructor(opts: ConferencesOptions) {
    this.opts = opts;
    this.clock = opts.clock;
    this.selfPk = Uint8Array.from(opts.selfPk);
    this.selfHex = toHex(this.selfPk);
    this.transport = opts.transport;
    this.events = opts.events;
    this.random16 = opts.random16 ?? (() => randomU32() & 0xffff);
  }

  // -------------------------------------------------------------------------------------------
  // API

  /** `add_groupchat`: a new conference with us as peer 0. Returns its number. */
  create(confType: number = CONFERENCE_TYPE_TEXT): number {
    const id = new Uint8Array(CONFERENCE_ID_SIZE);
    crypto.getRandomValues(id);
    const c = this.newConf(confType, id);
    c.connected = true;
    c.peerNumber = 0;
    this.addSelf(c);
    return c.number;
  }

  /** `invite_friend`: the friend must be online and we must be a member. */
  invite(conference: number, friendPk: Uint8Array): void {
    const c = this.mustGet(conference);
    if (!c.connected) throw err("not-connected", "not connected to the conference yet", { conference });
    const pkt = serializeConferencePacket({
      type: "invite",
      groupNumber: c.number,
      confType: c.type,
      id: c.id,
    });
    if (!this.transport.sendToFriend(friendPk, pkt))
      throw err("friend-not-connected", "friend is not online", { friend: toHex(friendPk), conference });
  }

  /**
   * `join_groupchat`: accepts an invite from an online friend. Returns the conference number; we
   * are a member once `onConnected` fires (the inviter's peer list contains us).
   */
  join(friendPk: Uint8Array, cookie: Uint8Array, expectedType?: number): number {
    if (cookie.length !== CONFERENCE_COOKIE_SIZE) throw err("bad-cookie", "invite cookie must be 35 bytes");
    const type = cookie[2]!;
    if (expectedType !== undefined && type !== expectedType)
      throw err("wrong-type", "conference has another type", { type });
    const id = cookie.subarray(3);
    if (this.byId(type, id) !== undefined) throw err("already-joined", "already in this conference");
    const c = this.newConf(type, Uint8Array.from(id));
    if (!this.sendInviteResponse(c, friendPk, cookie)) {
      this.confs.delete(c.number);
      throw err("friend-not-connected", "friend is not online", { friend: toHex(friendPk) });
    }
    return c.number;
  }

  /** `del_groupchat`: tells the others (KILL_PEER, or FREEZE_PEER when not permanent) and forgets it. */
  leave(conference: number, permanently = true): void {
    const c = this.mustGet(conference);
    if (c.connected && this.countOnline(c) > 0)
      this.sendGroupMessage(c, permanently ? { kind: "killPeer", peerNumber: c.peerNumber } : freeze(c));
    for (const conn of [...c.conns.values()]) this.dropConn(c, conn);
    this.confs.delete(c.number);
  }

  /** Sends a text (split into ≤1363-byte pieces); the message numbers used. Throws when nobody is reachable. */
  sendMessage(conference: number, text: string, kind: ConferenceMessageKind = "normal"): number[] {
    const c = this.mustGet(conference);
    const bytes = encoder.encode(text);
    if (bytes.length === 0) throw err("empty", "message is empty");
    this.checkSendable(c);
    const nums: number[] = [];
    for (const piece of splitMessageBytes(bytes, MAX_GROUP_MESSAGE_DATA_LEN)) {
      const body: GroupMessageBody =
        kind === "action" ? { kind: "action", text: piece } : { kind: "message", text: piece };
      nums.push(this.sendGroupMessage(c, body));
    }
    return nums;
  }

  /** `group_title_send`: 1..128 bytes. Stored even when alone (then nothing is sent). */
  setTitle(conference: number, title: string): void {
    const c = this.mustGet(conference);
    const bytes = encoder.encode(title);
    if (bytes.length === 0 || bytes.length > MAX_CONFERENCE_NAME_LENGTH)
      throw err("bad-title", "title must be 1..128 bytes", { length: bytes.length });
    if (bytesEqual(bytes, c.title)) return;
    c.title = bytes;
    if (c.peers.size <= 1) return;
    this.checkSendable(c);
    this.sendGroupMessage(c, { kind: "title", title: bytes });
  }

  /**
   * `send_group_lossy_packet`: lossy data (AV conferences; `lossyType` is the first data byte,
   * 192 = audio in toxav). False when no connection took it.
   */
  sendLossy(conference: number, lossyType: number, data: Uint8Array): boolean {
    const c = this.mustGet(conference);
    const pkt = serializeConferencePacket({
      type: "lossy",
      groupNumber: 0,
      peerNumber: c.peerNumber,
      lossyNumber: c.lossyNumber,
      lossyType,
      data,
    });
    if (this.relayLossy(c, pkt.subarray(3), undefined) === 0) return false;
    c.lossyNumber = (c.lossyNumber + 1) & 0xffff;
    return true;
  }

  /** `send_name_all_groups`: call after our name changed. */
  nameChanged(): void {
    const name = this.selfNameBytes();
    for (const c of this.confs.values()) {
      if (!c.connected) continue;
      const self = c.peers.get(c.peerNumber);
      if (self !== undefined) self.nick = name;
      if (this.countOnline(c) > 0) this.sendGroupMessage(c, { kind: "name", name });
    }
  }

  list(): number[] {
    return [...this.confs.keys()];
  }

  /** Conference number of a 32-byte id (`conference_by_id`). */
  byConferenceId(id: Uint8Array): number | undefined {
    for (const c of this.confs.values()) if (bytesEqual(c.id, id)) return c.number;
    return undefined;
  }

  info(conference: number):
    | {
        id: Uint8Array;
        type: number;
        connected: boolean;
        title: string;
        peerNumber: number;
        messageNumber: number;
      }
    | undefined {
    const c = this.confs.get(conference);
    if (c === undefined) return undefined;
    return {
      id: c.id,
      type: c.type,
      connected: c.connected,
      title: decoder.decode(c.title),
      peerNumber: c.peerNumber,
      messageNumber: c.messageNumber,
    };
  }

  /** Active peers (us included); `frozen` lists the frozen ones instead. */
  peers(conference: number, frozen = false): ConferencePeer[] {
    const c = this.confs.get(conference);
    if (c === undefined) return [];
    return [...(frozen ? c.frozen : c.peers).values()].map((p) => this.view(c, p));
  }

  /** How many of our connections for the conference are online (diagnostics, tests). */
  onlineConnections(conference: number): number {
    const c = this.confs.get(conference);
    return c === undefined ? 0 : this.countOnline(c);
  }

  // -------------------------------------------------------------------------------------------
  // Persistence

  /** `conferences_save`: members only, message numbers with the restart offsets. */
  save(): SavedConference[] {
    const out: SavedConference[] = [];
    const nowMs = this.clock.now();
    const nowUnix = this.clock.unixSeconds();
    for (const c of this.confs.values()) {
      if (!c.connected) continue;
      const peers = [...c.peers.values(), ...c.frozen.values()]
        .filter((p) => p.hex !== this.selfHex)
        .map((p) => ({
          realPk: p.realPk,
          tempPk: p.tempPk,
          peerNumber: p.peerNumber,
          lastActive: BigInt(Math.max(0, nowUnix - Math.floor((nowMs - p.lastActive) / 1000))),
          nick: p.nick,
        }));
      out.push({
        type: c.type,
        id: c.id,
        messageNumber: (c.messageNumber + SAVE_OFFSET_MESSAGE_NUMBER) >>> 0,
        lossyMessageNumber: (c.lossyNumber + SAVE_OFFSET_LOSSY_MESSAGE_NUMBER) & 0xffff,
        ownPeerNumber: c.peerNumber,
        title: c.title,
        peers,
      });
    }
    return out;
  }

  /**
   * `load_group`: saved conferences come back as members with every other peer frozen; they
   * rejoin when sessions to those peers come up (REJOIN), as c-toxcore 0.2.18 does.
   */
  restore(saved: readonly SavedConference[]): number[] {
    const nums: number[] = [];
    const nowMs = this.clock.now();
    const nowUnix = this.clock.unixSeconds();
    for (const s of saved) {
      if (this.byId(s.type, s.id) !== undefined) continue;
      const c = this.newConf(s.type, Uint8Array.from(s.id));
      c.connected = true;
      c.messageNumber = s.messageNumber >>> 0;
      c.lossyNumber = s.lossyMessageNumber & 0xffff;
      c.peerNumber = s.ownPeerNumber;
      c.title = Uint8Array.from(s.title.subarray(0, MAX_CONFERENCE_NAME_LENGTH));
      for (const p of s.peers) {
        if (bytesEqual(p.realPk, this.selfPk)) continue;
        const ago = Math.max(0, nowUnix - Number(p.lastActive)) * 1000;
        c.frozen.set(p.peerNumber, {
          peerNumber: p.peerNumber,
          realPk: Uint8Array.from(p.realPk),
          hex: toHex(p.realPk),
          tempPk: Uint8Array.from(p.tempPk),
          tempPkUpdated: false,
          nick: Uint8Array.from(p.nick),
          nickUpdated: false,
          lastActive: nowMs - ago,
          infos: [],
          lossySeen: [],
        });
      }
      this.addSelf(c);
      nums.push(c.number);
    }
    return nums;
  }

  // -------------------------------------------------------------------------------------------
  // Input

  /** Packet 96 from an online friend (Messenger extension). */
  handleFriendPacket(friendPk: Uint8Array, data: Uint8Array): void {
    const p = this.parse(friendPk, data);
    if (p === undefined) return;
    switch (p.type) {
      case "invite": {
        const c = this.byId(p.confType, p.id);
        const cookie = Uint8Array.from(data.subarray(2));
        if (c === undefined) this.events.onInvite?.(friendPk, p.confType, cookie);
        else if (c.connected) this.sendInviteResponse(c, friendPk, cookie);
        return;
      }
      case "inviteAccept":
      case "inviteMember":
        this.handleInviteResponse(friendPk, p);
        return;
      default:
        return;
    }
  }

  /** Packets 97-100 and 199 from any friend_connection (friend or conference peer). */
  handlePacket(peerPk: Uint8Array, data: Uint8Array): void {
    const p = this.parse(peerPk, data);
    if (p === undefined) return;
    switch (p.type) {
      case "online":
        this.handleOnline(peerPk, p);
        return;
      case "rejoin":
        this.handleRejoin(peerPk, p.confType, p.id);
        return;
      case "invite":
      case "inviteAccept":
      case "inviteMember":
        return; // only valid through the Messenger
      default:
        break;
    }
    const c = this.confs.get(p.groupNumber);
    const conn = c?.conns.get(toHex(peerPk));
    if (c === undefined || conn === undefined) return;
    switch (p.type) {
      case "peerIntroduced":
        this.removeReason(c, conn, REASON_INTRODUCING);
        return;
      case "peerQuery":
        if (conn.online) this.sendPeers(c, conn);
        return;
      case "peerResponse":
        this.handlePeerResponse(c, p.peers);
        return;
      case "directTitle":
        if (!c.titleFresh) this.setTitleFrom(c, undefined, p.title);
        return;
      case "directOther":
        return;
      case "message":
        this.handleMessage(c, conn, p, data);
        return;
      case "lossy":
        this.handleLossy(c, conn, p, data);
        return;
    }
  }

  /** The peer's friend_connection session came up or went down (`g_handle_status` + `g_handle_any_status`). */
  handleConnection(peerPk: Uint8Array, up: boolean): void {
    const hex = toHex(peerPk);
    for (const c of [...this.confs.values()]) {
      const conn = c.conns.get(hex);
      if (conn !== undefined) {
        if (up) this.sendOnline(c, conn);
        else {
          conn.online = false;
          this.checkDisconnected(c);
        }
      }
      if (up && [...c.frozen.values()].some((f) => f.hex === hex)) this.trySendRejoin(c, peerPk);
    }
  }

  /** `do_groupchats`. */
  tick(): void {
    const now = this.clock.now();
    for (const c of [...this.confs.values()]) {
      if (!c.connected) continue;
      this.connectToClosest(c);
      if (now - c.lastPingAt >= GROUP_PING_INTERVAL_MS && this.countOnline(c) > 0) {
        this.sendGroupMessage(c, { kind: "ping" });
        c.lastPingAt = now;
      }
      for (const p of [...c.peers.values()]) {
        if (p.peerNumber !== c.peerNumber && now - p.lastActive > FREEZE_TIMEOUT_MS) this.freezePeer(c, p);
      }
      if (c.peers.size <= 1) c.titleFresh = false;
      if (c.needSendName && this.countOnline(c) > 0) {
        this.sendGroupMessage(c, { kind: "name", name: this.selfNameBytes() });
        c.needSendName = false;
      }
    }
  }

  /** Milliseconds until `tick()` has work; never busy while no connection is online. */
  nextTickIn(): number {
    const now = this.clock.now();
    let next = 1000;
    for (const c of this.confs.values()) {
      if (!c.connected) continue;
      if (c.closestChanged) return 1;
      for (const p of c.peers.values())
        if (p.peerNumber !== c.peerNumber) next = Math.min(next, p.lastActive + FREEZE_TIMEOUT_MS + 1 - now);
      if (this.countOnline(c) === 0) continue;
      if (c.needSendName) return 1;
      next = Math.min(next, c.lastPingAt + GROUP_PING_INTERVAL_MS - now);
    }
    return Math.max(1, Math.ceil(next));
  }

  // -------------------------------------------------------------------------------------------
  // Invites and joining

  private sendInviteResponse(c: Conf, friendPk: Uint8Array, cookie: Uint8Array): boolean {
    const inviterNumber = (cookie[0]! << 8) | cookie[1]!;
    const ref = { confType: cookie[2]!, id: cookie.subarray(3) };
    const member = c.connected;
    const pkt = serializeConferencePacket(
      member
        ? {
            type: "inviteMember",
            joinerGroupNumber: c.number,
            groupNumber: inviterNumber,
            peerNumber: c.peerNumber,
            ...ref,
          }
        : { type: "inviteAccept", joinerGroupNumber: c.number, groupNumber: inviterNumber, ...ref },
    );
    if (!this.transport.sendToFriend(friendPk, pkt)) return false;
    const conn = this.addConn(c, friendPk, REASON_INTRODUCER, undefined);
    if (conn === undefined) return true;
    if (member) conn.reasons |= REASON_INTRODUCING;
    conn.otherNumber = inviterNumber;
    conn.online = true;
    this.sendDirect(c, conn, { type: "peerQuery", groupNumber: conn.otherNumber });
    return true;
  }

  private handleInviteResponse(
    friendPk: Uint8Array,
    p: Extract<ConferencePacket, { type: "inviteAccept" | "inviteMember" }>,
  ): void {
    const c = this.confs.get(p.groupNumber);
    if (c === undefined || c.type !== p.confType || !bytesEqual(c.id, p.id)) return;
    let peerNumber: number;
    if (p.type === "inviteMember") peerNumber = p.peerNumber;
    else {
      let tries = 0;
      do {
        peerNumber = this.random16();
        if (++tries > 32) return;
      } while (c.peers.has(peerNumber) || c.frozen.has(peerNumber));
    }
    const tempPk = this.transport.dhtKeyOf(friendPk) ?? new Uint8Array(32);
    this.addPeer(c, friendPk, tempPk, peerNumber, true);
    const conn = this.addConn(c, friendPk, REASON_INTRODUCING, tempPk);
    if (conn === undefined) return;
    if (p.type === "inviteMember") {
      conn.reasons |= REASON_INTRODUCER;
      this.sendDirect(c, conn, { type: "peerQuery", groupNumber: p.joinerGroupNumber });
    }
    conn.otherNumber = p.joinerGroupNumber;
    conn.online = true;
    this.sendGroupMessage(c, { kind: "newPeer", peerNumber, realPk: friendPk, tempPk });
  }

  private handlePeerResponse(
    c: Conf,
    entries: Extract<ConferencePacket, { type: "peerResponse" }>["peers"],
  ): void {
    for (const e of entries) {
      if (!c.connected && bytesEqual(e.realPk, this.selfPk)) {
        c.peerNumber = e.peerNumber;
        c.connected = true;
        c.needSendName = true;
        this.events.onConnected?.(c.number);
      }
      const peer = this.addPeer(c, e.realPk, e.tempPk, e.peerNumber, false);
      if (peer === undefined) return;
      if (!peer.nickUpdated) this.setNick(c, peer, e.nick);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Connections

  private handleOnline(peerPk: Uint8Array, p: Extract<ConferencePacket, { type: "online" }>): void {
    const c = this.byId(p.confType, p.id);
    const conn = c?.conns.get(toHex(peerPk));
    if (c === undefined || conn === undefined || conn.online) return;
    if (this.countOnline(c) === 0 || (conn.reasons & REASON_INTRODUCER) !== 0)
      this.sendDirect(c, conn, { type: "peerQuery", groupNumber: p.groupNumber });
    conn.otherNumber = p.groupNumber;
    conn.online = true;
    this.sendOnline(c, conn);
    if ((conn.reasons & REASON_INTRODUCING) !== 0) {
      const peer = this.peerByPk(c, conn.hex);
      if (peer !== undefined)
        this.sendGroupMessage(c, {
          kind: "newPeer",
          peerNumber: peer.peerNumber,
          realPk: peer.realPk,
          tempPk: peer.tempPk,
        });
      c.needSendName = true;
    }
    if (c.connected && this.clock.now() - c.lastPingAt >= GROUP_PING_INTERVAL_MS) {
      this.sendGroupMessage(c, { kind: "ping" });
      c.lastPingAt = this.clock.now();
    }
  }

  private handleRejoin(peerPk: Uint8Array, type: number, id: Uint8Array): void {
    const c = this.byId(type, id);
    if (c === undefined) return;
    const hex = toHex(peerPk);
    const known = this.peerByPk(c, hex) ?? [...c.frozen.values()].find((f) => f.hex === hex);
    if (known === undefined) return;
    const tempPk = this.transport.dhtKeyOf(peerPk) ?? known.tempPk;
    this.addPeer(c, peerPk, tempPk, known.peerNumber, true);
    const conn = this.addConn(c, peerPk, REASON_INTRODUCING, tempPk);
    if (conn !== undefined) this.sendOnline(c, conn);
  }

  private trySendRejoin(c: Conf, pk: Uint8Array): void {
    if (!this.transport.isConnected(pk)) return;
    const pkt = serializeConferencePacket({ type: "rejoin", confType: c.type, id: c.id });
    if (this.transport.sendLossless(pk, pkt) === -1) return;
    this.addConn(c, pk, REASON_INTRODUCER, undefined);
  }

  /** ONLINE for this conference on a connection whose session is up (`send_packet_online`). */
  private sendOnline(c: Conf, conn: Conn): void {
    if (!this.transport.isConnected(conn.pk)) return;
    this.transport.sendLossless(
      conn.pk,
      serializeConferencePacket({ type: "online", groupNumber: c.number, confType: c.type, id: c.id }),
    );
  }

  /** `add_conn_to_groupchat`; opens the transport session on the first use of the key. */
  private addConn(c: Conf, pk: Uint8Array, reason: number, tempPk: Uint8Array | undefined): Conn | undefined {
    const hex = toHex(pk);
    let conn = c.conns.get(hex);
    if (conn === undefined) {
      if (c.conns.size >= MAX_GROUP_CONNECTIONS) return undefined;
      conn = { pk: Uint8Array.from(pk), hex, online: false, otherNumber: 0, reasons: 0 };
      c.conns.set(hex, conn);
      const refs = this.connRefs.get(hex) ?? 0;
      this.connRefs.set(hex, refs + 1);
      if (refs === 0) {
        const key = tempPk ?? this.peerByPk(c, hex)?.tempPk ?? this.transport.dhtKeyOf(pk);
        if (key !== undefined) this.transport.openConnection(conn.pk, key);
      }
    }
    conn.reasons |= reason;
    return conn;
  }

  /** `remove_connection_reason`: PEER_INTRODUCED when we stop introducing; drop at no reason. */
  private removeReason(c: Conf, conn: Conn, reason: number): void {
    if ((conn.reasons & reason) === 0) return;
    conn.reasons &= ~reason;
    if (reason === REASON_INTRODUCER && conn.online)
      this.sendDirect(c, conn, { type: "peerIntroduced", groupNumber: conn.otherNumber });
    if (conn.reasons === 0) this.dropConn(c, conn);
  }

  private dropConn(c: Conf, conn: Conn): void {
    if (!c.conns.delete(conn.hex)) return;
    const refs = (this.connRefs.get(conn.hex) ?? 1) - 1;
    if (refs > 0) this.connRefs.set(conn.hex, refs);
    else {
      this.connRefs.delete(conn.hex);
      this.transport.closeConnection(conn.pk);
    }
  }

  private countOnline(c: Conf): number {
    let n = 0;
    for (const conn of c.conns.values()) if (conn.online) n++;
    return n;
  }

  /** `check_disconnected`: with no connection left every other peer is frozen. */
  private checkDisconnected(c: Conf): void {
    if (this.countOnline(c) > 0) return;
    for (const p of [...c.peers.values()]) if (p.hex !== this.selfHex) this.freezePeer(c, p);
  }

  /**
   * `connect_to_closest`: keep sessions to the two nearest members on each side of us on the
   * ring of real keys (first 8 bytes), so floods reach everyone without a full mesh.
   */
  private connectToClosest(c: Conf): void {
    if (!c.closestChanged) return;
    c.closestChanged = false;
    const others = [...c.peers.values()].filter((p) => p.hex !== this.selfHex);
    const half = DESIRED_CLOSEST / 2;
    const below = [...others]
      .sort((a, b) => cmpBig(compValue(this.selfPk, a.realPk), compValue(this.selfPk, b.realPk)))
      .slice(0, half);
    const above = others
      .filter((p) => !below.includes(p))
      .sort((a, b) => cmpBig(compValue(a.realPk, this.selfPk), compValue(b.realPk, this.selfPk)))
      .slice(0, half);
    c.closest = [...below, ...above];
    const want = new Set(c.closest.map((p) => p.hex));
    for (const conn of [...c.conns.values()])
      if ((conn.reasons & REASON_CLOSEST) !== 0 && !want.has(conn.hex))
        this.removeReason(c, conn, REASON_CLOSEST);
    for (const p of c.closest) {
      const conn = this.addConn(c, p.realPk, REASON_CLOSEST, p.tempPk);
      if (conn !== undefined && !conn.online) this.sendOnline(c, conn);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Peers

  private addSelf(c: Conf): void {
    const self = this.addPeer(c, this.selfPk, this.opts.selfDhtPk(), c.peerNumber, true, false);
    if (self !== undefined) self.nick = this.selfNameBytes();
  }

  /** `addpeer`: add or refresh a peer; `fresh` = current information (thaws a frozen one). */
  private addPeer(
    c: Conf,
    realPk: Uint8Array,
    tempPk: Uint8Array,
    peerNumber: number,
    fresh: boolean,
    notify = true,
  ): Peer | undefined {
    // Our own entry only changes through joining (peer list) or creating; a NEW_PEER or peer
    // list naming us under another number would otherwise replace it.
    if (c.connected && peerNumber !== c.peerNumber && bytesEqual(realPk, this.selfPk)) return undefined;
    const existing = fresh ? this.notePeerActive(c, peerNumber) : c.peers.get(peerNumber);
    if (existing !== undefined) {
      if (!bytesEqual(existing.realPk, realPk)) return undefined;
      if (fresh || !existing.tempPkUpdated) {
        existing.tempPk = Uint8Array.from(tempPk);
        existing.tempPkUpdated = true;
      }
      return existing;
    }
    if (!fresh) {
      const f = c.frozen.get(peerNumber);
      if (f !== undefined) {
        if (bytesEqual(f.realPk, realPk)) f.tempPk = Uint8Array.from(tempPk);
        return undefined;
      }
    }
    const hex = toHex(realPk);
    const old = this.peerByPk(c, hex);
    if (old !== undefined) this.delPeer(c, old);
    for (const f of [...c.frozen.values()]) if (f.hex === hex) c.frozen.delete(f.peerNumber);
    const peer: Peer = {
      peerNumber,
      realPk: Uint8Array.from(realPk),
      hex,
      tempPk: Uint8Array.from(tempPk),
      tempPkUpdated: true,
      nick: new Uint8Array(0),
      nickUpdated: false,
      lastActive: this.clock.now(),
      infos: [],
      lossySeen: [],
    };
    c.peers.set(peerNumber, peer);
    c.closestChanged = true;
    if (notify) this.events.onPeerListChanged?.(c.number);
    return peer;
  }

  /** `note_peer_active`: refresh, or thaw a frozen peer. */
  private notePeerActive(c: Conf, peerNumber: number): Peer | undefined {
    const p = c.peers.get(peerNumber);
    if (p !== undefined) {
      p.lastActive = this.clock.now();
      return p;
    }
    const f = c.frozen.get(peerNumber);
    if (f === undefined) return undefined;
    c.frozen.delete(peerNumber);
    f.tempPkUpdated = false;
    f.lastActive = this.clock.now();
    c.peers.set(peerNumber, f);
    c.closestChanged = true;
    c.needSendName = true;
    this.events.onPeerListChanged?.(c.number);
    return f;
  }

  private delPeer(c: Conf, p: Peer): void {
    if (c.peers.get(p.peerNumber) !== p) return;
    c.peers.delete(p.peerNumber);
    c.closestChanged = true;
    const conn = c.conns.get(p.hex);
    if (conn !== undefined) this.dropConn(c, conn);
    this.events.onPeerListChanged?.(c.number);
  }

  private freezePeer(c: Conf, p: Peer): void {
    this.delPeer(c, p);
    c.frozen.set(p.peerNumber, p);
    this.trySendRejoin(c, p.realPk);
    if (c.frozen.size > MAX_FROZEN) {
      const oldest = [...c.frozen.values()].sort((a, b) => a.lastActive - b.lastActive)[0]!;
      c.frozen.delete(oldest.peerNumber);
    }
  }

  private setNick(c: Conf, p: Peer, nick: Uint8Array): void {
    p.nickUpdated = true;
    if (bytesEqual(p.nick, nick)) return;
    p.nick = Uint8Array.from(nick);
    this.events.onPeerName?.(c.number, this.view(c, p), decoder.decode(nick));
  }

  private setTitleFrom(c: Conf, from: Peer | undefined, title: Uint8Array): boolean {
    if (title.length === 0 || title.length > MAX_CONFERENCE_NAME_LENGTH) return false;
    if (bytesEqual(title, c.title)) return true;
    c.title = Uint8Array.from(title);
    c.titleFresh = true;
    this.events.onTitle?.(c.number, from && this.view(c, from), decoder.decode(title));
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // Messages

  private handleMessage(
    c: Conf,
    conn: Conn,
    p: Extract<ConferencePacket, { type: "message" }>,
    raw: Uint8Array,
  ): void {
    const body = p.body;
    const sender =
      body.kind === "freezePeer" ? c.peers.get(p.peerNumber) : this.notePeerActive(c, p.peerNumber);
    if (sender === undefined) {
      // They would not relay it without knowing the sender: ask them for the list.
      if (body.kind !== "freezePeer" && conn.online)
        this.sendDirect(c, conn, { type: "peerQuery", groupNumber: conn.otherNumber });
      return;
    }
    if (this.countIntroducers(c) > 0 && this.countOnline(c) > DESIRED_CLOSEST) {
      // Relayed by someone else: the introduction of the sender worked.
      const intro = c.conns.get(sender.hex);
      if (intro !== undefined && intro !== conn && (intro.reasons & REASON_INTRODUCER) !== 0)
        this.removeReason(c, intro, REASON_INTRODUCER);
    }
    const messageId = serializeMessageBody(body).messageId;
    if (!acceptMessage(sender, p.messageNumber, messageId)) return;
    const directFromSender = conn.hex === sender.hex;
    switch (body.kind) {
      case "ping":
        break;
      case "newPeer":
        this.addPeer(c, body.realPk, body.tempPk, body.peerNumber, true);
        break;
      case "killPeer":
      case "freezePeer":
        // Only a peer itself may leave; and nobody on the network can remove us from our list
        // (an echo of our own KILL, or a forged one, would otherwise delete our own entry).
        if (body.peerNumber !== p.peerNumber || sender.hex === this.selfHex) return;
        if (body.kind === "killPeer") {
          const view = this.view(c, sender);
          this.delPeer(c, sender);
          this.events.onPeerLeft?.(c.number, view);
        } else this.freezePeer(c, sender);
        break;
      case "name":
        this.setNick(c, sender, body.name);
        break;
      case "title":
        if (!this.setTitleFrom(c, sender, body.title)) return;
        break;
      case "message":
      case "action":
        this.events.onMessage?.(
          c.number,
          this.view(c, sender),
          body.kind === "action" ? "action" : "normal",
          decoder.decode(body.text),
        );
        break;
      case "other":
        return;
    }
    this.relay(c, raw.subarray(3), directFromSender ? undefined : conn);
  }

  /**
   * `handle_lossy`: AV conferences only. New lossy packets are passed on to our other online
   * connections (members reached only through us would miss the audio otherwise); a short
   * window of recent numbers per sender stops loops. group.c sends to 2 of the ring neighbours
   * only; sending to all of them costs more packets but reaches the same members.
   */
  private handleLossy(
    c: Conf,
    conn: Conn,
    p: Extract<ConferencePacket, { type: "lossy" }>,
    raw: Uint8Array,
  ): void {
    if (c.type !== CONFERENCE_TYPE_AV || p.peerNumber === c.peerNumber) return;
    const peer = c.peers.get(p.peerNumber);
    if (peer === undefined || peer.lossySeen.includes(p.lossyNumber)) return;
    peer.lossySeen.push(p.lossyNumber);
    if (peer.lossySeen.length > LOSSY_WINDOW) peer.lossySeen.shift();
    this.relayLossy(c, raw.subarray(3), conn);
    this.events.onLossy?.(c.number, this.view(c, peer), p.lossyType, p.data);
  }

  private relayLossy(c: Conf, tail: Uint8Array, except: Conn | undefined): number {
    let sent = 0;
    for (const conn of c.conns.values()) {
      if (!conn.online || conn === except) continue;
      const pkt = new Uint8Array(3 + tail.length);
      pkt[0] = PACKET_ID_LOSSY_CONFERENCE;
      pkt[1] = conn.otherNumber >>> 8;
      pkt[2] = conn.otherNumber & 0xff;
      pkt.set(tail, 3);
      if (this.transport.sendLossy?.(conn.pk, pkt)) sent++;
    }
    return sent;
  }

  /** `send_message_group`: numbers our message and floods it; the number used. */
  private sendGroupMessage(c: Conf, body: GroupMessageBody): number {
    c.messageNumber = (c.messageNumber + 1) >>> 0;
    if (c.messageNumber === 0) c.messageNumber = 1;
    const pkt = serializeConferencePacket({
      type: "message",
      groupNumber: 0,
      peerNumber: c.peerNumber,
      messageNumber: c.messageNumber,
      body,
    });
    this.relay(c, pkt.subarray(3), undefined);
    return c.messageNumber;
  }

  /** `send_message_all_connections`: `tail` is the message after id and group number. */
  private relay(c: Conf, tail: Uint8Array, except: Conn | undefined): number {
    let sent = 0;
    for (const conn of c.conns.values()) {
      if (!conn.online || conn === except) continue;
      const pkt = new Uint8Array(3 + tail.length);
      pkt[0] = PACKET_ID_MESSAGE_CONFERENCE;
      pkt[1] = conn.otherNumber >>> 8;
      pkt[2] = conn.otherNumber & 0xff;
      pkt.set(tail, 3);
      if (this.transport.sendLossless(conn.pk, pkt) !== -1) sent++;
    }
    return sent;
  }

  private sendPeers(c: Conf, conn: Conn): void {
    const entries = [...c.peers.values()].map((p) => ({
      peerNumber: p.peerNumber,
      realPk: p.realPk,
      tempPk: p.hex === this.selfHex ? this.opts.selfDhtPk() : p.tempPk,
      nick: p.nick,
    }));
    for (const chunk of chunkPeerEntries(entries))
      if (!this.sendDirect(c, conn, { type: "peerResponse", groupNumber: conn.otherNumber, peers: chunk }))
        return;
    if (c.title.length > 0)
      this.sendDirect(c, conn, { type: "directTitle", groupNumber: conn.otherNumber, title: c.title });
  }

  private sendDirect(_c: Conf, conn: Conn, p: ConferencePacket): boolean {
    return this.transport.sendLossless(conn.pk, serializeConferencePacket(p)) !== -1;
  }

  // -------------------------------------------------------------------------------------------

  private checkSendable(c: Conf): void {
    if (!c.connected || this.countOnline(c) === 0)
      throw err("no-connection", "no conference peer is reachable right now", { conference: c.number });
  }

  private countIntroducers(c: Conf): number {
    let n = 0;
    for (const conn of c.conns.values()) if ((conn.reasons & REASON_INTRODUCER) !== 0) n++;
    return n;
  }

  private parse(peerPk: Uint8Array, data: Uint8Array): ConferencePacket | undefined {
    const parsed = parseConferencePacket(data);
    if (!parsed.ok) {
      this.events.log?.(
        { peer: toHex(peerPk).slice(0, 16), id: data[0], err: parsed.error.message },
        "conference: bad packet",
      );
      return undefined;
    }
    return parsed.value;
  }

  private newConf(type: number, id: Uint8Array): Conf {
    let number = 0;
    while (this.confs.has(number)) number++;
    if (number > 0xffff) throw err("too-many", "no free conference number");
    const c: Conf = {
      number,
      type,
      id,
      connected: false,
      peerNumber: 0,
      messageNumber: 0,
      lossyNumber: 0,
      title: new Uint8Array(0),
      titleFresh: false,
      peers: new Map(),
      frozen: new Map(),
      conns: new Map(),
      closest: [],
      closestChanged: false,
      lastPingAt: Number.NEGATIVE_INFINITY,
      needSendName: false,
    };
    this.confs.set(number, c);
    return c;
  }

  private byId(type: number, id: Uint8Array): Conf | undefined {
    for (const c of this.confs.values()) if (c.type === type && bytesEqual(c.id, id)) return c;
    return undefined;
  }

  private peerByPk(c: Conf, hex: string): Peer | undefined {
    for (const p of c.peers.values()) if (p.hex === hex) return p;
    return undefined;
  }

  private mustGet(conference: number): Conf {
    const c = this.confs.get(conference);
    if (c === undefined) throw err("conference-not-found", "no such conference", { conference });
    return c;
  }

  private view(c: Conf, p: Peer): ConferencePeer {
    return {
      peerNumber: p.peerNumber,
      publicKey: p.realPk,
      name: decoder.decode(p.nick),
      self: p.peerNumber === c.peerNumber && p.hex === this.selfHex,
    };
  }

  private selfNameBytes(): Uint8Array {
    return encoder.encode(this.opts.selfName()).subarray(0, MAX_CONFERENCE_NAME_LENGTH);
  }
}

function freeze(c: Conf): GroupMessageBody {
  return { kind: "freezePeer", peerNumber: c.peerNumber };
}

function cmpBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * `check_message_info`: accept a message number not seen among the sender's last 8 and not
 * older than all of them; names and titles older than the newest of their kind are dropped.
 */
function acceptMessage(peer: Peer, num: number, id: number): boolean {
  const ignoreOlder = id === 48 || id === 49;
  let i = 0;
  for (; i < peer.infos.length; i++) {
    const info = peer.infos[i]!;
    // num is newer than this entry (u32 sequence arithmetic).
    if ((num - (info.num + 1)) >>> 0 <= 0x80000000) break;
    if (num === info.num) return false;
    if (ignoreOlder && id === info.id) return false;
  }
  if (i === MAX_LAST_MESSAGE_INFOS) return false;
  peer.infos.splice(i, 0, { num, id });
  if (peer.infos.length > MAX_LAST_MESSAGE_INFOS) peer.infos.length = MAX_LAST_MESSAGE_INFOS;
  return true;
}

export { CONFERENCE_TYPE_AV, CONFERENCE_TYPE_TEXT, PACKET_ID_INVITE_CONFERENCE, PACKET_ID_LOSSY_CONFERENCE };
