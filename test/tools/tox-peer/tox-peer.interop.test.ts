/**
 * End to end: `tox-bridge tox-peer` processes on loopback, bootstrapped to a real tox-bootstrapd,
 * befriend each other by Tox ID alone (onion friend requests), chat with read receipts, see
 * names, and find each other again after a restart from the --save profile (new DHT key).
 * Ports: daemons 36100-36105, tox-peers 36110-36119.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Bootstrapd, startBootstrapNetwork } from "../../interop/bootstrapd.js";
import { ToxPeerProcess } from "./peer-process.js";

/** Three daemons: onion paths need three distinct nodes. */
let daemons: Bootstrapd[] = [];
let dir: string;
const running: ToxPeerProcess[] = [];

beforeAll(async () => {
  daemons = await startBootstrapNetwork(3, 36100);
  dir = await mkdtemp(join(tmpdir(), "toxbridge-toxpeer-e2e-"));
}, 20_000);
afterEach(() => {
  for (const p of running.splice(0)) p.kill();
});
afterAll(async () => {
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

describe("tox-peer processes", () => {
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
    await alice.waitFor("FRIEND_CONNECTION", (l) => l.fields.n === "0" && l.words[0] !== "none", 40_000);
    const sent2 = await alice.command("msg 0 back again", "SENT");
    expect(
      (await bob.waitFor("FRIEND_MESSAGE", (l) => l.fields.text === "back again", 10_000)).fields.n,
    ).toBe("0");
    await alice.waitFor("READ_RECEIPT", (l) => l.fields.id === sent2.fields.id, 10_000);
    expect(await alice.quit()).toBe(0);
    expect(await bob.quit()).toBe(0);
  }, 120_000);
});
