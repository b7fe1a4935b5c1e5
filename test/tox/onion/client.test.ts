import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bytesEqual, toHex } from "../../../src/tox/bytes.js";
import { newKeyPair } from "../../../src/tox/crypto.js";
import type { OnionClient } from "../../../src/tox/onion/client.js";
import { compareDistance } from "../../../src/tox/onion/distance.js";
import { type IpPort, ipPort, type NodeInfo } from "../../../src/tox/wire/ipport.js";
import { ONION_DATA_FRIEND_REQUEST } from "../../../src/tox/wire/onion.js";
import { OnionTestNetwork } from "./network.js";

function twoClients(servers = 10) {
  const net = new OnionTestNetwork(servers);
  const learned: { by: string; friend: string; dhtPk: string; nodes: NodeInfo[] }[] = [];
  const data: { by: string; sender: string; type: number; payload: Uint8Array }[] = [];
  const mk = (name: string) =>
    net.addClient({
      onDhtPk: (friendPk, dhtPk, nodes) =>
        learned.push({ by: name, friend: toHex(friendPk), dhtPk: toHex(dhtPk), nodes }),
      onData: (sender, type, payload) => data.push({ by: name, sender: toHex(sender), type, payload }),
    });
  const a = mk("a");
  const b = mk("b");
  return { net, a, b, learned, data };
}

describe("onion client on an in-memory network of our server nodes", () => {
  it("announces itself: stored on several nodes and reports connected", () => {
    const { net, a } = twoClients();
    const s = net.runUntil([a.client], () => a.client.isConnected(), 60);
    expect(s).toBeGreaterThan(0);
    const st = a.client.status();
    expect(st.connected).toBe(true);
    expect(st.storedOn).toBeGreaterThanOrEqual(Math.floor(st.announceNodes / 2));
    expect(
      net.servers.filter((x) => x.announce.isAnnounced(a.realKeys.publicKey)).length,
    ).toBeGreaterThanOrEqual(2);
  });

  it("two friends find each other through the onion and learn each other's DHT key", () => {
    const { net, a, b, learned } = twoClients();
    a.client.addFriend(b.realKeys.publicKey);
    b.client.addFriend(a.realKeys.publicKey);
    const s = net.runUntil(
      [a.client, b.client],
      () => learned.some((l) => l.by === "a") && learned.some((l) => l.by === "b"),
      120,
    );
    expect(s).toBeGreaterThan(0);
    const byA = learned.find((l) => l.by === "a")!;
    expect(byA.friend).toBe(toHex(b.realKeys.publicKey));
    expect(byA.dhtPk).toBe(toHex(b.dhtKeys.publicKey));
    expect(byA.nodes.length).toBe(4);
    expect(bytesEqual(a.client.friendDhtPk(b.realKeys.publicKey)!, b.dhtKeys.publicKey)).toBe(true);
    expect(bytesEqual(b.client.friendDhtPk(a.realKeys.publicKey)!, a.dhtKeys.publicKey)).toBe(true);
  });

  it("carries onion data (a friend request) to a searched-for key that is not yet a friend of the receiver", () => {
    const { net, a, b, data } = twoClients();
    // A searches for B (to send a request); B does not know A.
    a.client.addFriend(b.realKeys.publicKey);
    net.runUntil([a.client, b.client], () => a.client.friendReachableVia(b.realKeys.publicKey) >= 2, 120);
    expect(a.client.friendReachableVia(b.realKeys.publicKey)).toBeGreaterThanOrEqual(2);
    const sent = a.client.sendData(
      b.realKeys.publicKey,
      ONION_DATA_FRIEND_REQUEST,
      Uint8Array.of(1, 2, 3, 4, 104, 105),
    );
    expect(sent).toBeGreaterThanOrEqual(1);
    net.net.run();
    const got = data.filter((d) => d.by === "b");
    expect(got.length).toBe(sent);
    expect(got[0]!.sender).toBe(toHex(a.realKeys.publicKey));
    expect(got[0]!.type).toBe(ONION_DATA_FRIEND_REQUEST);
    expect([...got[0]!.payload]).toEqual([1, 2, 3, 4, 104, 105]);
  });

  it("ignores a replayed DHT-PK (no_replay not newer) and stops sending DHT-PKs while the friend is online", () => {
    const { net, a, b, learned } = twoClients();
    a.client.addFriend(b.realKeys.publicKey);
    b.client.addFriend(a.realKeys.publicKey);
    const toA: { from: IpPort; data: Uint8Array }[] = [];
    net.net.filter = (from, to, data) => {
      if (to.port === a.ipPort.port && data[0] === 0x86) toA.push({ from, data });
      return false;
    };
    net.runUntil([a.client, b.client], () => learned.some((l) => l.by === "a"), 120);
    const before = learned.filter((l) => l.by === "a").length;
    expect(toA.length).toBeGreaterThan(0);
    for (const p of toA) a.client.handlePacket(p.from, p.data);
    expect(learned.filter((l) => l.by === "a").length).toBe(before);

    b.client.setFriendOnline(a.realKeys.publicKey, true);
    toA.length = 0;
    net.runUntil([a.client, b.client], () => false, 65);
    expect(toA.length).toBe(0);
    b.client.setFriendOnline(a.realKeys.publicKey, false);
    net.runUntil([a.client, b.client], () => toA.length > 0, 65);
    expect(toA.length).toBeGreaterThan(0);
  });

  it("recovers when path relays disappear (paths time out and are rebuilt)", () => {
    const { net, a, b, learned } = twoClients(12);
    a.client.addFriend(b.realKeys.publicKey);
    b.client.addFriend(a.realKeys.publicKey);
    expect(
      net.runUntil([a.client, b.client], () => a.client.isConnected() && b.client.isConnected(), 60),
    ).toBeGreaterThan(0);
    // Three servers go dark.
    const dead = new Set(net.servers.slice(0, 3).map((s) => s.ipPort.port));
    net.net.filter = (_from, to) => dead.has(to.port);
    learned.length = 0;
    const s = net.runUntil(
      [a.client, b.client],
      () => learned.some((l) => l.by === "a") && learned.some((l) => l.by === "b"),
      300,
    );
    expect(s).toBeGreaterThanOrEqual(0);
  });
});

