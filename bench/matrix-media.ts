/**
 * Matrix media transfer: how fast the bridge moves a file between its disk and the homeserver's
 * media repository, and how much memory that takes. Ours (MediaClient: streamed from/to disk) is
 * compared in the same run with the anchor, matrix-bot-sdk's uploadContent/downloadContent (whole
 * Buffers, as mx-puppet-tox moved files). The homeserver double runs in a child process so its own
 * buffering is not counted; memory is this process's heap + ArrayBuffers growth (peak, sampled
 * every 5 ms), which is what a file held in memory would show.
 *
 *   npx tsx bench/matrix-media.ts            # 16 and 64 MiB
 *   MEDIA_BENCH_MIB=200 npx tsx bench/matrix-media.ts
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createLogger } from "../src/logger.js";
import { loadBridgeLibrary } from "../src/matrix/load-bridge.js";
import { MediaClient } from "../src/matrix/media-client.js";
import { parseMxc } from "../src/matrix/media-content.js";
import { testRegistration } from "../test/matrix/bridge-harness.js";
import { mib, printTable, runIfMain } from "./lib/index.js";

const BOT = "@toxbot:localhost";

/** matrix-bot-sdk as the bridge library loads it (tolerating a missing native crypto binding). */
function botSdk(): typeof import("@vector-im/matrix-bot-sdk") {
  loadBridgeLibrary(createLogger({ level: "silent" }));
  return createRequire(import.meta.url)(
    "@vector-im/matrix-bot-sdk",
  ) as typeof import("@vector-im/matrix-bot-sdk");
}

async function startDouble(uploadLimit: number): Promise<{ url: string; child: ChildProcess }> {
  const script = fileURLToPath(new URL("../test/helpers/homeserver/process.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", script], {
    env: {
      ...process.env,
      HS_REGISTRATION: JSON.stringify(testRegistration()),
      HS_UPLOAD_LIMIT: String(uploadLimit),
    },
    stdio: ["pipe", "pipe", "inherit"],
  });
  const line = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`homeserver double exited (${code})`)));
    createInterface({ input: child.stdout! }).once("line", resolve);
  });
  return { url: (JSON.parse(line) as { url: string }).url, child };
}

/** Peak growth of heap + ArrayBuffers while `fn` runs. */
async function peakMemory<T>(fn: () => Promise<T>): Promise<{ result: T; peakBytes: number; ms: number }> {
  globalThis.gc?.();
  const used = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const base = used();
  let peak = 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, used() - base);
  }, 5);
  const t0 = performance.now();
  try {
    const result = await fn();
    peak = Math.max(peak, used() - base);
    return { result, peakBytes: peak, ms: performance.now() - t0 };
  } finally {
    clearInterval(timer);
  }
}

export default async function main(): Promise<void> {
  const sizes = process.env.MEDIA_BENCH_MIB ? [Number(process.env.MEDIA_BENCH_MIB)] : [16, 64];
  const maxBytes = Math.max(...sizes) * 1024 * 1024 + 1;
  const { url, child } = await startDouble(maxBytes);
  const dir = await mkdtemp(join(tmpdir(), "toxbridge-bench-media-"));
  const ours = new MediaClient({ homeserverUrl: url, asToken: testRegistration().as_token });
  const anchor = new (botSdk().MatrixClient)(url, testRegistration().as_token);
  const rows: Array<Array<string | number>> = [];
  try {
    for (const size of sizes) {
      const bytes = size * 1024 * 1024;
      const path = join(dir, `f${size}`);
      const data = Buffer.alloc(bytes);
      for (let i = 0; i < bytes; i += 4096) data[i] = (i >> 12) & 0xff;
      await writeFile(path, data);
      const rate = (ms: number) => (bytes / 1e6 / (ms / 1000)).toFixed(0);

      const up = await peakMemory(() =>
        ours.upload(BOT, { path }, { contentType: "application/octet-stream", fileName: "f" }),
      );
      const down = await peakMemory(() =>
        ours.download(BOT, parseMxc(up.result)!, { dest: join(dir, "down"), maxBytes: bytes }),
      );
      const peak = (b: number) => mib(b).toFixed(1);
      rows.push([
        `${size} MiB`,
        "ours (streamed)",
        rate(up.ms),
        peak(up.peakBytes),
        rate(down.ms),
        peak(down.peakBytes),
      ]);

      // The anchor reads the file into memory, uploads the Buffer, downloads into a Buffer.
      const aUp = await peakMemory(async () =>
        anchor.uploadContent(await readFile(path), "application/octet-stream", "f"),
      );
      const aDown = await peakMemory(async () => {
        const got = await anchor.downloadContent(aUp.result);
        await writeFile(join(dir, "down-anchor"), got.data);
      });
      rows.push([
        "",
        "bot-sdk (Buffers)",
        rate(aUp.ms),
        peak(aUp.peakBytes),
        rate(aDown.ms),
        peak(aDown.peakBytes),
      ]);
      await rm(path);
    }
  } finally {
    child.stdin?.end();
    child.kill();
    await rm(dir, { recursive: true, force: true });
  }
  printTable(
    ["file", "client", "upload MB/s", "upload peak MiB", "download MB/s", "download peak MiB"],
    rows,
    "Matrix media: disk <-> homeserver double (child process), loopback",
  );
}

runIfMain(import.meta.url, main);
