/**
 * The core file service over PGlite and the fake Tox gateway (which plays the friend's side of
 * transfers): inbound accept/limit/deliver/retry/resume (also across a core restart), outbound
 * queue/offer/resume/cancel, avatars both ways, and pausing a download while the disk lags.
 */
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { BridgeCore } from "../../src/core/bridge-core.js";
import { CoreError } from "../../src/core/errors.js";
import { safeFileName } from "../../src/core/files.js";
import type { AccountRef, AvatarFile, InboundFile } from "../../src/core/frontend.js";
import { createFileTransfersRepo } from "../../src/store/repos/files.js";
import type { ManualClock } from "../../src/tox/clock.js";
import { FakeTox } from "./fake-tox.js";
import { alice, makeCore, RecordingFrontend, TestDb, withFriend } from "./helpers.js";

const t = new TestDb();
beforeAll(() => t.setup());
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  return t.teardown();
});

const dirs: string[] = [];
const tempDir = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};

/** A frontend with the optional file calls; `refuseFiles` makes deliverFile reject. */
class FileFrontend extends RecordingFrontend {
  readonly files: { file: InboundFile; bytes: Buffer }[] = [];
  readonly avatars: { friend: string; avatar: AvatarFile | null }[] = [];
  refuseFiles: Error | undefined;
  async deliverFile(_account: AccountRef, file: InboundFile) {
    if (this.refuseFiles) throw this.refuseFiles;
    this.files.push({ file, bytes: readFileSync(file.path) });
  }
  friendAvatar(_account: AccountRef, friend: string, avatar: AvatarFile | null) {
    this.avatars.push({ friend, avatar });
  }
}

const cores: BridgeCore[] = [];
let spool = "";
async function core(opts: { tox?: FakeTox; clock?: ManualClock; maxFileSize?: number } = {}) {
  const c = await makeCore(t, {
    ...(opts.tox ? { tox: opts.tox } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
    files: {
      spoolDir: spool,
      maxFileSize: opts.maxFileSize ?? 1024 * 1024,
      lagPauseBytes: 1000,
      lagResumeBytes: 100,
    },
  });
  const files = new FileFrontend("matrix");
  c.core.registerFrontend(files);
  cores.push(c.core);
  return { ...c, files };
}
beforeEach(async () => {
  for (const c of cores.splice(0)) await c.stop();
  await t.reset();
  spool = tempDir("toxbridge-files-test-");
});

const repo = () => createFileTransfersRepo(t.db);
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const PNG = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 7 + seed) & 0xff;
  out.set(PNG.subarray(0, Math.min(n, PNG.length)));
  return out;
}
const spooled = (sub: string) => (existsSync(join(spool, sub)) ? readdirSync(join(spool, sub)) : []);

async function online(c: Awaited<ReturnType<typeof core>>) {
  const { ref, friend } = await withFriend(c.core, c.tox);
  c.tox.setOnline(ref.publicKey, friend, true);
  await c.core.idle();
  return { ref, friend };
}

