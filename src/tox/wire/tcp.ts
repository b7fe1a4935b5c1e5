/**
 * TCP relay wire formats (c-toxcore 0.2.18 TCP_common.h, TCP_client.c, TCP_server.c): the two
 * handshake messages, the length-prefixed encrypted frames, and the packets inside the frames.
 *
 * Keys (trap 1 of the protocol map): the handshake is boxed between the client's *DHT* key pair
 * and the relay's public key, which is the relay's DHT key. Frames are sealed with the session
 * key `beforenm(peer temp pk, own temp sk)`; each direction has its own nonce, starting at the
 * base nonce its sender announced and incremented (big-endian counter) once per frame.
 *
 * Parsers are length-exact where c-toxcore is (routing response 34, notifications 2, ping/pong 9)
 * and return ParseResult; they never throw.
 */
import { ByteReader, ByteWriter } from "../bytes.js";
import { decryptSymmetric, encryptSymmetric, MAC_SIZE, NONCE_SIZE, PUBLIC_KEY_SIZE } from "../crypto.js";
import { type ParseResult, tryParse, WireError } from "../errors.js";

/** temp pk | base nonce: what each side tells the other in its handshake message. */
export const TCP_HANDSHAKE_PLAIN_SIZE = PUBLIC_KEY_SIZE + NONCE_SIZE; // 56
/** Relay → client: nonce | box(temp pk | base nonce). */
export const TCP_SERVER_HANDSHAKE_SIZE = NONCE_SIZE + TCP_HANDSHAKE_PLAIN_SIZE + MAC_SIZE; // 96
/** Client → relay: client DHT pk | nonce | box(temp pk | base nonce). */
export const TCP_CLIENT_HANDSHAKE_SIZE = PUBLIC_KEY_SIZE + TCP_SERVER_HANDSHAKE_SIZE; // 128

/** `MAX_PACKET_SIZE`: the largest encrypted frame body (MAC included) either side accepts. */
export const TCP_MAX_FRAME_SIZE = 2048;
/** The largest plaintext packet a frame can carry. */
export const TCP_MAX_PACKET_SIZE = TCP_MAX_FRAME_SIZE - MAC_SIZE; // 2032
/** `TCP_MAX_OOB_DATA_LENGTH`. */
export const TCP_MAX_OOB_DATA_LENGTH = 1024;
/** Packet ids 0..15 are reserved for control packets; connection ids are 16..255. */
export const TCP_NUM_RESERVED_PORTS = 16;
/** `NUM_CLIENT_CONNECTIONS`: routing slots per client connection. */
export const TCP_NUM_CLIENT_CONNECTIONS = 256 - TCP_NUM_RESERVED_PORTS; // 240
/** Length of a ping id (opaque: copied with memcpy in host order by c-toxcore). */
export const TCP_PING_ID_SIZE = 8;

export const TCP_PACKET_ROUTING_REQUEST = 0;
export const TCP_PACKET_ROUTING_RESPONSE = 1;
export const TCP_PACKET_CONNECTION_NOTIFICATION = 2;
export const TCP_PACKET_DISCONNECT_NOTIFICATION = 3;
export const TCP_PACKET_PING = 4;
export const TCP_PACKET_PONG = 5;
export const TCP_PACKET_OOB_SEND = 6;
export const TCP_PACKET_OOB_RECV = 7;
export const TCP_PACKET_ONION_REQUEST = 8;
export const TCP_PACKET_ONION_RESPONSE = 9;
export const TCP_PACKET_FORWARD_REQUEST = 10;
export const TCP_PACKET_FORWARDING = 11;

/**
 * Smallest onion request body the relay forwards (`1 + nonce + 2 * ONION_SEND_BASE` in
 * TCP_server.c, ONION_SEND_BASE = pk + 19-byte ip_port + MAC = 67): everything shorter is junk.
 */
export const TCP_ONION_REQUEST_MIN_SIZE = 1 + NONCE_SIZE + 2 * (PUBLIC_KEY_SIZE + 19 + MAC_SIZE) + 1;

// ---------------------------------------------------------------------------------------------
// Handshake

/** What one side announces in its handshake message. */
export interface TcpHandshakeKeys {
  /** Per-connection temporary public key. */
  tempPk: Uint8Array;
  /** The first nonce this side will use for its frames. */
  baseNonce: Uint8Array;
}

