/**
 * The onion relay role every good node plays (c-toxcore onion.c): peel one layer of an onion
 * request (0x80/0x81/0x82) and forward it, appending a return block sealed with a secret key only
 * we know; on the way back (0x8c/0x8d/0x8e) open our block and pass the response one hop closer
 * to the original sender. The relay keeps no per-packet state: the return path travels inside
 * the packets, which is what makes the onion cheap to serve.
 *
 * Differences from 0.2.18, deliberate: the last hop also forwards the newer 0x87 announce request
 * and responses carry 0x88 too (0.2.18 relays drop both).
 *
 * TCP clients (our TCP relay server's `onOnionRequest` hook): we are their first hop. Their
 * request starts at hop B's layer (the TCP link replaces layer A), and R1 names a per-client
 * handle instead of an address (c-toxcore encodes the connection in a TCP-family IP_Port; the
 * bytes are ours alone to read). Responses for that handle go back through the client's `reply`.
 */
import { toHex } from "../bytes.js";
import type { Clock } from "../clock.js";
import { randomBytes, randomNonce } from "../crypto.js";
import type { PacketSink } from "../transport/types.js";
import { type IpPort, ONION_IPPORT_SIZE } from "../wire/ipport.js";
import {
  decodeOnionLayerPlain,
  NET_PACKET_ONION_RECV_1,
  NET_PACKET_ONION_RECV_3,
  NET_PACKET_ONION_SEND_2,
  NET_PACKET_ONION_SEND_INITIAL,
  ONION_MAX_PACKET_SIZE,
  ONION_RESPONSE_MAX_DATA_SIZE,
  ONION_RETURN_1,
  ONION_RETURN_3,
  type OnionDest,
  openOnionLayer,
  openReturnBlock,
  parseOnionRequest,
  parseOnionResponse,
  sealReturnBlock,
  serializeOnionRequest,
  serializeOnionResponse,
} from "../wire/onion.js";
import { SharedKeyCache } from "./shared-keys.js";
import type { OnionDhtView, OnionLogger } from "./types.js";

/** `KEY_REFRESH_INTERVAL`: the return-path key changes every 2 hours. */
export const RELAY_KEY_REFRESH_MS = 2 * 60 * 60 * 1000;

export interface OnionRelayStats {
  forwarded: number;
  returned: number;
  dropped: number;
}

export interface OnionRelayOptions {
  clock: Clock;
  dht: Pick<OnionDhtView, "dhtKeys">;
  sink: PacketSink;
  log?: OnionLogger;
  /** How many TCP clients' reply handles to keep (least recently used dropped first). */
  maxTcpClients?: number;
}

interface TcpClientHandle {
  id: number;
  reply: (data: Uint8Array) => void;
}

/** `send_onion_response`: `0x8c | R3 | data` to the last relay of the path stored with an announce. */
export function sendOnionResponse(sink: PacketSink, to: IpPort, ret3: Uint8Array, data: Uint8Array): boolean {
  if (data.length === 0 || data.length > ONION_RESPONSE_MAX_DATA_SIZE || ret3.length !== ONION_RETURN_3)
    return false;
  sink.send(to, serializeOnionResponse({ level: 3, returnPath: ret3, data }));
  return true;
}

