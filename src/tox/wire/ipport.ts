/**
 * IP addresses, ports and packed node info (DHT.c `pack_ip_port` / `pack_nodes`), plus the
 * fixed 19-byte onion IP_Port (onion.c `ipport_pack`).
 *
 * Packed node: `family u8 | ip (4 or 16 bytes, network order) | port u16 BE | public key 32`.
 * Families: 2 UDP IPv4, 10 UDP IPv6, 130 TCP IPv4, 138 TCP IPv6.
 */
import { isIPv4, isIPv6 } from "node:net";
import { ByteReader, ByteWriter } from "../bytes.js";
import { PUBLIC_KEY_SIZE } from "../crypto.js";
import { type ParseResult, tryParse, WireError } from "../errors.js";

export type IpFamily = 4 | 6;
export type NodeProtocol = "udp" | "tcp";

export interface IpPort {
  family: IpFamily;
  /** Canonical text form: dotted quad for IPv4, full lower-case RFC 5952 form for IPv6. */
  ip: string;
  port: number;
}

export interface NodeInfo {
  protocol: NodeProtocol;
  ipPort: IpPort;
  publicKey: Uint8Array;
}

export const FAMILY_UDP_IPV4 = 2;
export const FAMILY_UDP_IPV6 = 10;
export const FAMILY_TCP_IPV4 = 130;
export const FAMILY_TCP_IPV6 = 138;

export const PACKED_NODE_SIZE_IPV4 = 1 + 4 + 2 + PUBLIC_KEY_SIZE; // 39
export const PACKED_NODE_SIZE_IPV6 = 1 + 16 + 2 + PUBLIC_KEY_SIZE; // 51
export const ONION_IPPORT_SIZE = 19;

export function ipv4ToBytes(ip: string): Uint8Array {
  const out = new Uint8Array(4);
  if (!parseIpv4Into(ip, out)) throw new WireError(`not an IPv4 address: ${ip}`, { what: "ip" });
  return out;
}

/**
 * Dotted quad -> 4 bytes, by character codes: every onion layer and packed node writes an
 * address, and `isIPv4` + split + map cost more than the rest of the layer. Accepts exactly what
 * `net.isIPv4` accepts (octets 0-255 without leading zeros); false otherwise.
 */
function parseIpv4Into(ip: string, out: Uint8Array): boolean {
  const n = ip.length;
  if (n < 7 || n > 15) return false;
  let octet = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? ip.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || octet > 3) return false;
      out[octet++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits > 0 && value === 0) return false; // leading zero
      value = value * 10 + (c - 0x30);
      if (value > 255) return false;
      digits++;
    } else return false;
  }
  return octet === 4;
}

