/**
 * Messages per second and one-way latency, our stack -> c-toxcore versus c-toxcore ->
 * c-toxcore, measured in the same run on loopback and printed as a table with the ratio.
 *
 * Method (same for both rows; the receiver is always c-toxcore 0.2.18 so its iterate cadence
 * weighs on both alike):
 * - throughput: N messages of ~100 bytes sent as fast as the sender accepts them (c-toxcore:
 *   retry on SENDQ; ours: sendMessage queues when the window is full), timed until every message
 *   arrived and every read receipt came back to the sender;
 * - latency: M paced messages (one per PACE_MS), each carrying its send time; the receiver
 *   takes `performance.now()` on arrival (same process, same clock). p50/p99 of the difference.
 *
 * Run: npx tsx bench/tox-messages.ts [N]
 * Ports: ours 34400–34499, c-toxcore 34500–34599.
 */
import { newKeyPair } from "../src/tox/crypto.js";
import { type Identity, ipPort, ToxNode } from "../src/tox/index.js";
import { befriend, CToxPeer, SEND_MESSAGE_SENDQ, waitUntil } from "../test/interop/ctoxcore.js";

const N = Number(process.argv[2] ?? 5000);
const M = 1000;
const PACE_MS = 2;
const C_PORTS = { startPort: 34500, endPort: 34599 };

interface Figures {
  label: string;
  messagesPerSecond: number;
  seconds: number;
  p50: number;
  p99: number;
  max: number;
}

/** What a scenario needs from its sender: try one message (false = queue full, retry later). */
interface Sender {
  trySend(text: string): boolean;
  receipts(): number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const tick = () => new Promise<void>((r) => setImmediate(r));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function body(i: number): string {
  const head = `${performance.now().toFixed(3)}|${i}|`;
  return head + "x".repeat(Math.max(0, 100 - head.length));
}

async function measure(label: string, sender: Sender, receiver: CToxPeer): Promise<Figures> {
  let received = 0;
  const latencies: number[] = [];
  let recordLatency = false;
  receiver.on("friendMessage", (_f, _t, text) => {
    received++;
    if (recordLatency) latencies.push(performance.now() - Number(text.slice(0, text.indexOf("|"))));
  });

  // Throughput.
  const receiptsBefore = sender.receipts();
  const start = performance.now();
  for (let i = 0; i < N; ) {
    if (sender.trySend(body(i))) i++;
    else await tick();
    if (i % 256 === 0) await tick();
  }
  await waitUntil(
    () => received >= N && sender.receipts() - receiptsBefore >= N,
    120_000,
    `${label}: all messages and receipts`,
  );
  const seconds = (performance.now() - start) / 1000;

  // Latency, paced.
  await sleep(200);
  received = 0;
  recordLatency = true;
  for (let i = 0; i < M; i++) {
    while (!sender.trySend(body(i))) await tick();
    await sleep(PACE_MS);
  }
  await waitUntil(() => received >= M, 30_000, `${label}: paced messages`);
  latencies.sort((a, b) => a - b);
  return {
    label,
    messagesPerSecond: N / seconds,
    seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.at(-1) ?? Number.NaN,
  };
}

async function oursToC(): Promise<Figures> {
  const node = await ToxNode.create({ host: "127.0.0.1", portRange: [34400, 34499] });
  const c = await CToxPeer.create({ ...C_PORTS, label: "c-receiver" });
  try {
    const me: Identity = await node.addIdentity({ secretKey: newKeyPair().secretKey, name: "bench" });
    let receipts = 0;
    let online = false;
    node.on("readReceipt", () => receipts++);
    node.on("friendConnection", (e) => (online = e.status !== "none"));
    c.friendAddNoRequest(me.publicKeyBytes);
    await me.connectFriendDirect(c.publicKey, c.dhtId, ipPort("127.0.0.1", c.udpPort));
    await waitUntil(() => online, 15_000, "ours -> c online");
    const pk = c.publicKey;
    return await measure(
      "ours -> c-toxcore",
      {
        trySend: (text) => {
          void me.sendMessage(pk, text);
          return true;
        },
        receipts: () => receipts,
      },
      c,
    );
  } finally {
    c.kill();
    await node.close();
  }
}

async function cToC(): Promise<Figures> {
  const a = await CToxPeer.create({ ...C_PORTS, label: "c-sender" });
  const b = await CToxPeer.create({ ...C_PORTS, label: "c-receiver" });
  try {
    a.bootstrapToPeer(b);
    b.bootstrapToPeer(a);
    const { aFriend } = await befriend(a, b, { timeoutMs: 60_000 });
    await waitUntil(() => a.friendConnectionStatus(aFriend) === "udp", 30_000, "c <-> c over UDP");
    let receipts = 0;
    a.on("friendReadReceipt", () => receipts++);
    return await measure(
      "c-toxcore -> c-toxcore",
      {
        trySend: (text) => {
          const r = a.trySendMessage(aFriend, text);
          if (!r.ok && r.code !== SEND_MESSAGE_SENDQ) throw new Error(`send failed: ${r.code}`);
          return r.ok;
        },
        receipts: () => receipts,
      },
      b,
    );
  } finally {
    a.kill();
    b.kill();
  }
}

function table(rows: Figures[]): string {
  const head = ["scenario", "msgs/s", `time (${N} msgs)`, "p50 ms", "p99 ms", "max ms"];
  const body = rows.map((r) => [
    r.label,
    r.messagesPerSecond.toFixed(0),
    `${r.seconds.toFixed(2)} s`,
    r.p50.toFixed(2),
    r.p99.toFixed(2),
    r.max.toFixed(2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}

export async function runToxMessagesBench(): Promise<{ ours: Figures; baseline: Figures; ratio: number }> {
  const baseline = await cToC();
  const ours = await oursToC();
  const ratio = ours.messagesPerSecond / baseline.messagesPerSecond;
  console.log(
    `\nTox messages: ${N} × ~100 B for throughput (until all read receipts), ${M} paced (${PACE_MS} ms) for latency`,
  );
  console.log(table([ours, baseline]));
  console.log(
    `ratio ours/c-toxcore: throughput ${ratio.toFixed(2)}×, p50 latency ${(ours.p50 / baseline.p50).toFixed(2)}×, p99 latency ${(ours.p99 / baseline.p99).toFixed(2)}×`,
  );
  return { ours, baseline, ratio };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runToxMessagesBench().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
