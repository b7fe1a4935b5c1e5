/**
 * Our DHT against real c-toxcore 0.2.18: tox-bootstrapd daemons and a libtoxcore client (koffi).
 * Ports 34200-34399 (this helper's range).
 */
import dgram from "node:dgram";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toHex } from "../../../src/tox/bytes.js";
import { newKeyPair, precompute, randomBytes } from "../../../src/tox/crypto.js";
import {
  CRYPTO_PACKET_DHTPK,
  createCryptoRequest,
  motdText,
  parseBootstrapInfo,
  parseNodesResponse,
  serializeBootstrapInfoRequest,
  serializeNodesRequest,
} from "../../../src/tox/wire/dht.js";
import { ipPort, type NodeInfo } from "../../../src/tox/wire/ipport.js";
import { waitUntil } from "../../helpers/wait.js";
import { type Bootstrapd, startBootstrapNetwork } from "../../interop/bootstrapd.js";
import { befriend, CToxPeer } from "../../interop/ctoxcore.js";
import { startUdpDht, type UdpDht } from "./udp-dht.js";

/** One UDP request/response exchange from a throwaway socket. */
function exchange(
  port: number,
  data: Uint8Array,
  accept: (d: Uint8Array) => boolean,
  ms = 2000,
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket("udp4");
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error(`no answer from 127.0.0.1:${port} in ${ms} ms`));
    }, ms);
    sock.on("message", (msg) => {
      const d = new Uint8Array(msg);
      if (!accept(d)) return;
      clearTimeout(timer);
      sock.close();
      resolve(d);
    });
    sock.send(data, port, "127.0.0.1");
  });
}

/** Asks a DHT node (any implementation) for the nodes it knows closest to `searched`. */
async function askNodes(port: number, nodePk: Uint8Array, searched: Uint8Array): Promise<NodeInfo[]> {
  const me = newKeyPair();
  const shared = precompute(nodePk, me.secretKey);
  const req = serializeNodesRequest({ searchedPk: searched, pingId: randomBytes(8) }, me.publicKey, shared);
  const resp = await exchange(port, req, (d) => d[0] === 0x04);
  const parsed = parseNodesResponse(resp, shared);
  if (!parsed.ok) throw parsed.error;
  return parsed.value.nodes;
}

