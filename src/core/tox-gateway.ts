/**
 * The narrow view of the Tox library that the bridge core needs. ToxNode satisfies it through
 * `tox-adapter.ts`; core tests run against an in-memory fake. Keys are lower-case hex strings
 * (the form ToxNode events use), so a frontend can put them in JIDs and Matrix ids as they are.
 */
import type { FileSink, FileSource, MessageKind, UserStatus } from "../tox/index.js";

export type { FileSink, FileSource, MessageKind, UserStatus };

export interface IdentitySpec {
  secretKey: Uint8Array;
  /** Nospam as an unsigned 32-bit number (the store's form). */
  nospam: number;
  name: string;
  statusMessage: string;
  status: UserStatus;
  /** Accepted friends, to add without a request. */
  friends: string[];
  /** Friends we asked and who have not answered yet: the request is sent again. */
  pendingRequests: { address: Uint8Array; message: string }[];
  /** Extra DHT bootstrap nodes and TCP relays (from an imported profile), besides the configured ones. */
  extraNodes?: SavedNode[];
  /** Conferences to rejoin (issue 8): what `conferenceSnapshots` returned before the restart. */
  conferences?: ConferenceSnapshot[];
}

/** A DHT node or TCP relay remembered from a save file. */
export interface SavedNode {
  protocol: "udp" | "tcp";
  host: string;
  port: number;
  /** Hex public key. */
  publicKey: string;
}

export interface FriendPresence {
  online: boolean;
  status: UserStatus;
}

export interface ToxGatewayEvents {
  /**
   * `unconfirmed` (going offline): ids of messages on the wire whose receipt will never come now.
   * Messages Tox accepted but had not put on the wire yet are not in it: Tox sends those itself
   * on the next connection. Absent = unknown: the core then resends everything unreceipted.
   */
  friendConnection(e: { identity: string; friend: string; online: boolean; unconfirmed?: number[] }): void;
  friendMessage(e: { identity: string; friend: string; kind: MessageKind; text: string }): void;
  readReceipt(e: { identity: string; friend: string; messageId: number }): void;
  friendName(e: { identity: string; friend: string; name: string }): void;
  friendStatusMessage(e: { identity: string; friend: string; statusMessage: string }): void;
  friendStatus(e: { identity: string; friend: string; status: UserStatus }): void;
  friendTyping(e: { identity: string; friend: string; typing: boolean }): void;
  friendRequest(e: { identity: string; friend: string; message: string }): void;
  // File transfers (issue 7). Answer an offer with `acceptFile` or `controlFile(.., "cancel")`.
  fileOffer?(e: GatewayFileEvent): void;
  /** The friend accepted our offer, paused or resumed a transfer. */
  fileControl?(e: GatewayFileEvent & { control: "accept" | "pause" | "resume" }): void;
  /** recv: every byte is in the sink; send: the friend acknowledged the last chunk. */
  fileComplete?(e: GatewayFileEvent): void;
  /** Ended unfinished; `offset`: bytes safely in the sink (recv) or sent (send). */
  fileEnded?(e: GatewayFileEvent & { reason: FileEndReason; offset: number }): void;
  // Conferences (issue 8); `conference` is the 32-byte conference id as lower-case hex.
  /** A friend invites the identity; pass `cookie` to `conferenceJoin`. */
  conferenceInvite?(e: { identity: string; friend: string; type: ConferenceType; cookie: Uint8Array }): void;
  /** Connected, title, peer list or a peer name changed: read `conferenceInfo`. */
  conferenceChanged?(e: { identity: string; conference: string }): void;
  /** Tox echoes our own messages back: `self` marks them. */
  conferenceMessage?(e: {
    identity: string;
    conference: string;
    peer: string;
    peerName: string;
    self: boolean;
    kind: MessageKind;
    text: string;
  }): void;
}

export type FileDirection = "send" | "recv";
export type FileEndReason = "cancelled-by-peer" | "disconnected" | "io-error" | "protocol";

/** A file transfer of one identity with one friend, numbered per direction (0-255). */
export interface GatewayFile {
  direction: FileDirection;
  fileNumber: number;
  kind: "data" | "avatar";
  /** undefined = a stream of unknown length. */
  size: number | undefined;
  /** 32 bytes as hex: the same id offered again lets the receiver resume (an avatar's is its SHA-256). */
  fileId: string;
  name: string;
}

export interface GatewayFileEvent {
  identity: string;
  friend: string;
  file: GatewayFile;
}

