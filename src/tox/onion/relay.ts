/**
 * The onion relay role every good node plays (c-toxcore onion.c): peel one layer of an onion
 * request (0x80/0x81/0x82) and forward it, appending a return block sealed with a secret key only
 * we know; on the way back (0x8c/0x8d/0x8e) open our block and pass the response one hop closer
 * to the original sender. The relay keeps no per-packet state: the return path travels inside
 * the packets, which is what makes the onion cheap to serve.
 *
 * Differences from 0.2.18, deliberate: the last hop also forwards the newer 0x87 announce request
 * and responses carry 0x88 too (0.2.18 relays drop both); returns to TCP clients (R1 naming a TCP
 * family) go to `onTcpReturn`, for the TCP relay server once it exists.
 */
import type { Clock } from "../clock.js";
import { randomBytes, randomNonce } from "../crypto.js";
import type { PacketSink } from "../transport/types.js";
import type { IpPort } from "../wire/ipport.js";
import {
  NET_PACKET_ONION_RECV_1,
  NET_PACKET_ONION_RECV_3,
  NET_PACKET_ONION_SEND_2,
  NET_PACKET_ONION_SEND_INITIAL,
  ONION_RESPONSE_MAX_DATA_SIZE,
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
  /** A response whose last hop is a TCP client of ours (TCP relay server, later). */
  onTcpReturn?(dest: OnionDest, data: Uint8Array): void;
}

/** `send_onion_response`: `0x8c | R3 | data` to the last relay of the path stored with an announce. */
export function sendOnionResponse(sink: PacketSink, to: IpPort, ret3: Uint8Array, data: Uint8Array): boolean {
  if (data.length === 0 || data.length > ONION_RESPONSE_MAX_DATA_SIZE || ret3.length !== ONION_RETURN_3)
    return false;
  sink.send(to, serializeOnionResponse({ level: 3, returnPath: ret3, data }));
  return true;
}

export class OnionRelay {
  readonly stats: OnionRelayStats = { forwarded: 0, returned: 0, dropped: 0 };
  private secret = randomBytes(32);
  private secretSince: number;
  private readonly sharedKeys = new SharedKeyCache();

  constructor(private readonly opts: OnionRelayOptions) {
    this.secretSince = opts.clock.now();
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
        if (this.opts.onTcpReturn === undefined) return false;
        this.opts.onTcpReturn(dest, res.data);
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