function u32ToIp(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function ipToU32(ip: string): number {
  const [a = 0, b = 0, c = 0, d = 0] = ip.split(".").map(Number);
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

export class OnionRelay {
  readonly stats: OnionRelayStats = { forwarded: 0, returned: 0, dropped: 0 };
  private secret = randomBytes(32);
  private secretSince: number;
  private readonly sharedKeys = new SharedKeyCache();
  private readonly tcpByKey = new Map<string, TcpClientHandle>();
  private readonly tcpById = new Map<number, TcpClientHandle>();
  private nextTcpId = 1;

  constructor(private readonly opts: OnionRelayOptions) {
    this.secretSince = opts.clock.now();
  }

  /**
   * An onion request from a TCP client (TCP relay packet 8): `payload` is `ip_port B | temp pk B |
   * box(B)(...)`, as `createTcpOnionRequest` builds it. Forwarded to B as 0x81 with an R1 that
   * names this client; `reply` receives the response (TCP relay packet 9). Returns false if dropped.
   */
  handleTcpRequest(
    clientKey: Uint8Array,
    nonce: Uint8Array,
    payload: Uint8Array,
    reply: (data: Uint8Array) => void,
  ): boolean {
    const ok = this.forwardTcpRequest(clientKey, nonce, payload, reply);
    if (!ok) this.stats.dropped++;
    return ok;
  }

  private forwardTcpRequest(
    clientKey: Uint8Array,
    nonce: Uint8Array,
    payload: Uint8Array,
    reply: (data: Uint8Array) => void,
  ): boolean {
    if (nonce.length !== 24 || payload.length <= ONION_IPPORT_SIZE + 2 * (32 + ONION_IPPORT_SIZE + 16))
      return false;
    if (1 + 24 + payload.length - ONION_IPPORT_SIZE + ONION_RETURN_1 > ONION_MAX_PACKET_SIZE) return false;
    const layer = decodeOnionLayerPlain(payload);
    if (!layer.ok || layer.value.dest.protocol !== "udp") return false;
    const handle = this.tcpHandle(clientKey, reply);
    const source: OnionDest = { protocol: "tcp", ipPort: { family: 4, ip: u32ToIp(handle.id), port: 0 } };
    const ret = sealReturnBlock(this.currentSecret(), randomNonce(), source, new Uint8Array(0));
    this.opts.sink.send(
      layer.value.dest.ipPort,
      serializeOnionRequest({
        layer: 1,
        nonce,
        publicKey: layer.value.inner.subarray(0, 32),
        encrypted: layer.value.inner.subarray(32),
        returnPath: ret,
      }),
    );
    this.stats.forwarded++;
    return true;
  }

  private tcpHandle(clientKey: Uint8Array, reply: (data: Uint8Array) => void): TcpClientHandle {
    const key = toHex(clientKey);
    let h = this.tcpByKey.get(key);
    if (h !== undefined) {
      this.tcpByKey.delete(key);
      h.reply = reply;
    } else {
      h = { id: this.nextTcpId, reply };
      this.nextTcpId = this.nextTcpId >= 0xffffffff ? 1 : this.nextTcpId + 1;
      this.tcpById.set(h.id, h);
    }
    this.tcpByKey.set(key, h);
    if (this.tcpByKey.size > (this.opts.maxTcpClients ?? 4096)) {
      const [oldestKey, oldest] = this.tcpByKey.entries().next().value as [string, TcpClientHandle];
      this.tcpByKey.delete(oldestKey);
      this.tcpById.delete(oldest.id);
    }
    return h;
  }

  /** Handles 0x80-0x82 and 0x8c-0x8e; returns false for other packet ids. Never throws on input. */
  handlePacket(from: IpPort, data: Uint8Array): boolean {
    const id = data[0] ?? -1;
    if (id >= NET_PACKET_ONION_SEND_INITIAL && id <= NET_PACKET_ONION_SEND_2) {
      if (!this.forwardRequest(from, data)) this.drop(from, id);
      return true;
    }
    if (id >= NET_PACKET_ONION_RECV_3 && id <= NET_PACKET_ONION_RECV_1) {
      if (!this.returnResponse(data)) this.drop(from, id);
      return true;
    }
    return false;
  }

  private drop(from: IpPort, id: number): void {
    this.stats.dropped++;
    this.opts.log?.debug({ from, id }, "onion relay: dropped packet");
  }

  private currentSecret(): Uint8Array {
    const now = this.opts.clock.now();
    if (now - this.secretSince >= RELAY_KEY_REFRESH_MS) {
      this.secret = randomBytes(32);
      this.secretSince = now;
    }
    return this.secret;
  }

  private forwardRequest(from: IpPort, data: Uint8Array): boolean {
    const parsed = parseOnionRequest(data);
    if (!parsed.ok) return false;
    const req = parsed.value;
    const sharedKey = this.sharedKeys.get(req.publicKey, this.opts.dht.dhtKeys().secretKey);
    const layer = openOnionLayer(sharedKey, req);
    if (!layer.ok) return false;
    const { dest, inner } = layer.value;
    const ret = sealReturnBlock(
      this.currentSecret(),
      randomNonce(),
      { protocol: "udp", ipPort: from },
      req.returnPath,
    );
    if (req.layer === 2) {
      // Last hop: the payload goes to the destination as-is, followed by R3.
      const out = new Uint8Array(inner.length + ret.length);
      out.set(inner, 0);
      out.set(ret, inner.length);
      this.opts.sink.send(dest.ipPort, out);
    } else {
      this.opts.sink.send(
        dest.ipPort,
        serializeOnionRequest({
          layer: (req.layer + 1) as 1 | 2,
          nonce: req.nonce,
          publicKey: inner.subarray(0, 32),
          encrypted: inner.subarray(32),
          returnPath: ret,
        }),
      );
    }
    this.stats.forwarded++;
    return true;
  }

  private returnResponse(data: Uint8Array): boolean {
    const parsed = parseOnionResponse(data);
    if (!parsed.ok) return false;
    const res = parsed.value;
    const opened = openReturnBlock(this.currentSecret(), res.returnPath, res.level);
    if (!opened.ok) return false;
    const { dest, previous } = opened.value;
    if (res.level === 1) {
      if (dest.protocol === "tcp") {
        const handle = this.tcpById.get(ipToU32(dest.ipPort.ip));
        if (handle === undefined) return false;
        handle.reply(res.data);
      } else {
        this.opts.sink.send(dest.ipPort, res.data);
      }
    } else {
      this.opts.sink.send(
        dest.ipPort,
        serializeOnionResponse({ level: (res.level - 1) as 1 | 2, returnPath: previous, data: res.data }),
      );
    }
    this.stats.returned++;
    return true;
  }
}
