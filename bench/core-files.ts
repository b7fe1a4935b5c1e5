/**
 * What the core's disk spool costs on top of the Tox stack: file throughput with a c-toxcore
 * 0.2.18 peer on loopback, through BridgeCore (inbound streamed to the spool and handed to a
 * frontend's deliverFile; outbound read from the spool) next to the bare Identity file API with
 * memory sources and sinks, in the same run. Timed from the offer until the receiver has every
 * byte (inbound: until deliverFile got the complete file).
 *
 * Run: npx tsx bench/core-files.ts [SIZE_MIB]   (default 16). Ports: ours 37180-37189,
 * c-toxcore 37190-37199.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BridgeCore, coreRepos } from "../src/core/bridge-core.js";
import type { AccountRef, Frontend, InboundFile } from "../src/core/frontend.js";
import { ToxNodeGateway } from "../src/core/tox-adapter.js";
import { newKeyPair, randomBytes } from "../src/tox/crypto.js";
import { BytesSource, type FileSink } from "../src/tox/files/io.js";
import { ipPort, ToxNode } from "../src/tox/index.js";
import { CToxPeer } from "../test/interop/ctoxcore.js";
import { openTestStore } from "../test/store/backends.js";
import { runIfMain } from "./lib/runner.js";
import { printComparison, printTable } from "./lib/table.js";
import { nowMs, until } from "./lib/timing.js";

const OUR_PORTS: [number, number] = [37180, 37189];
const C_PORTS = { startPort: 37190, endPort: 37199 };
const MIB = 1024 * 1024;
const owner = { kind: "matrix" as const, id: "@bench:localhost" };

function serve(c: CToxPeer, data: Uint8Array): void {
  c.on("fileChunkRequest", (friend, file, pos, len) => {
    if (len > 0) c.fileSendChunk(friend, file, pos, data.subarray(pos, pos + len));
  });
}

function countInto(c: CToxPeer): () => boolean {
  let done = false;
  c.on("fileRecv", (friend, file) => c.fileControl(friend, file, "resume"));
  c.on("fileRecvChunk", (_f, _file, _pos, chunk) => {
    if (chunk.length === 0) done = true;
  });
  return () => done;
}

async function timed(run: () => Promise<void>, size: number): Promise<{ ms: number; mibps: number }> {
  const t0 = nowMs();
  await run();
  const ms = nowMs() - t0;
  return { ms, mibps: size / MIB / (ms / 1000) };
}

/** The bare Identity API, memory in and out. */
async function bare(data: Uint8Array) {
  const node = await ToxNode.create({ host: "127.0.0.1", portRange: OUR_PORTS });
  const c = await CToxPeer.create({ ...C_PORTS, label: "c" });
  try {
    const me = await node.addIdentity({ secretKey: newKeyPair().secretKey, name: "bare" });
    let got = 0;
    let complete = false;
    const sink: FileSink = {
      write: async (_p, d) => {
        got += d.length;
      },
    };
    node.on("fileOffer", (e) => me.fileAccept(e.friend, e.file.fileNumber, sink));
    node.on("fileComplete", (e) => {
      if (e.file.direction === "recv") complete = true;
    });
    let online = false;
    node.on("friendConnection", (e) => (online = e.status !== "none"));
    const cFriend = c.friendAddNoRequest(me.publicKeyBytes);
    await me.connectFriendDirect(c.publicKey, c.dhtId, ipPort("127.0.0.1", c.udpPort));
    await until(() => online && c.friendConnectionStatus(cFriend) === "udp", 15_000, "online");
    serve(c, data);
    const inbound = await timed(async () => {
      c.fileSend(cFriend, data.length, "in.bin");
      await until(() => complete && got === data.length, 600_000, "c -> identity");
    }, data.length);
    const done = countInto(c);
    const outbound = await timed(async () => {
      me.fileSend(c.publicKey, { source: new BytesSource(data), size: data.length, name: "out.bin" });
      await until(done, 600_000, "identity -> c");
    }, data.length);
    return { inbound, outbound };
  } finally {
    c.kill();
    await node.close();
  }
}

