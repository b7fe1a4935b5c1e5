/**
 * Interop: file transfers between our ToxNode (FileTransfers attached to an Identity) and the real
 * c-toxcore 0.2.18 over loopback UDP, connected directly (no DHT/onion). 50 MB each way with
 * sha256 equal, spooled from/to disk on our side; a transfer interrupted by killing the C peer
 * resumes with SEEK from our resume record after the peer restarts from its save file.
 * Ports: ours 36200-36249, C peers 36250-36299.
 */
import { createHash } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { bytesEqual, toHex } from "../../../src/tox/bytes.js";
import { newKeyPair, randomBytes } from "../../../src/tox/crypto.js";
import { DiskFileSink, DiskFileSource } from "../../../src/tox/files/io.js";
import type {
  EndReason,
  FileTransfers,
  ResumeRecord,
  TransferInfo,
} from "../../../src/tox/files/transfers.js";
import { type FriendConnectionEvent, type Identity, ipPort, ToxNode } from "../../../src/tox/index.js";
import { CToxPeer, waitUntil } from "../../interop/ctoxcore.js";
import { attachFiles } from "./attach.js";

const OUR_PORTS: [number, number] = [36200, 36249];
const C_PORTS = { startPort: 36250, endPort: 36299 };
const MB = 1024 * 1024;

interface Ours {
  node: ToxNode;
  me: Identity;
  files: FileTransfers;
  offers: TransferInfo[];
  completed: TransferInfo[];
  ended: Array<{ info: TransferInfo; reason: EndReason; record: ResumeRecord }>;
  conn: FriendConnectionEvent[];
  onOffer?: (o: TransferInfo) => void;
}

/** Writes `size` random bytes to a file in 1 MiB pieces; returns its sha256 (hex). */
function randomFile(path: string, size: number): string {
  const hash = createHash("sha256");
  const fd = openSync(path, "w");
  for (let done = 0; done < size; done += MB) {
    const piece = randomBytes(Math.min(MB, size - done));
    hash.update(piece);
    writeSync(fd, piece);
  }
  closeSync(fd);
  return hash.digest("hex");
}

function fileSha256(path: string): string {
  const hash = createHash("sha256");
  const fd = openSync(path, "r");
  const buf = new Uint8Array(MB);
  for (;;) {
    const n = readSync(fd, buf);
    if (n === 0) break;
    hash.update(buf.subarray(0, n));
  }
  closeSync(fd);
  return hash.digest("hex");
}

/** Answers a C sender's chunk requests from a file on disk. */
function serveChunks(c: CToxPeer, path: string, onRequest?: (pos: number, len: number) => void): () => void {
  const fd = openSync(path, "r");
  const listener = (friend: number, file: number, pos: number, len: number) => {
    onRequest?.(pos, len);
    if (len === 0) return;
    const buf = new Uint8Array(len);
    readSync(fd, buf, 0, len, pos);
    c.fileSendChunk(friend, file, pos, buf);
  };
  c.on("fileChunkRequest", listener);
  return () => {
    c.off("fileChunkRequest", listener);
    closeSync(fd);
  };
}