export interface ToxGateway {
  /** Hosts an identity and keeps it online; resolves to its public key (hex). Idempotent. */
  bringOnline(spec: IdentitySpec): Promise<string>;
  /** Stops hosting it (its friends see it go offline). No-op when not hosted. */
  takeOffline(identity: string): Promise<void>;
  isOnline(identity: string): boolean;
  /** Sends a friend request to a 38-byte Tox address, and keeps sending it until answered. */
  addFriend(identity: string, address: Uint8Array, message: string): Promise<void>;
  /** Adds a friend without a request (restoring one at startup). */
  addFriendNoRequest(identity: string, friend: string): Promise<void>;
  /**
   * Accepts their friend request: the requester becomes a friend. Also when Tox no longer holds
   * the request (it came before a restart): the friend is then added without one.
   */
  acceptRequest(identity: string, friend: string): Promise<void>;
  /** Declines their request (Tox ignores repeats from that key for a while). */
  declineRequest(identity: string, friend: string): Promise<void>;
  removeFriend(identity: string, friend: string): Promise<void>;
  /**
   * Sends one message of at most MAX_MESSAGE_LENGTH bytes; resolves to its Tox message id (whose
   * read receipt arrives as `readReceipt`). Rejects when the friend is not online.
   */
  sendMessage(identity: string, friend: string, text: string, kind: MessageKind): Promise<number>;
  friendPresence(identity: string, friend: string): FriendPresence;
  /**
   * Messages Tox accepted for this friend but holds back for lack of send-window room. The core
   * hands over no more while it is above zero (flow control) and resumes on the next receipt.
   */
  sendQueueLength(identity: string, friend: string): Promise<number>;
  setName(identity: string, name: string): Promise<void>;
  setStatusMessage(identity: string, message: string): Promise<void>;
  setStatus(identity: string, status: UserStatus): Promise<void>;
  setTyping(identity: string, friend: string, typing: boolean): Promise<void>;
  /** Subscribes to events of every hosted identity; returns the unsubscribe function. */
  subscribe(listener: ToxGatewayEvents): () => void;

  // --- File transfers (issue 7). Sources and sinks are async (disk spooling).
  /**
   * Offers a file to an online friend; its send file number. Rejects when the friend is offline
   * or has 256 transfers from us running. Reuse `fileId` to let the friend resume a transfer.
   */
  sendFile(
    identity: string,
    friend: string,
    file: { kind: "data" | "avatar"; size: number; name: string; fileId: Uint8Array; source: FileSource },
  ): Promise<number>;
  /** Accepts an offered file into `sink`; `position` > 0 resumes (the sender seeks there first). */
  acceptFile(
    identity: string,
    friend: string,
    fileNumber: number,
    sink: FileSink,
    position?: number,
  ): Promise<void>;
  /** Pause, resume (undo our pause) or cancel a transfer. No-op when it no longer exists. */
  controlFile(
    identity: string,
    friend: string,
    direction: FileDirection,
    fileNumber: number,
    control: "pause" | "resume" | "cancel",
  ): Promise<void>;
  /** Bytes the network moved so far (recv: received, not necessarily written), or undefined. */
  fileProgress(
    identity: string,
    friend: string,
    direction: FileDirection,
    fileNumber: number,
  ): number | undefined;

  /** The hosted identity as a c-toxcore save file (`tox_get_savedata`, unencrypted). */
  savedata(identity: string): Promise<Uint8Array>;

  // --- Conferences (issue 8). Conferences are named by their 32-byte id (hex), which is the same
  // for every member and survives restarts, never by the per-identity conference number.
  /** Creates a conference with the identity as its only member; its id. */
  conferenceNew(identity: string, type?: ConferenceType): Promise<string>;
  /** Invites an online friend (rejects when the friend is not online). */
  conferenceInvite(identity: string, conference: string, friend: string): Promise<void>;
  /** Accepts an invite (the friend must still be online); the conference id. */
  conferenceJoin(identity: string, friend: string, cookie: Uint8Array): Promise<string>;
  /** True when another member is reachable now, so a message sent would reach someone. */
  conferenceReachable(identity: string, conference: string): boolean;
  /** Sends a message (Tox splits it); rejects while no member is reachable. */
  conferenceSend(identity: string, conference: string, text: string, kind: MessageKind): Promise<void>;
  /** 1..128 bytes; kept locally when no member is reachable. */
  conferenceSetTitle(identity: string, conference: string, title: string): Promise<void>;
  /** Leaves for good (the others see us go). No-op when not a member. */
  conferenceLeave(identity: string, conference: string): Promise<void>;
  /** Ids of the identity's conferences. */
  conferenceList(identity: string): string[];
  conferenceInfo(identity: string, conference: string): ConferenceInfo | undefined;
  /** What to keep so the identity rejoins its conferences after a restart (`IdentitySpec.conferences`). */
  conferenceSnapshots(identity: string): ConferenceSnapshot[];
}

export type ConferenceType = "text" | "av";

export interface ConferencePeerInfo {
  publicKey: string;
  name: string;
  self: boolean;
}

export interface ConferenceInfo {
  id: string;
  type: ConferenceType;
  title: string;
  /** We are a member (the peer list arrived); false while joining. */
  connected: boolean;
  /** Active peers, us included (frozen ones, silent for 60 s or not back after a restart, are not). */
  peers: ConferencePeerInfo[];
  /** Frozen peers: still members, but silent for 60 s or not back yet since a restart. */
  frozen?: ConferencePeerInfo[];
}

/**
 * A conference as the Tox save file keeps it (c-toxcore `conferences_save`), in JSON-safe form:
 * keys and byte strings as hex. `messageNumber` already carries the restart offset, so peers
 * never see an old number again.
 */
export interface ConferenceSnapshot {
  id: string;
  type: number;
  messageNumber: number;
  lossyMessageNumber: number;
  ownPeerNumber: number;
  /** Title bytes, hex. */
  title: string;
  peers: {
    publicKey: string;
    dhtKey: string;
    peerNumber: number;
    /** Unix seconds. */
    lastActive: number;
    /** Name bytes, hex. */
    name: string;
  }[];
}
