/**
 * Matrix -> Tox through the whole bridge: a Matrix user's messages (sent over HTTP to the
 * homeserver double, which runs in its own process and pushes transactions to the bridge) reach
 * a c-toxcore 0.2.18 friend on loopback. The bridge is this process: matrix-appservice-bridge,
 * the Matrix frontend, the bridge core with its durable outbox on PGlite, and our ToxNode.
 *
 * - throughput: N messages from the Matrix user, held back by the homeserver and then released
 *   (pushed up to 100 per transaction), timed from the release until the C client has received
 *   every one (each was persisted in the outbox before its transaction was acknowledged, and
 *   handed to Tox by the outbox pump);
 * - latency: M messages paced every PACE ms; Matrix path = user's send call -> C receives; the
 *   baseline is a direct Tox message from the same identity to the same C client (ToxNode
 *   sendMessage -> C receives). "Added" is the difference of the percentiles. Both include
 *   c-toxcore's own 50 ms iteration, so the bridge's share is also measured directly: from the
 *   transaction reaching the bridge to the outbox handing the message to our ToxNode;
 * - database work: statements per message during the throughput run (every statement the store
 *   runs is counted by its first words, also those inside transactions).
 *
 * Runs with the store on PGlite and on PostgreSQL (a throwaway server from test/helpers/postgres.ts,
 * fsync off); BENCH_MATRIX_DB=pglite|postgres picks one.
 *
 * Run: npx tsx bench/matrix.ts [N]   (or `npm run bench`). Ports: ours 35400-35449, C 35500-35599.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { BridgeCore, coreRepos } from "../src/core/bridge-core.js";
import { ToxNodeGateway } from "../src/core/tox-adapter.js";
import { createLogger } from "../src/logger.js";
import { startMatrixAppservice } from "../src/matrix/appservice.js";
import { MatrixFrontend } from "../src/matrix/frontend.js";
import type { Executor } from "../src/store/db.js";
import { type Db, openStoreWithDb, type Store } from "../src/store/index.js";
import { ipPort, ToxNode } from "../src/tox/index.js";
import { TestClient, type TestUser } from "../test/helpers/homeserver/index.js";
import { startPostgres } from "../test/helpers/postgres.js";
import { CToxPeer } from "../test/interop/ctoxcore.js";
import { testRegistration } from "../test/matrix/bridge-harness.js";
import { openTestStore } from "../test/store/backends.js";
import { runIfMain } from "./lib/runner.js";
import { ratePerSecond, type Summary, summarize } from "./lib/stats.js";
import { printTable } from "./lib/table.js";
import { nowMs, sleep, until } from "./lib/timing.js";

const HS_PROCESS = fileURLToPath(new URL("../test/helpers/homeserver/process.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const LATENCY_SAMPLES = 300;
const PACE_MS = 10;
const IN_FLIGHT = 16;

async function startHomeserverProcess(
  registration: object,
): Promise<{ proc: ChildProcess; url: string; users: Record<string, TestUser> }> {
  const proc = spawn(process.execPath, ["--import", "tsx", HS_PROCESS], {
    cwd: ROOT,
    env: { ...process.env, HS_REGISTRATION: JSON.stringify(registration), HS_USERS: "alice" },
    stdio: ["pipe", "pipe", "inherit"],
  });
  const first = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout! });
    rl.once("line", resolve);
    proc.once("exit", (code) => reject(new Error(`homeserver process exited (${code})`)));
  });
  const { url, users } = JSON.parse(first) as { url: string; users: Record<string, TestUser> };
  return { proc, url, users };
}

interface OpenedStore {
  store: Store;
  db: Db;
  close(): Promise<void>;
}

/** Both backends by default; BENCH_MATRIX_DB=pglite or =postgres runs one. */
export default async function main(): Promise<void> {
  const n = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 2000);
  const which = process.env.BENCH_MATRIX_DB ?? "both";
  if (which !== "postgres") await runWith("PGlite", openTestStore, n);
  if (which !== "pglite") {
    const server = await startPostgres();
    const dir = mkdtempSync(join(tmpdir(), "toxbridge-bench-matrix-"));
    try {
      await runWith(
        "PostgreSQL",
        async () => {
          const opened = await openStoreWithDb({
            url: await server.createDatabase("bench_matrix"),
            dataDir: dir,
            encryptionKey: "bench key",
          });
          await opened.store.migrate();
          return { ...opened, close: () => opened.store.close() };
        },
        n,
      );
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

async function runWith(backend: string, open: () => Promise<OpenedStore>, n: number): Promise<void> {
  const registration = testRegistration();
  const hs = await startHomeserverProcess(registration);
  const opened = await open();
  const node = await ToxNode.create({ host: "127.0.0.1", portRange: [35400, 35449] });
  const c = await CToxPeer.create({ startPort: 35500, endPort: 35599, label: "bench-c", name: "Carol" });
  const log = createLogger({ level: "warn" });
  const statements = countStatements(opened.db);
  const gateway = new ToxNodeGateway(node);
  /** When the outbox handed each message body to Tox (the end of the bridge's own work). */
  const handedAt = new Map<string, number>();
  const sendMessage = gateway.sendMessage.bind(gateway);
  gateway.sendMessage = (identity, friend, text, kind) => {
    handedAt.set(text, nowMs());
    return sendMessage(identity, friend, text, kind);
  };
  const core = new BridgeCore({
    store: opened.store,
    repos: coreRepos(opened.db),
    tox: gateway,
    // The retry timer as deployed (1 s): its queries hold the embedded database while they run.
    tickMs: 1000,
  });
  /** When the transaction carrying each message body reached the bridge. */
  const reachedBridgeAt = new Map<string, number>();
  try {
    const frontend = new MatrixFrontend({
      core,
      store: opened.store,
      names: { domain: "localhost", botLocalpart: registration.sender_localpart, userPrefix: "_tox_" },
      permissions: { localhost: "user" },
      degradeRich: true,
      log,
    });
    const appservice = await startMatrixAppservice({
      registration,
      homeserverUrl: hs.url,
      domain: "localhost",
      log,
      listen: { port: 0 },
      controller: frontend.controller(),
      onTransaction: (txn) => {
        const now = nowMs();
        for (const ev of txn.events) {
          const body = (ev.content as { body?: unknown } | undefined)?.body;
          if (typeof body === "string") reachedBridgeAt.set(body, now);
        }
        return frontend.onTransaction(txn);
      },
      startupChecks: { ping: false },
    });
    frontend.attach((userId) => appservice.bridge.getIntent(userId));
    core.registerFrontend(frontend);
    await core.start();
    hs.proc.stdin!.write(`url http://127.0.0.1:${appservice.port}\n`);

    // Setup (not measured): alice's identity, Carol as her friend, the DM portal.
    const aliceUser = hs.users.alice!;
    const alice = new TestClient(hs.url, aliceUser);
    const owner = { kind: "matrix" as const, id: aliceUser.userId };
    await core.accounts.create(owner);
    await core.contacts.add(owner, c.addressHex);
    const account = (await core.account(owner))!;
    const me = node.identity(account.publicKey)!;
    const friendNo = c.friendAddNoRequest(me.publicKeyBytes);
    await me.connectFriendDirect(c.publicKey, c.dhtId, ipPort("127.0.0.1", c.udpPort));
    const friend = c.publicKeyHex.toLowerCase();
    await until(() => c.friendConnectionStatus(friendNo) === "udp", 15_000, "C online");
    await until(() => core.accounts.onlineCount() === 1, 5000, "identity online");
    await sleep(200);
    c.sendMessage(friendNo, "hello");
    let room: string | undefined;
    const portalDeadline = nowMs() + 10_000;
    while (room === undefined && nowMs() < portalDeadline) {
      room = (await opened.store.portals.listForAccount(account.id, "matrix"))[0]?.remoteId;
      if (room === undefined) await sleep(20);
    }
    if (room === undefined) throw new Error("bench: no portal");
    await alice.join(room);
    const portal = room;

    const arrivedAt = new Map<string, number>();
    c.on("friendMessage", (_f, _type, text) => arrivedAt.set(text, nowMs()));

    // Baseline: direct Tox messages from the same identity.
    const direct: number[] = [];
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      const text = `direct ${i}`;
      const t0 = nowMs();
      await me.sendMessage(friend, text);
      void until(() => arrivedAt.has(text), 10_000, text).then(() => direct.push(arrivedAt.get(text)! - t0));
      await sleep(PACE_MS);
    }
    await until(() => direct.length === LATENCY_SAMPLES, 20_000, "direct samples");

    // Matrix path latency.
    const viaMatrix: number[] = [];
    const inBridge: number[] = [];
    const toHandOff: number[] = [];
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      const text = `matrix ${i}`;
      const t0 = nowMs();
      void alice.sendMessage(portal, text);
      void until(() => arrivedAt.has(text), 20_000, text).then(() => {
        viaMatrix.push(arrivedAt.get(text)! - t0);
        inBridge.push(arrivedAt.get(text)! - reachedBridgeAt.get(text)!);
        toHandOff.push(handedAt.get(text)! - reachedBridgeAt.get(text)!);
      });
      await sleep(PACE_MS);
    }
    await until(() => viaMatrix.length === LATENCY_SAMPLES, 30_000, "Matrix samples");

    // Throughput: the homeserver holds the user's N messages back, then pushes them (up to 100
    // per transaction, as Synapse does); timed from the release until C has every one.
    hs.proc.stdin!.write("pause\n");
    const t0send = nowMs();
    let next = 0;
    const sender = async () => {
      while (next < n) {
        const i = next++;
        await alice.sendMessage(portal, `bulk ${i}`);
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, sender));
    const sentMs = nowMs() - t0send;
    statements.reset();
    const t0 = nowMs();
    hs.proc.stdin!.write("resume\n");
    await until(() => countBulk(arrivedAt) === n, 120_000, "bulk delivery", 5);
    const deliveredMs = nowMs() - t0;
    await until(() => core.metrics.messagesDelivered >= n + LATENCY_SAMPLES, 30_000, "read receipts", 5);
    const receiptsMs = nowMs() - t0;
    const sql = statements.snapshot();

    printTable(
      [
        "messages",
        "queued at HS (ms, not timed)",
        "released -> all at C (ms)",
        "msg/s",
        "-> all receipted (ms)",
      ],
      [
        [
          n,
          sentMs.toFixed(0),
          deliveredMs.toFixed(0),
          ratePerSecond(n, deliveredMs).toFixed(0),
          receiptsMs.toFixed(0),
        ],
      ],
      `Matrix -> c-toxcore through the bridge, store on ${backend} (homeserver double in its own process)`,
    );
    const d = summarize(direct);
    const m = summarize(viaMatrix);
    const b = summarize(inBridge);
    const h = summarize(toHandOff);
    const added = (name: string, x: Summary) => [
      name,
      "",
      (x.p50 - d.p50).toFixed(2),
      (x.p99 - d.p99).toFixed(2),
      (x.mean - d.mean).toFixed(2),
    ];
    const row = (name: string, s: Summary) => [
      name,
      s.count,
      s.p50.toFixed(2),
      s.p99.toFixed(2),
      s.mean.toFixed(2),
    ];
    printTable(
      ["path", "samples", "p50 ms", "p99 ms", "mean ms"],
      [
        row("direct Tox (ToxNode -> C)", d),
        row("Matrix user -> HS -> bridge -> C", m),
        added("  added by homeserver + bridge", m),
        row("transaction at the bridge -> C", b),
        added("  added by the bridge", b),
        row("transaction at the bridge -> handed to Tox", h),
      ],
      `One-way latency, paced every ${PACE_MS} ms, store on ${backend}`,
    );
    printTable(
      ["statement (first words)", "count", "per message"],
      [
        ["all statements", sql.total, (sql.total / n).toFixed(2)],
        ["transactions (BEGIN..COMMIT)", sql.transactions, (sql.transactions / n).toFixed(3)],
        ...sql.top.slice(0, 10).map(([k, v]) => [k, v, (v / n).toFixed(3)]),
      ],
      `Database work during the throughput run (${n} messages + their receipts), store on ${backend}`,
    );
    await core.stop();
    await appservice.stop();
  } finally {
    hs.proc.stdin!.end();
    c.kill();
    await node.close();
    await opened.close();
  }
}

