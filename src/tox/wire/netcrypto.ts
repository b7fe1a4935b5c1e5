/**
 * net_crypto wire formats (c-toxcore 0.2.18 net_crypto.c): cookie request 0x18, cookie response
 * 0x19, the cookie itself, crypto handshake 0x1a, crypto data 0x1b and the REQUEST (id 1) gap
 * list carried inside data packets.
 *
 * Every parser is length-exact (c-toxcore drops a cookie request that is not exactly 145 bytes,
 * a response not 161, a handshake not 385) and returns a ParseResult; decryption failures are
 * WireErrors too, since to the caller they are just "not a packet for us".
 *
 * Key usage (trap 1 of the protocol map): cookie request/response are boxed with the *DHT* keys;
 * the handshake is boxed with the *real* (long-term) keys; data packets with the per-session key.
 */
import { ByteReader, ByteWriter } from "../bytes.js";
import {
  decrypt,
  decryptSymmetric,
  encrypt,
  encryptSymmetric,
  MAC_SIZE,
  NONCE_SIZE,
  PUBLIC_KEY_SIZE,
  randomNonce,
  SHA512_SIZE,
  sha512,
} from "../crypto.js";
import { type ParseResult, tryParse, WireError } from "../errors.js";

export const NET_PACKET_COOKIE_REQUEST = 0x18;
export const NET_PACKET_COOKIE_RESPONSE = 0x19;
export const NET_PACKET_CRYPTO_HS = 0x1a;
export const NET_PACKET_CRYPTO_DATA = 0x1b;

/** Ids of the first payload byte inside a data packet. */
export const PACKET_ID_PADDING = 0;
export const PACKET_ID_REQUEST = 1;
export const PACKET_ID_KILL = 2;
export const PACKET_ID_LOSSLESS_START = 16;
export const PACKET_ID_LOSSLESS_END = 191;
export const PACKET_ID_LOSSY_START = 192;
export const PACKET_ID_LOSSY_END = 254;

export const ECHO_ID_SIZE = 8;
/** real pk | DHT pk, the cookie's payload. */
const COOKIE_DATA_LENGTH = 2 * PUBLIC_KEY_SIZE;
const COOKIE_CONTENTS_LENGTH = 8 + COOKIE_DATA_LENGTH;
export const COOKIE_LENGTH = NONCE_SIZE + COOKIE_CONTENTS_LENGTH + MAC_SIZE; // 112
const COOKIE_REQUEST_PLAIN_LENGTH = COOKIE_DATA_LENGTH + ECHO_ID_SIZE; // 72
export const COOKIE_REQUEST_LENGTH =
  1 + PUBLIC_KEY_SIZE + NONCE_SIZE + COOKIE_REQUEST_PLAIN_LENGTH + MAC_SIZE; // 145
export const COOKIE_RESPONSE_LENGTH = 1 + NONCE_SIZE + COOKIE_LENGTH + ECHO_ID_SIZE + MAC_SIZE; // 161
const HANDSHAKE_PLAIN_LENGTH = NONCE_SIZE + PUBLIC_KEY_SIZE + SHA512_SIZE + COOKIE_LENGTH; // 232
export const HANDSHAKE_PACKET_LENGTH = 1 + COOKIE_LENGTH + NONCE_SIZE + HANDSHAKE_PLAIN_LENGTH + MAC_SIZE; // 385

/** `MAX_CRYPTO_PACKET_SIZE`: a data packet never exceeds this on the wire. */
export const MAX_CRYPTO_PACKET_SIZE = 1400;
/** 0x1b | nonce low 16 | MAC | buffer_start | packet_number. */
export const CRYPTO_DATA_PACKET_MIN_SIZE = 1 + 2 + 4 + 4 + MAC_SIZE; // 27
/** `MAX_CRYPTO_DATA_SIZE`: the largest payload (id byte included) one data packet carries. */
export const MAX_CRYPTO_DATA_SIZE = MAX_CRYPTO_PACKET_SIZE - CRYPTO_DATA_PACKET_MIN_SIZE; // 1373
/** `CRYPTO_MAX_PADDING`: payloads are padded so lengths leak only modulo 8. */
export const CRYPTO_MAX_PADDING = 8;
/** `DATA_NUM_THRESHOLD`: the receive-nonce advance step. */
export const DATA_NUM_THRESHOLD = 21845;