export function ipv4FromBytes(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

export function ipv6ToBytes(ip: string): Uint8Array {
  if (!isIPv6(ip)) throw new WireError(`not an IPv6 address: ${ip}`, { what: "ip" });
  let text = ip;
  const out = new Uint8Array(16);
  // Embedded dotted IPv4 tail (e.g. ::ffff:1.2.3.4).
  const lastColon = text.lastIndexOf(":");
  const tail = text.slice(lastColon + 1);
  let tailBytes: Uint8Array | null = null;
  if (tail.includes(".")) {
    tailBytes = ipv4ToBytes(tail);
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head, rest] = text.includes("::") ? (text.split("::") as [string, string]) : [text, null];
  const headGroups = head === "" ? [] : head.split(":");
  const restGroups = rest === null || rest === "" ? [] : rest.split(":");
  const groups =
    rest === null
      ? headGroups
      : [...headGroups, ...new Array(8 - headGroups.length - restGroups.length).fill("0"), ...restGroups];
  groups.forEach((g, i) => {
    const v = Number.parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  if (tailBytes) out.set(tailBytes, 12);
  return out;
}

/** RFC 5952 text: lower case, leading zeros dropped, longest run (≥2) of zero groups as `::`. */
export function ipv6FromBytes(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((b[i * 2]! << 8) | b[i * 2 + 1]!);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

/** Builds an IpPort from text, normalising IPv4-mapped IPv6 (`::ffff:a.b.c.d`) to IPv4 as c-toxcore does. */
export function ipPort(ip: string, port: number): IpPort {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new WireError(`port out of range: ${port}`, { what: "ip_port" });
  }
  if (isIPv4(ip)) return { family: 4, ip: ipv4FromBytes(ipv4ToBytes(ip)), port };
  const bytes = ipv6ToBytes(ip);
  if (isV4Mapped(bytes)) return { family: 4, ip: ipv4FromBytes(bytes.subarray(12)), port };
  return { family: 6, ip: ipv6FromBytes(bytes), port };
}

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

export function ipPortKey(ip: IpPort): string {
  return ip.family === 6 ? `[${ip.ip}]:${ip.port}` : `${ip.ip}:${ip.port}`;
}

export function ipPortEqual(a: IpPort, b: IpPort): boolean {
  return a.family === b.family && a.port === b.port && a.ip === b.ip;
}

/** LAN/loopback test as in LAN_discovery.c `ip_is_lan` (c-toxcore only tells LAN peers about LAN nodes). */
/**
 * isLanAddress answers per address text; the DHT asks it for every node of every nodes/announce
 * response (thousands of times a second with many identities), so answers are memoised.
 */
const lanCache = new Map<string, boolean>();
const LAN_CACHE_MAX = 4096;

export function isLanAddress(ip: IpPort): boolean {
  let lan = lanCache.get(ip.ip);
  if (lan === undefined) {
    lan = computeIsLan(ip);
    if (lanCache.size >= LAN_CACHE_MAX) lanCache.clear();
    lanCache.set(ip.ip, lan);
  }
  return lan;
}

function computeIsLan(ip: IpPort): boolean {
  if (ip.family === 4) {
    const [a, b] = ipv4ToBytes(ip.ip) as unknown as [number, number];
    return (
      a === 127 ||
      a === 10 ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 169 && b === 254) ||
      (a === 100 && (b & 0xc0) === 64)
    );
  }
  const bytes = ipv6ToBytes(ip.ip);
  if (bytes[0] === 0xfe && (bytes[1]! & 0xc0) === 0x80) return true; // link-local
  return ip.ip === "::1";
}

function familyByte(protocol: NodeProtocol, family: IpFamily): number {
  if (protocol === "udp") return family === 4 ? FAMILY_UDP_IPV4 : FAMILY_UDP_IPV6;
  return family === 4 ? FAMILY_TCP_IPV4 : FAMILY_TCP_IPV6;
}

export function writeIpPort(w: ByteWriter, protocol: NodeProtocol, ip: IpPort): void {
  w.u8(familyByte(protocol, ip.family));
  w.bytes(ip.family === 4 ? ipv4ToBytes(ip.ip) : ipv6ToBytes(ip.ip));
  w.u16be(ip.port);
}

export function readIpPort(r: ByteReader): { protocol: NodeProtocol; ipPort: IpPort } {
  const fam = r.u8("ip family");
  switch (fam) {
    case FAMILY_UDP_IPV4:
    case FAMILY_TCP_IPV4: {
      const ip = ipv4FromBytes(r.bytesN(4, "ipv4 address"));
      const port = r.u16be("port");
      return { protocol: fam === FAMILY_UDP_IPV4 ? "udp" : "tcp", ipPort: { family: 4, ip, port } };
    }
    case FAMILY_UDP_IPV6:
    case FAMILY_TCP_IPV6: {
      const ip = ipv6FromBytes(r.bytesN(16, "ipv6 address"));
      const port = r.u16be("port");
      return { protocol: fam === FAMILY_UDP_IPV6 ? "udp" : "tcp", ipPort: { family: 6, ip, port } };
    }
    default:
      throw new WireError(`${r.what}: unknown ip family ${fam} at offset ${r.position - 1}`, {
        what: r.what,
        field: "ip family",
        offset: r.position - 1,
      });
  }
}

export function writeNode(w: ByteWriter, node: NodeInfo): void {
  writeIpPort(w, node.protocol, node.ipPort);
  w.bytes(node.publicKey);
}

export function readNode(r: ByteReader): NodeInfo {
  const { protocol, ipPort } = readIpPort(r);
  return { protocol, ipPort, publicKey: r.bytesN(PUBLIC_KEY_SIZE, "node public key") };
}

export function packedNodeSize(node: NodeInfo): number {
  return node.ipPort.family === 4 ? PACKED_NODE_SIZE_IPV4 : PACKED_NODE_SIZE_IPV6;
}

export function packNodes(nodes: readonly NodeInfo[]): Uint8Array {
  const w = new ByteWriter(nodes.length * PACKED_NODE_SIZE_IPV6);
  for (const n of nodes) writeNode(w, n);
  return w.finish();
}

/** Parses exactly `count` packed nodes (or all, when count is undefined) and requires the input to end there. */
export function parsePackedNodes(bytes: Uint8Array, count?: number): ParseResult<NodeInfo[]> {
  return tryParse(() => {
    const r = new ByteReader(bytes, "packed nodes");
    const nodes: NodeInfo[] = [];
    while (count === undefined ? r.remaining > 0 : nodes.length < count) nodes.push(readNode(r));
    r.end();
    return nodes;
  });
}

/** Onion IP_Port: `family u8 | 16 bytes (IPv4 in the first 4, rest zero) | port u16 BE`. */
export function writeOnionIpPort(w: ByteWriter, protocol: NodeProtocol, ip: IpPort): void {
  w.u8(familyByte(protocol, ip.family));
  if (ip.family === 4) w.bytes(ipv4ToBytes(ip.ip)).zeros(12);
  else w.bytes(ipv6ToBytes(ip.ip));
  w.u16be(ip.port);
}

export function readOnionIpPort(r: ByteReader): { protocol: NodeProtocol; ipPort: IpPort } {
  const fam = r.u8("onion ip family");
  const raw = r.bytesN(16, "onion ip address");
  const port = r.u16be("onion port");
  switch (fam) {
    case FAMILY_UDP_IPV4:
    case FAMILY_TCP_IPV4:
      return {
        protocol: fam === FAMILY_UDP_IPV4 ? "udp" : "tcp",
        ipPort: { family: 4, ip: ipv4FromBytes(raw), port },
      };
    case FAMILY_UDP_IPV6:
    case FAMILY_TCP_IPV6:
      return {
        protocol: fam === FAMILY_UDP_IPV6 ? "udp" : "tcp",
        ipPort: { family: 6, ip: ipv6FromBytes(raw), port },
      };
    default:
      throw new WireError(`${r.what}: unknown onion ip family ${fam}`, {
        what: r.what,
        field: "onion ip family",
      });
  }
}
