/**
 * Messenger (c-toxcore Messenger.c, minus files/conferences/friend requests) for one identity:
 * the friend list, presence, texts and read receipts on top of friend_connection.
 *
 * Behaviour copied from 0.2.18 on purpose, because peers and clients depend on it:
 * - When a session comes up we send ONLINE; a friend counts as online only once its ONLINE
 *   arrives, and we answer that ONLINE with another (`m_handle_status` / `m_handle_packet`).
 *   Every packet before ONLINE is ignored.
 * - On going online we (re)send name, status message, user status and typing state, in that
 *   order (`do_friends`); qTox shows a friend offline until USERSTATUS arrives.
 * - Message ids count per friend from 1 (`++message_id`, u32, never reset while the friend
 *   exists). A receipt is the net_crypto ack of the packet: it fires once the peer's
 *   buffer_start passes the message's packet number, in send order (`do_receipts`). Receipts
 *   still pending when the friend goes offline never fire (`clear_receipts`); we report those
 *   ids with the offline event so an outbox knows to resend them.
 *
 * Like c-toxcore, texts and presence bypass net_crypto congestion control (they are small and
 * latency matters); only a full send buffer holds them back.
 *
 * Deliberate differences: a full send buffer does not fail a send (c-toxcore returns SENDQ);
 * the message gets its id now and is written, in order, as room opens, even across a
 * reconnect. Sending to an offline friend fails like c-toxcore (FRIEND_NOT_CONNECTED).
 */
import { bytesEqual, keyHex, toHex } from "../bytes.js";
import type { Clock } from "../clock.js";
import { ToxProtocolError } from "../errors.js";
import { LazyMap } from "../lazy-collections.js";
import {
  MAX_MESSAGE_LENGTH,
  MAX_NAME_LENGTH,
  MAX_STATUSMESSAGE_LENGTH,
  type MessageKind,
  type MessengerPacket,
  parseMessengerPacket,
  serializeMessengerPacket,
  type UserStatus,
} from "./packets.js";
import { splitMessageBytes } from "./split.js";

/** What the Messenger needs below it (implemented by FriendConnections). */
export interface MessengerTransport {
  /**
   * Packet number, or -1 when not connected or the send window is full. Messenger passes
   * `congestionControl = false` like c-toxcore does for texts and presence.
   */
  sendLossless(peerPk: Uint8Array, data: Uint8Array, congestionControl?: boolean): number;
  /** Free net_crypto send-window slots towards the peer (optional; extensions use it for flow control). */
  windowFree?(peerPk: Uint8Array): number;
}

/**
 * A module living on top of the Messenger (file transfers, later conferences): it owns some
 * lossless packet ids and hears about friends going online/offline, acks and ticks. Packets of
 * its ids reach it only while the friend is online (after ONLINE), as in `m_handle_packet`.
 */
export interface MessengerExtension {
  readonly packetIds: readonly number[];
  /** A whole lossless payload (id byte first) from an online friend. */
  handlePacket(peerPk: Uint8Array, data: Uint8Array): void;
  /** The friend came online (ONLINE exchanged) or went offline / was removed. */
  handleOnline?(peerPk: Uint8Array, online: boolean): void;
  /** The peer's buffer_start moved (see NetCryptoEvents.onAcked). */
  handleAcked?(peerPk: Uint8Array, bufferStart: number): void;
  tick?(): void;
  nextTickIn?(): number;
}

/** Reported when the transport cannot tell: extensions then send until a send fails (window full). */
const UNKNOWN_WINDOW_FREE = 1 << 16;

