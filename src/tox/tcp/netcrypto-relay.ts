/**
 * Glue between net_crypto and the TCP relay pool, so a session can run over UDP, over relays, or
 * both (c-toxcore net_crypto.c `send_packet_to` / `tcp_data_callback` / `tcp_oob_callback`).
 *
 * Outgoing (`route`, passed as NetCryptoOptions.route): UDP only while the direct address has
 * been heard from within 8 s (`UDP_DIRECT_TIMEOUT`); otherwise through the pool (routed, or OOB
 * before the route is up), plus a UDP probe to a known direct address at most every 2 s so a
 * working direct path is rediscovered. The first packet for a session registers its peer's DHT
 * key in the pool (routing requests on our relays), as `new_crypto_connection` does in C.
 *
 * Flow (`maxInFlightBytes`, passed as NetCryptoOptions.maxInFlightBytes): while a session runs
 * over relays its unacknowledged bytes are capped (see RELAY_MAX_IN_FLIGHT_BYTES).
 *
 * Incoming (`handlePoolPacket`, wired to the pool's onPacket): handed to
 * `NetCrypto.handleRelayedPacket` keyed by the relay-vouched sender key; replies (cookie
 * responses) go back through the same relay.
 *
 * Peers the glue registered are removed from the pool once their session is gone (`tick()`).
 * Peers added to the pool by others (friend_connection with a friend's relays) are theirs.
 */
import { toHex } from "../bytes.js";
import type { Clock } from "../clock.js";
import { LazyMap } from "../lazy-collections.js";
import type { NetCrypto, PacketRoute } from "../netcrypto/netcrypto.js";
import type { ConnectionId } from "../netcrypto/types.js";
import type { PacketSink } from "../transport/types.js";
import type { TcpRelayPool } from "./pool.js";

/** `UDP_DIRECT_TIMEOUT`: a direct path is trusted this long after its last packet. */
export const UDP_DIRECT_TIMEOUT_MS = 8_000;
/** How often a stale direct address is probed while traffic goes through relays. */
export const UDP_PROBE_INTERVAL_MS = 2_000;
/**
 * Unacknowledged bytes one session may have on a relay path. Measured, not derived: a burst of
 * 2,000 messages (all in flight at once) to a UDP-less c-toxcore 0.2.18 peer stalled for good
 * after 775 (99-byte texts) or 288 (500-byte texts), through tox-bootstrapd's relay and through
 * ours alike; 10-byte texts or a 5 ms pause every 50 messages did not stall. Once stalled, the
 * peer kept sending REQUESTs for the first missing packet but never took our resends, nor
 * answered a new OOB cookie request: its relay connection stops processing what it receives.
 * Root cause inside c-toxcore not identified (it clamps FIONREAD at 64 KiB, so not that).
 * Ours-to-ours bursts of 5,000 are fine. With this cap 5,000 texts run at ~2.6k/s (bootstrapd)
 * to ~3.8k/s (our relay).
 */
export const RELAY_MAX_IN_FLIGHT_BYTES = 48 * 1024;

export interface NetCryptoRelayStats {
  udpPackets: number;
  relayPackets: number;
  relayFailures: number;
  relayedIn: number;
}

export class NetCryptoRelayGlue {
  private netCrypto: NetCrypto | null = null;
  /** DHT key hex → connections that made the glue register it. */
  private readonly registered = new LazyMap<string, { pk: Uint8Array; conns: Set<ConnectionId> }>();
  private readonly lastProbe = new LazyMap<ConnectionId, number>();
  readonly stats: NetCryptoRelayStats = { udpPackets: 0, relayPackets: 0, relayFailures: 0, relayedIn: 0 };

  constructor(
    private readonly opts: {
      clock: Clock;
      pool: TcpRelayPool;
      /** The UDP socket (the same sink NetCrypto got). */
      udp: PacketSink;
    },
  ) {}

  /** NetCrypto needs `route` at construction and the glue needs NetCrypto: attach afterwards. */
  attach(netCrypto: NetCrypto): void {
    this.netCrypto = netCrypto;
  }

  readonly route: PacketRoute = (conn, data, direct) => {
    const nc = this.netCrypto;
    const path = nc?.pathInfo(conn);
    if (path === undefined) {
      if (direct === undefined) return false;
      this.udp(direct, data);
      return true;
    }
    const now = this.opts.clock.now();
    if (
      direct !== undefined &&
      path.lastDirectRecvAt > 0 &&
      now - path.lastDirectRecvAt < UDP_DIRECT_TIMEOUT_MS
    ) {
      this.udp(direct, data);
      return true;
    }
    this.register(conn, path.peerDhtPk);
    const viaRelay = this.opts.pool.send(path.peerDhtPk, data);
    if (viaRelay) this.stats.relayPackets++;
    else this.stats.relayFailures++;
    if (direct !== undefined) {
      const last = this.lastProbe.get(conn) ?? Number.NEGATIVE_INFINITY;
      if (!viaRelay || now - last >= UDP_PROBE_INTERVAL_MS) {
        this.lastProbe.set(conn, now);
        this.udp(direct, data);
        return true;
      }
    }
    return viaRelay;
  };

  /** Pass as NetCryptoOptions.maxInFlightBytes: caps sessions while they use relays. */
  readonly maxInFlightBytes = (conn: ConnectionId): number => {
    const path = this.netCrypto?.pathInfo(conn);
    if (path === undefined) return Number.POSITIVE_INFINITY;
    const now = this.opts.clock.now();
    if (path.lastDirectRecvAt > 0 && now - path.lastDirectRecvAt < UDP_DIRECT_TIMEOUT_MS)
      return Number.POSITIVE_INFINITY;
    return this.opts.pool.hasPeer(path.peerDhtPk) ? RELAY_MAX_IN_FLIGHT_BYTES : Number.POSITIVE_INFINITY;
  };

  /** Wire to TcpRelayPoolEvents.onPacket. */
  handlePoolPacket(senderPk: Uint8Array, data: Uint8Array, relayKey: string): boolean {
    const nc = this.netCrypto;
    if (nc === null) return false;
    this.stats.relayedIn++;
    return nc.handleRelayedPacket(senderPk, data, (reply) => {
      this.opts.pool.sendVia(relayKey, senderPk, reply);
    });
  }

  /** Drops pool peers whose sessions are gone. Call from the identity's timer. */
  tick(): void {
    const nc = this.netCrypto;
    if (nc === null || this.registered.size === 0) return;
    for (const [hex, reg] of [...this.registered]) {
      for (const conn of [...reg.conns])
        if (nc.state(conn) === undefined) {
          reg.conns.delete(conn);
          this.lastProbe.delete(conn);
        }
      if (reg.conns.size === 0) {
        this.registered.delete(hex);
        this.opts.pool.removePeer(reg.pk);
      }
    }
  }

  private register(conn: ConnectionId, peerDhtPk: Uint8Array): void {
    const hex = toHex(peerDhtPk);
    let reg = this.registered.get(hex);
    if (reg === undefined) {
      if (this.opts.pool.hasPeer(peerDhtPk)) return; // someone else manages this peer
      reg = { pk: Uint8Array.from(peerDhtPk), conns: new Set() };
      this.registered.set(hex, reg);
      this.opts.pool.addPeer(peerDhtPk);
    }
    reg.conns.add(conn);
  }

  private udp(to: Parameters<PacketSink["send"]>[0], data: Uint8Array): void {
    this.stats.udpPackets++;
    this.opts.udp.send(to, data);
  }
}
