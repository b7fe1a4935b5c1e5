/**
 * Idle hosted identities: what N Tox identities cost in one ToxNode while they do nothing but
 * stay online, bootstrapped to local tox-bootstrapd 0.2.18 daemons on loopback.
 *
 * For each N: fresh daemons, N identities added and bootstrapped, wait until (nearly) all are
 * announced on the onion, settle, then measure over a window: resident memory per identity
 * (RSS after minus RSS before, divided by N), CPU (user+system of this process per second of
 * wall time, in % of one core and per identity), UDP packets and bytes per identity per second
 * (sent and received, from the identities' sockets). Then, at the smallest N, memory per
 * connected friend: pairs of our identities made friends (direct connect, as after discovery),
 * RSS delta divided by the number of friend connections (each side counts one).
 *
 * Anchor (c-toxcore 0.2.18, one instance per identity, measured for issue 4): about 490 kB and
 * 2.1 kB/s (7 packets/s) per idle identity at N = 100, plus about 0.58 MB per connected friend.
 *
 * Run alone: npx tsx --expose-gc bench/tox-idle.ts [N...] (default 100 1000; add 5000 by hand). RSS per
 * identity is meaningful for the first N of a process only (later runs reuse freed memory): run
 * one N per process for RSS figures; the JS heap + buffers column is comparable across runs.
 * Ports: daemons 35960-35965; identities on ephemeral ports.
 */
import { newKeyPair } from "../src/tox/crypto.js";
import { type Identity, ToxNode } from "../src/tox/index.js";
import { ipPort } from "../src/tox/wire/ipport.js";
import { type Bootstrapd, startBootstrapNetwork } from "../test/interop/bootstrapd.js";
import { runIfMain } from "./lib/runner.js";
import { printTable } from "./lib/table.js";
import { sleep } from "./lib/timing.js";

const ANCHOR = { kbPerIdentity: 490, bytesPerSecond: 2100, packetsPerSecond: 7, mbPerFriend: 0.58 };
const DAEMON_PORT = 35960;
const WINDOW_MS = 20_000;
const SETTLE_MS = 10_000;

interface IdleResult {
  n: number;
  announced: number;
  announceMs: number;
  kbPerIdentity: number;
  heapKbPerIdentity: number;
  cpuPercent: number;
  cpuUsPerIdentityPerS: number;
  packetsPerIdentityPerS: number;
  bytesPerIdentityPerS: number;
  outPacketsPerIdentityPerS: number;
  outBytesPerIdentityPerS: number;
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

async function rssSettled(): Promise<number> {
  gc();
  await sleep(200);
  gc();
  return process.memoryUsage().rss;
}

/** JS heap plus buffers outside it (what protocol state costs, without allocator slack). */
function heapBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.external + m.arrayBuffers;
}

async function measureIdle(n: number): Promise<IdleResult> {
  const daemons: Bootstrapd[] = await startBootstrapNetwork(3, DAEMON_PORT);
  const rss0 = await rssSettled();
  const heap0 = heapBytes();
  const node = await ToxNode.create({
    host: "127.0.0.1",
    portRange: [0, 0],
    bootstrapNodes: daemons.map((d) => ({ host: d.host, port: d.port, publicKey: d.publicKeyHex })),
    bootstrapIdentitiesPerSecond: 100,
  });
  try {
    const identities: Identity[] = [];
    const t0 = Date.now();
    for (let i = 0; i < n; i++)
      identities.push(await node.addIdentity({ secretKey: newKeyPair().secretKey }));
    const limit = 60_000 + n * 20;
    let announced = 0;
    while (Date.now() - t0 < limit) {
      announced = identities.filter((x) => x.selfConnection() !== "none").length;
      if (announced >= n * 0.98) break;
      await sleep(1000);
    }
    const announceMs = Date.now() - t0;
    await sleep(SETTLE_MS);
    const rss1 = await rssSettled();
    const heap1 = heapBytes();
    const u0 = node.udpStats();
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    await sleep(WINDOW_MS);
    const seconds = (performance.now() - w0) / 1000;
    const cpu = process.cpuUsage(c0);
    const u1 = node.udpStats();
    announced = identities.filter((x) => x.selfConnection() !== "none").length;
    const cpuUs = cpu.user + cpu.system;
    const perIdS = (x: number) => x / n / seconds;
    return {
      n,
      announced,
      announceMs,
      kbPerIdentity: (rss1 - rss0) / 1024 / n,
      heapKbPerIdentity: (heap1 - heap0) / 1024 / n,
      cpuPercent: (cpuUs / 1e6 / seconds) * 100,
      cpuUsPerIdentityPerS: perIdS(cpuUs),
      packetsPerIdentityPerS: perIdS(u1.packetsIn - u0.packetsIn + u1.packetsOut - u0.packetsOut),
      bytesPerIdentityPerS: perIdS(u1.bytesIn - u0.bytesIn + u1.bytesOut - u0.bytesOut),
      outPacketsPerIdentityPerS: perIdS(u1.packetsOut - u0.packetsOut),
      outBytesPerIdentityPerS: perIdS(u1.bytesOut - u0.bytesOut),
    };
  } finally {
    await node.close();
    await Promise.all(daemons.map((d) => d.stop()));
  }
}

