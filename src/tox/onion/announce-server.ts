/**
 * The announce-node role (c-toxcore onion_announce.c): answer announce requests arriving at the
 * end of an onion path (0x83 from 0.2.18 clients, 0x87 from newer ones), store announced keys
 * with the return path to their owner, and forward onion data requests (0x85) addressed to a
 * stored key back along that path as 0x86.
 *
 * Rules as in 0.2.18:
 * - A request whose ping id matches one we issued to (sender pk, previous hop address) in this or
 *   the previous 300 s window stores the *sender* pk (for self-announces that is the real pk).
 * - At most 160 entries live 300 s; when full, a new key replaces the entry farthest from our DHT
 *   pk if it is closer than that one.
 * - Answer: status 2 "you are stored" (same data pk), status 1 with the stored data pk when the
 *   searched key is someone else we store, else status 0 with a fresh ping id; plus up to 4 nodes
 *   close to the searched key.
 * - 0x87 requests with NGC extra data are answered like plain ones (no extra data back): we do not
 *   host group announces.
 */
import { bytesEqual } from "../bytes.js";
import type { Clock } from "../clock.js";
import { PUBLIC_KEY_SIZE, randomBytes, randomNonce } from "../crypto.js";
import type { PacketSink } from "../transport/types.js";
import { type IpPort, isLanAddress } from "../wire/ipport.js";
import {
  ANNOUNCE_REQUEST_SIZE,
  type AnnounceStatus,
  createAnnounceResponse,
  DATA_REQUEST_MIN_SIZE,
  MAX_SENT_NODES,
  NET_PACKET_ANNOUNCE_REQUEST,
  NET_PACKET_ANNOUNCE_REQUEST_OLD,
  NET_PACKET_ONION_DATA_REQUEST,
  NET_PACKET_ONION_DATA_RESPONSE,
  ONION_MAX_PACKET_SIZE,
  ONION_RETURN_3,
  onionPingId,
  openAnnounceRequest,
  parseAnnounceRequest,
  pingWindow,
} from "../wire/onion.js";
import { compareDistance } from "./distance.js";
import { sendOnionResponse } from "./relay.js";
import { SharedKeyCache } from "./shared-keys.js";
import type { OnionDhtView, OnionLogger } from "./types.js";

export const ONION_ANNOUNCE_MAX_ENTRIES = 160;
export const ONION_ANNOUNCE_TIMEOUT_MS = 300_000;

interface AnnounceEntry {
  publicKey: Uint8Array;
  dataPk: Uint8Array;
  /** Last relay of the announcer's path, and the R3 block to send back through it. */
  retTo: IpPort;
  ret: Uint8Array;
  announcedAt: number;
}

export interface AnnounceServerStats {
  requests: number;
  stored: number;
  dataForwarded: number;
  dropped: number;
}

export interface OnionAnnounceServerOptions {
  clock: Clock;
  dht: Pick<OnionDhtView, "dhtKeys" | "closeNodes">;
  sink: PacketSink;
  log?: OnionLogger;
  maxEntries?: number;
  /**
   * Box keys kept for requesters (default 512). Every announce is boxed with the requester's own
   * key: a node storing thousands of announcements (test networks) needs as many, or each
   * request costs a key computation.
   */
  keyCacheSize?: number;
}

export class OnionAnnounceServer {
  readonly stats: AnnounceServerStats = { requests: 0, stored: 0, dataForwarded: 0, dropped: 0 };
  private readonly entries: AnnounceEntry[] = [];
  private readonly hmacKey = randomBytes(32);
  private readonly sharedKeys: SharedKeyCache;
  private readonly maxEntries: number;

  constructor(private readonly opts: OnionAnnounceServerOptions) {
    this.maxEntries = opts.maxEntries ?? ONION_ANNOUNCE_MAX_ENTRIES;
    this.sharedKeys = new SharedKeyCache(opts.keyCacheSize);
  }

  /** Handles 0x83, 0x87 and 0x85 (each followed by R3); false for other ids. Never throws on input. */
  handlePacket(from: IpPort, data: Uint8Array): boolean {
    const id = data[0];
    if (id === NET_PACKET_ANNOUNCE_REQUEST_OLD || id === NET_PACKET_ANNOUNCE_REQUEST) {
      this.stats.requests++;
      if (!this.handleAnnounce(from, data)) this.drop(from, id);
      return true;
    }
    if (id === NET_PACKET_ONION_DATA_REQUEST) {
      if (!this.handleDataRequest(data)) this.drop(from, id);
      return true;
    }
    return false;
  }

  /** Number of live announce entries (for metrics and tests). */
  get size(): number {
    const now = this.opts.clock.now();
    return this.entries.filter((e) => !this.expired(e, now)).length;
  }

  /** Whether `pk` is announced here now. */
  isAnnounced(pk: Uint8Array): boolean {
    return this.find(pk) !== undefined;
  }

  private drop(from: IpPort, id: number): void {
    this.stats.dropped++;
    this.opts.log?.debug({ from, id }, "onion announce: dropped packet");
  }

