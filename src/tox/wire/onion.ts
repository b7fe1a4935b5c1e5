/**
 * Onion wire formats (c-toxcore 0.2.18 onion.c, onion_announce.c, onion_client.c):
 *
 * - onion requests 0x80/0x81/0x82 (one layer per hop) and responses 0x8c/0x8d/0x8e, with the
 *   "return path" blocks each relay appends so the answer can walk back without the relay
 *   remembering anything;
 * - announce request/response in the 0.2.18 format 0x83/0x84 and the newer 0x87/0x88 (node
 *   count byte + optional extra data);
 * - onion data request/response 0x85/0x86 and the two inner layers of onion data (data-pk box,
 *   then real-key box), whose first plaintext byte is the data type (DHT-PK 156, friend request 32);
 * - DHT-PK payload, also carried over the DHT as crypto request 156 (inner format here);
 * - announce ping ids (timed HMAC, opaque to clients).
 *
 * All parsers are length-checked as c-toxcore checks them and return a ParseResult; failed
 * decryption is a WireError too, since for the caller it just means "not for us".
 *
 * Trap 3 of the protocol map: one nonce for all three onion layers, and the 19-byte onion IP_Port.
 */
import { createHmac } from "node:crypto";
import { ByteReader, ByteWriter } from "../bytes.js";
import {
  encryptSymmetric,
  MAC_SIZE,
  NONCE_SIZE,
  openOrThrow,
  PUBLIC_KEY_SIZE,
  sealNested,
} from "../crypto.js";
import { type ParseResult, tryParse, WireError } from "../errors.js";
import {
  type IpPort,
  type NodeInfo,
  type NodeProtocol,
  ONION_IPPORT_SIZE,
  packNodes,
  readNode,
  readOnionIpPort,
  writeOnionIpPort,
} from "./ipport.js";

export const NET_PACKET_ONION_SEND_INITIAL = 0x80;
export const NET_PACKET_ONION_SEND_1 = 0x81;
export const NET_PACKET_ONION_SEND_2 = 0x82;
export const NET_PACKET_ANNOUNCE_REQUEST_OLD = 0x83;
export const NET_PACKET_ANNOUNCE_RESPONSE_OLD = 0x84;
export const NET_PACKET_ONION_DATA_REQUEST = 0x85;
export const NET_PACKET_ONION_DATA_RESPONSE = 0x86;
export const NET_PACKET_ANNOUNCE_REQUEST = 0x87;
export const NET_PACKET_ANNOUNCE_RESPONSE = 0x88;
export const NET_PACKET_ONION_RECV_3 = 0x8c;
export const NET_PACKET_ONION_RECV_2 = 0x8d;
export const NET_PACKET_ONION_RECV_1 = 0x8e;

/** Onion data types (first byte of the innermost plaintext). */
export const ONION_DATA_FRIEND_REQUEST = 32;
export const ONION_DATA_DHTPK = 156;

export const ONION_MAX_PACKET_SIZE = 1400;
export const ONION_RETURN_1 = NONCE_SIZE + ONION_IPPORT_SIZE + MAC_SIZE; // 59
export const ONION_RETURN_2 = NONCE_SIZE + ONION_IPPORT_SIZE + MAC_SIZE + ONION_RETURN_1; // 118
export const ONION_RETURN_3 = NONCE_SIZE + ONION_IPPORT_SIZE + MAC_SIZE + ONION_RETURN_2; // 177
const SEND_BASE = PUBLIC_KEY_SIZE + ONION_IPPORT_SIZE + MAC_SIZE; // 67
export const ONION_SEND_1 = NONCE_SIZE + SEND_BASE * 3; // 225
export const ONION_SEND_2 = NONCE_SIZE + SEND_BASE * 2 + ONION_RETURN_1; // 217
export const ONION_SEND_3 = NONCE_SIZE + SEND_BASE + ONION_RETURN_2; // 209
/** Largest payload an onion request can carry to its destination (1174). */
export const ONION_MAX_DATA_SIZE = ONION_MAX_PACKET_SIZE - (ONION_SEND_1 + 1);
/** Largest payload an onion response can carry back (1222). */
export const ONION_RESPONSE_MAX_DATA_SIZE = ONION_MAX_PACKET_SIZE - (1 + ONION_RETURN_3);

export const ONION_PING_ID_SIZE = 32;
export const SENDBACK_SIZE = 8;
/** Most nodes an announce response or DHT-PK carries (`MAX_SENT_NODES`). */
export const MAX_SENT_NODES = 4;
export const ONION_MAX_EXTRA_DATA_SIZE = 136;
const ANNOUNCE_PLAIN_SIZE = ONION_PING_ID_SIZE + PUBLIC_KEY_SIZE * 2 + SENDBACK_SIZE; // 104
export const ANNOUNCE_REQUEST_SIZE = 1 + NONCE_SIZE + PUBLIC_KEY_SIZE + ANNOUNCE_PLAIN_SIZE + MAC_SIZE; // 177
export const ANNOUNCE_REQUEST_MAX_SIZE = ANNOUNCE_REQUEST_SIZE + ONION_MAX_EXTRA_DATA_SIZE;
/** id | sendback | nonce | MAC | status | ping id/key: the response without nodes (82). */
export const ANNOUNCE_RESPONSE_MIN_SIZE = 2 + SENDBACK_SIZE + NONCE_SIZE + ONION_PING_ID_SIZE + MAC_SIZE;
const PACKED_NODE_MAX = 51;
/** c-toxcore's bound (room for NGC extra data per node in 0x88 answers): 626. */
export const ANNOUNCE_RESPONSE_MAX_SIZE =
  ANNOUNCE_RESPONSE_MIN_SIZE + ONION_MAX_EXTRA_DATA_SIZE * MAX_SENT_NODES;
