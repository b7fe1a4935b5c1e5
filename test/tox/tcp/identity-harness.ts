/**
 * A net_crypto identity whose only path is TCP relays: NetCrypto + TcpRelayPool + glue, all on a
 * ManualClock, with relays from MemRelay. UDP packets are counted and dropped (a UDP-blocking NAT).
 */
import type { ManualClock } from "../../../src/tox/clock.js";
import { type KeyPair, newKeyPair } from "../../../src/tox/crypto.js";
import { NetCrypto } from "../../../src/tox/netcrypto/netcrypto.js";
import type { ConnectionId, CryptoConnectionState } from "../../../src/tox/netcrypto/types.js";
import { NetCryptoRelayGlue } from "../../../src/tox/tcp/netcrypto-relay.js";
import { TcpRelayPool } from "../../../src/tox/tcp/pool.js";
import type { TcpTransportFactory } from "../../../src/tox/tcp/socket.js";
import type { MemRelay } from "./memrelay.js";

export class RelayIdentity {
  readonly realKeys: KeyPair = newKeyPair();
  readonly dhtKeys: KeyPair = newKeyPair();
  readonly pool: TcpRelayPool;
  readonly glue: NetCryptoRelayGlue;
  readonly nc: NetCrypto;
  readonly status: Array<[ConnectionId, CryptoConnectionState]> = [];
  readonly received: Uint8Array[] = [];
  readonly peerStatus: boolean[] = [];
  udpDropped = 0;
  accept = true;

  constructor(
    readonly clock: ManualClock,
    transport: TcpTransportFactory,
  ) {
    const udp = { send: () => void this.udpDropped++ };
    this.pool = new TcpRelayPool({
      clock,
      dhtKeys: () => this.dhtKeys,
      transport,
      events: {
        onPacket: (pk, data, relay) => this.glue.handlePoolPacket(pk, data, relay),
        onPeerStatus: (_pk, online) => this.peerStatus.push(online),
      },
    });
    this.glue = new NetCryptoRelayGlue({ clock, pool: this.pool, udp });
    this.nc = new NetCrypto({
      clock,
      realKeys: this.realKeys,
      dhtKeys: () => this.dhtKeys,
      sink: udp,
      route: this.glue.route,
      maxInFlightBytes: this.glue.maxInFlightBytes,
      events: {
        onStatus: (c, s) => this.status.push([c, s]),
        onLossless: (_c, d) => this.received.push(d),
        onLossy: () => {},
        onAcked: () => {},
        shouldAccept: () => this.accept,
      },
    });
    this.glue.attach(this.nc);
  }

  tick(): void {
    this.nc.tick();
    this.pool.tick();
    this.glue.tick();
  }

  connectTo(other: RelayIdentity): ConnectionId {
    return this.nc.connect(other.realKeys.publicKey, other.dhtKeys.publicKey);
  }

  connTo(other: RelayIdentity): ConnectionId | undefined {
    return this.nc.connectionFor(other.realKeys.publicKey);
  }

  established(other: RelayIdentity): boolean {
    const c = this.connTo(other);
    return c !== undefined && this.nc.state(c) === "established";
  }
}

/** Advances the clock in `step` ms, pumping every relay and ticking every identity. */
export function runRelays(
  clock: ManualClock,
  relays: MemRelay[],
  ids: RelayIdentity[],
  maxMs: number,
  until: () => boolean = () => false,
  step = 10,
): boolean {
  const end = clock.now() + maxMs;
  while (clock.now() < end) {
    for (const r of relays) r.pump();
    for (const id of ids) id.tick();
    for (const r of relays) {
      r.server.tick();
      r.pump();
    }
    if (until()) return true;
    clock.advance(step);
  }
  return until();
}