/** Through BridgeCore: spool on disk both ways, deliverFile to a frontend. */
async function throughCore(data: Uint8Array) {
  const spool = mkdtempSync(join(tmpdir(), "toxbridge-bench-spool-"));
  const db = await openTestStore();
  const node = await ToxNode.create({ host: "127.0.0.1", portRange: OUR_PORTS });
  const core = new BridgeCore({
    store: db.store,
    repos: coreRepos(db.db),
    tox: new ToxNodeGateway(node),
    tickMs: 100,
    files: { spoolDir: spool, maxFileSize: data.length * 2 },
  });
  const delivered: InboundFile[] = [];
  const frontend: Frontend = {
    network: "matrix",
    deliverMessage: async () => {},
    deliverFile: async (_a: AccountRef, f: InboundFile) => {
      statSync(f.path);
      delivered.push(f);
    },
    friendUpdated: () => {},
    friendTyping: () => {},
    friendRequest: () => {},
    friendRemoved: () => {},
    readReceipt: () => {},
    notice: () => {},
  };
  core.registerFrontend(frontend);
  await core.start();
  const c = await CToxPeer.create({ ...C_PORTS, label: "c" });
  try {
    await core.createAccount(owner);
    await core.addFriend(owner, c.addressHex, "bench");
    const account = (await core.account(owner))!;
    const me = node.identity(account.publicKey)!;
    const cFriend = c.friendAddNoRequest(me.publicKeyBytes);
    await me.connectFriendDirect(c.publicKey, c.dhtId, ipPort("127.0.0.1", c.udpPort));
    const friend = c.publicKeyHex.toLowerCase();
    let online = false;
    const deadline = Date.now() + 15_000;
    while (!online) {
      online =
        c.friendConnectionStatus(cFriend) === "udp" && (await core.friend(owner, friend))?.online === true;
      if (Date.now() > deadline) throw new Error("not online");
      await new Promise((r) => setTimeout(r, 20));
    }
    serve(c, data);
    const inbound = await timed(async () => {
      c.fileSend(cFriend, data.length, "in.bin");
      await until(() => delivered.length === 1, 600_000, "c -> core");
    }, data.length);
    const upload = join(spool, "upload.bin");
    writeFileSync(upload, data);
    const done = countInto(c);
    const outbound = await timed(async () => {
      await core.sendFile({
        owner,
        friend,
        fileName: "out.bin",
        size: data.length,
        mimeType: "",
        path: upload,
      });
      await until(done, 600_000, "core -> c");
    }, data.length);
    return { inbound, outbound };
  } finally {
    c.kill();
    await core.stop();
    await node.close();
    await db.close();
    rmSync(spool, { recursive: true, force: true });
  }
}

export default async function main(): Promise<void> {
  const sizeArg = process.argv.slice(2).find((a) => /^\d+$/.test(a));
  const size = Number(sizeArg ?? process.env.CORE_FILES_BENCH_MIB ?? 16) * MIB;
  const data = randomBytes(size);
  const b = await bare(data);
  const k = await throughCore(data);
  printTable(
    ["path", "MiB", "ms", "MiB/s"],
    [
      ["c-toxcore -> Identity (memory)", size / MIB, b.inbound.ms, b.inbound.mibps],
      ["c-toxcore -> core (spool, deliverFile)", size / MIB, k.inbound.ms, k.inbound.mibps],
      ["Identity (memory) -> c-toxcore", size / MIB, b.outbound.ms, b.outbound.mibps],
      ["core (spool) -> c-toxcore", size / MIB, k.outbound.ms, k.outbound.mibps],
    ],
    "File throughput through the core's disk spool vs the bare Tox stack, loopback, one run",
  );
  printComparison(
    [
      {
        metric: "inbound",
        unit: "MiB/s",
        ours: k.inbound.mibps,
        baseline: b.inbound.mibps,
        higherIsBetter: true,
      },
      {
        metric: "outbound",
        unit: "MiB/s",
        ours: k.outbound.mibps,
        baseline: b.outbound.mibps,
        higherIsBetter: true,
      },
    ],
    "Core with spool vs bare Identity",
    ["core", "bare"],
  );
}

runIfMain(import.meta.url, main);