export const DATA_REQUEST_MIN_SIZE = 1 + PUBLIC_KEY_SIZE + NONCE_SIZE + PUBLIC_KEY_SIZE + MAC_SIZE; // 105
export const DATA_RESPONSE_MIN_SIZE = 1 + NONCE_SIZE + PUBLIC_KEY_SIZE + MAC_SIZE; // 73
/** `MAX_DATA_REQUEST_SIZE`: the largest inner blob of an onion data request (1069). */
export const MAX_DATA_REQUEST_SIZE = ONION_MAX_DATA_SIZE - DATA_REQUEST_MIN_SIZE;
const DATA_IN_MIN_SIZE = PUBLIC_KEY_SIZE + MAC_SIZE; // 48
/** `ONION_CLIENT_MAX_DATA_SIZE`: type byte + payload of one onion data packet (1021). */
export const ONION_CLIENT_MAX_DATA_SIZE = MAX_DATA_REQUEST_SIZE - DATA_IN_MIN_SIZE;
export const DHTPK_MIN_SIZE = 1 + 8 + PUBLIC_KEY_SIZE;

/** Where a layer says to send the next thing (the onion 19-byte IP_Port). */
export interface OnionDest {
  protocol: NodeProtocol;
  ipPort: IpPort;
}

function what(id: number): string {
  return `onion packet 0x${id.toString(16)}`;
}

// ---------------------------------------------------------------------------------------------
// Onion requests 0x80 / 0x81 / 0x82

export type OnionRequestLayer = 0 | 1 | 2;

/** `0x80+layer | nonce | sender pk | encrypted layer | return path (59 * layer bytes)`. */
export interface OnionRequest {
  layer: OnionRequestLayer;
  nonce: Uint8Array;
  /** Layer 0: the sender's DHT pk; layers 1 and 2: the path's temporary keys. */
  publicKey: Uint8Array;
  /** MAC | box(ip_port 19 | next). */
  encrypted: Uint8Array;
  /** Empty for layer 0, R1 (59) for layer 1, R2 (118) for layer 2. */
  returnPath: Uint8Array;
}

const RETURN_BY_LAYER = [0, ONION_RETURN_1, ONION_RETURN_2] as const;
/** c-toxcore's minimum lengths: a packet must be strictly longer than these. */
const MIN_BY_LAYER = [1 + ONION_SEND_1, 1 + ONION_SEND_2, 1 + ONION_SEND_3] as const;

export function serializeOnionRequest(p: OnionRequest): Uint8Array {
  return new ByteWriter(ONION_MAX_PACKET_SIZE)
    .u8(NET_PACKET_ONION_SEND_INITIAL + p.layer)
    .bytes(p.nonce)
    .bytes(p.publicKey)
    .bytes(p.encrypted)
    .bytes(p.returnPath)
    .finish();
}

export function parseOnionRequest(data: Uint8Array): ParseResult<OnionRequest> {
  return tryParse(() => {
    const id = data[0] ?? -1;
    if (id < NET_PACKET_ONION_SEND_INITIAL || id > NET_PACKET_ONION_SEND_2) {
      throw new WireError(`onion request: unexpected packet id ${id}`, { what: "onion request" });
    }
    const layer = (id - NET_PACKET_ONION_SEND_INITIAL) as OnionRequestLayer;
    if (data.length > ONION_MAX_PACKET_SIZE || data.length <= MIN_BY_LAYER[layer]) {
      throw new WireError(`${what(id)}: bad length ${data.length}`, { what: what(id), length: data.length });
    }
    const r = new ByteReader(data, what(id));
    r.skip(1, "packet id");
    const nonce = r.bytesN(NONCE_SIZE, "nonce");
    const publicKey = r.bytesN(PUBLIC_KEY_SIZE, "public key");
    const encrypted = r.bytesN(r.remaining - RETURN_BY_LAYER[layer], "encrypted layer");
    const returnPath = r.rest();
    return { layer, nonce, publicKey, encrypted, returnPath };
  });
}

/** Decrypted content of one request layer: where to forward, and what. */
export interface OnionLayerPlain {
  dest: OnionDest;
  /** Layers 0, 1: next hop's temp pk | encrypted next layer. Layer 2: the payload for the destination. */
  inner: Uint8Array;
}

