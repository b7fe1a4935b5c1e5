/**
 * Shared routing between our own nodes on loopback (no c-toxcore): a small "network" ToxNode in
 * separate routing (its identities are the DHT and announce nodes), and a shared-routing ToxNode
 * whose identities are leaves of one backbone. Friends by Tox ID within the shared node and
 * across to the separate one, over direct UDP; the leaves send no DHT maintenance of their own.
 * Ports 37060-37099.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newKeyPair } from "../../../src/tox/crypto.js";
import { type Identity, ToxNode } from "../../../src/tox/index.js";
import { waitUntil } from "../../interop/ctoxcore.js";
import { type EventLog, recordEvents } from "./record-events.js";

describe("shared routing: identities as leaves of one backbone (ours <-> ours)", () => {
  let net: ToxNode;
  let shared: ToxNode;
  let log: EventLog;
  let netLog: EventLog;
  const hubs: Identity[] = [];
  const leaves: Identity[] = [];

  beforeAll(async () => {
    net = await ToxNode.create({ host: "127.0.0.1", portRange: [37060, 37079] });
    netLog = recordEvents(net);
    for (let i = 0; i < 10; i++) hubs.push(await net.addIdentity({ secretKey: newKeyPair().secretKey }));
    const hub = hubs[0]!;
    for (const x of hubs.slice(1)) await x.bootstrap("127.0.0.1", hub.udpPort, hub.dhtPublicKey);
    await hub.bootstrap("127.0.0.1", hubs[1]!.udpPort, hubs[1]!.dhtPublicKey);
    shared = await ToxNode.create({
      host: "127.0.0.1",
      portRange: [37080, 37099],
      routing: "shared",
      bootstrapNodes: [{ host: "127.0.0.1", port: hub.udpPort, publicKey: hub.dhtPublicKey }],
    });
    log = recordEvents(shared);
    for (let i = 0; i < 4; i++) leaves.push(await shared.addIdentity({ secretKey: newKeyPair().secretKey }));
    await waitUntil(
      () => [...hubs, ...leaves].every((x) => x.selfConnection() !== "none"),
      40_000,
      "all announced",
    );
  }, 60_000);

  afterAll(async () => {
    await shared?.close();
    await net?.close();
  });

  function lastStatus(l: EventLog, x: Identity, friend: Identity) {
    return l.friendConnection
      .filter((e) => e.identity === x.publicKey && e.friend === friend.publicKey)
      .at(-1)?.status;
  }

  it("runs one backbone; leaves report udp self-connection through it", () => {
    expect(shared.routing).toBe("shared");
    expect(net.routing).toBe("separate");
    const info = shared.backboneInfo()!;
    expect(info.connected).toBe(true);
    expect(info.closeNodes).toBeGreaterThan(3);
    for (const x of leaves) {
      expect(x.selfConnection()).toBe("udp");
      expect(x.diagnostics().closeNodes).toBe(info.closeNodes);
    }
    expect(net.backboneInfo()).toBeUndefined();
  });

  it("two leaves of the same backbone befriend by Tox ID and chat over direct UDP", async () => {
    const [a, b] = [leaves[0]!, leaves[1]!];
    await a.addFriend(b.toxId, "hello neighbour");
    await waitUntil(() => log.friendRequest.some((e) => e.identity === b.publicKey), 30_000, "request");
    await b.acceptFriendRequest(a.publicKey);
    await waitUntil(
      () => lastStatus(log, a, b) === "udp" && lastStatus(log, b, a) === "udp",
      30_000,
      "both online over udp",
    );
    const [id] = await a.sendMessage(b.publicKey, "same backbone, separate sockets");
    await waitUntil(
      () =>
        log.friendMessage.some(
          (e) => e.identity === b.publicKey && e.text === "same backbone, separate sockets",
        ),
      10_000,
      "message",
    );
    await waitUntil(
      () => log.readReceipt.some((e) => e.identity === a.publicKey && e.messageId === id),
      10_000,
      "receipt",
    );
    expect(b.sessionInfo(a.publicKey)).toBeDefined();
  }, 60_000);

  it("a leaf and an identity of a separate-routing node befriend each other both ways", async () => {
    const leaf = leaves[2]!;
    const other = hubs[5]!;
    await other.addFriend(leaf.toxId, "from the separate node");
    await waitUntil(() => log.friendRequest.some((e) => e.identity === leaf.publicKey), 30_000, "request");
    await leaf.acceptFriendRequest(other.publicKey);
    await waitUntil(
      () => lastStatus(log, leaf, other) === "udp" && lastStatus(netLog, other, leaf) === "udp",
      30_000,
      "online over udp",
    );
    await other.sendMessage(leaf.publicKey, "hi leaf");
    await leaf.sendMessage(other.publicKey, "hi full node");
    await waitUntil(
      () =>
        log.friendMessage.some((e) => e.identity === leaf.publicKey && e.text === "hi leaf") &&
        netLog.friendMessage.some((e) => e.identity === other.publicKey && e.text === "hi full node"),
      10_000,
      "messages both ways",
    );
  }, 60_000);

  it("leaves send only announces and their sessions' packets; the backbone does the DHT work", async () => {
    const before = shared.udpStats();
    const netBefore = net.udpStats();
    await new Promise((r) => setTimeout(r, 4000));
    const after = shared.udpStats();
    const netAfter = net.udpStats();
    const leafOut =
      after.packetsOut - after.backbone!.packetsOut - (before.packetsOut - before.backbone!.packetsOut);
    const perLeaf = leafOut / leaves.length / 4;
    const perFullNode = (netAfter.packetsOut - netBefore.packetsOut) / hubs.length / 4;
    console.log(
      `packets out per second: ${perLeaf.toFixed(2)} per leaf, ${perFullNode.toFixed(2)} per full identity`,
    );
    // Leaves: announces (at most 12 nodes at 3-15 s intervals) and their friends' sessions; no
    // DHT pings or nodes requests of their own, which a separate-routing identity sends.
    expect(perLeaf).toBeLessThan(perFullNode);
    expect(after.backbone!.packetsOut).toBeGreaterThan(before.backbone!.packetsOut);
  }, 40_000);
});
