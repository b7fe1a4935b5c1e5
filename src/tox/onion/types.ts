/**
 * The narrow view of the DHT the onion layer needs. The DHT module implements it (or an adapter
 * does); tests use in-memory fakes. Keeping it this small lets the onion be tested without a DHT.
 */
import type { KeyPair } from "../crypto.js";
import type { NodeInfo } from "../wire/ipport.js";

export interface OnionDhtView {
  /** Our current DHT key pair (onion first hop, relay and announce-node roles). */
  dhtKeys(): KeyPair;
  /**
   * Up to `n` good nodes closest to `pk` (c-toxcore `get_close_nodes`), for announce responses.
   * LAN addresses only when `allowLan` (the requester itself is on a LAN).
   */
  closeNodes(pk: Uint8Array, n: number, allowLan: boolean): NodeInfo[];
  /** Up to `n` random good nodes to build onion paths from (`randfriends_nodes`). */
  randomNodes(n: number): NodeInfo[];
  /** `dht_isconnected`; when false the client builds paths from TCP relays (if it has any). */
  isConnected?(): boolean;
  /**
   * Optional: sends our DHT-PK to a friend through the DHT, as crypto request 156 addressed to
   * the friend's DHT pk (`route_to_friend`). The DHT adds the outer DHT-key box.
   */
  routeDhtPk?(friendDhtPk: Uint8Array, data: Uint8Array): boolean;
  /** Optional: asks `node` for nodes close to `searchPk` (`dht_getnodes`), to find a friend's DHT neighbours. */
  getNodes?(node: NodeInfo, searchPk: Uint8Array): void;
}

/** Minimal structured logger (pino-compatible). */
export interface OnionLogger {
  debug(obj: Record<string, unknown>, msg: string): void;
}
