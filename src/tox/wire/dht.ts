/**
 * DHT wire formats (c-toxcore 0.2.18 DHT.c, ping.c, LAN_discovery.c,
 * other/bootstrap_node_packets.c): ping request/response 0x00/0x01, nodes request 0x02 and
 * response 0x04, the routed "crypto request" 0x20 and its inner packets (NAT ping 0xFE; DHT-PK
 * 0x9C is carried as an opaque payload for the onion layer), LAN discovery 0x21 and the
 * bootstrap-info 0xF0 request/answer.
 *
 * Layers, each a pure function pair:
 *  - the generic DHT envelope `type | sender DHT pk | nonce | box(shared key)(plain)`
 *    (`splitDhtEnvelope` / `sealDhtEnvelope` / `openDhtEnvelope`): the caller looks up the shared
 *    key for the sender pk between splitting and opening, so this module never sees secret keys;
 *  - the plaintexts (`encodePingPlain`, `parseNodesResponsePlain`, ...), length-exact;
 *  - whole packets (`serializePing` / `parsePing`, ...) combining the two.
 *
 * c-toxcore drops a ping that is not exactly 82 bytes and a nodes request not exactly 113, and a
 * nodes response whose node count does not match its packed nodes; our parsers are as strict.
 * Every parser returns a ParseResult and never throws.
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
} from "../crypto.js";
import { type ParseResult, tryParse, WireError } from "../errors.js";
import { type NodeInfo, packedNodeSize, readNode, writeNode } from "./ipport.js";

export const NET_PACKET_PING_REQUEST = 0x00;
export const NET_PACKET_PING_RESPONSE = 0x01;
export const NET_PACKET_NODES_REQUEST = 0x02;
export const NET_PACKET_NODES_RESPONSE = 0x04;
export const NET_PACKET_CRYPTO = 0x20;
export const NET_PACKET_LAN_DISCOVERY = 0x21;
export const NET_PACKET_BOOTSTRAP_INFO = 0xf0;

/** Inner ids of a 0x20 crypto request (DHT.h `CRYPTO_PACKET_*`). */
export const CRYPTO_PACKET_FRIEND_REQ = 32;
export const CRYPTO_PACKET_DHTPK = 156;
export const CRYPTO_PACKET_NAT_PING = 254;

export const NAT_PING_REQUEST = 0;
export const NAT_PING_RESPONSE = 1;

export const PING_ID_SIZE = 8;
/** `MAX_SENT_NODES`: a nodes response carries at most 4 nodes. */
export const MAX_SENT_NODES = 4;
/** `MAX_CRYPTO_REQUEST_SIZE`: a whole 0x20 packet we create is at most this long. */
export const MAX_CRYPTO_REQUEST_SIZE = 1024;
/** c-toxcore's receive bound for 0x20 (`cryptopacket_handle` allows MAC_SIZE extra). */
export const MAX_CRYPTO_PACKET_RECEIVE_SIZE = MAX_CRYPTO_REQUEST_SIZE + MAC_SIZE;

/** type | sender pk | nonce: the part of a DHT envelope before the box. */
export const DHT_ENVELOPE_HEADER_SIZE = 1 + PUBLIC_KEY_SIZE + NONCE_SIZE; // 57
const PING_PLAIN_SIZE = 1 + PING_ID_SIZE;
export const PING_PACKET_SIZE = DHT_ENVELOPE_HEADER_SIZE + PING_PLAIN_SIZE + MAC_SIZE; // 82
const NODES_REQUEST_PLAIN_SIZE = PUBLIC_KEY_SIZE + PING_ID_SIZE;
export const NODES_REQUEST_SIZE = DHT_ENVELOPE_HEADER_SIZE + NODES_REQUEST_PLAIN_SIZE + MAC_SIZE; // 113
/** 0x20 | receiver pk | sender pk | nonce. */
export const CRYPTO_REQUEST_HEADER_SIZE = 1 + 2 * PUBLIC_KEY_SIZE + NONCE_SIZE; // 89
export const LAN_DISCOVERY_SIZE = 1 + PUBLIC_KEY_SIZE; // 33
/** `INFO_REQUEST_PACKET_LENGTH`: a bootstrap-info request is 0xF0 and 77 ignored bytes. */
export const BOOTSTRAP_INFO_REQUEST_SIZE = 78;
/** `MAX_MOTD_LENGTH` of bootstrap_node_packets.h. */
export const MAX_MOTD_LENGTH = 256;