// ---------------------------------------------------------------------------------------------
// Cookie

export interface CookieContents {
  /** Issue time, opaque to everyone but the issuer (we store milliseconds of our Clock). */
  timeMs: number;
  realPk: Uint8Array;
  dhtPk: Uint8Array;
}

function checkKey(k: Uint8Array, what: string): void {
  if (k.length !== PUBLIC_KEY_SIZE) throw new RangeError(`${what} must be 32 bytes, got ${k.length}`);
}

/** `create_cookie`: nonce 24 | sbox(issuer key)(time u64 | real pk | DHT pk). */
export function createCookie(
  issuerKey: Uint8Array,
  contents: CookieContents,
  nonce: Uint8Array = randomNonce(),
): Uint8Array {
  checkKey(contents.realPk, "cookie real pk");
  checkKey(contents.dhtPk, "cookie DHT pk");
  const plain = new ByteWriter(COOKIE_CONTENTS_LENGTH)
    .u64be(BigInt(Math.max(0, Math.floor(contents.timeMs))))
    .bytes(contents.realPk)
    .bytes(contents.dhtPk)
    .finish();
  return new ByteWriter(COOKIE_LENGTH)
    .bytes(nonce)
    .bytes(encryptSymmetric(issuerKey, nonce, plain))
    .finish();
}

/** `open_cookie` minus the freshness check (the caller owns the clock). */
export function openCookie(issuerKey: Uint8Array, cookie: Uint8Array): ParseResult<CookieContents> {
  return tryParse(() => {
    if (cookie.length !== COOKIE_LENGTH)
      throw new WireError(`cookie: expected ${COOKIE_LENGTH} bytes, got ${cookie.length}`, {
        what: "cookie",
      });
    const plain = decryptSymmetric(issuerKey, cookie.subarray(0, NONCE_SIZE), cookie.subarray(NONCE_SIZE));
    if (plain === null)
      throw new WireError("cookie: not issued by us (decryption failed)", { what: "cookie" });
    const r = new ByteReader(plain, "cookie");
    const timeMs = Number(r.u64be("time"));
    return { timeMs, realPk: r.bytesN(32, "real pk"), dhtPk: r.bytesN(32, "DHT pk") };
  });
}

// ---------------------------------------------------------------------------------------------
// Cookie request 0x18 / response 0x19

export interface CookieRequest {
  senderDhtPk: Uint8Array;
  senderRealPk: Uint8Array;
  echoId: Uint8Array;
}

/**
 * `create_cookie_request`: 0x18 | sender DHT pk | nonce | sbox(DHT shared)(real pk | 32 zeros |
 * echo id 8). `sharedKey` = precompute(receiver DHT pk, sender DHT sk).
 */
export function serializeCookieRequest(
  req: CookieRequest,
  sharedKey: Uint8Array,
  nonce: Uint8Array = randomNonce(),
): Uint8Array {
  checkKey(req.senderDhtPk, "sender DHT pk");
  checkKey(req.senderRealPk, "sender real pk");
  if (req.echoId.length !== ECHO_ID_SIZE) throw new RangeError("echo id must be 8 bytes");
  const plain = new ByteWriter(COOKIE_REQUEST_PLAIN_LENGTH)
    .bytes(req.senderRealPk)
    .zeros(PUBLIC_KEY_SIZE)
    .bytes(req.echoId)
    .finish();
  return new ByteWriter(COOKIE_REQUEST_LENGTH)
    .u8(NET_PACKET_COOKIE_REQUEST)
    .bytes(req.senderDhtPk)
    .bytes(nonce)
    .bytes(encryptSymmetric(sharedKey, nonce, plain))
    .finish();
}

