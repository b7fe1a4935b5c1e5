/**
 * Test harness: a real c-toxcore 0.2.18 instance (Debian libtoxcore.so.2) driven in-process
 * through koffi. Many peers per process are fine.
 *
 * Callbacks: one koffi trampoline per callback kind is shared by every live peer and routes by the
 * `Tox *` address (koffi has a fixed pool of callback slots, so per-peer trampolines would not
 * scale). The trampolines are registered when the first peer is created and unregistered when the
 * last one is killed; `kill()` also clears the peer's C-side callbacks before `tox_kill`.
 *
 * Iteration: each peer iterates itself on a timer at the delay `tox_iteration_interval` asks for
 * (setImmediate when it asks for 0), unless created with `autoIterate: false`. Note that 0.2.18
 * asks for a constant 50 ms, idle or busy, so event latency is up to 50 ms; `iterateEveryMs`
 * overrides the cadence where a test wants that faster.
 *
 * Events fire synchronously inside `tox_iterate`, so a listener may call back into the peer (e.g.
 * accept a friend request). An exception thrown by a listener is caught (it must not unwind through
 * C) and re-emitted as "error" once `tox_iterate` returns.
 *
 * Typical use (pick ports from your own range; always kill, e.g. in afterEach/onTestFinished):
 *
 *   const d = await startBootstrapd({ port: 34100 });            // ./bootstrapd.ts
 *   const c = await CToxPeer.create({ startPort: 34000, endPort: 34019, name: "C" });
 *   c.bootstrap(d.host, d.port, d.publicKey);
 *   c.friendAddNoRequest(ourRealPk);                              // or c.friendAdd(ourToxId, "hi")
 *   const [friend, , text] = await nextEvent(c, "friendMessage", 20_000);
 *   c.kill(); await d.stop();
 *
 * Direct, no daemon: `c.bootstrap("127.0.0.1", ourUdpPort, ourDhtPk)` or, C to C,
 * `a.bootstrapToPeer(b)`; `befriend(a, b)` does request + accept + wait-until-connected.
 */
import { EventEmitter } from "node:events";
import { bytesEqual, fromHex, toHex } from "../../src/tox/bytes.js";
import { waitUntil } from "../helpers/wait.js";
import {
  addressOf,
  type CallbackName,
  type CPointer,
  callbackProto,
  copyBytes,
  koffi,
  logProto,
  setCallback,
  tox,
} from "./libtoxcore.js";

export type ToxConnection = "none" | "tcp" | "udp";
export type ToxUserStatus = "none" | "away" | "busy";
export type ToxMessageType = "normal" | "action";
export type ToxFileControl = "resume" | "pause" | "cancel";
/** `Tox_File_Kind`: 0 = data, 1 = avatar. */
export const FILE_KIND_DATA = 0;
export const FILE_KIND_AVATAR = 1;
export type ToxLogLevel = "trace" | "debug" | "info" | "warning" | "error";

const CONNECTIONS: readonly ToxConnection[] = ["none", "tcp", "udp"];
const USER_STATUSES: readonly ToxUserStatus[] = ["none", "away", "busy"];
const MESSAGE_TYPES: readonly ToxMessageType[] = ["normal", "action"];
const FILE_CONTROLS: readonly ToxFileControl[] = ["resume", "pause", "cancel"];
const LOG_LEVELS: readonly ToxLogLevel[] = ["trace", "debug", "info", "warning", "error"];

/** `Tox_Err_Friend_Send_Message` / `Tox_Err_Friend_Custom_Packet` value for "send queue full". */
export const SEND_MESSAGE_SENDQ = 4;
export const CUSTOM_PACKET_SENDQ = 7;

const SAVEDATA_TYPE_TOX_SAVE = 1;
const SAVEDATA_TYPE_SECRET_KEY = 2;
const ADDRESS_SIZE = 38;
const KEY_SIZE = 32;
const MAX_U32 = 0xffffffff;

/** A failed libtoxcore call: which function, for which peer, and its `Tox_Err_*` code. */
export class CToxError extends Error {
  constructor(
    readonly fn: string,
    readonly code: number,
    context: string,
  ) {
    super(`${fn} failed with error code ${code} (${context})`);
    this.name = "CToxError";
  }
}

