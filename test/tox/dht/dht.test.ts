import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { toHex } from "../../../src/tox/bytes.js";
import { newKeyPair, precompute, randomBytes } from "../../../src/tox/crypto.js";
import {
  BAD_NODE_TIMEOUT_MS,
  BOOTSTRAP_PER_TICK,
  KILL_NODE_TIMEOUT_MS,
  LCLIENT_LENGTH,
} from "../../../src/tox/dht/constants.js";
import { commonPrefixBits, compareDistance } from "../../../src/tox/dht/distance.js";
import { unwrap } from "../../../src/tox/errors.js";
import { seededRandom } from "../../../src/tox/transport/udp.js";
import {
  CRYPTO_PACKET_DHTPK,
  CRYPTO_PACKET_NAT_PING,
  decryptCryptoRequest,
  motdText,
  NET_PACKET_NODES_REQUEST,
  NET_PACKET_PING_REQUEST,
  parseBootstrapInfo,
  parseNodesRequest,
  parseNodesResponse,
  parsePing,
  serializeBootstrapInfoRequest,
  serializeNodesRequest,
  serializeNodesResponse,
  serializePing,
  splitCryptoRequest,
} from "../../../src/tox/wire/dht.js";
import { type IpPort, ipPort, ipPortKey } from "../../../src/tox/wire/ipport.js";
import { Mesh } from "./mesh.js";

const hex = toHex;

describe("a pair of nodes", () => {
  it("bootstrapping puts each into the other's close list", () => {
    const m = new Mesh();
    const a = m.add();
    const b = m.add();
    m.bootstrap(0, 1);
    m.run(5_000);
    expect(a.closeNodes().map((n) => hex(n.publicKey))).toEqual([hex(b.publicKey)]);
    expect(b.closeNodes().map((n) => hex(n.publicKey))).toEqual([hex(a.publicKey)]);
    expect(a.isConnected()).toBe(true);
    expect(a.isNonLanConnected()).toBe(true);
    expect(a.closeNodes()[0]!.ipPort).toEqual(m.addrs[1]);
  });

  it("asks the bootstrap nodes again every 5 s while it has no good node", () => {
    const m = new Mesh();
    const a = m.add();
    m.add();
    m.filter = () => false; // the network is down at first
    m.bootstrap(0, 1);
    m.run(20_000);
    expect(a.isConnected()).toBe(false);
    m.filter = () => true;
    m.run(6_000);
    expect(a.isConnected()).toBe(true);
  });

  it("a node restarting with a new key at the same address replaces its old entry", () => {
    const m = new Mesh();
    const a = m.add();
    const b = m.add();
    m.bootstrap(0, 1);
    m.run(5_000);
    const oldKey = hex(b.publicKey);
    // Same address, fresh DHT key (as c-toxcore after a restart).
    const b2 = m.add("198.18.0.2", 33445);
    expect(m.addrs[2]).toEqual(m.addrs[1]);
    m.bootstrap(2, 0);
    m.run(5_000);
    const keys = a.closeNodes().map((n) => hex(n.publicKey));
    expect(keys).toContain(hex(b2.publicKey));
    expect(keys).not.toContain(oldKey);
  });

  it("paces bootstrap(): at most BOOTSTRAP_PER_TICK nodes requests per tick", () => {
    const m = new Mesh();
    m.keepLog = true;
    const a = m.add();
    for (let i = 0; i < 30; i++)
      a.bootstrap({ ipPort: ipPort("198.19.0.1", 1000 + i), publicKey: randomBytes(32) });
    expect(m.deliverAll()).toBe(BOOTSTRAP_PER_TICK);
    a.tick();
    expect(m.deliverAll()).toBe(BOOTSTRAP_PER_TICK);
    m.clock.advance(1000);
    a.tick();
    m.clock.advance(1000);
    a.tick();
    m.deliverAll();
    expect(m.log.filter((p) => p.data[0] === NET_PACKET_NODES_REQUEST).length).toBe(30);
  });
});

