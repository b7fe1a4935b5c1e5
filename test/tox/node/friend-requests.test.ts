/**
 * Friend requests through ToxNode's own DHT + onion, ours to ours on loopback (no c-toxcore): a
 * small network of identities in one node, bootstrapped from the first one. Covers the API the
 * tox-peer command and the bridge use: addFriend validation codes, friendRequest events,
 * pendingFriendRequests, accept and decline, selfConnection.
 * Ports 35680-35699.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newKeyPair } from "../../../src/tox/crypto.js";
import { type Identity, ToxNode } from "../../../src/tox/index.js";
import type {
  FriendConnectionEvent,
  FriendRequestEvent,
  SelfConnectionEvent,
} from "../../../src/tox/node/events.js";
import { waitUntil } from "../../interop/ctoxcore.js";

describe("friend requests between identities of one ToxNode (own DHT + onion)", () => {
  let node: ToxNode;
  const ids: Identity[] = [];
  const requests: FriendRequestEvent[] = [];
  const conns: FriendConnectionEvent[] = [];
  const self: SelfConnectionEvent[] = [];

  beforeAll(async () => {
    node = await ToxNode.create({ host: "127.0.0.1", portRange: [35680, 35699] });
    node.on("friendRequest", (e) => requests.push(e));
    node.on("friendConnection", (e) => conns.push(e));
    node.on("selfConnection", (e) => self.push(e));
    for (let i = 0; i < 8; i++) ids.push(await node.addIdentity({ secretKey: newKeyPair().secretKey }));
    const hub = ids[0]!;
    for (const x of ids.slice(1)) await x.bootstrap("127.0.0.1", hub.udpPort, hub.dhtPublicKey);
    // The hub learns the others from their requests; give it one of them too.
    await hub.bootstrap("127.0.0.1", ids[1]!.udpPort, ids[1]!.dhtPublicKey);
    await waitUntil(() => ids.every((x) => x.selfConnection() !== "none"), 40_000, "all announced");
  }, 60_000);

  afterAll(async () => {
    await node?.close();
  });

  it("reports selfConnection udp for every identity", () => {
    for (const x of ids)
      expect(self.some((e) => e.identity === x.publicKey && e.status === "udp")).toBe(true);
  });

  it("validates addFriend like tox_friend_add", async () => {
    const [a, b] = [ids[1]!, ids[2]!];
    await expect(a.addFriend("not a tox id", "hi")).rejects.toMatchObject({ code: "bad-address" });
    const badChecksum = `${b.toxId.slice(0, 72)}${b.toxId.endsWith("0000") ? "1111" : "0000"}`;
    await expect(a.addFriend(badChecksum, "hi")).rejects.toMatchObject({ code: "bad-address" });
    await expect(a.addFriend(a.toxId, "hi")).rejects.toMatchObject({ code: "own-key" });
    await expect(a.addFriend(b.toxId, "")).rejects.toMatchObject({ code: "message-empty" });
    await expect(a.addFriend(b.toxId, "x".repeat(922))).rejects.toMatchObject({ code: "message-too-long" });
  });

  it("request -> friendRequest event -> accept -> both online", async () => {
    const [a, b] = [ids[3]!, ids[4]!];
    await a.addFriend(b.toxId, "x".repeat(921));
    await expect(a.addFriend(b.toxId, "again")).rejects.toMatchObject({ code: "already-friend" });
    await waitUntil(() => requests.some((r) => r.identity === b.publicKey), 30_000, "request at b");
    const r = b.pendingFriendRequests();
    expect(r).toHaveLength(1);
    expect(r[0]).toMatchObject({ publicKey: a.publicKey, message: "x".repeat(921) });
    expect((await a.friend(b.publicKey))?.requestPending).toBe(true);
    await b.acceptFriendRequest(a.publicKey);
    await waitUntil(
      () =>
        conns.some((e) => e.identity === a.publicKey && e.friend === b.publicKey && e.status === "udp") &&
        conns.some((e) => e.identity === b.publicKey && e.friend === a.publicKey && e.status === "udp"),
      30_000,
      "both online",
    );
    expect((await a.friend(b.publicKey))?.requestPending).toBe(false);
    // The save file keeps the friend as confirmed.
    expect(a.saveData().friends.find((f) => f.publicKey.length === 32)?.status).toBe(3);
  });

  it("decline forgets the request and ignores repeats", async () => {
    const [a, b] = [ids[5]!, ids[6]!];
    await a.addFriend(b.toxId, "please");
    await waitUntil(() => requests.some((r) => r.identity === b.publicKey), 30_000, "request at b");
    await b.declineFriendRequest(a.publicKey);
    expect(b.pendingFriendRequests()).toEqual([]);
    await expect(b.acceptFriendRequest(a.publicKey)).rejects.toMatchObject({ code: "no-request" });
    // A pending outgoing request survives a save/restore as a status-2 record with its message.
    const rec = a.saveData().friends.find((f) => f.status < 3);
    expect(rec && new TextDecoder().decode(rec.requestMessage)).toBe("please");
  });
});