export interface CToxPeerOptions {
  /** UDP on (default). Off = TCP-only: reach the network via `addTcpRelay` + `bootstrap`. */
  udp?: boolean;
  ipv6?: false;
  localDiscovery?: false;
  holePunching?: boolean;
  /** UDP port range tried in order (c-toxcore default 33445–33545); pick from your own range. */
  startPort?: number;
  endPort?: number;
  /** Run a TCP relay server inside this client on this port (0/absent = none). */
  tcpPort?: number;
  /** A `tox_get_savedata` profile to load. */
  savedata?: Uint8Array;
  /** Or just a 32-byte secret key: a fixed identity with an empty profile (ignored with savedata). */
  secretKey?: Uint8Array;
  name?: string;
  statusMessage?: string;
  /** Label used in error messages and log lines. */
  label?: string;
  /**
   * Capture c-toxcore's own log lines at or above this level (`true` = "debug"). Off by default.
   * The Debian 0.2.18 build only emits WARNING and ERROR lines (lower levels are compiled out).
   */
  log?: boolean | ToxLogLevel;
  /** Keep at most this many log lines (oldest dropped). Default 20,000. */
  logCapacity?: number;
  /** Iterate on a timer (default true). With false, call `iterate()` yourself. */
  autoIterate?: boolean;
  /** Iterate every this many ms instead of what `tox_iteration_interval` asks (0 = setImmediate). */
  iterateEveryMs?: number;
}

export interface ToxLogLine {
  level: ToxLogLevel;
  file: string;
  line: number;
  func: string;
  message: string;
}

export interface CToxPeerEvents {
  selfConnectionStatus: [status: ToxConnection];
  friendRequest: [publicKey: Uint8Array, message: string];
  friendConnectionStatus: [friend: number, status: ToxConnection];
  friendMessage: [friend: number, type: ToxMessageType, text: string];
  friendReadReceipt: [friend: number, messageId: number];
  friendName: [friend: number, name: string];
  friendStatusMessage: [friend: number, message: string];
  friendStatus: [friend: number, status: ToxUserStatus];
  friendTyping: [friend: number, typing: boolean];
  friendLosslessPacket: [friend: number, data: Uint8Array];
  friendLossyPacket: [friend: number, data: Uint8Array];
  fileRecv: [friend: number, file: number, kind: number, size: number, filename: string];
  fileRecvChunk: [friend: number, file: number, position: number, data: Uint8Array];
  fileChunkRequest: [friend: number, file: number, position: number, length: number];
  fileRecvControl: [friend: number, file: number, control: ToxFileControl];
  conferenceInvite: [friend: number, type: "text" | "av", cookie: Uint8Array];
  conferenceConnected: [conference: number];
  conferenceMessage: [conference: number, peer: number, type: ToxMessageType, text: string];
  conferencePeerListChanged: [conference: number];
  log: [line: ToxLogLine];
  error: [error: unknown];
}

const utf8 = new TextDecoder();
const encode = (s: string) => new TextEncoder().encode(s);
const text = (ptr: unknown, len: number | bigint) => utf8.decode(copyBytes(ptr, len));
const pick = <T>(table: readonly T[], i: number, fallback: T): T => table[i] ?? fallback;

/** Turns raw C callback arguments (after the `Tox *`) into an event emission on the peer. */
type Dispatcher = (peer: CToxPeer, args: unknown[]) => void;

