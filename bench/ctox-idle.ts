/**
 * The anchor issue 4 measures idle identities against, measured here: N idle c-toxcore 0.2.18
 * instances, ONE PROCESS EACH (the anchor is "one c-toxcore instance per identity"), so that
 * every figure per identity (memory, CPU, UDP traffic, memory per connected friend) rests on a
 * run anyone can repeat, next to bench/tox-idle.ts (ours).
 *
 * Method:
 * - bench/ctox-idle/idle.c is compiled with gcc against libtoxcore-dev into os.tmpdir() (named
 *   by the hash of its source). Each process runs one Tox instance (UDP on, IPv6 and LAN
 *   discovery off, no TCP server, no friends) bootstrapped to 3 local tox-bootstrapd daemons and
 *   iterated when tox_iteration_interval asks. It counts its own UDP traffic: it defines
 *   sendto/recvfrom (what 0.2.18's network.c calls; send/recv only on TCP relay sockets, counted
 *   apart) and forwards to libc via dlsym(RTLD_NEXT), printing the counters on a `stats` line.
 * - Instances start at --rate per second, one port each; the bench waits until they are online
 *   (tox_self_get_connection_status != NONE; 0.2.18 says TCP on loopback, since it counts only
 *   non-LAN DHT nodes as a UDP connection; no TCP relay is ever used), lets them settle
 *   (--settle, default 100 s as tox-idle: c-toxcore re-announces less often once its announce
 *   nodes are stable), then
 *   measures over a window (--window, default 60 s): RSS (VmRSS, RssAnon; PSS from smaps_rollup,
 *   which splits shared library pages between the processes), CPU from /proc/PID/stat
 *   (utime+stime, clock ticks) and /proc/PID/schedstat (run time in ns, the precise one), and
 *   the UDP counters. All figures are means over the N processes (= totals / N).
 * - "Tox part" of RSS: VmRSS minus that of the same program stopped just before tox_new (same
 *   libraries loaded; `idle --bare`, median of 3).
 * - Memory per connected friend: 40% of the instances in pairs, each adding the other with
 *   tox_friend_add_norequest (they find each other through the onion, as friends do); once both
 *   sides report a connection, 10 s later, the RSS change of each befriended process minus the
 *   mean change of the instances left alone over the same time (the control) is one friend
 *   connection's cost. Then a second window (30 s) gives traffic and CPU with one friend online.
 *
 * Measured here (2 cores shared with other jobs, load average 2-6), N = 100, two runs (settle
 * 100 s / 220 s): per idle identity VmRSS 3.6 MB, of which 1.14-1.21 MB after the program's own
 * 2.4 MB; RssAnon after the program's own 568-574 kB; PSS 752-758 kB; CPU 690-712 µs/s;
 * 4.73-4.78 UDP packets/s and 989-1,002 B/s (in+out); 0.55-0.56 MB RSS per connected friend.
 * Traffic comes in bursts (one 20 s settle step: 1.4 to 20 packets/s per identity), so a 60 s
 * window is good to ~10%: pass --window 120 or more for tighter figures.
 *
 * Run (takes the machine lock: it loads both cores):
 *   flock /tmp/toxbridge-heavy.lock npx tsx bench/ctox-idle.ts            # N = 100, ~5 min
 *   npx tsx bench/ctox-idle.ts --n 20 --settle 30 --window 30              # quick run, ~2 min
 * Options: --n N (<= 650), --settle S, --window S, --rate R (instances started per second,
 * default 10), --pairs P (default 40% of N / 2).
 * Ports (loopback): instances 36000-36099, 36150-36499, 36600-36799 (UDP; the rest of 36000-36799
 * belongs to test files), daemons 35970-35975 (UDP DHT + TCP relay).
 * Needs gcc (build-essential), libtoxcore-dev and toxcore-utils: scripts/install-test-deps.sh.
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { BOOTSTRAPD_PATH, type Bootstrapd, startBootstrapNetwork } from "../test/interop/bootstrapd.js";
import { runIfMain } from "./lib/runner.js";
import { type Summary, summarize } from "./lib/stats.js";
import { printTable } from "./lib/table.js";
import { sleep } from "./lib/timing.js";

/** Issue 4's figures for c-toxcore 0.2.18 at N = 100 (how they were measured is not recorded). */
const ISSUE_ANCHOR = { kbPerIdentity: 490, packetsPerSecond: 7, bytesPerSecond: 2100, mbPerFriend: 0.58 };
const DAEMON_PORT = 35970;
/**
 * Instance i binds the i-th port of these ranges: the bench's 36000-36799 without the ports test
 * files bind there (test/helpers/ports.ts: 36100-36149 and 36500-36599), so a test started on
 * the side does not fail for a port this bench holds.
 */