describe("DHT-PK through the DHT (crypto request 156)", () => {
  it("is accepted only when the outer DHT key matches the one inside, and only newer ones", () => {
    const net = new OnionTestNetwork(8);
    const routed: { to: Uint8Array; data: Uint8Array }[] = [];
    const learnedByB: string[] = [];
    const a = net.addClient({}, { routeDhtPk: (to, data) => routed.push({ to, data }) > 0 });
    const b = net.addClient({ onDhtPk: (_f, dhtPk) => learnedByB.push(toHex(dhtPk)) });
    a.client.addFriend(b.realKeys.publicKey);
    b.client.addFriend(a.realKeys.publicKey);
    // A knows B's DHT key already (e.g. from a handshake), so it also sends its DHT-PK via the DHT.
    a.client.setFriendDhtPk(b.realKeys.publicKey, b.dhtKeys.publicKey);
    net.runUntil([a.client, b.client], () => routed.length > 0, 60);
    expect(routed.length).toBeGreaterThan(0);
    expect(toHex(routed[0]!.to)).toBe(toHex(b.dhtKeys.publicKey));
    b.client.setFriendOnline(a.realKeys.publicKey, false); // resets the replay counter
    learnedByB.length = 0;
    expect(b.client.handleDhtPkFromDht(newKeyPair().publicKey, routed[0]!.data)).toBe(false);
    expect(b.client.handleDhtPkFromDht(a.dhtKeys.publicKey, routed[0]!.data)).toBe(true);
    expect(learnedByB).toEqual([toHex(a.dhtKeys.publicKey)]);
    expect(b.client.handleDhtPkFromDht(a.dhtKeys.publicKey, routed[0]!.data)).toBe(false);
    const tampered = Uint8Array.from(routed[0]!.data);
    tampered[tampered.length - 1]! ^= 1;
    b.client.setFriendOnline(a.realKeys.publicKey, false);
    expect(b.client.handleDhtPkFromDht(a.dhtKeys.publicKey, tampered)).toBe(false);
  });
});

