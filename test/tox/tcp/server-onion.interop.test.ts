/**
 * Our TCP relay server as the first onion hop for TCP clients (its onOnionRequest hook wired to
 * our OnionRelay.handleTcpRequest), with two tox-bootstrapd 0.2.18 daemons as hops B and C and
 * one of them as the announce node: the announce response must travel back B -> our onion relay
 * (UDP, R1 naming the TCP client) -> our relay server -> our client as a TCP onion response.
 * Ports: daemons 34650-34655, our relay 34656 (TCP) and 34657 (UDP).
 */
import dgram from "node:dgram";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { systemClock } from "../../../src/tox/clock.js";
import {
  decryptSymmetric,
  newKeyPair,
  precompute,
  randomBytes,
  randomNonce,
} from "../../../src/tox/crypto.js";
import { unwrap } from "../../../src/tox/errors.js";
import { createPathKeys } from "../../../src/tox/onion/paths.js";
import { OnionRelay } from "../../../src/tox/onion/relay.js";
import { createTcpOnionRequest } from "../../../src/tox/tcp/onion-tcp.js";
import { TcpRelayServer } from "../../../src/tox/tcp/server.js";
import { listenTcpRelay, openTcpRelaySocket, type TcpRelaySocket } from "../../../src/tox/tcp/socket.js";
import { ipPort, type NodeInfo } from "../../../src/tox/wire/ipport.js";
import {
  createAnnounceRequest,
  decodeAnnounceResponsePlain,
  parseAnnounceResponse,
} from "../../../src/tox/wire/onion.js";
import { type Bootstrapd, startBootstrapNetwork } from "../../interop/bootstrapd.js";
import { waitUntil } from "../../interop/ctoxcore.js";

describe("our TCP relay server as onion hop A (with c-toxcore hops B and C)", () => {
  let nodes: Bootstrapd[] = [];
  const cleanups: Array<() => unknown> = [];
  beforeAll(async () => {
    nodes = await startBootstrapNetwork(3, 34650);
  });
  afterAll(async () => {
    for (const f of cleanups.reverse()) await f();
    await Promise.all(nodes.map((n) => n.stop()));
  });

  it("forwards a TCP client's announce request and returns the response over TCP", async () => {
    const [, b, c] = nodes as [Bootstrapd, Bootstrapd, Bootstrapd];
    const relayKeys = newKeyPair();
    const udp = dgram.createSocket("udp4");
    await new Promise<void>((r) => udp.bind(34657, "127.0.0.1", () => r()));
    cleanups.push(() => new Promise<void>((r) => udp.close(() => r())));
    const onion = new OnionRelay({
      clock: systemClock,
      dht: { dhtKeys: () => relayKeys },
      sink: { send: (to, data) => udp.send(data, to.port, to.ip) },
    });
    udp.on("message", (msg, rinfo) =>
      onion.handlePacket(
        ipPort(rinfo.address, rinfo.port),
        new Uint8Array(msg.buffer, msg.byteOffset, msg.length),
      ),
    );
    const server = new TcpRelayServer({
      clock: systemClock,
      keys: relayKeys,
      onOnionRequest: (pk, nonce, payload, reply) => onion.handleTcpRequest(pk, nonce, payload, reply),
    });
    const listening = await listenTcpRelay(server, { port: 34656 });
    cleanups.push(() => listening.close());

    const dhtKeys = newKeyPair();
    const responses: Uint8Array[] = [];
    const sock: TcpRelaySocket = openTcpRelaySocket({
      relay: { host: "127.0.0.1", port: listening.port, publicKey: relayKeys.publicKey },
      keys: dhtKeys,
      events: { onOnionResponse: (d) => responses.push(d) },
    });
    cleanups.push(() => sock.close());
    await waitUntil(() => sock.client.status === "confirmed", 3000, "relay handshake");

    const udpNode = (d: Bootstrapd): NodeInfo => ({
      protocol: "udp",
      ipPort: ipPort("127.0.0.1", d.port),
      publicKey: d.publicKey,
    });
    const first: NodeInfo = {
      protocol: "tcp",
      ipPort: ipPort("127.0.0.1", listening.port),
      publicKey: relayKeys.publicKey,
    };
    const path = createPathKeys([first, udpNode(b), udpNode(c)], dhtKeys);
    const realKeys = newKeyPair();
    const shared = precompute(b.publicKey, realKeys.secretKey);
    const sendback = randomBytes(8);
    const announce = createAnnounceRequest("old", shared, realKeys.publicKey, randomNonce(), {
      pingId: new Uint8Array(32),
      searchedPk: realKeys.publicKey,
      dataPk: newKeyPair().publicKey,
      sendback,
      extra: new Uint8Array(0),
    });
    const req = createTcpOnionRequest(path, { protocol: "udp", ipPort: udpNode(b).ipPort }, announce);
    for (let i = 0; i < 20 && responses.length === 0; i++) {
      sock.client.sendOnionRequest(req.nonce, req.payload);
      await new Promise((r) => setTimeout(r, 150));
    }
    await waitUntil(() => responses.length > 0, 2000, "onion response over TCP");
    const res = unwrap(parseAnnounceResponse(responses[0]!));
    expect([...res.sendback]).toEqual([...sendback]);
    const plain = decryptSymmetric(shared, res.nonce, res.encrypted);
    expect(plain).not.toBeNull();
    expect(unwrap(decodeAnnounceResponsePlain("old", plain!)).status).toBe(0);
    expect(onion.stats.forwarded).toBeGreaterThan(0);
  }, 20_000);
});
