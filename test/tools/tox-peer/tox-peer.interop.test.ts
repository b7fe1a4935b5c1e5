/**
 * End to end: `tox-bridge tox-peer` processes on loopback, bootstrapped to a real tox-bootstrapd,
 * befriend each other by Tox ID alone (onion friend requests), chat with read receipts, see
 * names, and find each other again after a restart from the --save profile (new DHT key).
 * Also against c-toxcore 0.2.18 peers (in this process, through koffi), both request directions,
 * and TCP-only (--udp off --tcp-relay).
 * Ports: daemons 36100-36105, tox-peers 36110-36119, c-toxcore peers 36120-36139.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromHex, toHex } from "../../../src/tox/index.js";
import { type Bootstrapd, startBootstrapNetwork } from "../../interop/bootstrapd.js";
import { CToxPeer, nextEvent, waitUntil } from "../../interop/ctoxcore.js";
import { ToxPeerProcess } from "./peer-process.js";

/** Three daemons: onion paths need three distinct nodes. */
let daemons: Bootstrapd[] = [];
let dir: string;
const running: ToxPeerProcess[] = [];
const cPeers: CToxPeer[] = [];

beforeAll(async () => {
  daemons = await startBootstrapNetwork(3, 36100);
  dir = await mkdtemp(join(tmpdir(), "toxbridge-toxpeer-e2e-"));
}, 20_000);
afterAll(async () => {
  // Tests quit their own peers; this catches the ones a failed test left behind.
  for (const p of running.splice(0)) p.kill();
  for (const c of cPeers.splice(0)) c.kill();
  await Promise.all(daemons.map((d) => d.stop()));
  await rm(dir, { recursive: true, force: true });
}, 20_000);

function peer(label: string, port: number, extra: string[] = []): ToxPeerProcess {
  const p = new ToxPeerProcess(label, [
    "--port",
    String(port),
    ...daemons.flatMap((d) => ["--bootstrap", `${d.host}:${d.port}:${d.publicKeyHex}`]),
    ...extra,
  ]);
  running.push(p);
  return p;
}

