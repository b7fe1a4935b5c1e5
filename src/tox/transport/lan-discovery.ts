/**
 * LAN discovery sender (friend_connection.c `lan_discovery`, LAN_discovery.c): every 10 s, the
 * 0x21 packet (our DHT key) goes to each interface's IPv4 broadcast address and to
 * 255.255.255.255, on the default port 33445 and on the next 10 ports of 33446-33545 in turn.
 * Receivers on the LAN answer with a nodes request (Dht.handlePacket does that for us).
 *
 * A state machine like the rest: injected clock and sink; the socket must have broadcast
 * enabled (`UdpTransport.setBroadcast(true)`). Broadcasts never reach instances on `lo`.
 */
import { networkInterfaces } from "node:os";
import type { Clock } from "../clock.js";
import { type IpPort, ipPort, ipv4FromBytes, ipv4ToBytes } from "../wire/ipport.js";
import type { PacketSink } from "./types.js";

export const TOX_PORT_DEFAULT = 33445;
export const TOX_PORTRANGE_FROM = 33445;
export const TOX_PORTRANGE_TO = 33545;
export const PORTS_PER_DISCOVERY = 10;
export const LAN_DISCOVERY_INTERVAL_MS = 10_000;

/** IPv4 broadcast addresses of the up, non-loopback interfaces, plus the limited broadcast. */
export function ipv4BroadcastAddresses(ifaces = networkInterfaces()): string[] {
  const out = new Set<string>();
  for (const list of Object.values(ifaces)) {
    for (const a of list ?? []) {
      if (a.family !== "IPv4" || a.internal) continue;
      const ip = ipv4ToBytes(a.address);
      const mask = ipv4ToBytes(a.netmask);
      out.add(ipv4FromBytes(ip.map((b, i) => b | (~mask[i]! & 0xff))));
    }
  }
  out.add("255.255.255.255");
  return [...out];
}

export interface LanDiscoveryOptions {
  clock: Clock;
  sink: PacketSink;
  /** The 0x21 packet to send (Dht.lanDiscoveryPacket(): it changes if the DHT key does). */
  packet: () => Uint8Array;
  /** Broadcast targets; default: `ipv4BroadcastAddresses()` re-read every round (interfaces change). */
  addresses?: () => string[];
}

export class LanDiscovery {
  private lastSentAt = Number.NEGATIVE_INFINITY;
  private nextPort = TOX_PORTRANGE_FROM + 1;

  constructor(private readonly opts: LanDiscoveryOptions) {}

  /** Sends one round if due; returns the number of datagrams sent. */
  tick(): number {
    const now = this.opts.clock.now();
    if (now - this.lastSentAt < LAN_DISCOVERY_INTERVAL_MS) return 0;
    this.lastSentAt = now;
    const first = this.nextPort;
    const last = Math.min(first + PORTS_PER_DISCOVERY, TOX_PORTRANGE_TO);
    const ports = [TOX_PORT_DEFAULT];
    for (let p = first; p < last; p++) ports.push(p);
    this.nextPort = last !== TOX_PORTRANGE_TO ? last : TOX_PORTRANGE_FROM + 1;
    const data = this.opts.packet();
    const addrs = (this.opts.addresses ?? ipv4BroadcastAddresses)();
    let sent = 0;
    for (const ip of addrs) {
      for (const port of ports) {
        const to: IpPort = ipPort(ip, port);
        this.opts.sink.send(to, data);
        sent++;
      }
    }
    return sent;
  }

  nextTickIn(): number {
    return Math.max(0, this.lastSentAt + LAN_DISCOVERY_INTERVAL_MS - this.opts.clock.now());
  }
}