describe("inbound files", () => {
  it("accepts an offer within the limit, spools it, delivers it and deletes it once taken", async () => {
    const c = await core();
    const { ref, friend } = await online(c);
    const data = bytes(300_000);
    const offer = c.tox.files.offer(ref.publicKey, friend, { size: data.length, name: "photo" });
    await c.core.idle();
    expect(offer.sink).toBeDefined();
    expect(offer.position).toBe(0);
    await c.tox.files.feed(offer, data.subarray(0, 100_000));
    await c.tox.files.feed(offer, data.subarray(100_000));
    await c.core.idle();
    expect(c.files.files).toHaveLength(1);
    const got = c.files.files[0]!;
    expect(got.file).toMatchObject({ friend, fileName: "photo", size: data.length, mimeType: "image/png" });
    expect(sha(got.bytes)).toBe(sha(data));
    expect(spooled("in")).toEqual([]);
    expect(await repo().inStates(["receiving", "received"])).toEqual([]);
    expect(c.core.metrics).toMatchObject({ filesFromTox: 1, fileBytesFromTox: data.length, filesFailed: 0 });
  });

  it("gives frontends a safe file name (no path separators or control characters)", async () => {
    const c = await core();
    const { ref, friend } = await online(c);
    const offer = c.tox.files.offer(ref.publicKey, friend, { size: 3, name: "../../etc/pass\nwd" });
    await c.core.idle();
    await c.tox.files.feed(offer, new TextEncoder().encode("abc"));
    await c.core.idle();
    expect(c.files.files[0]!.file.fileName).toBe(".._.._etc_pass_wd");
    expect(safeFileName("..")).toBe("file");
    expect(safeFileName("")).toBe("file");
  });

  it("declines a file over the limit and tells the user the limit; nothing is stored", async () => {
    const c = await core({ maxFileSize: 1000 });
    const { ref, friend } = await online(c);
    const offer = c.tox.files.offer(ref.publicKey, friend, { size: 5000, name: "big.iso" });
    await c.core.idle();
    expect(offer.cancelled).toBe(true);
    expect(offer.sink).toBeUndefined();
    expect(c.files.notices.at(-1)?.text).toMatch(/"big\.iso" \(4\.9 KiB\).*limit of 1000 bytes/);
    expect(spooled("in")).toEqual([]);
  });

  it("keeps a refused file and delivers it on a later tick (retry with backoff)", async () => {
    const c = await core();
    const { ref, friend } = await online(c);
    c.files.refuseFiles = new Error("homeserver down");
    const offer = c.tox.files.offer(ref.publicKey, friend, { size: 2000, name: "notes.txt" });
    await c.core.idle();
    await c.tox.files.feed(offer, new TextEncoder().encode("x".repeat(2000)));
    await c.core.idle();
    expect(c.files.files).toEqual([]);
    expect(spooled("in")).toHaveLength(1);
    c.files.refuseFiles = undefined;
    await c.core.tick();
    await c.core.idle();
    expect(c.files.files).toEqual([]); // not due yet
    c.clock.advance(1500);
    await c.core.tick();
    await c.core.idle();
    expect(c.files.files).toHaveLength(1);
    expect(c.files.files[0]!.file.mimeType).toBe("text/plain");
    expect(spooled("in")).toEqual([]);
  });

  it("resumes a file after a disconnect from the bytes on disk when the friend offers it again", async () => {
    const c = await core();
    const { ref, friend } = await online(c);
    const data = bytes(50_000, 3);
    const first = c.tox.files.offer(ref.publicKey, friend, { size: data.length, name: "a.bin" });
    await c.core.idle();
    await c.tox.files.feed(first, data.subarray(0, 20_000));
    await c.tox.files.end(first, "disconnected");
    await c.core.idle();
    const again = c.tox.files.offer(ref.publicKey, friend, {
      size: data.length,
      name: "a.bin",
      fileId: first.file.fileId,
    });
    await c.core.idle();
    expect(again.position).toBe(20_000);
    await c.tox.files.feed(again, data.subarray(20_000));
    await c.core.idle();
    expect(sha(c.files.files[0]!.bytes)).toBe(sha(data));
  });

  it("keeps a re-offer apart from the old transfer whose end is reported late in the same slot", async () => {
    const c = await core();
    const { ref, friend } = await online(c);
    const data = bytes(30_000, 7);
    const old = c.tox.files.offer(ref.publicKey, friend, { size: data.length, name: "s.bin" });
    await c.core.idle();
    await c.tox.files.feed(old, data.subarray(0, 10_000));
    // The friend reconnects and offers the file again in slot 0 before the old end is reported.
    const again = c.tox.files.offer(ref.publicKey, friend, {
      size: data.length,
      name: "s.bin",
      fileId: old.file.fileId,
      fileNumber: old.file.fileNumber,
    });
    await c.core.idle();
    expect(again.position).toBe(10_000);
    await c.tox.files.end(old, "disconnected");
    await c.core.idle();
    await c.tox.files.feed(again, data.subarray(10_000));
    await c.core.idle();
    expect(c.files.files).toHaveLength(1);
    expect(sha(c.files.files[0]!.bytes)).toBe(sha(data));
  });

  it("resumes after a bridge restart (same spool), and a friend's cancel drops the partial file", async () => {
    const tox = new FakeTox();
    let c = await core({ tox });
    const { ref, friend } = await online(c);
    const data = bytes(40_000, 5);
    const first = tox.files.offer(ref.publicKey, friend, { size: data.length, name: "b.bin" });
    await c.core.idle();
    await tox.files.feed(first, data.subarray(0, 30_000));
    await c.core.stop();
    await tox.files.end(first, "disconnected"); // the node reports it after the core stopped listening
    c = await core({ tox });
    tox.setOnline(ref.publicKey, friend, true);
    await c.core.idle();
    const again = tox.files.offer(ref.publicKey, friend, {
      size: data.length,
      name: "b.bin",
      fileId: first.file.fileId,
    });
    await c.core.idle();
    expect(again.position).toBe(30_000);
    await tox.files.end(again, "cancelled-by-peer");
    await c.core.idle();
    expect(spooled("in")).toEqual([]);
    expect(c.files.notices.at(-1)?.text).toMatch(/cancelled sending you "b\.bin"/);
  });

  it("pauses a download while the disk is behind the network and resumes it when it caught up", async () => {
    const c = await core();
    const { ref, friend } = await online(c);
    const offer = c.tox.files.offer(ref.publicKey, friend, { size: 100_000, name: "c.bin" });
    await c.core.idle();
    await c.tox.files.feed(offer, bytes(500));
    offer.transferred = 5000; // the network is 4.5 kB ahead of what reached the disk
    await c.core.tick();
    expect(offer.paused).toBe(true);
    offer.transferred = 550;
    await c.core.tick();
    expect(offer.paused).toBe(false);
  });
});

