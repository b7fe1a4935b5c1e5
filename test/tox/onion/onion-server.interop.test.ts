/**
 * Interop: our onion *server* roles (relay 0x80-0x82/0x8c-0x8e, announce node 0x83/0x84, data
 * forwarding 0x85->0x86) serving c-toxcore 0.2.18 clients.
 *
 * Two c-toxcore peers are bootstrapped only to 4 of our nodes; apart from each other, our nodes
 * are the only DHT they know, so their onion paths and announce nodes are (almost all) ours. A
 * friend request from one to the other, and the DHT-PK exchange that lets them connect, must
 * therefore cross our relays and our announce nodes. Our nodes run a test-only mini DHT (answers
 * pings and nodes requests) until the real DHT is wired.
 */
import dgram from "node:dgram";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { systemClock } from "../../../src/tox/clock.js";
import { newKeyPair } from "../../../src/tox/crypto.js";
import { OnionAnnounceServer } from "../../../src/tox/onion/announce-server.js";
import { OnionRelay } from "../../../src/tox/onion/relay.js";
import { ipPort } from "../../../src/tox/wire/ipport.js";
import { CToxPeer, waitUntil } from "../../interop/ctoxcore.js";
import { MiniDht, NodeRegistry } from "./mini-dht.js";

const OUR_BASE_PORT = 34850; // 34850..34853
const C_PORTS = { startPort: 34860, endPort: 34869 };

interface OurNode {
  socket: dgram.Socket;
  dht: MiniDht;
  relay: OnionRelay;
  announce: OnionAnnounceServer;
  port: number;
}

describe("our onion server roles serve c-toxcore 0.2.18 clients", () => {
  const registry = new NodeRegistry();
  const ours: OurNode[] = [];
  let p: CToxPeer;
  let q: CToxPeer;
  const qRequests: { pk: Uint8Array; message: string }[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 4; i++) {
      const port = OUR_BASE_PORT + i;
      const socket = dgram.createSocket("udp4");
      // A taken port fails the hook at once with EADDRINUSE and the port, not after its timeout.
      await new Promise<void>((resolve, reject) => {
        socket.once("error", reject);
        socket.bind(port, "127.0.0.1", () => {
          socket.off("error", reject);
          resolve();
        });
      });
      const sink = {
        send: (to: { ip: string; port: number }, data: Uint8Array) => socket.send(data, to.port, to.ip),
      };
      const dht = new MiniDht(newKeyPair(), registry, sink);
      const relay = new OnionRelay({ clock: systemClock, dht: dht.view(), sink });
      const announce = new OnionAnnounceServer({ clock: systemClock, dht: dht.view(), sink });
      socket.on("message", (msg, rinfo) => {
        const from = ipPort(rinfo.address, rinfo.port);
        const data = new Uint8Array(msg.buffer, msg.byteOffset, msg.length);
        if (!dht.handlePacket(from, data) && !relay.handlePacket(from, data))
          announce.handlePacket(from, data);
      });
      registry.add({ protocol: "udp", ipPort: ipPort("127.0.0.1", port), publicKey: dht.keyPair.publicKey });
      ours.push({ socket, dht, relay, announce, port });
    }
    p = await CToxPeer.create({ ...C_PORTS, label: "onion-server-p" });
    q = await CToxPeer.create({ ...C_PORTS, label: "onion-server-q" });
    for (const c of [p, q]) for (const o of ours) c.bootstrap("127.0.0.1", o.port, o.dht.keyPair.publicKey);
    q.on("friendRequest", (pk, message) => qRequests.push({ pk, message }));
  }, 30_000);

  afterAll(() => {
    p?.kill();
    q?.kill();
    for (const o of ours) o.socket.close();
  });

  it("c-toxcore peers come online through our nodes and announce on them", async () => {
    const t0 = Date.now();
    // On loopback c-toxcore reports "tcp" even over UDP (all DHT nodes are LAN): any status will do.
    await waitUntil(
      () => p.selfConnectionStatus() !== "none" && q.selfConnectionStatus() !== "none",
      30_000,
      "C peers online",
    );
    await waitUntil(
      () =>
        ours.some((o) => o.announce.isAnnounced(p.publicKey)) &&
        ours.some((o) => o.announce.isAnnounced(q.publicKey)),
      30_000,
      "C peers announced on our nodes",
    );
    const storing = (pk: Uint8Array) => ours.filter((o) => o.announce.isAnnounced(pk)).length;
    console.log(
      `onion server interop: C peers online and announced after ${Date.now() - t0} ms; ` +
        `stored on ${storing(p.publicKey)}/4 and ${storing(q.publicKey)}/4 of our nodes; ` +
        `relayed ${ours.reduce((s, o) => s + o.relay.stats.forwarded, 0)} requests`,
    );
    expect(ours.reduce((s, o) => s + o.relay.stats.forwarded, 0)).toBeGreaterThan(0);
    expect(ours.reduce((s, o) => s + o.relay.stats.returned, 0)).toBeGreaterThan(0);
  }, 70_000);

  it("a friend request between them crosses our onion, and they connect after the DHT-PK exchange", async () => {
    const t0 = Date.now();
    const dataBefore = ours.reduce((s, o) => s + o.announce.stats.dataForwarded, 0);
    p.friendAdd(q.address, "through toxbridge onion nodes");
    await waitUntil(() => qRequests.length > 0, 40_000, "Q got P's friend request");
    console.log(`onion server interop: request delivered after ${Date.now() - t0} ms`);
    expect(qRequests[0]!.message).toBe("through toxbridge onion nodes");
    expect(ours.reduce((s, o) => s + o.announce.stats.dataForwarded, 0)).toBeGreaterThan(dataBefore);

    const qFriend = q.friendAddNoRequest(p.publicKey);
    await waitUntil(() => q.friendConnectionStatus(qFriend) !== "none", 40_000, "P and Q connected");
    console.log(`onion server interop: friends connected after ${Date.now() - t0} ms`);
    const dropped = ours.reduce((s, o) => s + o.relay.stats.dropped + o.announce.stats.dropped, 0);
    console.log(`onion server interop: our nodes dropped ${dropped} packets`);
  }, 90_000);
});
