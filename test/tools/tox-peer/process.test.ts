/**
 * The real command as a child process, without a network: usage, a busy port, the reply lines,
 * and a profile that survives a restart and is a valid c-toxcore save file. Ports 36140-36149.
 */
import dgram from "node:dgram";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseSaveData } from "../../../src/tox/index.js";
import { ToxPeerProcess } from "./peer-process.js";

let dir: string;
const running: ToxPeerProcess[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "toxbridge-toxpeer-proc-"));
});
afterEach(async () => {
  for (const p of running.splice(0)) p.kill();
  await rm(dir, { recursive: true, force: true });
});

function start(args: string[]): ToxPeerProcess {
  const p = new ToxPeerProcess("peer", args);
  running.push(p);
  return p;
}

describe("tox-bridge tox-peer (process)", () => {
  it("--help exits 0; bad options exit 2; a busy port exits 1", async () => {
    // Started together: each process start (tsx, libsodium) costs about a second.
    const blocker = dgram.createSocket("udp4");
    await new Promise<void>((r) => blocker.bind(36140, "0.0.0.0", r));
    try {
      const help = start(["--help"]);
      const bad = start(["--udp", "sometimes"]);
      const busy = start(["--port", "36140"]);
      const [helpCode, badCode, busyCode] = await Promise.all([help.quit(), bad.quit(), busy.quit()]);
      expect(helpCode).toBe(0);
      expect(help.lines[0]?.raw).toBe("Usage: tox-bridge tox-peer [options]");
      expect(badCode).toBe(2);
      expect(bad.errors).toContain('--udp: must be "on" or "off", got "sometimes"');
      expect(busyCode).toBe(1);
      expect(busy.errors).toContain("EADDRINUSE");
      expect(busy.lines).toEqual([]);
    } finally {
      blocker.close();
    }
  }, 30_000);

  it("replies on stdout; the profile keeps the Tox ID and name across a restart", async () => {
    const save = join(dir, "p.tox");
    const first = start(["--port", "36141", "--save", save]);
    const ready = await first.waitFor("READY", () => true, 15_000);
    expect(ready.fields.port).toBe("36141");
    expect(ready.fields.toxid).toMatch(/^[0-9A-F]{76}$/);
    expect(ready.fields.dht).toMatch(/^[0-9a-f]{64}$/);
    await first.waitFor("SAVED"); // new profile written at once
    const id = await first.command("id", "ID");
    expect(id.fields.pk).toBe(ready.fields.toxid!.slice(0, 64).toLowerCase());
    expect((await first.command("name Tess\\tT", "OK")).words).toEqual(["name"]);
    expect((await first.command("msg 0 hi", "ERROR")).fields.message).toBe(
      'msg: no friend number 0 (see "friends")',
    );
    expect((await first.command("friends", "FRIENDS")).fields.count).toBe("0");
    expect(await first.quit()).toBe(0);
    expect(first.lines.filter((l) => l.tag === "SAVED")).toHaveLength(2);

    const parsed = parseSaveData(new Uint8Array(await readFile(save)));
    expect(parsed.ok).toBe(true);
    if (parsed.ok) expect(new TextDecoder().decode(parsed.value.name)).toBe("Tess\\tT");

    const second = start(["--port", "36142", "--save", save]);
    const again = await second.waitFor("READY", () => true, 15_000);
    expect(again.fields.toxid).toBe(ready.fields.toxid);
    expect(await second.quit()).toBe(0);
  }, 30_000);
});
