/**
 * In-memory network of Dht nodes on one ManualClock, for deterministic DHT tests: datagrams are
 * queued and delivered in order by `run(ms)`, which also ticks every node. Hooks let a test
 * rewrite the source address a node appears from (a NAT mapping per destination), drop packets,
 * or inspect everything sent.
 */
import { ManualClock } from "../../../src/tox/clock.js";
import { Dht, type DhtOptions } from "../../../src/tox/dht/dht.js";
import { type IpPort, ipPort, ipPortKey } from "../../../src/tox/wire/ipport.js";

export interface Sent {
  from: IpPort;
  to: IpPort;
  data: Uint8Array;
  at: number;
}

export class Mesh {
  readonly clock = new ManualClock();
  readonly nodes: Dht[] = [];
  readonly addrs: IpPort[] = [];
  private readonly byAddr = new Map<string, Dht>();
  private queue: Sent[] = [];
  readonly log: Sent[] = [];
  /** Return false to drop. */
  filter: (p: Sent) => boolean = () => true;
  /** Rewrites the source address of a packet (NAT mapping); default: the node's own address. */
  mapSource: (node: number, to: IpPort) => IpPort = (node) => this.addrs[node]!;
  /** Extra listeners for addresses that are not nodes (NAT external ports, probes). */
  readonly extra = new Map<string, (from: IpPort, data: Uint8Array) => void>();
  keepLog = false;

  /** Adds a node; default addresses are public-looking (198.18.0.0/15, not LAN). */
  add(
    ip = `198.18.${Math.floor(this.nodes.length / 250)}.${(this.nodes.length % 250) + 1}`,
    port = 33445,
    opts: Partial<DhtOptions> = {},
  ): Dht {
    const index = this.nodes.length;
    const addr = ipPort(ip, port);
    const dht = new Dht({
      clock: this.clock,
      sink: {
        send: (to, data) => {
          const p = { from: this.mapSource(index, to), to, data, at: this.clock.now() };
          if (this.keepLog) this.log.push(p);
          this.queue.push(p);
        },
      },
      ...opts,
    });
    this.nodes.push(dht);
    this.addrs.push(addr);
    this.byAddr.set(ipPortKey(addr), dht);
    return dht;
  }

  /** Registers an address (for NAT-mapped ports) that delivers to a node. */
  alias(addr: IpPort, node: number): void {
    this.byAddr.set(ipPortKey(addr), this.nodes[node]!);
  }

  deliverAll(): number {
    let n = 0;
    // Bounded: replies generate more packets, but only finitely many per tick.
    for (let round = 0; round < 50 && this.queue.length > 0; round++) {
      const batch = this.queue;
      this.queue = [];
      for (const p of batch) {
        if (!this.filter(p)) continue;
        const key = ipPortKey(p.to);
        const target = this.byAddr.get(key);
        if (target) target.handlePacket(p.from, p.data);
        else this.extra.get(key)?.(p.from, p.data);
        n++;
      }
    }
    return n;
  }

  /** Advances time in 1 s steps, ticking every node and delivering everything in between. */
  run(ms: number, step = 1000): void {
    for (let t = 0; t < ms; t += step) {
      for (const d of this.nodes) d.tick();
      this.deliverAll();
      this.clock.advance(step);
    }
    this.deliverAll();
  }

  /** Node i learns of node j (as if configured with it) and bootstraps from it. */
  bootstrap(i: number, j: number): void {
    this.nodes[i]!.bootstrap({ ipPort: this.addrs[j]!, publicKey: this.nodes[j]!.publicKey });
  }
}