describe("outbound files", () => {
  it("queues a file for an offline friend, offers it once online, deletes it once sent; idempotent", async () => {
    const c = await core();
    const { ref, friend } = await withFriend(c.core, c.tox);
    const src = join(tempDir("toxbridge-upload-"), "up.bin");
    const data = bytes(70_000, 9);
    writeFileSync(src, data);
    const req = {
      owner: alice,
      friend,
      fileName: "up.bin",
      size: data.length,
      mimeType: "image/png",
      path: src,
    };
    expect(await c.core.sendFile({ ...req, sourceEventId: "$f1" })).toEqual({ created: true, parts: 1 });
    expect(existsSync(src)).toBe(false); // moved into the spool
    expect(await c.core.sendFile({ ...req, sourceEventId: "$f1" })).toEqual({ created: false, parts: 1 });
    await c.core.idle();
    expect(c.tox.files.outgoing).toEqual([]);
    c.tox.setOnline(ref.publicKey, friend, true);
    await c.core.idle();
    expect(c.tox.files.outgoing).toHaveLength(1);
    const out = c.tox.files.outgoing[0]!;
    expect(out.file).toMatchObject({ kind: "data", size: data.length, name: "up.bin" });
    expect(sha(await c.tox.files.pull(out))).toBe(sha(data));
    await c.core.idle();
    expect(spooled("out")).toEqual([]);
    expect(await repo().inStates(["queued", "sending"])).toEqual([]);
    expect(c.core.metrics).toMatchObject({ filesToTox: 1, fileBytesToTox: data.length });
  });

  it("offers the same file id again after a disconnect and after a restart, so the friend can seek", async () => {
    const tox = new FakeTox();
    let c = await core({ tox });
    const { ref, friend } = await online(c);
    const src = join(tempDir("toxbridge-upload-"), "x");
    writeFileSync(src, bytes(10_000));
    await c.core.sendFile({ owner: alice, friend, fileName: "x.bin", size: 10_000, mimeType: "", path: src });
    await c.core.idle();
    const first = tox.files.outgoing[0]!;
    await tox.files.end(first, "disconnected");
    tox.setOnline(ref.publicKey, friend, false);
    await c.core.idle();
    tox.setOnline(ref.publicKey, friend, true);
    await c.core.idle();
    expect(tox.files.outgoing).toHaveLength(2);
    expect(tox.files.outgoing[1]!.file.fileId).toBe(first.file.fileId);
    // Restart while it is being sent: the row is queued again and offered with the same id.
    await c.core.stop();
    c = await core({ tox });
    tox.setOnline(ref.publicKey, friend, true);
    await c.core.idle();
    const third = tox.files.outgoing.at(-1)!;
    expect(tox.files.outgoing).toHaveLength(3);
    expect(third.file.fileId).toBe(first.file.fileId);
    const rest = await tox.files.pull(third, 4000); // the friend seeks to what it has
    expect(rest.length).toBe(6000);
    await c.core.idle();
    expect(spooled("out")).toEqual([]);
  });

  it("gives up a file the friend was not online to take for 7 days, with a notice", async () => {
    const c = await core();
    const { friend } = await withFriend(c.core, c.tox);
    const src = join(tempDir("toxbridge-upload-"), "z");
    writeFileSync(src, bytes(100));
    await c.core.sendFile({
      owner: alice,
      friend,
      fileName: "z.txt",
      size: 100,
      mimeType: "",
      path: src,
      sourceEventId: "$z",
    });
    c.clock.advance(6 * 24 * 3_600_000);
    await c.core.tick();
    await c.core.idle();
    expect(spooled("out")).toHaveLength(1);
    c.clock.advance(2 * 24 * 3_600_000);
    await c.core.tick();
    await c.core.idle();
    expect(spooled("out")).toEqual([]);
    expect(c.files.notices.at(-1)).toMatchObject({ code: "delivery-failed", sourceEventId: "$z", friend });
    expect(c.files.notices.at(-1)?.text).toMatch(/"z\.txt".*not online to take it for 7 days/);
  });

  it("refuses files over the limit or to strangers; tells the user when the friend declines", async () => {
    const c = await core({ maxFileSize: 1000 });
    const { friend } = await online(c);
    const src = join(tempDir("toxbridge-upload-"), "y");
    writeFileSync(src, bytes(2000));
    const req = { owner: alice, friend, fileName: "y", size: 2000, mimeType: "", path: src };
    await expect(c.core.sendFile(req)).rejects.toThrow(/up to 1000 bytes/);
    await expect(c.core.sendFile({ ...req, friend: "ab".repeat(32) })).rejects.toBeInstanceOf(CoreError);
    writeFileSync(src, bytes(500));
    await c.core.sendFile({ ...req, size: 500, sourceEventId: "$y" });
    await c.core.idle();
    await c.tox.files.end(c.tox.files.outgoing[0]!, "cancelled-by-peer");
    await c.core.idle();
    expect(c.files.notices.at(-1)).toMatchObject({ sourceEventId: "$y", friend });
    expect(c.files.notices.at(-1)?.text).toMatch(/declined or cancelled the file "y"/);
    expect(c.core.metrics.filesFailed).toBe(1);
    expect(spooled("out")).toEqual([]);
  });
});

