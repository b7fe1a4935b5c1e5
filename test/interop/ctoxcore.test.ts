/**
 * Proves the c-toxcore harness itself: real 0.2.18 peers on loopback find each other through a
 * local tox-bootstrapd, befriend by Tox ID, chat with read receipts, see names/status/typing, join a
 * conference, and a TCP-only peer reaches its friend through the daemon's TCP relay.
 * Ports: peers 34000–34039, daemons 34100–34119. The three network tests run concurrently.
 */
import koffi from "koffi";
import { describe, expect, it, type TestContext } from "vitest";
import { bytesEqual } from "../../src/tox/bytes.js";
import { type Bootstrapd, startBootstrapd, startBootstrapNetwork } from "./bootstrapd.js";
import {
  befriend,
  CToxPeer,
  type CToxPeerOptions,
  ctoxVersion,
  liveCToxPeers,
  nextEvent,
  waitUntil,
} from "./ctoxcore.js";

const PEER_PORTS = { startPort: 34000, endPort: 34039 };

/** Per-test owner of peers and daemons, so network tests can run concurrently. */
class Scope {
  private readonly disposers: Array<() => unknown> = [];
  async peer(opts: CToxPeerOptions = {}): Promise<CToxPeer> {
    const p = await CToxPeer.create({ ...PEER_PORTS, ...opts });
    this.disposers.push(() => p.kill());
    return p;
  }
  async daemon(port: number): Promise<Bootstrapd> {
    const d = await startBootstrapd({ port });
    this.disposers.push(() => d.stop());
    return d;
  }
  async network(count: number, basePort: number): Promise<Bootstrapd[]> {
    const nodes = await startBootstrapNetwork(count, basePort);
    this.disposers.push(() => Promise.all(nodes.map((n) => n.stop())));
    return nodes;
  }
  async dispose(): Promise<void> {
    for (const f of this.disposers.splice(0).reverse()) await f();
  }
}

/** The scope's helpers as free functions (so tests can destructure them). */
function bind(scope: Scope) {
  return {
    peer: scope.peer.bind(scope),
    daemon: scope.daemon.bind(scope),
    network: scope.network.bind(scope),
  };
}

function scoped(onTestFinished: TestContext["onTestFinished"]): Scope {
  const scope = new Scope();
  onTestFinished(() => scope.dispose());
  return scope;
}

