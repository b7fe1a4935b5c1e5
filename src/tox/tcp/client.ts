/**
 * One connection from us to a TCP relay, as a state machine without a socket (c-toxcore
 * TCP_client.c). The edge feeds received bytes to `receive()`, calls `start()` once the socket is
 * connected and `socketClosed()` when it goes away; everything to send leaves through the
 * injected `write`. Timers run from `tick()` against the injected clock.
 *
 * States: connecting (socket not yet up) → handshake-sent (hello written, waiting for the relay's
 * 96 bytes) → confirmed → disconnected. As in c-toxcore: the whole connect + handshake must finish
 * within 10 s; a ping goes out right after the handshake (it also confirms us to the relay) and
 * every 30 s after, and the connection is dropped when a ping is unanswered for 10 s.
 *
 * Routing: `routingRequest(pk)` asks the relay for a slot (connection id 16..255, at most 240)
 * towards another client's DHT key; the slot is "registered" until both sides requested each
 * other, then "online" (connect notification) and data can flow. Requests made before the
 * handshake completes are sent when it does.
 */
import { toHex } from "../bytes.js";
import type { Clock } from "../clock.js";
import {
  incrementNonce,
  type KeyPair,
  newKeyPair,
  PUBLIC_KEY_SIZE,
  precompute,
  randomBytes,
  randomNonce,
} from "../crypto.js";
import {
  openFrame,
  parseServerHandshake,
  parseTcpPacket,
  sealFrame,
  serializeClientHandshake,
  serializeTcpPacket,
  TCP_MAX_OOB_DATA_LENGTH,
  TCP_MAX_PACKET_SIZE,
  TCP_SERVER_HANDSHAKE_SIZE,
  type TcpPacket,
  TcpStreamReader,
} from "../wire/tcp.js";

/** `TCP_CONNECTION_TIMEOUT`: socket connect + handshake deadline. */
export const TCP_CONNECTION_TIMEOUT_MS = 10_000;
/** `TCP_PING_FREQUENCY`. */
export const TCP_PING_FREQUENCY_MS = 30_000;
/** `TCP_PING_TIMEOUT`: an unanswered ping kills the connection after this long. */
export const TCP_PING_TIMEOUT_MS = 10_000;

export type TcpClientStatus = "connecting" | "handshake-sent" | "confirmed" | "disconnected";
export type TcpPeerStatus = "none" | "requested" | "registered" | "online";

export interface TcpClientEvents {
  /** The relay accepted our handshake. */
  onConfirmed?(): void;
  /** The connection is dead; emitted once. `reason` says why (timeout, bad frame, socket...). */
  onDisconnected?(reason: string): void;
  /** The relay answered a routing request; `connectionId` null means it refused. */
  onRoutingResponse?(peerPk: Uint8Array, connectionId: number | null): void;
  /** Both sides routed to each other: data can flow on `connectionId`. */
  onPeerOnline?(peerPk: Uint8Array, connectionId: number): void;
  /** The other side went away (slot stays registered; it comes back online if the peer returns). */
  onPeerOffline?(peerPk: Uint8Array, connectionId: number): void;
  onData?(peerPk: Uint8Array, connectionId: number, data: Uint8Array): void;
  /** Out-of-band data from any client of the relay, identified by its (relay-checked) key. */
  onOob?(senderPk: Uint8Array, data: Uint8Array): void;
  onOnionResponse?(data: Uint8Array): void;
}

export interface TcpClientLogger {
  debug(obj: Record<string, unknown>, msg: string): void;
}

export interface TcpClientOptions {
  clock: Clock;
  /** The relay's public key (its DHT key). */
  relayPk: Uint8Array;
  /** Our DHT key pair: relays know clients by their DHT key. */
  keys: KeyPair;
  /** Writes bytes to the socket. */
  write: (bytes: Uint8Array) => void;
  events: TcpClientEvents;
  log?: TcpClientLogger;
  /** Label for logs, e.g. "127.0.0.1:34601". */
  label?: string;
}