const INSTANCE_PORT_RANGES: readonly [number, number][] = [
  [36000, 36099],
  [36150, 36499],
  [36600, 36799],
];
const INSTANCE_PORTS = INSTANCE_PORT_RANGES.flatMap(([first, last]) =>
  Array.from({ length: last - first + 1 }, (_, i) => first + i),
);
const SOURCE = join(dirname(fileURLToPath(import.meta.url)), "ctox-idle", "idle.c");
const FRIEND_SETTLE_MS = 10_000;
const FRIEND_WINDOW_MS = 30_000;
const SETTLE_STEP_MS = 20_000;

// ---------------------------------------------------------------------------------------------
// Building the C program

function missing(what: string, detail: string): Error {
  return new Error(
    `ctox-idle: ${what} (${detail}). Install build-essential, libtoxcore-dev and toxcore-utils: ` +
      "scripts/install-test-deps.sh",
  );
}

/** Compiles idle.c (once per source version) and returns the executable's path; throws clearly if
 * gcc, libtoxcore-dev or tox-bootstrapd is missing. */
export function buildIdleProgram(): string {
  const gcc = spawnSync("gcc", ["--version"], { encoding: "utf8" });
  if (gcc.error || gcc.status !== 0) throw missing("gcc is not available", gcc.error?.message ?? gcc.stderr);
  if (!existsSync("/usr/include/tox/tox.h")) throw missing("libtoxcore-dev is missing", "no tox/tox.h");
  if (!existsSync(BOOTSTRAPD_PATH)) throw missing("tox-bootstrapd is missing", BOOTSTRAPD_PATH);
  const source = readFileSync(SOURCE);
  const hash = createHash("sha256").update(source).digest("hex").slice(0, 12);
  const dir = join(tmpdir(), "toxbridge-ctox-idle");
  const exe = join(dir, `idle-${hash}`);
  if (!existsSync(exe)) {
    mkdirSync(dir, { recursive: true });
    // Another run may compile at the same time: build under a private name, then rename.
    const partial = `${exe}.${process.pid}`;
    // -rdynamic exports our sendto/recvfrom/send/recv so libtoxcore's calls bind to them.
    const cc = spawnSync(
      "gcc",
      ["-O2", "-Wall", "-Wextra", "-o", partial, SOURCE, "-rdynamic", "-ltoxcore", "-ldl"],
      { encoding: "utf8" },
    );
    if (cc.status !== 0) throw missing("compiling bench/ctox-idle/idle.c failed", cc.stderr.trim());
    renameSync(partial, exe);
  }
  const check = spawnSync(exe, ["--check"], { encoding: "utf8" });
  if (check.stdout.trim() !== "CHECK ok")
    throw new Error(
      `ctox-idle: ${exe} does not see libtoxcore's socket calls: ${check.stdout}${check.stderr}`,
    );
  return exe;
}

// ---------------------------------------------------------------------------------------------
// /proc readers

const CLOCK_TICKS = (() => {
  const r = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

interface Memory {
  rssKb: number;
  anonKb: number;
  pssKb: number;
}

function readMemory(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  const kb = (text: string, key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1]);
  return { rssKb: kb(status, "VmRSS"), anonKb: kb(status, "RssAnon"), pssKb: kb(rollup, "Pss") };
}

interface Cpu {
  /** utime + stime from /proc/PID/stat, µs (clock-tick resolution). */
  statUs: number;
  /** Time on CPU from /proc/PID/schedstat, µs (ns resolution). */
  runUs: number;
}

function readCpu(pid: number): Cpu {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces and parentheses): state is field 3.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[14 - 3]) + Number(fields[15 - 3]);
  const run = Number(readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ")[0]);
  return { statUs: (ticks * 1e6) / CLOCK_TICKS, runUs: run / 1000 };
}

