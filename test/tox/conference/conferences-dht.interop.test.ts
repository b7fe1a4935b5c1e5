/**
 * Interop: a conference member that is not our friend. Two c-toxcore 0.2.18 peers are friends
 * of each other (friend request over a local tox-bootstrapd DHT); only c-one is our friend.
 * c-one invites us and c-two; our identity then keeps its own net_crypto session to c-two (a
 * non-friend friend_connection found through the DHT under the key from the peer list), and
 * c-two's messages arrive over it. Ports: ours 36500-36519, daemons 36520-36523, C 36530-36599.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { ConferencePeer } from "../../../src/tox/conference/conferences.js";
import { newKeyPair } from "../../../src/tox/crypto.js";
import { type FriendConnectionEvent, ipPort, ToxNode } from "../../../src/tox/index.js";
import { startBootstrapNetwork } from "../../interop/bootstrapd.js";
import { befriend, CToxPeer, nextEvent, waitUntil } from "../../interop/ctoxcore.js";
import { attachConferences } from "./attach.js";

const OUR_PORTS: [number, number] = [36500, 36519];
const DAEMON_PORT = 36520;
const C_PORTS = { startPort: 36530, endPort: 36599 };

describe("conferences: a non-friend member reached through the DHT", () => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  it("opens a session to a member who is not our friend and hears it directly", async () => {
    const t0 = Date.now();
    const daemons = await startBootstrapNetwork(2, DAEMON_PORT);
    cleanup.push(() => Promise.all(daemons.map((d) => d.stop())));
    const c1 = await CToxPeer.create({ ...C_PORTS, name: "c-one", label: "c-one", iterateEveryMs: 10 });
    cleanup.push(() => c1.kill());
    const c2 = await CToxPeer.create({ ...C_PORTS, name: "c-two", label: "c-two", iterateEveryMs: 10 });
    cleanup.push(() => c2.kill());
    for (const c of [c1, c2]) for (const n of daemons) c.bootstrap(n.host, n.port, n.publicKey);

    const node = await ToxNode.create({
      host: "127.0.0.1",
      portRange: OUR_PORTS,
      bootstrapNodes: daemons.map((n) => ({ host: n.host, port: n.port, publicKey: n.publicKeyHex })),
    });
    cleanup.push(() => node.close());
    const me = await node.addIdentity({ secretKey: newKeyPair().secretKey, name: "ours" });
    const conn: FriendConnectionEvent[] = [];
    node.on("friendConnection", (e) => conn.push(e));
    const invites: Array<{ from: Uint8Array; cookie: Uint8Array }> = [];
    const messages: Array<{ peer: ConferencePeer; text: string }> = [];
    const confs = attachConferences(me, {
      onInvite: (from, _t, cookie) => invites.push({ from, cookie }),
      onMessage: (_c, peer, _k, text) => messages.push({ peer, text }),
    });

    const { aFriend: c1sC2, bFriend: c2sC1 } = await befriend(c1, c2, { timeoutMs: 45_000 });
    const befriended = Date.now() - t0;
    const f1 = c1.friendAddNoRequest(me.publicKeyBytes);
    await me.connectFriendDirect(c1.publicKey, c1.dhtId, ipPort("127.0.0.1", c1.udpPort));
    await waitUntil(() => c1.friendConnectionStatus(f1) === "udp", 15_000, "c-one and ours");

    const cc1 = c1.conferenceNew();
    c1.conferenceInvite(f1, cc1);
    await waitUntil(() => invites.length > 0, 10_000, "our invite");
    const conf = confs.join(invites[0]!.from, invites[0]!.cookie);
    await waitUntil(() => confs.info(conf)!.connected, 10_000, "joined");
    const invited = nextEvent(c2, "conferenceInvite", 10_000);
    c1.conferenceInvite(c1sC2, cc1);
    const [, , cookie] = await invited;
    const cc2 = c2.conferenceJoin(c2sC1, cookie);
    await waitUntil(() => confs.peers(conf).length === 3, 15_000, "c-two in our list");
    const joined = Date.now() - t0;
    await waitUntil(() => confs.onlineConnections(conf) === 2, 30_000, "our own session to c-two");
    const direct = Date.now() - t0;
    c2.conferenceSendMessage(cc2, "straight from c-two");
    await waitUntil(() => messages.some((m) => m.text === "straight from c-two"), 10_000, "c-two's message");
    expect((await me.friends()).map((f) => f.publicKey)).toEqual([c1.publicKeyHex]);
    console.log(
      `conference DHT interop: befriended ${befriended} ms, joined ${joined} ms, direct non-friend session ${direct} ms`,
    );
  }, 90_000);
});