describe("a network of 40 of our nodes", () => {
  const m = new Mesh();
  const N = 40;
  for (let i = 0; i < N; i++) m.add();
  for (let i = 1; i < N; i++) m.bootstrap(i, 0);
  m.run(90_000);

  it("every node knows all nodes of its sparse (near) buckets and many of the far ones", () => {
    const bucketOf = (self: Uint8Array, pk: Uint8Array) =>
      Math.min(commonPrefixBits(pk, self), LCLIENT_LENGTH - 1);
    for (let i = 0; i < N; i++) {
      const self = m.nodes[i]!.publicKey;
      const exist = new Map<number, number>();
      for (const d of m.nodes) {
        if (d === m.nodes[i]) continue;
        const b = bucketOf(self, d.publicKey);
        exist.set(b, (exist.get(b) ?? 0) + 1);
      }
      const known = new Map<number, number>();
      for (const n of m.nodes[i]!.closeNodes()) {
        const b = bucketOf(self, n.publicKey);
        known.set(b, (known.get(b) ?? 0) + 1);
      }
      // Near buckets (≥ 3 shared bits: few nodes) are complete; far ones fill from whoever talks
      // to us and from answers to other searches, like in c-toxcore, so only their total is checked.
      for (const [b, count] of exist) {
        if (b >= 3) expect(known.get(b) ?? 0).toBe(Math.min(8, count));
      }
      expect(m.nodes[i]!.closeNodes().length).toBeGreaterThanOrEqual(8);
      // Hence the closest node of all is always known.
      const closest = m.nodes
        .filter((_, j) => j !== i)
        .map((d) => d.publicKey)
        .sort((x, y) => compareDistance(self, x, y))[0]!;
      expect(m.nodes[i]!.closeNodes().some((n) => hex(n.publicKey) === hex(closest))).toBe(true);
    }
  });

  it("closeNodes() is ordered by XOR distance and respects the 8-per-bucket limit", () => {
    for (const d of m.nodes) {
      const list = d.closeNodes();
      for (let k = 1; k < list.length; k++) {
        expect(compareDistance(d.publicKey, list[k - 1]!.publicKey, list[k]!.publicKey)).toBeLessThan(0);
      }
      const perBucket = new Map<number, number>();
      for (const n of list) {
        const b = Math.min(commonPrefixBits(n.publicKey, d.publicKey), LCLIENT_LENGTH - 1);
        perBucket.set(b, (perBucket.get(b) ?? 0) + 1);
      }
      for (const c of perBucket.values()) expect(c).toBeLessThanOrEqual(8);
    }
  });

  it("a friend search finds the friend's address and reports it", () => {
    const found: IpPort[] = [];
    m.nodes[3]!.addFriend(m.nodes[37]!.publicKey, (ip) => found.push(ip));
    m.run(20_000);
    expect(m.nodes[3]!.getFriendAddress(m.nodes[37]!.publicKey)).toEqual(m.addrs[37]);
    expect(found.length).toBeGreaterThan(0);
    expect(found[0]).toEqual(m.addrs[37]);
    const fl = m.nodes[3]!.friendNodes(m.nodes[37]!.publicKey);
    expect(hex(fl[0]!.publicKey)).toBe(hex(m.nodes[37]!.publicKey));
    expect(m.nodes[3]!.removeFriend(m.nodes[37]!.publicKey)).toBe(true);
    expect(m.nodes[3]!.getFriendAddress(m.nodes[37]!.publicKey)).toBeUndefined();
  });

  it("randomGoodNodes returns distinct good nodes", () => {
    const nodes = m.nodes[5]!.randomGoodNodes(10);
    expect(nodes.length).toBe(10);
    expect(new Set(nodes.map((n) => hex(n.publicKey))).size).toBe(10);
    const all = new Set(m.nodes.map((d) => hex(d.publicKey)));
    for (const n of nodes) expect(all.has(hex(n.publicKey))).toBe(true);
  });

  it("savedNodes() lists distinct good nodes, close list first", () => {
    const saved = m.nodes[7]!.savedNodes(1000);
    expect(new Set(saved.map((n) => hex(n.publicKey))).size).toBe(saved.length);
    const close = m.nodes[7]!.closeNodes();
    expect(saved.slice(0, close.length).map((n) => hex(n.publicKey))).toEqual(
      close.map((n) => hex(n.publicKey)),
    );
    expect(m.nodes[7]!.savedNodes(5).length).toBe(5);
  });

  it("caches shared keys (one beforenm per peer, not per packet)", () => {
    const s = m.nodes[0]!.sharedKeyStats();
    expect(s.misses).toBeLessThanOrEqual(N + 2);
    expect(s.hits).toBeGreaterThan(s.misses * 10);
  });
});

