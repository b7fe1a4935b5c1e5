/**
 * ToxNode through TCP relays: tox-bootstrapd 0.2.18 daemons on loopback (DHT + TCP relay) and
 * c-toxcore peers. (1) A c-toxcore peer with UDP disabled befriends one of our identities by Tox
 * ID and they chat through the daemon's relay; (2) a node of ours with `udp: false` does the
 * same with a normal c-toxcore peer. Connection events must say "tcp".
 * Ports: daemons 35800-35805, our identities 35820-35859, C peers 35860-35879.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newKeyPair } from "../../../src/tox/crypto.js";
import { ToxNode } from "../../../src/tox/index.js";
import type {
  FriendConnectionEvent,
  FriendRequestEvent,
  SelfConnectionEvent,
} from "../../../src/tox/node/events.js";
import { type Bootstrapd, startBootstrapNetwork } from "../../interop/bootstrapd.js";
import { CToxPeer, waitUntil } from "../../interop/ctoxcore.js";

describe("ToxNode over TCP relays with c-toxcore 0.2.18", () => {
  let daemons: Bootstrapd[] = [];
  const nodes: ToxNode[] = [];
  const peers: CToxPeer[] = [];

  beforeAll(async () => {
    daemons = await startBootstrapNetwork(3, 35800);
  }, 30_000);

  afterAll(async () => {
    for (const p of peers) p.kill();
    for (const n of nodes) await n.close();
    await Promise.all(daemons.map((d) => d.stop()));
  });

  async function ourNode(udp: boolean, ports: [number, number]) {
    const relay = daemons[0]!;
    const node = await ToxNode.create({
      host: "127.0.0.1",
      portRange: ports,
      udp,
      bootstrapNodes: daemons.map((d) => ({ host: d.host, port: d.port, publicKey: d.publicKeyHex })),
      tcpRelays: [{ host: relay.host, port: relay.tcpPort, publicKey: relay.publicKeyHex }],
      bootstrapIdentitiesPerSecond: 100,
    });
    nodes.push(node);
    const events = {
      self: [] as SelfConnectionEvent[],
      conn: [] as FriendConnectionEvent[],
      requests: [] as FriendRequestEvent[],
      texts: [] as string[],
    };
    node.on("selfConnection", (e) => events.self.push(e));
    node.on("friendConnection", (e) => events.conn.push(e));
    node.on("friendRequest", (e) => events.requests.push(e));
    node.on("friendMessage", (e) => events.texts.push(e.text));
    return { node, events };
  }

  it("a UDP-less c-toxcore peer adds us by Tox ID; we accept; chat over the daemon's relay", async () => {
    const { node, events } = await ourNode(true, [35820, 35839]);
    const ours = await node.addIdentity({ secretKey: newKeyPair().secretKey });
    const relay = daemons[1]!;
    const c = await CToxPeer.create({ udp: false, startPort: 35860, endPort: 35864, label: "c-tcp-only" });
    peers.push(c);
    for (const d of daemons) c.bootstrap(d.host, d.port, d.publicKey);
    c.addTcpRelay(relay.host, relay.tcpPort, relay.publicKey);
    const t0 = Date.now();
    await waitUntil(() => c.selfConnectionStatus() === "tcp", 30_000, "C online over TCP");
    const friendNo = c.friendAdd(ours.toxId, "tcp-only C here");
    await waitUntil(() => events.requests.length > 0, 60_000, "request through the onion over TCP");
    await ours.acceptFriendRequest(events.requests[0]!.publicKey);
    await waitUntil(() => events.conn.some((e) => e.status !== "none"), 60_000, "friend online");
    expect(events.conn.find((e) => e.status !== "none")?.status).toBe("tcp");
    await waitUntil(() => c.friendConnectionStatus(friendNo) === "tcp", 10_000, "C sees us over TCP");
    const texts: string[] = [];
    c.on("friendMessage", (_f, _t, text) => texts.push(text));
    await ours.sendMessage(c.publicKeyHex, "via relay");
    await waitUntil(() => texts.includes("via relay"), 10_000, "message to C");
    c.sendMessage(friendNo, "relayed back");
    await waitUntil(() => events.texts.includes("relayed back"), 10_000, "message from C");
    expect(await ours.friendConnection(c.publicKeyHex)).toBe("tcp");
    console.log(`UDP-less C peer: request to chat over TCP in ${Date.now() - t0} ms`);
  }, 150_000);

  it("our identity with udp: false befriends a c-toxcore peer; everything goes through relays", async () => {
    const { node, events } = await ourNode(false, [35840, 35859]);
    const ours = await node.addIdentity({ secretKey: newKeyPair().secretKey });
    const c = await CToxPeer.create({ startPort: 35870, endPort: 35874, label: "c-udp" });
    peers.push(c);
    for (const d of daemons) c.bootstrap(d.host, d.port, d.publicKey);
    c.addTcpRelay(daemons[2]!.host, daemons[2]!.tcpPort, daemons[2]!.publicKey);
    c.on("friendRequest", (pk) => c.friendAddNoRequest(pk));
    const t0 = Date.now();
    await waitUntil(() => ours.selfConnection() === "tcp", 40_000, "our TCP-only identity announced");
    expect(events.self.map((e) => e.status)).toEqual(["tcp"]);
    await ours.addFriend(c.addressHex, "from a TCP-only identity");
    await waitUntil(() => events.conn.some((e) => e.status === "tcp"), 90_000, "friend online over TCP");
    const friendNo = c.friendByPublicKey(ours.publicKeyBytes)!;
    await waitUntil(() => c.friendConnectionStatus(friendNo) === "tcp", 10_000, "C sees us over TCP");
    const texts: string[] = [];
    c.on("friendMessage", (_f, _t, text) => texts.push(text));
    await ours.sendMessage(c.publicKeyHex, "no udp at all");
    await waitUntil(() => texts.includes("no udp at all"), 10_000, "message to C");
    expect(events.conn.every((e) => e.status !== "udp")).toBe(true);
    console.log(`TCP-only identity: announce to chat in ${Date.now() - t0} ms`);
  }, 150_000);
});
