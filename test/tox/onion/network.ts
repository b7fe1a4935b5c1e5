/**
 * In-memory onion network for tests: our relay + announce server on N "DHT nodes", plus clients,
 * wired through a packet queue on fake loopback addresses. Deterministic apart from key material.
 */
import { toHex } from "../../../src/tox/bytes.js";
import { ManualClock } from "../../../src/tox/clock.js";
import { type KeyPair, newKeyPair } from "../../../src/tox/crypto.js";
import { OnionAnnounceServer } from "../../../src/tox/onion/announce-server.js";
import { OnionClient, type OnionClientEvents, type OnionTcpFirstHop } from "../../../src/tox/onion/client.js";
import { compareDistance } from "../../../src/tox/onion/distance.js";
import { OnionRelay } from "../../../src/tox/onion/relay.js";
import type { OnionDhtView } from "../../../src/tox/onion/types.js";
import type { PacketSink } from "../../../src/tox/transport/types.js";
import { type IpPort, ipPort, ipPortKey, type NodeInfo } from "../../../src/tox/wire/ipport.js";

type Handler = (from: IpPort, data: Uint8Array) => void;

export class FakeNet {
  readonly clock = new ManualClock();
  private readonly handlers = new Map<string, Handler>();
  private queue: ({ from: IpPort; to: IpPort; data: Uint8Array } | (() => void))[] = [];
  delivered = 0;
  /** Packets to drop (return true) – for loss tests. */
  filter: ((from: IpPort, to: IpPort, data: Uint8Array) => boolean) | null = null;

  sinkFor(from: IpPort): PacketSink {
    return { send: (to, data) => this.queue.push({ from, to, data: Uint8Array.from(data) }) };
  }

  /** Runs `fn` in delivery order (e.g. a TCP relay's reply to its client). */
  later(fn: () => void): void {
    this.queue.push(fn);
  }

  listen(at: IpPort, handler: Handler): void {
    this.handlers.set(ipPortKey(at), handler);
  }

  /** Delivers queued packets (and what they trigger) until the queue is empty; bounded. */
  run(maxPackets = 100_000): void {
    let n = 0;
    while (this.queue.length > 0) {
      if (n++ > maxPackets) throw new Error("packet storm in fake network");
      const p = this.queue.shift()!;
      if (typeof p === "function") {
        p();
        continue;
      }
      if (this.filter?.(p.from, p.to, p.data)) continue;
      const h = this.handlers.get(ipPortKey(p.to));
      if (h === undefined) continue;
      this.delivered++;
      h(p.from, p.data);
    }
  }
}

export interface ServerNode {
  keys: KeyPair;
  ipPort: IpPort;
  info: NodeInfo;
  relay: OnionRelay;
  announce: OnionAnnounceServer;
}

export class OnionTestNetwork {
  readonly net = new FakeNet();
  readonly servers: ServerNode[] = [];
  private nextPort = 34800;

  /**
   * `host`: the address every node gets. Loopback makes every node a LAN node, which the onion
   * treats specially (LAN addresses are not passed on to non-LAN requesters, nor learned over TCP);
   * a public-looking test address (198.51.100.1, TEST-NET-2) avoids that.
   */
  constructor(
    serverCount: number,
    private readonly host = "127.0.0.1",
  ) {
    for (let i = 0; i < serverCount; i++) this.addServer();
  }

  get clock(): ManualClock {
    return this.net.clock;
  }

  /** A DHT view over the current server set: all of them are "good nodes". */
  dhtView(keys: KeyPair, extra: Partial<OnionDhtView> = {}): OnionDhtView {
    return {
      dhtKeys: () => keys,
      closeNodes: (pk, n) =>
        this.servers
          .map((s) => s.info)
          .filter((s) => toHex(s.publicKey) !== toHex(keys.publicKey))
          .sort((a, b) => compareDistance(pk, a.publicKey, b.publicKey))
          .slice(0, n),
      randomNodes: (n) =>
        this.servers
          .map((s) => s.info)
          .filter((s) => toHex(s.publicKey) !== toHex(keys.publicKey))
          .sort(() => Math.random() - 0.5)
          .slice(0, n),
      ...extra,
    };
  }

  addServer(): ServerNode {
    const keys = newKeyPair();
    const at = ipPort(this.host, this.nextPort++);
    const sink = this.net.sinkFor(at);
    const dht = this.dhtView(keys);
    const relay = new OnionRelay({ clock: this.clock, dht, sink });
    const announce = new OnionAnnounceServer({ clock: this.clock, dht, sink });
    this.net.listen(at, (from, data) => {
      if (!relay.handlePacket(from, data)) announce.handlePacket(from, data);
    });
    const node = {
      keys,
      ipPort: at,
      info: { protocol: "udp" as const, ipPort: at, publicKey: keys.publicKey },
      relay,
      announce,
    };
    this.servers.push(node);
    return node;
  }

  addClient(events: OnionClientEvents = {}, extraDht: Partial<OnionDhtView> = {}, tcp?: OnionTcpFirstHop) {
    const realKeys = newKeyPair();
    const dhtKeys = newKeyPair();
    const at = ipPort(this.host, this.nextPort++);
    const client = new OnionClient({
      clock: this.clock,
      realKeys,
      dht: this.dhtView(dhtKeys, extraDht),
      sink: this.net.sinkFor(at),
      events,
      ...(tcp ? { tcp } : {}),
    });
    this.net.listen(at, (from, data) => {
      client.handlePacket(from, data);
    });
    return { realKeys, dhtKeys, ipPort: at, client };
  }

  /** Advances time in 1 s steps, ticking the given clients and delivering packets, until `done` or `maxSeconds`. */
  runUntil(clients: OnionClient[], done: () => boolean, maxSeconds: number): number {
    for (let s = 0; s < maxSeconds; s++) {
      for (const c of clients) c.tick();
      this.net.run();
      if (done()) return s;
      this.clock.advance(1000);
    }
    return -1;
  }
}