const dispatchers: Record<CallbackName, Dispatcher> = {
  selfConnectionStatus: (p, [s]) =>
    p.emitSafely("selfConnectionStatus", pick(CONNECTIONS, s as number, "none")),
  friendRequest: (p, [pk, msg, len]) =>
    p.emitSafely("friendRequest", copyBytes(pk, KEY_SIZE), text(msg, len as number)),
  friendConnectionStatus: (p, [f, s]) =>
    p.emitSafely("friendConnectionStatus", f as number, pick(CONNECTIONS, s as number, "none")),
  friendMessage: (p, [f, t, msg, len]) =>
    p.emitSafely(
      "friendMessage",
      f as number,
      pick(MESSAGE_TYPES, t as number, "normal"),
      text(msg, len as number),
    ),
  friendReadReceipt: (p, [f, id]) => p.emitSafely("friendReadReceipt", f as number, id as number),
  friendName: (p, [f, name, len]) => p.emitSafely("friendName", f as number, text(name, len as number)),
  friendStatusMessage: (p, [f, msg, len]) =>
    p.emitSafely("friendStatusMessage", f as number, text(msg, len as number)),
  friendStatus: (p, [f, s]) =>
    p.emitSafely("friendStatus", f as number, pick(USER_STATUSES, s as number, "none")),
  friendTyping: (p, [f, typing]) => p.emitSafely("friendTyping", f as number, Boolean(typing)),
  friendLosslessPacket: (p, [f, data, len]) =>
    p.emitSafely("friendLosslessPacket", f as number, copyBytes(data, len as number)),
  friendLossyPacket: (p, [f, data, len]) =>
    p.emitSafely("friendLossyPacket", f as number, copyBytes(data, len as number)),
  fileRecv: (p, [f, file, kind, size, name, len]) =>
    p.emitSafely(
      "fileRecv",
      f as number,
      file as number,
      kind as number,
      Number(size),
      text(name, len as number),
    ),
  fileRecvChunk: (p, [f, file, pos, data, len]) =>
    p.emitSafely("fileRecvChunk", f as number, file as number, Number(pos), copyBytes(data, len as number)),
  fileChunkRequest: (p, [f, file, pos, len]) =>
    p.emitSafely("fileChunkRequest", f as number, file as number, Number(pos), Number(len)),
  fileRecvControl: (p, [f, file, c]) =>
    p.emitSafely("fileRecvControl", f as number, file as number, pick(FILE_CONTROLS, c as number, "cancel")),
  conferenceInvite: (p, [f, t, cookie, len]) =>
    p.emitSafely("conferenceInvite", f as number, t === 1 ? "av" : "text", copyBytes(cookie, len as number)),
  conferenceConnected: (p, [c]) => p.emitSafely("conferenceConnected", c as number),
  conferenceMessage: (p, [c, peer, t, msg, len]) =>
    p.emitSafely(
      "conferenceMessage",
      c as number,
      peer as number,
      pick(MESSAGE_TYPES, t as number, "normal"),
      text(msg, len as number),
    ),
  conferencePeerListChanged: (p, [c]) => p.emitSafely("conferencePeerListChanged", c as number),
};

const CALLBACK_NAMES = Object.keys(dispatchers) as CallbackName[];

/** Live peers by `Tox *` address; shared trampolines route through this. */
const live = new Map<bigint, CToxPeer>();
/** The peer whose `tox_new` is running: c-toxcore logs before we know its address. */
let creating: CToxPeer | null = null;
let trampolines: Map<CallbackName, bigint> | null = null;
let logTrampoline: bigint | null = null;

function acquireTrampolines(): Map<CallbackName, bigint> {
  if (trampolines) return trampolines;
  const made = new Map<CallbackName, bigint>();
  for (const name of CALLBACK_NAMES) {
    const dispatch = dispatchers[name];
    const fn = (toxPtr: unknown, ...args: unknown[]) => {
      const peer = live.get(addressOf(toxPtr));
      if (peer) dispatch(peer, args);
    };
    made.set(name, koffi.register(fn, koffi.pointer(callbackProto[name])));
  }
  logTrampoline = koffi.register(
    (toxPtr: unknown, level: number, file: string, line: number, func: string, message: string) => {
      const peer = (toxPtr ? live.get(addressOf(toxPtr)) : undefined) ?? creating;
      peer?.recordLog({ level: pick(LOG_LEVELS, level, "error"), file, line, func, message });
    },
    koffi.pointer(logProto),
  );
  trampolines = made;
  return made;
}

function releaseTrampolinesIfIdle(): void {
  if (live.size > 0 || creating || !trampolines) return;
  for (const t of trampolines.values()) koffi.unregister(t);
  if (logTrampoline !== null) koffi.unregister(logTrampoline);
  trampolines = null;
  logTrampoline = null;
}

/** Number of c-toxcore instances alive in this process (for leak checks in tests). */
export function liveCToxPeers(): number {
  return live.size;
}

/** The shared poll-until (test/helpers/wait.ts), re-exported so existing imports keep working. */
export { waitUntil };

let peerCounter = 0;

