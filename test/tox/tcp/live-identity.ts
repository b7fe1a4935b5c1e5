/**
 * One identity of ours on real sockets and the system clock, reachable only through TCP relays
 * (UDP sends are counted and dropped): NetCrypto + TcpRelayPool + glue, ticked every 10 ms.
 */
import { systemClock } from "../../../src/tox/clock.js";
import { type KeyPair, newKeyPair } from "../../../src/tox/crypto.js";
import { NetCrypto } from "../../../src/tox/netcrypto/netcrypto.js";
import type { CryptoConnectionState } from "../../../src/tox/netcrypto/types.js";
import { NetCryptoRelayGlue } from "../../../src/tox/tcp/netcrypto-relay.js";
import { TcpRelayPool } from "../../../src/tox/tcp/pool.js";
import { netTransport } from "../../../src/tox/tcp/socket.js";

export class LiveRelayIdentity {
  readonly realKeys: KeyPair = newKeyPair();
  readonly dhtKeys: KeyPair = newKeyPair();
  readonly status: CryptoConnectionState[] = [];
  readonly lossless: Uint8Array[] = [];
  readonly acked: number[] = [];
  udpSends = 0;
  accept = false;
  accepted = 0;
  readonly pool: TcpRelayPool;
  readonly glue: NetCryptoRelayGlue;
  readonly nc: NetCrypto;
  private readonly timer: NodeJS.Timeout;

  constructor() {
    const udp = { send: () => void this.udpSends++ };
    this.pool = new TcpRelayPool({
      clock: systemClock,
      dhtKeys: () => this.dhtKeys,
      transport: netTransport,
      events: { onPacket: (pk, data, via) => this.glue.handlePoolPacket(pk, data, via) },
    });
    this.glue = new NetCryptoRelayGlue({ clock: systemClock, pool: this.pool, udp });
    this.nc = new NetCrypto({
      clock: systemClock,
      realKeys: this.realKeys,
      dhtKeys: () => this.dhtKeys,
      sink: udp,
      route: this.glue.route,
      maxInFlightBytes: this.glue.maxInFlightBytes,
      events: {
        onStatus: (_c, s) => this.status.push(s),
        onLossless: (_c, d) => this.lossless.push(d),
        onLossy: () => {},
        onAcked: (_c, n) => this.acked.push(n),
        shouldAccept: () => {
          if (this.accept) this.accepted++;
          return this.accept;
        },
      },
    });
    this.glue.attach(this.nc);
    this.timer = setInterval(() => {
      this.nc.tick();
      this.pool.tick();
      this.glue.tick();
    }, 10);
  }

  close(): void {
    clearInterval(this.timer);
    this.pool.close();
  }
}