// ---------------------------------------------------------------------------------------------
// One instance (process)

type Connection = "none" | "tcp" | "udp";

interface Counters {
  udpOutPackets: number;
  udpOutBytes: number;
  udpInPackets: number;
  udpInBytes: number;
  tcpCalls: number;
  iterations: number;
}

class IdleProcess {
  readonly startedAt = performance.now();
  onlineAfterMs: number | undefined;
  self: Connection = "none";
  friend: Connection = "none";
  friendConnectedAt: number | undefined;
  publicKeyHex = "";
  version = "";
  readonly errors: string[] = [];
  private readonly statsWaiters: ((c: Counters) => void)[] = [];
  private readonly ready: Promise<void>;
  private stderr = "";

  constructor(
    readonly label: string,
    private readonly child: ChildProcessWithoutNullStreams,
    readyLine: "READY" | "BARE",
  ) {
    child.stderr.on("data", (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-2000);
    });
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(this.failure("not ready in 15 s")), 15_000);
      child.once("exit", (code) => reject(this.failure(`exited (${code})`)));
      createInterface({ input: child.stdout }).on("line", (line) => {
        if (line.startsWith(readyLine)) {
          clearTimeout(timer);
          this.publicKeyHex = /pk=([0-9a-f]+)/.exec(line)?.[1] ?? "";
          this.version = /version=(\S+)/.exec(line)?.[1] ?? "";
          resolve();
        } else this.onLine(line);
      });
    });
    // The ready promise may be rejected after use (exit at kill): keep that from going unhandled.
    this.ready.catch(() => undefined);
  }

  static start(exe: string, label: string, args: string[], readyLine: "READY" | "BARE"): IdleProcess {
    return new IdleProcess(label, spawn(exe, args, { stdio: ["pipe", "pipe", "pipe"] }), readyLine);
  }

  get pid(): number {
    return this.child.pid!;
  }

  whenReady(): Promise<void> {
    return this.ready;
  }

  private failure(why: string): Error {
    return new Error(`ctox-idle: ${this.label} ${why}; stderr: ${this.stderr.trim() || "-"}`);
  }

  private onLine(line: string): void {
    const [kind, ...rest] = line.split(" ");
    if (kind === "SELF") {
      this.self = rest[0] as Connection;
      if (this.self !== "none") this.onlineAfterMs ??= performance.now() - this.startedAt;
    } else if (kind === "FRIEND") {
      this.friend = rest[1] as Connection;
      if (this.friend !== "none") this.friendConnectedAt ??= performance.now();
    } else if (kind === "STATS") {
      const v = Object.fromEntries(rest.map((kv) => kv.split("=")).map(([k, x]) => [k, Number(x)]));
      this.statsWaiters.shift()?.({
        udpOutPackets: v.udp_out_pkts ?? 0,
        udpOutBytes: v.udp_out_bytes ?? 0,
        udpInPackets: v.udp_in_pkts ?? 0,
        udpInBytes: v.udp_in_bytes ?? 0,
        tcpCalls: (v.tcp_out_calls ?? 0) + (v.tcp_in_calls ?? 0),
        iterations: v.iterations ?? 0,
      });
    } else if (kind === "ERROR") this.errors.push(line);
  }

  stats(): Promise<Counters> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(this.failure("did not answer `stats` in 5 s")), 5000);
      this.statsWaiters.push((c) => {
        clearTimeout(timer);
        resolve(c);
      });
      this.child.stdin.write("stats\n");
    });
  }

  addFriend(publicKeyHex: string): void {
    this.child.stdin.write(`friend ${publicKeyHex}\n`);
  }

  /** Closes stdin (the program quits), SIGKILL if it has not after 2 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once("exit", () => r()));
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 2000);
    await exited;
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// Measurement

export interface CToxIdleOptions {
  n: number;
  settleMs: number;
  windowMs: number;
  /** Instances started per second. */
  rate: number;
  /** Befriended pairs for memory per friend. */
  pairs: number;
}

