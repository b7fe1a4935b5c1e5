/**
 * The onion layer (c-toxcore onion.c, onion_announce.c, onion_client.c). Most callers need only
 * `OnionStack` (one per identity/socket), `onionDhtView` + `routeDhtPkFromDht` to attach it to the
 * DHT, and the client's events (`onDhtPk`, `onData` for friend requests).
 */
export {
  ONION_ANNOUNCE_MAX_ENTRIES,
  ONION_ANNOUNCE_TIMEOUT_MS,
  OnionAnnounceServer,
} from "./announce-server.js";
export {
  MAX_ONION_CLIENTS,
  MAX_ONION_CLIENTS_ANNOUNCE,
  OnionClient,
  type OnionClientEvents,
  type OnionClientOptions,
  type OnionClientStatus,
  type OnionTcpFirstHop,
} from "./client.js";
export { type DhtForOnion, onionDhtView, routeDhtPkFromDht } from "./dht-view.js";
export { OnionStack, type OnionStackOptions } from "./onion-stack.js";
export { createPathKeys, NUMBER_ONION_PATHS, OnionPathSet } from "./paths.js";
export { OnionRelay, RELAY_KEY_REFRESH_MS, sendOnionResponse } from "./relay.js";
export { AnnounceAdmission, SharedOnionPaths, type SharedPathsDht } from "./shared-paths.js";
export type { OnionDhtView, OnionLogger } from "./types.js";
