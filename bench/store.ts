/**
 * The store on both backends: what one bridged message costs in database work, and startup.
 * - open+migrate: a fresh database (PGlite: initdb in WASM; PostgreSQL: CREATE DATABASE + 001);
 * - reopen: an existing database, already migrated;
 * - outbox cycle: enqueue (idempotent on the event id) + nextDue + markSending + markDelivered,
 *   i.e. everything the outbox does for one message from Matrix/XMPP to a Tox read receipt;
 * - markProcessed: the idempotency check done once per incoming event;
 * - getSecretKey: read + decrypt + public-key check of one identity.
 *
 * Run: npx tsx bench/store.ts [N]   (or `npm run bench`). PostgreSQL comes from
 * test/helpers/postgres.ts (initdb in a temp dir, loopback port 55400-55499, fsync off, so its
 * figures are an upper bound for a server with durable commits).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type OpenStoreOptions, openStore, type Store } from "../src/store/index.js";
import { newKeyPair } from "../src/tox/crypto.js";
import { startPostgres } from "../test/helpers/postgres.js";
import { runIfMain } from "./lib/runner.js";
import { ratePerSecond, summarize } from "./lib/stats.js";
import { printTable } from "./lib/table.js";
import { nowMs } from "./lib/timing.js";

const KEY = "bench store key";

async function measure(name: string, opts: OpenStoreOptions, n: number) {
  let t0 = nowMs();
  let store: Store = await openStore(opts);
  await store.migrate();
  const openMigrateMs = nowMs() - t0;
  await store.close();
  t0 = nowMs();
  store = await openStore(opts);
  await store.migrate();
  const reopenMs = nowMs() - t0;
  try {
    const keys = newKeyPair();
    const account = await store.accounts.create({
      ownerKind: "matrix",
      ownerId: "@bench:example.org",
      secretKey: keys.secretKey,
      nospam: 1,
    });
    const friend = newKeyPair().publicKey;
    await store.friends.create({ accountId: account.id, publicKey: friend, requestState: "accepted" });

    const cycle: number[] = [];
    const now = new Date();
    for (let i = 0; i < n; i++) {
      const s = nowMs();
      await store.outbox.enqueue({
        accountId: account.id,
        friendPk: friend,
        body: `message ${i} `.padEnd(100, "x"),
        sourceNetwork: "matrix",
        sourceEventId: `$event${i}`,
      });
      const due = await store.outbox.nextDue(account.id, friend, now);
      if (!due) throw new Error("bench: nothing due");
      await store.outbox.markSending(due.id, i);
      await store.outbox.markDelivered(account.id, friend, i);
      cycle.push(nowMs() - s);
    }

    const processed: number[] = [];
    for (let i = 0; i < n; i++) {
      const s = nowMs();
      await store.processedEvents.markProcessed("matrix", `$in${i}`);
      processed.push(nowMs() - s);
    }

    const secret: number[] = [];
    for (let i = 0; i < n; i++) {
      const s = nowMs();
      await store.accounts.getSecretKey(account.id);
      secret.push(nowMs() - s);
    }
    const row = (what: string, samples: number[]) => {
      const sum = summarize(samples);
      const total = samples.reduce((a, b) => a + b, 0);
      return [name, what, n, ratePerSecond(n, total), sum.p50, sum.p99];
    };
    return {
      startup: [name, openMigrateMs, reopenMs],
      ops: [
        row("outbox cycle (4 queries)", cycle),
        row("markProcessed", processed),
        row("getSecretKey", secret),
      ],
    };
  } finally {
    await store.close();
  }
}

export default async function main(): Promise<void> {
  const n = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 1000);
  const dir = mkdtempSync(join(tmpdir(), "toxbridge-bench-store-"));
  const server = await startPostgres();
  try {
    const results = [
      await measure("pglite", { dataDir: join(dir, "pglite"), encryptionKey: KEY }, n),
      await measure(
        "postgres",
        { url: await server.createDatabase("bench"), dataDir: dir, encryptionKey: KEY },
        n,
      ),
    ];
    printTable(
      ["backend", "open+migrate ms", "reopen ms"],
      results.map((r) => r.startup),
      "=== store startup ===",
    );
    printTable(
      ["backend", "operation", "n", "per second", "p50 ms", "p99 ms"],
      results.flatMap((r) => r.ops),
      "=== store operations (sequential, one connection busy at a time) ===",
    );
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

runIfMain(import.meta.url, main);
