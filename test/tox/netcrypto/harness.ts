/**
 * Test harness: NetCrypto peers wired through an in-memory link with configurable loss,
 * duplication, reordering and delay, all driven by one ManualClock and a seeded RNG.
 */
import { ManualClock } from "../../../src/tox/clock.js";
import { type KeyPair, newKeyPair } from "../../../src/tox/crypto.js";
import { NetCrypto } from "../../../src/tox/netcrypto/netcrypto.js";
import type { ConnectionId, CryptoConnectionState } from "../../../src/tox/netcrypto/types.js";
import { type IpPort, ipPort, ipPortKey } from "../../../src/tox/wire/ipport.js";

export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface LinkOptions {
  loss?: number;
  duplicate?: number;
  /** Probability a packet gets extra delay (0..jitter ms) and so overtakes others. */
  reorder?: number;
  delay?: number;
  jitter?: number;
  seed?: number;
}

interface InFlight {
  at: number;
  seq: number;
  from: IpPort;
  to: IpPort;
  data: Uint8Array;
}

export class Link {
  private queue: InFlight[] = [];
  private seq = 0;
  private readonly random: () => number;
  readonly endpoints = new Map<string, (from: IpPort, data: Uint8Array) => void>();
  /** Set to drop everything (e.g. a dead peer). */
  down = new Set<string>();
  delivered = 0;
  dropped = 0;
  /** Optional tap to observe or swallow packets: return false to drop. */
  tap: ((from: IpPort, to: IpPort, data: Uint8Array) => boolean) | undefined;

  constructor(
    readonly clock: ManualClock,
    public opts: LinkOptions = {},
  ) {
    this.random = rng(opts.seed ?? 1);
  }

  send(from: IpPort, to: IpPort, data: Uint8Array): void {
    if (this.tap && !this.tap(from, to, data)) return;
    const { loss = 0, duplicate = 0, reorder = 0, delay = 2, jitter = 20 } = this.opts;
    const copies = this.random() < duplicate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      if (this.random() < loss || this.down.has(ipPortKey(to))) {
        this.dropped++;
        continue;
      }
      const extra = this.random() < reorder ? this.random() * jitter : 0;
      this.queue.push({ at: this.clock.now() + delay + extra, seq: this.seq++, from, to, data });
    }
  }

  /** Delivers everything due by now (in due-time order). */
  deliver(): void {
    const now = this.clock.now();
    const due = this.queue.filter((p) => p.at <= now).sort((a, b) => a.at - b.at || a.seq - b.seq);
    if (due.length === 0) return;
    this.queue = this.queue.filter((p) => p.at > now);
    for (const p of due) {
      const ep = this.endpoints.get(ipPortKey(p.to));
      if (ep) {
        this.delivered++;
        ep(p.from, p.data);
      }
    }
  }
}

export interface PeerLog {
  status: Array<[ConnectionId, CryptoConnectionState]>;
  lossless: Array<[ConnectionId, Uint8Array]>;
  lossy: Array<[ConnectionId, Uint8Array]>;
  acked: Array<[ConnectionId, number]>;
  dhtChanged: Array<[ConnectionId, Uint8Array]>;
  accepted: number;
}

export class Peer {
  readonly nc: NetCrypto;
  readonly log: PeerLog = { status: [], lossless: [], lossy: [], acked: [], dhtChanged: [], accepted: 0 };
  accept = true;
  /** Hook run inside onDhtKeyChanged (e.g. reconnect like friend_connection does). */
  onDhtChanged: ((conn: ConnectionId, dht: Uint8Array) => void) | undefined;

  constructor(
    readonly link: Link,
    readonly addr: IpPort,
    readonly realKeys: KeyPair = newKeyPair(),
    readonly dhtKeys: KeyPair = newKeyPair(),
  ) {
    this.nc = new NetCrypto({
      clock: link.clock,
      realKeys,
      dhtKeys: () => this.dhtKeys,
      sink: { send: (to, data) => link.send(addr, to, data) },
      events: {
        onStatus: (c, s) => this.log.status.push([c, s]),
        onLossless: (c, d) => this.log.lossless.push([c, d]),
        onLossy: (c, d) => this.log.lossy.push([c, d]),
        onAcked: (c, n) => this.log.acked.push([c, n]),
        shouldAccept: () => {
          if (this.accept) this.log.accepted++;
          return this.accept;
        },
        onDhtKeyChanged: (c, dht) => {
          this.log.dhtChanged.push([c, dht]);
          this.onDhtChanged?.(c, dht);
        },
      },
    });
    link.endpoints.set(ipPortKey(addr), (from, data) => this.nc.handlePacket(from, data));
  }

  /** Starts a session towards `other` with its direct address. */
  connectTo(other: Peer): ConnectionId {
    const c = this.nc.connect(other.realKeys.publicKey, other.dhtKeys.publicKey);
    this.nc.setDirectAddress(c, other.addr);
    return c;
  }

  connTo(other: Peer): ConnectionId | undefined {
    return this.nc.connectionFor(other.realKeys.publicKey);
  }
}

export function makePair(opts: LinkOptions = {}): { clock: ManualClock; link: Link; a: Peer; b: Peer } {
  const clock = new ManualClock();
  const link = new Link(clock, opts);
  const a = new Peer(link, ipPort("10.0.0.1", 33445));
  const b = new Peer(link, ipPort("10.0.0.2", 33446));
  return { clock, link, a, b };
}

/** Advances time in `step` ms increments, delivering and ticking, until `until()` or `maxMs`. */
export function run(
  clock: ManualClock,
  link: Link,
  peers: Peer[],
  maxMs: number,
  until: () => boolean = () => false,
  step = 5,
  each?: () => void,
): boolean {
  const end = clock.now() + maxMs;
  while (clock.now() < end) {
    link.deliver();
    for (const p of peers) p.nc.tick();
    each?.();
    if (until()) return true;
    clock.advance(step);
  }
  link.deliver();
  return until();
}