describe("handlers never throw on arbitrary input", () => {
  it("client, relay and announce node drop 20k random packets quietly", () => {
    const net = new OnionTestNetwork(3);
    const c = net.addClient();
    const s = net.servers[0]!;
    const from = ipPort("127.0.0.1", 34990);
    fc.assert(
      fc.property(
        fc.constantFrom(0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x8c, 0x8d, 0x8e),
        fc.uint8Array({ maxLength: 1500 }),
        (id, rest) => {
          const data = Uint8Array.from([id, ...rest]);
          c.client.handlePacket(from, data);
          s.relay.handlePacket(from, data);
          s.announce.handlePacket(from, data);
          c.client.handleDhtPkFromDht(rest.subarray(0, 32), rest);
        },
      ),
      { numRuns: 20_000 },
    );
    net.net.run();
  });
});

describe("TCP-only client (no DHT): paths start at a TCP relay", () => {
  it("announces through the relay and finds a UDP friend; DHT-PKs flow both ways", () => {
    // Public-looking addresses: over TCP, LAN nodes in responses are (rightly) not followed.
    const net = new OnionTestNetwork(10, "198.51.100.1");
    const relayServer = net.servers[0]!;
    const learned: string[] = [];
    const viaTcp = { sent: 0, replies: 0 };
    let tcpClient: OnionClient | undefined;
    const clientKey = newKeyPair().publicKey;
    const a = net.addClient(
      { onDhtPk: (f) => learned.push(`a:${toHex(f)}`) },
      { isConnected: () => false, randomNodes: () => [], closeNodes: () => [] },
      {
        relays: () => [{ ...relayServer.info, protocol: "tcp" }],
        send: (_relay, nonce, payload) => {
          viaTcp.sent++;
          return relayServer.relay.handleTcpRequest(clientKey, nonce, payload, (d) =>
            net.net.later(() => {
              viaTcp.replies++;
              tcpClient!.handleTcpResponse(d);
            }),
          );
        },
      },
    );
    tcpClient = a.client;
    for (const s of net.servers.slice(1, 4)) a.client.addBootstrapPathNode(s.info);
    const b = net.addClient({ onDhtPk: (f) => learned.push(`b:${toHex(f)}`) });
    a.client.addFriend(b.realKeys.publicKey);
    b.client.addFriend(a.realKeys.publicKey);
    const both = () =>
      learned.includes(`a:${toHex(b.realKeys.publicKey)}`) &&
      learned.includes(`b:${toHex(a.realKeys.publicKey)}`);
    expect(net.runUntil([a.client, b.client], both, 120)).toBeGreaterThan(0);
    expect(viaTcp.sent).toBeGreaterThan(0);
    expect(viaTcp.replies).toBeGreaterThan(0);
  });
});

describe("onion backup nodes (save file path nodes)", () => {
  it("lists recent path nodes first, then bootstrap nodes, without duplicates", () => {
    const net = new OnionTestNetwork(6);
    const a = net.addClient();
    const bs = net.servers.slice(0, 2).map((s) => s.info);
    for (const n of bs) a.client.addBootstrapPathNode(n);
    expect(a.client.backupNodes().map((n) => n.ipPort.port)).toEqual(bs.map((n) => n.ipPort.port));
    net.runUntil([a.client], () => a.client.isConnected(), 60);
    const backup = a.client.backupNodes(4);
    expect(backup).toHaveLength(4);
    expect(new Set(backup.map((n) => toHex(n.publicKey))).size).toBe(4);
  });
});

describe("announce list convergence", () => {
  it("on 60 nodes, the client finds and is stored on the nodes closest to its real key", () => {
    const net = new OnionTestNetwork(60);
    const a = net.addClient();
    net.runUntil([a.client], () => false, 90);
    const storing = net.servers.filter((s) => s.announce.isAnnounced(a.realKeys.publicKey));
    const closest = [...net.servers]
      .sort((x, y) => compareDistance(a.realKeys.publicKey, x.keys.publicKey, y.keys.publicKey))
      .slice(0, 12)
      .map((s) => s.ipPort.port);
    const st = a.client.status();
    expect(st.connected).toBe(true);
    expect(st.announceNodes).toBe(12);
    expect(st.storedOn).toBe(12);
    // Announce nodes answer with the 4 nodes they know closest to our key; here every node knows
    // every other, so the 5 closest are all discovered and store us (the rest are random picks).
    for (const port of closest.slice(0, 5)) expect(storing.map((s) => s.ipPort.port)).toContain(port);
  });
});