export interface TcpClientHandshake extends TcpHandshakeKeys {
  /** The client's DHT public key (its identity towards the relay). */
  clientPk: Uint8Array;
}

function packHandshakePlain(keys: TcpHandshakeKeys): Uint8Array {
  checkSize(keys.tempPk, PUBLIC_KEY_SIZE, "tempPk");
  checkSize(keys.baseNonce, NONCE_SIZE, "baseNonce");
  return new ByteWriter(TCP_HANDSHAKE_PLAIN_SIZE).bytes(keys.tempPk).bytes(keys.baseNonce).finish();
}

function unpackHandshakePlain(plain: Uint8Array): TcpHandshakeKeys {
  const r = new ByteReader(plain, "TCP handshake keys");
  const tempPk = r.bytesN(PUBLIC_KEY_SIZE, "tempPk");
  const baseNonce = r.bytesN(NONCE_SIZE, "baseNonce");
  r.end();
  return { tempPk, baseNonce };
}

/**
 * The 128-byte client hello. `shared` = beforenm(relay pk, client DHT sk); `nonce` is a fresh
 * random nonce for this one box.
 */
export function serializeClientHandshake(
  hello: TcpClientHandshake,
  shared: Uint8Array,
  nonce: Uint8Array,
): Uint8Array {
  checkSize(hello.clientPk, PUBLIC_KEY_SIZE, "clientPk");
  checkSize(nonce, NONCE_SIZE, "nonce");
  const box = encryptSymmetric(shared, nonce, packHandshakePlain(hello));
  return new ByteWriter(TCP_CLIENT_HANDSHAKE_SIZE).bytes(hello.clientPk).bytes(nonce).bytes(box).finish();
}

/** The client's DHT key from a hello, needed to compute the shared key before decrypting. */
export function peekClientHandshakeSender(data: Uint8Array): ParseResult<Uint8Array> {
  return tryParse(() => {
    if (data.length !== TCP_CLIENT_HANDSHAKE_SIZE)
      throw new WireError(`TCP client handshake must be ${TCP_CLIENT_HANDSHAKE_SIZE} bytes`, {
        what: "TCP client handshake",
        length: data.length,
      });
    return data.slice(0, PUBLIC_KEY_SIZE);
  });
}

/** Opens a client hello with `shared` = beforenm(client pk, relay sk). */
export function parseClientHandshake(data: Uint8Array, shared: Uint8Array): ParseResult<TcpClientHandshake> {
  return tryParse(() => {
    const what = "TCP client handshake";
    if (data.length !== TCP_CLIENT_HANDSHAKE_SIZE)
      throw new WireError(`${what} must be ${TCP_CLIENT_HANDSHAKE_SIZE} bytes`, {
        what,
        length: data.length,
      });
    const r = new ByteReader(data, what);
    const clientPk = r.bytesN(PUBLIC_KEY_SIZE, "clientPk");
    const nonce = r.bytesN(NONCE_SIZE, "nonce");
    const plain = decryptSymmetric(shared, nonce, r.rest());
    if (plain === null) throw new WireError(`${what}: decryption failed`, { what });
    return { clientPk, ...unpackHandshakePlain(plain) };
  });
}

/** The 96-byte relay answer, boxed with the same shared key as the hello. */
export function serializeServerHandshake(
  keys: TcpHandshakeKeys,
  shared: Uint8Array,
  nonce: Uint8Array,
): Uint8Array {
  checkSize(nonce, NONCE_SIZE, "nonce");
  const box = encryptSymmetric(shared, nonce, packHandshakePlain(keys));
  return new ByteWriter(TCP_SERVER_HANDSHAKE_SIZE).bytes(nonce).bytes(box).finish();
}

export function parseServerHandshake(data: Uint8Array, shared: Uint8Array): ParseResult<TcpHandshakeKeys> {
  return tryParse(() => {
    const what = "TCP server handshake";
    if (data.length !== TCP_SERVER_HANDSHAKE_SIZE)
      throw new WireError(`${what} must be ${TCP_SERVER_HANDSHAKE_SIZE} bytes`, {
        what,
        length: data.length,
      });
    const plain = decryptSymmetric(shared, data.subarray(0, NONCE_SIZE), data.subarray(NONCE_SIZE));
    if (plain === null) throw new WireError(`${what}: decryption failed`, { what });
    return unpackHandshakePlain(plain);
  });
}

