/**
 * Our TCP relay client against c-toxcore 0.2.18's relay (tox-bootstrapd): handshake, ping/pong,
 * routing between two of our clients, routed data and OOB. Ports 34600-34619.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bytesEqual } from "../../../src/tox/bytes.js";
import { newKeyPair, randomBytes } from "../../../src/tox/crypto.js";
import { openTcpRelaySocket, type TcpRelaySocket } from "../../../src/tox/tcp/socket.js";
import { waitUntil } from "../../helpers/wait.js";
import { type Bootstrapd, startBootstrapd } from "../../interop/bootstrapd.js";

describe("TCP relay client vs tox-bootstrapd 0.2.18", () => {
  let bsd: Bootstrapd;
  const open: TcpRelaySocket[] = [];
  beforeAll(async () => {
    bsd = await startBootstrapd({ port: 34600, tcpPort: 34601 });
  });
  afterAll(async () => {
    for (const s of open) s.close();
    await bsd?.stop();
  });

  it("handshakes, gets pongs, routes two clients to each other, carries data and OOB", async () => {
    const relay = { host: "127.0.0.1", port: bsd.tcpPort, publicKey: bsd.publicKey };
    const ka = newKeyPair();
    const kb = newKeyPair();
    const got: { a: Uint8Array[]; b: Uint8Array[]; oob: Uint8Array[] } = { a: [], b: [], oob: [] };
    const a = openTcpRelaySocket({
      relay,
      keys: ka,
      events: { onData: (_pk, _id, d) => got.a.push(d), onOob: (_pk, d) => got.oob.push(d) },
    });
    const b = openTcpRelaySocket({ relay, keys: kb, events: { onData: (_pk, _id, d) => got.b.push(d) } });
    open.push(a, b);
    await waitUntil(
      () => a.client.status === "confirmed" && b.client.status === "confirmed",
      3000,
      "handshakes",
    );

    // The first ping goes out right after the handshake; the relay answers it.
    const framesIn = a.client.stats.framesIn;
    await waitUntil(() => a.client.stats.framesIn > framesIn || a.client.nextTickIn() > 15_000, 2000, "pong");
    expect(a.client.nextTickIn()).toBeGreaterThan(15_000); // ping id cleared => next event is the 30 s ping

    // OOB from B to A (A merely connected to the relay).
    b.client.sendOob(ka.publicKey, new Uint8Array([0x18, 42]));
    await waitUntil(() => got.oob.length === 1, 2000, "OOB");
    expect([...got.oob[0]!]).toEqual([0x18, 42]);

    a.client.routingRequest(kb.publicKey);
    await waitUntil(() => a.client.peerStatus(kb.publicKey) === "registered", 2000, "routing response");
    b.client.routingRequest(ka.publicKey);
    await waitUntil(
      () => a.client.peerStatus(kb.publicKey) === "online" && b.client.peerStatus(ka.publicKey) === "online",
      2000,
      "connect notifications",
    );

    // The relay drops routed data it cannot flush at once (non-priority packets in TCP_server.c;
    // ~60% of 200 back-to-back 1 KB frames got through here), so send in paced batches.
    const payloads = Array.from({ length: 200 }, (_, i) => randomBytes(1 + ((i * 37) % 2000)));
    for (let i = 0; i < payloads.length; i += 10) {
      for (const p of payloads.slice(i, i + 10)) expect(a.client.sendData(kb.publicKey, p)).toBe(true);
      await waitUntil(() => got.b.length === Math.min(i + 10, payloads.length), 2000, `routed data ${i}`);
    }
    b.client.sendData(ka.publicKey, new Uint8Array([0x1b, 1, 2, 3]));
    await waitUntil(() => got.a.length === 1, 2000, "routed data back");
    for (const [i, p] of payloads.entries()) expect(bytesEqual(got.b[i]!, p)).toBe(true);

    // B leaves: A is told the peer went offline.
    b.close();
    await waitUntil(
      () => a.client.peerStatus(kb.publicKey) === "registered",
      3000,
      "disconnect notification",
    );
    expect(a.client.status).toBe("confirmed");
  }, 20_000);
});