function checkKey(k: Uint8Array, what: string): void {
  if (k.length !== PUBLIC_KEY_SIZE) throw new RangeError(`${what} must be 32 bytes, got ${k.length}`);
}

function checkPingId(id: Uint8Array): void {
  if (id.length !== PING_ID_SIZE) throw new RangeError(`ping id must be 8 bytes, got ${id.length}`);
}

// ---------------------------------------------------------------------------------------------
// Generic envelope: type | sender DHT pk | nonce | box

export interface DhtEnvelope {
  type: number;
  senderPk: Uint8Array;
  nonce: Uint8Array;
  /** MAC | encrypted plaintext. */
  box: Uint8Array;
}

/** Splits the envelope without decrypting (the caller needs senderPk to find the shared key). */
export function splitDhtEnvelope(data: Uint8Array): ParseResult<DhtEnvelope> {
  return tryParse(() => {
    const r = new ByteReader(data, "DHT packet");
    const type = r.u8("packet id");
    const senderPk = r.bytesN(PUBLIC_KEY_SIZE, "sender pk");
    const nonce = r.bytesN(NONCE_SIZE, "nonce");
    const box = r.rest();
    if (box.length <= MAC_SIZE)
      throw new WireError(`DHT packet 0x${type.toString(16)}: box of ${box.length} bytes holds no data`, {
        what: "DHT packet",
        field: "box",
      });
    return { type, senderPk, nonce, box };
  });
}

/** `dht_create_packet`. `sharedKey` = precompute(receiver DHT pk, our DHT sk). */
export function sealDhtEnvelope(
  type: number,
  senderPk: Uint8Array,
  sharedKey: Uint8Array,
  plain: Uint8Array,
  nonce: Uint8Array = randomNonce(),
): Uint8Array {
  checkKey(senderPk, "sender pk");
  return new ByteWriter(DHT_ENVELOPE_HEADER_SIZE + plain.length + MAC_SIZE)
    .u8(type)
    .bytes(senderPk)
    .bytes(nonce)
    .bytes(encryptSymmetric(sharedKey, nonce, plain))
    .finish();
}

/** Decrypts an envelope's box; a failure is a WireError naming the packet. */
export function openDhtEnvelope(
  env: DhtEnvelope,
  sharedKey: Uint8Array,
  what: string,
): ParseResult<Uint8Array> {
  return tryParse(() => {
    const plain = decryptSymmetric(sharedKey, env.nonce, env.box);
    if (plain === null) throw new WireError(`${what}: decryption failed (wrong key or tampered)`, { what });
    return plain;
  });
}

// ---------------------------------------------------------------------------------------------
// Plaintexts

export interface PingPlain {
  /** 0x00 request or 0x01 response: repeated inside the box so a request cannot be replayed as a response. */
  type: typeof NET_PACKET_PING_REQUEST | typeof NET_PACKET_PING_RESPONSE;
  pingId: Uint8Array;
}

export function encodePingPlain(p: PingPlain): Uint8Array {
  checkPingId(p.pingId);
  return new ByteWriter(PING_PLAIN_SIZE).u8(p.type).bytes(p.pingId).finish();
}

export function parsePingPlain(plain: Uint8Array): ParseResult<PingPlain> {
  return tryParse(() => {
    const r = new ByteReader(plain, "ping");
    const type = r.u8("ping type");
    if (type !== NET_PACKET_PING_REQUEST && type !== NET_PACKET_PING_RESPONSE)
      throw new WireError(`ping: inner type ${type} is neither request nor response`, {
        what: "ping",
        field: "ping type",
      });
    const pingId = r.bytesN(PING_ID_SIZE, "ping id");
    r.end();
    return { type, pingId };
  });
}