// ---------------------------------------------------------------------------------------------
// Frames

/**
 * Seals one packet into a frame: `u16 BE length of ciphertext | sbox(key, nonce)(packet)`.
 * The caller increments its send nonce after each frame.
 */
export function sealFrame(sessionKey: Uint8Array, nonce: Uint8Array, packet: Uint8Array): Uint8Array {
  if (packet.length === 0 || packet.length > TCP_MAX_PACKET_SIZE)
    throw new RangeError(`TCP packet must be 1..${TCP_MAX_PACKET_SIZE} bytes, got ${packet.length}`);
  const cipher = encryptSymmetric(sessionKey, nonce, packet);
  return new ByteWriter(2 + cipher.length).u16be(cipher.length).bytes(cipher).finish();
}

/** Opens a frame body (without its length prefix). */
export function openFrame(
  sessionKey: Uint8Array,
  nonce: Uint8Array,
  body: Uint8Array,
): ParseResult<Uint8Array> {
  const plain = decryptSymmetric(sessionKey, nonce, body);
  if (plain === null || plain.length === 0)
    return {
      ok: false,
      error: new WireError("TCP frame: decryption failed", { what: "TCP frame", length: body.length }),
    };
  return { ok: true, value: plain };
}

/**
 * Reassembles a TCP byte stream: first a fixed-size raw handshake message (when `expectRaw` is
 * set), then length-prefixed frame bodies. Pure buffering; no crypto.
 */
export class TcpStreamReader {
  private buf = new Uint8Array(0);
  private start = 0;
  private end = 0;

  /** Appends bytes received from the socket. */
  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (this.end + bytes.length > this.buf.length) {
      const live = this.end - this.start;
      const next = new Uint8Array(Math.max(4096, (live + bytes.length) * 2));
      next.set(this.buf.subarray(this.start, this.end));
      this.buf = next;
      this.start = 0;
      this.end = live;
    }
    this.buf.set(bytes, this.end);
    this.end += bytes.length;
  }

  get buffered(): number {
    return this.end - this.start;
  }

  /** Takes exactly `n` raw bytes (a handshake message) if that many are buffered. */
  takeRaw(n: number): Uint8Array | null {
    if (this.end - this.start < n) return null;
    const out = this.buf.slice(this.start, this.start + n);
    this.start += n;
    return out;
  }

  /**
   * Takes the next complete frame body, or null if it has not fully arrived. A length of 0 or
   * above {@link TCP_MAX_FRAME_SIZE} is a WireError: the stream cannot be resynchronised.
   */
  takeFrame(): ParseResult<Uint8Array | null> {
    if (this.end - this.start < 2) return { ok: true, value: null };
    const len = (this.buf[this.start]! << 8) | this.buf[this.start + 1]!;
    if (len <= MAC_SIZE || len > TCP_MAX_FRAME_SIZE)
      return {
        ok: false,
        error: new WireError(`TCP frame length ${len} out of range`, { what: "TCP frame", length: len }),
      };
    if (this.end - this.start < 2 + len) return { ok: true, value: null };
    const body = this.buf.slice(this.start + 2, this.start + 2 + len);
    this.start += 2 + len;
    if (this.start === this.end) this.start = this.end = 0;
    return { ok: true, value: body };
  }
}

// ---------------------------------------------------------------------------------------------
// Packets inside frames

/**
 * Connection ids are carried as on the wire: 16..255 (`TCP_NUM_RESERVED_PORTS` + slot index).
 * A routing response with connection id 0 means "refused".
 */
export type TcpPacket =
  | { type: "routing-request"; publicKey: Uint8Array }
  | { type: "routing-response"; connectionId: number; publicKey: Uint8Array }
  | { type: "connect-notification"; connectionId: number }
  | { type: "disconnect-notification"; connectionId: number }
  | { type: "ping"; pingId: Uint8Array }
  | { type: "pong"; pingId: Uint8Array }
  | { type: "oob-send"; publicKey: Uint8Array; data: Uint8Array }
  | { type: "oob-recv"; publicKey: Uint8Array; data: Uint8Array }
  /** The relay acts as the first onion hop: `nonce | ip_port 19 | temp pk | box` (opaque here). */
  | { type: "onion-request"; nonce: Uint8Array; payload: Uint8Array }
  | { type: "onion-response"; data: Uint8Array }
  /** NGC-era forwarding (ids 10/11), carried opaquely. */
  | { type: "forward-request"; data: Uint8Array }
  | { type: "forwarding"; data: Uint8Array }
  | { type: "data"; connectionId: number; data: Uint8Array };