/** Memory per connected friend: `pairs` pairs of our identities, connected directly. */
async function measureFriends(
  pairs: number,
): Promise<{ friends: number; mbPerFriend: number; heapKbPerFriend: number; connectMs: number }> {
  const node = await ToxNode.create({ host: "127.0.0.1", portRange: [0, 0] });
  try {
    const ids: Identity[] = [];
    for (let i = 0; i < 2 * pairs; i++)
      ids.push(await node.addIdentity({ secretKey: newKeyPair().secretKey }));
    await sleep(2000);
    const rss0 = await rssSettled();
    const heap0 = heapBytes();
    let online = 0;
    node.on("friendConnection", (e) => {
      if (e.status !== "none") online++;
    });
    const t0 = Date.now();
    for (let i = 0; i < pairs; i++) {
      const a = ids[2 * i]!;
      const b = ids[2 * i + 1]!;
      await b.addFriendNoRequest(a.publicKey);
      await a.connectFriendDirect(b.publicKey, b.dhtPublicKey, ipPort("127.0.0.1", b.udpPort));
    }
    while (online < 2 * pairs && Date.now() - t0 < 60_000) await sleep(100);
    const connectMs = Date.now() - t0;
    await sleep(SETTLE_MS);
    const rss1 = await rssSettled();
    const friends = Math.max(1, online);
    return {
      friends: online,
      mbPerFriend: (rss1 - rss0) / 2 ** 20 / friends,
      heapKbPerFriend: (heapBytes() - heap0) / 1024 / friends,
      connectMs,
    };
  } finally {
    await node.close();
  }
}

export default async function main(): Promise<void> {
  const args = process.argv.slice(2).filter((a) => /^\d+$/.test(a));
  // 5,000 on request only: on this 2-core machine the 1,000 run already needs about half a core.
  const sizes = args.length > 0 ? args.map(Number) : [100, 1000];
  // RSS deltas are only meaningful for the first run of a process (freed memory is reused
  // later); the JS heap + buffers figure is comparable across runs.
  const results: IdleResult[] = [];
  for (const n of sizes) {
    const r = await measureIdle(n);
    results.push(r);
    console.log(
      `N=${n}: ${r.announced}/${n} announced (${(r.announceMs / 1000).toFixed(0)} s), ${r.kbPerIdentity.toFixed(1)} kB/identity, CPU ${r.cpuPercent.toFixed(1)}%`,
    );
  }
  const pairs = 100;
  const f = await measureFriends(pairs);
  printTable(
    [
      "N",
      "announced",
      "kB RSS/id",
      "kB heap/id",
      "CPU % (1 core)",
      "CPU µs/id/s",
      "UDP pkt/id/s (in+out)",
      "UDP B/id/s (in+out)",
      "pkt out/id/s",
      "B out/id/s",
    ],
    results.map((r) => [
      r.n,
      r.announced,
      r.kbPerIdentity,
      r.heapKbPerIdentity,
      r.cpuPercent,
      r.cpuUsPerIdentityPerS,
      r.packetsPerIdentityPerS,
      r.bytesPerIdentityPerS,
      r.outPacketsPerIdentityPerS,
      r.outBytesPerIdentityPerS,
    ]),
    "Idle hosted identities (ToxNode, bootstrapped to 3 local tox-bootstrapd 0.2.18)",
  );
  const first = results[0];
  printTable(
    ["metric", "c-toxcore anchor", "ours", "anchor / ours"],
    [
      [
        "kB RSS per idle identity",
        ANCHOR.kbPerIdentity,
        first?.kbPerIdentity,
        ratio(ANCHOR.kbPerIdentity, first?.kbPerIdentity),
      ],
      [
        "UDP bytes/s per idle identity",
        ANCHOR.bytesPerSecond,
        first?.bytesPerIdentityPerS,
        ratio(ANCHOR.bytesPerSecond, first?.bytesPerIdentityPerS),
      ],
      [
        "UDP packets/s per idle identity",
        ANCHOR.packetsPerSecond,
        first?.packetsPerIdentityPerS,
        ratio(ANCHOR.packetsPerSecond, first?.packetsPerIdentityPerS),
      ],
      [
        "kB JS heap + buffers per idle identity",
        ANCHOR.kbPerIdentity,
        first?.heapKbPerIdentity,
        ratio(ANCHOR.kbPerIdentity, first?.heapKbPerIdentity),
      ],
      [
        "MB per connected friend (RSS, noisy)",
        ANCHOR.mbPerFriend,
        f.mbPerFriend,
        ratio(ANCHOR.mbPerFriend, f.mbPerFriend),
      ],
      [
        "MB per connected friend (JS heap + buffers)",
        ANCHOR.mbPerFriend,
        f.heapKbPerFriend / 1024,
        ratio(ANCHOR.mbPerFriend, f.heapKbPerFriend / 1024),
      ],
      [
        "UDP packets/s out per idle identity",
        ANCHOR.packetsPerSecond,
        first?.outPacketsPerIdentityPerS,
        ratio(ANCHOR.packetsPerSecond, first?.outPacketsPerIdentityPerS),
      ],
    ],
    `Against the anchor at N = ${first?.n ?? "-"} (friends: ${f.friends} friend connections between ${pairs} pairs of our identities, online in ${f.connectMs} ms)`,
  );
}

function ratio(anchor: number, ours: number | undefined): number | undefined {
  return ours === undefined || ours <= 0 ? undefined : anchor / ours;
}

runIfMain(import.meta.url, main);
