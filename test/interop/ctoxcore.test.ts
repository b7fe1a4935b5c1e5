/**
 * Proves the c-toxcore harness itself: real 0.2.18 peers on loopback find each other through a
 * local tox-bootstrapd, befriend by Tox ID, chat with read receipts, see names/status/typing, join a
 * conference, and a TCP-only peer reaches its friend through the daemon's TCP relay.
 * Ports: peers 34000–34039, daemons 34100–34119.
 */
import { afterEach, describe, expect, it } from "vitest";
import { bytesEqual } from "../../src/tox/bytes.js";
import { type Bootstrapd, startBootstrapd, startBootstrapNetwork } from "./bootstrapd.js";
import { CToxPeer, type CToxPeerOptions, ctoxVersion, liveCToxPeers, waitUntil } from "./ctoxcore.js";

const PEER_PORTS = { startPort: 34000, endPort: 34039 };

describe("c-toxcore harness", () => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  async function peer(opts: CToxPeerOptions = {}): Promise<CToxPeer> {
    const p = await CToxPeer.create({ ...PEER_PORTS, ...opts });
    cleanup.push(() => p.kill());
    return p;
  }

  async function daemon(port: number): Promise<Bootstrapd> {
    const d = await startBootstrapd({ port });
    cleanup.push(() => d.stop());
    return d;
  }

  it("loads libtoxcore 0.2.18; kill is idempotent and releases the instance", async () => {
    expect(ctoxVersion()).toBe("0.2.18");
    const before = liveCToxPeers();
    const p = await CToxPeer.create(PEER_PORTS);
    expect(p.address).toHaveLength(38);
    expect(p.addressHex).toMatch(/^[0-9A-F]{76}$/);
    expect(bytesEqual(p.address.subarray(0, 32), p.publicKey)).toBe(true);
    expect(bytesEqual(p.dhtId, p.publicKey)).toBe(false);
    expect(p.udpPort).toBeGreaterThanOrEqual(34000);
    expect(liveCToxPeers()).toBe(before + 1);
    p.kill();
    p.kill();
    expect(p.alive).toBe(false);
    expect(liveCToxPeers()).toBe(before);
    expect(() => p.setName("x")).toThrow(/already killed/);
  });

  it("reloads its own savedata with the same identity, name and friends", async () => {
    const a = await peer({ name: "saver" });
    const friendPk = (await peer()).publicKey;
    a.friendAddNoRequest(friendPk);
    const saved = a.getSavedata();
    const nospam = a.nospam;
    a.kill();
    const b = await peer({ savedata: saved });
    expect(b.publicKeyHex).toBe(a.publicKeyHex);
    expect(b.nospam).toBe(nospam);
    expect(b.friendByPublicKey(friendPk)).toBe(0);
    expect(b.getSavedata()).toHaveLength(saved.length);
  });

  it("reports failed calls as CToxError and captures c-toxcore's warnings when asked", async () => {
    const a = await peer({ startPort: 34030, endPort: 34039 });
    expect(() => a.sendMessage(7, "nobody")).toThrow(/tox_friend_send_message failed with error code 2/);
    expect(a.friendByPublicKey(new Uint8Array(32).fill(1))).toBeUndefined();
    // A second instance pinned to the same port cannot bind: c-toxcore logs a warning, tox_new fails.
    const logged = await CToxPeer.create({ startPort: a.udpPort, endPort: a.udpPort, log: true }).catch(
      (e: Error) => e,
    );
    expect(logged).toBeInstanceOf(Error);
    expect((logged as Error).message).toMatch(/tox_new failed with error code 3/);
    expect((logged as Error).message).toMatch(/failed to bind socket/);
  });

  it("two UDP peers bootstrap via tox-bootstrapd, befriend by Tox ID, chat with read receipts, see name/status/typing, share a conference", async () => {
    const d = await daemon(34100);
    const alice = await peer({ name: "Alice", statusMessage: "around" });
    const bob = await peer({ name: "Bob" });
    // A throwing listener must not unwind through C: it comes back as an 'error' event.
    const errors: unknown[] = [];
    alice.on("error", (e) => errors.push(e));
    alice.once("selfConnectionStatus", () => {
      throw new Error("listener blew up");
    });
    for (const p of [alice, bob]) p.bootstrap(d.host, d.port, d.publicKey);

    const requests: Array<[Uint8Array, string]> = [];
    let bobsAlice = -1;
    bob.on("friendRequest", (pk, msg) => {
      requests.push([pk, msg]);
      bobsAlice = bob.friendAddNoRequest(pk);
    });
    const bobNames: string[] = [];
    bob.on("friendName", (_f, n) => bobNames.push(n));
    const bobStatusMessages: string[] = [];
    bob.on("friendStatusMessage", (_f, m) => bobStatusMessages.push(m));
    const alicesBob = alice.friendAdd(bob.addressHex, "hi Bob, it's Alice");

    await waitUntil(
      () =>
        bobsAlice >= 0 &&
        alice.friendConnectionStatus(alicesBob) === "udp" &&
        bob.friendConnectionStatus(bobsAlice) === "udp",
      30_000,
      "friend request, accept and UDP connection",
    );
    expect(errors.map(String)).toEqual(["Error: listener blew up"]);
    expect(requests).toHaveLength(1);
    expect(bytesEqual(requests[0]![0], alice.publicKey)).toBe(true);
    expect(requests[0]![1]).toBe("hi Bob, it's Alice");

    const bobGot: string[] = [];
    bob.on("friendMessage", (f, type, text) => bobGot.push(`${f}/${type}/${text}`));
    const receipts: number[] = [];
    alice.on("friendReadReceipt", (f, id) => f === alicesBob && receipts.push(id));
    const id1 = alice.sendMessage(alicesBob, "hello Bob 👋");
    const id2 = alice.sendMessage(alicesBob, "waves", "action");
    await waitUntil(() => receipts.length >= 2 && bobGot.length >= 2, 5000, "messages and receipts");
    expect(bobGot).toEqual([`${bobsAlice}/normal/hello Bob 👋`, `${bobsAlice}/action/waves`]);
    expect(receipts).toEqual([id1, id2]);

    await waitUntil(() => bobNames.includes("Alice") && bobStatusMessages.includes("around"), 5000, "name");
    expect(bob.friendName(bobsAlice)).toBe("Alice");
    expect(alice.friendName(alicesBob)).toBe("Bob");

    const statuses: string[] = [];
    alice.on("friendStatus", (_f, s) => statuses.push(s));
    const typing: boolean[] = [];
    alice.on("friendTyping", (_f, t) => typing.push(t));
    bob.setStatus("away");
    bob.setTyping(bobsAlice, true);
    bob.setName("Robert");
    const aliceNames: string[] = [];
    alice.on("friendName", (_f, n) => aliceNames.push(n));
    await waitUntil(
      () => statuses.includes("away") && typing.includes(true) && aliceNames.includes("Robert"),
      5000,
      "status, typing and rename",
    );

    // Custom lossless packets ride the same session (other helpers' messenger tests use them).
    const custom: Uint8Array[] = [];
    bob.on("friendLosslessPacket", (_f, data) => custom.push(data));
    alice.sendLosslessPacket(alicesBob, Uint8Array.of(170, 1, 2, 3));
    await waitUntil(() => custom.length > 0, 5000, "custom lossless packet");
    expect([...custom[0]!]).toEqual([170, 1, 2, 3]);

    // Conference: Alice creates and invites, Bob joins with the cookie, both exchange a message.
    const conf = alice.conferenceNew();
    let bobConf = -1;
    bob.on("conferenceInvite", (f, type, cookie) => {
      expect(type).toBe("text");
      bobConf = bob.conferenceJoin(f, cookie);
    });
    const bobConfMessages: string[] = [];
    bob.on("conferenceMessage", (_c, _p, _t, text) => bobConfMessages.push(text));
    alice.conferenceInvite(alicesBob, conf);
    await waitUntil(
      () => bobConf >= 0 && alice.conferencePeerCount(conf) === 2 && bob.conferencePeerCount(bobConf) === 2,
      10_000,
      "conference join",
    );
    expect(bytesEqual(alice.conferenceId(conf), bob.conferenceId(bobConf))).toBe(true);
    alice.conferenceSendMessage(conf, "hello room");
    await waitUntil(() => bobConfMessages.includes("hello room"), 5000, "conference message");
  }, 60_000);

  it("a TCP-only peer reaches its friend through the bootstrapd TCP relay", async () => {
    // TCP-only clients build onion paths from bootstrap nodes: they need at least three of them.
    const nodes = await startBootstrapNetwork(3, 34110);
    cleanup.push(() => Promise.all(nodes.map((n) => n.stop())));
    const udpPeer = await peer({ name: "on UDP" });
    const tcpPeer = await peer({ udp: false, name: "TCP only" });
    expect(tcpPeer.udpPort).toBe(0);
    for (const n of nodes) {
      udpPeer.bootstrap(n.host, n.port, n.publicKey);
      tcpPeer.bootstrap(n.host, n.port, n.publicKey);
    }
    tcpPeer.addTcpRelay(nodes[0]!.host, nodes[0]!.tcpPort, nodes[0]!.publicKey);

    let udpSideFriend = -1;
    udpPeer.on("friendRequest", (pk) => {
      udpSideFriend = udpPeer.friendAddNoRequest(pk);
    });
    const tcpSideFriend = tcpPeer.friendAdd(udpPeer.address, "over TCP");
    await waitUntil(
      () =>
        udpSideFriend >= 0 &&
        tcpPeer.friendConnectionStatus(tcpSideFriend) !== "none" &&
        udpPeer.friendConnectionStatus(udpSideFriend) !== "none",
      45_000,
      "TCP-only friend connection",
    );
    expect(tcpPeer.selfConnectionStatus()).toBe("tcp");
    expect(tcpPeer.friendConnectionStatus(tcpSideFriend)).toBe("tcp");

    const got: string[] = [];
    udpPeer.on("friendMessage", (_f, _t, m) => got.push(m));
    const receipts: number[] = [];
    tcpPeer.on("friendReadReceipt", (_f, id) => receipts.push(id));
    const id = tcpPeer.sendMessage(tcpSideFriend, "through the relay");
    await waitUntil(() => receipts.includes(id), 10_000, "relayed message read receipt");
    expect(got).toEqual(["through the relay"]);
  }, 90_000);
});