export type TcpPacketType = TcpPacket["type"];

export function serializeTcpPacket(p: TcpPacket): Uint8Array {
  const w = new ByteWriter(64);
  switch (p.type) {
    case "routing-request":
      checkSize(p.publicKey, PUBLIC_KEY_SIZE, "publicKey");
      w.u8(TCP_PACKET_ROUTING_REQUEST).bytes(p.publicKey);
      break;
    case "routing-response":
      checkSize(p.publicKey, PUBLIC_KEY_SIZE, "publicKey");
      if (p.connectionId !== 0) checkConnectionId(p.connectionId);
      w.u8(TCP_PACKET_ROUTING_RESPONSE).u8(p.connectionId).bytes(p.publicKey);
      break;
    case "connect-notification":
    case "disconnect-notification":
      checkConnectionId(p.connectionId);
      w.u8(
        p.type === "connect-notification"
          ? TCP_PACKET_CONNECTION_NOTIFICATION
          : TCP_PACKET_DISCONNECT_NOTIFICATION,
      ).u8(p.connectionId);
      break;
    case "ping":
    case "pong":
      checkSize(p.pingId, TCP_PING_ID_SIZE, "pingId");
      w.u8(p.type === "ping" ? TCP_PACKET_PING : TCP_PACKET_PONG).bytes(p.pingId);
      break;
    case "oob-send":
    case "oob-recv":
      checkSize(p.publicKey, PUBLIC_KEY_SIZE, "publicKey");
      if (p.data.length === 0 || p.data.length > TCP_MAX_OOB_DATA_LENGTH)
        throw new RangeError(`OOB data must be 1..${TCP_MAX_OOB_DATA_LENGTH} bytes, got ${p.data.length}`);
      w.u8(p.type === "oob-send" ? TCP_PACKET_OOB_SEND : TCP_PACKET_OOB_RECV)
        .bytes(p.publicKey)
        .bytes(p.data);
      break;
    case "onion-request":
      checkSize(p.nonce, NONCE_SIZE, "nonce");
      w.u8(TCP_PACKET_ONION_REQUEST).bytes(p.nonce).bytes(p.payload);
      break;
    case "onion-response":
      w.u8(TCP_PACKET_ONION_RESPONSE).bytes(p.data);
      break;
    case "forward-request":
      w.u8(TCP_PACKET_FORWARD_REQUEST).bytes(p.data);
      break;
    case "forwarding":
      w.u8(TCP_PACKET_FORWARDING).bytes(p.data);
      break;
    case "data":
      checkConnectionId(p.connectionId);
      if (p.data.length === 0) throw new RangeError("TCP data packet must not be empty");
      w.u8(p.connectionId).bytes(p.data);
      break;
  }
  const out = w.finish();
  if (out.length > TCP_MAX_PACKET_SIZE)
    throw new RangeError(`TCP ${p.type} packet is ${out.length} bytes, max ${TCP_MAX_PACKET_SIZE}`);
  return out;
}

