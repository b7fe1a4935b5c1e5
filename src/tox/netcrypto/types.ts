/**
 * The contract net_crypto offers to the layers above it (friend_connection, messenger,
 * conferences). Implemented by `NetCrypto` in this folder; consumed through this interface so
 * upper layers can be tested against a fake.
 *
 * Packet ids inside a session (first payload byte): 0 padding, 1 REQUEST, 2 KILL (owned by
 * net_crypto itself); 16–191 lossless (in order, retransmitted); 192–254 lossy.
 */
import type { IpPort } from "../wire/ipport.js";

export type ConnectionId = number;

export type CryptoConnectionState =
  | "cookie-requesting"
  | "handshake-sent"
  | "not-confirmed"
  | "established"
  | "killed";

export interface NetCryptoEvents {
  /** Session reached ESTABLISHED or was killed/timed out (state "killed"). */
  onStatus(conn: ConnectionId, state: CryptoConnectionState): void;
  /** An in-order lossless packet (first byte 16–191). */
  onLossless(conn: ConnectionId, data: Uint8Array): void;
  /** A lossy packet (first byte 192–254). */
  onLossy(conn: ConnectionId, data: Uint8Array): void;
  /**
   * The peer acknowledged every lossless packet numbered below `bufferStart` (its buffer_start
   * moved). Messenger turns this into read receipts.
   */
  onAcked(conn: ConnectionId, bufferStart: number): void;
  /** A peer whose session we never asked for sent a valid handshake; return true to accept it. */
  shouldAccept(peerRealPk: Uint8Array, peerDhtPk: Uint8Array, from: IpPort): boolean;
  /** The peer's DHT key changed under an existing session (the peer restarted). */
  onDhtKeyChanged?(conn: ConnectionId, newDhtPk: Uint8Array): void;
}

export interface NetCryptoApi {
  /** Starts (or returns the existing) session towards a peer; the peer's DHT key must be known. */
  connect(peerRealPk: Uint8Array, peerDhtPk: Uint8Array): ConnectionId;
  /** Direct UDP address to try for the session (learned from DHT or from received packets). */
  setDirectAddress(conn: ConnectionId, addr: IpPort): void;
  /**
   * Queues a lossless packet; returns its packet number, or -1 if the send window is full.
   * `congestionControl` false (c-toxcore's flag, used by Messenger for texts and presence) sends
   * at once whatever the congestion window says; only the span limit still applies.
   */
  sendLossless(conn: ConnectionId, data: Uint8Array, congestionControl?: boolean): number;
  /** Sends a lossy packet now (dropped silently if the session is not up). */
  sendLossy(conn: ConnectionId, data: Uint8Array): boolean;
  /** Free slots in the send window (callers use it for flow control, e.g. file transfers). */
  sendWindowFree(conn: ConnectionId): number;
  state(conn: ConnectionId): CryptoConnectionState | undefined;
  /** Sends KILL and forgets the session. */
  kill(conn: ConnectionId): void;
  connectionFor(peerRealPk: Uint8Array): ConnectionId | undefined;
}
