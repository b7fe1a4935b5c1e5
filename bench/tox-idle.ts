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
 * 2.1 kB/s (7 packets/s) per idle identity at N = 100, plus about 0.58 MB per connected friend;
 * CPU about 712 µs/s per idle identity (bench/ctox-idle.ts, which measures the whole anchor).
 *
 * Run alone: npx tsx --expose-gc bench/tox-idle.ts [--routing separate|shared] [--swarm M|auto]
 * [--settle S] [N...] (default N: 100 1000; add 5000 by hand). RSS per identity is meaningful for
 * the first N of a process only (later runs reuse freed memory): run one N per process for RSS
 * figures; the JS heap + buffers column is comparable across runs.
 *
 * Routing (ToxNodeOptions.routing): "separate" = every identity a full Tox node; "shared" = one
 * backbone DHT node and shared onion paths (identities keep their own socket, DHT key and
 * net_crypto). The backbone's traffic counts in the per-identity figures.
 *
 * The swarm: each announce node stores at most 160 announcements (c-toxcore), and an identity is
 * "announced" when at least half of its (up to 12) closest announce nodes store it. With 3
 * daemons that caps a shared-mode node at ~300 announced identities (in separate mode the
 * identities are announce nodes for each other). Real networks have thousands of nodes; the
 * bench adds M plain DHT + onion nodes of our own (c-toxcore rules, but SWARM_CAPACITY entries
 * each) in a child process, so the network can store everyone and lists fill up (an identity
 * whose announce list is at most half full asks 6 random nodes every second, as c-toxcore does):
 * `auto` = N * 12 / SWARM_CAPACITY * 1.2, at least 40. `--rate` identities start per second (default 100 separate, 50 shared).
 * Their CPU is not counted (another process), their traffic to us is.
 *
 * Run it compiled for figures that match production (dist/ is plain tsc output): tsx compiles
 * with esbuild's keepNames, which defines a `name` property on every function it creates, so
 * each closure gets a property store (~20 kB more heap per identity, and CPU on hot paths); and
 * with the node flag production uses (`npm start`), one N per process, under the machine lock:
 *   npx esbuild bench/tox-idle.ts --bundle --platform=node --format=esm --packages=external \
 *     --outfile=.tmp/bench/tox-idle.mjs
 *   flock /tmp/toxbridge-heavy.lock node --expose-gc --max-semi-space-size=1 \
 *     .tmp/bench/tox-idle.mjs --routing shared 5000
 *
 * Young generation: V8 grows the new space up to 2 x 16 MB semi-spaces under allocation pressure,
 * and that shows as RSS "per identity" (~29 kB at N = 1000). With `--max-semi-space-size=1`
 * (node flag) RSS per identity fell from ~100-104 kB to 63.5 kB at N = 1000 shared, with the same
 * CPU (90.6 µs/identity/s both); the heap column does not change. `npm start` uses it.
 *
 * Besides the headline (RSS growth / N) it prints where each identity's RSS goes (V8 heap
 * committed: young generation, old space committed but unused, live heap; `external`; the native
 * rest; and by mapping: malloc main arena, anonymous, file-backed), and the packets each
 * identity (and the backbone, divided by N) sends and receives per second by packet id, counted
 * by the transport's census hook during the window. The "kB heap/id" column is heapUsed +
 * external + arrayBuffers as before (arrayBuffers is part of external, so it counts twice; kept
 * for comparison with earlier figures; the breakdown table counts it once).
 *
 * Measured 2026-11-25 (commit 639e45a; compiled, --max-semi-space-size=1, shared routing, 100 s
 * settle + 30 s window, 2 cores shared with other helpers' test runs, load 0.3-1.7):
 *   N      announced (time)  RSS kB/id  heap kB/id  CPU µs/id/s  pkt/id/s  B/id/s
 *   5,000  100% (215 s)      25.0       15.1        34.1         0.32      102
 *   anchor (c-toxcore, one process per identity): 490 kB, 712 µs/s, 7 pkt/s, 2,100 B/s -> 19.6x,
 *   20.9x, 22x, 20.6x. RSS 25.0 = V8 heap committed 13.1 (live 10.9, old space unused 2.2, young
 *   generation 0) + external 2.1 + native rest 9.8 (malloc main arena 9.5). Traffic: only the
 *   self-announces (0x80 out / 0x84 in, 0.157 each per identity per second).
 *
 * Ports: daemons 35960-35965, swarm 38000-38999, identities and backbone 41000-54999 (loopback).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { writeHeapSnapshot } from "node:v8";
import { fromHex, toHex } from "../src/tox/bytes.js";
import { systemClock } from "../src/tox/clock.js";
import { newKeyPair } from "../src/tox/crypto.js";
import { type Identity, ToxNode, type ToxRouting } from "../src/tox/index.js";
import { Backbone } from "../src/tox/node/backbone.js";
import { UdpTransport } from "../src/tox/transport/udp.js";
import { ipPort } from "../src/tox/wire/ipport.js";
import { type Bootstrapd, startBootstrapNetwork } from "../test/interop/bootstrapd.js";
import { type MemoryBreakdown, memoryBreakdown, memoryPoint } from "./lib/memory-breakdown.js";
import { type CensusRow, PacketCensus } from "./lib/packet-census.js";
import { runIfMain } from "./lib/runner.js";
import { printTable } from "./lib/table.js";
import { sleep } from "./lib/timing.js";

/** cpuUsPerSecond: bench/ctox-idle.ts at N = 100 (one process each, /proc/PID/schedstat, load ~4). */
const ANCHOR = {
  kbPerIdentity: 490,
  bytesPerSecond: 2100,
  packetsPerSecond: 7,
  mbPerFriend: 0.58,
  cpuUsPerSecond: 712,
};
const DAEMON_PORT = 35960;
/** Fraction of identities announced before the settle period starts. */
const ANNOUNCED_TARGET = 0.995;
const WINDOW_MS = 30_000;
/**
 * After (nearly) all are announced: an announce node counts as stable (2-minute re-announce
 * instead of 15 s, c-toxcore ANNOUNCE_INTERVAL_STABLE) 90 s after it was added, as in c-toxcore;
 * measure the steady state.
 */
const DEFAULT_SETTLE_MS = 100_000;
/**
 * Announcements each swarm node stores (c-toxcore: 160). A real network spreads N identities'
 * 12 announcements over thousands of nodes; here 40 nodes of 2,000 stand in for the ~400 of
 * 160 that 5,000 identities need, because one process emulating 400 DHT nodes spends a core on
 * their own DHT upkeep and then drops onion packets.
 */
const SWARM_CAPACITY = 2000;
/**
 * Ports of the identities (and backbone): above every fixed port the tests use (<= 40012) and
 * below 55400, so that thousands of sockets do not take ports other test files expect free.
 */
const IDENTITY_PORTS: [number, number] = [41000, 54999];
/** Swarm node i binds SWARM_BASE_PORT + i (no fixed test port lies there). */
const SWARM_BASE_PORT = 38000;

interface NodeRef {
  host: string;
  port: number;
  publicKeyHex: string;
}

interface IdleResult {
  n: number;
  routing: ToxRouting;
  swarm: number;
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
  /** RSS growth per identity by part (kB). */
  memory: MemoryBreakdown;
  /** Datagrams in the window by socket role, direction and packet id. */
  census: CensusRow[];
  windowSeconds: number;
  /** At the end of the window: identities by how many of their live announce nodes store them. */
  announceLists: AnnounceListSummary;
}

interface AnnounceListSummary {
  /** Mean live announce nodes per identity (at most 12). */
  alive: number;
  /** Mean of those that store the identity. */
  stored: number;
  /** Identities with at least one live node that does not store them (asked every 3 s). */
  withUnstored: number;
}

function summarizeAnnounceLists(identities: readonly Identity[]): AnnounceListSummary {
  let alive = 0;
  let stored = 0;
  let withUnstored = 0;
  for (const x of identities) {
    const o = x.diagnostics().onion;
    alive += o.announceNodes;
    stored += o.storedOn;
    if (o.storedOn < o.announceNodes) withUnstored++;
  }
  const n = Math.max(1, identities.length);
  return { alive: alive / n, stored: stored / n, withUnstored };
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

interface IdleOptions {
  routing: ToxRouting;
  /** Identities starting per second (bootstrap in separate routing, announce in shared). */
  rate: number;
  swarm: number;
  settleMs: number;
}

async function measureIdle(n: number, o: IdleOptions): Promise<IdleResult> {
  const daemons: Bootstrapd[] = await startBootstrapNetwork(3, DAEMON_PORT);
  const refs: NodeRef[] = daemons.map((d) => ({ host: d.host, port: d.port, publicKeyHex: d.publicKeyHex }));
  const swarm = o.swarm > 0 ? await startSwarm(o.swarm, refs, SWARM_CAPACITY) : undefined;
  const rss0 = await rssSettled();
  const heap0 = heapBytes();
  const mem0 = memoryPoint();
  let backbonePort = -1;
  const census = new PacketCensus((port) => (port === backbonePort ? "backbone" : "identity")).install();
  const node = await ToxNode.create({
    host: "127.0.0.1",
    portRange: IDENTITY_PORTS,
    routing: o.routing,
    bootstrapNodes: [...refs, ...(swarm?.nodes.slice(0, 8) ?? [])].map((d) => ({
      host: d.host,
      port: d.port,
      publicKey: d.publicKeyHex,
    })),
    bootstrapIdentitiesPerSecond: o.rate,
  });
  // TOX_IDLE_HEAP_SNAPSHOT=PREFIX: heap snapshots before the identities (PREFIX.0.heapsnapshot)
  // and after the window (PREFIX.N.heapsnapshot), to compare allocations by constructor.
  backbonePort = node.backboneInfo()?.port ?? -1;
  const snapshotPrefix = process.env.TOX_IDLE_HEAP_SNAPSHOT;
  if (snapshotPrefix) writeHeapSnapshot(`${snapshotPrefix}.0.heapsnapshot`);
  try {
    const identities: Identity[] = [];
    const t0 = Date.now();
    for (let i = 0; i < n; i++)
      identities.push(await node.addIdentity({ secretKey: newKeyPair().secretKey }));
    // Identities start at `rate` per second and take ~10-20 s each to be stored (more on a busy
    // machine): allow for that.
    const limit = 60_000 + n * 120;
    let announced = 0;
    while (Date.now() - t0 < limit) {
      announced = identities.filter((x) => x.selfConnection() !== "none").length;
      if (announced >= n * ANNOUNCED_TARGET) break;
      const elapsed = Math.round((Date.now() - t0) / 1000);
      if (elapsed % 30 === 0) console.log(`  ${elapsed} s: ${announced}/${n} announced`);
      await sleep(1000);
    }
    const announceMs = Date.now() - t0;
    console.log(
      `N=${n} ${o.routing}: ${announced}/${n} announced after ${(announceMs / 1000).toFixed(0)} s; settling ${o.settleMs / 1000} s`,
    );
    await sleep(o.settleMs);
    const rss1 = await rssSettled();
    const heap1 = heapBytes();
    const mem1 = memoryPoint();
    const u0 = node.udpStats();
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    census.counting = true;
    await sleep(WINDOW_MS);
    census.counting = false;
    const seconds = (performance.now() - w0) / 1000;
    const cpu = process.cpuUsage(c0);
    const u1 = node.udpStats();
    announced = identities.filter((x) => x.selfConnection() !== "none").length;
    const announceLists = summarizeAnnounceLists(identities);
    if (snapshotPrefix) writeHeapSnapshot(`${snapshotPrefix}.${n}.heapsnapshot`);
    const cpuUs = cpu.user + cpu.system;
    const perIdS = (x: number) => x / n / seconds;
    return {
      n,
      routing: o.routing,
      swarm: o.swarm,
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
      memory: memoryBreakdown(mem0, mem1, n),
      census: census.rows(),
      windowSeconds: seconds,
      announceLists,
    };
  } finally {
    census.uninstall();
    await node.close();
    swarm?.stop();
    await Promise.all(daemons.map((d) => d.stop()));
  }
}

// ---------------------------------------------------------------------------------------------
// The swarm: plain DHT + onion relay + announce nodes of our own, in a child process

interface Swarm {
  nodes: NodeRef[];
  stop(): void;
}

/** Starts `count` swarm nodes in a child process; resolves with their addresses once bootstrapped. */
async function startSwarm(count: number, bootstrap: NodeRef[], capacity: number): Promise<Swarm> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...process.execArgv,
      fileURLToPath(import.meta.url),
      "--swarm-child",
      String(count),
      JSON.stringify(bootstrap),
      String(capacity),
    ],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const lines = createInterface({ input: child.stdout! });
  const nodes = await new Promise<NodeRef[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("swarm did not start in 120 s")), 120_000);
    lines.on("line", (line) => {
      if (line.startsWith("SWARM ")) console.log(line);
      if (!line.startsWith("READY ")) return;
      clearTimeout(timer);
      resolve(JSON.parse(line.slice(6)) as NodeRef[]);
    });
    child.once("exit", (code) => reject(new Error(`swarm exited (${code})`)));
  });
  return {
    nodes,
    stop: () => {
      child.stdin?.end();
      child.kill("SIGTERM");
    },
  };
}

