/**
 * File throughput on loopback: ours -> c-toxcore and c-toxcore -> ours versus c-toxcore ->
 * c-toxcore (0.2.18), measured in the same run, printed with the ratio (goal >= 1.0).
 *
 * Each row sends one file of SIZE MiB (default 32) from memory and counts it at the receiver
 * (no disk, so the protocol stacks are what is measured): timed from the offer until the
 * receiver has every byte. c-toxcore peers are iterated as they ask (tox_iteration_interval:
 * 50 ms idle, but ~1.5 ms median while net_crypto is busy with a transfer, measured) unless
 * --iterate-every=MS is given; the same cadence applies to every c-toxcore peer in every row.
 * c-toxcore pairs are befriended by Tox ID and bootstrapped to each other (no daemon); ours
 * connects directly (connectFriendDirect) and uses the Identity's file API (fileSend,
 * fileAccept, node events fileOffer/fileComplete).
 *
 * Reading the rows: a c-toxcore sender is paced by its rate estimator (net_crypto.c
 * send_crypto_packets): every 50 ms it sets its rate to 1.2 x what it sent 50-650 ms ago minus
 * the growth of its unacknowledged queue, so a transfer ramps up about 1.3x per 0.5 s from
 * ~100 packets/s whatever the receiver, and a 32 MiB file ends before the ramp does. A receiver
 * can only slow that ramp (late acks grow the queue; lost acks or requests cost resends), so
 * "c-toxcore -> ours" measures how promptly we acknowledge. Ours as the sender is not bound by it.
 *
 * Run: npx tsx bench/tox-files.ts [SIZE_MIB] [--iterate-every=MS]   (or `npm run bench`).
 * Rounds: TOX_BENCH_ROUNDS (default 1); the median of each row is printed.
 * Ports: ours BASE..BASE+49, c-toxcore BASE+50..BASE+99 with BASE = TOX_FILES_BENCH_PORT_BASE
 * (default 36300), so a run can stay inside the port range it was given.
 */
import { newKeyPair, randomBytes } from "../src/tox/crypto.js";
import { BytesSource, type FileSink } from "../src/tox/files/io.js";
import { ipPort, ToxNode } from "../src/tox/index.js";
import { befriend, CToxPeer } from "../test/interop/ctoxcore.js";
import { ResourceSampler } from "./lib/resources.js";
import { runIfMain } from "./lib/runner.js";
import { printComparison, printTable } from "./lib/table.js";
import { nowMs, until } from "./lib/timing.js";

const PORT_BASE = Number(process.env.TOX_FILES_BENCH_PORT_BASE ?? 36300);
const OUR_PORTS: [number, number] = [PORT_BASE, PORT_BASE + 49];
const C_START = PORT_BASE + 50;
const C_END = PORT_BASE + 99;
const MIB = 1024 * 1024;

interface Row {
  mbPerSecond: number;
  ms: number;
  cpuPercent: number;
}

function argValue(name: string): string | undefined {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a?.slice(name.length + 3);
}

class CountingSink implements FileSink {
  bytes = 0;
  async write(_position: number, data: Uint8Array): Promise<void> {
    this.bytes += data.length;
  }
}

let cPort = C_START;
async function cPeer(label: string, iterateEveryMs: number | undefined): Promise<CToxPeer> {
  // Each peer gets its own small range so a peer of the previous row never blocks a port.
  const start = cPort;
  cPort = cPort + 5 > C_END ? C_START : cPort + 5;
  return CToxPeer.create({ startPort: start, endPort: start + 4, label, iterateEveryMs });
}

/** Serves a C sender's chunk requests from memory. */
function serve(c: CToxPeer, data: Uint8Array): void {
  c.on("fileChunkRequest", (friend, file, pos, len) => {
    if (len > 0) c.fileSendChunk(friend, file, pos, data.subarray(pos, pos + len));
  });
}

/** Counts a C receiver's bytes; resolves `done` when the final empty chunk arrives. */
function countInto(c: CToxPeer): { received: () => number; done: () => boolean } {
  let received = 0;
  let done = false;
  c.on("fileRecv", (friend, file) => c.fileControl(friend, file, "resume"));
  c.on("fileRecvChunk", (_f, _file, _pos, chunk) => {
    if (chunk.length === 0) done = true;
    received += chunk.length;
  });
  return { received: () => received, done: () => done };
}

async function measure(run: () => Promise<void>, size: number): Promise<Row> {
  const sampler = new ResourceSampler();
  sampler.start();
  const t0 = nowMs();
  await run();
  const ms = nowMs() - t0;
  const res = sampler.stop();
  return { mbPerSecond: size / MIB / (ms / 1000), ms, cpuPercent: res.cpuPercent };
}