/** The sender's DHT pk of a cookie request, so the receiver can derive the shared key. */
export function peekCookieRequestSender(data: Uint8Array): ParseResult<Uint8Array> {
  return tryParse(() => {
    if (data.length !== COOKIE_REQUEST_LENGTH || data[0] !== NET_PACKET_COOKIE_REQUEST)
      throw new WireError(`cookie request: expected ${COOKIE_REQUEST_LENGTH} bytes, got ${data.length}`, {
        what: "cookie request",
      });
    return data.slice(1, 1 + PUBLIC_KEY_SIZE);
  });
}

/** `handle_cookie_request`. `sharedKey` = precompute(sender DHT pk, our DHT sk). */
export function parseCookieRequest(data: Uint8Array, sharedKey: Uint8Array): ParseResult<CookieRequest> {
  return tryParse(() => {
    const what = "cookie request";
    if (data.length !== COOKIE_REQUEST_LENGTH)
      throw new WireError(`${what}: expected ${COOKIE_REQUEST_LENGTH} bytes, got ${data.length}`, { what });
    const r = new ByteReader(data, what);
    if (r.u8("id") !== NET_PACKET_COOKIE_REQUEST) throw new WireError(`${what}: wrong packet id`, { what });
    const senderDhtPk = r.bytesN(32, "sender DHT pk");
    const nonce = r.bytesN(NONCE_SIZE, "nonce");
    const plain = decryptSymmetric(sharedKey, nonce, r.rest());
    if (plain === null) throw new WireError(`${what}: decryption failed`, { what });
    return {
      senderDhtPk,
      senderRealPk: plain.slice(0, 32),
      echoId: plain.slice(64, 64 + ECHO_ID_SIZE),
    };
  });
}

export interface CookieResponse {
  cookie: Uint8Array;
  echoId: Uint8Array;
}

/** `create_cookie_response`: 0x19 | nonce | sbox(DHT shared)(cookie 112 | echo id 8). */
export function serializeCookieResponse(
  res: CookieResponse,
  sharedKey: Uint8Array,
  nonce: Uint8Array = randomNonce(),
): Uint8Array {
  if (res.cookie.length !== COOKIE_LENGTH) throw new RangeError("cookie must be 112 bytes");
  if (res.echoId.length !== ECHO_ID_SIZE) throw new RangeError("echo id must be 8 bytes");
  const plain = new ByteWriter(COOKIE_LENGTH + ECHO_ID_SIZE).bytes(res.cookie).bytes(res.echoId).finish();
  return new ByteWriter(COOKIE_RESPONSE_LENGTH)
    .u8(NET_PACKET_COOKIE_RESPONSE)
    .bytes(nonce)
    .bytes(encryptSymmetric(sharedKey, nonce, plain))
    .finish();
}

export function parseCookieResponse(data: Uint8Array, sharedKey: Uint8Array): ParseResult<CookieResponse> {
  return tryParse(() => {
    const what = "cookie response";
    if (data.length !== COOKIE_RESPONSE_LENGTH)
      throw new WireError(`${what}: expected ${COOKIE_RESPONSE_LENGTH} bytes, got ${data.length}`, { what });
    const r = new ByteReader(data, what);
    if (r.u8("id") !== NET_PACKET_COOKIE_RESPONSE) throw new WireError(`${what}: wrong packet id`, { what });
    const nonce = r.bytesN(NONCE_SIZE, "nonce");
    const plain = decryptSymmetric(sharedKey, nonce, r.rest());
    if (plain === null) throw new WireError(`${what}: decryption failed`, { what });
    return { cookie: plain.slice(0, COOKIE_LENGTH), echoId: plain.slice(COOKIE_LENGTH) };
  });
}

// ---------------------------------------------------------------------------------------------
// Crypto handshake 0x1a

