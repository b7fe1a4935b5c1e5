/**
 * The TCP relay *server* role as a state machine without sockets (c-toxcore TCP_server.c minus
 * onion/forwarding, which are hooks here). Used by our tests as an in-memory relay, and meant for
 * our node to offer relaying later. The edge calls `accept(io)` per socket and feeds bytes to the
 * returned connection; `tick()` drives pings and timeouts.
 *
 * Rules kept from c-toxcore: a connection is "unconfirmed" after the handshake until its first
 * valid frame; a second confirmed connection with the same key replaces the first; routing slots
 * pair up when two clients request each other (connect notification to both); OOB goes to any
 * confirmed client with that key; pings every 30 s, dropped after 10 s without pong; connections
 * not confirmed within 10 s are dropped.
 */
import { toHex } from "../bytes.js";
import type { Clock } from "../clock.js";
import { incrementNonce, type KeyPair, newKeyPair, precompute, randomBytes, randomNonce } from "../crypto.js";
import {
  openFrame,
  parseClientHandshake,
  parseTcpPacket,
  peekClientHandshakeSender,
  sealFrame,
  serializeServerHandshake,
  serializeTcpPacket,
  TCP_CLIENT_HANDSHAKE_SIZE,
  TCP_NUM_CLIENT_CONNECTIONS,
  TCP_NUM_RESERVED_PORTS,
  type TcpPacket,
  TcpStreamReader,
} from "../wire/tcp.js";
import {
  TCP_CONNECTION_TIMEOUT_MS,
  TCP_PING_FREQUENCY_MS,
  TCP_PING_TIMEOUT_MS,
  type TcpClientLogger,
} from "./client.js";

export interface TcpServerIo {
  write(bytes: Uint8Array): void;
  /** Ends the socket (the server already forgot the connection). */
  close(): void;
  /** Bytes written but not yet sent (e.g. `socket.writableLength`); enables dropping under load. */
  buffered?(): number;
}

/** Above this many unsent bytes towards a client, relayed data and OOB to it are dropped. */
export const TCP_SERVER_MAX_BUFFERED = 1 << 20;
/** Default cap on simultaneous connections (any state). */
export const TCP_SERVER_MAX_CONNECTIONS = 4096;

export interface TcpRelayServerOptions {
  clock: Clock;
  /** The relay's key pair; its public key is what clients must know (a DHT key). */
  keys: KeyPair;
  log?: TcpClientLogger;
  /** Connections beyond this are closed on accept (default {@link TCP_SERVER_MAX_CONNECTIONS}). */
  maxConnections?: number;
  /**
   * An onion request from a client (we are its first hop). Without a hook they are dropped, like
   * a c-toxcore relay started without onion. `reply` sends an onion response to that client.
   */
  onOnionRequest?(
    clientPk: Uint8Array,
    nonce: Uint8Array,
    payload: Uint8Array,
    reply: (data: Uint8Array) => void,
  ): void;
}

interface ServerSlot {
  pk: Uint8Array;
  pkHex: string;
  /** The paired connection and its slot id, when both sides routed to each other. */
  other: { conn: ServerConnection; id: number } | null;
}

type ServerConnStatus = "awaiting-handshake" | "unconfirmed" | "confirmed" | "closed";

/** One accepted client socket. */
export class ServerConnection {
  status: ServerConnStatus = "awaiting-handshake";
  pk: Uint8Array | null = null;
  pkHex = "";
  readonly reader = new TcpStreamReader();
  readonly createdAt: number;
  sessionKey: Uint8Array | null = null;
  sendNonce: Uint8Array | null = null;
  recvNonce: Uint8Array | null = null;
  lastPinged: number;
  pingId: Uint8Array | null = null;
  /** Slots by wire connection id (16..255). */
  readonly slots = new Map<number, ServerSlot>();

  constructor(
    private readonly server: TcpRelayServer,
    readonly io: TcpServerIo,
    now: number,
  ) {
    this.createdAt = now;
    this.lastPinged = now;
  }

  /** Bytes from the socket. */
  receive(bytes: Uint8Array): void {
    this.server.receive(this, bytes);
  }

  /** The socket went away. */
  closed(): void {
    this.server.drop(this, "socket closed", false);
  }
}

export class TcpRelayServer {
  private readonly clock: Clock;
  private readonly keys: KeyPair;
  private readonly opts: TcpRelayServerOptions;
  private readonly all = new Set<ServerConnection>();
  private readonly byPk = new Map<string, ServerConnection>();

  constructor(opts: TcpRelayServerOptions) {
    this.opts = opts;
    this.clock = opts.clock;
    this.keys = opts.keys;
  }

