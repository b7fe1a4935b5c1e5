/**
 * Friend requests of one identity, both ways, with the bookkeeping the messenger needs:
 *
 * - incoming: validated by FriendRequestReceiver, kept as pending until the user accepts (the
 *   messenger then adds the friend without a request, `m_addfriend_norequest`) or declines;
 * - outgoing: `addFriend(toxId, message)` starts an onion search for the key and sends the
 *   request as soon as enough of its announce nodes are known, through a live session instead
 *   when there is one, re-sending with doubling waits until the friend connects.
 *
 * Transport is injected: `sendOnion` is OnionClient.sendData bound to type 32 (returns the number
 * of copies sent, -1 when the target is not reachable yet), `sendSession` the friend_connection
 * id 18 path (false when there is no live session).
 */
import type { ToxAddress } from "../address.js";
import { toHex } from "../bytes.js";
import type { Clock } from "../clock.js";
import { LazyMap } from "../lazy-collections.js";
import { encodeFriendRequest } from "../wire/onion.js";
import { type AddFriendResult, OutgoingFriendRequests } from "./outgoing.js";
import {
  FriendRequestReceiver,
  type FriendRequestReceiverOptions,
  type FriendRequestVerdict,
} from "./receiver.js";

export interface IncomingRequest {
  publicKey: Uint8Array;
  message: Uint8Array;
  receivedAt: number;
}

export interface FriendRequestTransport {
  /** Make the onion search for this key (idempotent). */
  searchFor(realPk: Uint8Array): void;
  /** Stop searching (when a request is cancelled and the key is not a friend). */
  stopSearching(realPk: Uint8Array): void;
  /** Send onion data type 32 with this payload; copies sent, or -1 when not reachable yet. */
  sendOnion(realPk: Uint8Array, payload: Uint8Array): number;
  /** Send friend_connection id 18 over a live session; false when there is none. */
  sendSession?(realPk: Uint8Array, nospam: Uint8Array, message: Uint8Array): boolean;
}

export interface FriendRequestsOptions {
  clock: Clock;
  ownPk: Uint8Array;
  nospam(): Uint8Array;
  isFriend(realPk: Uint8Array): boolean;
  transport: FriendRequestTransport;
  /** A new incoming request is pending. */
  onRequest?(request: IncomingRequest): void;
  /** Receiver tuning (tests). */
  receiver?: { senderQuietMs?: number; declinedBlockMs?: number; burst?: number; refillMs?: number };
}

export class FriendRequests {
  readonly outgoing: OutgoingFriendRequests;
  private readonly receiver: FriendRequestReceiver;
  private readonly incoming = new LazyMap<string, IncomingRequest>();

  constructor(private readonly opts: FriendRequestsOptions) {
    this.outgoing = new OutgoingFriendRequests(opts.clock, opts.ownPk, opts);
    const link = new ReceiverLink(this, opts);
    this.receiver = new FriendRequestReceiver(opts.receiver ? Object.assign(link, opts.receiver) : link);
  }

  /** @internal The receiver accepted a new request: pending until accepted or declined. */
  received(publicKey: Uint8Array, message: Uint8Array): void {
    const request = { publicKey, message, receivedAt: this.opts.clock.now() };
    this.incoming.set(toHex(publicKey), request);
    this.opts.onRequest?.(request);
  }

  // Incoming ---------------------------------------------------------------------------------

  /** Onion data type 32 (wire OnionClient `onData` here for that type). */
  handleOnionRequest(senderPk: Uint8Array, payload: Uint8Array): FriendRequestVerdict {
    return this.receiver.handleOnion(senderPk, payload);
  }

  /** friend_connection id 18 (wire FriendConnections `onFriendRequest` here). */
  handleSessionRequest(senderPk: Uint8Array, nospam: Uint8Array, message: Uint8Array): FriendRequestVerdict {
    return this.receiver.handle(senderPk, nospam, message);
  }

  pendingIncoming(): IncomingRequest[] {
    return [...this.incoming.values()];
  }

  /**
   * The user accepts: returns the request so the caller adds the friend without sending a
   * request back (the requester is already trying to connect). Undefined when none is pending.
   */
  accept(publicKey: Uint8Array): IncomingRequest | undefined {
    const id = toHex(publicKey);
    const r = this.incoming.get(id);
    this.incoming.delete(id);
    return r;
  }

  /** The user declines: forget the request and ignore this key's repeats for a day. */
  decline(publicKey: Uint8Array): boolean {
    const had = this.incoming.delete(toHex(publicKey));
    this.receiver.markDeclined(publicKey);
    return had;
  }

  /** A friend was deleted: a later request from it is delivered again (`remove_request_received`). */
  forgetSender(publicKey: Uint8Array): void {
    this.receiver.forget(publicKey);
  }

  // Outgoing ---------------------------------------------------------------------------------

  /** Adds a friend by Tox ID (text or parsed) and queues the request. */
  addFriend(address: string | ToxAddress, message: string | Uint8Array): AddFriendResult {
    const result = this.outgoing.add(address, message);
    if (result.ok) {
      this.opts.transport.searchFor(result.request.publicKey);
      // If they asked us first, this is an accept; the messenger will connect either way.
      this.incoming.delete(toHex(result.request.publicKey));
      this.sendDue();
    }
    return result;
  }

  cancel(publicKey: Uint8Array): boolean {
    const had = this.outgoing.cancel(publicKey);
    if (had && !this.opts.isFriend(publicKey)) this.opts.transport.stopSearching(publicKey);
    return had;
  }

  /** The friend connected: its request was accepted. */
  friendConnected(publicKey: Uint8Array): void {
    this.outgoing.confirmed(publicKey);
  }

  /** Sends every request that is due. Call from the identity's tick (about once a second). */
  tick(): void {
    this.sendDue();
  }

  private sendDue(): void {
    for (const r of this.outgoing.due()) {
      let ok = this.opts.transport.sendSession?.(r.publicKey, r.nospam, r.message) ?? false;
      if (!ok) ok = this.opts.transport.sendOnion(r.publicKey, encodeFriendRequest(r)) > 0;
      this.outgoing.markSent(r.publicKey, ok);
    }
  }
}

/**
 * The receiver's view of its FriendRequests, as prototype methods (every hosted identity has
 * one; an options object of closures cost each a few hundred bytes).
 */
class ReceiverLink implements FriendRequestReceiverOptions {
  readonly clock: Clock;

  constructor(
    private readonly owner: FriendRequests,
    private readonly opts: FriendRequestsOptions,
  ) {
    this.clock = opts.clock;
  }

  nospam(): Uint8Array {
    return this.opts.nospam();
  }

  isFriend(realPk: Uint8Array): boolean {
    return this.opts.isFriend(realPk);
  }

  onRequest(senderPk: Uint8Array, message: Uint8Array): void {
    this.owner.received(senderPk, message);
  }
}