export interface Handshake {
  /** The cookie the receiver issued to us (goes first, in clear). */
  cookie: Uint8Array;
  /** Our first data-packet nonce. */
  baseNonce: Uint8Array;
  sessionPk: Uint8Array;
  /** A cookie issued by the sender for the receiver (receiver's real pk + DHT pk inside). */
  newCookie: Uint8Array;
}

/**
 * `create_crypto_handshake`: 0x1a | cookie | nonce | box(our real sk → peer real pk)(base nonce |
 * session pk | sha512(cookie) | new cookie).
 */
export function serializeHandshake(
  hs: Handshake,
  ourRealSk: Uint8Array,
  peerRealPk: Uint8Array,
  nonce: Uint8Array = randomNonce(),
): Uint8Array {
  if (hs.cookie.length !== COOKIE_LENGTH || hs.newCookie.length !== COOKIE_LENGTH)
    throw new RangeError("handshake cookies must be 112 bytes");
  if (hs.baseNonce.length !== NONCE_SIZE) throw new RangeError("base nonce must be 24 bytes");
  checkKey(hs.sessionPk, "session pk");
  const plain = new ByteWriter(HANDSHAKE_PLAIN_LENGTH)
    .bytes(hs.baseNonce)
    .bytes(hs.sessionPk)
    .bytes(sha512(hs.cookie))
    .bytes(hs.newCookie)
    .finish();
  return new ByteWriter(HANDSHAKE_PACKET_LENGTH)
    .u8(NET_PACKET_CRYPTO_HS)
    .bytes(hs.cookie)
    .bytes(nonce)
    .bytes(encrypt(peerRealPk, ourRealSk, nonce, plain))
    .finish();
}

export interface ParsedHandshake {
  /** Sender's keys, read from the head cookie we issued. */
  peerRealPk: Uint8Array;
  peerDhtPk: Uint8Array;
  /** Issue time of the head cookie (our clock), for the freshness check. */
  cookieTimeMs: number;
  baseNonce: Uint8Array;
  sessionPk: Uint8Array;
  newCookie: Uint8Array;
}

/**
 * `handle_crypto_handshake`: opens the head cookie with our cookie key (which names the sender),
 * then the box with the sender's real pk, and checks the cookie hash. Cookie freshness is left to
 * the caller (it has the clock).
 */