export interface MessengerEvents {
  /** Friend came online (ONLINE exchanged) or went offline; `unconfirmed`: ids whose receipt is lost. */
  onConnection(peerPk: Uint8Array, online: boolean, unconfirmed: number[]): void;
  onMessage(peerPk: Uint8Array, kind: MessageKind, text: string, raw: Uint8Array): void;
  onReadReceipt(peerPk: Uint8Array, messageId: number): void;
  onName(peerPk: Uint8Array, name: string): void;
  onStatusMessage(peerPk: Uint8Array, message: string): void;
  onStatus(peerPk: Uint8Array, status: UserStatus): void;
  onTyping(peerPk: Uint8Array, typing: boolean): void;
  /** Lossless packets for other modules (files 80–82, conferences 96–100, custom 160–191...). */
  onOtherPacket?(peerPk: Uint8Array, id: number, data: Uint8Array): void;
  log?(obj: Record<string, unknown>, msg: string): void;
}

export interface MessengerOptions {
  clock: Clock;
  transport: MessengerTransport;
  events: MessengerEvents;
  name?: string;
  statusMessage?: string;
  status?: UserStatus;
}

/** Public view of a friend. */
export interface FriendState {
  publicKey: Uint8Array;
  connected: boolean;
  online: boolean;
  name: string;
  statusMessage: string;
  status: UserStatus;
  typing: boolean;
  /** Our typing state towards this friend. */
  userTyping: boolean;
  /** Messages accepted but not yet written (send window full). */
  queued: number;
  /** Messages written whose receipt has not fired. */
  awaitingReceipt: number;
  /** Unix seconds when last seen online (now while online; 0 = never), as c-toxcore's last_seen_time. */
  lastSeen: number;
}

interface Receipt {
  packetNum: number;
  messageId: number;
}

interface Friend {
  pk: Uint8Array;
  connected: boolean;
  online: boolean;
  name: string;
  statusMessage: string;
  status: UserStatus;
  typing: boolean;
  userTyping: boolean;
  nameSent: boolean;
  statusMessageSent: boolean;
  statusSent: boolean;
  typingSent: boolean;
  messageId: number;
  receipts: Receipt[];
  outbox: Array<{ packet: Uint8Array; messageId: number }>;
  lastSeen: number;
}

const encoder = new TextEncoder();
/** Peers may send invalid UTF-8; show replacement characters rather than dropping the text. */
const decoder = new TextDecoder("utf-8", { fatal: false });

function errorCode(code: string, message: string, ctx: Record<string, unknown> = {}): ToxProtocolError {
  return new ToxProtocolError(message, { code, ...ctx });
}

/** True when packet `num` lies below `bufferStart` in u32 sequence space (`cryptpacket_received`). */
export function packetAcked(num: number, bufferStart: number): boolean {
  const d = (bufferStart - num) >>> 0;
  return d !== 0 && d <= 0x80000000;
}

export class Messenger {
  private readonly clock: Clock;
  private readonly transport: MessengerTransport;
  private readonly events: MessengerEvents;
  private readonly friends = new LazyMap<string, Friend>();
  private name: Uint8Array;
  private statusMessage: Uint8Array;
  private status: UserStatus;
  /** Few (files, conferences): found by a scan of their ids, no per-identity id map. */
  private readonly extensions: MessengerExtension[] = [];

  constructor(opts: MessengerOptions) {
    this.clock = opts.clock;
    this.transport = opts.transport;
    this.events = opts.events;
    this.name = checkedBytes(opts.name ?? "", MAX_NAME_LENGTH, "name");
    this.statusMessage = checkedBytes(opts.statusMessage ?? "", MAX_STATUSMESSAGE_LENGTH, "status message");
    this.status = opts.status ?? "none";
  }

  // -------------------------------------------------------------------------------------------
  // Extensions (files, ...)

  /** Hands the extension its packet ids (which must not be Messenger's own or already taken). */
  attach(ext: MessengerExtension): void {
    for (const id of ext.packetIds) {
      if (this.extensionFor(id) !== undefined)
        throw errorCode("packet-id-taken", "packet id already has an extension", { id });
    }
    this.extensions.push(ext);
  }

  private extensionFor(packetId: number): MessengerExtension | undefined {
    for (const ext of this.extensions) if (ext.packetIds.includes(packetId)) return ext;
    return undefined;
  }