describe("spool hygiene", () => {
  it("removes files of deleted accounts at the next start and keeps those still in use", async () => {
    const tox = new FakeTox();
    let c = await core({ tox });
    const { ref, friend } = await online(c);
    const keep = c.tox.files.offer(ref.publicKey, friend, { size: 10_000, name: "keep" });
    await c.core.idle();
    await c.tox.files.feed(keep, bytes(4000));
    writeFileSync(join(spool, "in", "orphan"), "x");
    writeFileSync(join(spool, "out", "orphan"), "x");
    mkdirSync(join(spool, "avatars", "999"), { recursive: true });
    mkdirSync(join(spool, "avatars", String(ref.id)), { recursive: true });
    writeFileSync(join(spool, "avatars", String(ref.id), "cut-short.part"), "x");
    writeFileSync(join(spool, "avatars", String(ref.id), "kept.png"), "x");
    await c.core.stop();
    c = await core({ tox });
    expect(spooled("in")).toHaveLength(1);
    expect(spooled("out")).toEqual([]);
    expect(spooled("avatars")).toEqual([String(ref.id)]);
    expect(spooled(join("avatars", String(ref.id)))).toEqual(["kept.png"]);
  });
});

describe("account deletion", () => {
  it("removes the account's spooled files and avatars", async () => {
    const c = await core();
    const { ref, friend } = await online(c);
    const partial = c.tox.files.offer(ref.publicKey, friend, { size: 10_000, name: "p" });
    await c.core.idle();
    await c.tox.files.feed(partial, bytes(100));
    const pic = bytes(500, 2);
    const avatar = c.tox.files.offer(ref.publicKey, friend, {
      size: pic.length,
      name: "",
      kind: "avatar",
      fileId: sha(pic),
    });
    await c.core.idle();
    await c.tox.files.feed(avatar, pic);
    await c.core.idle();
    expect(spooled("in")).toHaveLength(1);
    expect(spooled("avatars")).toEqual([String(ref.id)]);
    expect((await c.core.command(alice, "logout confirm", "user")).ok).toBe(true);
    expect(spooled("in")).toEqual([]);
    expect(spooled("avatars")).toEqual([]);
  });
});