export interface NodesRequestPlain {
  /** The key whose closest nodes are wanted. */
  searchedPk: Uint8Array;
  pingId: Uint8Array;
}

export function encodeNodesRequestPlain(p: NodesRequestPlain): Uint8Array {
  checkKey(p.searchedPk, "searched pk");
  checkPingId(p.pingId);
  return new ByteWriter(NODES_REQUEST_PLAIN_SIZE).bytes(p.searchedPk).bytes(p.pingId).finish();
}

export function parseNodesRequestPlain(plain: Uint8Array): ParseResult<NodesRequestPlain> {
  return tryParse(() => {
    const r = new ByteReader(plain, "nodes request");
    const searchedPk = r.bytesN(PUBLIC_KEY_SIZE, "searched pk");
    const pingId = r.bytesN(PING_ID_SIZE, "ping id");
    r.end();
    return { searchedPk, pingId };
  });
}

export interface NodesResponsePlain {
  nodes: NodeInfo[];
  pingId: Uint8Array;
}

export function encodeNodesResponsePlain(p: NodesResponsePlain): Uint8Array {
  if (p.nodes.length > MAX_SENT_NODES)
    throw new RangeError(`a nodes response carries at most ${MAX_SENT_NODES} nodes, got ${p.nodes.length}`);
  checkPingId(p.pingId);
  const w = new ByteWriter(1 + p.nodes.length * 51 + PING_ID_SIZE).u8(p.nodes.length);
  for (const n of p.nodes) writeNode(w, n);
  return w.bytes(p.pingId).finish();
}

/** `handle_sendnodes_core`: count ≤ 4 and the packed nodes must fill exactly the space before the ping id. */
export function parseNodesResponsePlain(plain: Uint8Array): ParseResult<NodesResponsePlain> {
  return tryParse(() => {
    const what = "nodes response";
    if (plain.length < 1 + PING_ID_SIZE)
      throw new WireError(`${what}: ${plain.length} bytes is too short`, { what });
    const count = plain[0]!;
    if (count > MAX_SENT_NODES)
      throw new WireError(`${what}: node count ${count} exceeds ${MAX_SENT_NODES}`, { what, field: "count" });
    const body = plain.subarray(1, plain.length - PING_ID_SIZE);
    const r = new ByteReader(body, what);
    const nodes: NodeInfo[] = [];
    for (let i = 0; i < count; i++) nodes.push(readNode(r));
    r.end();
    return { nodes, pingId: plain.slice(plain.length - PING_ID_SIZE) };
  });
}

// ---------------------------------------------------------------------------------------------
// Whole ping / nodes packets

export interface DhtSender {
  senderPk: Uint8Array;
}

export function serializePing(
  p: PingPlain,
  senderPk: Uint8Array,
  sharedKey: Uint8Array,
  nonce?: Uint8Array,
): Uint8Array {
  return sealDhtEnvelope(p.type, senderPk, sharedKey, encodePingPlain(p), nonce);
}

/** Length-exact (82). The outer id must equal the id inside the box. */
export function parsePing(data: Uint8Array, sharedKey: Uint8Array): ParseResult<PingPlain & DhtSender> {
  return tryParse(() => {
    const what = "ping";
    if (data.length !== PING_PACKET_SIZE)
      throw new WireError(`${what}: expected ${PING_PACKET_SIZE} bytes, got ${data.length}`, { what });
    const env = splitOrThrow(data);
    const plain = openOrThrow(env, sharedKey, what);
    const p = unwrapInner(parsePingPlain(plain));
    if (p.type !== env.type)
      throw new WireError(`${what}: outer id ${env.type} does not match inner id ${p.type}`, { what });
    return { ...p, senderPk: env.senderPk };
  });
}

export function serializeNodesRequest(
  p: NodesRequestPlain,
  senderPk: Uint8Array,
  sharedKey: Uint8Array,
  nonce?: Uint8Array,
): Uint8Array {
  return sealDhtEnvelope(NET_PACKET_NODES_REQUEST, senderPk, sharedKey, encodeNodesRequestPlain(p), nonce);
}