  /**
   * Sends a raw lossless packet (id byte first) to an online friend; its net_crypto packet
   * number, or -1 when the friend is not online or the window is full. Congestion control is
   * on by default (c-toxcore sends file data that way).
   */
  sendPacket(pk: Uint8Array, data: Uint8Array, congestionControl = true): number {
    const f = this.friends.get(keyHex(pk));
    if (f === undefined || !f.online) return -1;
    return this.transport.sendLossless(f.pk, data, congestionControl);
  }

  /** Free send-window slots towards an online friend (0 when offline). */
  sendWindowFree(pk: Uint8Array): number {
    const f = this.friends.get(keyHex(pk));
    if (f === undefined || !f.online) return 0;
    return this.transport.windowFree?.(f.pk) ?? UNKNOWN_WINDOW_FREE;
  }

  isOnline(pk: Uint8Array): boolean {
    return this.friends.get(keyHex(pk))?.online ?? false;
  }

  // -------------------------------------------------------------------------------------------
  // Self

  get selfName(): string {
    return decoder.decode(this.name);
  }
  get selfStatusMessage(): string {
    return decoder.decode(this.statusMessage);
  }
  get selfStatus(): UserStatus {
    return this.status;
  }

  setName(name: string): void {
    const bytes = checkedBytes(name, MAX_NAME_LENGTH, "name");
    if (bytesEqual(bytes, this.name)) return;
    this.name = bytes;
    for (const f of this.friends.values()) f.nameSent = false;
    this.flushAll();
  }

  setStatusMessage(message: string): void {
    const bytes = checkedBytes(message, MAX_STATUSMESSAGE_LENGTH, "status message");
    if (bytesEqual(bytes, this.statusMessage)) return;
    this.statusMessage = bytes;
    for (const f of this.friends.values()) f.statusMessageSent = false;
    this.flushAll();
  }

  setStatus(status: UserStatus): void {
    if (status === this.status) return;
    this.status = status;
    for (const f of this.friends.values()) f.statusSent = false;
    this.flushAll();
  }

  // -------------------------------------------------------------------------------------------
  // Friends

  addFriend(pk: Uint8Array): void {
    const hex = keyHex(pk);
    if (this.friends.has(hex)) return;
    this.friends.set(hex, {
      pk: Uint8Array.from(pk),
      connected: false,
      online: false,
      name: "",
      statusMessage: "",
      status: "none",
      typing: false,
      userTyping: false,
      nameSent: false,
      statusMessageSent: false,
      statusSent: false,
      typingSent: false,
      messageId: 0,
      receipts: [],
      outbox: [],
      lastSeen: 0,
    });
  }

  /**
   * Restores what a save file keeps of a friend (name, status message, user status, last
   * seen), so a restored identity shows them before the friend comes online.
   */
  restoreFriend(
    pk: Uint8Array,
    saved: { name: string; statusMessage: string; status: UserStatus; lastSeen: number },
  ): void {
    this.addFriend(pk);
    const f = this.friends.get(keyHex(pk))!;
    f.name = saved.name;
    f.statusMessage = saved.statusMessage;
    f.status = saved.status;
    f.lastSeen = saved.lastSeen;
  }

  /** Forgets a friend; tells it with OFFLINE first when online (`m_delfriend`). */
  removeFriend(pk: Uint8Array): void {
    const f = this.friends.get(keyHex(pk));
    if (f === undefined) return;
    if (f.connected) this.transport.sendLossless(f.pk, serializeMessengerPacket({ type: "offline" }), false);
    this.friends.delete(keyHex(pk));
    if (f.online) for (const ext of this.extensions) ext.handleOnline?.(f.pk, false);
  }

  hasFriend(pk: Uint8Array): boolean {
    return this.friends.has(keyHex(pk));
  }

  friendPublicKeys(): Uint8Array[] {
    return [...this.friends.values()].map((f) => f.pk);
  }