export function encodeOnionLayerPlain(p: OnionLayerPlain): Uint8Array {
  const w = new ByteWriter(ONION_IPPORT_SIZE + p.inner.length);
  writeOnionIpPort(w, p.dest.protocol, p.dest.ipPort);
  return w.bytes(p.inner).finish();
}

/** Parses a layer plaintext `ip_port 19 | inner` without other checks (TCP onion requests start with one). */
export function decodeOnionLayerPlain(plain: Uint8Array): ParseResult<OnionLayerPlain> {
  return tryParse(() => {
    const r = new ByteReader(plain, "onion layer");
    const dest = readOnionIpPort(r);
    return { dest, inner: r.rest() };
  });
}

/**
 * Opens one request layer with the shared key (our DHT sk, the packet's pk). Relays forward only
 * to UDP addresses, and the last hop only forwards announce and data requests (as onion.c does;
 * we also pass the newer 0x87 announce request, which 0.2.18 relays drop).
 */
export function openOnionLayer(sharedKey: Uint8Array, p: OnionRequest): ParseResult<OnionLayerPlain> {
  return tryParse(() => {
    const w = what(NET_PACKET_ONION_SEND_INITIAL + p.layer);
    const plain = openOrThrow(sharedKey, p.nonce, p.encrypted, w);
    const r = new ByteReader(plain, `${w} layer`);
    const dest = readOnionIpPort(r);
    if (dest.protocol !== "udp") throw new WireError(`${w}: next hop is not a UDP address`, { what: w });
    const inner = r.rest();
    if (p.layer < 2 && inner.length <= SEND_BASE * (2 - p.layer)) {
      throw new WireError(`${w}: inner layer too short (${inner.length})`, { what: w });
    }
    if (p.layer === 2) {
      const id = inner[0];
      if (
        id !== NET_PACKET_ANNOUNCE_REQUEST_OLD &&
        id !== NET_PACKET_ANNOUNCE_REQUEST &&
        id !== NET_PACKET_ONION_DATA_REQUEST
      ) {
        throw new WireError(`${w}: last hop refuses payload id ${id}`, { what: w });
      }
    }
    return { dest, inner };
  });
}

/** Keys of one onion path, as `create_onion_path` precomputes them. */
export interface OnionPathKeys {
  /** The three relays A, B, C. */
  nodes: readonly [NodeInfo, NodeInfo, NodeInfo];
  /** pk sent to each relay: our DHT pk for A, fresh random keys for B and C. */
  publicKeys: readonly [Uint8Array, Uint8Array, Uint8Array];
  /** Shared keys with A, B, C for the matching public keys. */
  sharedKeys: readonly [Uint8Array, Uint8Array, Uint8Array];
}

/** `create_onion_packet`: wraps `payload` for `dest` in three layers; one nonce for all layers. */
export function createOnionRequest(
  path: OnionPathKeys,
  dest: OnionDest,
  payload: Uint8Array,
  nonce: Uint8Array,
): Uint8Array {
  if (payload.length === 0 || payload.length > ONION_MAX_DATA_SIZE) {
    throw new RangeError(`onion payload of ${payload.length} bytes (1..${ONION_MAX_DATA_SIZE})`);
  }
  const [, b, c] = path.nodes;
  // Layer by layer: box(C)(dest | payload), box(B)(C's address | pk3 | that),
  // box(A)(B's address | pk2 | that), behind 0x80 | nonce | pk1; sealed in one pass.
  return sealNested(
    nonce,
    payload,
    [
      { key: path.sharedKeys[2], header: [onionIpPortBytes(dest.protocol, dest.ipPort)] },
      { key: path.sharedKeys[1], header: [onionIpPortBytes("udp", c.ipPort), path.publicKeys[2]] },
      { key: path.sharedKeys[0], header: [onionIpPortBytes("udp", b.ipPort), path.publicKeys[1]] },
    ],
    [ONION_SEND_INITIAL_ID, nonce, path.publicKeys[0]],
  );
}

const ONION_SEND_INITIAL_ID = Uint8Array.of(NET_PACKET_ONION_SEND_INITIAL);

function onionIpPortBytes(protocol: OnionDest["protocol"], ipPort: IpPort): Uint8Array {
  const w = new ByteWriter(ONION_IPPORT_SIZE);
  writeOnionIpPort(w, protocol, ipPort);
  return w.finish();
}

