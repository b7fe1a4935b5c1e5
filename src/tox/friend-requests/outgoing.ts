/**
 * Friend requests we send (Messenger.c `m_addfriend` and the FRIEND_ADDED / FRIEND_REQUESTED
 * states of `do_friends`). A request is sent when the target becomes reachable (through the
 * onion, or over a live session) and re-sent after 5 s, doubling the wait each time, until the
 * friend connects. Adding by Tox ID alone is the normal case: we know nothing but the real pk and
 * nospam, and the onion search finds the target.
 */
import { NOSPAM_SIZE, parseAddress, type ToxAddress } from "../address.js";
import { bytesEqual, toHex } from "../bytes.js";
import type { Clock } from "../clock.js";
import { publicKeyValid } from "../crypto.js";
import { LazyMap } from "../lazy-collections.js";
import { MAX_FRIEND_REQUEST_MESSAGE } from "../wire/onion.js";

/** `FRIENDREQUEST_TIMEOUT`: first resend delay; doubles after every send. */
export const FRIEND_REQUEST_TIMEOUT_MS = 5_000;
/** Cap on the doubling, so a long-offline target still gets a request now and then. */
export const FRIEND_REQUEST_MAX_TIMEOUT_MS = 3_600_000;

export type AddFriendError =
  | "bad-address"
  | "own-key"
  | "message-empty"
  | "message-too-long"
  | "already-friend"
  | "already-sent";

export interface OutgoingRequest {
  publicKey: Uint8Array;
  nospam: Uint8Array;
  message: Uint8Array;
  createdAt: number;
  /** 0 until the first successful send. */
  lastSentAt: number;
  timeoutMs: number;
  sends: number;
}

export type AddFriendResult =
  | { ok: true; request: OutgoingRequest; nospamChanged: boolean }
  | { ok: false; error: AddFriendError };

export class OutgoingFriendRequests {
  private readonly pending = new LazyMap<string, OutgoingRequest>();

  constructor(
    private readonly clock: Clock,
    private readonly ownPk: Uint8Array,
    /** Who is a friend already (an object, so an identity can pass its glue without a closure). */
    private readonly friends: { isFriend(pk: Uint8Array): boolean },
  ) {}

  /** `tox_friend_add`: validates as c-toxcore does; a new nospam for a pending request replaces the old one. */
  add(address: string | ToxAddress, message: string | Uint8Array): AddFriendResult {
    let addr: ToxAddress;
    if (typeof address === "string") {
      const parsed = parseAddress(address);
      if (!parsed.ok) return { ok: false, error: "bad-address" };
      addr = parsed.value;
    } else {
      if (!publicKeyValid(address.publicKey) || address.nospam.length !== NOSPAM_SIZE) {
        return { ok: false, error: "bad-address" };
      }
      addr = address;
    }
    const msg = typeof message === "string" ? new TextEncoder().encode(message) : message;
    if (msg.length === 0) return { ok: false, error: "message-empty" };
    if (msg.length > MAX_FRIEND_REQUEST_MESSAGE) return { ok: false, error: "message-too-long" };
    if (bytesEqual(addr.publicKey, this.ownPk)) return { ok: false, error: "own-key" };
    if (this.friends.isFriend(addr.publicKey)) return { ok: false, error: "already-friend" };
    const id = toHex(addr.publicKey);
    const existing = this.pending.get(id);
    if (existing !== undefined) {
      if (bytesEqual(existing.nospam, addr.nospam)) return { ok: false, error: "already-sent" };
      existing.nospam = Uint8Array.from(addr.nospam);
      existing.message = Uint8Array.from(msg);
      existing.lastSentAt = 0;
      existing.timeoutMs = FRIEND_REQUEST_TIMEOUT_MS;
      return { ok: true, request: existing, nospamChanged: true };
    }
    const request: OutgoingRequest = {
      publicKey: Uint8Array.from(addr.publicKey),
      nospam: Uint8Array.from(addr.nospam),
      message: Uint8Array.from(msg),
      createdAt: this.clock.now(),
      lastSentAt: 0,
      timeoutMs: FRIEND_REQUEST_TIMEOUT_MS,
      sends: 0,
    };
    this.pending.set(id, request);
    return { ok: true, request, nospamChanged: false };
  }

  /** Requests whose (re)send is due now. */
  due(): OutgoingRequest[] {
    // Asked every second by every identity; nearly always nothing is pending.
    if (this.pending.size === 0) return [];
    const now = this.clock.now();
    return [...this.pending.values()].filter((r) => r.lastSentAt === 0 || now - r.lastSentAt > r.timeoutMs);
  }

  /** Record an attempt: on success the next resend waits twice as long (FRIEND_REQUESTED → FRIEND_ADDED). */
  markSent(publicKey: Uint8Array, ok: boolean): void {
    const r = this.pending.get(toHex(publicKey));
    if (r === undefined || !ok) return;
    if (r.lastSentAt !== 0) r.timeoutMs = Math.min(r.timeoutMs * 2, FRIEND_REQUEST_MAX_TIMEOUT_MS);
    r.lastSentAt = this.clock.now();
    r.sends++;
  }

  /** The friend connected (it accepted): stop sending. Returns whether a request was pending. */
  confirmed(publicKey: Uint8Array): boolean {
    return this.pending.delete(toHex(publicKey));
  }

  /** The user gave up on the request. */
  cancel(publicKey: Uint8Array): boolean {
    return this.pending.delete(toHex(publicKey));
  }

  get(publicKey: Uint8Array): OutgoingRequest | undefined {
    return this.pending.get(toHex(publicKey));
  }

  list(): OutgoingRequest[] {
    return [...this.pending.values()];
  }
}
