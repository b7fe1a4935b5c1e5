/**
 * File transfers through the Identity API (FileTransfers wired into Identity, node events) with
 * a real c-toxcore 0.2.18 peer: a file each way with equal SHA-256, and an offer cancelled by us.
 * Ports: ours 37100-37109, C 37110-37119.
 */
import { createHash } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { newKeyPair } from "../../../src/tox/crypto.js";
import {
  BytesSink,
  BytesSource,
  type FileEndedEvent,
  type FileEvent,
  type FriendConnectionEvent,
  ipPort,
  ToxNode,
} from "../../../src/tox/index.js";
import { CToxPeer, waitUntil } from "../../interop/ctoxcore.js";

const OUR_PORTS: [number, number] = [37100, 37109];
const C_PORTS = { startPort: 37110, endPort: 37119 };
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function pattern(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed + (i >> 10)) & 0xff;
  return out;
}

describe("Identity file transfers <-> c-toxcore 0.2.18", () => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  it("receives and sends a file through node events; a cancelled offer ends on both sides", async () => {
    const c = await CToxPeer.create({ ...C_PORTS, name: "c", label: "c", iterateEveryMs: 5 });
    cleanup.push(() => c.kill());
    const node = await ToxNode.create({ host: "127.0.0.1", portRange: OUR_PORTS });
    cleanup.push(() => node.close());
    const me = await node.addIdentity({ secretKey: newKeyPair().secretKey, name: "ours" });
    const ev = {
      conn: [] as FriendConnectionEvent[],
      offers: [] as FileEvent[],
      complete: [] as FileEvent[],
      ended: [] as FileEndedEvent[],
      accepted: 0,
    };
    node.on("friendConnection", (e) => ev.conn.push(e));
    node.on("fileOffer", (e) => ev.offers.push(e));
    node.on("fileComplete", (e) => ev.complete.push(e));
    node.on("fileEnded", (e) => ev.ended.push(e));
    node.on("fileControl", (e) => {
      if (e.control === "accept") ev.accepted++;
    });
    const f = c.friendAddNoRequest(me.publicKeyBytes);
    await me.connectFriendDirect(c.publicKey, c.dhtId, ipPort("127.0.0.1", c.udpPort));
    await waitUntil(
      () => ev.conn.some((e) => e.status === "udp") && c.friendConnectionStatus(f) === "udp",
      15_000,
      "online",
    );

    // c -> ours: 2 MiB
    const inbound = pattern(2 * 1024 * 1024, 7);
    c.on("fileChunkRequest", (_fr, file, pos, len) => {
      if (len > 0) c.fileSendChunk(f, file, pos, inbound.subarray(pos, pos + len));
    });
    c.fileSend(f, inbound.length, "in.bin");
    await waitUntil(() => ev.offers.length === 1, 10_000, "offer");
    const offer = ev.offers[0]!;
    expect(offer.file).toMatchObject({ direction: "recv", kind: 0, size: inbound.length, name: "in.bin" });
    const sink = new BytesSink();
    me.fileAccept(offer.friend, offer.file.fileNumber, sink);
    await waitUntil(() => ev.complete.length === 1, 30_000, "inbound complete");
    expect(sha(sink.bytes)).toBe(sha(inbound));

    // ours -> c: 1 MiB
    const outbound = pattern(1024 * 1024, 3);
    const got = new Uint8Array(outbound.length);
    let received = 0;
    c.on("fileRecv", (_fr, file) => c.fileControl(f, file, "resume"));
    c.on("fileRecvChunk", (_fr, _file, pos, data) => {
      got.set(data, pos);
      received += data.length;
    });
    me.fileSend(c.publicKey, { source: new BytesSource(outbound), size: outbound.length, name: "out.bin" });
    await waitUntil(() => ev.complete.length === 2 && received === outbound.length, 30_000, "outbound");
    expect(ev.accepted).toBe(1);
    expect(sha(got)).toBe(sha(outbound));
    expect(me.fileTransfers()).toEqual([]);

    // An offer we cancel: c sees the cancel.
    const cancelled: number[] = [];
    c.on("fileRecvControl", (_fr, file, control) => {
      if (control === "cancel") cancelled.push(file);
    });
    const n = me.fileSend(c.publicKey, {
      source: new BytesSource(outbound),
      size: outbound.length,
      name: "x",
    });
    expect(me.fileTransfers(c.publicKey)).toHaveLength(1);
    await me.fileControl(c.publicKey, "send", n, "cancel");
    await waitUntil(() => cancelled.length === 1, 10_000, "cancel seen by c");
    expect(me.fileTransfers()).toEqual([]);
  }, 60_000);
});