/** Length-exact (113). */
export function parseNodesRequest(
  data: Uint8Array,
  sharedKey: Uint8Array,
): ParseResult<NodesRequestPlain & DhtSender> {
  return tryParse(() => {
    const what = "nodes request";
    if (data.length !== NODES_REQUEST_SIZE)
      throw new WireError(`${what}: expected ${NODES_REQUEST_SIZE} bytes, got ${data.length}`, { what });
    const env = splitOrThrow(data);
    if (env.type !== NET_PACKET_NODES_REQUEST) throw new WireError(`${what}: wrong packet id`, { what });
    const p = unwrapInner(parseNodesRequestPlain(openOrThrow(env, sharedKey, what)));
    return { ...p, senderPk: env.senderPk };
  });
}

export function serializeNodesResponse(
  p: NodesResponsePlain,
  senderPk: Uint8Array,
  sharedKey: Uint8Array,
  nonce?: Uint8Array,
): Uint8Array {
  return sealDhtEnvelope(NET_PACKET_NODES_RESPONSE, senderPk, sharedKey, encodeNodesResponsePlain(p), nonce);
}

/** Exact size of a nodes response carrying these nodes. */
export function nodesResponseSize(nodes: readonly NodeInfo[]): number {
  let n = 0;
  for (const node of nodes) n += packedNodeSize(node);
  return DHT_ENVELOPE_HEADER_SIZE + 1 + n + PING_ID_SIZE + MAC_SIZE;
}

export function parseNodesResponse(
  data: Uint8Array,
  sharedKey: Uint8Array,
): ParseResult<NodesResponsePlain & DhtSender> {
  return tryParse(() => {
    const what = "nodes response";
    const minimum = DHT_ENVELOPE_HEADER_SIZE + 1 + PING_ID_SIZE + MAC_SIZE;
    if (data.length < minimum || data.length > minimum + MAX_SENT_NODES * 51)
      throw new WireError(`${what}: ${data.length} bytes is outside ${minimum}..${minimum + 204}`, { what });
    const env = splitOrThrow(data);
    if (env.type !== NET_PACKET_NODES_RESPONSE) throw new WireError(`${what}: wrong packet id`, { what });
    const p = unwrapInner(parseNodesResponsePlain(openOrThrow(env, sharedKey, what)));
    return { ...p, senderPk: env.senderPk };
  });
}

// ---------------------------------------------------------------------------------------------
// 0x20 crypto request (routed): 0x20 | receiver pk | sender pk | nonce | box(id u8 | data)

export interface CryptoRequestHeader {
  receiverPk: Uint8Array;
  senderPk: Uint8Array;
  nonce: Uint8Array;
  box: Uint8Array;
}

/**
 * Splits a 0x20 packet so the receiver can decide to open it (receiver pk is ours) or route it
 * unchanged (receiver is in our close list). Bounds as `cryptopacket_handle`.
 */
export function splitCryptoRequest(data: Uint8Array): ParseResult<CryptoRequestHeader> {
  return tryParse(() => {
    const what = "crypto request";
    if (data.length <= CRYPTO_REQUEST_HEADER_SIZE + MAC_SIZE || data.length > MAX_CRYPTO_PACKET_RECEIVE_SIZE)
      throw new WireError(`${what}: ${data.length} bytes is outside its bounds`, { what });
    const r = new ByteReader(data, what);
    if (r.u8("packet id") !== NET_PACKET_CRYPTO) throw new WireError(`${what}: wrong packet id`, { what });
    return {
      receiverPk: r.bytesN(PUBLIC_KEY_SIZE, "receiver pk"),
      senderPk: r.bytesN(PUBLIC_KEY_SIZE, "sender pk"),
      nonce: r.bytesN(NONCE_SIZE, "nonce"),
      box: r.rest(),
    };
  });
}