  friend(pk: Uint8Array): FriendState | undefined {
    const f = this.friends.get(keyHex(pk));
    if (f === undefined) return undefined;
    return {
      publicKey: f.pk,
      connected: f.connected,
      online: f.online,
      name: f.name,
      statusMessage: f.statusMessage,
      status: f.status,
      typing: f.typing,
      userTyping: f.userTyping,
      queued: f.outbox.length,
      awaitingReceipt: f.receipts.length,
      lastSeen: f.online ? this.clock.unixSeconds() : f.lastSeen,
    };
  }

  setTyping(pk: Uint8Array, typing: boolean): void {
    const f = this.mustGet(pk);
    if (f.userTyping === typing) return;
    f.userTyping = typing;
    f.typingSent = false;
    this.flush(f);
  }

  /**
   * Sends a text, split into ≤1372-byte pieces on UTF-8 boundaries; returns one message id per
   * piece, in order. Throws ToxProtocolError (code "friend-not-found" | "friend-not-connected" |
   * "empty").
   */
  sendMessage(pk: Uint8Array, text: string | Uint8Array, kind: MessageKind = "normal"): number[] {
    const f = this.mustGet(pk);
    const bytes = typeof text === "string" ? encoder.encode(text) : text;
    if (bytes.length === 0) throw errorCode("empty", "message is empty", { friend: toHex(pk) });
    if (!f.online) throw errorCode("friend-not-connected", "friend is not online", { friend: toHex(pk) });
    const ids: number[] = [];
    for (const piece of splitMessageBytes(bytes, MAX_MESSAGE_LENGTH)) {
      f.messageId = (f.messageId + 1) >>> 0;
      const packet = serializeMessengerPacket({ type: "message", kind, text: piece });
      f.outbox.push({ packet, messageId: f.messageId });
      ids.push(f.messageId);
    }
    this.flush(f);
    return ids;
  }

  // -------------------------------------------------------------------------------------------
  // Input from friend_connection

  handleConnection(pk: Uint8Array, up: boolean): void {
    const f = this.friends.get(keyHex(pk));
    if (f === undefined) return;
    f.connected = up;
    if (up) {
      this.transport.sendLossless(f.pk, serializeMessengerPacket({ type: "online" }), false);
    } else {
      this.goOffline(f);
    }
  }

  handlePacket(pk: Uint8Array, data: Uint8Array): void {
    const f = this.friends.get(keyHex(pk));
    if (f === undefined) return;
    if (f.online && data.length > 0) {
      const ext = this.extensionFor(data[0]!);
      if (ext !== undefined) {
        ext.handlePacket(f.pk, data);
        return;
      }
    }
    const parsed = parseMessengerPacket(data);
    if (!parsed.ok) {
      this.events.log?.(
        { friend: toHex(pk).slice(0, 16), err: parsed.error.message },
        "messenger: bad packet",
      );
      return;
    }
    const p = parsed.value;
    if (!f.online) {
      if (p.type !== "online") return;
      this.goOnline(f);
      this.transport.sendLossless(f.pk, serializeMessengerPacket({ type: "online" }), false);
      this.flush(f);
      return;
    }
    this.dispatch(f, p);
  }

  handleAcked(pk: Uint8Array, bufferStart: number): void {
    const f = this.friends.get(keyHex(pk));
    if (f === undefined) return;
    let fired = 0;
    while (fired < f.receipts.length && packetAcked(f.receipts[fired]!.packetNum, bufferStart)) fired++;
    if (fired > 0) {
      const done = f.receipts.splice(0, fired);
      for (const r of done) this.events.onReadReceipt(f.pk, r.messageId);
    }
    this.flush(f);
    for (const ext of this.extensions) ext.handleAcked?.(f.pk, bufferStart);
  }

  /** Retries whatever a full window held back. */
  tick(): void {
    this.flushAll();
    for (const ext of this.extensions) ext.tick?.();
  }