describe("avatars", () => {
  it("takes a friend's avatar, skips one with a hash we have, and clears it on an empty offer", async () => {
    const c = await core();
    const { ref, friend } = await online(c);
    const pic = bytes(3000, 11);
    const hash = sha(pic);
    const offer = c.tox.files.offer(ref.publicKey, friend, {
      size: pic.length,
      name: "",
      kind: "avatar",
      fileId: hash,
    });
    await c.core.idle();
    await c.tox.files.feed(offer, pic);
    await c.core.idle();
    const got = c.files.avatars.at(-1)!;
    expect(got.avatar).toMatchObject({ hash, mimeType: "image/png", size: pic.length });
    expect(sha(readFileSync(got.avatar!.path))).toBe(hash);
    const same = c.tox.files.offer(ref.publicKey, friend, {
      size: pic.length,
      name: "",
      kind: "avatar",
      fileId: hash,
    });
    await c.core.idle();
    expect(same.cancelled).toBe(true);
    expect(same.sink).toBeUndefined();
    const none = c.tox.files.offer(ref.publicKey, friend, {
      size: 0,
      name: "",
      kind: "avatar",
      fileId: sha(new Uint8Array(0)),
    });
    await c.core.idle();
    expect(none.cancelled).toBe(true);
    expect(c.files.avatars.at(-1)).toEqual({ friend, avatar: null });
    expect(existsSync(got.avatar!.path)).toBe(false);
  });

  it("offers the user's avatar to friends as they come online, once per hash", async () => {
    const c = await core();
    const { ref, friend } = await online(c);
    const src = join(tempDir("toxbridge-avatar-"), "me.png");
    const pic = bytes(2000, 13);
    writeFileSync(src, pic);
    await c.core.setAvatar(alice, { path: src, mimeType: "image/png" });
    await c.core.idle();
    const offered = c.tox.files.outgoing.filter((o) => o.file.kind === "avatar");
    expect(offered).toHaveLength(1);
    expect(offered[0]!.file.fileId).toBe(sha(pic));
    expect(sha(await c.tox.files.pull(offered[0]!))).toBe(sha(pic));
    await c.core.idle();
    c.tox.setOnline(ref.publicKey, friend, false);
    c.tox.setOnline(ref.publicKey, friend, true);
    await c.core.idle();
    expect(c.tox.files.outgoing.filter((o) => o.file.kind === "avatar")).toHaveLength(1); // it has it
    await c.core.setAvatar(alice, null);
    await c.core.idle();
    const cleared = c.tox.files.outgoing.filter((o) => o.file.kind === "avatar");
    expect(cleared).toHaveLength(2);
    expect(cleared[1]!.file.size).toBe(0);
  });
});
