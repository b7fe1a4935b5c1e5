/**
 * XMPP file bridging through a real Prosody (Debian 0.12) and its XEP-0363 service on loopback:
 * - Tox -> XMPP: XmppFiles.deliverFile of a spooled file (discovery cached after the first, slot,
 *   streamed PUT, OOB message confirmed) until alice's client has the link;
 * - XMPP -> Tox: alice's OOB link to the gateway until the (fake) core's sendFile has the file
 *   (HEAD, streamed GET to disk);
 * against the anchors of the same bytes moved by a client alone (PUT by fetch, GET by fetch).
 * Peak RSS growth shows that files are streamed, not held in memory (the fake core reads the
 * file it is handed to hash it: that part is the bench's own, so it is measured separately).
 *
 * Run: npx tsx bench/xmpp-files.ts [MiB]   (default 50; or `npm run bench`). Ports 37300-37359.
 */
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { XmppGateway } from "../src/xmpp/gateway.js";
import { NS } from "../src/xmpp/namespaces.js";
import { NS_UPLOAD } from "../src/xmpp/upload.js";
import { startProsody } from "../test/helpers/prosody/index.js";
import { friendView } from "../test/xmpp/fake-core.js";
import { FilesFakeCore } from "../test/xmpp/files-core.js";
import { connectUser, xml } from "../test/xmpp/user.js";
import { mib } from "./lib/resources.js";
import { runIfMain } from "./lib/runner.js";
import { printTable } from "./lib/table.js";
import { nowMs, until } from "./lib/timing.js";

const GW = "tox.localhost";
const FRIEND = "cd".repeat(32);

export default async function main(): Promise<void> {
  const sizeMiB = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 50);
  const size = sizeMiB * 1024 * 1024;
  const dir = await mkdtemp(join(tmpdir(), "toxbridge-bench-xmpp-files-"));
  const prosody = await startProsody({
    portBase: 37300,
    portCount: 50,
    uploadSizeLimit: 4 * size,
    extraConfig: [`http_file_share_daily_quota = ${16 * size}`],
    components: [{ domain: GW, secret: "bench" }],
    users: [{ username: "alice", password: "pw" }],
  });
  const core = new FilesFakeCore();
  core.maxFileSize = 4 * size;
  const account = core.createAccount("alice@localhost");
  account.friends.set(FRIEND, friendView(FRIEND, "accepted", { online: true }));
  const gateway = new XmppGateway({
    config: {
      component_jid: GW,
      server_host: "127.0.0.1",
      server_port: prosody.componentPort,
      secret: "bench",
    },
    core,
    permissions: () => ({ localhost: "user" }),
    workDir: join(dir, "work"),
    allowPrivateAddresses: true,
  });
  const data = new Uint8Array(size).map((_, i) => (i * 2654435761) >>> 24);
  const rows: (string | number)[][] = [];
  const row = (what: string, ms: number, rssGrowth: number) =>
    rows.push([what, (ms / 1000).toFixed(2), (sizeMiB / (ms / 1000)).toFixed(1), mib(rssGrowth).toFixed(0)]);
  let peak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  const measure = async (what: string, fn: () => Promise<void>) => {
    const base = process.memoryUsage().rss;
    peak = base;
    const t0 = nowMs();
    await fn();
    row(what, nowMs() - t0, peak - base);
  };
  try {
    gateway.start();
    await gateway.waitOnline();
    const alice = await connectUser({
      service: prosody.c2sService,
      domain: "localhost",
      username: "alice",
      password: "pw",
    });
    const slot = async (name: string) => {
      const answer = await alice.xmpp.iqCaller.request(
        xml(
          "iq",
          { type: "get", to: "upload.localhost" },
          xml("request", { xmlns: NS_UPLOAD, filename: name, size: String(size) }),
        ),
        10_000,
      );
      const s = answer.getChild("slot", NS_UPLOAD);
      const headers: Record<string, string> = {};
      for (const h of s?.getChild("put")?.getChildren("header") ?? [])
        headers[h.attrs.name ?? ""] = h.getText();
      return { put: s?.getChild("put")?.attrs.url ?? "", get: s?.getChild("get")?.attrs.url ?? "", headers };
    };

    // Anchors: a client alone moving the same bytes through the same server.
    const anchorSlot = await slot("anchor.bin");
    await measure("anchor: client PUT (fetch)", async () => {
      const res = await fetch(anchorSlot.put, { method: "PUT", body: data, headers: anchorSlot.headers });
      if (res.status !== 201) throw new Error(`PUT ${res.status}`);
    });
    await measure("anchor: client GET (fetch)", async () => {
      const got = new Uint8Array(await (await fetch(anchorSlot.get)).arrayBuffer());
      if (got.length !== size) throw new Error("short GET");
    });

    // Tox -> XMPP: the first delivery also discovers the upload service.
    const path = join(dir, "from-tox.bin");
    await writeFile(path, data);
    let n = 0;
    for (const label of ["Tox -> XMPP: deliverFile (cold)", "Tox -> XMPP: deliverFile"]) {
      const id = ++n;
      await measure(label, async () => {
        await gateway.frontend.deliverFile(account.ref, {
          id,
          friend: FRIEND,
          fileName: `from-tox-${id}.bin`,
          size,
          mimeType: "application/octet-stream",
          path,
          receivedAt: new Date(),
        });
        await alice.waitFor((el) => el.attrs.id === `tox-file-${id}`, "file link", 60_000);
      });
    }

    // XMPP -> Tox: the download the gateway does for an OOB link (the fake core then hashes it).
    const up = await slot("to-tox.bin");
    await fetch(up.put, { method: "PUT", body: data, headers: up.headers });
    const before = core.sentFiles.length;
    await measure("XMPP -> Tox: OOB link to sendFile", async () => {
      await alice.xmpp.send(
        xml(
          "message",
          { type: "chat", to: `${FRIEND}@${GW}`, id: "bench-oob" },
          xml("body", {}, up.get),
          xml("x", { xmlns: NS.oob }, xml("url", {}, up.get)),
        ),
      );
      await until(() => core.sentFiles.length > before, 120_000, "sendFile");
    });
    const sent = core.sentFiles.at(-1);
    if (sent?.sha256 !== createHash("sha256").update(data).digest("hex")) throw new Error("bytes differ");
    await alice.stop();
  } finally {
    clearInterval(sampler);
    await gateway.stop();
    await prosody.stop();
    await rm(dir, { recursive: true, force: true });
  }
  printTable(
    ["path", "seconds", "MiB/s", "peak RSS growth MiB"],
    rows,
    `XMPP files, ${sizeMiB} MiB over Prosody's XEP-0363 on loopback (the anchors hold the whole file in memory; the gateway streams)`,
  );
}

runIfMain(import.meta.url, main);