export class CToxPeer extends EventEmitter<CToxPeerEvents> {
  readonly label: string;
  /** The 38-byte Tox ID (public key, nospam, checksum) and its upper-case hex. */
  readonly address: Uint8Array;
  readonly addressHex: string;
  readonly publicKey: Uint8Array;
  readonly publicKeyHex: string;
  readonly secretKey: Uint8Array;
  /** DHT key (differs from the real key; changes every start). */
  readonly dhtId: Uint8Array;
  readonly udpPort: number;
  /** Port of the in-client TCP relay server, when `tcpPort` was given. */
  readonly tcpPort: number | undefined;
  /** Captured c-toxcore log lines (only with the `log` option). */
  readonly logLines: ToxLogLine[] = [];

  private ptr: CPointer | null = null;
  private key = 0n;
  private readonly autoIterate: boolean;
  private readonly iterateEveryMs: number | undefined;
  private timer: { cancel(): void } | undefined;
  private iterating = false;
  private killRequested = false;
  private readonly pendingErrors: unknown[] = [];
  private readonly logMinLevel: number;
  private readonly logCapacity: number;

  private constructor(opts: CToxPeerOptions) {
    super();
    this.label = opts.label ?? `ctox#${++peerCounter}`;
    this.autoIterate = opts.autoIterate ?? true;
    this.iterateEveryMs = opts.iterateEveryMs;
    const level = opts.log === true ? "debug" : opts.log || null;
    this.logMinLevel = level ? LOG_LEVELS.indexOf(level) : LOG_LEVELS.length;
    this.logCapacity = opts.logCapacity ?? 20_000;

    const cbs = acquireTrampolines();
    const err = [0];
    const options = tox.optionsNew(err);
    if (!options) throw new CToxError("tox_options_new", err[0]!, this.label);
    let savedata: unknown = null;
    try {
      tox.optionsSetIpv6(options, opts.ipv6 ?? false);
      tox.optionsSetUdp(options, opts.udp ?? true);
      tox.optionsSetLocalDiscovery(options, opts.localDiscovery ?? false);
      tox.optionsSetHolePunching(options, opts.holePunching ?? true);
      tox.optionsSetStartPort(options, opts.startPort ?? 33445);
      tox.optionsSetEndPort(options, opts.endPort ?? opts.startPort ?? 33545);
      tox.optionsSetTcpPort(options, opts.tcpPort ?? 0);
      const load = opts.savedata ?? opts.secretKey;
      if (load) {
        // tox_options keeps only the pointer: hold the bytes in C memory until tox_new returns.
        savedata = koffi.alloc("uint8_t", load.length);
        new Uint8Array(koffi.view(savedata, load.length)).set(load);
        tox.optionsSetSavedataType(
          options,
          opts.savedata ? SAVEDATA_TYPE_TOX_SAVE : SAVEDATA_TYPE_SECRET_KEY,
        );
        tox.optionsSetSavedataData(options, savedata, load.length);
      }
      if (level) tox.optionsSetLogCallback(options, logTrampoline);
      creating = this;
      this.ptr = tox.new(options, err) as CPointer | null;
    } finally {
      creating = null;
      tox.optionsFree(options);
      if (savedata) koffi.free(savedata);
    }
    if (!this.ptr) {
      releaseTrampolinesIfIdle();
      const logged = this.logLines.length ? `; c-toxcore said: ${this.logText()}` : "";
      throw new CToxError("tox_new", err[0]!, `${this.label}, ports ${opts.startPort ?? 33445}..${logged}`);
    }
    this.key = addressOf(this.ptr);
    live.set(this.key, this);
    for (const name of CALLBACK_NAMES) setCallback[name](this.ptr, cbs.get(name));

    this.address = new Uint8Array(ADDRESS_SIZE);
    tox.selfGetAddress(this.ptr, this.address);
    this.addressHex = toHex(this.address, true);
    this.publicKey = new Uint8Array(KEY_SIZE);
    tox.selfGetPublicKey(this.ptr, this.publicKey);
    this.publicKeyHex = toHex(this.publicKey);
    this.secretKey = new Uint8Array(KEY_SIZE);
    tox.selfGetSecretKey(this.ptr, this.secretKey);
    this.dhtId = new Uint8Array(KEY_SIZE);
    tox.selfGetDhtId(this.ptr, this.dhtId);
    this.udpPort = opts.udp === false ? 0 : (tox.selfGetUdpPort(this.ptr, err) as number);
    this.tcpPort = opts.tcpPort ? (tox.selfGetTcpPort(this.ptr, err) as number) : undefined;
    if (opts.name !== undefined) this.setName(opts.name);
    if (opts.statusMessage !== undefined) this.setStatusMessage(opts.statusMessage);
  }

