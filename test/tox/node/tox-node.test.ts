/**
 * ToxNode end to end between identities of our own stack over loopback UDP (ports 34400–34599).
 */
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { newKeyPair } from "../../../src/tox/crypto.js";
import { type Identity, ipPort, ToxNode, type ToxNode as ToxNodeT } from "../../../src/tox/index.js";
import { waitUntil } from "../../helpers/wait.js";
import { recordEvents } from "./record-events.js";

describe("ToxNode (ours <-> ours, loopback)", () => {
  const nodes: ToxNodeT[] = [];
  afterEach(async () => {
    for (const n of nodes.splice(0)) await n.close();
  });

  async function pair() {
    const node = await ToxNode.create({ host: "127.0.0.1", portRange: [34400, 34449] });
    nodes.push(node);
    const log = recordEvents(node);
    const a = await node.addIdentity({
      secretKey: newKeyPair().secretKey,
      name: "alice",
      statusMessage: "hi",
    });
    const b = await node.addIdentity({ secretKey: newKeyPair().secretKey, name: "bob" });
    await b.addFriendNoRequest(a.publicKey);
    await a.connectFriendDirect(b.publicKey, b.dhtPublicKey, ipPort("127.0.0.1", b.udpPort));
    await waitUntil(
      () => log.friendConnection.filter((e) => e.status === "udp").length === 2,
      5000,
      "online",
    );
    return { node, log, a, b };
  }

  it("two identities in one node connect, exchange presence, messages and receipts", async () => {
    const { log, a, b } = await pair();
    expect(a.udpPort).not.toBe(b.udpPort);
    expect(a.toxId).toMatch(/^[0-9A-F]{76}$/);
    await waitUntil(() => log.friendStatus.length >= 2 && log.friendName.length >= 2, 3000, "presence");
    expect(log.friendName.find((e) => e.identity === b.publicKey)?.name).toBe("alice");
    expect(log.friendStatusMessage.find((e) => e.identity === b.publicKey)?.statusMessage).toBe("hi");
    expect(log.friendName.find((e) => e.identity === a.publicKey)?.name).toBe("bob");

    const ids = await a.sendMessage(b.publicKey, "hello bob");
    expect(ids).toEqual([1]);
    const action = await a.sendMessage(b.publicKey, "waves", "action");
    expect(action).toEqual([2]);
    await waitUntil(() => log.readReceipt.length === 2, 3000, "receipts");
    expect(log.friendMessage.map((m) => [m.kind, m.text, m.identity])).toEqual([
      ["normal", "hello bob", b.publicKey],
      ["action", "waves", b.publicKey],
    ]);
    expect(log.readReceipt.map((r) => r.messageId)).toEqual([1, 2]);

    await b.setTyping(a.publicKey, true);
    await b.setStatus("away");
    await b.setName("robert");
    await waitUntil(() => log.friendTyping.some((t) => t.typing), 3000, "typing");
    await waitUntil(() => log.friendName.some((n) => n.name === "robert"), 3000, "rename");
    expect(log.friendStatus.some((s) => s.identity === a.publicKey && s.status === "away")).toBe(true);
    expect(await a.friendConnection(b.publicKey)).toBe("udp");
    const info = await a.friend(b.publicKey);
    expect(info?.name).toBe("robert");
  });

  it("splits a long message and the pieces arrive whole and in order", async () => {
    const { log, a, b } = await pair();
    const text = `${"lorem ipsum ".repeat(300)}€ end`;
    const ids = await a.sendMessage(b.publicKey, text);
    expect(ids.length).toBe(3);
    await waitUntil(() => log.friendMessage.length === 3 && log.readReceipt.length === 3, 3000, "pieces");
    expect(log.friendMessage.map((m) => m.text).join("")).toBe(text);
  });

  it("removing a friend takes it offline on the other side", async () => {
    const { log, a, b } = await pair();
    await a.removeFriend(b.publicKey);
    await waitUntil(
      () => log.friendConnection.some((e) => e.identity === b.publicKey && e.status === "none"),
      3000,
      "offline",
    );
    expect(await a.friends()).toEqual([]);
    await expect(b.sendMessage(a.publicKey, "anyone?")).rejects.toThrow(/not online/);
  });

  it("fuzz: 100k arbitrary datagrams into a connected identity never throw; the session survives", async () => {
    const { log, a, b } = await pair();
    const from = ipPort("127.0.0.1", b.udpPort);
    const stranger = ipPort("127.0.0.1", 9);
    fc.assert(
      fc.property(
        fc.oneof(
          { weight: 6, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 1500 }) },
          {
            weight: 3,
            arbitrary: fc
              .tuple(fc.constantFrom(0x19, 0x1a, 0x1b), fc.uint8Array({ minLength: 0, maxLength: 1400 }))
              .map(([id, rest]) => Uint8Array.of(id, ...rest)),
          },
          // Cookie requests of the exact length cost a key derivation each: fewer of them.
          {
            weight: 1,
            arbitrary: fc
              .uint8Array({ minLength: 144, maxLength: 144 })
              .map((r) => Uint8Array.of(0x18, ...r)),
          },
        ),
        fc.boolean(),
        (data, fromPeer) => {
          a.handleDatagram(fromPeer ? from : stranger, data);
        },
      ),
      { numRuns: 100_000 },
    );
    const before = log.readReceipt.length;
    await a.sendMessage(b.publicKey, "after the storm");
    await waitUntil(() => log.readReceipt.length === before + 1, 3000, "receipt after fuzz");
    expect(log.friendMessage.at(-1)?.text).toBe("after the storm");
    expect(log.error).toEqual([]);
  }, 60_000);

  it("hosts many identities on one timer; removing one takes its friend offline", async () => {
    const node = await ToxNode.create({ host: "127.0.0.1", portRange: [34450, 34499] });
    nodes.push(node);
    const log = recordEvents(node);
    const pairs = 20;
    const ids: Identity[] = [];
    for (let i = 0; i < pairs * 2; i++)
      ids.push(await node.addIdentity({ secretKey: newKeyPair().secretKey, name: `user ${i}` }));
    expect(new Set(ids.map((i) => i.udpPort)).size).toBe(pairs * 2);
    for (let p = 0; p < pairs; p++) {
      const a = ids[2 * p]!;
      const b = ids[2 * p + 1]!;
      await b.addFriendNoRequest(a.publicKey);
      await a.connectFriendDirect(b.publicKey, b.dhtPublicKey, ipPort("127.0.0.1", b.udpPort));
    }
    await waitUntil(
      () => log.friendConnection.filter((e) => e.status === "udp").length === pairs * 2,
      10_000,
      "all pairs online",
    );
    for (let p = 0; p < pairs; p++) await ids[2 * p]!.sendMessage(ids[2 * p + 1]!.publicKey, `to pair ${p}`);
    await waitUntil(() => log.readReceipt.length === pairs, 5000, "all receipts");
    for (let p = 0; p < pairs; p++)
      expect(log.friendMessage.find((m) => m.identity === ids[2 * p + 1]!.publicKey)?.text).toBe(
        `to pair ${p}`,
      );

    const gone = ids[0]!;
    await node.removeIdentity(gone.publicKey);
    expect(node.identity(gone.publicKey)).toBeUndefined();
    expect(node.identities()).toHaveLength(pairs * 2 - 1);
    await waitUntil(
      () => log.friendConnection.some((e) => e.identity === ids[1]!.publicKey && e.status === "none"),
      5000,
      "friend of the removed identity goes offline",
    );
    // Adding the same secret key again gives a fresh, working identity.
    const back = await node.addIdentity({ secretKey: newKeyPair().secretKey });
    expect(node.identity(back.publicKey)).toBe(back);
  }, 30_000);

  it("an identity round-trips through a save file and reconnects from it", async () => {
    const { node, log, a, b } = await pair();
    await waitUntil(() => log.friendName.length >= 2, 3000, "names");
    await a.setStatus("busy");
    const saved = await a.getSavedata();
    await node.removeIdentity(a.publicKey);
    const again = await node.addIdentity({ savedata: saved });
    expect(again.publicKey).toBe(a.publicKey);
    expect(again.toxId).toBe(a.toxId);
    expect([again.name, again.statusMessage, again.status]).toEqual(["alice", "hi", "busy"]);
    const friends = await again.friends();
    expect(friends.map((f) => [f.publicKey, f.name, f.connection])).toEqual([[b.publicKey, "bob", "none"]]);
    expect(friends[0]!.lastSeen).toBeGreaterThan(0);
    const online = log.friendConnection.filter((e) => e.status === "udp").length;
    await again.connectFriendDirect(b.publicKey, b.dhtPublicKey, ipPort("127.0.0.1", b.udpPort));
    await waitUntil(
      () => log.friendConnection.filter((e) => e.status === "udp").length >= online + 2,
      5000,
      "back online",
    );
    await expect(node.addIdentity({})).rejects.toThrow(/secret key or a save file/);
    // Concurrent adds of one key give one identity.
    const key = newKeyPair().secretKey;
    const [x, y] = await Promise.all([
      node.addIdentity({ secretKey: key }),
      node.addIdentity({ secretKey: key }),
    ]);
    expect(x).toBe(y);
  });
});
