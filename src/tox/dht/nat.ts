/**
 * NAT hole punching helpers (DHT.c `nat_commonip`, `nat_getports`, `punch_holes`), pure.
 *
 * When several nodes close to a friend report the friend at the same IP but different ports,
 * the friend sits behind a NAT that maps ports per destination. After a NAT ping round trip
 * through the DHT proves the friend is online, both sides send pings to guessed ports around
 * the reported ones, hoping to open a mapping in each NAT.
 */
import type { IpPort } from "../wire/ipport.js";
import { MAX_FRIEND_CLIENTS, MAX_NORMAL_PUNCHING_TRIES, MAX_PUNCHING_PORTS } from "./constants.js";

/** The IP reported at least `minCount` times, if any (first such in list order). */
export function commonIp(list: readonly IpPort[], minCount: number): string | undefined {
  if (list.length > MAX_FRIEND_CLIENTS) return undefined;
  for (const a of list) {
    let n = 0;
    for (const b of list) if (a.family === b.family && a.ip === b.ip) n++;
    if (n >= minCount) return a.ip;
  }
  return undefined;
}

export function portsOf(list: readonly IpPort[], ip: string): number[] {
  return list.filter((x) => x.ip === ip).map((x) => x.port);
}

export interface PunchState {
  tries: number;
  /** Position in the "around the reported ports" sequence. */
  index: number;
  /** Position in the "sweep from port 1024" sequence used after several failed tries. */
  index2: number;
}

/**
 * Ports to ping in one punching round, advancing `state`. One port if all reports agree
 * (a port-preserving NAT); else 48 guesses alternating above and below each reported port;
 * after MAX_NORMAL_PUNCHING_TRIES rounds, also a sweep upward from port 1024.
 */
export function punchPorts(ports: readonly number[], state: PunchState): number[] {
  const out: number[] = [];
  if (ports.length === 0 || ports.length > MAX_FRIEND_CLIENTS) return out;
  const first = ports[0]!;
  if (ports.every((p) => p === first)) {
    out.push(first);
  } else {
    for (let i = 0; i < MAX_PUNCHING_PORTS; i++) {
      const it = i + state.index;
      const sign = it % 2 !== 0 ? -1 : 1;
      const delta = sign * Math.floor(it / (2 * ports.length));
      const index = Math.floor(it / 2) % ports.length;
      out.push((ports[index]! + delta) & 0xffff);
    }
    state.index += MAX_PUNCHING_PORTS;
  }
  if (state.tries > MAX_NORMAL_PUNCHING_TRIES) {
    for (let i = 0; i < MAX_PUNCHING_PORTS; i++) out.push((1024 + i + state.index2) & 0xffff);
    state.index2 += MAX_PUNCHING_PORTS / 2;
  }
  state.tries++;
  return out;
}
