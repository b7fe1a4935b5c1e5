/**
 * Datagrams counted by role (which socket), direction and Tox packet id, from the transport's
 * census hook (`setPacketCensus`): what each hosted identity still sends and receives per second.
 */
import { setPacketCensus } from "../../src/tox/transport/udp.js";

/** Names of the UDP packet ids of c-toxcore 0.2.18 (network.h) that idle nodes exchange. */
const PACKET_NAMES: Record<number, string> = {
  0: "DHT ping request",
  1: "DHT ping response",
  2: "DHT nodes request",
  4: "DHT nodes response",
  24: "cookie request",
  25: "cookie response",
  26: "crypto handshake",
  27: "crypto data",
  32: "DHT crypto request (NAT ping, DHT-PK)",
  33: "LAN discovery",
  128: "onion request layer 0 (to 1st hop)",
  129: "onion request layer 1",
  130: "onion request layer 2",
  131: "announce request (old)",
  132: "announce response (old)",
  133: "onion data request",
  134: "onion data response",
  135: "announce request",
  136: "announce response",
  140: "onion response layer 3",
  141: "onion response layer 2",
  142: "onion response layer 1",
  240: "bootstrap info",
};

export function packetName(id: number): string {
  return PACKET_NAMES[id] ?? `0x${id.toString(16).padStart(2, "0")}`;
}

export interface CensusRow {
  role: string;
  direction: "in" | "out";
  id: number;
  name: string;
  packets: number;
  bytes: number;
}

/**
 * Counts while `counting` is on. `roleOf(localPort)` names the socket's role (e.g. "backbone",
 * "identity"); roles are kept in the order first seen.
 */
export class PacketCensus {
  private readonly roles: string[] = [];
  /** Per role: [packets out, bytes out, packets in, bytes in] x 256 ids. */
  private readonly counts: Float64Array[] = [];
  counting = false;

  constructor(private readonly roleOf: (localPort: number) => string) {}

  install(): this {
    setPacketCensus((port, outgoing, data) => {
      if (!this.counting || data.length === 0) return;
      const role = this.roleOf(port);
      let r = this.roles.indexOf(role);
      if (r < 0) {
        r = this.roles.push(role) - 1;
        this.counts.push(new Float64Array(4 * 256));
      }
      const c = this.counts[r]!;
      const base = (outgoing ? 0 : 2) * 256 + data[0]!;
      c[base] = c[base]! + 1;
      c[base + 256] = c[base + 256]! + data.length;
    });
    return this;
  }

  uninstall(): void {
    setPacketCensus(undefined);
  }

  /** Non-zero rows, most packets first. */
  rows(): CensusRow[] {
    const out: CensusRow[] = [];
    this.roles.forEach((role, r) => {
      const c = this.counts[r]!;
      for (const [dir, base] of [
        ["out", 0],
        ["in", 512],
      ] as const) {
        for (let id = 0; id < 256; id++) {
          const packets = c[base + id]!;
          if (packets > 0)
            out.push({ role, direction: dir, id, name: packetName(id), packets, bytes: c[base + 256 + id]! });
        }
      }
    });
    return out.sort((a, b) => b.packets - a.packets);
  }
}