  get publicKey(): Uint8Array {
    return this.keys.publicKey;
  }

  /** Number of live connections (any state). */
  get connectionCount(): number {
    return this.all.size;
  }

  /** Counters for diagnostics. */
  readonly stats = { accepted: 0, refused: 0, relayed: 0, droppedUnderLoad: 0 };

  accept(io: TcpServerIo): ServerConnection {
    const conn = new ServerConnection(this, io, this.clock.now());
    if (this.all.size >= (this.opts.maxConnections ?? TCP_SERVER_MAX_CONNECTIONS)) {
      this.stats.refused++;
      conn.status = "closed";
      io.close();
      return conn;
    }
    this.stats.accepted++;
    this.all.add(conn);
    return conn;
  }

  tick(): void {
    const now = this.clock.now();
    for (const conn of [...this.all]) {
      if (conn.status !== "confirmed") {
        if (now - conn.createdAt >= TCP_CONNECTION_TIMEOUT_MS) this.drop(conn, "not confirmed in time", true);
        continue;
      }
      if (conn.pingId !== null && now - conn.lastPinged >= TCP_PING_TIMEOUT_MS) {
        this.drop(conn, "ping timeout", true);
        continue;
      }
      if (now - conn.lastPinged >= TCP_PING_FREQUENCY_MS) {
        let id = randomBytes(8);
        while (id.every((b) => b === 0)) id = randomBytes(8);
        conn.pingId = id;
        conn.lastPinged = now;
        this.send(conn, { type: "ping", pingId: id });
      }
    }
  }

  nextTickIn(): number {
    return 1000;
  }

  /** Closes every connection (server shutdown). */
  closeAll(): void {
    for (const conn of [...this.all]) this.drop(conn, "server closing", true);
  }

  // -------------------------------------------------------------------------------------------

  /** @internal */
  receive(conn: ServerConnection, bytes: Uint8Array): void {
    if (conn.status === "closed") return;
    conn.reader.push(bytes);
    if (conn.status === "awaiting-handshake") {
      const hello = conn.reader.takeRaw(TCP_CLIENT_HANDSHAKE_SIZE);
      if (hello === null) return;
      const sender = peekClientHandshakeSender(hello);
      if (!sender.ok) {
        this.drop(conn, "bad handshake", true);
        return;
      }
      const shared = precompute(sender.value, this.keys.secretKey);
      const parsed = parseClientHandshake(hello, shared);
      if (!parsed.ok) {
        this.drop(conn, "handshake failed to decrypt", true);
        return;
      }
      const temp = newKeyPair();
      conn.sendNonce = randomNonce();
      conn.recvNonce = Uint8Array.from(parsed.value.baseNonce);
      conn.sessionKey = precompute(parsed.value.tempPk, temp.secretKey);
      conn.pk = parsed.value.clientPk;
      conn.pkHex = toHex(conn.pk);
      conn.status = "unconfirmed";
      conn.io.write(
        serializeServerHandshake(
          { tempPk: temp.publicKey, baseNonce: conn.sendNonce },
          shared,
          randomNonce(),
        ),
      );
    }
    while (conn.status === "unconfirmed" || conn.status === "confirmed") {
      const frame = conn.reader.takeFrame();
      if (!frame.ok) {
        this.drop(conn, frame.error.message, true);
        return;
      }
      if (frame.value === null) return;
      const plain = openFrame(conn.sessionKey!, conn.recvNonce!, frame.value);
      if (!plain.ok) {
        this.drop(conn, "frame failed to decrypt", true);
        return;
      }
      incrementNonce(conn.recvNonce!);
      if (conn.status === "unconfirmed") this.confirm(conn);
      const packet = parseTcpPacket(plain.value);
      if (!packet.ok) {
        this.opts.log?.debug(
          { client: conn.pkHex.slice(0, 16), error: packet.error.message },
          "relay: bad packet",
        );
        continue;
      }
      this.handle(conn, packet.value);
    }
  }

  /** @internal Forgets a connection, telling its routed partners; `closeSocket` ends the socket. */
  drop(conn: ServerConnection, reason: string, closeSocket: boolean): void {
    if (conn.status === "closed") return;
    const wasConfirmed = conn.status === "confirmed";
    conn.status = "closed";
    this.all.delete(conn);
    if (wasConfirmed && this.byPk.get(conn.pkHex) === conn) this.byPk.delete(conn.pkHex);
    for (const id of [...conn.slots.keys()]) this.freeSlot(conn, id);
    this.opts.log?.debug({ client: conn.pkHex.slice(0, 16), reason }, "relay: connection dropped");
    if (closeSocket) conn.io.close();
  }