/** Parses one decrypted frame. Unknown reserved ids (12..15) and bad lengths are WireErrors. */
export function parseTcpPacket(bytes: Uint8Array): ParseResult<TcpPacket> {
  return tryParse((): TcpPacket => {
    const what = "TCP packet";
    if (bytes.length === 0) throw new WireError("empty TCP packet", { what });
    if (bytes.length > TCP_MAX_PACKET_SIZE)
      throw new WireError("TCP packet too long", { what, length: bytes.length });
    const id = bytes[0]!;
    const r = new ByteReader(bytes, what);
    r.u8("id");
    const exact = (n: number, name: string) => {
      if (bytes.length !== n)
        throw new WireError(`${name} must be ${n} bytes`, { what: name, length: bytes.length });
    };
    const connId = (name: string) => {
      const c = r.u8("connectionId");
      if (c < TCP_NUM_RESERVED_PORTS)
        throw new WireError(`${name}: connection id ${c} is reserved`, { what: name, connectionId: c });
      return c;
    };
    switch (id) {
      case TCP_PACKET_ROUTING_REQUEST:
        exact(1 + PUBLIC_KEY_SIZE, "routing request");
        return { type: "routing-request", publicKey: r.bytesN(PUBLIC_KEY_SIZE, "publicKey") };
      case TCP_PACKET_ROUTING_RESPONSE: {
        exact(2 + PUBLIC_KEY_SIZE, "routing response");
        const connectionId = r.u8("connectionId");
        if (connectionId !== 0 && connectionId < TCP_NUM_RESERVED_PORTS)
          throw new WireError("routing response: reserved connection id", { what, connectionId });
        return { type: "routing-response", connectionId, publicKey: r.bytesN(PUBLIC_KEY_SIZE, "publicKey") };
      }
      case TCP_PACKET_CONNECTION_NOTIFICATION:
        exact(2, "connect notification");
        return { type: "connect-notification", connectionId: connId("connect notification") };
      case TCP_PACKET_DISCONNECT_NOTIFICATION:
        exact(2, "disconnect notification");
        return { type: "disconnect-notification", connectionId: connId("disconnect notification") };
      case TCP_PACKET_PING:
      case TCP_PACKET_PONG: {
        const name = id === TCP_PACKET_PING ? "ping" : "pong";
        exact(1 + TCP_PING_ID_SIZE, name);
        const pingId = r.bytesN(TCP_PING_ID_SIZE, "pingId");
        // A zero id is "no ping outstanding" in c-toxcore; a pong carrying it is invalid.
        if (id === TCP_PACKET_PONG && pingId.every((b) => b === 0))
          throw new WireError("pong with zero ping id", { what: name });
        return { type: name, pingId };
      }
      case TCP_PACKET_OOB_SEND:
      case TCP_PACKET_OOB_RECV: {
        const name = id === TCP_PACKET_OOB_SEND ? "oob-send" : "oob-recv";
        if (bytes.length <= 1 + PUBLIC_KEY_SIZE)
          throw new WireError(`${name}: no data`, { what: name, length: bytes.length });
        const publicKey = r.bytesN(PUBLIC_KEY_SIZE, "publicKey");
        const data = r.rest();
        if (data.length > TCP_MAX_OOB_DATA_LENGTH)
          throw new WireError(`${name}: data too long`, { what: name, length: data.length });
        return { type: name, publicKey, data };
      }
      case TCP_PACKET_ONION_REQUEST: {
        if (bytes.length < TCP_ONION_REQUEST_MIN_SIZE)
          throw new WireError("onion request too short", { what: "onion request", length: bytes.length });
        const nonce = r.bytesN(NONCE_SIZE, "nonce");
        return { type: "onion-request", nonce, payload: r.rest() };
      }
      case TCP_PACKET_ONION_RESPONSE:
        if (bytes.length <= 1) throw new WireError("empty onion response", { what: "onion response" });
        return { type: "onion-response", data: r.rest() };
      case TCP_PACKET_FORWARD_REQUEST:
        if (bytes.length <= 1) throw new WireError("empty forward request", { what: "forward request" });
        return { type: "forward-request", data: r.rest() };
      case TCP_PACKET_FORWARDING:
        if (bytes.length <= 1) throw new WireError("empty forwarding", { what: "forwarding" });
        return { type: "forwarding", data: r.rest() };
      default: {
        if (id < TCP_NUM_RESERVED_PORTS) throw new WireError(`unknown TCP packet id ${id}`, { what, id });
        if (bytes.length <= 1) throw new WireError("empty TCP data packet", { what, connectionId: id });
        return { type: "data", connectionId: id, data: r.rest() };
      }
    }
  });
}

function checkSize(b: Uint8Array, n: number, field: string): void {
  if (b.length !== n) throw new RangeError(`${field} must be ${n} bytes, got ${b.length}`);
}

function checkConnectionId(id: number): void {
  if (!Number.isInteger(id) || id < TCP_NUM_RESERVED_PORTS || id > 255)
    throw new RangeError(`TCP connection id must be 16..255, got ${id}`);
}