/** Per-instance figures over a window, each summarised across instances. */
interface WindowFigures {
  seconds: number;
  cpuStatUsPerS: Summary;
  cpuRunUsPerS: Summary;
  packetsPerS: Summary;
  packetsOutPerS: Summary;
  packetsInPerS: Summary;
  bytesPerS: Summary;
  bytesOutPerS: Summary;
  bytesInPerS: Summary;
  tcpCallsPerS: Summary;
  iterationsPerS: Summary;
  loadAverage: [number, number];
}

interface SettleStep {
  afterS: number;
  figures: WindowFigures;
}

export interface CToxIdleResult {
  version: string;
  n: number;
  online: number;
  onlineS: Summary;
  settleS: number;
  /** Figures of each settle step, and when it ended (s after the last instance was ready). */
  settling: SettleStep[];
  bareRssKb: number;
  bareAnonKb: number;
  rssKb: Summary;
  toxRssKb: Summary;
  anonKb: Summary;
  /** RssAnon minus that of the program stopped before tox_new: what Tox allocated privately. */
  toxAnonKb: Summary;
  pssKb: Summary;
  idle: WindowFigures;
  friends: {
    pairs: number;
    connected: number;
    connectS: Summary;
    /** RSS change of each befriended process minus the control group's mean change, MB. */
    mbPerFriend: Summary;
    pssMbPerFriend: Summary;
    controlDriftKb: number;
    withFriend: WindowFigures;
    control: WindowFigures;
  };
}

async function measureWindow(processes: IdleProcess[], ms: number): Promise<WindowFigures> {
  const load0 = loadavg()[0]!;
  const cpu0 = processes.map((p) => readCpu(p.pid));
  const c0 = await Promise.all(processes.map((p) => p.stats()));
  const t0 = performance.now();
  await sleep(ms);
  const c1 = await Promise.all(processes.map((p) => p.stats()));
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = processes.map((p) => readCpu(p.pid));
  const per = (f: (i: number) => number) => summarize(processes.map((_, i) => f(i) / seconds));
  const d = (k: keyof Counters) => (i: number) => c1[i]![k] - c0[i]![k];
  return {
    seconds,
    cpuStatUsPerS: per((i) => cpu1[i]!.statUs - cpu0[i]!.statUs),
    cpuRunUsPerS: per((i) => cpu1[i]!.runUs - cpu0[i]!.runUs),
    packetsPerS: per((i) => d("udpOutPackets")(i) + d("udpInPackets")(i)),
    packetsOutPerS: per(d("udpOutPackets")),
    packetsInPerS: per(d("udpInPackets")),
    bytesPerS: per((i) => d("udpOutBytes")(i) + d("udpInBytes")(i)),
    bytesOutPerS: per(d("udpOutBytes")),
    bytesInPerS: per(d("udpInBytes")),
    tcpCallsPerS: per(d("tcpCalls")),
    iterationsPerS: per(d("iterations")),
    loadAverage: [load0, loadavg()[0]!],
  };
}

/** RSS and RssAnon of the program stopped before tox_new (median of 3). */
async function bareMemory(exe: string): Promise<{ rssKb: number; anonKb: number }> {
  const bare = [0, 1, 2].map((i) => IdleProcess.start(exe, `bare#${i}`, ["--bare"], "BARE"));
  try {
    await Promise.all(bare.map((p) => p.whenReady()));
    await sleep(200);
    const memory = bare.map((p) => readMemory(p.pid));
    return {
      rssKb: summarize(memory.map((m) => m.rssKb)).p50,
      anonKb: summarize(memory.map((m) => m.anonKb)).p50,
    };
  } finally {
    await Promise.all(bare.map((p) => p.stop()));
  }
}

