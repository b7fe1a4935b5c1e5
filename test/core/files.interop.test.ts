/**
 * Files and profiles through BridgeCore over a real ToxNode, against c-toxcore 0.2.18 on
 * loopback: a file from a C peer reaches the frontend's deliverFile with the same SHA-256, one
 * goes back, and the bridge (core + node) restarted mid-transfer resumes it from the bytes on
 * disk (not from zero) when the C side offers the same file id again; a file we send when the
 * bridge restarts is offered again with its id and c-toxcore seeks to what it has. Profiles saved by
 * c-toxcore (plain, and encrypted by tox_pass_encrypt) import with their Tox ID and friends; our
 * export (plain, and encrypted) loads in c-toxcore with the same Tox ID and friends.
 * Ports: ours 37120-37139, C 37140-37179.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import koffi from "koffi";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BridgeCore, coreRepos } from "../../src/core/bridge-core.js";
import type { AccountRef, AvatarFile, CommandFile, InboundFile } from "../../src/core/frontend.js";
import { ToxNodeGateway } from "../../src/core/tox-adapter.js";
import { newKeyPair } from "../../src/tox/crypto.js";
import { ipPort, ToxNode, toHex } from "../../src/tox/index.js";
import { PASS_ENCRYPTION_EXTRA_LENGTH } from "../../src/tox/state/encryptsave.js";
import { CToxPeer, waitUntil } from "../interop/ctoxcore.js";
import { alice, bob, RecordingFrontend, TestDb } from "./helpers.js";

const OUR_PORTS: [number, number] = [37120, 37139];
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const MB = 1024 * 1024;

const lib = koffi.load("libtoxcore.so.2");
const toxPassEncrypt = lib.func(
  "bool tox_pass_encrypt(const uint8_t *plaintext, size_t plaintext_len, const uint8_t *passphrase, size_t passphrase_len, _Out_ uint8_t *ciphertext, _Out_ int *error)",
);
const toxPassDecrypt = lib.func(
  "bool tox_pass_decrypt(const uint8_t *ciphertext, size_t ciphertext_len, const uint8_t *passphrase, size_t passphrase_len, _Out_ uint8_t *plaintext, _Out_ int *error)",
);
function cEncrypt(plain: Uint8Array, pass: string): Uint8Array {
  const p = new TextEncoder().encode(pass);
  const out = new Uint8Array(plain.length + PASS_ENCRYPTION_EXTRA_LENGTH);
  if (!toxPassEncrypt(plain, plain.length, p, p.length, out, [0])) throw new Error("tox_pass_encrypt failed");
  return out;
}
function cDecrypt(data: Uint8Array, pass: string): Uint8Array {
  const p = new TextEncoder().encode(pass);
  const out = new Uint8Array(data.length - PASS_ENCRYPTION_EXTRA_LENGTH);
  if (!toxPassDecrypt(data, data.length, p, p.length, out, [0])) throw new Error("tox_pass_decrypt failed");
  return out;
}

function pattern(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 131 + seed + (i >>> 12)) & 0xff;
  return out;
}

class FileFrontend extends RecordingFrontend {
  readonly files: { file: InboundFile; sha: string }[] = [];
  async deliverFile(_account: AccountRef, file: InboundFile) {
    this.files.push({ file, sha: sha(readFileSync(file.path)) });
  }
  friendAvatar(_account: AccountRef, _friend: string, _avatar: AvatarFile | null) {}
}

const db = new TestDb();
const dirs: string[] = [];
const tempDir = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};
beforeAll(() => db.setup());
afterAll(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await db.teardown();
});

interface Bridge {
  node: ToxNode;
  core: BridgeCore;
  frontend: FileFrontend;
  stop(): Promise<void>;
}

async function startBridge(spoolDir: string): Promise<Bridge> {
  const node = await ToxNode.create({ host: "127.0.0.1", portRange: OUR_PORTS });
  const core = new BridgeCore({
    store: db.store,
    repos: coreRepos(db.db),
    tox: new ToxNodeGateway(node),
    tickMs: 100,
    files: { spoolDir, maxFileSize: 64 * MB },
  });
  const frontend = new FileFrontend("matrix");
  core.registerFrontend(frontend);
  await core.start();
  let stopped = false;
  return {
    node,
    core,
    frontend,
    async stop() {
      if (stopped) return;
      stopped = true;
      await core.stop();
      await node.close();
    },
  };
}

/** Our identity and the C peer befriend each other directly over loopback UDP. */
async function connect(b: Bridge, c: CToxPeer): Promise<number> {
  const account = (await b.core.account(alice))!;
  const me = b.node.identity(account.publicKey)!;
  const friendNo = c.friendByPublicKey(me.publicKeyBytes) ?? c.friendAddNoRequest(me.publicKeyBytes);
  await me.connectFriendDirect(c.publicKey, c.dhtId, ipPort("127.0.0.1", c.udpPort));
  const friend = c.publicKeyHex.toLowerCase();
  await waitUntil(
    async () =>
      c.friendConnectionStatus(friendNo) === "udp" && (await b.core.friend(alice, friend))?.online === true,
    20_000,
    "bridge <-> c online",
    20,
  );
  return friendNo;
}

