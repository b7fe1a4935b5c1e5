/**
 * The contract between the bridge core and a frontend (the Matrix appservice or the XMPP
 * component). A frontend implements `Frontend` to show Tox things to its users and calls
 * `CoreApi` for what its users do. Neither side sees the other's wire formats.
 *
 * Keys (account and friend public keys) are lower-case hex strings throughout.
 */
import type { PermissionLevel } from "../config/permissions.js";
import type { Network, OwnerKind } from "../store/index.js";
import type { CoreError } from "./errors.js";
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
  /** "image": shown inline (QR code); "file": offered as a download (an exported .tox profile). */
  kind: "image" | "file";
  mimeType: string;
  fileName: string;
  data: Uint8Array;
  /** Text alternative (e.g. the Tox ID the QR code encodes). */
  alt: string;
}

/** A file the user sent along with a command (a .tox profile for `import`). */
export interface CommandFile {
  fileName: string;
  mimeType: string;
  data: Uint8Array;
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

  // --- Files and avatars (issue 7). Optional: a frontend without them gets a notice instead.
  /**
   * A file from a friend was received completely. Like `deliverMessage`: reject when it could not
   * be handed on; the core keeps the spooled file and retries. The core deletes `path` after.
   */
  deliverFile?(account: AccountRef, file: InboundFile): Promise<void>;
  /** The friend's avatar changed (null: they have none now). `path` stays valid until the next change. */
  friendAvatar?(account: AccountRef, friend: string, avatar: AvatarFile | null): Promise<void> | void;

  // --- Conferences (issue 8). Optional as above.
  /**
   * The account is now in this conference (it created it, or joined by an invite), or it changed.
   * `reason` says which (see ConferenceUpdateReason); a frontend may ignore it.
   */
  conferenceUpdated?(
    account: AccountRef,
    conference: ConferenceView,
    reason?: ConferenceUpdateReason,
  ): Promise<void> | void;
  /** A conference message from another peer. Reject to have the core retry (durable, like messages). */
  deliverConferenceMessage?(account: AccountRef, message: InboundConferenceMessage): Promise<void>;
  /** The account left the conference (or it was removed): tear down its room/MUC state. */
  conferenceRemoved?(account: AccountRef, conference: string): Promise<void> | void;
}

/** A complete file received from a Tox friend, spooled on the bridge's disk. */
export interface InboundFile {
  /** Stable id (the transfer's row): a frontend may use it to dedupe redeliveries. */
  id: number;
  friend: string;
  fileName: string;
  size: number;
  /** Guessed from the name and the first bytes; "application/octet-stream" when unknown. */
  mimeType: string;
  /** Absolute path of the complete file. */
  path: string;
  receivedAt: Date;
}

export interface AvatarFile {
  /** Absolute path of the image; `hash` is Tox's avatar hash (sha256 of the file, hex). */
  path: string;
  mimeType: string;
  hash: string;
  size: number;
}

/**
 * Why the core calls `conferenceUpdated`:
 * - "joined": the account has just come into the conference (it created it, or an invite was
 *   accepted), or that was not yet told to a registered frontend: the place to invite the user.
 *   Once per join, but a "changed" for the new conference may come before it;
 * - "restored": announced again (after a restart, or to a frontend that registered late);
 * - "changed": peers, names, title or reachability changed.
 */
export type ConferenceUpdateReason = "joined" | "restored" | "changed";

export interface ConferencePeerView {
  publicKey: string;
  name: string;
  /** This peer is one of the bridge's own accounts (show it as that user, never as a ghost). */
  bridgedOwner?: Owner;
  self: boolean;
}

export interface ConferenceView {
  /** The conference's 32-byte id as hex: stable across restarts and the same for every member. */
  id: string;
  title: string;
  /** "text" conferences only are bridged; "av" ones are joined for text. */
  type: "text" | "av";
  peers: ConferencePeerView[];
  /**
   * Members that are silent (Tox freezes a peer after 60 s without a ping) or not back yet since
   * a restart: still in the conference, just not active now. Absent = none known.
   */
  away?: ConferencePeerView[];
  /** False while (re)joining after a restart or when no other peer is reachable. */
  connected: boolean;
}

