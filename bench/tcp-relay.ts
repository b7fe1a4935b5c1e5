/**
 * TCP relays on loopback, c-toxcore 0.2.18's relay (tox-bootstrapd) as the anchor:
 *
 * 1. Relay forwarding: two of our TCP relay clients route 1,000-byte frames to each other with at
 *    most W frames in flight (the sender sees the receiver's count: same process). A window that
 *    makes no progress for 200 ms counts its frames as dropped (relays drop routed data they
 *    cannot flush at once). Through tox-bootstrapd's relay and through our relay server.
 * 2. net_crypto over a relay: our identity (TCP only) sends N ~100-byte Messenger messages to a
 *    UDP-less c-toxcore peer, timed until the last one is acknowledged (= read receipts), through
 *    each relay. Session set-up time (OOB cookie/handshake) is shown too.
 *
 * Run: npx tsx bench/tcp-relay.ts [N]   (or `npm run bench`). Ports 34700–34739.
 */
import { systemClock } from "../src/tox/clock.js";
import { newKeyPair, randomBytes } from "../src/tox/crypto.js";
import { relayKey } from "../src/tox/tcp/pool.js";
import { TcpRelayServer } from "../src/tox/tcp/server.js";
import { listenTcpRelay, openTcpRelaySocket, type TcpRelayAddress } from "../src/tox/tcp/socket.js";
import { startBootstrapd } from "../test/interop/bootstrapd.js";
import { CToxPeer } from "../test/interop/ctoxcore.js";
import { LiveRelayIdentity } from "../test/tox/tcp/live-identity.js";
import { runIfMain } from "./lib/runner.js";
import { ratePerSecond } from "./lib/stats.js";
import { printComparison, printTable } from "./lib/table.js";
import { nowMs, sleep, until } from "./lib/timing.js";

interface ForwardFigures {
  framesPerSecond: number;
  mibPerSecond: number;
  dropped: number;
}

async function forwarding(relay: TcpRelayAddress, frames: number, window: number): Promise<ForwardFigures> {
  const ka = newKeyPair();
  const kb = newKeyPair();
  let received = 0;
  const a = openTcpRelaySocket({ relay, keys: ka, events: {} });
  const b = openTcpRelaySocket({ relay, keys: kb, events: { onData: () => void received++ } });
  try {
    await until(() => a.client.status === "confirmed" && b.client.status === "confirmed", 3000, "handshakes");
    a.client.routingRequest(kb.publicKey);
    b.client.routingRequest(ka.publicKey);
    await until(() => a.client.peerStatus(kb.publicKey) === "online", 3000, "route");
    const payload = randomBytes(1000);
    let sent = 0;
    let dropped = 0;
    const t0 = nowMs();
    let lastProgress = t0;
    let lastReceived = 0;
    while (sent < frames) {
      while (sent < frames && sent - received - dropped < window) {
        a.client.sendData(kb.publicKey, payload);
        sent++;
      }
      await new Promise((r) => setImmediate(r));
      if (received !== lastReceived) {
        lastReceived = received;
        lastProgress = nowMs();
      } else if (nowMs() - lastProgress > 200) {
        dropped += sent - received - dropped;
        lastProgress = nowMs();
      }
    }
    await until(() => received + dropped >= sent, 2000, "last frames").catch(() => {
      dropped = sent - received;
    });
    const ms = nowMs() - t0;
    return {
      framesPerSecond: ratePerSecond(received, ms),
      mibPerSecond: (received * 1000) / (ms / 1000) / 2 ** 20,
      dropped,
    };
  } finally {
    a.close();
    b.close();
  }
}

interface SessionFigures {
  connectMs: number;
  messagesPerSecond: number;
}

async function sessionToCToxcore(relay: TcpRelayAddress, n: number, cPort: number): Promise<SessionFigures> {
  const c = await CToxPeer.create({ udp: false, startPort: cPort, endPort: cPort + 9, label: "bench-c-tcp" });
  const me = new LiveRelayIdentity();
  try {
    c.addTcpRelay(relay.host, relay.port, relay.publicKey);
    c.friendAddNoRequest(me.realKeys.publicKey);
    let texts = 0;
    c.on("friendMessage", () => void texts++);
    me.pool.addRelay(relay);
    await until(() => me.pool.relayStatus(relayKey(relay)) === "confirmed", 3000, "relay handshake");
    const t0 = nowMs();
    const conn = me.nc.connect(c.publicKey, c.dhtId);
    await until(() => me.nc.state(conn) === "established", 15_000, "session");
    const connectMs = nowMs() - t0;
    me.nc.sendLossless(conn, new Uint8Array([24])); // ONLINE, or c-toxcore ignores messages
    const body = new TextEncoder().encode("x".repeat(99));
    const message = new Uint8Array([64, ...body]);
    const t1 = nowMs();
    let last = -1;
    for (let i = 0; i < n; ) {
      const num = me.nc.sendLossless(conn, message, false);
      if (num >= 0) {
        last = num;
        i++;
      } else await sleep(1);
    }
    await until(() => (me.acked.at(-1) ?? 0) > last && texts === n, 60_000, "last receipt");
    return { connectMs, messagesPerSecond: ratePerSecond(n, nowMs() - t1) };
  } finally {
    me.close();
    c.kill();
  }
}

export default async function main(): Promise<void> {
  const n = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 5000);
  const bsd = await startBootstrapd({ port: 34700, tcpPort: 34701 });
  const ourKeys = newKeyPair();
  const ours = await listenTcpRelay(new TcpRelayServer({ clock: systemClock, keys: ourKeys }), {
    port: 34702,
  });
  try {
    const cRelay: TcpRelayAddress = { host: "127.0.0.1", port: bsd.tcpPort, publicKey: bsd.publicKey };
    const ourRelay: TcpRelayAddress = { host: "127.0.0.1", port: ours.port, publicKey: ourKeys.publicKey };
    const frames = 20_000;
    for (const window of [16, 256]) {
      const cFig = await forwarding(cRelay, frames, window);
      const oFig = await forwarding(ourRelay, frames, window);
      printComparison(
        [
          {
            metric: "routed frames",
            unit: "frames/s",
            ours: oFig.framesPerSecond,
            baseline: cFig.framesPerSecond,
            higherIsBetter: true,
          },
          {
            metric: "routed payload",
            unit: "MiB/s",
            ours: oFig.mibPerSecond,
            baseline: cFig.mibPerSecond,
            higherIsBetter: true,
          },
        ],
        `TCP relay forwarding, ${frames} x 1000 B, window ${window} (our client both ends)`,
        ["our relay", "tox-bootstrapd"],
      );
      console.log(`frames dropped by the relay: ours ${oFig.dropped}, tox-bootstrapd ${cFig.dropped}\n`);
    }
    const viaC = await sessionToCToxcore(cRelay, n, 34710);
    const viaOurs = await sessionToCToxcore(ourRelay, n, 34720);
    printTable(
      ["relay", "session set-up ms", `msg/s (${n} x 100 B, until last ack)`],
      [
        ["tox-bootstrapd", viaC.connectMs, viaC.messagesPerSecond],
        ["our relay server", viaOurs.connectMs, viaOurs.messagesPerSecond],
      ],
      "net_crypto over a TCP relay: our identity (TCP only) -> c-toxcore 0.2.18 (UDP off)",
    );
  } finally {
    await ours.close();
    await bsd.stop();
  }
}

runIfMain(import.meta.url, main);