describe("timeouts", () => {
  it("a silent node goes bad after 122 s and stops being asked after 182 s", () => {
    const m = new Mesh();
    m.keepLog = true;
    const a = m.add();
    const b = m.add();
    m.add();
    m.bootstrap(0, 1);
    m.bootstrap(2, 1);
    m.run(10_000);
    expect(a.closeNodes().length).toBe(2);
    // b falls silent (crashes): nothing from it reaches anyone.
    const silentFrom = m.clock.now();
    m.filter = (p) => ipPortKey(p.from) !== ipPortKey(m.addrs[1]!);
    m.run(BAD_NODE_TIMEOUT_MS - 20_000);
    expect(a.closeNodes().some((n) => hex(n.publicKey) === hex(b.publicKey))).toBe(true);
    m.run(25_000);
    expect(a.closeNodes().some((n) => hex(n.publicKey) === hex(b.publicKey))).toBe(false);
    // Not returned to others either.
    expect(a.getCloseNodes(b.publicKey, true).some((n) => hex(n.publicKey) === hex(b.publicKey))).toBe(false);
    m.run(KILL_NODE_TIMEOUT_MS);
    const toB = m.log.filter(
      (p) =>
        ipPortKey(p.to) === ipPortKey(m.addrs[1]!) &&
        ipPortKey(p.from) === ipPortKey(m.addrs[0]!) &&
        p.at > silentFrom + KILL_NODE_TIMEOUT_MS + 1000,
    );
    expect(toB.length).toBe(0);
    // Still connected to the third node.
    expect(a.closeNodes().length).toBe(1);
  });

  it("when every node is past the kill timeout, keeps asking them instead of going mute", () => {
    const m = new Mesh();
    m.keepLog = true;
    m.add();
    m.add();
    m.bootstrap(0, 1);
    m.run(5_000);
    m.filter = () => false;
    m.run(KILL_NODE_TIMEOUT_MS + 120_000);
    const last = m.clock.now() - 60_000;
    expect(m.log.some((p) => p.at > last && ipPortKey(p.to) === ipPortKey(m.addrs[1]!))).toBe(true);
  });
});