/** Undone after each test, last first: C peers, bridges. */
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
  await db.reset();
});

interface Connected {
  spool: string;
  c: CToxPeer;
  bridge: Bridge;
  friendNo: number;
}

/** A C peer (carol) and a bridge on a fresh spool whose account alice befriended her, both online. */
async function bridgeAndCarol(spoolPrefix: string): Promise<Connected> {
  const spool = tempDir(spoolPrefix);
  // Independent of each other: start both at once.
  const [c, bridge] = await Promise.all([
    CToxPeer.create({ startPort: 37140, endPort: 37159, name: "carol", label: "c", iterateEveryMs: 5 }),
    startBridge(spool),
  ]);
  cleanup.push(() => c.kill());
  cleanup.push(() => bridge.stop());
  await bridge.core.command(alice, "create", "user");
  await bridge.core.addFriend(alice, c.addressHex, "hi");
  return { spool, c, bridge, friendNo: await connect(bridge, c) };
}

describe("files through the core <-> c-toxcore", () => {
  it("a file each way with equal SHA-256; a restart mid-transfer resumes from the bytes on disk", async () => {
    const setup = await bridgeAndCarol("toxbridge-files-interop-");
    const { spool, c } = setup;
    let b = setup.bridge;
    let friendNo = setup.friendNo;
    const friend = c.publicKeyHex.toLowerCase();

    // The C side serves chunk requests of whatever it offers, from these buffers (by file number).
    const serving = new Map<number, Uint8Array>();
    const requested: { file: number; position: number }[] = [];
    c.on("fileChunkRequest", (_f, file, position, length) => {
      requested.push({ file, position });
      const data = serving.get(file);
      if (data !== undefined && length > 0)
        c.fileSendChunk(friendNo, file, position, data.subarray(position, position + length));
    });

    // c -> bridge: 3 MiB.
    const inbound = pattern(3 * MB, 1);
    const n1 = c.fileSend(friendNo, inbound.length, "inbound.bin");
    serving.set(n1, inbound);
    await waitUntil(() => b.frontend.files.length === 1, 60_000, "inbound delivered");
    expect(b.frontend.files[0]!.file).toMatchObject({
      friend,
      fileName: "inbound.bin",
      size: inbound.length,
    });
    expect(b.frontend.files[0]!.sha).toBe(sha(inbound));

    // bridge -> c: 2 MiB, sent from the spool.
    const outbound = pattern(2 * MB, 2);
    const upload = join(tempDir("toxbridge-upload-"), "outbound.bin");
    writeFileSync(upload, outbound);
    const got = new Uint8Array(outbound.length);
    let gotBytes = 0;
    let gotDone = false;
    c.on("fileRecv", (_f, file) => c.fileControl(friendNo, file, "resume"));
    c.on("fileRecvChunk", (_f, _file, position, data) => {
      if (data.length === 0) gotDone = true;
      got.set(data, position);
      gotBytes += data.length;
    });
    await b.core.sendFile({
      owner: alice,
      friend,
      fileName: "outbound.bin",
      size: outbound.length,
      mimeType: "application/octet-stream",
      path: upload,
    });
    await waitUntil(() => gotDone && gotBytes === outbound.length, 60_000, "outbound received by c");
    expect(sha(got)).toBe(sha(outbound));

    // c -> bridge again, 10 MiB; the bridge stops (core + node) once part of it is on disk.
    const big = pattern(10 * MB, 3);
    const n2 = c.fileSend(friendNo, big.length, "big.bin");
    const fileId = c.fileId(friendNo, n2);
    serving.set(n2, big);
    const partial = () => {
      try {
        const files = readdirSync(join(spool, "in"));
        return files.length === 1 ? statSync(join(spool, "in", files[0]!)).size : 0;
      } catch {
        return 0;
      }
    };
    await waitUntil(() => partial() >= 3 * MB, 60_000, "part of the big file on disk");
    await b.stop();
    const onDisk = partial();
    expect(onDisk).toBeGreaterThan(0);
    expect(onDisk).toBeLessThan(big.length);
    await waitUntil(() => c.friendConnectionStatus(friendNo) === "none", 40_000, "c sees the bridge go");
    serving.delete(n2);

    b = await startBridge(spool);
    cleanup.push(() => b.stop());
    friendNo = await connect(b, c);
    const kept = partial(); // what the first run flushed while stopping
    expect(kept).toBeGreaterThanOrEqual(onDisk);
    const before = requested.length;
    // The C client offers the same file again (same file id), as qTox does after a reconnect.
    const n3 = c.fileSend(friendNo, big.length, "big.bin", 0, fileId);
    serving.set(n3, big);
    await waitUntil(() => b.frontend.files.length === 1, 90_000, "big file delivered after the restart");
    expect(b.frontend.files[0]!.sha).toBe(sha(big));
    const firstAfter = requested.slice(before).find((r) => r.file === n3);
    expect(firstAfter?.position).toBeGreaterThan(0); // resumed, not from zero
    expect(firstAfter?.position).toBe(kept);
  }, 240_000);
});