describe("c-toxcore harness", () => {
  it("loads libtoxcore 0.2.18; kill is idempotent and frees the instance and koffi callback slots", async () => {
    expect(ctoxVersion()).toBe("0.2.18");
    const before = liveCToxPeers();
    const slotsBefore = koffi.stats().callbacks;
    const p = await CToxPeer.create(PEER_PORTS);
    expect(p.address).toHaveLength(38);
    expect(p.addressHex).toMatch(/^[0-9A-F]{76}$/);
    expect(bytesEqual(p.address.subarray(0, 32), p.publicKey)).toBe(true);
    expect(bytesEqual(p.dhtId, p.publicKey)).toBe(false);
    expect(p.udpPort).toBeGreaterThanOrEqual(34000);
    expect(liveCToxPeers()).toBe(before + 1);
    expect(koffi.stats().callbacks).toBeGreaterThan(slotsBefore);
    p.kill();
    p.kill();
    expect(p.alive).toBe(false);
    expect(liveCToxPeers()).toBe(before);
    // Shared trampolines go when the last peer of the process goes.
    if (before === 0) expect(koffi.stats().callbacks).toBe(slotsBefore);
    expect(() => p.setName("x")).toThrow(/already killed/);
  });

  it("reloads its own savedata with the same identity, name and friends", async ({ onTestFinished }) => {
    const { peer } = bind(scoped(onTestFinished));
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
    expect(b.friendList()).toEqual([0]);
    expect(b.getSavedata()).toHaveLength(saved.length);
    const fixed = await peer({ secretKey: a.secretKey });
    expect(fixed.publicKeyHex).toBe(a.publicKeyHex);
    expect(fixed.friendList()).toEqual([]);
  });

  it("reports failed calls as CToxError and captures c-toxcore's warnings when asked", async ({
    onTestFinished,
  }) => {
    const { peer } = bind(scoped(onTestFinished));
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

  // The network tests wait ~10 s each for c-toxcore's timers: run them side by side.
  it.concurrent("two UDP peers bootstrap via tox-bootstrapd, befriend by Tox ID, chat with read receipts, see name/status/typing, send a file, share a conference", async ({
    onTestFinished,
  }) => {
    const { peer, daemon } = bind(scoped(onTestFinished));
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
      bobsAlice = bob.friendByPublicKey(pk) ?? bob.friendAddNoRequest(pk);
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
      45_000,
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
    await waitUntil(() => receipts.length >= 2 && bobGot.length >= 2, 15_000, "messages and receipts");
    expect(bobGot).toEqual([`${bobsAlice}/normal/hello Bob 👋`, `${bobsAlice}/action/waves`]);
    expect(receipts).toEqual([id1, id2]);

    await waitUntil(() => bobNames.includes("Alice") && bobStatusMessages.includes("around"), 15_000, "name");
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
      15_000,
      "status, typing and rename",
    );

    // Custom lossless packets ride the same session (other helpers' messenger tests use them).
    const custom: Uint8Array[] = [];
    bob.on("friendLosslessPacket", (_f, data) => custom.push(data));
    alice.sendLosslessPacket(alicesBob, Uint8Array.of(170, 1, 2, 3));
    await waitUntil(() => custom.length > 0, 15_000, "custom lossless packet");
    expect([...custom[0]!]).toEqual([170, 1, 2, 3]);

    // File transfer: Bob accepts Alice's offer, Alice serves the chunks Bob's side asks for.
    const file = new Uint8Array(100_000).map((_, i) => (i * 7) & 0xff);
    const received = new Uint8Array(file.length);
    let receivedBytes = 0;
    bob.on("fileRecv", (f, n, kind, size, name) => {
      expect([kind, size, name]).toEqual([0, file.length, "data.bin"]);
      bob.fileControl(f, n, "resume");
    });
    bob.on("fileRecvChunk", (_f, _n, pos, data) => {
      received.set(data, pos);
      receivedBytes += data.length;
    });
    alice.on("fileChunkRequest", (f, n, pos, len) => {
      if (len > 0) alice.fileSendChunk(f, n, pos, file.subarray(pos, pos + len));
    });
    alice.fileSend(alicesBob, file.length, "data.bin");
    await waitUntil(() => receivedBytes >= file.length, 20_000, "file transfer");
    expect(bytesEqual(received, file)).toBe(true);

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
      20_000,
      "conference join",
    );
    expect(bytesEqual(alice.conferenceId(conf), bob.conferenceId(bobConf))).toBe(true);
    alice.conferenceSendMessage(conf, "hello room");
    await waitUntil(() => bobConfMessages.includes("hello room"), 15_000, "conference message");
  }, 120_000);

  it.concurrent("routes callbacks of many concurrent peers to the right instance", async ({
    onTestFinished,
  }) => {
    const { peer } = bind(scoped(onTestFinished));
    const pairs = await Promise.all(
      [0, 1, 2].map(async (i) => {
        const a = await peer({ label: `a${i}`, iterateEveryMs: 10 });
        const b = await peer({ label: `b${i}`, iterateEveryMs: 10 });
        a.bootstrapToPeer(b);
        b.bootstrapToPeer(a);
        return { a, b, i };
      }),
    );
    const inbox = new Map<string, string[]>();
    for (const { b } of pairs) {
      inbox.set(b.label, []);
      b.on("friendMessage", (_f, _t, m) => inbox.get(b.label)!.push(m));
    }
    await Promise.all(
      pairs.map(async ({ a, b, i }) => {
        const { aFriend } = await befriend(a, b, { timeoutMs: 45_000 });
        a.sendMessage(aFriend, `to b${i} from a${i}`);
      }),
    );
    await waitUntil(() => [...inbox.values()].every((m) => m.length > 0), 15_000, "one message per pair");
    for (const { i } of pairs) expect(inbox.get(`b${i}`)).toEqual([`to b${i} from a${i}`]);
  }, 90_000);

  it.concurrent("a TCP-only peer reaches its friend through the bootstrapd TCP relay", async ({
    onTestFinished,
  }) => {
    const { peer, network } = bind(scoped(onTestFinished));
    // TCP-only clients build onion paths from bootstrap nodes: they need at least three of them.
    const nodes = await network(3, 34110);
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
      udpSideFriend = udpPeer.friendByPublicKey(pk) ?? udpPeer.friendAddNoRequest(pk);
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

    const got = nextEvent(udpPeer, "friendMessage", 15_000);
    const receipt = nextEvent(tcpPeer, "friendReadReceipt", 15_000);
    const id = tcpPeer.sendMessage(tcpSideFriend, "through the relay");
    expect(await got).toEqual([udpSideFriend, "normal", "through the relay"]);
    expect(await receipt).toEqual([tcpSideFriend, id]);
  }, 120_000);
});
