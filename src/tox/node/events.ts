/**
 * Typed events of a ToxNode. Every event names the identity (our public key) and the friend
 * (its public key), both as lower-case hex, so one listener can serve thousands of identities.
 */
import type { MessageKind, UserStatus } from "../messenger/packets.js";

/** "none" = offline; "udp"/"tcp" = online over that path (TCP relays arrive in issue 4). */
export type FriendConnectionStatus = "none" | "udp" | "tcp";

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
