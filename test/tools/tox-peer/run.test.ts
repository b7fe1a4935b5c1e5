import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type PeerEventSink, runToxPeer, type ToxPeerIo } from "../../../src/tools/tox-peer/run.js";
import { newKeyPair, serializeSaveData } from "../../../src/tox/index.js";
import { FakeBackend } from "./fake-backend.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "toxbridge-toxpeer-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function harness() {
  const stdin = new PassThrough();
  let out = "";
  let err = "";
  const backend = new FakeBackend();
  let sink: PeerEventSink | undefined;
  let closed = 0;
  let loadedSave: unknown;
  const io: ToxPeerIo = {
    stdin,
    stdout: (t) => {
      out += t;
    },
    stderr: (t) => {
      err += t;
    },
    cwd: dir,
    openBackend: async (_opts, save, events) => {
      loadedSave = save;
      sink = events;
      // An event before READY must come out after it.
      events.selfConnection("none");
      return {
        backend,
        close: async () => {
          closed++;
        },
      };
    },
  };
  return {
    io,
    stdin,
    backend,
    out: () => out,
    err: () => err,
    sink: () => sink!,
    closed: () => closed,
    loadedSave: () => loadedSave,
  };
}

describe("runToxPeer", () => {
  it("--help and usage errors", async () => {
    const h = harness();
    expect(await runToxPeer(["--help"], h.io)).toBe(0);
    expect(h.out()).toContain("Usage: tox-bridge tox-peer");
    expect(await runToxPeer(["--port", "x", "--udp", "no"], h.io)).toBe(2);
    expect(h.err()).toContain('--port: must be 1-65535, got "x"');
    expect(h.err()).toContain('--udp: must be "on" or "off"');
    expect(await readdir(dir)).toEqual([]);
  });

  it("serves commands in order until quit, then closes the identity", async () => {
    const h = harness();
    const done = runToxPeer([], h.io);
    h.stdin.write("id\nname Zed\nbogus\n");
    h.stdin.write("quit\nid\n");
    expect(await done).toBe(0);
    expect(h.closed()).toBe(1);
    expect(h.out().split("\n")).toEqual([
      `READY toxid=${h.backend.toxId} dht=${"dd".repeat(32)} port=36099`,
      "SELF_CONNECTION none",
      `ID toxid=${h.backend.toxId} pk=${h.backend.publicKey} dht=${"dd".repeat(32)} port=36099`,
      "OK name",
      'ERROR unknown command "bogus" (try "help")',
      "",
    ]);
  });

  it("--save: a new profile is written at once, on save and at end of input, atomically", async () => {
    const h = harness();
    const done = runToxPeer(["--save", "p/../me.tox"], h.io);
    await new Promise((r) => setTimeout(r, 20));
    expect(h.out()).toContain("SAVED bytes=3 file=p/../me.tox\n");
    h.stdin.end("save\n");
    expect(await done).toBe(0);
    expect(h.out().match(/SAVED/g)).toHaveLength(3); // new profile, save, end of input
    expect(await readdir(dir)).toEqual(["me.tox"]); // no temp file left behind
    expect(new Uint8Array(await readFile(join(dir, "me.tox")))).toEqual(new Uint8Array([1, 2, 3]));
    expect((await stat(join(dir, "me.tox"))).mode & 0o077).toBe(0);
  });

  it("--save loads an existing profile; a broken one exits 1", async () => {
    const keys = newKeyPair();
    const profile = serializeSaveData({
      secretKey: keys.secretKey,
      publicKey: keys.publicKey,
      nospam: new Uint8Array(4),
      name: new Uint8Array(0),
      statusMessage: new Uint8Array(0),
      userStatus: 0,
      friends: [],
      dhtNodes: [],
      tcpRelays: [],
      pathNodes: [],
      conferences: [],
      unknownSections: [],
    });
    await writeFile(join(dir, "me.tox"), profile);
    const h = harness();
    const done = runToxPeer(["--save", "me.tox"], h.io);
    h.stdin.end("quit\n");
    expect(await done).toBe(0);
    expect(h.loadedSave()).toMatchObject({ publicKey: keys.publicKey });
    expect(h.out().match(/SAVED/g)).toHaveLength(1); // only quit's: the profile existed

    await writeFile(join(dir, "bad.tox"), "not a profile");
    const b = harness();
    expect(await runToxPeer(["--save", "bad.tox"], b.io)).toBe(1);
    expect(b.err()).toContain("not a Tox profile");
  });

  it("a stop signal saves and exits; events print while commands run", async () => {
    const { EventEmitter } = await import("node:events");
    const signals = new EventEmitter();
    const h = harness();
    const done = runToxPeer(["--save", "me.tox"], { ...h.io, signals });
    await new Promise((r) => setTimeout(r, 20));
    h.sink().friendMessage("ab".repeat(32), "normal", "hi\nthere");
    signals.emit("SIGTERM");
    expect(await done).toBe(0);
    expect(signals.listenerCount("SIGTERM")).toBe(0);
    expect(h.out()).toContain("FRIEND_MESSAGE n=0 type=normal text=hi\\nthere\n");
    expect(h.out().match(/SAVED/g)).toHaveLength(2);
  });
});
