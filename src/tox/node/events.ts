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

/** Conference events name the identity and the conference (its number on this identity). */
export interface ConferenceEventBase {
  identity: string;
  conference: number;
}

/** A friend invites one of our identities into a conference; pass `cookie` to `conferenceJoin`. */
export interface ConferenceInviteEvent extends FriendEventBase {
  conferenceType: number;
  cookie: Uint8Array;
}

export interface ConferencePeerRef {
  peerNumber: number;
  /** Lower-case hex public key. */
  publicKey: string;
  name: string;
  /** The peer is this identity (c-toxcore echoes our own messages back). */
  self: boolean;
}

export interface ConferenceMessageEvent extends ConferenceEventBase {
  peer: ConferencePeerRef;
  kind: MessageKind;
  text: string;
}

export interface ConferenceTitleEvent extends ConferenceEventBase {
  /** Undefined when the title came with the peer list (nobody changed it just now). */
  peer: ConferencePeerRef | undefined;
  title: string;
}

export interface ConferencePeerEvent extends ConferenceEventBase {
  peer: ConferencePeerRef;
}

export interface ConferencePeerNameEvent extends ConferencePeerEvent {
  name: string;
}

/**
 * A file transfer as events report it (see FileTransfers for the state machine). `fileNumber`
 * is the wire number 0-255 of its direction; pass `direction` and `fileNumber` back to the
 * identity's file methods.
 */
export interface FileTransferView {
  direction: "send" | "recv";
  fileNumber: number;
  /** 0 = data, 1 = avatar (tox.h TOX_FILE_KIND_*). */
  kind: number;
  /** undefined = unknown size (a stream). */
  size: number | undefined;
  /** 32 bytes, lower-case hex (an avatar's is its SHA-256). */
  fileId: string;
  /** The file name as UTF-8 (invalid sequences replaced). */
  name: string;
  /** Bytes sent or received so far. */
  transferred: number;
}

export interface FileEvent extends FriendEventBase {
  file: FileTransferView;
}

export interface FileControlEvent extends FileEvent {
  /** The peer accepted our offer, paused, or resumed (un-paused) a transfer. */
  control: "accept" | "pause" | "resume";
}

/** Why a transfer ended without completing (our own cancel is not reported). */
export type FileEndReason = "cancelled-by-peer" | "disconnected" | "io-error" | "protocol";

export interface FileEndedEvent extends FileEvent {
  reason: FileEndReason;
  /** recv: bytes durably in the sink; send: bytes sent. Resume from here with the same file id. */
  offset: number;
  error: unknown;
}

export interface ToxNodeEvents {
  /** A friend offers a file: accept it with `fileAccept` (optionally from an offset) or cancel it. */
  fileOffer: [FileEvent];
  fileControl: [FileControlEvent];
  /** recv: every byte is in the sink; send: the friend acknowledged the last chunk. */
  fileComplete: [FileEvent];
  /** Ended without completing: cancelled by the friend, friend offline, disk error. */
  fileEnded: [FileEndedEvent];
  conferenceInvite: [ConferenceInviteEvent];
  /** We are in (the peer list arrived and contains us). */
  conferenceConnected: [ConferenceEventBase];
  conferenceMessage: [ConferenceMessageEvent];
  conferenceTitle: [ConferenceTitleEvent];
  conferencePeerName: [ConferencePeerNameEvent];
  /** Someone joined, left, froze or thawed: read `conferencePeers()`. */
  conferencePeerList: [ConferenceEventBase];
  /** A member left for good. */
  conferencePeerLeft: [ConferencePeerEvent];
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