function concat2(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Return path blocks

/** `nonce | sbox(relay key)(ip_port 19 | previous block)`: what a relay appends to a request. */
export function sealReturnBlock(
  relayKey: Uint8Array,
  nonce: Uint8Array,
  from: OnionDest,
  previous: Uint8Array,
): Uint8Array {
  const plain = encodeOnionLayerPlain({ dest: from, inner: previous });
  return concat2(nonce, encryptSymmetric(relayKey, nonce, plain));
}

export interface ReturnBlockPlain {
  /** Where to send the response next (the previous hop, or the original sender). */
  dest: OnionDest;
  /** The previous relay's block (empty in R1). */
  previous: Uint8Array;
}

/** Opens a return block of level 1 (59 bytes), 2 (118) or 3 (177). */
export function openReturnBlock(
  relayKey: Uint8Array,
  block: Uint8Array,
  level: 1 | 2 | 3,
): ParseResult<ReturnBlockPlain> {
  return tryParse(() => {
    const w = `onion return block R${level}`;
    const expected = [0, ONION_RETURN_1, ONION_RETURN_2, ONION_RETURN_3][level]!;
    if (block.length !== expected)
      throw new WireError(`${w}: ${block.length} bytes, want ${expected}`, { what: w });
    const plain = openOrThrow(relayKey, block.subarray(0, NONCE_SIZE), block.subarray(NONCE_SIZE), w);
    const r = new ByteReader(plain, w);
    const dest = readOnionIpPort(r);
    // The last block (R1) may name a TCP client of a TCP relay; relays in between must be UDP.
    if (level > 1 && dest.protocol !== "udp") throw new WireError(`${w}: hop is not UDP`, { what: w });
    return { dest, previous: r.rest() };
  });
}

// ---------------------------------------------------------------------------------------------
// Onion responses 0x8c / 0x8d / 0x8e

export type OnionResponseLevel = 3 | 2 | 1;

/** `0x8c|0x8d|0x8e | return block (177/118/59) | data`. */
export interface OnionResponse {
  level: OnionResponseLevel;
  returnPath: Uint8Array;
  data: Uint8Array;
}

const RESPONSE_ID = { 3: NET_PACKET_ONION_RECV_3, 2: NET_PACKET_ONION_RECV_2, 1: NET_PACKET_ONION_RECV_1 };
const RETURN_BY_LEVEL = { 3: ONION_RETURN_3, 2: ONION_RETURN_2, 1: ONION_RETURN_1 };

export function serializeOnionResponse(p: OnionResponse): Uint8Array {
  return new ByteWriter(1 + p.returnPath.length + p.data.length)
    .u8(RESPONSE_ID[p.level])
    .bytes(p.returnPath)
    .bytes(p.data)
    .finish();
}

/** Responses carry only announce and data responses (the first data byte is checked, as in onion.c). */
export function parseOnionResponse(data: Uint8Array): ParseResult<OnionResponse> {
  return tryParse(() => {
    const id = data[0] ?? -1;
    const level = (
      id === NET_PACKET_ONION_RECV_3
        ? 3
        : id === NET_PACKET_ONION_RECV_2
          ? 2
          : id === NET_PACKET_ONION_RECV_1
            ? 1
            : 0
    ) as OnionResponseLevel | 0;
    if (level === 0)
      throw new WireError(`onion response: unexpected packet id ${id}`, { what: "onion response" });
    const ret = RETURN_BY_LEVEL[level];
    if (data.length > ONION_MAX_PACKET_SIZE || data.length <= 1 + ret) {
      throw new WireError(`${what(id)}: bad length ${data.length}`, { what: what(id), length: data.length });
    }
    const inner = data[1 + ret];
    if (
      inner !== NET_PACKET_ANNOUNCE_RESPONSE_OLD &&
      inner !== NET_PACKET_ANNOUNCE_RESPONSE &&
      inner !== NET_PACKET_ONION_DATA_RESPONSE
    ) {
      throw new WireError(`${what(id)}: refusing to carry payload id ${inner}`, { what: what(id) });
    }
    return { level, returnPath: data.slice(1, 1 + ret), data: data.slice(1 + ret) };
  });
}

// ---------------------------------------------------------------------------------------------
// Announce request 0x83 (0.2.18) / 0x87 (newer)

export type AnnounceFormat = "old" | "new";

/** `id | nonce | sender pk | box(sender → node DHT pk)(AnnounceRequestPlain)`. */
export interface AnnounceRequest {
  format: AnnounceFormat;
  nonce: Uint8Array;
  /** Self-announce: our real pk. Friend search: a per-friend temporary pk. */
  senderPk: Uint8Array;
  encrypted: Uint8Array;
}

export interface AnnounceRequestPlain {
  /** All zero on first contact and in friend searches; then the node's last ping id. */
  pingId: Uint8Array;
  /** The real pk being announced or searched for. */
  searchedPk: Uint8Array;
  /** Where friends encrypt onion data to; all zero in searches. */
  dataPk: Uint8Array;
  /** Opaque 8 bytes echoed in the response. */
  sendback: Uint8Array;
  /** NGC extra data of the new format (empty for 0x83 and for 0.2.18-compatible 0x87). */
  extra: Uint8Array;
}

export function encodeAnnounceRequestPlain(p: AnnounceRequestPlain): Uint8Array {
  return new ByteWriter(ANNOUNCE_PLAIN_SIZE + p.extra.length)
    .bytes(p.pingId)
    .bytes(p.searchedPk)
    .bytes(p.dataPk)
    .bytes(p.sendback)
    .bytes(p.extra)
    .finish();
}

export function decodeAnnounceRequestPlain(plain: Uint8Array): ParseResult<AnnounceRequestPlain> {
  return tryParse(() => {
    const r = new ByteReader(plain, "announce request plaintext");
    return {
      pingId: r.bytesN(ONION_PING_ID_SIZE, "ping id"),
      searchedPk: r.bytesN(PUBLIC_KEY_SIZE, "searched pk"),
      dataPk: r.bytesN(PUBLIC_KEY_SIZE, "data pk"),
      sendback: r.bytesN(SENDBACK_SIZE, "sendback"),
      extra: r.rest(),
    };
  });
}

/** `create_announce_request` with a precomputed key (sender sk, node DHT pk). */
export function createAnnounceRequest(
  format: AnnounceFormat,
  sharedKey: Uint8Array,
  senderPk: Uint8Array,
  nonce: Uint8Array,
  plain: AnnounceRequestPlain,
): Uint8Array {
  if (format === "old" && plain.extra.length !== 0)
    throw new RangeError("0x83 announce carries no extra data");
  // = serializeAnnounceRequest with the box of encodeAnnounceRequestPlain(plain), sealed in place.
  return sealNested(
    nonce,
    plain.extra,
    [{ key: sharedKey, header: [plain.pingId, plain.searchedPk, plain.dataPk, plain.sendback] }],
    [format === "old" ? ANNOUNCE_REQUEST_OLD_ID : ANNOUNCE_REQUEST_NEW_ID, nonce, senderPk],
  );
}

const ANNOUNCE_REQUEST_OLD_ID = Uint8Array.of(NET_PACKET_ANNOUNCE_REQUEST_OLD);
const ANNOUNCE_REQUEST_NEW_ID = Uint8Array.of(NET_PACKET_ANNOUNCE_REQUEST);

export function serializeAnnounceRequest(p: AnnounceRequest): Uint8Array {
  return new ByteWriter(ANNOUNCE_REQUEST_MAX_SIZE)
    .u8(p.format === "old" ? NET_PACKET_ANNOUNCE_REQUEST_OLD : NET_PACKET_ANNOUNCE_REQUEST)
    .bytes(p.nonce)
    .bytes(p.senderPk)
    .bytes(p.encrypted)
    .finish();
}

/** Parses an announce request *without* the trailing return path (callers split that off). */
export function parseAnnounceRequest(data: Uint8Array): ParseResult<AnnounceRequest> {
  return tryParse(() => {
    const id = data[0];
    let format: AnnounceFormat;
    if (id === NET_PACKET_ANNOUNCE_REQUEST_OLD) {
      format = "old";
      if (data.length !== ANNOUNCE_REQUEST_SIZE) {
        throw new WireError(`announce request 0x83: ${data.length} bytes, want ${ANNOUNCE_REQUEST_SIZE}`, {
          what: "announce request",
          length: data.length,
        });
      }
    } else if (id === NET_PACKET_ANNOUNCE_REQUEST) {
      format = "new";
      if (data.length < ANNOUNCE_REQUEST_SIZE || data.length > ANNOUNCE_REQUEST_MAX_SIZE) {
        throw new WireError(`announce request 0x87: bad length ${data.length}`, {
          what: "announce request",
          length: data.length,
        });
      }
    } else {
      throw new WireError(`announce request: unexpected packet id ${id}`, { what: "announce request" });
    }
    const r = new ByteReader(data, "announce request");
    r.skip(1, "packet id");
    return {
      format,
      nonce: r.bytesN(NONCE_SIZE, "nonce"),
      senderPk: r.bytesN(PUBLIC_KEY_SIZE, "sender pk"),
      encrypted: r.rest(),
    };
  });
}

export function openAnnounceRequest(
  sharedKey: Uint8Array,
  p: AnnounceRequest,
): ParseResult<AnnounceRequestPlain> {
  const opened = tryParse(() => openOrThrow(sharedKey, p.nonce, p.encrypted, "announce request"));
  return opened.ok ? decodeAnnounceRequestPlain(opened.value) : opened;
}

// ---------------------------------------------------------------------------------------------
// Announce response 0x84 / 0x88

/** 0: not stored here (pingIdOrKey = ping id to use); 1: searched key found (= its data pk); 2: we are stored. */
export type AnnounceStatus = 0 | 1 | 2;

/** `id | sendback 8 | nonce | box(node DHT sk → request sender pk)(AnnounceResponsePlain)`. */
export interface AnnounceResponse {
  format: AnnounceFormat;
  sendback: Uint8Array;
  nonce: Uint8Array;
  encrypted: Uint8Array;
}

export interface AnnounceResponsePlain {
  status: AnnounceStatus;
  pingIdOrKey: Uint8Array;
  /** Up to 4 nodes close to the searched key. */
  nodes: NodeInfo[];
  /** New format only: NGC extra data after the nodes. */
  extra: Uint8Array;
}

export function encodeAnnounceResponsePlain(format: AnnounceFormat, p: AnnounceResponsePlain): Uint8Array {
  if (p.nodes.length > MAX_SENT_NODES) throw new RangeError(`at most ${MAX_SENT_NODES} nodes`);
  const w = new ByteWriter(256).u8(p.status).bytes(p.pingIdOrKey);
  if (format === "new") w.u8(p.nodes.length);
  else if (p.extra.length !== 0) throw new RangeError("0x84 announce response carries no extra data");
  return w.bytes(packNodes(p.nodes)).bytes(p.extra).finish();
}

export function decodeAnnounceResponsePlain(
  format: AnnounceFormat,
  plain: Uint8Array,
): ParseResult<AnnounceResponsePlain> {
  return tryParse(() => {
    const r = new ByteReader(plain, "announce response plaintext");
    const status = r.u8("status");
    if (status > 2)
      throw new WireError(`announce response: unknown status ${status}`, { what: "announce response" });
    const pingIdOrKey = r.bytesN(ONION_PING_ID_SIZE, "ping id or data pk");
    const nodes: NodeInfo[] = [];
    if (format === "new") {
      const count = r.u8("node count");
      if (count > MAX_SENT_NODES)
        throw new WireError(`announce response: ${count} nodes`, { what: "announce response" });
      for (let i = 0; i < count; i++) nodes.push(readNode(r));
      return { status: status as AnnounceStatus, pingIdOrKey, nodes, extra: r.rest() };
    }
    while (r.remaining > 0) {
      if (nodes.length === MAX_SENT_NODES)
        throw new WireError("announce response: too many nodes", { what: "announce response" });
      nodes.push(readNode(r));
    }
    return { status: status as AnnounceStatus, pingIdOrKey, nodes, extra: new Uint8Array(0) };
  });
}

export function serializeAnnounceResponse(p: AnnounceResponse): Uint8Array {
  return new ByteWriter(ANNOUNCE_RESPONSE_MAX_SIZE)
    .u8(p.format === "old" ? NET_PACKET_ANNOUNCE_RESPONSE_OLD : NET_PACKET_ANNOUNCE_RESPONSE)
    .bytes(p.sendback)
    .bytes(p.nonce)
    .bytes(p.encrypted)
    .finish();
}

export function createAnnounceResponse(
  format: AnnounceFormat,
  sharedKey: Uint8Array,
  sendback: Uint8Array,
  nonce: Uint8Array,
  plain: AnnounceResponsePlain,
): Uint8Array {
  return serializeAnnounceResponse({
    format,
    sendback,
    nonce,
    encrypted: encryptSymmetric(sharedKey, nonce, encodeAnnounceResponsePlain(format, plain)),
  });
}

export function parseAnnounceResponse(data: Uint8Array): ParseResult<AnnounceResponse> {
  return tryParse(() => {
    const id = data[0];
    if (id !== NET_PACKET_ANNOUNCE_RESPONSE_OLD && id !== NET_PACKET_ANNOUNCE_RESPONSE) {
      throw new WireError(`announce response: unexpected packet id ${id}`, { what: "announce response" });
    }
    const format: AnnounceFormat = id === NET_PACKET_ANNOUNCE_RESPONSE_OLD ? "old" : "new";
    const min = ANNOUNCE_RESPONSE_MIN_SIZE + (format === "new" ? 1 : 0);
    if (data.length < min || data.length > ANNOUNCE_RESPONSE_MAX_SIZE) {
      throw new WireError(`announce response 0x${id.toString(16)}: bad length ${data.length}`, {
        what: "announce response",
        length: data.length,
      });
    }
    const r = new ByteReader(data, "announce response");
    r.skip(1, "packet id");
    return {
      format,
      sendback: r.bytesN(SENDBACK_SIZE, "sendback"),
      nonce: r.bytesN(NONCE_SIZE, "nonce"),
      encrypted: r.rest(),
    };
  });
}

export function openAnnounceResponse(
  sharedKey: Uint8Array,
  p: AnnounceResponse,
): ParseResult<AnnounceResponsePlain> {
  const opened = tryParse(() => openOrThrow(sharedKey, p.nonce, p.encrypted, "announce response"));
  return opened.ok ? decodeAnnounceResponsePlain(p.format, opened.value) : opened;
}

// ---------------------------------------------------------------------------------------------
// Onion data request 0x85 / response 0x86

/** `0x85 | dest real pk | nonce | tmp pk | box(tmp sk → dest data pk)(OnionDataInner)`. */
export interface OnionDataRequest {
  destPk: Uint8Array;
  nonce: Uint8Array;
  tmpPk: Uint8Array;
  encrypted: Uint8Array;
}

/** What the announce node forwards along the stored return path: `0x86 | nonce | tmp pk | box`. */
export interface OnionDataResponse {
  nonce: Uint8Array;
  tmpPk: Uint8Array;
  encrypted: Uint8Array;
}

export function serializeOnionDataRequest(p: OnionDataRequest): Uint8Array {
  return new ByteWriter(DATA_REQUEST_MIN_SIZE + p.encrypted.length)
    .u8(NET_PACKET_ONION_DATA_REQUEST)
    .bytes(p.destPk)
    .bytes(p.nonce)
    .bytes(p.tmpPk)
    .bytes(p.encrypted)
    .finish();
}

/** Parses a data request *without* its trailing return path. */
export function parseOnionDataRequest(data: Uint8Array): ParseResult<OnionDataRequest> {
  return tryParse(() => {
    if (data[0] !== NET_PACKET_ONION_DATA_REQUEST) {
      throw new WireError(`onion data request: unexpected packet id ${data[0]}`, {
        what: "onion data request",
      });
    }
    if (data.length <= DATA_REQUEST_MIN_SIZE || data.length > ONION_MAX_DATA_SIZE) {
      throw new WireError(`onion data request: bad length ${data.length}`, {
        what: "onion data request",
        length: data.length,
      });
    }
    const r = new ByteReader(data, "onion data request");
    r.skip(1, "packet id");
    return {
      destPk: r.bytesN(PUBLIC_KEY_SIZE, "destination pk"),
      nonce: r.bytesN(NONCE_SIZE, "nonce"),
      tmpPk: r.bytesN(PUBLIC_KEY_SIZE, "temporary pk"),
      encrypted: r.rest(),
    };
  });
}

export function serializeOnionDataResponse(p: OnionDataResponse): Uint8Array {
  return new ByteWriter(DATA_RESPONSE_MIN_SIZE + p.encrypted.length)
    .u8(NET_PACKET_ONION_DATA_RESPONSE)
    .bytes(p.nonce)
    .bytes(p.tmpPk)
    .bytes(p.encrypted)
    .finish();
}

/** c-toxcore's receiver rule: longer than 73 + 48 bytes, at most MAX_DATA_REQUEST_SIZE. */
export function parseOnionDataResponse(data: Uint8Array): ParseResult<OnionDataResponse> {
  return tryParse(() => {
    if (data[0] !== NET_PACKET_ONION_DATA_RESPONSE) {
      throw new WireError(`onion data response: unexpected packet id ${data[0]}`, {
        what: "onion data response",
      });
    }
    if (data.length <= DATA_RESPONSE_MIN_SIZE + DATA_IN_MIN_SIZE || data.length > MAX_DATA_REQUEST_SIZE) {
      throw new WireError(`onion data response: bad length ${data.length}`, {
        what: "onion data response",
        length: data.length,
      });
    }
    const r = new ByteReader(data, "onion data response");
    r.skip(1, "packet id");
    return {
      nonce: r.bytesN(NONCE_SIZE, "nonce"),
      tmpPk: r.bytesN(PUBLIC_KEY_SIZE, "temporary pk"),
      encrypted: r.rest(),
    };
  });
}

/** Middle layer of onion data: `sender real pk | box(sender real sk → dest real pk, same nonce)(type | payload)`. */
export interface OnionDataInner {
  senderPk: Uint8Array;
  encrypted: Uint8Array;
}

export function encodeOnionDataInner(p: OnionDataInner): Uint8Array {
  return concat2(p.senderPk, p.encrypted);
}

export function decodeOnionDataInner(data: Uint8Array): ParseResult<OnionDataInner> {
  return tryParse(() => {
    const r = new ByteReader(data, "onion data inner layer");
    const senderPk = r.bytesN(PUBLIC_KEY_SIZE, "sender pk");
    if (r.remaining <= MAC_SIZE)
      throw new WireError("onion data inner layer: empty box", { what: "onion data" });
    return { senderPk, encrypted: r.rest() };
  });
}

/** Innermost plaintext: `type u8 | payload`. */
export interface OnionDataPlain {
  type: number;
  payload: Uint8Array;
}

export function encodeOnionDataPlain(p: OnionDataPlain): Uint8Array {
  if (1 + p.payload.length > ONION_CLIENT_MAX_DATA_SIZE) {
    throw new RangeError(`onion data of ${1 + p.payload.length} bytes exceeds ${ONION_CLIENT_MAX_DATA_SIZE}`);
  }
  return new ByteWriter(1 + p.payload.length).u8(p.type).bytes(p.payload).finish();
}

export function decodeOnionDataPlain(plain: Uint8Array): ParseResult<OnionDataPlain> {
  return tryParse(() => {
    const r = new ByteReader(plain, "onion data");
    return { type: r.u8("type"), payload: r.rest() };
  });
}

// ---------------------------------------------------------------------------------------------
// DHT-PK (type 156) and friend request (type 32) payloads

/** `no_replay u64 BE | our DHT pk | packed nodes (≤ 4; TCP relays first, then DHT nodes)`. */
export interface DhtPkAnnounce {
  /** Unix seconds in c-toxcore; receivers drop values not strictly greater than the last seen. */
  noReplay: bigint;
  dhtPk: Uint8Array;
  nodes: NodeInfo[];
}

/** Encodes the payload after the type byte. */
export function encodeDhtPk(p: DhtPkAnnounce): Uint8Array {
  if (p.nodes.length > MAX_SENT_NODES) throw new RangeError(`DHT-PK carries at most ${MAX_SENT_NODES} nodes`);
  return new ByteWriter(8 + PUBLIC_KEY_SIZE + 4 * PACKED_NODE_MAX)
    .u64be(p.noReplay)
    .bytes(p.dhtPk)
    .bytes(packNodes(p.nodes))
    .finish();
}

export function decodeDhtPk(payload: Uint8Array): ParseResult<DhtPkAnnounce> {
  return tryParse(() => {
    const r = new ByteReader(payload, "DHT-PK");
    const noReplay = r.u64be("no_replay");
    const dhtPk = r.bytesN(PUBLIC_KEY_SIZE, "DHT pk");
    const nodes: NodeInfo[] = [];
    while (r.remaining > 0) {
      if (nodes.length === MAX_SENT_NODES)
        throw new WireError("DHT-PK: more than 4 nodes", { what: "DHT-PK" });
      nodes.push(readNode(r));
    }
    return { noReplay, dhtPk, nodes };
  });
}

export const NOSPAM_SIZE = 4;
/** Current c-toxcore's `TOX_MAX_FRIEND_REQUEST_LENGTH` (0.2.18 allowed 1016; newer peers drop more than 921). */
export const MAX_FRIEND_REQUEST_MESSAGE = 921;

/** Friend request payload (after the type byte 32): `nospam 4 | message`. */
export interface FriendRequestPayload {
  nospam: Uint8Array;
  message: Uint8Array;
}

export function encodeFriendRequest(p: FriendRequestPayload): Uint8Array {
  if (p.nospam.length !== NOSPAM_SIZE) throw new RangeError("nospam must be 4 bytes");
  if (p.message.length === 0 || p.message.length > MAX_FRIEND_REQUEST_MESSAGE) {
    throw new RangeError(
      `friend request message of ${p.message.length} bytes (1..${MAX_FRIEND_REQUEST_MESSAGE})`,
    );
  }
  return concat2(p.nospam, p.message);
}

/**
 * Receiving accepts what 0.2.18 peers send (messages up to 1016 bytes: the onion data limit)
 * but not an empty message (friendreq_handlepacket requires length > 1 + 4).
 */
export function decodeFriendRequest(payload: Uint8Array): ParseResult<FriendRequestPayload> {
  return tryParse(() => {
    if (payload.length <= NOSPAM_SIZE || payload.length + 1 > ONION_CLIENT_MAX_DATA_SIZE) {
      throw new WireError(`friend request: bad length ${payload.length}`, { what: "friend request" });
    }
    return { nospam: payload.slice(0, NOSPAM_SIZE), message: payload.slice(NOSPAM_SIZE) };
  });
}

/**
 * DHT-PK sent through the DHT (crypto request id 156; the DHT layer adds the outer DHT-key box):
 * `sender real pk | nonce | box(sender real sk → dest real pk)(156 | DHT-PK payload)`.
 */
export interface DhtPkOverDht {
  senderPk: Uint8Array;
  nonce: Uint8Array;
  encrypted: Uint8Array;
}

export function encodeDhtPkOverDht(p: DhtPkOverDht): Uint8Array {
  return new ByteWriter(PUBLIC_KEY_SIZE + NONCE_SIZE + p.encrypted.length)
    .bytes(p.senderPk)
    .bytes(p.nonce)
    .bytes(p.encrypted)
    .finish();
}

export function decodeDhtPkOverDht(data: Uint8Array): ParseResult<DhtPkOverDht> {
  return tryParse(() => {
    const min = DHTPK_MIN_SIZE + DATA_IN_MIN_SIZE + NONCE_SIZE;
    const max = min + MAX_SENT_NODES * PACKED_NODE_MAX;
    if (data.length < min || data.length > max) {
      throw new WireError(`DHT-PK over DHT: bad length ${data.length}`, { what: "DHT-PK over DHT" });
    }
    const r = new ByteReader(data, "DHT-PK over DHT");
    return {
      senderPk: r.bytesN(PUBLIC_KEY_SIZE, "sender pk"),
      nonce: r.bytesN(NONCE_SIZE, "nonce"),
      encrypted: r.rest(),
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Announce ping ids

/** Ping ids stay valid for the current and the previous window of this many seconds. */
export const PING_ID_WINDOW_SECONDS = 300;

/**
 * A node's announce ping id: HMAC-SHA-512-256 (libsodium `crypto_auth`) over
 * `time window u64 LE | requester pk | requester address`, like c-toxcore's `generate_timed_auth`.
 * Only the node that issued it ever checks it, so the exact bytes hashed are our choice: we use the
 * onion IP_Port encoding of the address where c-toxcore hashes its in-memory IP_Port struct.
 */
export function onionPingId(
  hmacKey: Uint8Array,
  window: bigint,
  requesterPk: Uint8Array,
  from: OnionDest,
): Uint8Array {
  const w = new ByteWriter(8 + PUBLIC_KEY_SIZE + ONION_IPPORT_SIZE).u64le(window).bytes(requesterPk);
  writeOnionIpPort(w, from.protocol, from.ipPort);
  const mac = createHmac("sha512", hmacKey).update(w.finish()).digest();
  return new Uint8Array(mac.buffer, mac.byteOffset, ONION_PING_ID_SIZE).slice();
}

export function pingWindow(monotonicSeconds: number): bigint {
  return BigInt(Math.floor(monotonicSeconds / PING_ID_WINDOW_SECONDS));
}
