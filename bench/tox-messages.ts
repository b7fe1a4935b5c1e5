/**
 * Our Tox stack -> c-toxcore versus c-toxcore -> c-toxcore (bench/ctox-baseline.ts), measured in
 * the same run on loopback and printed side by side with the ratio. The method mirrors the
 * baseline exactly, and the receiver is c-toxcore 0.2.18 in both rows, so its iterate cadence
 * weighs on both alike:
 * - throughput: N messages of ~100 B sent as fast as the sender accepts them (ours never refuses:
 *   sendMessage queues when the send buffer is full), timed until every message arrived and
 *   every read receipt came back;
 * - one-way latency: M messages paced every PACE ms carrying their send time;
 * - round trip: K sequential ping-pongs (c-toxcore echoes each message back to us).
 * Our sender first sends an untimed warm-up batch (2,000 messages) so the JIT has compiled the
 * send path; c-toxcore needs none.
 * A second table shows what hosting many identities costs: idle CPU and RSS per identity.
 *
 * Both scenarios run TOX_BENCH_ROUNDS times (default 3), interleaved; the round with the median
 * ratio is printed in full.
 *
 * Run: npx tsx bench/tox-messages.ts [N]   (or `npm run bench`).
 * Ports: ours 34400–34499, c-toxcore 34500–34599.
 */
import { newKeyPair } from "../src/tox/crypto.js";
import { ipPort, ToxNode } from "../src/tox/index.js";
import { CToxPeer } from "../test/interop/ctoxcore.js";
import { type CToxBaseline, runCToxBaseline } from "./ctox-baseline.js";
import { ResourceSampler } from "./lib/resources.js";
import { runIfMain } from "./lib/runner.js";
import { ratePerSecond, type Summary, summarize } from "./lib/stats.js";
import { printTable } from "./lib/table.js";
import { nowMs, sleep, stampedBody, stampOf, until, yieldToLoop } from "./lib/timing.js";

const OUR_PORTS: [number, number] = [34400, 34499];
const C_PORTS = { startPort: 34500, endPort: 34599 };

interface OursFigures {
  messages: number;
  connectMs: number;
  messagesPerSecond: number;
  throughputMs: number;
  lastDeliveredMs: number;
  oneWay: Summary;
  roundTrip: Summary;
  cpuPercent: number;
  rssMaxBytes: number;
}

export async function runOursToCTox(
  opts: {
    messages?: number;
    size?: number;
    paced?: number;
    paceMs?: number;
    pingPongs?: number;
    warmup?: number;
  } = {},
): Promise<OursFigures> {
  const n = opts.messages ?? 5000;
  const warmup = opts.warmup ?? 2000;
  const size = opts.size ?? 100;
  const paced = opts.paced ?? 1000;
  const paceMs = opts.paceMs ?? 2;
  const pingPongs = opts.pingPongs ?? 100;
  const t0 = nowMs();
  const node = await ToxNode.create({ host: "127.0.0.1", portRange: OUR_PORTS });
  const c = await CToxPeer.create({ ...C_PORTS, label: "bench-receiver", name: "receiver" });
  try {
    const me = await node.addIdentity({ secretKey: newKeyPair().secretKey, name: "sender" });
    let online = false;
    node.on("friendConnection", (e) => (online = e.status !== "none"));
    const cFriend = c.friendAddNoRequest(me.publicKeyBytes);
    await me.connectFriendDirect(c.publicKey, c.dhtId, ipPort("127.0.0.1", c.udpPort));
    await until(() => online && c.friendConnectionStatus(cFriend) === "udp", 15_000, "ours <-> c online");
    const connectMs = nowMs() - t0;

    let received = 0;
    let lastArrival = 0;
    let mode: "count" | "latency" | "echo" = "count";
    const oneWay: number[] = [];
    c.on("friendMessage", (_f, _t, text) => {
      received++;
      lastArrival = nowMs();
      if (mode === "latency") oneWay.push(lastArrival - stampOf(text));
      else if (mode === "echo") c.sendMessage(cFriend, text);
    });
    let receipts = 0;
    node.on("readReceipt", () => receipts++);
    let echoes = 0;
    node.on("friendMessage", () => echoes++);
    const pk = c.publicKey;
    const send = (text: string) => void me.sendMessage(pk, text);

    // Warm-up, untimed: a bridge runs for days, so measure JIT-compiled code, not the compiler.
    for (let i = 0; i < warmup; i++) {
      send(stampedBody(String(i), size));
      if (i % 256 === 255) await yieldToLoop();
    }
    await until(() => received >= warmup && receipts >= warmup, 60_000, "warm-up messages and receipts");
    received = 0;
    receipts = 0;
    await sleep(200);

    // Throughput.
    const sampler = new ResourceSampler(50).start();
    const start = nowMs();
    for (let i = 0; i < n; i++) {
      send(stampedBody(String(i), size));
      if (i % 256 === 255) await yieldToLoop();
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
      send(stampedBody(nowMs().toFixed(3), size));
      await sleep(paceMs);
    }
    await until(() => received >= paced, 30_000, "paced messages");

    // Round trip, sequential.
    mode = "echo";
    const rtts: number[] = [];
    for (let i = 0; i < pingPongs; i++) {
      const sent = nowMs();
      const want = echoes + 1;
      send(stampedBody(sent.toFixed(3), size));
      await until(() => echoes >= want, 5000, `echo ${i}`, 0);
      rtts.push(nowMs() - sent);
    }
    return {
      messages: n,
      connectMs,
      messagesPerSecond: ratePerSecond(n, throughputMs),
      throughputMs,
      lastDeliveredMs,
      oneWay: summarize(oneWay),
      roundTrip: summarize(rtts),
      cpuPercent: resources.cpuPercent,
      rssMaxBytes: resources.rssMaxBytes,
    };
  } finally {
    c.kill();
    await node.close();
  }
}

