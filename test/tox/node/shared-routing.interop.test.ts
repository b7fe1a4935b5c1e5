/**
 * Shared routing (ToxNodeOptions.routing "shared") on a real Tox network: three tox-bootstrapd
 * 0.2.18 daemons and a c-toxcore 0.2.18 peer. Two of our identities run as leaves of one
 * backbone DHT node and share its onion paths, each with its own socket, DHT key and net_crypto.
 * The C peer befriends both by Tox ID (a request each way), chats with each with read receipts,
 * and finds both again after it restarts with a new DHT key.
 * Ports: daemons 37000-37005, our node 37010-37029, C peer 37040-37059.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toHex } from "../../../src/tox/bytes.js";
import { newKeyPair } from "../../../src/tox/crypto.js";
import { type Identity, ToxNode } from "../../../src/tox/index.js";
import { type Bootstrapd, startBootstrapNetwork } from "../../interop/bootstrapd.js";
import { CToxPeer, waitUntil } from "../../interop/ctoxcore.js";
import { type EventLog, recordEvents } from "./record-events.js";

describe("shared routing with c-toxcore 0.2.18 through tox-bootstrapd", () => {
  let daemons: Bootstrapd[] = [];
  let node: ToxNode;
  let log: EventLog;
  const peers: CToxPeer[] = [];

  async function cPeer(label: string, port: number, savedata?: Uint8Array): Promise<CToxPeer> {
    const c = await CToxPeer.create({
      startPort: port,
      endPort: port + 4,
      label,
      name: label,
      ...(savedata ? { savedata } : {}),
    });
    peers.push(c);
    for (const d of daemons) c.bootstrap(d.host, d.port, d.publicKey);
    c.on("friendRequest", (pk) => c.friendAddNoRequest(pk));
    return c;
  }

  function online(identity: Identity, friendHex: string): boolean {
    const last = log.friendConnection.filter(
      (e) => e.identity === identity.publicKey && e.friend === friendHex,
    );
    return last.length > 0 && last[last.length - 1]!.status !== "none";
  }

  /** One message each way with read receipts. */
  async function chat(c: CToxPeer, ours: Identity, tag: string): Promise<void> {
    const friendNo = c.friendByPublicKey(ours.publicKeyBytes)!;
    const texts: string[] = [];
    const receipts: number[] = [];
    c.on("friendMessage", (f, _t, text) => {
      if (f === friendNo) texts.push(text);
    });
    c.on("friendReadReceipt", (f, id) => {
      if (f === friendNo) receipts.push(id);
    });
    const [id] = await ours.sendMessage(c.publicKeyHex, `to C ${tag}`);
    await waitUntil(() => texts.includes(`to C ${tag}`), 10_000, `message to C (${tag})`);
    await waitUntil(
      () => log.readReceipt.some((e) => e.identity === ours.publicKey && e.messageId === id),
      10_000,
      `our read receipt (${tag})`,
    );
    const cId = c.sendMessage(friendNo, `from C ${tag}`);
    await waitUntil(
      () => log.friendMessage.some((e) => e.identity === ours.publicKey && e.text === `from C ${tag}`),
      10_000,
      `message from C (${tag})`,
    );
    await waitUntil(() => receipts.includes(cId), 10_000, `C's read receipt (${tag})`);
  }

  beforeAll(async () => {
    daemons = await startBootstrapNetwork(3, 37000);
    node = await ToxNode.create({
      host: "127.0.0.1",
      portRange: [37010, 37029],
      routing: "shared",
      bootstrapNodes: daemons.map((d) => ({ host: d.host, port: d.port, publicKey: d.publicKeyHex })),
    });
    log = recordEvents(node);
  }, 30_000);

  afterAll(async () => {
    for (const p of peers) p.kill();
    await node?.close();
    await Promise.all(daemons.map((d) => d.stop()));
  });

  it("two identities befriend a C peer by Tox ID, chat with receipts, and survive its restart", async () => {
    const t0 = Date.now();
    expect(node.routing).toBe("shared");
    const a = await node.addIdentity({ secretKey: newKeyPair().secretKey, name: "shared-a" });
    const b = await node.addIdentity({ secretKey: newKeyPair().secretKey, name: "shared-b" });
    const backbone = node.backboneInfo()!;
    expect(new Set([a.udpPort, b.udpPort, backbone.port]).size).toBe(3);
    expect(new Set([a.dhtPublicKey, b.dhtPublicKey, backbone.dhtPublicKey]).size).toBe(3);
    let c = await cPeer("c-shared", 37040);
    await waitUntil(
      () => a.selfConnection() !== "none" && b.selfConnection() !== "none",
      20_000,
      "announced",
    );
    expect(node.backboneInfo()!.connected).toBe(true);

    // C asks a; b asks C.
    const aNo = c.friendAdd(a.toxId, "C asks a");
    await b.addFriend(c.addressHex, "b asks C");
    await waitUntil(
      () => log.friendRequest.some((e) => e.identity === a.publicKey),
      30_000,
      "a gets C's request",
    );
    expect(log.friendRequest.find((e) => e.identity === a.publicKey)?.message).toBe("C asks a");
    await a.acceptFriendRequest(c.publicKeyHex);
    await waitUntil(() => online(a, c.publicKeyHex) && online(b, c.publicKeyHex), 30_000, "both online");
    await waitUntil(
      () =>
        c.friendConnectionStatus(aNo) !== "none" &&
        c.friendConnectionStatus(c.friendByPublicKey(b.publicKeyBytes)!) !== "none",
      10_000,
      "C sees both",
    );
    // Direct UDP both ways (no TCP relay is configured on our side): C found each leaf's own
    // address, and each leaf found C's through the backbone.
    const lastStatus = (x: Identity) =>
      log.friendConnection.filter((e) => e.identity === x.publicKey && e.friend === c.publicKeyHex).at(-1)
        ?.status;
    expect([lastStatus(a), lastStatus(b)]).toEqual(["udp", "udp"]);
    expect(c.friendConnectionStatus(aNo)).toBe("udp");
    const tChat = Date.now();
    await chat(c, a, "a1");
    await chat(c, b, "b1");
    console.log(`shared: both befriended ${tChat - t0} ms, chats done ${Date.now() - t0} ms`);

    // C restarts from its save file: new DHT key, new port.
    const save = c.getSavedata();
    const oldDht = toHex(c.dhtId);
    c.kill();
    const t1 = Date.now();
    c = await cPeer("c-shared-2", 37050, save);
    expect(toHex(c.dhtId)).not.toBe(oldDht);
    const cA = c.friendByPublicKey(a.publicKeyBytes)!;
    const cB = c.friendByPublicKey(b.publicKeyBytes)!;
    await waitUntil(
      () => c.friendConnectionStatus(cA) !== "none" && c.friendConnectionStatus(cB) !== "none",
      40_000,
      "C finds both again",
    );
    await waitUntil(() => online(a, c.publicKeyHex) && online(b, c.publicKeyHex), 40_000, "we see C again");
    console.log(`shared: C restarted with a new DHT key, both back after ${Date.now() - t1} ms`);
    await chat(c, a, "a2");
    await chat(c, b, "b2");
  }, 120_000);
});