/**
 * Child side: `count` nodes (each a `Backbone`: DHT + onion relay + announce node, 160 entries as
 * c-toxcore) on ephemeral loopback ports, bootstrapped from the daemons and from each other, all
 * driven by one 250 ms timer. Prints READY with the addresses once most are connected; exits
 * when stdin closes (the parent died or stopped it).
 */
async function runSwarmChild(count: number, bootstrap: NodeRef[], capacity: number): Promise<void> {
  const nodes: { backbone: Backbone; socket: UdpTransport }[] = [];
  for (let i = 0; i < count; i++) {
    let backbone: Backbone | undefined;
    const socket = await UdpTransport.open({
      host: "127.0.0.1",
      port: [SWARM_BASE_PORT + i, SWARM_BASE_PORT + 999],
      onPacket: (from, data) => backbone?.handleDatagram(from, data),
    });
    backbone = new Backbone({
      clock: systemClock,
      sink: socket,
      localAddress: socket.local,
      announceCapacity: capacity,
    });
    nodes.push({ backbone, socket });
  }
  const refOf = (x: { backbone: Backbone; socket: UdpTransport }): NodeRef => ({
    host: "127.0.0.1",
    port: x.socket.local.port,
    publicKeyHex: toHex(x.backbone.dht.publicKey),
  });
  const timer = setInterval(() => {
    for (const x of nodes) x.backbone.tick();
  }, 250);
  // Daemons accept only 32 new nodes per 2 s: join them a few at a time, the rest via each other.
  for (let i = 0; i < nodes.length; i++) {
    const x = nodes[i]!;
    const d = bootstrap[i % bootstrap.length]!;
    x.backbone.bootstrap({
      protocol: "udp",
      ipPort: ipPort(d.host, d.port),
      publicKey: fromHex(d.publicKeyHex),
    });
    if (i > 0) {
      const prev = refOf(nodes[i - 1]!);
      x.backbone.bootstrap({
        protocol: "udp",
        ipPort: ipPort(prev.host, prev.port),
        publicKey: fromHex(prev.publicKeyHex),
      });
    }
    if (i % 20 === 19) await sleep(1000);
  }
  const t0 = Date.now();
  while (Date.now() - t0 < 60_000) {
    const connected = nodes.filter((x) => x.backbone.dht.closeNodes().length >= 8).length;
    if (connected >= count * 0.95) break;
    await sleep(1000);
  }
  const connected = nodes.filter((x) => x.backbone.dht.closeNodes().length >= 8).length;
  console.log(
    `SWARM ${connected}/${count} nodes with >= 8 close nodes after ${Math.round((Date.now() - t0) / 1000)} s`,
  );
  console.log(`READY ${JSON.stringify(nodes.map(refOf))}`);
  process.stdin.resume();
  await new Promise<void>((resolve) => process.stdin.once("end", resolve));
  clearInterval(timer);
  await Promise.all(nodes.map((x) => x.socket.close()));
}