/** Idle cost of hosting `count` identities, half of them friends of the other half and online. */
export async function runIdentityCost(count = 100, idleMs = 3000) {
  const node = await ToxNode.create({ host: "127.0.0.1", portRange: OUR_PORTS });
  try {
    const before = process.memoryUsage().rss;
    const ids = [];
    for (let i = 0; i < count; i++) ids.push(await node.addIdentity({ secretKey: newKeyPair().secretKey }));
    let online = 0;
    node.on("friendConnection", (e) => {
      if (e.status !== "none") online++;
    });
    for (let i = 0; i + 1 < count; i += 2) {
      await ids[i + 1]!.addFriendNoRequest(ids[i]!.publicKey);
      await ids[i]!.connectFriendDirect(
        ids[i + 1]!.publicKey,
        ids[i + 1]!.dhtPublicKey,
        ipPort("127.0.0.1", ids[i + 1]!.udpPort),
      );
    }
    await until(() => online >= count - (count % 2), 30_000, "all pairs online");
    await sleep(500);
    const sampler = new ResourceSampler(100).start();
    await sleep(idleMs);
    const r = sampler.stop();
    return { count, cpuPercent: r.cpuPercent, rssPerIdentityBytes: (r.rssEndBytes - before) / count };
  } finally {
    await node.close();
  }
}

function printComparison(ours: OursFigures, base: CToxBaseline): void {
  const ratio = ours.messagesPerSecond / base.messagesPerSecond;
  printTable(
    ["metric", "ours -> c-toxcore", "c-toxcore -> c-toxcore", "ours / c"],
    [
      [
        `throughput (${ours.messages} x ~100 B, until last receipt), msg/s`,
        ours.messagesPerSecond,
        base.messagesPerSecond,
        ratio,
      ],
      [
        "  time to last read receipt, ms",
        ours.throughputMs,
        base.throughputMs,
        ours.throughputMs / base.throughputMs,
      ],
      [
        "  time to last delivery, ms",
        ours.lastDeliveredMs,
        base.lastDeliveredMs,
        ours.lastDeliveredMs / base.lastDeliveredMs,
      ],
      [
        "  CPU during throughput, % of a core",
        ours.cpuPercent,
        base.resources.cpuPercent,
        ours.cpuPercent / base.resources.cpuPercent,
      ],
      ["one-way latency p50, ms", ours.oneWay.p50, base.oneWay.p50, ours.oneWay.p50 / base.oneWay.p50],
      ["one-way latency p99, ms", ours.oneWay.p99, base.oneWay.p99, ours.oneWay.p99 / base.oneWay.p99],
      ["round trip p50, ms", ours.roundTrip.p50, base.roundTrip.p50, ours.roundTrip.p50 / base.roundTrip.p50],
      ["round trip p99, ms", ours.roundTrip.p99, base.roundTrip.p99, ours.roundTrip.p99 / base.roundTrip.p99],
      ["connect (fresh, direct vs DHT+befriend), s", ours.connectMs / 1000, base.connectMs / 1000, null],
    ],
    `Tox messages on loopback: our stack vs c-toxcore ${base.version} (receiver is c-toxcore in both rows). Goal: throughput ratio >= 1`,
  );
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Median-of-rounds figures, so both rows face the same (possibly busy) machine. */
function medianOf<T extends object>(rows: T[], pick: (r: T) => number): number {
  return median(rows.map(pick));
}

export default async function main(): Promise<void> {
  const arg = process.argv.slice(2).find((a) => /^\d+$/.test(a));
  const messages = arg ? Number(arg) : 5000;
  const rounds = Number(process.env.TOX_BENCH_ROUNDS ?? 3);
  // Interleave the two scenarios: load from other processes shifts over time and would
  // otherwise favour whichever ran in the quieter moment.
  const bases: CToxBaseline[] = [];
  const ours: OursFigures[] = [];
  for (let i = 0; i < rounds; i++) {
    bases.push(await runCToxBaseline({ messages, ...C_PORTS }));
    ours.push(await runOursToCTox({ messages }));
  }
  printTable(
    ["round", "ours msg/s", "c->c msg/s", "ours / c"],
    bases.map((b, i) => [
      i + 1,
      ours[i]!.messagesPerSecond,
      b.messagesPerSecond,
      ours[i]!.messagesPerSecond / b.messagesPerSecond,
    ]),
    `Throughput per round (${messages} x ~100 B until the last read receipt; rounds interleaved)`,
  );
  // The round with the median ours/c ratio stands for the run.
  const ratios = bases.map((b, i) => ours[i]!.messagesPerSecond / b.messagesPerSecond);
  const mid = ratios.indexOf(median(ratios));
  printComparison(ours[mid]!, bases[mid]!);
  console.log(
    `median throughput: ours ${medianOf(ours, (r) => r.messagesPerSecond).toFixed(0)} msg/s, c-toxcore ${medianOf(bases, (r) => r.messagesPerSecond).toFixed(0)} msg/s; median ratio ${median(ratios).toFixed(2)}\n`,
  );
  const cost = await runIdentityCost();
  printTable(
    ["identities", "online pairs", "idle CPU, % of a core", "RSS per identity, KiB"],
    [[cost.count, Math.floor(cost.count / 2), cost.cpuPercent, cost.rssPerIdentityBytes / 1024]],
    "Hosting many identities in one ToxNode (one UDP socket each, one timer)",
  );
}

runIfMain(import.meta.url, main);