describe("outbound resume through the core <-> c-toxcore", () => {
  it("a file being sent when the bridge restarts is offered again with its id and resumes where c stopped", async () => {
    const setup = await bridgeAndCarol("toxbridge-files-interop-out-");
    const { spool, c } = setup;
    let b = setup.bridge;
    let friendNo = setup.friendNo;

    // The C client keeps what it received per file id and seeks there when that id is offered
    // again (what qTox does with its resume records).
    const big = pattern(10 * MB, 4);
    const got = new Uint8Array(big.length);
    const have = new Map<string, number>();
    const seeks: number[] = [];
    const idOf = new Map<number, string>();
    let done = false;
    c.on("fileRecv", (_f, file) => {
      const id = toHex(c.fileId(friendNo, file));
      idOf.set(file, id);
      const from = have.get(id) ?? 0;
      if (from > 0) {
        c.fileSeek(friendNo, file, from);
        seeks.push(from);
      }
      c.fileControl(friendNo, file, "resume");
    });
    c.on("fileRecvChunk", (_f, file, position, data) => {
      if (data.length === 0) {
        done = true;
        return;
      }
      got.set(data, position);
      const id = idOf.get(file)!;
      have.set(id, Math.max(have.get(id) ?? 0, position + data.length));
    });
    const upload = join(tempDir("toxbridge-upload-"), "big-out.bin");
    writeFileSync(upload, big);
    await b.core.sendFile({
      owner: alice,
      friend: c.publicKeyHex.toLowerCase(),
      fileName: "big-out.bin",
      size: big.length,
      mimeType: "application/octet-stream",
      path: upload,
    });
    await waitUntil(() => [...have.values()].some((n) => n >= 3 * MB), 60_000, "part of the file at c");
    await b.stop();
    await waitUntil(() => c.friendConnectionStatus(friendNo) === "none", 40_000, "c sees the bridge go");
    const before = Math.max(...have.values());
    expect(before).toBeLessThan(big.length);

    b = await startBridge(spool);
    cleanup.push(() => b.stop());
    friendNo = await connect(b, c);
    await waitUntil(() => done, 90_000, "file complete at c after the restart");
    expect(seeks).toEqual([before]); // resumed where c stopped, not from zero
    expect(sha(got)).toBe(sha(big));
    // Deleted once the friend acknowledged the last chunk.
    await waitUntil(() => readdirSync(join(spool, "out")).length === 0, 10_000, "spool emptied");
  }, 240_000);
});