describe("ping ids and response checks", () => {
  /** A hand-driven peer: our node talks to it, the test answers by hand. */
  function setup() {
    const m = new Mesh();
    m.keepLog = true;
    const a = m.add();
    const peer = newKeyPair();
    const peerAddr = ipPort("198.19.1.1", 40000);
    const shared = precompute(a.publicKey, peer.secretKey);
    const inbox: Uint8Array[] = [];
    m.extra.set(ipPortKey(peerAddr), (_from, data) => inbox.push(data));
    a.bootstrap({ ipPort: peerAddr, publicKey: peer.publicKey });
    m.deliverAll();
    const req = unwrap(parseNodesRequest(inbox.shift()!, shared));
    const respond = (from: IpPort, pingId = req.pingId) =>
      a.handlePacket(from, serializeNodesResponse({ nodes: [], pingId }, peer.publicKey, shared));
    return { m, a, peer, peerAddr, req, respond, inbox, shared };
  }

  it("accepts a response from the asked key and address within 5 s, once", () => {
    const { a, peerAddr, respond } = setup();
    respond(peerAddr);
    expect(a.stats.nodesResponsesAccepted).toBe(1);
    expect(a.closeNodes().length).toBe(1);
    respond(peerAddr); // replay
    expect(a.stats.nodesResponsesAccepted).toBe(1);
    expect(a.stats.responsesRejected).toBe(1);
  });

  it("rejects a response from another address, with an unknown id, or after 5 s", () => {
    const { m, a, peerAddr, respond } = setup();
    respond(ipPort("198.19.1.1", 40001));
    respond(peerAddr, randomBytes(8));
    expect(a.stats.nodesResponsesAccepted).toBe(0);
    const late = setup();
    late.m.clock.advance(5_000);
    late.respond(late.peerAddr);
    expect(late.a.stats.nodesResponsesAccepted).toBe(0);
    expect(late.a.closeNodes().length).toBe(0);
    expect(m).toBeDefined();
  });

  it("answers a ping with an 82-byte response echoing the id, then pings the stranger back", () => {
    const { m, a, peer, peerAddr, inbox, shared } = setup();
    const pingId = randomBytes(8);
    a.handlePacket(
      peerAddr,
      serializePing({ type: NET_PACKET_PING_REQUEST, pingId }, peer.publicKey, shared),
    );
    m.deliverAll();
    const resp = inbox.find((d) => d[0] === 0x01)!;
    expect(resp.length).toBe(82);
    expect(hex(unwrap(parsePing(resp, shared)).pingId)).toBe(hex(pingId));
    // The stranger is pinged within TIME_TO_PING (2 s) so it can join our lists.
    inbox.length = 0;
    m.run(3_000);
    const ping = inbox.find((d) => d[0] === 0x00);
    expect(ping).toBeDefined();
    const p = unwrap(parsePing(ping!, shared));
    a.handlePacket(peerAddr, serializePing({ type: 0x01, pingId: p.pingId }, peer.publicKey, shared));
    expect(a.closeNodes().map((n) => hex(n.publicKey))).toContain(hex(peer.publicKey));
  });

  it("answers a nodes request with at most 4 good nodes closest to the searched key", () => {
    const m = new Mesh();
    for (let i = 0; i < 12; i++) m.add();
    for (let i = 1; i < 12; i++) m.bootstrap(i, 0);
    m.run(30_000);
    const a = m.nodes[0]!;
    const asker = newKeyPair();
    const askerAddr = ipPort("198.19.2.2", 40000);
    const shared = precompute(a.publicKey, asker.secretKey);
    let got: Uint8Array | undefined;
    m.extra.set(ipPortKey(askerAddr), (_f, d) => {
      got = d;
    });
    const target = randomBytes(32);
    a.handlePacket(
      askerAddr,
      serializeNodesRequest({ searchedPk: target, pingId: randomBytes(8) }, asker.publicKey, shared),
    );
    m.deliverAll();
    const resp = unwrap(parseNodesResponse(got!, shared));
    expect(resp.nodes.length).toBe(4);
    const truth = m.nodes.slice(1).map((d) => d.publicKey);
    truth.sort((x, y) => compareDistance(target, x, y));
    expect(resp.nodes.map((n) => hex(n.publicKey)).sort()).toEqual(
      truth
        .slice(0, 4)
        .map((k) => hex(k))
        .sort(),
    );
  });

  it("returns LAN addresses only to LAN requesters", () => {
    const m = new Mesh();
    const a = m.add("198.18.0.1");
    m.add("127.0.0.1", 33446);
    m.add("198.18.0.3");
    m.bootstrap(0, 1);
    m.bootstrap(0, 2);
    m.run(5_000);
    expect(a.closeNodes().length).toBe(2);
    const any = randomBytes(32);
    expect(a.getCloseNodes(any, false).length).toBe(1);
    expect(a.getCloseNodes(any, true).length).toBe(2);
  });
});