  private confirm(conn: ServerConnection): void {
    const old = this.byPk.get(conn.pkHex);
    if (old !== undefined) this.drop(old, "replaced by a new connection with the same key", true);
    conn.status = "confirmed";
    conn.lastPinged = this.clock.now();
    this.byPk.set(conn.pkHex, conn);
    // Peers that already routed to this key get paired when this client asks for them; nothing
    // to do now (c-toxcore behaves the same).
  }

  private handle(conn: ServerConnection, p: TcpPacket): void {
    switch (p.type) {
      case "routing-request": {
        this.routingRequest(conn, p.publicKey);
        return;
      }
      case "disconnect-notification":
        this.freeSlot(conn, p.connectionId);
        return;
      case "ping":
        this.send(conn, { type: "pong", pingId: p.pingId });
        return;
      case "pong":
        if (conn.pingId !== null && p.pingId.every((b, i) => b === conn.pingId![i])) conn.pingId = null;
        return;
      case "oob-send": {
        const target = this.byPk.get(toHex(p.publicKey));
        if (target !== undefined && this.hasRoom(target))
          this.send(target, { type: "oob-recv", publicKey: conn.pk!, data: p.data });
        return;
      }
      case "onion-request":
        this.opts.onOnionRequest?.(conn.pk!, p.nonce, p.payload, (data) => {
          if (conn.status === "confirmed") this.send(conn, { type: "onion-response", data });
        });
        return;
      case "data": {
        const slot = conn.slots.get(p.connectionId);
        if (slot?.other == null || !this.hasRoom(slot.other.conn)) return;
        this.stats.relayed++;
        this.send(slot.other.conn, { type: "data", connectionId: slot.other.id, data: p.data });
        return;
      }
      default:
        // connect notification from a client is a no-op; responses/forwarding are not client→relay.
        return;
    }
  }

  private routingRequest(conn: ServerConnection, pk: Uint8Array): void {
    const hex = toHex(pk);
    if (hex === conn.pkHex) {
      this.send(conn, { type: "routing-response", connectionId: 0, publicKey: pk });
      return;
    }
    let free = -1;
    for (let id = TCP_NUM_RESERVED_PORTS; id < TCP_NUM_RESERVED_PORTS + TCP_NUM_CLIENT_CONNECTIONS; id++) {
      const slot = conn.slots.get(id);
      if (slot === undefined) {
        if (free < 0) free = id;
      } else if (slot.pkHex === hex) {
        this.send(conn, { type: "routing-response", connectionId: id, publicKey: pk });
        return;
      }
    }
    if (free < 0) {
      this.send(conn, { type: "routing-response", connectionId: 0, publicKey: pk });
      return;
    }
    const slot: ServerSlot = { pk: Uint8Array.from(pk), pkHex: hex, other: null };
    conn.slots.set(free, slot);
    this.send(conn, { type: "routing-response", connectionId: free, publicKey: pk });
    const other = this.byPk.get(hex);
    if (other === undefined) return;
    for (const [otherId, otherSlot] of other.slots) {
      if (otherSlot.other === null && otherSlot.pkHex === conn.pkHex) {
        slot.other = { conn: other, id: otherId };
        otherSlot.other = { conn, id: free };
        this.send(conn, { type: "connect-notification", connectionId: free });
        this.send(other, { type: "connect-notification", connectionId: otherId });
        return;
      }
    }
  }

  private freeSlot(conn: ServerConnection, id: number): void {
    const slot = conn.slots.get(id);
    if (slot === undefined) return;
    conn.slots.delete(id);
    if (slot.other !== null) {
      const { conn: other, id: otherId } = slot.other;
      const otherSlot = other.slots.get(otherId);
      if (otherSlot !== undefined) {
        otherSlot.other = null;
        if (other.status === "confirmed")
          this.send(other, { type: "disconnect-notification", connectionId: otherId });
      }
    }
  }

  /**
   * Whether relayed traffic to `conn` may be queued: like c-toxcore, which drops non-priority
   * packets it cannot send at once, we drop rather than buffer without bound for a slow reader.
   */
  private hasRoom(conn: ServerConnection): boolean {
    if ((conn.io.buffered?.() ?? 0) <= TCP_SERVER_MAX_BUFFERED) return true;
    this.stats.droppedUnderLoad++;
    return false;
  }

  private send(conn: ServerConnection, p: TcpPacket): void {
    if (conn.status !== "confirmed" && conn.status !== "unconfirmed") return;
    const frame = sealFrame(conn.sessionKey!, conn.sendNonce!, serializeTcpPacket(p));
    incrementNonce(conn.sendNonce!);
    conn.io.write(frame);
  }
}