/** Memory per connected friend: `pairs` pairs of our identities, connected directly. */
async function measureFriends(
  pairs: number,
  routing: ToxRouting,
): Promise<{ friends: number; mbPerFriend: number; heapKbPerFriend: number; connectMs: number }> {
  const node = await ToxNode.create({ host: "127.0.0.1", portRange: IDENTITY_PORTS, routing });
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
    await sleep(10_000);
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

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

export default async function main(): Promise<void> {
  const routing = (argValue("--routing") ?? "separate") as ToxRouting;
  if (routing !== "separate" && routing !== "shared") throw new Error("--routing separate|shared");
  const swarmArg = argValue("--swarm") ?? "auto";
  const settleMs = Number(argValue("--settle") ?? DEFAULT_SETTLE_MS / 1000) * 1000;
  const rate = Number(argValue("--rate") ?? (routing === "shared" ? 50 : 100));
  const valued = new Set(
    ["--routing", "--swarm", "--settle", "--rate"].map((f) => process.argv.indexOf(f) + 1),
  );
  const args = process.argv.slice(2).filter((a, i) => /^\d+$/.test(a) && !valued.has(i + 2));
  // 5,000 on request only (several minutes).
  const sizes = args.length > 0 ? args.map(Number) : [100, 1000];
  const results: IdleResult[] = [];
  for (const n of sizes) {
    const swarm =
      swarmArg === "auto" ? Math.max(40, Math.ceil(((n * 12) / SWARM_CAPACITY) * 1.2)) : Number(swarmArg);
    const r = await measureIdle(n, { routing, rate, swarm, settleMs });
    results.push(r);
    console.log(
      `N=${n} ${routing}: ${r.announced}/${n} announced, ${r.kbPerIdentity.toFixed(1)} kB/identity, CPU ${r.cpuPercent.toFixed(1)}%`,
    );
  }
  const pairs = 100;
  const f = await measureFriends(pairs, routing);
  printTable(
    [
      "N",
      "routing",
      "swarm",
      "announced %",
      "to announce s",
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
      r.routing,
      r.swarm,
      (r.announced / r.n) * 100,
      r.announceMs / 1000,
      r.kbPerIdentity,
      r.heapKbPerIdentity,
      r.cpuPercent,
      r.cpuUsPerIdentityPerS,
      r.packetsPerIdentityPerS,
      r.bytesPerIdentityPerS,
      r.outPacketsPerIdentityPerS,
      r.outBytesPerIdentityPerS,
    ]),
    "Idle hosted identities (ToxNode; 3 local tox-bootstrapd 0.2.18 + swarm of our plain nodes)",
  );
  for (const r of results) printDetails(r);
  for (const r of results) {
    printTable(
      ["metric", "c-toxcore anchor", "ours", "anchor / ours"],
      [
        [
          "kB RSS per idle identity",
          ANCHOR.kbPerIdentity,
          r.kbPerIdentity,
          ratio(ANCHOR.kbPerIdentity, r.kbPerIdentity),
        ],
        [
          "kB JS heap + buffers per idle identity",
          ANCHOR.kbPerIdentity,
          r.heapKbPerIdentity,
          ratio(ANCHOR.kbPerIdentity, r.heapKbPerIdentity),
        ],
        [
          "UDP bytes/s per idle identity (in+out)",
          ANCHOR.bytesPerSecond,
          r.bytesPerIdentityPerS,
          ratio(ANCHOR.bytesPerSecond, r.bytesPerIdentityPerS),
        ],
        [
          "UDP packets/s per idle identity (in+out)",
          ANCHOR.packetsPerSecond,
          r.packetsPerIdentityPerS,
          ratio(ANCHOR.packetsPerSecond, r.packetsPerIdentityPerS),
        ],
        [
          "CPU µs/s per idle identity",
          ANCHOR.cpuUsPerSecond,
          r.cpuUsPerIdentityPerS,
          ratio(ANCHOR.cpuUsPerSecond, r.cpuUsPerIdentityPerS),
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
      ],
      `Against the anchor at N = ${r.n}, ${r.routing} routing (friends: ${f.friends} friend connections between ${pairs} pairs of our identities, online in ${f.connectMs} ms)`,
    );
  }
}

/** Where each identity's RSS goes, and which packets it still sends and receives per second. */
function printDetails(r: IdleResult): void {
  const m = r.memory;
  printTable(
    ["part", "kB per identity"],
    [
      ["RSS growth (headline: total / N)", m.rss],
      ["  V8 heap committed (heapTotal)", m.heapCommitted],
      ["    of which young generation (semi-spaces)", m.newSpace],
      ["    of which old space committed but unused", m.oldSpaceFree],
      ["    live V8 heap (heapUsed)", m.heapUsed],
      ["  external (Buffers, ArrayBuffers, WASM)", m.external],
      ["  native rest (RSS - heapTotal - external)", m.native],
      ["by mapping: malloc main arena ([heap])", m.brk],
      ["by mapping: anonymous (V8 pages, thread arenas, mmaps)", m.anon],
      ["by mapping: file-backed (binary, libraries; fixed)", m.file],
    ],
    `Memory per identity at N = ${r.n}, ${r.routing} (growth from before the identities to after settling)`,
  );
  const a = r.announceLists;
  console.log(
    `Announce lists at the end: ${a.alive.toFixed(2)} live nodes per identity, ${a.stored.toFixed(2)} storing it; ${a.withUnstored} identities have a live node that does not store them\n`,
  );
  const perIdS = (x: number) => x / r.n / r.windowSeconds;
  printTable(
    ["socket", "dir", "id", "packet", "pkt/id/s", "B/id/s"],
    r.census
      .filter((c) => perIdS(c.packets) >= 0.001)
      .map((c) => [
        c.role,
        c.direction,
        `0x${c.id.toString(16).padStart(2, "0")}`,
        c.name,
        perIdS(c.packets).toFixed(3),
        perIdS(c.bytes).toFixed(1),
      ]),
    `Packets per identity per second by kind at N = ${r.n} (window ${r.windowSeconds.toFixed(0)} s; backbone traffic divided by N too)`,
  );
}

function ratio(anchor: number, ours: number | undefined): number | undefined {
  return ours === undefined || ours <= 0 ? undefined : anchor / ours;
}

if (process.argv[2] === "--swarm-child") {
  runSwarmChild(
    Number(process.argv[3]),
    JSON.parse(process.argv[4] ?? "[]") as NodeRef[],
    Number(process.argv[5] ?? SWARM_CAPACITY),
  ).then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
} else {
  runIfMain(import.meta.url, main);
}