describe("DHT interop with c-toxcore 0.2.18", () => {
  let daemons: Bootstrapd[] = [];
  let ours: UdpDht;

  beforeAll(async () => {
    daemons = await startBootstrapNetwork(3, 34300);
    ours = await startUdpDht(34200, { bootstrapInfo: { version: 2018, motd: "toxbridge dht" } });
  }, 30_000);

  afterAll(async () => {
    await ours?.stop();
    await Promise.all(daemons.map((d) => d.stop()));
  });

  it("(a) bootstraps from tox-bootstrapd, fills its close list, and the daemons keep it", async () => {
    const first = daemons[0]!;
    ours.dht.bootstrap({ ipPort: ipPort("127.0.0.1", first.port), publicKey: first.publicKey });
    const took = await waitUntil(
      () => ours.dht.closeNodes().length >= 3,
      10_000,
      "3 daemons in our close list",
    );
    const listed = new Set(ours.dht.closeNodes().map((n) => toHex(n.publicKey)));
    for (const d of daemons) expect(listed.has(d.publicKeyHex)).toBe(true);
    console.log(`close list filled with the 3 daemons in ${took} ms`);
    // Good citizen: the daemons ping us back and list us; each returns us when asked for our key.
    await waitUntil(() => ours.dht.stats.pingsAnswered >= daemons.length, 10_000, "pings from every daemon");
    for (const d of daemons) {
      const nodes = await askNodes(d.port, d.publicKey, ours.dht.publicKey);
      expect(nodes.map((n) => toHex(n.publicKey))).toContain(toHex(ours.dht.publicKey));
    }
    expect(ours.dht.stats.malformed).toBe(0);
  }, 30_000);

  it("(c) answers 0xF0 bootstrap info like tox-bootstrapd does", async () => {
    const theirs = parseBootstrapInfo(
      await exchange(daemons[0]!.port, serializeBootstrapInfoRequest(), (d) => d[0] === 0xf0),
    );
    const mine = parseBootstrapInfo(
      await exchange(34200, serializeBootstrapInfoRequest(), (d) => d[0] === 0xf0),
    );
    expect(theirs.ok && mine.ok).toBe(true);
    if (!theirs.ok || !mine.ok) return;
    expect(motdText(theirs.value.motd)).toBe("toxbridge-test");
    // Same shape: the daemon's MOTD carries a trailing NUL, so does ours.
    expect(theirs.value.motd.at(-1)).toBe(0);
    expect(mine.value.motd.at(-1)).toBe(0);
    expect(mine.value.version).toBe(2018);
    expect(motdText(mine.value.motd)).toBe("toxbridge dht");
    console.log(`tox-bootstrapd reports version ${theirs.value.version}`);
  }, 10_000);

  it("(b) a c-toxcore client bootstrapping only from us gets connected and keeps us", async () => {
    const peer = await CToxPeer.create({ startPort: 34210, endPort: 34219, label: "ctox-dht" });
    try {
      peer.bootstrap("127.0.0.1", 34200, ours.dht.publicKey);
      // On loopback c-toxcore reports "tcp": its UDP flag means "a non-LAN DHT node is good".
      const took = await waitUntil(
        () => peer.selfConnectionStatus() !== "none",
        25_000,
        "c-toxcore connected",
      );
      console.log(`c-toxcore connection status ${peer.selfConnectionStatus()} after ${took} ms`);
      // It stays connected, and it lists us: asked for nodes near our key, it returns us.
      const t0 = Date.now();
      while (Date.now() - t0 < 3_000) {
        expect(peer.selfConnectionStatus()).not.toBe("none");
        await new Promise((r) => setTimeout(r, 250));
      }
      const nodes = await askNodes(peer.udpPort, peer.dhtId, ours.dht.publicKey);
      expect(nodes.map((n) => toHex(n.publicKey))).toContain(toHex(ours.dht.publicKey));
      // And we list it (it pinged us / answered our requests).
      expect(ours.dht.closeNodes().map((n) => toHex(n.publicKey))).toContain(toHex(peer.dhtId));
      expect(ours.dht.stats.malformed).toBe(0);
    } finally {
      peer.kill();
    }
  }, 40_000);

  it("(d) tox-bootstrapd forwards a 0x20 crypto request to our node, which it keeps in its close list", async () => {
    const second = await startUdpDht(34201);
    try {
      const d = daemons[1]!;
      second.dht.bootstrap({ ipPort: ipPort("127.0.0.1", d.port), publicKey: d.publicKey });
      // The daemon adds us after its to-ping round (every 2 s) and our pong.
      await waitUntil(() => second.dht.stats.pingsAnswered >= 1, 10_000, "the daemon pinging us");
      await new Promise((r) => setTimeout(r, 500));
      const got: string[] = [];
      second.dht.onCryptoPacket(CRYPTO_PACKET_DHTPK, (_from, sender, data) =>
        got.push(`${toHex(sender)}:${toHex(data)}`),
      );
      const sender = newKeyPair();
      const payload = randomBytes(64);
      const pkt = createCryptoRequest(second.dht.publicKey, sender, {
        id: CRYPTO_PACKET_DHTPK,
        data: payload,
      });
      const sock = dgram.createSocket("udp4");
      sock.send(pkt, d.port, "127.0.0.1");
      await waitUntil(() => got.length > 0, 3_000, "the routed packet").finally(() => sock.close());
      expect(got).toEqual([`${toHex(sender.publicKey)}:${toHex(payload)}`]);
    } finally {
      await second.stop();
    }
  }, 20_000);

  // Opt-in (DHT_SOAK=1): usually ~10 s, but our bare DHT test node drops onion packets and
  // c-toxcore builds onion paths through any DHT node it knows, so (most likely for that reason)
  // the clients now and then need several path timeouts before connecting (seen: 2 of 8 runs
  // over 40 s). A ToxNode identity relays onion packets: this is about the test node, not the DHT.
  it.runIf(process.env.DHT_SOAK === "1")(
    "(e) two c-toxcore clients bootstrapping only from us befriend each other and connect",
    async () => {
      const x = await CToxPeer.create({ startPort: 34230, endPort: 34239, label: "ctox-x" });
      const y = await CToxPeer.create({ startPort: 34240, endPort: 34249, label: "ctox-y" });
      try {
        for (const p of [x, y]) p.bootstrap("127.0.0.1", 34200, ours.dht.publicKey);
        const t0 = Date.now();
        const { aFriend } = await befriend(x, y, { timeoutMs: 90_000 });
        console.log(
          `friends connected (${x.friendConnectionStatus(aFriend)}) after ${Date.now() - t0} ms; ` +
            `our node answered ${ours.dht.stats.nodesRequestsAnswered} nodes requests, routed ${ours.dht.stats.routed} packets`,
        );
        expect(ours.dht.closeNodes().map((n) => toHex(n.publicKey))).toEqual(
          expect.arrayContaining([toHex(x.dhtId), toHex(y.dhtId)]),
        );
      } finally {
        x.kill();
        y.kill();
      }
    },
    100_000,
  );

  // Opt-in (DHT_SOAK=1, ~150 s): past c-toxcore's 60 s ping interval and 122 s bad-node timeout,
  // the daemons and a client still list us, i.e. we answer their liveness requests correctly.
  it.runIf(process.env.DHT_SOAK === "1")(
    "soak: c-toxcore still lists us after the bad-node timeout",
    async () => {
      const peer = await CToxPeer.create({ startPort: 34220, endPort: 34229, label: "ctox-soak" });
      try {
        peer.bootstrap("127.0.0.1", 34200, ours.dht.publicKey);
        await waitUntil(() => peer.selfConnectionStatus() !== "none", 25_000, "c-toxcore connected");
        const t0 = Date.now();
        while (Date.now() - t0 < 140_000) {
          expect(peer.selfConnectionStatus()).not.toBe("none");
          await new Promise((r) => setTimeout(r, 1000));
        }
        for (const [port, pk] of [
          [peer.udpPort, peer.dhtId],
          ...daemons.map((d) => [d.port, d.publicKey] as const),
        ] as const) {
          const nodes = await askNodes(port, pk, ours.dht.publicKey);
          expect(nodes.map((n) => toHex(n.publicKey))).toContain(toHex(ours.dht.publicKey));
        }
        expect(ours.dht.closeNodes().length).toBeGreaterThanOrEqual(4);
        expect(ours.dht.stats.malformed).toBe(0);
      } finally {
        peer.kill();
      }
    },
    200_000,
  );
});
