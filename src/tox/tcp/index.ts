/**
 * TCP relays (c-toxcore TCP_client / TCP_server / TCP_connection): client and server state
 * machines, the socket edge, the per-identity pool, net_crypto glue and onion-over-TCP packets.
 * Wire formats are in ../wire/tcp.ts.
 *
 * Wiring one identity: see IdentityTcpRelays (identity-relays.ts), which bundles the pool and
 * the net_crypto glue and exposes the hooks friend_connection and the onion client take.
 */
export {
  TCP_CONNECTION_TIMEOUT_MS,
  TCP_PING_FREQUENCY_MS,
  TCP_PING_TIMEOUT_MS,
  TcpClientConnection,
  type TcpClientEvents,
  type TcpClientOptions,
  type TcpClientStatus,
  type TcpPeerStatus,
} from "./client.js";
export { DHTPK_MAX_RELAYS, IdentityTcpRelays, type IdentityTcpRelaysOptions } from "./identity-relays.js";
export {
  NetCryptoRelayGlue,
  RELAY_MAX_IN_FLIGHT_BYTES,
  UDP_DIRECT_TIMEOUT_MS,
} from "./netcrypto-relay.js";
export { createTcpOnionRequest, type TcpOnionRequest } from "./onion-tcp.js";
export {
  MAX_RELAYS_PER_PEER,
  nodeToRelay,
  RECOMMENDED_SHARED_RELAYS,
  relayKey,
  relayToNode,
  TcpRelayPool,
  type TcpRelayPoolEvents,
  type TcpRelaySnapshot,
} from "./pool.js";
export { ServerConnection, TcpRelayServer, type TcpRelayServerOptions, type TcpServerIo } from "./server.js";
export {
  listenTcpRelay,
  netTransport,
  openTcpRelaySocket,
  type TcpRelayAddress,
  type TcpRelaySocket,
  type TcpTransport,
  type TcpTransportFactory,
} from "./socket.js";