  private expired(e: AnnounceEntry, now: number): boolean {
    return now - e.announcedAt >= ONION_ANNOUNCE_TIMEOUT_MS;
  }

  private find(pk: Uint8Array): AnnounceEntry | undefined {
    const now = this.opts.clock.now();
    return this.entries.find((e) => !this.expired(e, now) && bytesEqual(e.publicKey, pk));
  }

  private handleAnnounce(from: IpPort, data: Uint8Array): boolean {
    if (data.length < ANNOUNCE_REQUEST_SIZE + ONION_RETURN_3) return false;
    const ret = data.subarray(data.length - ONION_RETURN_3);
    const parsed = parseAnnounceRequest(data.subarray(0, data.length - ONION_RETURN_3));
    if (!parsed.ok) return false;
    const req = parsed.value;
    const keys = this.opts.dht.dhtKeys();
    const sharedKey = this.sharedKeys.get(req.senderPk, keys.secretKey);
    const opened = openAnnounceRequest(sharedKey, req);
    if (!opened.ok) return false;
    const plain = opened.value;

    const now = this.opts.clock.now();
    const seconds = now / 1000;
    const fromDest = { protocol: "udp" as const, ipPort: from };
    const valid =
      bytesEqual(plain.pingId, onionPingId(this.hmacKey, pingWindow(seconds), req.senderPk, fromDest)) ||
      bytesEqual(plain.pingId, onionPingId(this.hmacKey, pingWindow(seconds) - 1n, req.senderPk, fromDest));
    const entry = valid
      ? this.store(req.senderPk, plain.dataPk, from, ret, now)
      : this.find(plain.searchedPk);
    const pingId = onionPingId(this.hmacKey, pingWindow(seconds), req.senderPk, fromDest);

    let status: AnnounceStatus = 0;
    let pingIdOrKey = pingId;
    if (entry !== undefined) {
      if (!bytesEqual(entry.publicKey, req.senderPk)) {
        status = 1;
        pingIdOrKey = entry.dataPk;
      } else if (bytesEqual(entry.dataPk, plain.dataPk)) {
        status = 2;
      }
    }
    const nodes = this.opts.dht.closeNodes(plain.searchedPk, MAX_SENT_NODES, isLanAddress(from));
    const response = createAnnounceResponse(req.format, sharedKey, plain.sendback, randomNonce(), {
      status,
      pingIdOrKey,
      nodes: nodes.slice(0, MAX_SENT_NODES),
      extra: new Uint8Array(0),
    });
    return sendOnionResponse(this.opts.sink, from, ret, response);
  }

  /** `add_to_entries`: refresh, reuse an expired slot, or evict the farthest if the new key is closer. */
  private store(
    pk: Uint8Array,
    dataPk: Uint8Array,
    retTo: IpPort,
    ret: Uint8Array,
    now: number,
  ): AnnounceEntry | undefined {
    let entry = this.find(pk);
    if (entry === undefined) {
      const fresh = { publicKey: Uint8Array.from(pk), dataPk, retTo, ret, announcedAt: now };
      const expiredIndex = this.entries.findIndex((e) => this.expired(e, now));
      if (expiredIndex >= 0) {
        this.entries[expiredIndex] = fresh;
      } else if (this.entries.length < this.maxEntries) {
        this.entries.push(fresh);
      } else if (this.entries.length === 0) {
        // maxEntries 0: a node that stores nobody (tests of full nodes).
        return undefined;
      } else {
        const self = this.opts.dht.dhtKeys().publicKey;
        let farthest = 0;
        for (let i = 1; i < this.entries.length; i++) {
          if (compareDistance(self, this.entries[i]!.publicKey, this.entries[farthest]!.publicKey) > 0)
            farthest = i;
        }
        if (compareDistance(self, pk, this.entries[farthest]!.publicKey) >= 0) return undefined;
        this.entries[farthest] = fresh;
      }
      entry = fresh;
    }
    entry.dataPk = Uint8Array.from(dataPk);
    entry.retTo = retTo;
    entry.ret = Uint8Array.from(ret);
    entry.announcedAt = now;
    this.stats.stored++;
    return entry;
  }

  private handleDataRequest(data: Uint8Array): boolean {
    if (data.length <= DATA_REQUEST_MIN_SIZE + ONION_RETURN_3 || data.length > ONION_MAX_PACKET_SIZE)
      return false;
    const entry = this.find(data.subarray(1, 1 + PUBLIC_KEY_SIZE));
    if (entry === undefined) return false;
    // 0x86 | nonce | tmp pk | box: the request minus the destination key and the sender's R3.
    const body = data.subarray(1 + PUBLIC_KEY_SIZE, data.length - ONION_RETURN_3);
    const out = new Uint8Array(1 + body.length);
    out[0] = NET_PACKET_ONION_DATA_RESPONSE;
    out.set(body, 1);
    if (!sendOnionResponse(this.opts.sink, entry.retTo, entry.ret, out)) return false;
    this.stats.dataForwarded++;
    return true;
  }
}
