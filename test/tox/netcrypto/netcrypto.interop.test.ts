/**
 * Interop: our NetCrypto against the real c-toxcore 0.2.18 over loopback UDP, no DHT/onion.
 * The C peer adds our real key as a friend; we start the session with its DHT key and port.
 * The glue below plays the missing layers: friend_connection ALIVE (16) every 8 s and the
 * Messenger ONLINE (24) / MESSAGE (64) packets.
 */
import dgram from "node:dgram";
import { afterEach, describe, expect, it } from "vitest";
import { systemClock } from "../../../src/tox/clock.js";
import { newKeyPair } from "../../../src/tox/crypto.js";
import { NetCrypto } from "../../../src/tox/netcrypto/netcrypto.js";
import type { ConnectionId, CryptoConnectionState } from "../../../src/tox/netcrypto/types.js";
import { ipPort } from "../../../src/tox/wire/ipport.js";
import { CToxPeer, waitUntil as waitFor } from "../../interop/ctoxcore.js";

/** This file's UDP port range for the C peer (the harness owner's range 34000–34199). */
const C_PORTS = { startPort: 34050, endPort: 34069 };
const PACKET_ALIVE = 16;
const PACKET_ONLINE = 24;
const PACKET_MESSAGE = 64;

interface Ours {
  nc: NetCrypto;
  socket: dgram.Socket;
  status: CryptoConnectionState[];
  lossless: Uint8Array[];
  acked: number[];
  stop(): void;
}

/** `loss`: probability of dropping each datagram in our socket layer, both directions. */
async function startOurs(loss = 0): Promise<Ours> {
  const socket = dgram.createSocket("udp4");
  await new Promise<void>((r) => socket.bind(0, "127.0.0.1", () => r()));
  const realKeys = newKeyPair();
  const dhtKeys = newKeyPair();
  const ours: Partial<Ours> = { socket, status: [], lossless: [], acked: [] };
  const nc = new NetCrypto({
    clock: systemClock,
    realKeys,
    dhtKeys: () => dhtKeys,
    sink: {
      send: (to, data) => {
        if (Math.random() >= loss) socket.send(data, to.port, to.ip);
      },
    },
    events: {
      onStatus: (_c, s) => ours.status!.push(s),
      onLossless: (_c, d) => ours.lossless!.push(d),
      onLossy: () => {},
      onAcked: (_c, n) => ours.acked!.push(n),
      shouldAccept: () => true,
    },
  });
  socket.on("message", (msg, rinfo) => {
    const data = new Uint8Array(msg.buffer, msg.byteOffset, msg.length);
    // The C peer's DHT also talks to this socket; only net_crypto packets are ours here.
    if (Math.random() < loss) return;
    if (data[0]! >= 0x18 && data[0]! <= 0x1b) nc.handlePacket(ipPort(rinfo.address, rinfo.port), data);
  });
  let stopped = false;
  let timer: NodeJS.Timeout;
  const loop = () => {
    if (stopped) return;
    nc.tick();
    timer = setTimeout(loop, Math.min(20, nc.nextTickIn()));
  };
  loop();
  ours.nc = nc;
  ours.stop = () => {
    stopped = true;
    clearTimeout(timer);
    socket.close();
  };
  (ours as { realPk?: Uint8Array }).realPk = realKeys.publicKey;
  return ours as Ours;
}

