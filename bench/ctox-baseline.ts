/**
 * The anchor every Tox benchmark compares against: c-toxcore 0.2.18 talking to c-toxcore 0.2.18,
 * two instances in this process on loopback, befriended by Tox ID and bootstrapped to each other
 * (no daemon), each iterated as often as its tox_iteration_interval asks.
 *
 * - throughput: N messages of ~100 bytes sent as fast as the send queue accepts them (retry on
 *   SENDQ), timed from the first send until every message arrived and every read receipt is back;
 * - one-way latency: M paced messages (one every PACE ms) carrying their send time
 *   (performance.now(), same process and clock); the receiver takes the difference on arrival;
 * - round trip: K sequential ping-pongs (the receiver echoes each message back).
 *
 * Other benchmarks call `cToxBaseline()` (memoised: measured once per run) and print a ratio.
 * Run alone: npx tsx bench/ctox-baseline.ts [N] [--iterate-every=MS]. Ports: c-toxcore 34070–34099.
 */
import { befriend, CToxPeer, ctoxVersion, SEND_MESSAGE_SENDQ } from "../test/interop/ctoxcore.js";
import { mib, type ResourceReport, ResourceSampler } from "./lib/resources.js";
import { once, runIfMain } from "./lib/runner.js";
import { ratePerSecond, type Summary, summarize } from "./lib/stats.js";
import { printTable } from "./lib/table.js";
import { nowMs, sleep, stampedBody, stampOf, until, yieldToLoop } from "./lib/timing.js";

export interface CToxBaselineOptions {
  /** Messages for the throughput run (default 5,000). */
  messages?: number;
  /** Message size in bytes (default 100). */
  messageBytes?: number;
  /** Paced messages for one-way latency (default 1,000) and their spacing in ms (default 2). */
  pacedMessages?: number;
  paceMs?: number;
  /** Sequential ping-pongs for round-trip time (default 100). */
  pingPongs?: number;
  startPort?: number;
  endPort?: number;
  /** Iterate both instances at this fixed cadence instead of what they ask (50 ms in 0.2.18). */
  iterateEveryMs?: number;
}

export interface CToxBaseline {
  version: string;
  /** "as asked" (tox_iteration_interval) or the fixed override in ms. */
  iterate: string;
  messages: number;
  messageBytes: number;
  /** Time from two fresh instances to a UDP friend connection, ms. */
  connectMs: number;
  /** Messages per second until the last read receipt. */
  messagesPerSecond: number;
  throughputMs: number;
  /** When the last message (not receipt) arrived, ms after the first send. */
  lastDeliveredMs: number;
  /** SENDQ refusals met during the throughput run. */
  sendqRetries: number;
  /** One-way latency of paced messages, ms. */
  oneWay: Summary;
  paceMs: number;
  /** Ping-pong round-trip time, ms. */
  roundTrip: Summary;
  /** CPU and memory of this process over the throughput run (both C instances). */
  resources: ResourceReport;
}

