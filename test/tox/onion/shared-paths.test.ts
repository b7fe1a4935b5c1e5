/**
 * Shared routing at the onion level: many clients (each with its own real key, data key and
 * address) announcing and searching through ONE set of paths owned by a backbone, on the
 * in-memory network of our relay + announce nodes.
 */
import { describe, expect, it } from "vitest";
import { bytesEqual, toHex } from "../../../src/tox/bytes.js";
import { newKeyPair } from "../../../src/tox/crypto.js";
import { OnionClient } from "../../../src/tox/onion/client.js";
import { SharedOnionPaths } from "../../../src/tox/onion/shared-paths.js";
import { type IpPort, ipPort, ipPortEqual, type NodeInfo } from "../../../src/tox/wire/ipport.js";
import { OnionTestNetwork } from "./network.js";

function sharedNetwork(clients: number) {
  const net = new OnionTestNetwork(16);
  const backboneKeys = newKeyPair();
  const paths = new SharedOnionPaths(net.clock, net.dhtView(backboneKeys));
  let pathsBuilt = 0;
  for (const set of [paths.self, paths.friends]) {
    const use = set.use.bind(set);
    set.use = (n, pick, keys) =>
      use(
        n,
        () => {
          pathsBuilt++;
          return pick();
        },
        keys,
      );
  }
  const learned: { by: number; friend: string; dhtPk: string; nodes: NodeInfo[] }[] = [];
  const sentFrom: IpPort[] = [];
  const list = Array.from({ length: clients }, (_, i) => {
    const realKeys = newKeyPair();
    const dhtKeys = newKeyPair();
    const at = ipPort("127.0.0.1", 36000 + i);
    const sink = net.net.sinkFor(at);
    const client = new OnionClient({
      clock: net.clock,
      realKeys,
      dht: net.dhtView(dhtKeys),
      sink: {
        send: (to, data) => {
          sentFrom.push(at);
          sink.send(to, data);
        },
      },
      sharedPaths: paths,
      events: {
        onDhtPk: (friendPk, dhtPk, nodes) =>
          learned.push({ by: i, friend: toHex(friendPk), dhtPk: toHex(dhtPk), nodes }),
      },
    });
    net.net.listen(at, (from, data) => {
      client.handlePacket(from, data);
    });
    return { realKeys, dhtKeys, at, client };
  });
  return { net, paths, list, learned, sentFrom, pathsBuilt: () => pathsBuilt, backboneKeys };
}

describe("onion clients sharing one set of paths", () => {
  it("30 clients all announce through the same few paths, each from its own address", () => {
    const { net, paths, list, sentFrom, pathsBuilt } = sharedNetwork(30);
    const clients = list.map((c) => c.client);
    const s = net.runUntil(clients, () => clients.every((c) => c.isConnected()), 60);
    expect(s).toBeGreaterThan(0);
    // 6 self-announce slots (plus a rebuild now and then), not 6 per client.
    expect(pathsBuilt()).toBeLessThanOrEqual(12);
    expect(paths.nodes.length).toBeGreaterThan(3);
    for (const c of list) expect(sentFrom.some((a) => ipPortEqual(a, c.at))).toBe(true);
    for (const c of list) {
      const st = c.client.status();
      expect(st.storedOn).toBeGreaterThanOrEqual(Math.floor(st.announceNodes / 2));
      expect(net.servers.filter((x) => x.announce.isAnnounced(c.realKeys.publicKey)).length).toBeGreaterThan(
        1,
      );
    }
  });

  it("two clients sharing paths find each other and learn each other's DHT key", () => {
    const { net, list, learned } = sharedNetwork(4);
    const [a, b] = [list[0]!, list[1]!];
    a.client.addFriend(b.realKeys.publicKey);
    b.client.addFriend(a.realKeys.publicKey);
    const s = net.runUntil(
      list.map((c) => c.client),
      () => learned.some((l) => l.by === 0) && learned.some((l) => l.by === 1),
      120,
    );
    expect(s).toBeGreaterThan(0);
    expect(bytesEqual(a.client.friendDhtPk(b.realKeys.publicKey)!, b.dhtKeys.publicKey)).toBe(true);
    expect(bytesEqual(b.client.friendDhtPk(a.realKeys.publicKey)!, a.dhtKeys.publicKey)).toBe(true);
  });

  it("asks the DHT for path nodes once a second, however many clients run", () => {
    const net = new OnionTestNetwork(8);
    let asked = 0;
    const view = net.dhtView(newKeyPair());
    const paths = new SharedOnionPaths(net.clock, {
      dhtKeys: view.dhtKeys,
      randomNodes: (n) => {
        asked++;
        return view.randomNodes(n);
      },
    });
    const clients = Array.from(
      { length: 20 },
      (_, i) =>
        new OnionClient({
          clock: net.clock,
          realKeys: newKeyPair(),
          dht: net.dhtView(newKeyPair()),
          sink: net.net.sinkFor(ipPort("127.0.0.1", 36100 + i)),
          sharedPaths: paths,
        }),
    );
    net.runUntil(clients, () => false, 10);
    expect(asked).toBeLessThanOrEqual(10);
    expect(asked).toBeGreaterThan(0);
  });
});

describe("SharedOnionPaths admission", () => {
  it("lets a paced, bounded number of unannounced clients work; announced or stuck ones make room", () => {
    const net = new OnionTestNetwork(4);
    const paths = new SharedOnionPaths(net.clock, net.dhtView(newKeyPair()), { startsPerSecond: 2 });
    const clients = Array.from({ length: 20 }, () => ({}));
    const admitted = () => clients.filter((c) => paths.admit(c)).length;
    // 2 tokens at first, 2 more per second, at most 8 working at once.
    expect(admitted()).toBe(2);
    for (let s = 0; s < 10; s++) {
      net.clock.advance(1000);
      admitted();
    }
    expect(paths.startingCount).toBe(8);
    paths.settled(clients[0]!);
    paths.settled(clients[1]!);
    expect(paths.startingCount).toBe(6);
    net.clock.advance(1000);
    admitted();
    expect(paths.startingCount).toBe(8);
    // Stuck for more than 30 s: places are given up and taken by others.
    net.clock.advance(31_000);
    expect(paths.admit(clients[19]!)).toBe(true);
    expect(paths.startingCount).toBe(1);
  });
});