describe("net_crypto interop with c-toxcore 0.2.18", () => {
  const cleanup: Array<() => void> = [];
  afterEach(() => {
    for (const f of cleanup.splice(0)) f();
  });

  async function session(loss: number) {
    const c = await CToxPeer.create(C_PORTS);
    cleanup.push(() => c.kill());
    const ours = await startOurs(loss);
    cleanup.push(() => ours.stop());
    const ourPk = (ours as unknown as { realPk: Uint8Array }).realPk;
    const friend = c.friendAddNoRequest(ourPk);
    const conn = ours.nc.connect(c.publicKey, c.dhtId);
    ours.nc.setDirectAddress(conn, ipPort("127.0.0.1", c.udpPort));
    const alive = setInterval(() => {
      if (ours.nc.state(conn) === "established") ours.nc.sendLossless(conn, Uint8Array.of(PACKET_ALIVE));
    }, 8000);
    cleanup.push(() => clearInterval(alive));
    return { c, ours, friend, conn };
  }

  it("survives 10% loss: 1000 messages each way in order, every read receipt fires", async () => {
    const { c, ours, friend, conn } = await session(0.1);
    const cMessages: string[] = [];
    const cReceipts: number[] = [];
    c.on("friendMessage", (_f, _t, m) => cMessages.push(m));
    c.on("friendReadReceipt", (_f, id) => cReceipts.push(id));
    await waitFor(() => ours.nc.state(conn) === "established", 20_000, "ESTABLISHED");
    ours.nc.sendLossless(conn, Uint8Array.of(PACKET_ONLINE));
    const n = 1000;
    let sent = 0;
    const t0 = Date.now();
    const pump = setInterval(() => {
      while (sent < n && ours.nc.sendWindowFree(conn) > 0) {
        const m = new TextEncoder().encode(`to C #${sent}`);
        expect(ours.nc.sendLossless(conn, Uint8Array.of(PACKET_MESSAGE, ...m))).toBeGreaterThan(0);
        sent++;
      }
    }, 5);
    cleanup.push(() => clearInterval(pump));
    await waitFor(() => cMessages.length >= 1, 15_000, "C to see us online");
    const ids: number[] = [];
    for (let i = 0; i < n; i++) ids.push(c.sendMessage(friend, `to us #${i}`));
    const texts = () =>
      ours.lossless
        .filter((d) => d[0] === PACKET_MESSAGE)
        .map((d) => new TextDecoder().decode(d.subarray(1)));
    await waitFor(() => cMessages.length >= n && texts().length >= n && cReceipts.length >= n, 40_000, "all");
    expect(cMessages).toEqual(Array.from({ length: n }, (_, i) => `to C #${i}`));
    expect(texts()).toEqual(Array.from({ length: n }, (_, i) => `to us #${i}`));
    expect(cReceipts).toEqual(ids);
    const info = ours.nc.info(conn)!;
    console.log(
      `10% loss: ${n} msgs each way in ${Date.now() - t0} ms; resent ${info.resentPackets}, srtt ${info.srtt.toFixed(1)} ms`,
    );
    expect(info.resentPackets).toBeGreaterThan(0);
  }, 60_000);

  it("bulk: 20,000 custom lossless packets to C on loopback, all acknowledged", async () => {
    const { ours, conn } = await session(0);
    await waitFor(() => ours.nc.state(conn) === "established", 15_000, "ESTABLISHED");
    ours.nc.sendLossless(conn, Uint8Array.of(PACKET_ONLINE));
    const n = 20_000;
    let sent = 0;
    const t0 = Date.now();
    const chunk = new Uint8Array(1371).fill(7);
    chunk[0] = 160; // custom lossless range: C's net_crypto acks it like any lossless packet
    const pump = setInterval(() => {
      while (sent < n && ours.nc.sendWindowFree(conn) > 0) {
        ours.nc.sendLossless(conn, chunk);
        sent++;
      }
    }, 2);
    cleanup.push(() => clearInterval(pump));
    await waitFor(() => (ours.acked.at(-1) ?? 0) >= n + 1, 45_000, "acks for all packets");
    const ms = Date.now() - t0;
    const info = ours.nc.info(conn)!;
    console.log(
      `bulk to c-toxcore: ${n} x 1371 B in ${ms} ms = ${Math.round((n * 1000) / ms)} pkt/s, ` +
        `${((n * 1371) / 1024 / ms).toFixed(1)} MB/s; cwnd ${info.cwnd.toFixed(0)}, resent ${info.resentPackets}, srtt ${info.srtt.toFixed(1)} ms`,
    );
    expect((n * 1000) / ms).toBeGreaterThan(1000);
  }, 60_000);

  it("establishes a session, exchanges messages both ways, and both sides see acks", async () => {
    const c = await CToxPeer.create(C_PORTS);
    cleanup.push(() => c.kill());
    const ours = await startOurs();
    cleanup.push(() => ours.stop());
    const ourPk = (ours as unknown as { realPk: Uint8Array }).realPk;

    const friend = c.friendAddNoRequest(ourPk);
    const cStatus: string[] = [];
    const cMessages: string[] = [];
    const cReceipts: number[] = [];
    c.on("friendConnectionStatus", (_f, s) => cStatus.push(s));
    c.on("friendMessage", (_f, _t, m) => cMessages.push(m));
    c.on("friendReadReceipt", (_f, id) => cReceipts.push(id));

    const conn: ConnectionId = ours.nc.connect(c.publicKey, c.dhtId);
    ours.nc.setDirectAddress(conn, ipPort("127.0.0.1", c.udpPort));
    const alive = setInterval(() => {
      if (ours.nc.state(conn) === "established") ours.nc.sendLossless(conn, Uint8Array.of(PACKET_ALIVE));
    }, 8000);
    cleanup.push(() => clearInterval(alive));

    await waitFor(() => ours.nc.state(conn) === "established", 15_000, "ESTABLISHED");
    expect(ours.status).toEqual(["established"]);

    // ONLINE, then a message: C reports the friend online over UDP (status 2) and the message.
    expect(ours.nc.sendLossless(conn, Uint8Array.of(PACKET_ONLINE))).toBe(0);
    const text = "hello from toxbridge ✓";
    expect(ours.nc.sendLossless(conn, Uint8Array.of(PACKET_MESSAGE, ...new TextEncoder().encode(text)))).toBe(
      1,
    );
    await waitFor(() => cMessages.length > 0, 10_000, "C friend_message");
    expect(cStatus).toContain("udp");
    expect(cMessages).toEqual([text]);
    // C acknowledged our packets (its buffer_start passed both).
    await waitFor(() => (ours.acked.at(-1) ?? 0) >= 2, 5000, "acks from C");

    // C → us: its ONLINE arrives first, then messages in order; our acks fire its read receipts.
    const ids = [c.sendMessage(friend, "one"), c.sendMessage(friend, "two"), c.sendMessage(friend, "three")];
    const texts = () =>
      ours.lossless
        .filter((d) => d[0] === PACKET_MESSAGE)
        .map((d) => new TextDecoder().decode(d.subarray(1)));
    await waitFor(() => texts().length >= 3, 10_000, "messages from C");
    expect(texts()).toEqual(["one", "two", "three"]);
    const kinds = ours.lossless.map((d) => d[0]);
    expect(kinds.indexOf(PACKET_ONLINE)).toBeGreaterThanOrEqual(0);
    expect(kinds.indexOf(PACKET_ONLINE)).toBeLessThan(kinds.indexOf(PACKET_MESSAGE));
    await waitFor(() => cReceipts.length >= 3, 5000, "C read receipts");
    expect(cReceipts).toEqual(ids);
  }, 60_000);
});
