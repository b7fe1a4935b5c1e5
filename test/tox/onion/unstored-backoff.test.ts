import { describe, expect, it } from "vitest";
import { OnionAnnounceServer } from "../../../src/tox/onion/announce-server.js";
import { compareDistance } from "../../../src/tox/onion/distance.js";
import { ipPortEqual } from "../../../src/tox/wire/ipport.js";
import { OnionTestNetwork, type ServerNode } from "./network.js";

const ANNOUNCE_REQUEST_OLD = 0x83;

/** Turns `s` into a node that answers announces but stores nobody (as a full c-toxcore node). */
function refuseAll(net: OnionTestNetwork, s: ServerNode): void {
  const announce = new OnionAnnounceServer({
    clock: net.clock,
    dht: net.dhtView(s.keys),
    sink: net.net.sinkFor(s.ipPort),
    maxEntries: 0,
  });
  s.announce = announce;
  net.net.listen(s.ipPort, (from, data) => {
    if (!s.relay.handlePacket(from, data)) announce.handlePacket(from, data);
  });
}

describe("announce nodes that refuse to store us", () => {
  it("are asked every 3 s while new, then at the 2-minute interval once we are announced elsewhere", () => {
    const net = new OnionTestNetwork(24);
    const a = net.addClient();
    const full = [...net.servers]
      .sort((x, y) => compareDistance(a.realKeys.publicKey, x.keys.publicKey, y.keys.publicKey))
      .slice(0, 2);
    for (const s of full) refuseAll(net, s);
    let asked = 0;
    net.net.filter = (_from, to, data) => {
      if (data[0] === ANNOUNCE_REQUEST_OLD && full.some((s) => ipPortEqual(s.ipPort, to))) asked++;
      return false;
    };
    expect(net.runUntil([a.client], () => a.client.isConnected(), 60)).toBeGreaterThan(0);
    // Both refusing nodes are the closest: they stay in the list, answered but never storing.
    net.runUntil([a.client], () => false, 60);
    const st = a.client.status();
    expect(st.announceNodes).toBe(12);
    expect(st.storedOn).toBe(10);
    // Over the next 4 minutes: at most every 2 minutes each (c-toxcore's 3 s would be 160).
    asked = 0;
    net.runUntil([a.client], () => false, 240);
    expect(asked).toBeGreaterThanOrEqual(2);
    expect(asked).toBeLessThanOrEqual(6);
    expect(a.client.isConnected()).toBe(true);
  });
});