interface Slot {
  pk: Uint8Array;
  pkHex: string;
  online: boolean;
}

export class TcpClientConnection {
  private _status: TcpClientStatus = "connecting";
  private readonly clock: Clock;
  private readonly opts: TcpClientOptions;
  private readonly reader = new TcpStreamReader();
  private readonly deadline: number;
  private tempKeys: KeyPair | null = null;
  private handshakeShared: Uint8Array | null = null;
  private sessionKey: Uint8Array | null = null;
  private sendNonce: Uint8Array | null = null;
  private recvNonce: Uint8Array | null = null;
  private lastPinged = 0;
  private pingId: Uint8Array | null = null;
  /** Slots by wire connection id (16..255). */
  private readonly slots = new Map<number, Slot>();
  private readonly slotByPk = new Map<string, number>();
  /** Routing requests not yet answered (or not yet sent, before confirmation). */
  private readonly requested = new Map<string, Uint8Array>();
  private readonly unsent = new Set<string>();
  /** Counters for diagnostics. */
  readonly stats = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0 };

  constructor(opts: TcpClientOptions) {
    if (opts.relayPk.length !== PUBLIC_KEY_SIZE) throw new RangeError("relay public key must be 32 bytes");
    this.opts = opts;
    this.clock = opts.clock;
    this.deadline = this.clock.now() + TCP_CONNECTION_TIMEOUT_MS;
  }

  get status(): TcpClientStatus {
    return this._status;
  }

  get relayPk(): Uint8Array {
    return this.opts.relayPk;
  }

  /** The socket is connected: send our hello (128 bytes, unframed). */
  start(): void {
    if (this._status !== "connecting") return;
    this.tempKeys = newKeyPair();
    this.sendNonce = randomNonce();
    this.handshakeShared = precompute(this.opts.relayPk, this.opts.keys.secretKey);
    const hello = serializeClientHandshake(
      { clientPk: this.opts.keys.publicKey, tempPk: this.tempKeys.publicKey, baseNonce: this.sendNonce },
      this.handshakeShared,
      randomNonce(),
    );
    this._status = "handshake-sent";
    this.writeRaw(hello);
  }

  /** Bytes from the socket. Malformed input disconnects; nothing is thrown. */
  receive(bytes: Uint8Array): void {
    if (this._status === "disconnected" || this._status === "connecting") return;
    this.stats.bytesIn += bytes.length;
    this.reader.push(bytes);
    if (this._status === "handshake-sent") {
      const answer = this.reader.takeRaw(TCP_SERVER_HANDSHAKE_SIZE);
      if (answer === null) return;
      const keys = parseServerHandshake(answer, this.handshakeShared!);
      if (!keys.ok) {
        this.fail(`bad relay handshake: ${keys.error.message}`);
        return;
      }
      this.sessionKey = precompute(keys.value.tempPk, this.tempKeys!.secretKey);
      this.recvNonce = Uint8Array.from(keys.value.baseNonce);
      this.tempKeys = null;
      this.handshakeShared = null;
      this._status = "confirmed";
      this.log({}, "tcp relay: handshake done");
      this.sendPing();
      for (const hex of this.unsent) {
        const pk = this.requested.get(hex);
        if (pk !== undefined) this.writePacket({ type: "routing-request", publicKey: pk });
      }
      this.unsent.clear();
      this.opts.events.onConfirmed?.();
    }
    while (this._status === "confirmed") {
      const frame = this.reader.takeFrame();
      if (!frame.ok) {
        this.fail(frame.error.message);
        return;
      }
      if (frame.value === null) return;
      const plain = openFrame(this.sessionKey!, this.recvNonce!, frame.value);
      if (!plain.ok) {
        this.fail("frame failed to decrypt");
        return;
      }
      incrementNonce(this.recvNonce!);
      this.stats.framesIn++;
      const packet = parseTcpPacket(plain.value);
      // c-toxcore ignores packets it cannot handle rather than dropping the relay.
      if (!packet.ok) {
        this.log({ error: packet.error.message }, "tcp relay: ignoring malformed packet");
        continue;
      }
      this.handle(packet.value);
    }
  }

  /** The socket closed or errored. */
  socketClosed(reason = "socket closed"): void {
    this.fail(reason);
  }

  /**
   * Closes from our side (the edge then ends the socket). Routed peers are told first: relays
   * built without epoll notice a closed socket only at the next ping timeout (up to 40 s).
   */
  close(): void {
    if (this._status === "confirmed")
      for (const id of this.slots.keys())
        this.writePacket({ type: "disconnect-notification", connectionId: id });
    this.fail("closed locally");
  }

  tick(): void {
    if (this._status === "disconnected") return;
    const now = this.clock.now();
    if (this._status !== "confirmed") {
      if (now >= this.deadline) this.fail("connect/handshake timeout");
      return;
    }
    if (this.pingId !== null && now - this.lastPinged >= TCP_PING_TIMEOUT_MS) {
      this.fail("ping timeout");
      return;
    }
    if (now - this.lastPinged >= TCP_PING_FREQUENCY_MS) this.sendPing();
  }

  /** Milliseconds until `tick()` has something to do. */
  nextTickIn(): number {
    const now = this.clock.now();
    if (this._status === "disconnected") return TCP_PING_FREQUENCY_MS;
    if (this._status !== "confirmed") return Math.max(0, this.deadline - now);
    const due =
      this.pingId !== null ? this.lastPinged + TCP_PING_TIMEOUT_MS : this.lastPinged + TCP_PING_FREQUENCY_MS;
    return Math.max(0, due - now);
  }

  // -------------------------------------------------------------------------------------------
  // Routing

  /** Asks for a slot towards `peerPk` (idempotent). */
  routingRequest(peerPk: Uint8Array): void {
    if (this._status === "disconnected") return;
    const hex = toHex(peerPk);
    if (this.slotByPk.has(hex) || this.requested.has(hex)) return;
    this.requested.set(hex, Uint8Array.from(peerPk));
    if (this._status === "confirmed") this.writePacket({ type: "routing-request", publicKey: peerPk });
    else this.unsent.add(hex);
  }

  /** Frees the slot towards `peerPk` (tells the relay, which tells the peer). */
  disconnectPeer(peerPk: Uint8Array): void {
    const hex = toHex(peerPk);
    this.requested.delete(hex);
    this.unsent.delete(hex);
    const id = this.slotByPk.get(hex);
    if (id === undefined) return;
    this.slotByPk.delete(hex);
    this.slots.delete(id);
    if (this._status === "confirmed") this.writePacket({ type: "disconnect-notification", connectionId: id });
  }

  peerStatus(peerPk: Uint8Array): TcpPeerStatus {
    const hex = toHex(peerPk);
    const id = this.slotByPk.get(hex);
    if (id !== undefined) return this.slots.get(id)!.online ? "online" : "registered";
    return this.requested.has(hex) ? "requested" : "none";
  }

  /** Number of slots in use (routing table size, at most 240). */
  get slotCount(): number {
    return this.slots.size;
  }

  // -------------------------------------------------------------------------------------------
  // Sending

  /** Sends routed data to an online peer; false if the peer is not online here. */
  sendData(peerPk: Uint8Array, data: Uint8Array): boolean {
    const id = this.slotByPk.get(toHex(peerPk));
    if (id === undefined || !this.slots.get(id)!.online || this._status !== "confirmed") return false;
    if (data.length === 0 || data.length + 1 > TCP_MAX_PACKET_SIZE) return false;
    this.writePacket({ type: "data", connectionId: id, data });
    return true;
  }

  /** Out-of-band data to any client of this relay (delivered only if it is connected). */
  sendOob(peerPk: Uint8Array, data: Uint8Array): boolean {
    if (this._status !== "confirmed" || data.length === 0 || data.length > TCP_MAX_OOB_DATA_LENGTH)
      return false;
    this.writePacket({ type: "oob-send", publicKey: peerPk, data });
    return true;
  }

  /** Onion request with this relay as the first hop (`create_onion_packet_tcp` output split). */
  sendOnionRequest(nonce: Uint8Array, payload: Uint8Array): boolean {
    if (this._status !== "confirmed") return false;
    this.writePacket({ type: "onion-request", nonce, payload });
    return true;
  }

  // -------------------------------------------------------------------------------------------

  private handle(p: TcpPacket): void {
    const ev = this.opts.events;
    switch (p.type) {
      case "routing-response": {
        const hex = toHex(p.publicKey);
        if (!this.requested.has(hex)) return; // unsolicited or cancelled
        this.requested.delete(hex);
        if (p.connectionId === 0) {
          ev.onRoutingResponse?.(p.publicKey, null);
          return;
        }
        if (this.slots.has(p.connectionId)) return; // c-toxcore keeps the existing slot
        const slot: Slot = { pk: p.publicKey, pkHex: hex, online: false };
        this.slots.set(p.connectionId, slot);
        this.slotByPk.set(hex, p.connectionId);
        ev.onRoutingResponse?.(p.publicKey, p.connectionId);
        return;
      }
      case "connect-notification": {
        const slot = this.slots.get(p.connectionId);
        if (slot === undefined || slot.online) return;
        slot.online = true;
        ev.onPeerOnline?.(slot.pk, p.connectionId);
        return;
      }
      case "disconnect-notification": {
        const slot = this.slots.get(p.connectionId);
        if (slot === undefined || !slot.online) return;
        slot.online = false;
        ev.onPeerOffline?.(slot.pk, p.connectionId);
        return;
      }
      case "ping":
        this.writePacket({ type: "pong", pingId: p.pingId });
        return;
      case "pong":
        if (this.pingId !== null && p.pingId.every((b, i) => b === this.pingId![i])) this.pingId = null;
        return;
      case "oob-recv":
        ev.onOob?.(p.publicKey, p.data);
        return;
      case "onion-response":
        ev.onOnionResponse?.(p.data);
        return;
      case "data": {
        const slot = this.slots.get(p.connectionId);
        if (slot === undefined) return;
        ev.onData?.(slot.pk, p.connectionId, p.data);
        return;
      }
      default:
        // routing-request, oob-send, onion-request, forwarding: not for clients.
        this.log({ type: p.type }, "tcp relay: ignoring server-bound packet");
    }
  }

  private sendPing(): void {
    let id = randomBytes(8);
    while (id.every((b) => b === 0)) id = randomBytes(8);
    this.pingId = id;
    this.lastPinged = this.clock.now();
    this.writePacket({ type: "ping", pingId: id });
  }

  private writePacket(p: TcpPacket): void {
    const frame = sealFrame(this.sessionKey!, this.sendNonce!, serializeTcpPacket(p));
    incrementNonce(this.sendNonce!);
    this.stats.framesOut++;
    this.writeRaw(frame);
  }

  private writeRaw(bytes: Uint8Array): void {
    this.stats.bytesOut += bytes.length;
    this.opts.write(bytes);
  }

  private fail(reason: string): void {
    if (this._status === "disconnected") return;
    this._status = "disconnected";
    const online = [...this.slots.entries()].filter(([, s]) => s.online);
    this.slots.clear();
    this.slotByPk.clear();
    this.requested.clear();
    this.unsent.clear();
    this.log({ reason }, "tcp relay: disconnected");
    for (const [id, s] of online) this.opts.events.onPeerOffline?.(s.pk, id);
    this.opts.events.onDisconnected?.(reason);
  }

  private log(obj: Record<string, unknown>, msg: string): void {
    this.opts.log?.debug({ relay: this.opts.label ?? toHex(this.opts.relayPk).slice(0, 16), ...obj }, msg);
  }
}
