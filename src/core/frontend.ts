/**
 * The contract between the bridge core and a frontend (the Matrix appservice or the XMPP
 * component). A frontend implements `Frontend` to show Tox things to its users and calls
 * `CoreApi` for what its users do. Neither side sees the other's wire formats.
 *
 * Keys (account and friend public keys) are lower-case hex strings throughout.
 */
import type { PermissionLevel } from "../config/permissions.js";
import type { Network, OwnerKind } from "../store/index.js";
import type { MessageKind, UserStatus } from "./tox-gateway.js";

export type { MessageKind, Network, OwnerKind, PermissionLevel, UserStatus };

/** Who a bridged user is on their own network: a Matrix user id or a bare JID. */
export interface Owner {
  kind: OwnerKind;
  id: string;
}

export interface AccountRef {
  id: number;
  owner: Owner;
  /** Our Tox public key (hex). */
  publicKey: string;
}

export type FriendState = "pending_in" | "pending_out" | "accepted";

export interface FriendView {
  publicKey: string;
  state: FriendState;
  name: string;
  statusMessage: string;
  online: boolean;
  status: UserStatus;
  lastSeenAt: Date | null;
  /** Text of the friend request (theirs or ours) while it is pending. */
  requestMessage: string;
}

export interface InboundMessage {
  friend: string;
  kind: MessageKind;
  text: string;
  receivedAt: Date;
  /** Stable id of this inbound message (the inbox row): a frontend may use it to dedupe. */
  id: number;
}

export type NoticeCode = "delivery-failed" | "friend-added" | "friend-removed" | "info";

export interface Notice {
  code: NoticeCode;
  text: string;
  friend?: string;
  /** The frontend's own event id the notice is about (e.g. the message that failed). */
  sourceEventId?: string;
}

export interface Attachment {
  kind: "image";
  mimeType: string;
  fileName: string;
  data: Uint8Array;
  /** Text alternative (e.g. the Tox ID the QR code encodes). */
  alt: string;
}

export interface CommandReply {
  ok: boolean;
  text: string;
  attachments?: Attachment[];
}

/**
 * Implemented by each frontend. `deliverMessage` must reject when it could not hand the message
 * on (the core keeps it and retries with backoff); the other calls are best effort: the core logs
 * their failures and moves on.
 */
export interface Frontend {
  readonly network: Network;
  deliverMessage(account: AccountRef, message: InboundMessage): Promise<void>;
  /** Name, status message, presence or request state of a friend changed (or it is new). */
  friendUpdated(account: AccountRef, friend: FriendView): Promise<void> | void;
  friendTyping(account: AccountRef, friend: string, typing: boolean): Promise<void> | void;
  friendRequest(account: AccountRef, request: { friend: string; message: string }): Promise<void> | void;
  /** The friend removed, or we removed it: drop its contact/ghost state. */
  friendRemoved(account: AccountRef, friend: string): Promise<void> | void;
  /** The friend's Tox client acknowledged every part of this previously bridged event. */
  readReceipt(account: AccountRef, friend: string, sourceEventId: string): Promise<void> | void;
  notice(account: AccountRef, notice: Notice): Promise<void> | void;
}

export interface SendRequest {
  owner: Owner;
  friend: string;
  text: string;
  kind?: MessageKind;
  /** The frontend's event/stanza id: sending the same one again is a no-op. */
  sourceEventId?: string;
}

export interface SendResult {
  /** False when this source event was already queued (a redelivered transaction). */
  created: boolean;
  /** Number of Tox messages the text was split into. */
  parts: number;
}

/** What a frontend calls on the core. Every call resolves after the effect is persisted. */
export interface CoreApi {
  /** Queues a message for a friend; resolves once it is durable (acknowledge the source then). */
  send(request: SendRequest): Promise<SendResult>;
  setTyping(owner: Owner, friend: string, typing: boolean): Promise<void>;
  /** Runs one text command (bot message, XMPP chat or ad-hoc); `permission` from the config. */
  command(owner: Owner, text: string, permission: PermissionLevel | null): Promise<CommandReply>;
  account(owner: Owner): Promise<AccountRef | null>;
  friends(owner: Owner): Promise<FriendView[]>;
  friend(owner: Owner, friend: string): Promise<FriendView | null>;
  registerFrontend(frontend: Frontend): void;
}
