/**
 * Everything one identity needs from the TCP relay layer, with the hooks other layers take
 * already shaped for them, so wiring an identity is a handful of lines:
 *
 *   const relays = new IdentityTcpRelays({ clock, dhtKeys, udp: socket });
 *   const nc = new NetCrypto({ ..., ...relays.netCryptoOptions });
 *   relays.attach(nc);
 *   new FriendConnections({ ..., relaysToShare: relays.relaysToShare,
 *     events: { ..., onRelays: relays.onFriendRelays } });
 *   new OnionClient({ ..., tcp: relays.onionFirstHop, tcpRelays: relays.onionAdvertisedRelays,
 *     events: { ..., onDhtPk: (pk, dht, nodes) => { relays.onFriendDhtPk(pk, dht, nodes); ... } } });
 *   relays.onOnionResponse = (data) => onionClient.handleTcpResponse(data);
 *   relays.addRelay({ host, port, publicKey });   // our relays (config / saved)
 *   tick: relays.tick() next to nc.tick(); relays.nextTickIn() joins the identity's deadline.
 *
 * Peers are keyed by DHT key in the pool; friend-level hooks translate from real keys through
 * the net_crypto session.
 */
import type { Clock } from "../clock.js";
import type { KeyPair } from "../crypto.js";
import type { NetCrypto, NetCryptoOptions } from "../netcrypto/netcrypto.js";
import type { OnionTcpFirstHop } from "../onion/client.js";
import type { PacketSink } from "../transport/types.js";
import type { NodeInfo } from "../wire/ipport.js";
import type { TcpClientLogger } from "./client.js";
import { NetCryptoRelayGlue } from "./netcrypto-relay.js";
import {
  nodeToRelay,
  RECOMMENDED_SHARED_RELAYS,
  relayKey,
  TcpRelayPool,
  type TcpRelayPoolEvents,
} from "./pool.js";
import { netTransport, type TcpRelayAddress, type TcpTransportFactory } from "./socket.js";

/** c-toxcore puts at most 2 relays into a DHT-PK announcement (the rest are DHT nodes). */
export const DHTPK_MAX_RELAYS = 2;

export interface IdentityTcpRelaysOptions {
  clock: Clock;
  /** Our DHT key pair (relays know us by it). */
  dhtKeys: () => KeyPair;
  /** The identity's UDP socket (for the direct path; same sink NetCrypto gets). */
  udp: PacketSink;
  /** Defaults to real TCP sockets. */
  transport?: TcpTransportFactory;
  log?: TcpClientLogger;
}

export class IdentityTcpRelays {
  readonly pool: TcpRelayPool;
  readonly glue: NetCryptoRelayGlue;
  /** Set to the onion client's `handleTcpResponse`. */
  onOnionResponse: ((data: Uint8Array) => void) | undefined;
  /**
   * Called after relay input was handled: it arrives from TCP sockets outside the node loop, so
   * the owner may need to plan its next tick sooner.
   */
  onInput: (() => void) | undefined;
  /** OnionClientOptions.tcp: our connected relays as first onion hops. */
  readonly onionFirstHop: OnionTcpFirstHop;
  private netCrypto: NetCrypto | null = null;

  constructor(opts: IdentityTcpRelaysOptions) {
    this.pool = new TcpRelayPool({
      clock: opts.clock,
      dhtKeys: opts.dhtKeys,
      transport: opts.transport ?? netTransport,
      ...(opts.log ? { log: opts.log } : {}),
      events: new PoolEventsLink(this),
    });
    this.glue = new NetCryptoRelayGlue({ clock: opts.clock, pool: this.pool, udp: opts.udp });
    this.onionFirstHop = new OnionFirstHop(this.pool);
  }

  /** Spread into NetCryptoOptions. */
  get netCryptoOptions(): Required<Pick<NetCryptoOptions, "route" | "maxInFlightBytes">> {
    return { route: this.glue.route, maxInFlightBytes: this.glue.maxInFlightBytes };
  }

  attach(netCrypto: NetCrypto): void {
    this.netCrypto = netCrypto;
    this.glue.attach(netCrypto);
  }

  /** One of our relays (from config or the save file). */
  addRelay(relay: TcpRelayAddress): string {
    return this.pool.addRelay(relay);
  }

  /** FriendConnectionsOptions.relaysToShare (packet 17). */
  readonly relaysToShare = (): NodeInfo[] => this.pool.sharedRelays(RECOMMENDED_SHARED_RELAYS);

  /** FriendConnectionsEvents.onRelays: a friend's shared relays; needs its live session. */
  onFriendRelays(friendRealPk: Uint8Array, relays: NodeInfo[]): void {
    const nc = this.netCrypto;
    const conn = nc?.connectionFor(friendRealPk);
    const path = conn === undefined ? undefined : nc?.pathInfo(conn);
    if (path === undefined) return;
    this.pool.addPeer(path.peerDhtPk, tcpRelaysOf(relays));
  }

  /** OnionClientEvents.onDhtPk: a friend's DHT key and the relays it announced. */
  onFriendDhtPk(_friendRealPk: Uint8Array, dhtPk: Uint8Array, nodes: NodeInfo[]): void {
    this.pool.addPeer(dhtPk, tcpRelaysOf(nodes));
  }

  /** OnionClientOptions.tcpRelays: what goes into our DHT-PK announcements. */
  readonly onionAdvertisedRelays = (): NodeInfo[] => this.pool.sharedRelays(DHTPK_MAX_RELAYS);

  /** Stops reaching a peer (e.g. the friend was deleted), by DHT key. */
  forgetPeer(dhtPk: Uint8Array): void {
    this.pool.removePeer(dhtPk);
  }

  tick(): void {
    this.pool.tick();
    this.glue.tick();
  }

  nextTickIn(): number {
    return this.pool.nextTickIn();
  }

  close(): void {
    this.pool.close();
  }
}

function tcpRelaysOf(nodes: readonly NodeInfo[]): TcpRelayAddress[] {
  return nodes.filter((n) => n.protocol === "tcp").map(nodeToRelay);
}

/**
 * The pool's events for one identity, as prototype methods (every hosted identity has a pool;
 * an object of closures cost each a few hundred bytes).
 */
class PoolEventsLink implements TcpRelayPoolEvents {
  constructor(private readonly relays: IdentityTcpRelays) {}

  onPacket(pk: Uint8Array, data: Uint8Array, via: string): void {
    this.relays.glue.handlePoolPacket(pk, data, via);
    this.relays.onInput?.();
  }

  onOnionResponse(data: Uint8Array): void {
    this.relays.onOnionResponse?.(data);
    this.relays.onInput?.();
  }
}

/** Connected relays as the first hop of onion paths (OnionClientOptions.tcp). */
class OnionFirstHop implements OnionTcpFirstHop {
  constructor(private readonly pool: TcpRelayPool) {}

  relays(): NodeInfo[] {
    return this.pool.sharedRelays(Number.POSITIVE_INFINITY);
  }

  send(relay: NodeInfo, nonce: Uint8Array, payload: Uint8Array): boolean {
    return this.pool.sendOnionRequest(nonce, payload, relayKey(nodeToRelay(relay)));
  }
}