/** Counts the statements a Db runs (also inside transactions), by their first words. */
function countStatements(db: Db): {
  reset(): void;
  snapshot(): { total: number; transactions: number; top: Array<[string, number]> };
} {
  const counts = new Map<string, number>();
  let transactions = 0;
  const bump = (sql: string) => {
    const key = sql.replace(/\s+/g, " ").trim().slice(0, 60);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  };
  const query = db.query.bind(db);
  db.query = (sql, params) => {
    bump(sql);
    return query(sql, params);
  };
  const transaction = db.transaction.bind(db);
  db.transaction = (fn) =>
    transaction((tx) => {
      transactions++;
      const counted: Executor = Object.create(tx);
      counted.query = (sql, params) => {
        bump(sql);
        return tx.query(sql, params);
      };
      return fn(counted);
    });
  return {
    reset() {
      counts.clear();
      transactions = 0;
    },
    snapshot() {
      const top = [...counts.entries()].sort((a, b) => b[1] - a[1]);
      return { total: top.reduce((a, [, v]) => a + v, 0), transactions, top };
    },
  };
}

function countBulk(arrived: Map<string, number>): number {
  let k = 0;
  for (const key of arrived.keys()) if (key.startsWith("bulk ")) k++;
  return k;
}

runIfMain(import.meta.url, main);