describe("0x20 crypto requests", () => {
  it("reach a node through a node that has it in its close list", () => {
    const m = new Mesh();
    const a = m.add();
    const relay = m.add();
    const c = m.add();
    m.bootstrap(0, 1);
    m.bootstrap(2, 1);
    // a and c cannot talk directly (both behind NATs that never meet).
    const blocked = (x: IpPort, y: IpPort) =>
      (ipPortKey(x) === ipPortKey(m.addrs[0]!) && ipPortKey(y) === ipPortKey(m.addrs[2]!)) ||
      (ipPortKey(x) === ipPortKey(m.addrs[2]!) && ipPortKey(y) === ipPortKey(m.addrs[0]!));
    m.filter = (p) => !blocked(p.from, p.to);
    a.addFriend(c.publicKey);
    m.run(10_000);
    expect(a.getFriendAddress(c.publicKey)).toBeUndefined();
    const got: Array<{ sender: string; data: string }> = [];
    c.onCryptoPacket(CRYPTO_PACKET_DHTPK, (_from, sender, data) =>
      got.push({ sender: hex(sender), data: hex(data) }),
    );
    const payload = randomBytes(100);
    expect(a.sendCryptoPacket(c.publicKey, CRYPTO_PACKET_DHTPK, payload)).toBeGreaterThan(0);
    m.deliverAll();
    expect(got).toEqual([{ sender: hex(a.publicKey), data: hex(payload) }]);
    expect(relay.stats.routed).toBeGreaterThan(0);
  });

  it("go directly once the friend's address is known; unknown inner ids are dropped", () => {
    const m = new Mesh();
    m.keepLog = true;
    const a = m.add();
    const b = m.add();
    m.bootstrap(0, 1);
    a.addFriend(b.publicKey);
    m.run(5_000);
    const got: number[] = [];
    const off = b.onCryptoPacket(CRYPTO_PACKET_DHTPK, (_f, _s, d) => got.push(d.length));
    expect(a.sendCryptoPacket(b.publicKey, CRYPTO_PACKET_DHTPK, randomBytes(7))).toBe(1);
    m.deliverAll();
    expect(got).toEqual([7]);
    off();
    a.sendCryptoPacket(b.publicKey, CRYPTO_PACKET_DHTPK, randomBytes(7));
    m.deliverAll();
    expect(got).toEqual([7]);
    const last = m.log.at(-1)!;
    expect(unwrap(decryptCryptoRequest(last.data, b.keyPair)).id).toBe(CRYPTO_PACKET_DHTPK);
    expect(() => b.onCryptoPacket(CRYPTO_PACKET_NAT_PING, () => {})).toThrow(RangeError);
  });
});

describe("NAT ping and hole punching", () => {
  /**
   * Node 0 (a) and the friend f (node 9) both sit behind NATs; 8 public nodes in between.
   * f's NAT is symmetric: each destination gets its own external port (40000, 40003, ...) and
   * only that destination may answer on it. a's NAT lets in packets from f only on ports a has
   * itself sent to. Neither can reach the other by plain DHT traffic.
   */
  function natScenario(holePunching: boolean) {
    const m = new Mesh();
    m.keepLog = true;
    const a = m.add("198.18.0.1", 33445, { holePunching });
    for (let i = 0; i < 8; i++) m.add();
    const fIndex = 9;
    const fIp = "203.0.113.7";
    const f = m.add(fIp, 5000, { holePunching });
    const mapping = new Map<string, number>();
    let nextPort = 40000;
    m.mapSource = (node, to) => {
      if (node !== fIndex) return m.addrs[node]!;
      const key = ipPortKey(to);
      if (!mapping.has(key)) {
        mapping.set(key, nextPort);
        m.alias(ipPort(fIp, nextPort), fIndex);
        nextPort += 3;
      }
      return ipPort(fIp, mapping.get(key)!);
    };
    const aAddr = ipPortKey(m.addrs[0]!);
    const aSentTo = new Set<number>();
    m.filter = (p) => {
      if (ipPortKey(p.from) === aAddr && p.to.ip === fIp) aSentTo.add(p.to.port);
      if (p.to.ip === fIp) return mapping.get(ipPortKey(p.from)) === p.to.port;
      if (ipPortKey(p.to) === aAddr && p.from.ip === fIp) return aSentTo.has(p.from.port);
      return true;
    };
    for (let i = 1; i <= 9; i++) m.bootstrap(i, 1);
    m.bootstrap(0, 1);
    m.run(20_000);
    a.addFriend(f.publicKey);
    f.addFriend(a.publicKey);
    let reported: IpPort[] = [];
    let directAt = -1;
    for (let t = 0; t < 60 && directAt < 0; t++) {
      m.run(1_000);
      if (reported.length === 0) reported = a.friendReportedAddresses(f.publicKey);
      if (a.getFriendAddress(f.publicKey) !== undefined) directAt = t;
    }
    const natPings = m.log.filter((p) => {
      if (ipPortKey(p.from) !== aAddr || p.data[0] !== 0x20) return false;
      const h = unwrap(splitCryptoRequest(p.data));
      return hex(h.receiverPk) === hex(f.publicKey) && p.data.length === 89 + 1 + 9 + 16;
    });
    const pingsToF = m.log.filter(
      (p) => ipPortKey(p.from) === aAddr && p.data[0] === 0x00 && p.to.ip === fIp,
    );
    return { a, f, reported, directAt, natPings, pingsToF, mapping };
  }

  it("cannot connect the two NATed peers without punching", () => {
    const r = natScenario(false);
    expect(r.reported.length).toBeGreaterThanOrEqual(4);
    expect(r.directAt).toBe(-1);
    // NAT pings still flow (they are how each side learns the other is online).
    expect(r.natPings.length).toBeGreaterThan(0);
  });

  it("punches through: NAT ping round trip, then pings to ports guessed around the reported ones", () => {
    const r = natScenario(true);
    // Several nodes report f at one IP with different ports (a port-per-destination NAT).
    expect(r.reported.length).toBeGreaterThanOrEqual(4);
    expect(new Set(r.reported.map((x) => x.ip)).size).toBe(1);
    expect(new Set(r.reported.map((x) => x.port)).size).toBeGreaterThan(1);
    expect(r.natPings.length).toBeGreaterThan(0);
    const reportedPorts = new Set(r.reported.map((x) => x.port));
    expect(r.pingsToF.some((p) => !reportedPorts.has(p.to.port))).toBe(true);
    expect(r.directAt).toBeGreaterThanOrEqual(0);
    expect(r.a.getFriendAddress(r.f.publicKey)?.ip).toBe("203.0.113.7");
  });
});