export async function measureCToxIdle(o: CToxIdleOptions): Promise<CToxIdleResult> {
  const span = INSTANCE_PORTS.length;
  if (o.n < 2 || o.n > span) throw new Error(`ctox-idle: --n must be 2..${span} (one port each)`);
  if (2 * o.pairs > o.n) throw new Error("ctox-idle: --pairs must be at most n / 2");
  const exe = buildIdleProgram();
  const bare = await bareMemory(exe);
  const daemons: Bootstrapd[] = await startBootstrapNetwork(3, DAEMON_PORT);
  const bootstrapArgs = daemons.flatMap((d) => ["--bootstrap", `${d.host}:${d.port}:${d.publicKeyHex}`]);
  const all: IdleProcess[] = [];
  try {
    for (let i = 0; i < o.n; i++) {
      const port = INSTANCE_PORTS[i]!;
      all.push(IdleProcess.start(exe, `instance#${i}`, ["--port", String(port), ...bootstrapArgs], "READY"));
      if (i % o.rate === o.rate - 1) await sleep(1000);
    }
    await Promise.all(all.map((p) => p.whenReady()));
    const t0 = performance.now();
    const onlineLimitMs = 120_000;
    while (performance.now() - t0 < onlineLimitMs && all.some((p) => p.self === "none")) await sleep(500);
    const online = all.filter((p) => p.self !== "none").length;
    console.log(
      `ctox-idle N=${o.n}: ${online}/${o.n} online ${((performance.now() - t0) / 1000).toFixed(0)} s after the last start; settling ${o.settleMs / 1000} s`,
    );
    // Settle in 20 s steps, each measured: the series shows whether traffic has levelled off.
    const settling: SettleStep[] = [];
    const settleStart = performance.now();
    for (let left = o.settleMs; left > 0; left = o.settleMs - (performance.now() - settleStart)) {
      const step = await measureWindow(all, Math.min(SETTLE_STEP_MS, left));
      settling.push({ afterS: (performance.now() - t0) / 1000, figures: step });
    }

    const idle = await measureWindow(all, o.windowMs);
    const memory = all.map((p) => readMemory(p.pid));
    const mem = (f: (m: Memory) => number) => summarize(memory.map(f));

    // Memory per connected friend: pairs (0,1), (2,3), ...; the rest is the control group.
    const befriended = all.slice(0, 2 * o.pairs);
    const control = all.slice(2 * o.pairs);
    console.log(`ctox-idle: befriending ${o.pairs} pairs (${control.length} instances as control)`);
    const before = all.map((p) => readMemory(p.pid));
    const tf = performance.now();
    for (let i = 0; i + 1 < befriended.length; i += 2) {
      const a = befriended[i]!;
      const b = befriended[i + 1]!;
      a.addFriend(b.publicKeyHex);
      b.addFriend(a.publicKeyHex);
    }
    const connectLimitMs = 120_000;
    while (performance.now() - tf < connectLimitMs && befriended.some((p) => p.friend === "none"))
      await sleep(250);
    const connected = befriended.filter((p) => p.friend !== "none");
    await sleep(FRIEND_SETTLE_MS);
    const after = all.map((p) => readMemory(p.pid));
    const delta = (i: number, k: keyof Memory) => after[i]![k] - before[i]![k];
    const controlDrift = (k: keyof Memory) =>
      control.length ? summarize(control.map((p) => delta(all.indexOf(p), k))).mean : 0;
    const perFriend = (k: keyof Memory) =>
      summarize(connected.map((p) => (delta(all.indexOf(p), k) - controlDrift(k)) / 1024));
    // Same window for both groups: load and network state are shared.
    const [withFriend, controlWindow] = await Promise.all([
      measureWindow(connected, FRIEND_WINDOW_MS),
      control.length ? measureWindow(control, FRIEND_WINDOW_MS) : undefined,
    ]);
    const errors = all.flatMap((p) => p.errors.map((e) => `${p.label}: ${e}`));
    if (errors.length) console.log(`ctox-idle: ${errors.length} ERROR lines, first: ${errors[0]}`);

    return {
      version: all[0]?.version ?? "?",
      n: o.n,
      online: all.filter((p) => p.self !== "none").length,
      onlineS: summarize(all.flatMap((p) => (p.onlineAfterMs === undefined ? [] : [p.onlineAfterMs / 1000]))),
      settleS: o.settleMs / 1000,
      settling,
      bareRssKb: bare.rssKb,
      bareAnonKb: bare.anonKb,
      rssKb: mem((m) => m.rssKb),
      toxRssKb: mem((m) => m.rssKb - bare.rssKb),
      anonKb: mem((m) => m.anonKb),
      toxAnonKb: mem((m) => m.anonKb - bare.anonKb),
      pssKb: mem((m) => m.pssKb),
      idle,
      friends: {
        pairs: o.pairs,
        connected: connected.length,
        connectS: summarize(connected.map((p) => (p.friendConnectedAt! - tf) / 1000)),
        mbPerFriend: perFriend("rssKb"),
        pssMbPerFriend: perFriend("pssKb"),
        controlDriftKb: controlDrift("rssKb"),
        withFriend,
        control: controlWindow ?? withFriend,
      },
    };
  } finally {
    await Promise.all(all.map((p) => p.stop()));
    await Promise.all(daemons.map((d) => d.stop()));
  }
}