export interface InboundConferenceMessage {
  /** Stable id of this inbound message (its inbox row). */
  id: number;
  conference: string;
  peer: string;
  peerName: string;
  /**
   * The sender is one of the bridge's own accounts. The core still delivers it (an XMPP user must
   * see a Matrix user's lines); a frontend that already shows that user's own event skips it.
   */
  bridgedOwner?: Owner;
  kind: MessageKind;
  text: string;
  receivedAt: Date;
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

/** The outcome of one message of `CoreApi.sendBatch`. */
export type SendOutcome = { ok: true; result: SendResult } | { ok: false; error: CoreError };

/** What a frontend calls on the core. Every call resolves after the effect is persisted. */
export interface CoreApi {
  /** Queues a message for a friend; resolves once it is durable (acknowledge the source then). */
  send(request: SendRequest): Promise<SendResult>;
  /**
   * Many `send`s persisted together (one database commit for, e.g., a whole appservice
   * transaction); one outcome per request, in order. A request the user got wrong (no account,
   * not a friend, empty) gets its error as its outcome; a storage failure rejects the whole call
   * and nothing is written. Optional: a frontend falls back to `send` per message without it.
   */
  sendBatch?(requests: readonly SendRequest[]): Promise<SendOutcome[]>;
  setTyping(owner: Owner, friend: string, typing: boolean): Promise<void>;
  /**
   * Runs one text command (bot message, XMPP chat or ad-hoc); `permission` from the config.
   * `files`: what the user sent with it (a file sent alone to the bot comes with text "import").
   */
  command(
    owner: Owner,
    text: string,
    permission: PermissionLevel | null,
    files?: CommandFile[],
  ): Promise<CommandReply>;
  account(owner: Owner): Promise<AccountRef | null>;
  friends(owner: Owner): Promise<FriendView[]>;
  friend(owner: Owner, friend: string): Promise<FriendView | null>;
  registerFrontend(frontend: Frontend): void;
}

/** A file a user sends to a Tox friend. */
export interface SendFileRequest {
  owner: Owner;
  friend: string;
  fileName: string;
  size: number;
  mimeType: string;
  /** A complete local file: the core moves it into its spool (the caller must not reuse it). */
  path: string;
  /** The frontend's event/stanza id: sending the same one again is a no-op. */
  sourceEventId?: string;
}

/** Files, avatars and profiles (issue 7): what BridgeCore offers beyond CoreApi. */
export interface CoreFilesApi {
  /** Largest file bridged either way, in bytes (config `files.max_size`). */
  readonly maxFileSize: number;
  /** Queues a file for a friend (durable: sent when the friend is online, resumed after restarts). */
  sendFile(request: SendFileRequest): Promise<SendResult>;
  /** Sets (or clears) the avatar our identity offers to its Tox friends. */
  setAvatar(owner: Owner, avatar: { path: string; mimeType: string } | null): Promise<void>;
}

export interface ConferenceSendRequest {
  owner: Owner;
  conference: string;
  text: string;
  kind?: MessageKind;
  sourceEventId?: string;
}

/** Conferences (issue 8): what BridgeCore offers beyond CoreApi. Conference ids are hex. */
export interface CoreConferencesApi {
  conferences(owner: Owner): Promise<ConferenceView[]>;
  createConference(owner: Owner, title?: string): Promise<ConferenceView>;
  /** Invites a Tox friend, or another bridged account's identity (befriended first if needed). */
  inviteToConference(owner: Owner, conference: string, invitee: string | Owner): Promise<void>;
  /** Durable: waits while no other peer is online, like direct messages. */
  sendConference(request: ConferenceSendRequest): Promise<SendResult>;
  setConferenceTitle(owner: Owner, conference: string, title: string): Promise<void>;
  leaveConference(owner: Owner, conference: string): Promise<void>;
  /**
   * Hands the conference messages the core keeps for this owner (ones the frontend refused) to
   * the frontend now instead of at their next retry (up to minutes away): call it when the user
   * can take them again (e.g. joined the room). Resolves once they were offered. Optional.
   */
  redeliverConference?(owner: Owner, conference: string): Promise<void>;
}
