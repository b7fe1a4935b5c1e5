/**
 * Shared paths after a loss of every announcement (an outage, an overloaded network): clients
 * announced before keep re-announcing to their nodes, but only admitted ones look for new nodes,
 * so thousands of identities do not all start asking 6 random nodes a second at once.
 */
import { describe, expect, it } from "vitest";
import { newKeyPair } from "../../../src/tox/crypto.js";
import { OnionClient } from "../../../src/tox/onion/client.js";
import { SharedOnionPaths } from "../../../src/tox/onion/shared-paths.js";
import { ipPort } from "../../../src/tox/wire/ipport.js";
import { OnionTestNetwork } from "./network.js";

describe("shared-path clients that lost their announcements", () => {
  it("look for new nodes only when admitted, and all come back", () => {
    const net = new OnionTestNetwork(16);
    const paths = new SharedOnionPaths(net.clock, net.dhtView(newKeyPair()), { startsPerSecond: 1 });
    let sent = 0;
    const clients = Array.from({ length: 30 }, (_, i) => {
      const at = ipPort("127.0.0.1", 36100 + i);
      const sink = net.net.sinkFor(at);
      const client = new OnionClient({
        clock: net.clock,
        realKeys: newKeyPair(),
        dht: net.dhtView(newKeyPair()),
        sink: {
          send: (to, data) => {
            sent++;
            sink.send(to, data);
          },
        },
        sharedPaths: paths,
      });
      net.net.listen(at, (from, data) => client.handlePacket(from, data));
      return client;
    });
    expect(net.runUntil(clients, () => clients.every((c) => c.isConnected()), 120)).toBeGreaterThan(0);
    // An outage long enough for every node to time out and every client to count as offline.
    net.net.filter = () => true;
    net.runUntil(clients, () => false, 100);
    expect(clients.some((c) => c.isConnected())).toBe(false);
    net.net.filter = null;
    // First 10 s back: at most 4 clients admitted (1/s, 4x that at once) ask 6 random nodes a
    // second each, plus a re-announce now and then; without admission all 30 did (~1,050 sent).
    sent = 0;
    net.runUntil(clients, () => false, 10);
    expect(sent).toBeLessThan(500);
    expect(net.runUntil(clients, () => clients.every((c) => c.isConnected()), 180)).toBeGreaterThanOrEqual(0);
  });
});
