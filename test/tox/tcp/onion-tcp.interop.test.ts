/**
 * Onion over TCP against c-toxcore 0.2.18: our TCP client sends an announce request through
 * tox-bootstrapd's relay (hop A) and two more daemons (hops B, C) to an announce node, and the
 * answer comes back as a TCP onion response. Ports 34640-34645.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  decryptSymmetric,
  newKeyPair,
  precompute,
  randomBytes,
  randomNonce,
} from "../../../src/tox/crypto.js";
import { unwrap } from "../../../src/tox/errors.js";
import { createPathKeys } from "../../../src/tox/onion/paths.js";
import { createTcpOnionRequest } from "../../../src/tox/tcp/onion-tcp.js";
import { openTcpRelaySocket, type TcpRelaySocket } from "../../../src/tox/tcp/socket.js";
import { ipPort, type NodeInfo } from "../../../src/tox/wire/ipport.js";
import {
  createAnnounceRequest,
  decodeAnnounceResponsePlain,
  parseAnnounceResponse,
} from "../../../src/tox/wire/onion.js";
import { type Bootstrapd, startBootstrapNetwork } from "../../interop/bootstrapd.js";
import { waitUntil } from "../../interop/ctoxcore.js";

describe("onion requests through a TCP relay (tox-bootstrapd 0.2.18)", () => {
  let nodes: Bootstrapd[] = [];
  let sock: TcpRelaySocket | undefined;
  beforeAll(async () => {
    nodes = await startBootstrapNetwork(3, 34640);
  });
  afterAll(async () => {
    sock?.close();
    await Promise.all(nodes.map((n) => n.stop()));
  });

  it("announce request out via the relay, announce response back as a TCP onion response", async () => {
    const [a, b, c] = nodes as [Bootstrapd, Bootstrapd, Bootstrapd];
    const dhtKeys = newKeyPair();
    const responses: Uint8Array[] = [];
    sock = openTcpRelaySocket({
      relay: { host: "127.0.0.1", port: a.tcpPort, publicKey: a.publicKey },
      keys: dhtKeys,
      events: { onOnionResponse: (d) => responses.push(d) },
    });
    const s = sock;
    await waitUntil(() => s.client.status === "confirmed", 3000, "relay handshake");

    const node = (d: Bootstrapd, protocol: "udp" | "tcp"): NodeInfo => ({
      protocol,
      ipPort: ipPort("127.0.0.1", protocol === "udp" ? d.port : d.tcpPort),
      publicKey: d.publicKey,
    });
    const path = createPathKeys([node(a, "tcp"), node(b, "udp"), node(c, "udp")], dhtKeys);
    // Announce ourselves (0x83, what 0.2.18 expects) at node B.
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
    const req = createTcpOnionRequest(path, { protocol: "udp", ipPort: node(b, "udp").ipPort }, announce);
    // Daemons may need a moment before their onion handlers answer; resend a few times.
    for (let i = 0; i < 20 && responses.length === 0; i++) {
      expect(s.client.sendOnionRequest(req.nonce, req.payload)).toBe(true);
      await new Promise((r) => setTimeout(r, 150));
    }
    await waitUntil(() => responses.length > 0, 2000, "onion response over TCP");
    const res = unwrap(parseAnnounceResponse(responses[0]!));
    expect(res.format).toBe("old");
    expect([...res.sendback]).toEqual([...sendback]);
    const plain = decryptSymmetric(shared, res.nonce, res.encrypted);
    expect(plain).not.toBeNull();
    const body = unwrap(decodeAnnounceResponsePlain("old", plain!));
    // First contact with a zero ping id: not stored yet, here is the ping id to use.
    expect(body.status).toBe(0);
    expect(body.pingIdOrKey.some((x) => x !== 0)).toBe(true);
  }, 20_000);
});
