/**
 * Reconnection after network loss: one of our identities and a c-toxcore 0.2.18 peer, befriended
 * by Tox ID through local tox-bootstrapd daemons, lose every datagram (our socket layer drops all
 * traffic both ways) long enough for the friend connection to time out; when the network comes
 * back, they find each other again through the DHT/onion without any help and chat.
 * Ports: daemons 35750-35755, ours 35760-35769, C peer 35770-35774.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newKeyPair } from "../../../src/tox/crypto.js";
import { ToxNode } from "../../../src/tox/index.js";
import type { FriendConnectionEvent } from "../../../src/tox/node/events.js";
import { type Bootstrapd, startBootstrapNetwork } from "../../interop/bootstrapd.js";
import { CToxPeer, waitUntil } from "../../interop/ctoxcore.js";

describe("ToxNode after a network outage (c-toxcore 0.2.18 friend)", () => {
  let daemons: Bootstrapd[] = [];
  let node: ToxNode;
  let c: CToxPeer | undefined;

  beforeAll(async () => {
    daemons = await startBootstrapNetwork(3, 35750);
    node = await ToxNode.create({
      host: "127.0.0.1",
      portRange: [35760, 35769],
      bootstrapNodes: daemons.map((d) => ({ host: d.host, port: d.port, publicKey: d.publicKeyHex })),
    });
  }, 30_000);

  afterAll(async () => {
    c?.kill();
    await node?.close();
    await Promise.all(daemons.map((d) => d.stop()));
  });

  it("friend goes offline during a 35 s total outage and comes back by itself afterwards", async () => {
    const conns: FriendConnectionEvent[] = [];
    node.on("friendConnection", (e) => conns.push(e));
    const ours = await node.addIdentity({ secretKey: newKeyPair().secretKey });
    const peer = await CToxPeer.create({ startPort: 35770, endPort: 35774, label: "c-outage" });
    c = peer;
    for (const d of daemons) peer.bootstrap(d.host, d.port, d.publicKey);
    peer.on("friendRequest", (pk) => peer.friendAddNoRequest(pk));
    await waitUntil(() => ours.selfConnection() !== "none", 30_000, "announced");
    await ours.addFriend(peer.addressHex, "outage test");
    const isOnline = () => conns.length > 0 && conns[conns.length - 1]!.status !== "none";
    await waitUntil(isOnline, 60_000, "first connection");

    node.setLossRate(1);
    const t0 = Date.now();
    await waitUntil(() => !isOnline(), 45_000, "offline during the outage");
    const offlineAfter = Date.now() - t0;
    await new Promise((r) => setTimeout(r, Math.max(0, 35_000 - offlineAfter)));
    node.setLossRate(0);
    const t1 = Date.now();
    await waitUntil(isOnline, 90_000, "back online after the outage");
    const back = Date.now() - t1;
    const friendNo = peer.friendByPublicKey(ours.publicKeyBytes)!;
    await waitUntil(() => peer.friendConnectionStatus(friendNo) !== "none", 20_000, "C sees us again");
    const texts: string[] = [];
    peer.on("friendMessage", (_f, _t, text) => texts.push(text));
    await ours.sendMessage(peer.publicKeyHex, "after the outage");
    await waitUntil(() => texts.includes("after the outage"), 10_000, "message after the outage");
    // Our own onion announce recovers on its own schedule (paths rebuilt, announces re-sent),
    // which can lag the direct friend session by some seconds.
    await waitUntil(() => ours.selfConnection() !== "none", 60_000, "self connection back");
    expect(ours.selfConnection()).not.toBe("none");
    console.log(
      `outage: friend offline after ${offlineAfter} ms; back ${back} ms after the network returned`,
    );
  }, 200_000);
});