  static async create(opts: CToxPeerOptions = {}): Promise<CToxPeer> {
    const peer = new CToxPeer(opts);
    if (peer.autoIterate) peer.schedule();
    return peer;
  }

  get alive(): boolean {
    return this.ptr !== null && !this.killRequested;
  }

  /** One `tox_iterate`; then surfaces listener errors and performs a kill requested from a listener. */
  iterate(): void {
    if (!this.ptr || this.iterating) return;
    this.iterating = true;
    try {
      tox.iterate(this.ptr, null);
    } finally {
      this.iterating = false;
    }
    if (this.killRequested) this.kill();
    for (const e of this.pendingErrors.splice(0)) this.emit("error", e);
  }

  /** What c-toxcore asks for as the delay until the next `tox_iterate`, in ms. */
  iterationInterval(): number {
    return this.ptr ? (tox.iterationInterval(this.ptr) as number) : 0;
  }

  private schedule(): void {
    if (!this.ptr) return;
    const ms = this.iterateEveryMs ?? this.iterationInterval();
    const run = () => {
      this.timer = undefined;
      try {
        this.iterate();
      } finally {
        // An unhandled "error" from a listener propagates, but the peer keeps iterating.
        this.schedule();
      }
    };
    if (ms <= 0) {
      const h = setImmediate(run);
      this.timer = { cancel: () => clearImmediate(h) };
    } else {
      const h = setTimeout(run, ms);
      this.timer = { cancel: () => clearTimeout(h) };
    }
  }

