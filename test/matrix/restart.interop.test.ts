/**
 * Durable store-and-forward across a hard crash: a Matrix message for a Tox friend who is gone is
 * acknowledged to the homeserver only once it is in the outbox; the bridge process is then
 * SIGKILLed, restarted, the friend (a real c-toxcore, restored from its save file) comes back,
 * and the message arrives exactly once, with the ghost's read receipt on the Matrix event.
 * Ports: bridge Tox 35440-35449, C peer 35560-35599.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { ghostUserId } from "../../src/matrix/ids.js";
import { fromHex, toHex } from "../../src/tox/index.js";
import { startHomeserver } from "../helpers/homeserver/index.js";
import { CToxPeer, waitUntil } from "../interop/ctoxcore.js";
import { pgliteTemplate, TEST_KEY } from "../store/backends.js";
import { testRegistration } from "./bridge-harness.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CHILD = fileURLToPath(new URL("./fixtures/bridge-child.ts", import.meta.url));
const names = { domain: "localhost", botLocalpart: "toxbot", userPrefix: "_tox_" };

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

interface Child {
  proc: ChildProcess;
  port: number;
  exited: Promise<unknown>;
  output: () => string;
}

async function startChild(env: Record<string, string>): Promise<Child> {
  const proc = spawn(process.execPath, ["--import", "tsx", CHILD], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  cleanup.push(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  });
  let out = "";
  proc.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise((resolve) => proc.on("exit", resolve));
  const ready = () => /\{"ready":true,"port":(\d+)\}/.exec(out);
  await waitUntil(
    () => {
      if (ready() === null && proc.exitCode !== null) throw new Error(`bridge child exited:\n${out}`);
      return ready() !== null;
    },
    60_000,
    "the bridge child's ready line",
    50,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${out}`);
  });
  return { proc, port: Number(ready()![1]), exited, output: () => out };
}

describe("bridge killed with SIGKILL and restarted", () => {
  it("delivers a message queued for a gone friend exactly once after the restart", async () => {
    const dir = await mkdtemp(join(tmpdir(), "toxbridge-restart-"));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    await cp(await pgliteTemplate(), join(dir, "data"), { recursive: true });
    const peerFile = join(dir, "peer.json");
    const hs = await startHomeserver({ registration: testRegistration(), startPaused: true });
    cleanup.push(() => hs.close());
    const env = {
      DATA_DIR: join(dir, "data"),
      ENCRYPTION_KEY: TEST_KEY,
      HS_URL: hs.url,
      TOX_PORT: "35440",
      PEER_FILE: peerFile,
    };
    const writePeer = (c: CToxPeer) =>
      writeFile(
        peerFile,
        JSON.stringify({ publicKey: c.publicKeyHex, dhtId: toHex(c.dhtId), port: c.udpPort }),
      );

    let c = await CToxPeer.create({ startPort: 35560, endPort: 35599, name: "Carol", label: "c" });
    cleanup.push(() => c.kill());
    await writePeer(c);
    let child = await startChild(env);
    hs.setAppserviceUrl(`http://127.0.0.1:${child.port}`);

    const alice = hs.asUser(hs.createUser("alice"));
    const botRoom = await alice.createDirectRoom(hs.botUserId);
    await hs.waitForMembership(botRoom, hs.botUserId, "join", { timeoutMs: 10_000 });
    await alice.sendMessage(botRoom, "create");
    const created = await hs.waitForMessage(
      { roomId: botRoom, body: /Your Tox ID: / },
      { timeoutMs: 10_000 },
    );
    const ourPk = /Your Tox ID: ([0-9A-F]{64})/.exec(String(created.content.body))![1]!;
    await alice.sendMessage(botRoom, `add ${c.addressHex}`);
    await hs.waitForMessage({ roomId: botRoom, body: /Friend request sent/ }, { timeoutMs: 10_000 });
    let friendNo = c.friendAddNoRequest(fromHex(ourPk));
    await waitUntil(() => c.friendConnectionStatus(friendNo) === "udp", 15_000, "C connected to the bridge");

    const ghost = ghostUserId(names, c.publicKeyHex.toLowerCase());
    c.sendMessage(friendNo, "hello");
    const hello = await hs.waitForMessage({ sender: ghost, body: "hello" }, { timeoutMs: 10_000 });
    const room = hello.room_id;
    await alice.join(room);

    // Carol is gone (her client quits); Alice writes anyway. Acknowledged = persisted.
    const saved = c.getSavedata();
    c.kill();
    await rm(peerFile, { force: true });
    const eventId = await alice.sendMessage(room, "while you were away");
    await hs.pushIdle();

    child.proc.kill("SIGKILL");
    await child.exited;
    child = await startChild(env);
    hs.setAppserviceUrl(`http://127.0.0.1:${child.port}`);

    c = await CToxPeer.create({ startPort: 35560, endPort: 35599, savedata: saved, label: "c2" });
    const got: string[] = [];
    c.on("friendMessage", (_f, _type, text) => got.push(text));
    friendNo = c.friendByPublicKey(fromHex(ourPk))!;
    await writePeer(c);
    await waitUntil(
      () => got.includes("while you were away"),
      30_000,
      "the queued message after the restart",
    );
    await waitUntil(
      () => hs.state.receipts.some((r) => r.userId === ghost && r.eventId === eventId),
      10_000,
      "the ghost's read receipt",
    );
    // Give a duplicate every chance to show up.
    await new Promise((r) => setTimeout(r, 1500));
    expect(got).toEqual(["while you were away"]);
    expect(c.friendConnectionStatus(friendNo)).toBe("udp");
  }, 120_000);
});