// Concurrent: the tests wait on the network (onion announces take seconds), not on the CPU, and
// use disjoint ports and files.
describe.concurrent("tox-peer processes", () => {
  it("befriend by Tox ID, chat with receipts, names; restart keeps Tox ID and friends", async () => {
    const aliceSave = join(dir, "alice.tox");
    let alice = peer("alice", 36110, ["--save", aliceSave]);
    const bob = peer("bob", 36111);
    const aliceReady = await alice.waitFor("READY", () => true, 15_000);
    const bobReady = await bob.waitFor("READY", () => true, 15_000);
    await alice.waitFor("SAVED"); // a new profile is written at once
    const aliceId = aliceReady.fields.toxid!;
    const alicePk = aliceId.slice(0, 64).toLowerCase();
    const bobPk = bobReady.fields.toxid!.slice(0, 64).toLowerCase();
    expect(aliceReady.fields.port).toBe("36110");

    await bob.waitFor("SELF_CONNECTION", (l) => l.words[0] === "udp", 30_000);
    expect(
      (await alice.command(`add ${bobReady.fields.toxid} hi bob\\nit's alice`, "FRIEND_ADDED")).fields,
    ).toEqual({
      n: "0",
      pk: bobPk,
    });
    const request = await bob.waitFor("FRIEND_REQUEST", () => true, 40_000);
    expect(request.fields).toEqual({ pk: alicePk, msg: "hi bob\nit's alice" });
    expect((await bob.command(`accept ${alicePk}`, "FRIEND_ADDED")).fields).toEqual({ n: "0", pk: alicePk });
    await alice.waitFor("FRIEND_CONNECTION", (l) => l.fields.n === "0" && l.words[0] !== "none", 40_000);
    await bob.waitFor("FRIEND_CONNECTION", (l) => l.fields.n === "0" && l.words[0] !== "none", 40_000);

    const sent = await alice.command("msg 0 hello \\\\ world\\nline two", "SENT");
    const got = await bob.waitFor("FRIEND_MESSAGE", () => true, 10_000);
    expect(got.fields).toEqual({ n: "0", type: "normal", text: "hello \\ world\nline two" });
    await alice.waitFor("READ_RECEIPT", (l) => l.fields.id === sent.fields.id && l.fields.n === "0", 10_000);
    await bob.command("action 0 waves", "SENT");
    expect((await alice.waitFor("FRIEND_MESSAGE", () => true, 10_000)).fields).toEqual({
      n: "0",
      type: "action",
      text: "waves",
    });
    await bob.command("name Bob B.", "OK");
    expect((await alice.waitFor("FRIEND_NAME", (l) => l.fields.name !== "", 10_000)).fields).toEqual({
      n: "0",
      name: "Bob B.",
    });

    // Restart alice from her profile: same Tox ID, bob still friend 0, and they reconnect
    // although alice's DHT key is new.
    expect(await alice.quit()).toBe(0);
    alice = peer("alice2", 36112, ["--save", aliceSave]);
    const again = await alice.waitFor("READY", () => true, 15_000);
    expect(again.fields.toxid).toBe(aliceId);
    expect(again.fields.dht).not.toBe(aliceReady.fields.dht);
    const from = alice.lines.length;
    alice.send("friends");
    const listed = await alice.waitFor("FRIEND", () => true, 5_000, from);
    expect(listed.fields).toMatchObject({ n: "0", pk: bobPk, name: "Bob B." });
    await alice.waitFor("FRIEND_CONNECTION", (l) => l.fields.n === "0" && l.words[0] !== "none", 60_000);
    const sent2 = await alice.command("msg 0 back again", "SENT");
    expect(
      (await bob.waitFor("FRIEND_MESSAGE", (l) => l.fields.text === "back again", 10_000)).fields.n,
    ).toBe("0");
    await alice.waitFor("READ_RECEIPT", (l) => l.fields.id === sent2.fields.id, 10_000);
    expect(await alice.quit()).toBe(0);
    expect(await bob.quit()).toBe(0);
  }, 180_000);

  async function cPeer(label: string, port: number): Promise<CToxPeer> {
    const c = await CToxPeer.create({ startPort: port, endPort: port, label });
    cPeers.push(c);
    for (const d of daemons) c.bootstrap(d.host, d.port, d.publicKey);
    return c;
  }

  it("with c-toxcore: requests both ways, messages both ways with receipts, names", async () => {
    const save = join(dir, "ours.tox");
    let ours = peer("ours", 36113, ["--save", save]);
    const ready = await ours.waitFor("READY", () => true, 15_000);
    const ourPk = ready.fields.toxid!.slice(0, 64).toLowerCase();
    const carol = await cPeer("carol", 36120);
    const dave = await cPeer("dave", 36121);

    // c-toxcore -> us: carol adds our Tox ID; we accept.
    const carolFriend = carol.friendAdd(ready.fields.toxid!, "hi from c-toxcore");
    const req = await ours.waitFor("FRIEND_REQUEST", () => true, 40_000);
    expect(req.fields).toEqual({ pk: carol.publicKeyHex, msg: "hi from c-toxcore" });
    expect((await ours.command(`accept ${carol.publicKeyHex}`, "FRIEND_ADDED")).fields.n).toBe("0");
    await ours.waitFor("FRIEND_CONNECTION", (l) => l.fields.n === "0" && l.words[0] !== "none", 40_000);
    await waitUntil(
      () => carol.friendConnectionStatus(carolFriend) !== "none",
      20_000,
      "carol sees us online",
    );
    const carolGets = nextEvent(carol, "friendMessage", 10_000);
    const sent = await ours.command("msg 0 hello carol", "SENT");
    const [, type, text] = await carolGets;
    expect([type, text]).toEqual(["normal", "hello carol"]);
    await ours.waitFor("READ_RECEIPT", (l) => l.fields.n === "0" && l.fields.id === sent.fields.id, 10_000);
    carol.sendMessage(carolFriend, "bye now", "action");
    expect((await ours.waitFor("FRIEND_MESSAGE", () => true, 10_000)).fields).toEqual({
      n: "0",
      type: "action",
      text: "bye now",
    });

    // us -> c-toxcore: we add dave's Tox ID; dave accepts.
    dave.on("friendRequest", (pk) => {
      if (toHex(pk) === ourPk) dave.friendAddNoRequest(pk);
    });
    expect((await ours.command(`add ${dave.addressHex} hi dave`, "FRIEND_ADDED")).fields.n).toBe("1");
    await ours.waitFor("FRIEND_CONNECTION", (l) => l.fields.n === "1" && l.words[0] !== "none", 40_000);
    dave.setName("Dave D.");
    expect(
      (await ours.waitFor("FRIEND_NAME", (l) => l.fields.n === "1" && l.fields.name !== "", 10_000)).fields,
    ).toEqual({
      n: "1",
      name: "Dave D.",
    });
    const daveFriend = dave.friendByPublicKey(fromHex(ourPk));
    const daveSeesName = nextEvent(
      dave,
      "friendName",
      10_000,
      (f, name) => f === daveFriend && name === "Ours",
    );
    await ours.command("name Ours", "OK");
    await daveSeesName;

    // Restart from the profile: same Tox ID and friend numbers; carol (c-toxcore) finds our new
    // DHT key through the onion and a message goes through with its receipt.
    expect(await ours.quit()).toBe(0);
    ours = peer("ours2", 36115, ["--save", save]);
    const again = await ours.waitFor("READY", () => true, 15_000);
    expect(again.fields.toxid).toBe(ready.fields.toxid);
    const from = ours.lines.length;
    ours.send("friends");
    await ours.waitFor("FRIENDS", () => true, 5_000, from);
    expect(
      ours.lines
        .slice(from)
        .filter((l) => l.tag === "FRIEND")
        .map((l) => [l.fields.n, l.fields.pk]),
    ).toEqual([
      ["0", carol.publicKeyHex],
      ["1", dave.publicKeyHex],
    ]);
    await ours.waitFor("FRIEND_CONNECTION", (l) => l.fields.n === "0" && l.words[0] !== "none", 60_000);
    const carolGetsAgain = nextEvent(carol, "friendMessage", 10_000, (_f, _t, m) => m === "still me");
    const sent2 = await ours.command("msg 0 still me", "SENT");
    await carolGetsAgain;
    await ours.waitFor("READ_RECEIPT", (l) => l.fields.n === "0" && l.fields.id === sent2.fields.id, 10_000);
    expect(await ours.quit()).toBe(0);
  }, 180_000);

  it("TCP only (--udp off) through tox-bootstrapd's relay to a c-toxcore peer", async () => {
    const relay = daemons[0]!;
    const ours = peer("ours-tcp", 36114, [
      "--udp",
      "off",
      "--tcp-relay",
      `${relay.host}:${relay.tcpPort}:${relay.publicKeyHex}`,
    ]);
    const ready = await ours.waitFor("READY", () => true, 15_000);
    await ours.command("autoaccept on", "OK");
    const erin = await cPeer("erin", 36122);
    const erinFriend = erin.friendAdd(ready.fields.toxid!, "over tcp?");
    await ours.waitFor("SELF_CONNECTION", (l) => l.words[0] === "tcp", 40_000);
    await ours.waitFor("FRIEND_REQUEST", () => true, 40_000);
    await ours.waitFor("FRIEND_CONNECTION", (l) => l.fields.n === "0" && l.words[0] === "tcp", 40_000);
    await waitUntil(() => erin.friendConnectionStatus(erinFriend) !== "none", 10_000, "erin sees us");
    const erinGets = nextEvent(erin, "friendMessage", 10_000);
    const sent = await ours.command("msg 0 via relay", "SENT");
    expect((await erinGets)[2]).toBe("via relay");
    await ours.waitFor("READ_RECEIPT", (l) => l.fields.id === sent.fields.id, 10_000);
    expect(await ours.quit()).toBe(0);
  }, 180_000);
});