  /** Waits (while the peer iterates) until `pred()` holds; rejects after `timeoutMs`. */
  async pumpUntil(pred: () => boolean, timeoutMs: number, what = "condition"): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > deadline)
        throw new Error(`${this.label}: timed out after ${timeoutMs} ms waiting for ${what}`);
      if (!this.autoIterate) this.iterate();
      await new Promise((r) => setTimeout(r, this.autoIterate ? 5 : Math.max(1, this.iterationInterval())));
    }
  }

  /** Idempotent. Safe to call from inside an event listener (the kill then happens after iterate). */
  kill(): void {
    if (!this.ptr) return;
    if (this.iterating) {
      this.killRequested = true;
      return;
    }
    this.timer?.cancel();
    this.timer = undefined;
    const ptr = this.ptr;
    for (const name of CALLBACK_NAMES) setCallback[name](ptr, null);
    tox.kill(ptr);
    this.ptr = null;
    live.delete(this.key);
    releaseTrampolinesIfIdle();
  }

  // ---- called by the shared trampolines ----

  /** @internal Emits without letting a listener exception unwind through C. */
  emitSafely<K extends keyof CToxPeerEvents>(event: K, ...args: CToxPeerEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: CToxPeerEvents[K]) => boolean)(event, ...args);
    } catch (e) {
      this.pendingErrors.push(e);
    }
  }

  /** @internal */
  recordLog(line: ToxLogLine): void {
    if (LOG_LEVELS.indexOf(line.level) < this.logMinLevel) return;
    this.logLines.push(line);
    if (this.logLines.length > this.logCapacity)
      this.logLines.splice(0, this.logLines.length - this.logCapacity);
    this.emitSafely("log", line);
  }

  /** Log lines as `LEVEL file:line func: message` text, for dumping on failure. */
  logText(): string {
    return this.logLines
      .map((l) => `${l.level.toUpperCase()} ${l.file}:${l.line} ${l.func}: ${l.message}`)
      .join("\n");
  }

  // ---- self ----

  private get handle(): CPointer {
    if (!this.ptr) throw new Error(`${this.label}: c-toxcore instance already killed`);
    return this.ptr;
  }

  private check(fn: string, err: number[], context = ""): void {
    if (err[0] !== 0) throw new CToxError(fn, err[0]!, context ? `${this.label}, ${context}` : this.label);
  }

  bootstrap(host: string, port: number, publicKey: Uint8Array): void {
    const err = [0];
    tox.bootstrap(this.handle, host, port, publicKey, err);
    this.check("tox_bootstrap", err, `${host}:${port}`);
  }

  addTcpRelay(host: string, port: number, publicKey: Uint8Array): void {
    const err = [0];
    tox.addTcpRelay(this.handle, host, port, publicKey, err);
    this.check("tox_add_tcp_relay", err, `${host}:${port}`);
  }

  /** Bootstrap to another c-toxcore peer directly (its DHT key and UDP port on 127.0.0.1). */
  bootstrapToPeer(other: CToxPeer): void {
    this.bootstrap("127.0.0.1", other.udpPort, other.dhtId);
  }

  selfConnectionStatus(): ToxConnection {
    return pick(CONNECTIONS, tox.selfGetConnectionStatus(this.handle) as number, "none");
  }

  setName(name: string): void {
    const b = encode(name);
    const err = [0];
    tox.selfSetName(this.handle, b, b.length, err);
    this.check("tox_self_set_name", err);
  }

  setStatusMessage(message: string): void {
    const b = encode(message);
    const err = [0];
    tox.selfSetStatusMessage(this.handle, b, b.length, err);
    this.check("tox_self_set_status_message", err);
  }

  setStatus(status: ToxUserStatus): void {
    tox.selfSetStatus(this.handle, USER_STATUSES.indexOf(status));
  }

  setTyping(friend: number, typing: boolean): void {
    const err = [0];
    tox.selfSetTyping(this.handle, friend, typing, err);
    this.check("tox_self_set_typing", err, `friend ${friend}`);
  }

  get nospam(): number {
    return tox.selfGetNospam(this.handle) as number;
  }

  /** The current profile (`tox_get_savedata`), loadable with the `savedata` option. */
  getSavedata(): Uint8Array {
    const size = Number(tox.getSavedataSize(this.handle));
    const out = new Uint8Array(size);
    tox.getSavedata(this.handle, out);
    return out;
  }

  // ---- friends ----

  /** Sends a friend request to a 38-byte Tox ID (bytes or hex); returns the friend number. */
  friendAdd(toxId: Uint8Array | string, message: string): number {
    const id = typeof toxId === "string" ? fromHex(toxId, "Tox ID") : toxId;
    const m = encode(message);
    const err = [0];
    const n = tox.friendAdd(this.handle, id, m, m.length, err) as number;
    this.check("tox_friend_add", err);
    return n;
  }

  friendAddNoRequest(publicKey: Uint8Array): number {
    const err = [0];
    const n = tox.friendAddNorequest(this.handle, publicKey, err) as number;
    this.check("tox_friend_add_norequest", err, toHex(publicKey).slice(0, 16));
    return n;
  }

  friendDelete(friend: number): void {
    const err = [0];
    tox.friendDelete(this.handle, friend, err);
    this.check("tox_friend_delete", err, `friend ${friend}`);
  }

  /** Friend number for a public key, or undefined when not a friend. */
  friendByPublicKey(publicKey: Uint8Array): number | undefined {
    const err = [0];
    const n = tox.friendByPublicKey(this.handle, publicKey, err) as number;
    return err[0] === 0 && n !== MAX_U32 ? n : undefined;
  }

  /** Friend numbers currently in the friend list. */
  friendList(): number[] {
    const size = Number(tox.selfGetFriendListSize(this.handle));
    const out = new Uint32Array(size);
    if (size) tox.selfGetFriendList(this.handle, out);
    return [...out];
  }

  friendExists(friend: number): boolean {
    return tox.friendExists(this.handle, friend) as boolean;
  }

  friendPublicKey(friend: number): Uint8Array {
    const out = new Uint8Array(KEY_SIZE);
    const err = [0];
    tox.friendGetPublicKey(this.handle, friend, out, err);
    this.check("tox_friend_get_public_key", err, `friend ${friend}`);
    return out;
  }

  friendConnectionStatus(friend: number): ToxConnection {
    const err = [0];
    const s = tox.friendGetConnectionStatus(this.handle, friend, err) as number;
    this.check("tox_friend_get_connection_status", err, `friend ${friend}`);
    return pick(CONNECTIONS, s, "none");
  }

  friendName(friend: number): string {
    const err = [0];
    const size = Number(tox.friendGetNameSize(this.handle, friend, err));
    this.check("tox_friend_get_name_size", err, `friend ${friend}`);
    const out = new Uint8Array(size);
    tox.friendGetName(this.handle, friend, out, err);
    this.check("tox_friend_get_name", err, `friend ${friend}`);
    return utf8.decode(out);
  }

  /** Queues a message; returns its message id (matched by `friendReadReceipt`). Throws CToxError. */
  sendMessage(friend: number, message: string, type: ToxMessageType = "normal"): number {
    const r = this.trySendMessage(friend, message, type);
    if (!r.ok) throw new CToxError("tox_friend_send_message", r.code, `${this.label}, friend ${friend}`);
    return r.id;
  }

  /** Like sendMessage but reports errors (e.g. `SEND_MESSAGE_SENDQ`) as a value: for fast senders. */
  trySendMessage(
    friend: number,
    message: string | Uint8Array,
    type: ToxMessageType = "normal",
  ): { ok: true; id: number } | { ok: false; code: number } {
    const b = typeof message === "string" ? encode(message) : message;
    const err = [0];
    const id = tox.friendSendMessage(
      this.handle,
      friend,
      MESSAGE_TYPES.indexOf(type),
      b,
      b.length,
      err,
    ) as number;
    return err[0] === 0 ? { ok: true, id } : { ok: false, code: err[0]! };
  }

  /** Custom lossless packet (first byte 69 or 160–191, per tox.h). */
  sendLosslessPacket(friend: number, data: Uint8Array): void {
    const err = [0];
    tox.friendSendLossless(this.handle, friend, data, data.length, err);
    this.check("tox_friend_send_lossless_packet", err, `friend ${friend}`);
  }

  /** Custom lossy packet (first byte 192–254). */
  sendLossyPacket(friend: number, data: Uint8Array): void {
    const err = [0];
    tox.friendSendLossy(this.handle, friend, data, data.length, err);
    this.check("tox_friend_send_lossy_packet", err, `friend ${friend}`);
  }

  // ---- file transfers ----

  /**
   * Offers a file; returns its file number. The receiver answers with `fileControl(.., "resume")`,
   * then this peer gets `fileChunkRequest` events and answers each with `fileSendChunk`
   * (a request of length 0 means the transfer completed).
   */
  fileSend(
    friend: number,
    size: number,
    filename: string,
    kind = FILE_KIND_DATA,
    fileId?: Uint8Array,
  ): number {
    const name = encode(filename);
    const err = [0];
    const n = tox.fileSend(this.handle, friend, kind, size, fileId ?? null, name, name.length, err) as number;
    this.check("tox_file_send", err, `friend ${friend}`);
    return n;
  }

  fileSendChunk(friend: number, file: number, position: number, data: Uint8Array): void {
    const err = [0];
    tox.fileSendChunk(this.handle, friend, file, position, data, data.length, err);
    this.check("tox_file_send_chunk", err, `friend ${friend}, file ${file}, position ${position}`);
  }

  /** Receiver only, before accepting: ask the sender to start at `position` (resume). */
  fileSeek(friend: number, file: number, position: number): void {
    const err = [0];
    tox.fileSeek(this.handle, friend, file, position, err);
    this.check("tox_file_seek", err, `friend ${friend}, file ${file}, position ${position}`);
  }

  /** The 32-byte file id of a transfer (either direction). */
  fileId(friend: number, file: number): Uint8Array {
    const out = new Uint8Array(KEY_SIZE);
    const err = [0];
    tox.fileGetFileId(this.handle, friend, file, out, err);
    this.check("tox_file_get_file_id", err, `friend ${friend}, file ${file}`);
    return out;
  }

  fileControl(friend: number, file: number, control: ToxFileControl): void {
    const err = [0];
    tox.fileControl(this.handle, friend, file, FILE_CONTROLS.indexOf(control), err);
    this.check("tox_file_control", err, `friend ${friend}, file ${file}, ${control}`);
  }

  // ---- conferences (old text groups) ----

  conferenceNew(): number {
    const err = [0];
    const n = tox.conferenceNew(this.handle, err) as number;
    this.check("tox_conference_new", err);
    return n;
  }

  conferenceDelete(conference: number): void {
    const err = [0];
    tox.conferenceDelete(this.handle, conference, err);
    this.check("tox_conference_delete", err, `conference ${conference}`);
  }

  conferenceInvite(friend: number, conference: number): void {
    const err = [0];
    tox.conferenceInvite(this.handle, friend, conference, err);
    this.check("tox_conference_invite", err, `friend ${friend}, conference ${conference}`);
  }

  /** Joins with the cookie from a `conferenceInvite` event; returns the conference number. */
  conferenceJoin(friend: number, cookie: Uint8Array): number {
    const err = [0];
    const n = tox.conferenceJoin(this.handle, friend, cookie, cookie.length, err) as number;
    this.check("tox_conference_join", err, `friend ${friend}`);
    return n;
  }

  conferenceSendMessage(conference: number, message: string, type: ToxMessageType = "normal"): void {
    const b = encode(message);
    const err = [0];
    tox.conferenceSendMessage(this.handle, conference, MESSAGE_TYPES.indexOf(type), b, b.length, err);
    this.check("tox_conference_send_message", err, `conference ${conference}`);
  }

  conferencePeerCount(conference: number): number {
    const err = [0];
    const n = tox.conferencePeerCount(this.handle, conference, err) as number;
    this.check("tox_conference_peer_count", err, `conference ${conference}`);
    return n;
  }

  conferenceSetTitle(conference: number, title: string): void {
    const b = encode(title);
    const err = [0];
    tox.conferenceSetTitle(this.handle, conference, b, b.length, err);
    this.check("tox_conference_set_title", err, `conference ${conference}`);
  }

  /** The 32-byte conference id. */
  conferenceId(conference: number): Uint8Array {
    const out = new Uint8Array(KEY_SIZE);
    if (!tox.conferenceGetId(this.handle, conference, out)) {
      throw new CToxError("tox_conference_get_id", 1, `${this.label}, conference ${conference}`);
    }
    return out;
  }
}

