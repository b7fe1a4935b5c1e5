/**
 * A c-toxcore 0.2.18 peer with UDP disabled and our net_crypto meet through a TCP relay: first
 * tox-bootstrapd's, then our own relay server (which so meets c-toxcore's TCP client). The C peer
 * knows only the relay (`tox_add_tcp_relay`) and has us as a friend (`tox_friend_add_norequest`);
 * it cannot learn our DHT key or relays without the onion, so we start the session: OOB cookie
 * request → OOB cookie response → OOB handshake → the C peer accepts, routes to our DHT key on
 * that relay, and the session runs over the routed connection. Then we share the relay (id 17),
 * kill the session, and the C peer re-initiates through the relay.
 * Ports: daemon 34610/34611, our relay 34612, C peers 34620-34639 (UDP off, so unused).
 */
import { afterEach, describe, expect, it } from "vitest";
import { systemClock } from "../../../src/tox/clock.js";
import { newKeyPair } from "../../../src/tox/crypto.js";
import type { ConnectionId } from "../../../src/tox/netcrypto/types.js";
import { relayKey } from "../../../src/tox/tcp/pool.js";
import { TcpRelayServer } from "../../../src/tox/tcp/server.js";
import { listenTcpRelay, type TcpRelayAddress } from "../../../src/tox/tcp/socket.js";
import { packNodes } from "../../../src/tox/wire/ipport.js";
import { startBootstrapd } from "../../interop/bootstrapd.js";
import { CToxPeer, waitUntil } from "../../interop/ctoxcore.js";
import { LiveRelayIdentity } from "./live-identity.js";

const PACKET_ID_ONLINE = 24;
const PACKET_ID_MESSAGE = 64;
const PACKET_ID_SHARE_RELAYS = 17;

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function bootstrapdRelay(): Promise<TcpRelayAddress> {
  const bsd = await startBootstrapd({ port: 34610, tcpPort: 34611 });
  cleanups.push(() => bsd.stop());
  return { host: "127.0.0.1", port: bsd.tcpPort, publicKey: bsd.publicKey };
}

async function ourRelay(): Promise<TcpRelayAddress> {
  const keys = newKeyPair();
  const listening = await listenTcpRelay(new TcpRelayServer({ clock: systemClock, keys }), { port: 34612 });
  cleanups.push(() => listening.close());
  return { host: "127.0.0.1", port: listening.port, publicKey: keys.publicKey };
}

