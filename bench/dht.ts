/**
 * DHT benchmark: in-process cost of our Dht state machine (packets answered per second, tick
 * cost, memory per idle node), and over loopback UDP our node next to tox-bootstrapd
 * (c-toxcore 0.2.18) answering the same burst of nodes requests. Ports 34350-34399.
 */
import dgram from "node:dgram";
import { ManualClock } from "../src/tox/clock.js";
import { newKeyPair, precompute, randomBytes } from "../src/tox/crypto.js";
import { Dht } from "../src/tox/dht/dht.js";
import { NET_PACKET_PING_REQUEST, serializeNodesRequest, serializePing } from "../src/tox/wire/dht.js";
import { ipPort } from "../src/tox/wire/ipport.js";
import { startBootstrapd } from "../test/interop/bootstrapd.js";
import { startUdpDht } from "../test/tox/dht/udp-dht.js";
import { memorySnapshot, printComparison, printTable, runIfMain } from "./lib/index.js";

async function inProcess(): Promise<void> {
  const clock = new ManualClock();
  const dht = new Dht({ clock, sink: { send: () => {} } });
  const rows: Array<[string, number, string]> = [];

  // Ping requests from 200 known senders (shared keys cached) and from fresh senders (beforenm each).
  const senders = Array.from({ length: 200 }, () => newKeyPair());
  const warm = senders.map((kp) =>
    serializePing(
      { type: NET_PACKET_PING_REQUEST, pingId: randomBytes(8) },
      kp.publicKey,
      precompute(dht.publicKey, kp.secretKey),
    ),
  );
  const from = ipPort("198.19.0.1", 1);
  for (const p of warm) dht.handlePacket(from, p);
  let t0 = performance.now();
  const N = 20_000;
  for (let i = 0; i < N; i++) dht.handlePacket(from, warm[i % warm.length]!);
  rows.push(["ping answered, known sender", N / ((performance.now() - t0) / 1000), "packets/s"]);

  const cold = Array.from({ length: 2_000 }, () => {
    const kp = newKeyPair();
    return serializePing(
      { type: NET_PACKET_PING_REQUEST, pingId: randomBytes(8) },
      kp.publicKey,
      precompute(dht.publicKey, kp.secretKey),
    );
  });
  t0 = performance.now();
  for (const p of cold) dht.handlePacket(from, p);
  rows.push([
    "ping answered, new sender (beforenm)",
    cold.length / ((performance.now() - t0) / 1000),
    "packets/s",
  ]);

  const nodesReqs = senders.map((kp) =>
    serializeNodesRequest(
      { searchedPk: randomBytes(32), pingId: randomBytes(8) },
      kp.publicKey,
      precompute(dht.publicKey, kp.secretKey),
    ),
  );
  t0 = performance.now();
  for (let i = 0; i < N; i++) dht.handlePacket(from, nodesReqs[i % nodesReqs.length]!);
  rows.push(["nodes request answered, known sender", N / ((performance.now() - t0) / 1000), "packets/s"]);

  t0 = performance.now();
  for (let i = 0; i < 1000; i++) {
    clock.advance(1000);
    dht.tick();
  }
  rows.push(["tick() with idle lists", ((performance.now() - t0) / 1000) * 1000, "µs/tick"]);

  const garbage = Array.from({ length: 2000 }, () => Uint8Array.of(0x04, ...randomBytes(150)));
  t0 = performance.now();
  for (let i = 0; i < 20_000; i++) dht.handlePacket(from, garbage[i % garbage.length]!);
  rows.push(["garbage 0x04 dropped", 20_000 / ((performance.now() - t0) / 1000), "packets/s"]);

  globalThis.gc?.();
  const before = memorySnapshot().heapUsedBytes;
  const many: Dht[] = [];
  for (let i = 0; i < 1000; i++) many.push(new Dht({ clock, sink: { send: () => {} } }));
  globalThis.gc?.();
  const after = memorySnapshot().heapUsedBytes;
  rows.push(["heap per idle Dht (1000 made)", (after - before) / 1000 / 1024, "KiB"]);
  void many.length;

  printTable(["measurement", "value", "unit"], rows, "Dht state machine, in process");
}

/** Sends `count` nodes requests in bursts and times until all answers arrive. */
async function burst(
  port: number,
  nodePk: Uint8Array,
  count: number,
): Promise<{ ms: number; answered: number }> {
  const me = newKeyPair();
  const shared = precompute(nodePk, me.secretKey);
  const reqs = Array.from({ length: count }, () =>
    serializeNodesRequest({ searchedPk: randomBytes(32), pingId: randomBytes(8) }, me.publicKey, shared),
  );
  const sock = dgram.createSocket("udp4");
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
  let answered = 0;
  sock.on("message", (m) => {
    if (m[0] === 0x04) answered++;
  });
  const t0 = performance.now();
  for (let i = 0; i < count; i += 50) {
    for (const r of reqs.slice(i, i + 50)) sock.send(r, port, "127.0.0.1");
    const target = Math.min(count, i + 50);
    const dl = performance.now() + 1000;
    while (answered < target && performance.now() < dl) await new Promise((r) => setImmediate(r));
  }
  const ms = performance.now() - t0;
  sock.close();
  return { ms, answered };
}

async function overUdp(): Promise<void> {
  const daemon = await startBootstrapd({ port: 34350 });
  const ours = await startUdpDht(34360);
  try {
    ours.dht.bootstrap({ ipPort: ipPort("127.0.0.1", daemon.port), publicKey: daemon.publicKey });
    await new Promise((r) => setTimeout(r, 1500));
    const count = 5000;
    const theirs = await burst(daemon.port, daemon.publicKey, count);
    const mine = await burst(34360, ours.dht.publicKey, count);
    printComparison(
      [
        {
          metric: "nodes requests answered over loopback",
          unit: "req/s",
          ours: (mine.answered / mine.ms) * 1000,
          baseline: (theirs.answered / theirs.ms) * 1000,
          higherIsBetter: true,
        },
        {
          metric: "answered of 5000 (bursts of 50)",
          unit: "count",
          ours: mine.answered,
          baseline: theirs.answered,
          higherIsBetter: true,
        },
      ],
      "Our DHT node vs tox-bootstrapd (c-toxcore 0.2.18)",
      ["ours", "tox-bootstrapd"],
    );
  } finally {
    await ours.stop();
    await daemon.stop();
  }
}

export default async function main(): Promise<void> {
  await inProcess();
  await overUdp();
}

runIfMain(import.meta.url, main);