/** c-toxcore's version as "major.minor.patch". */
export function ctoxVersion(): string {
  return `${tox.versionMajor()}.${tox.versionMinor()}.${tox.versionPatch()}`;
}

/**
 * Resolves with the arguments of the next `event` on `peer` for which `pred` holds (default: any);
 * rejects after `timeoutMs`. Subscribe before triggering what causes the event.
 */
export function nextEvent<K extends Exclude<keyof CToxPeerEvents, "error">>(
  peer: CToxPeer,
  event: K,
  timeoutMs: number,
  pred: (...args: CToxPeerEvents[K]) => boolean = () => true,
): Promise<CToxPeerEvents[K]> {
  return new Promise((resolve, reject) => {
    const emitter = peer as unknown as EventEmitter;
    const listener = (...args: CToxPeerEvents[K]) => {
      if (!pred(...args)) return;
      clearTimeout(timer);
      emitter.off(event, listener as (...a: unknown[]) => void);
      resolve(args);
    };
    const timer = setTimeout(() => {
      emitter.off(event, listener as (...a: unknown[]) => void);
      reject(new Error(`${peer.label}: no ${event} within ${timeoutMs} ms`));
    }, timeoutMs);
    emitter.on(event, listener as (...a: unknown[]) => void);
  });
}

/**
 * Makes `a` and `b` friends the way users do: `a` sends a request to `b`'s Tox ID, `b` accepts it
 * on the friendRequest event. Resolves with both friend numbers once each side sees the other
 * connected (any transport), or rejects after `timeoutMs`.
 */
export async function befriend(
  a: CToxPeer,
  b: CToxPeer,
  { timeoutMs = 30_000, message = "hello from the harness" } = {},
): Promise<{ aFriend: number; bFriend: number }> {
  let bFriend: number | undefined;
  const onRequest = (pk: Uint8Array) => {
    if (bytesEqual(pk, a.publicKey)) bFriend = b.friendByPublicKey(pk) ?? b.friendAddNoRequest(pk);
  };
  b.on("friendRequest", onRequest);
  try {
    const aFriend = a.friendAdd(b.address, message);
    await waitUntil(
      () =>
        bFriend !== undefined &&
        a.friendConnectionStatus(aFriend) !== "none" &&
        b.friendConnectionStatus(bFriend) !== "none",
      timeoutMs,
      `${a.label} and ${b.label} to befriend and connect`,
    );
    return { aFriend, bFriend: bFriend! };
  } finally {
    b.off("friendRequest", onRequest);
  }
}