async function cToC(data: Uint8Array, iterate: number | undefined): Promise<Row> {
  const a = await cPeer("c-sender", iterate);
  const b = await cPeer("c-receiver", iterate);
  try {
    a.bootstrapToPeer(b);
    b.bootstrapToPeer(a);
    const { aFriend } = await befriend(a, b, { timeoutMs: 60_000 });
    await until(() => a.friendConnectionStatus(aFriend) === "udp", 30_000, "c <-> c over UDP");
    serve(a, data);
    const rx = countInto(b);
    return await measure(async () => {
      a.fileSend(aFriend, data.length, "bench.bin");
      await until(() => rx.done(), 600_000, "c -> c file");
    }, data.length);
  } finally {
    a.kill();
    b.kill();
  }
}

async function withOurs<T>(
  iterate: number | undefined,
  body: (ctx: {
    c: CToxPeer;
    cFriend: number;
    send: (data: Uint8Array) => void;
    received: () => number;
    completed: () => number;
  }) => Promise<T>,
): Promise<T> {
  const node = await ToxNode.create({ host: "127.0.0.1", portRange: OUR_PORTS });
  const c = await cPeer("c-peer", iterate);
  try {
    const me = await node.addIdentity({ secretKey: newKeyPair().secretKey, name: "bench" });
    const sink = new CountingSink();
    let completed = 0;
    node.on("fileOffer", (e) => me.fileAccept(e.friend, e.file.fileNumber, sink));
    node.on("fileComplete", (e) => {
      if (e.file.direction === "recv") completed++;
    });
    let online = false;
    node.on("friendConnection", (e) => (online = e.status !== "none"));
    const cFriend = c.friendAddNoRequest(me.publicKeyBytes);
    await me.connectFriendDirect(c.publicKey, c.dhtId, ipPort("127.0.0.1", c.udpPort));
    await until(() => online && c.friendConnectionStatus(cFriend) === "udp", 15_000, "ours <-> c online");
    return await body({
      c,
      cFriend,
      send: (data) => {
        me.fileSend(c.publicKey, { source: new BytesSource(data), size: data.length, name: "bench.bin" });
      },
      received: () => sink.bytes,
      completed: () => completed,
    });
  } finally {
    c.kill();
    await node.close();
  }
}

async function oursToC(data: Uint8Array, iterate: number | undefined): Promise<Row> {
  return withOurs(iterate, async ({ c, send }) => {
    const rx = countInto(c);
    return measure(async () => {
      send(data);
      await until(() => rx.done(), 600_000, "ours -> c file");
    }, data.length);
  });
}

async function cToOurs(data: Uint8Array, iterate: number | undefined): Promise<Row> {
  return withOurs(iterate, async ({ c, cFriend, received, completed }) => {
    serve(c, data);
    return measure(async () => {
      c.fileSend(cFriend, data.length, "bench.bin");
      await until(() => completed() === 1 && received() === data.length, 600_000, "c -> ours file");
    }, data.length);
  });
}

const median = (rows: Row[]): Row =>
  [...rows].sort((x, y) => x.mbPerSecond - y.mbPerSecond)[rows.length >> 1]!;

export default async function main(): Promise<void> {
  const sizeArg = process.argv.slice(2).find((a) => /^\d+$/.test(a));
  const size = Number(sizeArg ?? process.env.TOX_FILES_BENCH_MIB ?? 32) * MIB;
  const iterateArg = argValue("iterate-every");
  const iterate = iterateArg === undefined ? undefined : Number(iterateArg);
  const rounds = Number(process.env.TOX_BENCH_ROUNDS ?? 1);
  const data = randomBytes(size);
  const base: Row[] = [];
  const out: Row[] = [];
  const inn: Row[] = [];
  for (let r = 0; r < rounds; r++) {
    base.push(await cToC(data, iterate));
    out.push(await oursToC(data, iterate));
    inn.push(await cToOurs(data, iterate));
  }
  const b = median(base);
  const o = median(out);
  const i = median(inn);
  const cadence = iterate === undefined ? "as asked" : `every ${iterate} ms`;
  printTable(
    ["direction", "MiB", "ms", "MiB/s", "process CPU %"],
    [
      ["c-toxcore -> c-toxcore", size / MIB, b.ms, b.mbPerSecond, b.cpuPercent],
      ["ours -> c-toxcore", size / MIB, o.ms, o.mbPerSecond, o.cpuPercent],
      ["c-toxcore -> ours", size / MIB, i.ms, i.mbPerSecond, i.cpuPercent],
    ],
    `File transfer throughput, loopback UDP, c-toxcore iterate ${cadence}, ${rounds} round(s), median`,
  );
  printComparison(
    [
      {
        metric: "file send (ours -> C vs C -> C)",
        unit: "MiB/s",
        ours: o.mbPerSecond,
        baseline: b.mbPerSecond,
        higherIsBetter: true,
      },
      {
        metric: "file receive (C -> ours vs C -> C)",
        unit: "MiB/s",
        ours: i.mbPerSecond,
        baseline: b.mbPerSecond,
        higherIsBetter: true,
      },
    ],
    "Files: ours vs c-toxcore 0.2.18 (goal >= 1.0)",
  );
}

runIfMain(import.meta.url, main);