describe.each([
  ["tox-bootstrapd's relay", bootstrapdRelay, 34620],
  ["our relay server", ourRelay, 34630],
])("net_crypto with a UDP-less c-toxcore peer through %s", (_name, makeRelay, cPort) => {
  it("we start a session (OOB), messages both ways with receipts; then c-toxcore reconnects to us via the shared relay", async () => {
    const relay = await makeRelay();
    const c = await CToxPeer.create({
      udp: false,
      startPort: cPort,
      endPort: cPort + 9,
      label: "c-tcp-only",
    });
    cleanups.push(() => c.kill());
    c.addTcpRelay(relay.host, relay.port, relay.publicKey);

    const me = new LiveRelayIdentity();
    cleanups.push(() => me.close());
    const { nc, glue, acked, lossless, realKeys } = me;
    const p = me.pool;

    const friend = c.friendAddNoRequest(realKeys.publicKey);
    p.addRelay(relay);
    await waitUntil(() => p.relayStatus(relayKey(relay)) === "confirmed", 3000, "our relay handshake");
    const started = Date.now();
    const conn: ConnectionId = nc.connect(c.publicKey, c.dhtId);
    // The C peer connects to the relay on its first iterations; our cookie requests (resent every
    // second) reach it once it is there.
    await waitUntil(() => nc.state(conn) === "established", 10_000, "net_crypto session over the relay");
    const establishMs = Date.now() - started;
    expect(p.isPeerOnline(c.dhtId)).toBe(true);

    // Messenger minimum: ONLINE makes the C side report the friend connected (over TCP).
    const cStatus: string[] = [];
    c.on("friendConnectionStatus", (_f, s) => cStatus.push(s));
    nc.sendLossless(conn, new Uint8Array([PACKET_ID_ONLINE]));
    await waitUntil(() => cStatus.includes("tcp"), 5000, "C sees us online via TCP");

    const texts: string[] = [];
    c.on("friendMessage", (_f, _t, text) => texts.push(text));
    const n = 50;
    for (let i = 0; i < n; i++)
      nc.sendLossless(conn, new Uint8Array([PACKET_ID_MESSAGE, ...new TextEncoder().encode(`to C ${i}`)]));
    await waitUntil(() => texts.length === n, 10_000, "C receives our messages");
    expect(texts).toEqual(Array.from({ length: n }, (_, i) => `to C ${i}`));

    const receipts: number[] = [];
    c.on("friendReadReceipt", (_f, id) => receipts.push(id));
    const before = lossless.length;
    const ids = Array.from({ length: n }, (_, i) => c.sendMessage(friend, `to us ${i}`));
    await waitUntil(
      () => lossless.filter((d) => d[0] === PACKET_ID_MESSAGE).length === n,
      10_000,
      "our messages from C",
    );
    const got = lossless
      .slice(before)
      .filter((d) => d[0] === PACKET_ID_MESSAGE)
      .map((d) => new TextDecoder().decode(d.subarray(1)));
    expect(got).toEqual(Array.from({ length: n }, (_, i) => `to us ${i}`));
    // Our acks are c-toxcore's read receipts.
    await waitUntil(() => receipts.length === n, 5000, "C read receipts");
    expect(receipts).toEqual(ids);
    expect(acked.length).toBeGreaterThan(0);
    expect(me.udpSends).toBe(0);
    console.log(
      `${_name}: session established in ${establishMs} ms; relay packets out ${glue.stats.relayPackets}, in ${glue.stats.relayedIn}`,
    );

    // A burst of 3,000 texts (Messenger sends texts without congestion control): without the
    // relay in-flight cap this froze c-toxcore 0.2.18 after a few hundred (netcrypto-relay.ts).
    const burst = 3000;
    const burstText = new Uint8Array([PACKET_ID_MESSAGE, ...new TextEncoder().encode("b".repeat(99))]);
    const textsBefore = texts.length;
    const burstStart = Date.now();
    for (let i = 0; i < burst; ) {
      if (nc.sendLossless(conn, burstText, false) >= 0) i++;
      else await new Promise((r) => setTimeout(r, 1));
    }
    await waitUntil(() => texts.length === textsBefore + burst, 15_000, "burst delivered");
    console.log(`${_name}: ${burst} x 100 B texts in ${Date.now() - burstStart} ms`);

    // Phase 2: the C peer initiates. Tell it our relay (friend_connection SHARE_RELAYS, id 17),
    // then kill the session: its friend_connection reconnects by itself to our DHT key through
    // that relay, and we accept the relayed handshake.
    const shareNum = nc.sendLossless(
      conn,
      new Uint8Array([PACKET_ID_SHARE_RELAYS, ...packNodes(p.sharedRelays())]),
    );
    expect(shareNum).toBeGreaterThanOrEqual(0);
    await waitUntil(() => (acked.at(-1) ?? 0) > shareNum, 5000, "share-relays acked");
    me.accept = true;
    nc.kill(conn);
    cStatus.length = 0;
    const killedAt = Date.now();
    await waitUntil(() => cStatus.includes("none"), 5000, "C sees the session end");
    await waitUntil(
      () => {
        const again = nc.connectionFor(c.publicKey);
        return again !== undefined && nc.state(again) === "established";
      },
      15_000,
      "C reconnecting to us through the relay",
    );
    const reconnectMs = Date.now() - killedAt;
    const conn2 = nc.connectionFor(c.publicKey)!;
    expect(me.accepted).toBe(1);
    nc.sendLossless(conn2, new Uint8Array([PACKET_ID_ONLINE]));
    await waitUntil(() => cStatus.includes("tcp"), 5000, "C sees us online again");
    nc.sendLossless(conn2, new Uint8Array([PACKET_ID_MESSAGE, ...new TextEncoder().encode("again")]));
    await waitUntil(() => texts.at(-1) === "again", 5000, "message on the C-initiated session");
    expect(me.udpSends).toBe(0);
    console.log(`${_name}: session initiated by c-toxcore established ${reconnectMs} ms after the kill`);
  }, 40_000);
});