describe("robustness", () => {
  it("a 30-node network still converges at 10% packet loss", () => {
    const m = new Mesh();
    for (let i = 0; i < 30; i++) m.add();
    const rnd = seededRandom(3);
    m.filter = () => rnd() >= 0.1;
    for (let i = 1; i < 30; i++) m.bootstrap(i, 0);
    m.run(60_000);
    for (const d of m.nodes) expect(d.closeNodes().length).toBeGreaterThanOrEqual(8);
    const found: IpPort[] = [];
    m.nodes[2]!.addFriend(m.nodes[29]!.publicKey, (ip) => found.push(ip));
    m.run(30_000);
    expect(found[0]).toEqual(m.addrs[29]);
  });

  it("works over IPv6 addresses too (51-byte packed nodes, separate IPv6 association)", () => {
    const m = new Mesh();
    for (let i = 0; i < 8; i++) m.add(`2001:db8::${i + 1}`, 33445);
    for (let i = 1; i < 8; i++) m.bootstrap(i, 0);
    m.run(20_000);
    for (const d of m.nodes) {
      const list = d.closeNodes();
      expect(list.length).toBeGreaterThanOrEqual(4);
      for (const n of list) expect(n.ipPort.family).toBe(6);
    }
    expect(m.nodes[3]!.getCloseNodes(randomBytes(32), false).length).toBe(4);
  });

  it("list invariants hold under random churn: no self, no duplicates, at most 8 per bucket", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant("bootstrap" as const), i: fc.nat(11), j: fc.nat(11) }),
            fc.record({ op: fc.constant("run" as const), ms: fc.integer({ min: 1_000, max: 150_000 }) }),
            fc.record({ op: fc.constant("silence" as const), i: fc.nat(11) }),
            fc.record({ op: fc.constant("friend" as const), i: fc.nat(11), j: fc.nat(11) }),
          ),
          { maxLength: 12 },
        ),
        (ops) => {
          const m = new Mesh();
          for (let i = 0; i < 12; i++) m.add();
          const silent = new Set<string>();
          m.filter = (p) => !silent.has(ipPortKey(p.from)) && !silent.has(ipPortKey(p.to));
          for (const o of ops) {
            if (o.op === "bootstrap" && o.i !== o.j) m.bootstrap(o.i, o.j);
            else if (o.op === "run") m.run(o.ms, 5_000);
            else if (o.op === "silence") silent.add(ipPortKey(m.addrs[o.i]!));
            else if (o.op === "friend" && o.i !== o.j) m.nodes[o.i]!.addFriend(m.nodes[o.j]!.publicKey);
          }
          for (const d of m.nodes) {
            const keys = d.closeNodes().map((n) => hex(n.publicKey));
            expect(new Set(keys).size).toBe(keys.length);
            expect(keys).not.toContain(hex(d.publicKey));
            const perBucket = new Map<number, number>();
            for (const n of d.closeNodes()) {
              const b = Math.min(commonPrefixBits(n.publicKey, d.publicKey), LCLIENT_LENGTH - 1);
              perBucket.set(b, (perBucket.get(b) ?? 0) + 1);
            }
            for (const c of perBucket.values()) expect(c).toBeLessThanOrEqual(8);
            for (const n of d.randomGoodNodes(20)) expect(hex(n.publicKey)).not.toBe(hex(d.publicKey));
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it("mutated valid packets (byte flips, truncation) never throw and never corrupt the lists", () => {
    const m = new Mesh();
    m.keepLog = true;
    for (let i = 0; i < 6; i++) m.add();
    for (let i = 1; i < 6; i++) m.bootstrap(i, 0);
    m.run(10_000);
    const samples = m.log.filter((p) => p.data[0] !== undefined).map((p) => p);
    const target = m.nodes[0]!;
    const before = target.closeNodes().length;
    fc.assert(
      fc.property(
        fc.nat(samples.length - 1),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 4 }),
        fc.option(fc.nat(), { nil: undefined }),
        (idx, flips, cut) => {
          const s = samples[idx]!;
          const d = Uint8Array.from(s.data);
          for (const [pos, x] of flips) d[pos % d.length] = d[pos % d.length]! ^ x;
          const data = cut === undefined ? d : d.subarray(0, cut % (d.length + 1));
          target.handlePacket(s.from, data);
        },
      ),
      { numRuns: 20_000 },
    );
    m.deliverAll();
    expect(target.closeNodes().length).toBeGreaterThanOrEqual(before);
    for (const n of target.closeNodes())
      expect(m.nodes.some((x) => hex(x.publicKey) === hex(n.publicKey))).toBe(true);
  });

  it("survives 20k random packets with DHT ids and stays functional", () => {
    const m = new Mesh();
    const a = m.add();
    m.add();
    const ids = [0x00, 0x01, 0x02, 0x04, 0x20, 0x21, 0xf0];
    const from = ipPort("127.0.0.5", 1234);
    fc.assert(
      fc.property(fc.constantFrom(...ids), fc.uint8Array({ maxLength: 400 }), (id, body) => {
        expect(a.handlePacket(from, Uint8Array.of(id, ...body))).toBe(true);
      }),
      { numRuns: 20_000 },
    );
    expect(a.handlePacket(from, Uint8Array.of(0x18))).toBe(false);
    expect(a.handlePacket(from, new Uint8Array(0))).toBe(false);
    m.bootstrap(0, 1);
    m.run(5_000);
    expect(a.closeNodes().length).toBe(1);
  });
});

describe("bootstrap info 0xF0", () => {
  it("is answered only when configured, with version u32 BE and the MOTD", () => {
    const m = new Mesh();
    const a = m.add("198.18.0.1", 33445, { bootstrapInfo: { version: 1000001, motd: "toxbridge" } });
    const b = m.add();
    const got: Uint8Array[] = [];
    m.extra.set("198.19.9.9:1", (_f, d) => got.push(d));
    a.handlePacket(ipPort("198.19.9.9", 1), serializeBootstrapInfoRequest());
    b.handlePacket(ipPort("198.19.9.9", 1), serializeBootstrapInfoRequest());
    a.handlePacket(ipPort("198.19.9.9", 1), serializeBootstrapInfoRequest().subarray(0, 77));
    m.deliverAll();
    expect(got.length).toBe(1);
    const info = unwrap(parseBootstrapInfo(got[0]!));
    expect(info.version).toBe(1000001);
    expect(motdText(info.motd)).toBe("toxbridge");
  });
});