export interface CryptoRequestInner {
  id: number;
  data: Uint8Array;
}

/**
 * `create_request`: boxed with the sender's DHT secret key to the receiver's DHT pk.
 * `sharedKey` = precompute(receiver pk, sender sk) (callers cache it).
 */
export function serializeCryptoRequest(
  receiverPk: Uint8Array,
  senderPk: Uint8Array,
  sharedKey: Uint8Array,
  inner: CryptoRequestInner,
  nonce: Uint8Array = randomNonce(),
): Uint8Array {
  checkKey(receiverPk, "receiver pk");
  checkKey(senderPk, "sender pk");
  const size = CRYPTO_REQUEST_HEADER_SIZE + 1 + inner.data.length + MAC_SIZE;
  if (size > MAX_CRYPTO_REQUEST_SIZE)
    throw new RangeError(`crypto request of ${size} bytes exceeds ${MAX_CRYPTO_REQUEST_SIZE}`);
  const plain = new ByteWriter(1 + inner.data.length).u8(inner.id).bytes(inner.data).finish();
  return new ByteWriter(size)
    .u8(NET_PACKET_CRYPTO)
    .bytes(receiverPk)
    .bytes(senderPk)
    .bytes(nonce)
    .bytes(encryptSymmetric(sharedKey, nonce, plain))
    .finish();
}

/** `handle_request` after the receiver check. `sharedKey` = precompute(sender pk, our sk). */
export function openCryptoRequest(
  header: CryptoRequestHeader,
  sharedKey: Uint8Array,
): ParseResult<CryptoRequestInner> {
  return tryParse(() => {
    const what = "crypto request";
    const plain = decryptSymmetric(sharedKey, header.nonce, header.box);
    if (plain === null || plain.length === 0) throw new WireError(`${what}: decryption failed`, { what });
    // An inner packet may be just its id (c-toxcore's handle_request passes 0 data bytes on).
    return { id: plain[0]!, data: plain.slice(1) };
  });
}

/** Convenience for callers without a key cache (tests, one-offs). */
export function createCryptoRequest(
  receiverPk: Uint8Array,
  sender: { publicKey: Uint8Array; secretKey: Uint8Array },
  inner: CryptoRequestInner,
  nonce: Uint8Array = randomNonce(),
): Uint8Array {
  const plain = new ByteWriter(1 + inner.data.length).u8(inner.id).bytes(inner.data).finish();
  return new ByteWriter()
    .u8(NET_PACKET_CRYPTO)
    .bytes(receiverPk)
    .bytes(sender.publicKey)
    .bytes(nonce)
    .bytes(encrypt(receiverPk, sender.secretKey, nonce, plain))
    .finish();
}

export function decryptCryptoRequest(
  data: Uint8Array,
  receiver: { publicKey: Uint8Array; secretKey: Uint8Array },
): ParseResult<CryptoRequestInner & { senderPk: Uint8Array }> {
  return tryParse(() => {
    const h = unwrapInner(splitCryptoRequest(data));
    const plain = decrypt(h.senderPk, receiver.secretKey, h.nonce, h.box);
    if (plain === null || plain.length === 0)
      throw new WireError("crypto request: decryption failed", { what: "crypto request" });
    return { id: plain[0]!, data: plain.slice(1), senderPk: h.senderPk };
  });
}

// ---------------------------------------------------------------------------------------------
// NAT ping (inner id 0xFE): kind u8 (0 request, 1 response) | ping id 8

export interface NatPing {
  kind: typeof NAT_PING_REQUEST | typeof NAT_PING_RESPONSE;
  pingId: Uint8Array;
}

export function encodeNatPing(p: NatPing): Uint8Array {
  checkPingId(p.pingId);
  return new ByteWriter(1 + PING_ID_SIZE).u8(p.kind).bytes(p.pingId).finish();
}