describe("profiles through the core <-> c-toxcore", () => {
  it("imports c-toxcore profiles (plain and encrypted) and exports ones c-toxcore loads", async () => {
    // Two C clients with friends, saved the way qTox saves them (one encrypted).
    const friendKeys = [newKeyPair().publicKey, newKeyPair().publicKey];
    const c1 = await CToxPeer.create({
      startPort: 37160,
      endPort: 37169,
      name: "plain one",
      label: "c1",
      autoIterate: false,
    });
    for (const k of friendKeys) c1.friendAddNoRequest(k);
    const plain = c1.getSavedata();
    const c1Id = c1.addressHex;
    c1.kill();
    const c2 = await CToxPeer.create({
      startPort: 37160,
      endPort: 37169,
      name: "secret one",
      label: "c2",
      autoIterate: false,
    });
    c2.friendAddNoRequest(friendKeys[0]!);
    const encrypted = cEncrypt(c2.getSavedata(), "c-toxcore pass");
    const c2Id = c2.addressHex;
    c2.kill();

    const b = await startBridge(tempDir("toxbridge-profiles-interop-"));
    cleanup.push(() => b.stop());
    const file = (data: Uint8Array): CommandFile[] => [{ fileName: "x.tox", mimeType: "", data }];
    const r1 = await b.core.command(alice, "import", "user", file(plain));
    expect(r1.ok).toBe(true);
    expect((await b.core.profile(alice)).toxId).toBe(c1Id);
    expect((await b.core.profile(alice)).name).toBe("plain one");
    expect((await b.core.friends(alice)).map((f) => f.publicKey).sort()).toEqual(
      friendKeys.map((k) => toHex(k)).sort(),
    );
    expect((await b.core.command(bob, "import", "user", file(encrypted))).text).toMatch(/encrypted/);
    expect((await b.core.command(bob, "import c-toxcore pass", "user")).ok).toBe(true);
    expect((await b.core.profile(bob)).toxId).toBe(c2Id);
    expect((await b.core.friends(bob)).map((f) => f.publicKey)).toEqual([toHex(friendKeys[0]!)]);
    const account = (await b.core.account(alice))!;
    expect(b.node.identity(account.publicKey)?.toxId).toBe(c1Id);

    // Our exports load in c-toxcore with the same Tox ID and friends.
    const exported = await b.core.command(alice, "export", "user");
    const back = await CToxPeer.create({
      startPort: 37170,
      endPort: 37179,
      savedata: exported.attachments![0]!.data,
      label: "back",
      autoIterate: false,
    });
    cleanup.push(() => back.kill());
    expect(back.addressHex).toBe(c1Id);
    expect(
      back
        .friendList()
        .map((f) => toHex(back.friendPublicKey(f)))
        .sort(),
    ).toEqual(friendKeys.map((k) => toHex(k)).sort());
    const exportedEnc = await b.core.exportProfile(bob, "ours");
    const backEnc = await CToxPeer.create({
      startPort: 37170,
      endPort: 37179,
      savedata: cDecrypt(exportedEnc.attachment.data, "ours"),
      label: "back-enc",
      autoIterate: false,
    });
    cleanup.push(() => backEnc.kill());
    expect(backEnc.addressHex).toBe(c2Id);
    expect(backEnc.friendList()).toHaveLength(1);
  }, 60_000);
});