  /** Work is pending only when something is queued; acks drive it otherwise. */
  nextTickIn(): number {
    let next = 1000;
    for (const ext of this.extensions) next = Math.min(next, ext.nextTickIn?.() ?? next);
    for (const f of this.friends.values()) if (f.online && hasPending(f)) return Math.min(next, 50);
    return next;
  }

  // -------------------------------------------------------------------------------------------

  private dispatch(f: Friend, p: MessengerPacket): void {
    switch (p.type) {
      case "online":
        return; // already online: c-toxcore ignores it too
      case "offline":
        this.goOffline(f);
        return;
      case "nickname":
        f.name = decoder.decode(p.name);
        this.events.onName(f.pk, f.name);
        return;
      case "statusMessage":
        f.statusMessage = decoder.decode(p.message);
        this.events.onStatusMessage(f.pk, f.statusMessage);
        return;
      case "userStatus":
        f.status = p.status;
        this.events.onStatus(f.pk, p.status);
        return;
      case "typing":
        f.typing = p.typing;
        this.events.onTyping(f.pk, p.typing);
        return;
      case "message":
        this.events.onMessage(f.pk, p.kind, decoder.decode(p.text), p.text);
        return;
      case "other":
        this.events.onOtherPacket?.(f.pk, p.id, p.data);
        return;
    }
  }

  private goOnline(f: Friend): void {
    f.online = true;
    f.nameSent = false;
    f.statusMessageSent = false;
    f.statusSent = false;
    f.typingSent = false;
    this.events.onConnection(f.pk, true, []);
    for (const ext of this.extensions) ext.handleOnline?.(f.pk, true);
  }

  private goOffline(f: Friend): void {
    if (!f.online) return;
    f.online = false;
    f.typing = false;
    f.lastSeen = this.clock.unixSeconds();
    const unconfirmed = f.receipts.map((r) => r.messageId);
    f.receipts = [];
    this.events.onConnection(f.pk, false, unconfirmed);
    for (const ext of this.extensions) ext.handleOnline?.(f.pk, false);
  }

  private flushAll(): void {
    for (const f of this.friends.values()) if (f.online) this.flush(f);
  }

  /** `do_friends` for one friend: presence packets first, then queued messages in order. */
  private flush(f: Friend): void {
    if (!f.online) return;
    const send = (p: MessengerPacket) =>
      this.transport.sendLossless(f.pk, serializeMessengerPacket(p), false);
    if (!f.nameSent && send({ type: "nickname", name: this.name }) !== -1) f.nameSent = true;
    if (!f.statusMessageSent && send({ type: "statusMessage", message: this.statusMessage }) !== -1)
      f.statusMessageSent = true;
    if (!f.statusSent && send({ type: "userStatus", status: this.status }) !== -1) f.statusSent = true;
    if (!f.typingSent && send({ type: "typing", typing: f.userTyping }) !== -1) f.typingSent = true;
    while (f.outbox.length > 0) {
      const next = f.outbox[0]!;
      const num = this.transport.sendLossless(f.pk, next.packet, false);
      if (num === -1) break;
      f.outbox.shift();
      f.receipts.push({ packetNum: num, messageId: next.messageId });
    }
  }

  private mustGet(pk: Uint8Array): Friend {
    const f = this.friends.get(keyHex(pk));
    if (f === undefined) throw errorCode("friend-not-found", "no such friend", { friend: toHex(pk) });
    return f;
  }
}

function hasPending(f: Friend): boolean {
  return f.outbox.length > 0 || !f.nameSent || !f.statusMessageSent || !f.statusSent || !f.typingSent;
}

/** Shared by every empty name and status message (a zero-length array cannot be written). */
const NO_BYTES = new Uint8Array(0);

function checkedBytes(text: string, max: number, what: string): Uint8Array {
  if (text === "") return NO_BYTES;
  const bytes = encoder.encode(text);
  if (bytes.length > max) throw errorCode("too-long", `${what} over ${max} bytes`, { length: bytes.length });
  return bytes;
}