export function parseHandshake(
  data: Uint8Array,
  cookieKey: Uint8Array,
  ourRealSk: Uint8Array,
): ParseResult<ParsedHandshake> {
  return tryParse(() => {
    const what = "crypto handshake";
    if (data.length !== HANDSHAKE_PACKET_LENGTH)
      throw new WireError(`${what}: expected ${HANDSHAKE_PACKET_LENGTH} bytes, got ${data.length}`, { what });
    if (data[0] !== NET_PACKET_CRYPTO_HS) throw new WireError(`${what}: wrong packet id`, { what });
    const cookie = data.subarray(1, 1 + COOKIE_LENGTH);
    const opened = openCookie(cookieKey, cookie);
    if (!opened.ok) throw new WireError(`${what}: ${opened.error.message}`, { what, field: "cookie" });
    const nonce = data.subarray(1 + COOKIE_LENGTH, 1 + COOKIE_LENGTH + NONCE_SIZE);
    const plain = decrypt(
      opened.value.realPk,
      ourRealSk,
      nonce,
      data.subarray(1 + COOKIE_LENGTH + NONCE_SIZE),
    );
    if (plain === null) throw new WireError(`${what}: decryption failed`, { what });
    const hash = sha512(cookie);
    const sent = plain.subarray(NONCE_SIZE + PUBLIC_KEY_SIZE, NONCE_SIZE + PUBLIC_KEY_SIZE + SHA512_SIZE);
    let diff = 0;
    for (let i = 0; i < SHA512_SIZE; i++) diff |= hash[i]! ^ sent[i]!;
    if (diff !== 0) throw new WireError(`${what}: cookie hash mismatch`, { what });
    return {
      peerRealPk: opened.value.realPk,
      peerDhtPk: opened.value.dhtPk,
      cookieTimeMs: opened.value.timeMs,
      baseNonce: plain.slice(0, NONCE_SIZE),
      sessionPk: plain.slice(NONCE_SIZE, NONCE_SIZE + PUBLIC_KEY_SIZE),
      newCookie: plain.slice(NONCE_SIZE + PUBLIC_KEY_SIZE + SHA512_SIZE),
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Data packet 0x1b

export interface DataPlain {
  bufferStart: number;
  packetNumber: number;
  /** First byte is the inner packet id (never 0: zeros are padding). */
  payload: Uint8Array;
}

/** `(MAX_CRYPTO_DATA_SIZE − len) % 8`, as in `send_data_packet_helper`. */
export function paddingLength(payloadLength: number): number {
  return (MAX_CRYPTO_DATA_SIZE - payloadLength) % CRYPTO_MAX_PADDING;
}

/**
 * `send_data_packet_helper` + `send_data_packet`: 0x1b | low 16 bits of `nonce` BE |
 * sbox(session key, nonce)(buffer_start u32 BE | packet_number u32 BE | zero padding | payload).
 */
export function serializeDataPacket(sessionKey: Uint8Array, nonce: Uint8Array, plain: DataPlain): Uint8Array {
  const len = plain.payload.length;
  if (len === 0 || len > MAX_CRYPTO_DATA_SIZE)
    throw new RangeError(`data payload must be 1..${MAX_CRYPTO_DATA_SIZE} bytes, got ${len}`);
  if (plain.payload[0] === PACKET_ID_PADDING) throw new RangeError("data payload must not start with 0");
  const pad = paddingLength(len);
  const inner = new ByteWriter(8 + pad + len)
    .u32be(plain.bufferStart >>> 0)
    .u32be(plain.packetNumber >>> 0)
    .zeros(pad)
    .bytes(plain.payload)
    .finish();
  const cipher = encryptSymmetric(sessionKey, nonce, inner);
  const out = new Uint8Array(3 + cipher.length);
  out[0] = NET_PACKET_CRYPTO_DATA;
  out[1] = nonce[NONCE_SIZE - 2]!;
  out[2] = nonce[NONCE_SIZE - 1]!;
  out.set(cipher, 3);
  return out;
}

/** The 16-bit nonce hint of a data packet, after the cheap length checks c-toxcore does. */
export function peekDataNonce(data: Uint8Array): ParseResult<number> {
  return tryParse(() => {
    if (data.length <= CRYPTO_DATA_PACKET_MIN_SIZE || data.length > MAX_CRYPTO_PACKET_SIZE)
      throw new WireError(`crypto data: bad length ${data.length}`, { what: "crypto data" });
    if (data[0] !== NET_PACKET_CRYPTO_DATA) throw new WireError("crypto data: wrong packet id");
    return (data[1]! << 8) | data[2]!;
  });
}

/** The low 16 bits of a 24-byte nonce (big-endian tail). */
export function nonceLow16(nonce: Uint8Array): number {
  return (nonce[NONCE_SIZE - 2]! << 8) | nonce[NONCE_SIZE - 1]!;
}

/**
 * `handle_data_packet` nonce rule: the packet's nonce is recvNonce + ((low16 − recvLow16) mod
 * 65536). Returns that nonce and the distance; the caller advances its receive nonce by
 * DATA_NUM_THRESHOLD when `diff > 2 * DATA_NUM_THRESHOLD` *after* a successful decrypt.
 */
export function dataPacketNonce(recvNonce: Uint8Array, low16: number): { nonce: Uint8Array; diff: number } {
  const diff = (low16 - nonceLow16(recvNonce)) & 0xffff;
  const nonce = Uint8Array.from(recvNonce);
  // incrementNonceBy inline (crypto.ts has it too, but avoiding a 2nd copy on the hot path).
  let carry = diff;
  for (let i = NONCE_SIZE - 1; i >= 0 && carry !== 0; i--) {
    const sum = nonce[i]! + (carry & 0xff);
    nonce[i] = sum & 0xff;
    carry = (carry >>> 8) + (sum >> 8);
  }
  return { nonce, diff };
}

/** Decrypts a data packet with an explicit full nonce and strips the padding. */
export function openDataPacket(
  sessionKey: Uint8Array,
  nonce: Uint8Array,
  data: Uint8Array,
): ParseResult<DataPlain> {
  return tryParse(() => {
    const what = "crypto data";
    if (data.length <= CRYPTO_DATA_PACKET_MIN_SIZE || data.length > MAX_CRYPTO_PACKET_SIZE)
      throw new WireError(`${what}: bad length ${data.length}`, { what });
    if (data[0] !== NET_PACKET_CRYPTO_DATA) throw new WireError(`${what}: wrong packet id`, { what });
    const plain = decryptSymmetric(sessionKey, nonce, data.subarray(3));
    if (plain === null) throw new WireError(`${what}: decryption failed`, { what });
    return parseDataPlain(plain);
  });
}

/** The decrypted body: buffer_start | packet_number | zero padding | payload (payload non-empty). */
export function parseDataPlain(plain: Uint8Array): DataPlain {
  const what = "crypto data";
  if (plain.length <= 8) throw new WireError(`${what}: plaintext too short (${plain.length})`, { what });
  const r = new ByteReader(plain, what);
  const bufferStart = r.u32be("buffer_start");
  const packetNumber = r.u32be("packet_number");
  let i = 8;
  while (i < plain.length && plain[i] === PACKET_ID_PADDING) i++;
  if (i === plain.length) throw new WireError(`${what}: only padding`, { what });
  return { bufferStart, packetNumber, payload: plain.slice(i) };
}

// ---------------------------------------------------------------------------------------------
// REQUEST (id 1) gap list

/**
 * `generate_request_packet`: walking the receive window [buffer_start, buffer_end), each missing
 * packet writes the distance since the previous entry (first distance counts from 1); after 255
 * present packets in a row a 0 is written. `isMissing(offset)` answers for offsets from
 * buffer_start. Output includes the leading id byte and is cut at `maxLength` like c-toxcore's.
 */
export function encodeRequest(
  span: number,
  isMissing: (offset: number) => boolean,
  maxLength = MAX_CRYPTO_DATA_SIZE,
): Uint8Array {
  const out: number[] = [PACKET_ID_REQUEST];
  let n = 1;
  for (let off = 0; off < span && out.length < maxLength; off++) {
    if (isMissing(off)) {
      out.push(n);
      n = 0;
    } else if (n === 255) {
      out.push(0);
      n = 0;
    }
    n++;
  }
  return Uint8Array.from(out);
}

export interface DecodedRequest {
  /** Offsets from the sender's buffer_start that the peer asks us to resend. */
  requested: number[];
  /**
   * Number of offsets the list covers; offsets below it that are not requested were received.
   * Offsets at or beyond it are unknown (c-toxcore's handler stops there too).
   */
  covered: number;
}

/** Inverse of {@link encodeRequest}; `payload` starts with the id byte 1. */
export function decodeRequest(payload: Uint8Array): ParseResult<DecodedRequest> {
  return tryParse(() => {
    if (payload.length === 0 || payload[0] !== PACKET_ID_REQUEST)
      throw new WireError("request packet: missing id 1", { what: "request packet" });
    const requested: number[] = [];
    let pos = 0;
    for (let i = 1; i < payload.length; i++) {
      const b = payload[i]!;
      if (b === 0) {
        pos += 255;
      } else {
        pos += b - 1;
        requested.push(pos);
        pos++;
      }
    }
    return { requested, covered: pos };
  });
}