describe("file transfers: ours <-> c-toxcore 0.2.18 (direct UDP, loopback)", () => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });
  const dir = mkdtempSync(join(tmpdir(), "toxfiles-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function startOurs(): Promise<Ours> {
    const node = await ToxNode.create({ host: "127.0.0.1", portRange: OUR_PORTS });
    cleanup.push(() => node.close());
    const me = await node.addIdentity({ secretKey: newKeyPair().secretKey, name: "ours" });
    const o: Ours = {
      node,
      me,
      files: undefined as unknown as FileTransfers,
      offers: [],
      completed: [],
      ended: [],
      conn: [],
    };
    o.files = attachFiles(me, {
      onOffer: (info) => {
        o.offers.push(info);
        o.onOffer?.(info);
      },
      onComplete: (info) => o.completed.push(info),
      onEnded: (info, reason, record) => o.ended.push({ info, reason, record }),
    });
    node.on("friendConnection", (e) => o.conn.push(e));
    return o;
  }

  async function startC(savedata?: Uint8Array): Promise<CToxPeer> {
    const c = await CToxPeer.create({ ...C_PORTS, savedata, label: "c", iterateEveryMs: 5 });
    cleanup.push(() => c.kill());
    return c;
  }

  async function connect(o: Ours, c: CToxPeer, friend: number): Promise<void> {
    const before = o.conn.filter((e) => e.status === "udp").length;
    await o.me.connectFriendDirect(c.publicKey, c.dhtId, ipPort("127.0.0.1", c.udpPort));
    await waitUntil(
      () =>
        o.conn.filter((e) => e.status === "udp").length > before &&
        c.friendConnectionStatus(friend) === "udp",
      15_000,
      "both sides online",
    );
  }

  it("sends 50 MB from disk to c-toxcore, sha256 equal", async () => {
    const o = await startOurs();
    const c = await startC();
    const friend = c.friendAddNoRequest(o.me.publicKeyBytes);
    await connect(o, c, friend);
    const path = join(dir, "out.bin");
    const sha = randomFile(path, 50 * MB);
    const hash = createHash("sha256");
    let received = 0;
    let done = false;
    c.on("fileRecv", (f, file, kind, size, name) => {
      expect([kind, size, name]).toEqual([0, 50 * MB, "fifty.bin"]);
      c.fileControl(f, file, "resume");
    });
    c.on("fileRecvChunk", (_f, _file, pos, data) => {
      if (data.length === 0) {
        done = true;
        return;
      }
      expect(pos).toBe(received);
      hash.update(data);
      received += data.length;
    });
    const source = await DiskFileSource.open(path);
    const t0 = performance.now();
    o.files.sendFile(c.publicKey, { source, size: source.size, name: "fifty.bin" });
    await waitUntil(() => done && o.completed.length === 1, 120_000, "50 MB to arrive");
    const secs = (performance.now() - t0) / 1000;
    console.log(`ours -> c-toxcore: 50 MB in ${secs.toFixed(2)} s (${(50 / secs).toFixed(1)} MB/s)`);
    expect(received).toBe(50 * MB);
    expect(hash.digest("hex")).toBe(sha);
  }, 180_000);

  it("receives 50 MB from c-toxcore onto disk, sha256 equal", async () => {
    const o = await startOurs();
    const c = await startC();
    const friend = c.friendAddNoRequest(o.me.publicKeyBytes);
    await connect(o, c, friend);
    const src = join(dir, "c-src.bin");
    const sha = randomFile(src, 50 * MB);
    const stop = serveChunks(c, src);
    cleanup.push(stop);
    const dst = join(dir, "in.bin");
    o.onOffer = (offer) => {
      void DiskFileSink.open(dst).then((sink) => o.files.accept(c.publicKey, offer.fileNumber, sink));
    };
    const t0 = performance.now();
    c.fileSend(friend, 50 * MB, "from-c.bin");
    await waitUntil(() => o.completed.length === 1, 120_000, "50 MB from c-toxcore");
    const secs = (performance.now() - t0) / 1000;
    console.log(`c-toxcore -> ours: 50 MB in ${secs.toFixed(2)} s (${(50 / secs).toFixed(1)} MB/s)`);
    expect(o.offers[0]).toMatchObject({ size: 50 * MB, kind: 0 });
    expect(fileSha256(dst)).toBe(sha);
  }, 180_000);

  it("resumes with SEEK after the c-toxcore sender is killed and restarted from its save file", async () => {
    const o = await startOurs();
    let c = await startC();
    const friend = c.friendAddNoRequest(o.me.publicKeyBytes);
    const savedata = c.getSavedata();
    await connect(o, c, friend);
    const size = 6 * MB;
    const src = join(dir, "resume-src.bin");
    const sha = randomFile(src, size);
    const dst = join(dir, "resume-dst.bin");
    const fileId = randomBytes(32);
    cleanup.push(serveChunks(c, src));
    o.onOffer = (offer) => {
      void DiskFileSink.open(dst).then((sink) => o.files.accept(c.publicKey, offer.fileNumber, sink));
    };
    c.fileSend(friend, size, "resume.bin", 0, fileId);
    await waitUntil(
      () => (o.files.transfer(c.publicKey, "recv", 0)?.transferred ?? 0) > 2 * MB,
      60_000,
      "a third of the file",
    );
    c.kill(); // c-toxcore sends KILL on its sessions: we see the friend go offline
    await waitUntil(() => o.ended.length === 1, 40_000, "transfer to end on disconnect");
    const { reason, record } = o.ended[0]!;
    expect(reason).toBe("disconnected");
    expect(record.fileId).toBe(toHex(fileId));
    expect(record.offset).toBeGreaterThan(2 * MB);
    expect(record.offset).toBeLessThan(size);

    // The peer comes back with the same keys (new DHT key and port) and offers the same file.
    c = await startC(savedata);
    const friend2 = c.friendByPublicKey(o.me.publicKeyBytes)!;
    await connect(o, c, friend2);
    const requests: number[] = [];
    cleanup.push(serveChunks(c, src, (pos) => requests.push(pos)));
    o.onOffer = (offer) => {
      expect(bytesEqual(offer.fileId, fileId)).toBe(true);
      void DiskFileSink.open(dst).then((sink) =>
        o.files.accept(c.publicKey, offer.fileNumber, sink, { position: record.offset }),
      );
    };
    c.fileSend(friend2, size, "resume.bin", 0, fileId);
    await waitUntil(() => o.completed.length === 1, 60_000, "the rest of the file");
    expect(requests[0]).toBe(record.offset);
    expect(fileSha256(dst)).toBe(sha);
  }, 180_000);

  it("resumes our upload with the SEEK of a c-toxcore receiver that was killed and restarted", async () => {
    const o = await startOurs();
    let c = await startC();
    const friend = c.friendAddNoRequest(o.me.publicKeyBytes);
    const savedata = c.getSavedata();
    await connect(o, c, friend);
    const size = 12 * MB;
    const src = join(dir, "up-src.bin");
    const sha = randomFile(src, size);
    const dst = join(dir, "up-dst.bin");
    const fileId = randomBytes(32);
    // The C side spools to disk and remembers how far it got, as a native client would.
    const fd = openSync(dst, "w");
    cleanup.push(() => closeSync(fd));
    let have = 0;
    let done = false;
    const receive = (peer: CToxPeer, seekTo?: number) => {
      peer.on("fileRecv", (f, file) => {
        expect(bytesEqual(peer.fileId(f, file), fileId)).toBe(true);
        if (seekTo !== undefined) peer.fileSeek(f, file, seekTo);
        peer.fileControl(f, file, "resume");
      });
      peer.on("fileRecvChunk", (_f, _file, pos, data) => {
        if (data.length === 0) {
          done = true;
          return;
        }
        expect(pos).toBe(have);
        writeSync(fd, data, 0, data.length, pos);
        have += data.length;
      });
    };
    receive(c);
    o.files.sendFile(c.publicKey, { source: await DiskFileSource.open(src), size, name: "up.bin", fileId });
    await waitUntil(() => have > 4 * MB, 60_000, "a third uploaded");
    c.kill();
    await waitUntil(() => o.ended.length === 1, 40_000, "upload to end on disconnect");
    expect(o.ended[0]!.reason).toBe("disconnected");
    const resumeAt = have;

    c = await startC(savedata);
    const friend2 = c.friendByPublicKey(o.me.publicKeyBytes)!;
    receive(c, resumeAt);
    await connect(o, c, friend2);
    const disk = await DiskFileSource.open(src);
    const reads: number[] = [];
    const source = {
      read: (pos: number, len: number) => {
        reads.push(pos);
        return disk.read(pos, len);
      },
      close: () => disk.close(),
    };
    o.files.sendFile(c.publicKey, { source, size, name: "up.bin", fileId });
    await waitUntil(() => done && o.completed.length === 1, 60_000, "the rest uploaded");
    expect(reads[0]).toBe(resumeAt);
    expect(have).toBe(size);
    expect(fileSha256(dst)).toBe(sha);
  }, 120_000);
});
