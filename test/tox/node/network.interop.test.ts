/**
 * ToxNode on a real Tox network: three tox-bootstrapd 0.2.18 daemons on loopback and c-toxcore
 * peers. Nothing is pre-wired: both sides know only each other's Tox ID and the bootstrap nodes.
 * Proves: friend requests both ways through the onion, chat with read receipts, finding each
 * other again after either side restarts with a new DHT key, self-connection events.
 * Ports: daemons 35600-35605, our identities 35620-35679, C peers 35700-35739.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toHex } from "../../../src/tox/bytes.js";
import { newKeyPair } from "../../../src/tox/crypto.js";
import { type Identity, ToxNode } from "../../../src/tox/index.js";
import { type Bootstrapd, startBootstrapNetwork } from "../../interop/bootstrapd.js";
import { CToxPeer, waitUntil } from "../../interop/ctoxcore.js";
import { type EventLog, recordEvents } from "./record-events.js";

// Concurrent: each test has its own identity and C peers on disjoint ports, and waits on the
// network (onion announces, friend searches), not on the CPU; one after another they took ~50 s.
describe.concurrent("ToxNode with c-toxcore 0.2.18 through tox-bootstrapd (DHT + onion + friend requests)", () => {
  let daemons: Bootstrapd[] = [];
  let node: ToxNode;
  let log: EventLog;
  const peers: CToxPeer[] = [];

  async function cPeer(label: string, opts: { savedata?: Uint8Array; port: number }): Promise<CToxPeer> {
    const c = await CToxPeer.create({
      startPort: opts.port,
      endPort: opts.port + 4,
      label,
      name: label,
      ...(opts.savedata ? { savedata: opts.savedata } : {}),
    });
    peers.push(c);
    for (const d of daemons) c.bootstrap(d.host, d.port, d.publicKey);
    return c;
  }

  function online(identity: Identity, friendHex: string): boolean {
    const last = log.friendConnection.filter(
      (e) => e.identity === identity.publicKey && e.friend === friendHex,
    );
    return last.length > 0 && last[last.length - 1]!.status !== "none";
  }

  beforeAll(async () => {
    daemons = await startBootstrapNetwork(3, 35600);
    node = await ToxNode.create({
      host: "127.0.0.1",
      portRange: [35620, 35679],
      bootstrapNodes: daemons.map((d) => ({ host: d.host, port: d.port, publicKey: d.publicKeyHex })),
      bootstrapIdentitiesPerSecond: 100,
    });
    log = recordEvents(node);
  }, 30_000);

  afterAll(async () => {
    for (const p of peers) p.kill();
    await node?.close();
    await Promise.all(daemons.map((d) => d.stop()));
  });

  it("we add a c-toxcore peer by Tox ID; it accepts; chat both ways with read receipts", async () => {
    const t0 = Date.now();
    const ours = await node.addIdentity({ secretKey: newKeyPair().secretKey, name: "ours-1" });
    const c = await cPeer("c-accepts", { port: 35700 });
    const requests: string[] = [];
    c.on("friendRequest", (pk, message) => {
      requests.push(message);
      c.friendAddNoRequest(pk);
    });
    await waitUntil(() => ours.selfConnection() !== "none", 20_000, "our identity announced");
    expect(log.selfConnection.some((e) => e.identity === ours.publicKey && e.status === "udp")).toBe(true);
    await ours.addFriend(c.addressHex, "hello from toxbridge");
    await expect(ours.addFriend(c.addressHex, "again")).rejects.toMatchObject({ code: "already-friend" });
    await waitUntil(() => requests.length > 0, 40_000, "C receives our request");
    expect(requests[0]).toBe("hello from toxbridge");
    await waitUntil(() => online(ours, c.publicKeyHex), 30_000, "friend connection");
    const friendNo = c.friendByPublicKey(ours.publicKeyBytes)!;
    await waitUntil(() => c.friendConnectionStatus(friendNo) !== "none", 10_000, "C sees us online");
    expect((await ours.friend(c.publicKeyHex))?.requestPending).toBe(false);

    const texts: string[] = [];
    const cReceipts: number[] = [];
    c.on("friendMessage", (_f, _t, text) => texts.push(text));
    c.on("friendReadReceipt", (_f, id) => cReceipts.push(id));
    const [id] = await ours.sendMessage(c.publicKeyHex, "to C");
    await waitUntil(() => texts.includes("to C"), 10_000, "message to C");
    await waitUntil(
      () => log.readReceipt.some((e) => e.identity === ours.publicKey && e.messageId === id),
      10_000,
      "our read receipt",
    );
    const cId = c.sendMessage(friendNo, "to ours");
    await waitUntil(
      () => log.friendMessage.some((e) => e.identity === ours.publicKey && e.text === "to ours"),
      10_000,
      "message from C",
    );
    await waitUntil(() => cReceipts.includes(cId), 10_000, "C's read receipt");
    console.log(`request out -> chat with receipts: ${Date.now() - t0} ms`);
  }, 120_000);

  it("a c-toxcore peer adds us by Tox ID; we get friendRequest, accept, and chat", async () => {
    const ours = await node.addIdentity({ secretKey: newKeyPair().secretKey, name: "ours-2" });
    const c = await cPeer("c-requests", { port: 35710 });
    await waitUntil(() => ours.selfConnection() !== "none", 20_000, "our identity announced");
    const friendNo = c.friendAdd(ours.toxId, "hi toxbridge, C here");
    await waitUntil(
      () => log.friendRequest.some((e) => e.identity === ours.publicKey),
      60_000,
      "our friendRequest event",
    );
    const req = log.friendRequest.find((e) => e.identity === ours.publicKey)!;
    expect(req.publicKey).toBe(c.publicKeyHex);
    expect(req.message).toBe("hi toxbridge, C here");
    expect(ours.pendingFriendRequests().map((r) => r.publicKey)).toEqual([c.publicKeyHex]);
    await ours.acceptFriendRequest(req.publicKey);
    expect(ours.pendingFriendRequests()).toEqual([]);
    await waitUntil(() => online(ours, c.publicKeyHex), 40_000, "friend connection");
    await waitUntil(() => c.friendConnectionStatus(friendNo) !== "none", 10_000, "C sees us");
    const texts: string[] = [];
    c.on("friendMessage", (_f, _t, text) => texts.push(text));
    await ours.sendMessage(c.publicKeyHex, "accepted!");
    await waitUntil(() => texts.includes("accepted!"), 10_000, "message to C");
    await expect(ours.acceptFriendRequest(toHex(newKeyPair().publicKey))).rejects.toMatchObject({
      code: "no-request",
    });
  }, 120_000);

  it("finds the friend again after the C peer and then our identity restart with new DHT keys", async () => {
    const secretKey = newKeyPair().secretKey;
    let ours = await node.addIdentity({ secretKey, name: "ours-3" });
    let c = await cPeer("c-restart", { port: 35720 });
    c.on("friendRequest", (pk) => c.friendAddNoRequest(pk));
    await waitUntil(() => ours.selfConnection() !== "none", 20_000, "announced");
    await ours.addFriend(c.addressHex, "restart test");
    await waitUntil(() => online(ours, c.publicKeyHex), 60_000, "first connection");

    // C restarts: same profile, new DHT key, new port.
    const save = c.getSavedata();
    const oldDht = toHex(c.dhtId);
    c.kill();
    await waitUntil(() => !online(ours, c.publicKeyHex), 60_000, "we see C go offline");
    c = await cPeer("c-restart-2", { port: 35725, savedata: save });
    expect(toHex(c.dhtId)).not.toBe(oldDht);
    let t = Date.now();
    await waitUntil(() => online(ours, c.publicKeyHex), 60_000, "reconnect after C restart");
    console.log(`C restarted with a new DHT key: back online after ${Date.now() - t} ms`);
    const texts: string[] = [];
    c.on("friendMessage", (_f, _t, text) => texts.push(text));
    await ours.sendMessage(c.publicKeyHex, "welcome back");
    await waitUntil(() => texts.includes("welcome back"), 10_000, "message after C restart");

    // Ours restarts: save file out, identity removed, added back (new DHT key, maybe new port).
    const ourSave = await ours.getSavedata();
    const oldOurDht = ours.dhtPublicKey;
    const friendNo = c.friendByPublicKey(ours.publicKeyBytes)!;
    await node.removeIdentity(ours.publicKey);
    await waitUntil(() => c.friendConnectionStatus(friendNo) === "none", 60_000, "C sees us go offline");
    ours = await node.addIdentity({ savedata: ourSave });
    expect(ours.dhtPublicKey).not.toBe(oldOurDht);
    t = Date.now();
    await waitUntil(() => c.friendConnectionStatus(friendNo) !== "none", 60_000, "C sees us again");
    await waitUntil(() => online(ours, c.publicKeyHex), 20_000, "we see C again");
    console.log(`our identity restarted with a new DHT key: back online after ${Date.now() - t} ms`);
    await ours.sendMessage(c.publicKeyHex, "me again");
    await waitUntil(() => texts.includes("me again"), 10_000, "message after our restart");
  }, 240_000);
});