export function parseNatPing(data: Uint8Array): ParseResult<NatPing> {
  return tryParse(() => {
    const r = new ByteReader(data, "NAT ping");
    const kind = r.u8("kind");
    if (kind !== NAT_PING_REQUEST && kind !== NAT_PING_RESPONSE)
      throw new WireError(`NAT ping: unknown kind ${kind}`, { what: "NAT ping", field: "kind" });
    const pingId = r.bytesN(PING_ID_SIZE, "ping id");
    r.end();
    return { kind, pingId };
  });
}

// ---------------------------------------------------------------------------------------------
// LAN discovery 0x21: plaintext DHT pk

export function serializeLanDiscovery(dhtPk: Uint8Array): Uint8Array {
  checkKey(dhtPk, "DHT pk");
  return new ByteWriter(LAN_DISCOVERY_SIZE).u8(NET_PACKET_LAN_DISCOVERY).bytes(dhtPk).finish();
}

export function parseLanDiscovery(data: Uint8Array): ParseResult<{ dhtPk: Uint8Array }> {
  return tryParse(() => {
    const r = new ByteReader(data, "LAN discovery");
    if (r.u8("packet id") !== NET_PACKET_LAN_DISCOVERY)
      throw new WireError("LAN discovery: wrong packet id", { what: "LAN discovery" });
    const dhtPk = r.bytesN(PUBLIC_KEY_SIZE, "DHT pk");
    r.end();
    return { dhtPk };
  });
}

// ---------------------------------------------------------------------------------------------
// Bootstrap info 0xF0: request = 0xF0 + 77 bytes; answer = 0xF0 | version u32 BE | MOTD

export function serializeBootstrapInfoRequest(): Uint8Array {
  const out = new Uint8Array(BOOTSTRAP_INFO_REQUEST_SIZE);
  out[0] = NET_PACKET_BOOTSTRAP_INFO;
  return out;
}

export function isBootstrapInfoRequest(data: Uint8Array): boolean {
  return data.length === BOOTSTRAP_INFO_REQUEST_SIZE && data[0] === NET_PACKET_BOOTSTRAP_INFO;
}

export interface BootstrapInfo {
  version: number;
  /** Raw MOTD bytes (tox-bootstrapd sends the configured text plus a terminating NUL). */
  motd: Uint8Array;
}

export function serializeBootstrapInfo(info: BootstrapInfo): Uint8Array {
  if (info.motd.length > MAX_MOTD_LENGTH)
    throw new RangeError(`MOTD of ${info.motd.length} bytes exceeds ${MAX_MOTD_LENGTH}`);
  return new ByteWriter(5 + info.motd.length)
    .u8(NET_PACKET_BOOTSTRAP_INFO)
    .u32be(info.version >>> 0)
    .bytes(info.motd)
    .finish();
}

export function parseBootstrapInfo(data: Uint8Array): ParseResult<BootstrapInfo> {
  return tryParse(() => {
    const r = new ByteReader(data, "bootstrap info");
    if (r.u8("packet id") !== NET_PACKET_BOOTSTRAP_INFO)
      throw new WireError("bootstrap info: wrong packet id", { what: "bootstrap info" });
    const version = r.u32be("version");
    const motd = r.rest();
    if (motd.length > MAX_MOTD_LENGTH)
      throw new WireError(`bootstrap info: MOTD of ${motd.length} bytes exceeds ${MAX_MOTD_LENGTH}`, {
        what: "bootstrap info",
      });
    return { version, motd };
  });
}

/** MOTD bytes as text, without the trailing NUL tox-bootstrapd includes. */
export function motdText(motd: Uint8Array): string {
  const end = motd.indexOf(0);
  return new TextDecoder().decode(end < 0 ? motd : motd.subarray(0, end));
}

// ---------------------------------------------------------------------------------------------

function splitOrThrow(data: Uint8Array): DhtEnvelope {
  return unwrapInner(splitDhtEnvelope(data));
}

function openOrThrow(env: DhtEnvelope, sharedKey: Uint8Array, what: string): Uint8Array {
  return unwrapInner(openDhtEnvelope(env, sharedKey, what));
}

function unwrapInner<T>(r: ParseResult<T>): T {
  if (!r.ok) throw r.error;
  return r.value;
}