export async function runCToxBaseline(opts: CToxBaselineOptions = {}): Promise<CToxBaseline> {
  const n = opts.messages ?? 5000;
  const size = opts.messageBytes ?? 100;
  const paced = opts.pacedMessages ?? 1000;
  const paceMs = opts.paceMs ?? 2;
  const pingPongs = opts.pingPongs ?? 100;
  const ports = {
    startPort: opts.startPort ?? 34070,
    endPort: opts.endPort ?? 34099,
    iterateEveryMs: opts.iterateEveryMs,
  };

  const t0 = nowMs();
  const a = await CToxPeer.create({ ...ports, label: "baseline-sender", name: "sender" });
  const b = await CToxPeer.create({ ...ports, label: "baseline-receiver", name: "receiver" });
  try {
    a.bootstrapToPeer(b);
    b.bootstrapToPeer(a);
    const { aFriend, bFriend } = await befriend(a, b, { timeoutMs: 60_000 });
    await until(() => a.friendConnectionStatus(aFriend) === "udp", 30_000, "c-toxcore pair on UDP");
    const connectMs = nowMs() - t0;

    // Receiver bookkeeping, switched between the three phases.
    let received = 0;
    let lastArrival = 0;
    let mode: "count" | "latency" | "echo" = "count";
    const oneWay: number[] = [];
    b.on("friendMessage", (_f, _t, text) => {
      received++;
      lastArrival = nowMs();
      if (mode === "latency") oneWay.push(lastArrival - stampOf(text));
      else if (mode === "echo") b.sendMessage(bFriend, text);
    });
    let receipts = 0;
    a.on("friendReadReceipt", () => receipts++);
    const send = (text: string): boolean => {
      const r = a.trySendMessage(aFriend, text);
      if (!r.ok && r.code !== SEND_MESSAGE_SENDQ) throw new Error(`tox_friend_send_message error ${r.code}`);
      return r.ok;
    };

    // Throughput.
    const sampler = new ResourceSampler(50).start();
    const start = nowMs();
    let sendqRetries = 0;
    for (let i = 0; i < n; ) {
      if (send(stampedBody(String(i), size))) i++;
      else {
        sendqRetries++;
        await yieldToLoop();
      }
      if (i % 256 === 0) await yieldToLoop();
    }
    await until(() => received >= n && receipts >= n, 120_000, "all messages and read receipts");
    const throughputMs = nowMs() - start;
    const lastDeliveredMs = lastArrival - start;
    const resources = sampler.stop();

    // One-way latency, paced.
    await sleep(200);
    received = 0;
    mode = "latency";
    for (let i = 0; i < paced; i++) {
      while (!send(stampedBody(nowMs().toFixed(3), size))) await yieldToLoop();
      await sleep(paceMs);
    }
    await until(() => received >= paced, 30_000, "paced messages");

    // Round trip, sequential.
    mode = "echo";
    const rtts: number[] = [];
    let echoes = 0;
    a.on("friendMessage", () => echoes++);
    for (let i = 0; i < pingPongs; i++) {
      const sent = nowMs();
      const want = echoes + 1;
      while (!send(stampedBody(sent.toFixed(3), size))) await yieldToLoop();
      await until(() => echoes >= want, 5000, `echo ${i}`, 0);
      rtts.push(nowMs() - sent);
    }

    return {
      version: ctoxVersion(),
      iterate: opts.iterateEveryMs === undefined ? "as asked" : `every ${opts.iterateEveryMs} ms`,
      messages: n,
      messageBytes: size,
      connectMs,
      messagesPerSecond: ratePerSecond(n, throughputMs),
      throughputMs,
      lastDeliveredMs,
      sendqRetries,
      oneWay: summarize(oneWay),
      paceMs,
      roundTrip: summarize(rtts),
      resources,
    };
  } finally {
    a.kill();
    b.kill();
  }
}

/** The default baseline, measured at most once per process (shared by every bench in a run). */
export const cToxBaseline: () => Promise<CToxBaseline> = once(() => runCToxBaseline());

export function printCToxBaseline(r: CToxBaseline): void {
  printTable(
    ["metric", "value", "unit"],
    [
      ["friend connection (fresh pair, UDP)", r.connectMs / 1000, "s"],
      [`throughput (${r.messages} x ${r.messageBytes} B, until last receipt)`, r.messagesPerSecond, "msg/s"],
      ["  time to last read receipt", r.throughputMs, "ms"],
      ["  time to last delivery", r.lastDeliveredMs, "ms"],
      ["  SENDQ retries", r.sendqRetries, ""],
      ["  CPU (process, both instances)", r.resources.cpuPercent, "% of a core"],
      ["  RSS max", mib(r.resources.rssMaxBytes), "MiB"],
    ],
    `c-toxcore ${r.version} -> c-toxcore ${r.version}, loopback, one process, iterate ${r.iterate}`,
  );
  const row = (name: string, s: Summary) => [name, s.count, s.p50, s.p90, s.p99, s.max];
  printTable(
    ["latency (ms)", "n", "p50", "p90", "p99", "max"],
    [row(`one-way, paced every ${r.paceMs} ms`, r.oneWay), row("round trip, ping-pong", r.roundTrip)],
  );
}

export default async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const n = args.find((a) => /^\d+$/.test(a));
  const every = args.find((a) => a.startsWith("--iterate-every="))?.split("=")[1];
  const custom = n !== undefined || every !== undefined;
  const r = custom
    ? await runCToxBaseline({
        messages: n === undefined ? undefined : Number(n),
        iterateEveryMs: every === undefined ? undefined : Number(every),
      })
    : await cToxBaseline();
  printCToxBaseline(r);
}

runIfMain(import.meta.url, main);
