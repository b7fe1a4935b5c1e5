/**
 * Typed events of a ToxNode. Every event names the identity (our public key) and the friend
 * (its public key), both as lower-case hex, so one listener can serve thousands of identities.
 */
import type { MessageKind, UserStatus } from "../messenger/packets.js";

/**
 * "none" = offline; "udp" = online with a direct UDP path; "tcp" = online through TCP relays.
 * A friend already online whose path switches is reported again with the new status.
 */
export type FriendConnectionStatus = "none" | "udp" | "tcp";

/** Our own reachability: "none" until announced on the onion; then over UDP or TCP relays only. */
export type SelfConnectionStatus = "none" | "udp" | "tcp";

export interface SelfConnectionEvent {
  identity: string;
  status: SelfConnectionStatus;
}

/** Someone sent one of our identities a friend request (accept or decline it on the identity). */
export interface FriendRequestEvent {
  identity: string;
  /** The requester's public key (lower-case hex). */
  publicKey: string;
  /** Same as `publicKey`, so friend-keyed listeners can treat it like the other events. */
  friend: string;
  message: string;
}

export interface FriendEventBase {
  identity: string;
  friend: string;
}

export interface FriendConnectionEvent extends FriendEventBase {
  status: FriendConnectionStatus;
  /** On going offline: ids of sent messages whose read receipt will now never fire. */
  unconfirmed: number[];
}

export interface FriendMessageEvent extends FriendEventBase {
  kind: MessageKind;
  text: string;
}

export interface ReadReceiptEvent extends FriendEventBase {
  messageId: number;
}

export interface FriendNameEvent extends FriendEventBase {
  name: string;
}

export interface FriendStatusMessageEvent extends FriendEventBase {
  statusMessage: string;
}

export interface FriendStatusEvent extends FriendEventBase {
  status: UserStatus;
}

export interface FriendTypingEvent extends FriendEventBase {
  typing: boolean;
}

export interface ToxNodeEvents {
  friendRequest: [FriendRequestEvent];
  selfConnection: [SelfConnectionEvent];
  friendConnection: [FriendConnectionEvent];
  friendMessage: [FriendMessageEvent];
  readReceipt: [ReadReceiptEvent];
  friendName: [FriendNameEvent];
  friendStatusMessage: [FriendStatusMessageEvent];
  friendStatus: [FriendStatusEvent];
  friendTyping: [FriendTypingEvent];
  /** A listener threw or a socket failed; the node keeps running. */
  error: [Error];
}
