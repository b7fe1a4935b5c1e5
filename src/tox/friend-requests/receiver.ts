/**
 * Receiving friend requests (c-toxcore friend_requests.c `friendreq_handlepacket`), from the onion
 * (data type 32) or from an existing session (friend_connection id 18).
 *
 * c-toxcore's rules: the 4 nospam bytes must equal ours exactly; a sender among the last 32 that
 * requested is ignored; existing friends are ignored. We add, because a bridge is a public target:
 * - a per-sender quiet period (a sender heard within `senderQuietMs` is ignored even after it
 *   left the 32-slot ring; senders retry every 5 s doubling, so this only drops repeats);
 * - a global budget (token bucket) so a flood from many fresh keys cannot swamp a user;
 * - keys the user declined stay blocked for `declinedBlockMs`.
 */

import { NOSPAM_SIZE } from "../address.js";
import { bytesEqual, toHex } from "../bytes.js";
import type { Clock } from "../clock.js";
import { LazyMap } from "../lazy-collections.js";
import { decodeFriendRequest } from "../wire/onion.js";

/** `MAX_RECEIVED_STORED`. */
export const MAX_RECEIVED_STORED = 32;

export type FriendRequestVerdict =
  | "delivered"
  | "malformed"
  | "wrong-nospam"
  | "already-friend"
  | "duplicate"
  | "declined"
  | "rate-limited";

export interface FriendRequestReceiverOptions {
  clock: Clock;
  /** Our current nospam (4 bytes, as in our Tox ID). */
  nospam(): Uint8Array;
  isFriend(realPk: Uint8Array): boolean;
  /** A new request for the user to accept or decline. */
  onRequest(senderPk: Uint8Array, message: Uint8Array): void;
  senderQuietMs?: number;
  declinedBlockMs?: number;
  /** Global budget: burst size and refill interval per request. */
  burst?: number;
  refillMs?: number;
}

export class FriendRequestReceiver {
  private readonly recent: string[] = [];
  private readonly lastHeard = new LazyMap<string, number>();
  private readonly declined = new LazyMap<string, number>();
  private tokens: number;
  private tokensAt: number;
  private readonly senderQuietMs: number;
  private readonly declinedBlockMs: number;
  private readonly burst: number;
  private readonly refillMs: number;

  constructor(private readonly opts: FriendRequestReceiverOptions) {
    this.senderQuietMs = opts.senderQuietMs ?? 10 * 60_000;
    this.declinedBlockMs = opts.declinedBlockMs ?? 24 * 3600_000;
    this.burst = opts.burst ?? 20;
    this.refillMs = opts.refillMs ?? 3_000;
    this.tokens = this.burst;
    this.tokensAt = opts.clock.now();
  }

  /** Onion data type 32: `payload` is `nospam 4 | message`. */
  handleOnion(senderPk: Uint8Array, payload: Uint8Array): FriendRequestVerdict {
    const parsed = decodeFriendRequest(payload);
    if (!parsed.ok) return "malformed";
    return this.handle(senderPk, parsed.value.nospam, parsed.value.message);
  }

  /** A request with nospam and message already split (e.g. friend_connection id 18). */
  handle(senderPk: Uint8Array, nospam: Uint8Array, message: Uint8Array): FriendRequestVerdict {
    if (nospam.length !== NOSPAM_SIZE || message.length === 0) return "malformed";
    const id = toHex(senderPk);
    const now = this.opts.clock.now();
    if (this.recent.includes(id)) return "duplicate";
    const heard = this.lastHeard.get(id);
    if (heard !== undefined && now - heard < this.senderQuietMs) return "duplicate";
    if (!bytesEqual(nospam, this.opts.nospam())) return "wrong-nospam";
    if (this.opts.isFriend(senderPk)) return "already-friend";
    const declinedAt = this.declined.get(id);
    if (declinedAt !== undefined) {
      if (now - declinedAt < this.declinedBlockMs) return "declined";
      this.declined.delete(id);
    }
    if (!this.takeToken(now)) return "rate-limited";
    this.remember(id, now);
    this.opts.onRequest(Uint8Array.from(senderPk), Uint8Array.from(message));
    return "delivered";
  }

  /** The user declined: keep ignoring this key for a while. */
  markDeclined(senderPk: Uint8Array): void {
    this.declined.set(toHex(senderPk), this.opts.clock.now());
  }

  /**
   * `remove_request_received`: forget a sender (e.g. the friend was deleted), so a new request
   * from it is delivered again.
   */
  forget(senderPk: Uint8Array): void {
    const id = toHex(senderPk);
    const i = this.recent.indexOf(id);
    if (i >= 0) this.recent.splice(i, 1);
    this.lastHeard.delete(id);
    this.declined.delete(id);
  }

  private remember(id: string, now: number): void {
    this.recent.push(id);
    if (this.recent.length > MAX_RECEIVED_STORED) this.recent.shift();
    this.lastHeard.set(id, now);
    // Keep the quiet-period map bounded: drop entries older than the quiet period.
    if (this.lastHeard.size > 4096) {
      for (const [k, t] of this.lastHeard) if (now - t >= this.senderQuietMs) this.lastHeard.delete(k);
    }
  }

  private takeToken(now: number): boolean {
    const refill = Math.floor((now - this.tokensAt) / this.refillMs);
    if (refill > 0) {
      this.tokens = Math.min(this.burst, this.tokens + refill);
      this.tokensAt += refill * this.refillMs;
    }
    if (this.tokens <= 0) return false;
    this.tokens--;
    return true;
  }
}