// ---------------------------------------------------------------------------------------------
// Output

function printResult(r: CToxIdleResult): void {
  const row = (metric: string, s: Summary, unit: string) => [metric, s.mean, s.p50, s.min, s.max, unit];
  const w = r.idle;
  printTable(
    ["per idle identity (one process each)", "mean", "median", "min", "max", "unit"],
    [
      row("RSS, whole process (VmRSS)", r.rssKb, "kB"),
      ["RSS of the same program stopped before tox_new", r.bareRssKb, r.bareRssKb, null, null, "kB"],
      row("RSS, Tox part (VmRSS - before tox_new)", r.toxRssKb, "kB"),
      row("RssAnon (heap, stack: private)", r.anonKb, "kB"),
      ["RssAnon of the program stopped before tox_new", r.bareAnonKb, r.bareAnonKb, null, null, "kB"],
      row("RssAnon, Tox part (what Tox allocated)", r.toxAnonKb, "kB"),
      row("PSS (shared pages split between processes)", r.pssKb, "kB"),
      row("CPU, utime+stime (/proc/PID/stat)", w.cpuStatUsPerS, "µs/s"),
      row("CPU, run time (/proc/PID/schedstat)", w.cpuRunUsPerS, "µs/s"),
      row("UDP packets in+out", w.packetsPerS, "pkt/s"),
      row("  out (sendto)", w.packetsOutPerS, "pkt/s"),
      row("  in (recvfrom)", w.packetsInPerS, "pkt/s"),
      row("UDP bytes in+out (payload)", w.bytesPerS, "B/s"),
      row("  out", w.bytesOutPerS, "B/s"),
      row("  in", w.bytesInPerS, "B/s"),
      row("TCP send/recv calls (expect 0)", w.tcpCallsPerS, "1/s"),
      row("tox_iterate calls", w.iterationsPerS, "1/s"),
      row("online after start", r.onlineS, "s"),
    ],
    `c-toxcore ${r.version} idle anchor: N = ${r.n} processes (${r.online} online at the end), 3 local ` +
      `tox-bootstrapd, settle ${r.settleS} s, window ${w.seconds.toFixed(0)} s, ` +
      `load average ${w.loadAverage[0].toFixed(2)} -> ${w.loadAverage[1].toFixed(2)} (${availableParallelism()} cores)`,
  );
  printTable(
    ["settling: step ending at s", "UDP pkt/s", "UDP B/s", "CPU µs/s", "load average"],
    r.settling.map((x) => [
      x.afterS,
      x.figures.packetsPerS.mean,
      x.figures.bytesPerS.mean,
      x.figures.cpuRunUsPerS.mean,
      x.figures.loadAverage[1],
    ]),
    "Per idle identity (means) while settling, in steps, seconds after the last instance was ready",
  );
  const f = r.friends;
  printTable(
    ["per connected friend", "mean", "median", "min", "max", "unit"],
    [
      row("RSS change - control drift", f.mbPerFriend, "MB"),
      row("PSS change - control drift", f.pssMbPerFriend, "MB"),
      ["control group RSS drift (mean)", f.controlDriftKb / 1024, null, null, null, "MB"],
      row("time to connect (after both adds)", f.connectS, "s"),
      row("CPU with one friend online", f.withFriend.cpuRunUsPerS, "µs/s"),
      row("  control (no friend), same window", f.control.cpuRunUsPerS, "µs/s"),
      row("UDP packets with one friend online", f.withFriend.packetsPerS, "pkt/s"),
      row("  control", f.control.packetsPerS, "pkt/s"),
      row("UDP bytes with one friend online", f.withFriend.bytesPerS, "B/s"),
      row("  control", f.control.bytesPerS, "B/s"),
    ],
    `${f.connected} of ${2 * f.pairs} befriended instances connected (${f.pairs} pairs, ` +
      `tox_friend_add_norequest both ways, found through the onion); RSS ${FRIEND_SETTLE_MS / 1000} s after`,
  );
  const ratio = (measured: number, issue: number) => `${(measured / issue).toFixed(2)}x`;
  printTable(
    ["metric", "issue 4", "measured here", "measured / issue"],
    [
      [
        "kB RSS per idle identity, Tox part",
        ISSUE_ANCHOR.kbPerIdentity,
        r.toxRssKb.mean,
        ratio(r.toxRssKb.mean, ISSUE_ANCHOR.kbPerIdentity),
      ],
      [
        "kB RSS per idle identity, whole process",
        ISSUE_ANCHOR.kbPerIdentity,
        r.rssKb.mean,
        ratio(r.rssKb.mean, ISSUE_ANCHOR.kbPerIdentity),
      ],
      [
        "kB private memory (RssAnon) per idle identity, Tox part",
        ISSUE_ANCHOR.kbPerIdentity,
        r.toxAnonKb.mean,
        ratio(r.toxAnonKb.mean, ISSUE_ANCHOR.kbPerIdentity),
      ],
      [
        "kB PSS per idle identity",
        ISSUE_ANCHOR.kbPerIdentity,
        r.pssKb.mean,
        ratio(r.pssKb.mean, ISSUE_ANCHOR.kbPerIdentity),
      ],
      ["CPU µs/s per idle identity", null, w.cpuRunUsPerS.mean, "-"],
      [
        "UDP pkt/s per idle identity",
        ISSUE_ANCHOR.packetsPerSecond,
        w.packetsPerS.mean,
        ratio(w.packetsPerS.mean, ISSUE_ANCHOR.packetsPerSecond),
      ],
      [
        "UDP B/s per idle identity",
        ISSUE_ANCHOR.bytesPerSecond,
        w.bytesPerS.mean,
        ratio(w.bytesPerS.mean, ISSUE_ANCHOR.bytesPerSecond),
      ],
      [
        "MB per connected friend",
        ISSUE_ANCHOR.mbPerFriend,
        f.mbPerFriend.mean,
        ratio(f.mbPerFriend.mean, ISSUE_ANCHOR.mbPerFriend),
      ],
    ],
    `Against issue 4's anchor (c-toxcore 0.2.18, N = 100); measured: means over N = ${r.n}`,
  );
  // One line to paste into bench/tox-idle.ts's ANCHOR or a note.
  console.log(
    `CTOX_IDLE_ANCHOR ${JSON.stringify({
      n: r.n,
      kbPerIdentity: round(r.toxRssKb.mean),
      kbPerProcess: round(r.rssKb.mean),
      pssKbPerIdentity: round(r.pssKb.mean),
      anonKbPerIdentity: round(r.toxAnonKb.mean),
      cpuUsPerSecond: round(w.cpuRunUsPerS.mean),
      packetsPerSecond: round(w.packetsPerS.mean, 2),
      bytesPerSecond: round(w.bytesPerS.mean),
      mbPerFriend: round(f.mbPerFriend.mean, 3),
      loadAverage: w.loadAverage.map((x) => round(x, 2)),
    })}`,
  );
}

const round = (x: number, digits = 1): number => Number(x.toFixed(digits));

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

export default async function main(): Promise<void> {
  const n = Number(argValue("--n") ?? 100);
  const r = await measureCToxIdle({
    n,
    settleMs: Number(argValue("--settle") ?? 100) * 1000,
    windowMs: Number(argValue("--window") ?? 60) * 1000,
    rate: Number(argValue("--rate") ?? 10),
    pairs: Number(argValue("--pairs") ?? Math.floor((n * 0.4) / 2)),
  });
  printResult(r);
}

runIfMain(import.meta.url, main);
