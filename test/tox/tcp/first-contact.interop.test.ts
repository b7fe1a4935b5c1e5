/**
 * Issue 4's end-to-end case: a c-toxcore 0.2.18 peer with UDP disabled reaches us through
 * tox-bootstrapd's TCP relay, and *it* starts the session. Nothing is shortcut: we are TCP-only
 * too (no UDP sent), announce through the relay with the onion client, search for the C peer,
 * and our DHT-PK announcement carries our relay (TcpRelayPool.sharedRelays). The C peer learns our
 * DHT key and relay from it, connects to our DHT key on that relay (OOB cookie request, then
 * handshake), and our NetCrypto accepts through the relay glue (wired with IdentityTcpRelays).
 * We never call connect().
 * Ports: daemons 34760-34765, C peer 34770-34779. Slow by nature (onion announce and search
 * over TCP): typically 10-30 s.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { systemClock } from "../../../src/tox/clock.js";
import { newKeyPair } from "../../../src/tox/crypto.js";
import { NetCrypto } from "../../../src/tox/netcrypto/netcrypto.js";
import type { CryptoConnectionState } from "../../../src/tox/netcrypto/types.js";
import { OnionClient } from "../../../src/tox/onion/client.js";
import { IdentityTcpRelays } from "../../../src/tox/tcp/identity-relays.js";
import { ipPort } from "../../../src/tox/wire/ipport.js";
import { type Bootstrapd, startBootstrapNetwork } from "../../interop/bootstrapd.js";
import { CToxPeer, waitUntil } from "../../interop/ctoxcore.js";

const PACKET_ID_ONLINE = 24;
const PACKET_ID_MESSAGE = 64;

describe("a UDP-less c-toxcore peer reaches us through a TCP relay (first contact, C initiates)", () => {
  let daemons: Bootstrapd[] = [];
  let peer: CToxPeer | undefined;
  let identity: IdentityTcpRelays | undefined;
  let timer: NodeJS.Timeout | undefined;

  beforeAll(async () => {
    daemons = await startBootstrapNetwork(3, 34760);
  });
  afterAll(async () => {
    if (timer) clearTimeout(timer);
    identity?.close();
    peer?.kill();
    await Promise.all(daemons.map((d) => d.stop()));
  });

  it("C learns our DHT key and relay from our DHT-PK and starts the session; messages flow", async () => {
    const realKeys = newKeyPair();
    const dhtKeys = newKeyPair();
    let udpSends = 0;
    const udp = { send: () => void udpSends++ };
    const status: CryptoConnectionState[] = [];
    const lossless: Uint8Array[] = [];
    let accepted = 0;
    let cDhtFromOnion: Uint8Array | undefined;

    // The identity's relay layer as the node will wire it (IdentityTcpRelays hooks).
    const relays = new IdentityTcpRelays({ clock: systemClock, dhtKeys: () => dhtKeys, udp });
    identity = relays;
    const p = relays.pool;
    const nc = new NetCrypto({
      clock: systemClock,
      realKeys,
      dhtKeys: () => dhtKeys,
      sink: udp,
      ...relays.netCryptoOptions,
      events: {
        onStatus: (_c, s) => status.push(s),
        onLossless: (_c, d) => lossless.push(d),
        onLossy: () => {},
        onAcked: () => {},
        shouldAccept: (pk) => {
          const ok = peer !== undefined && pk.every((b, i) => b === peer!.publicKey[i]);
          if (ok) accepted++;
          return ok;
        },
      },
    });
    relays.attach(nc);
    const client = new OnionClient({
      clock: systemClock,
      realKeys,
      dht: { dhtKeys: () => dhtKeys, isConnected: () => false, randomNodes: () => [], closeNodes: () => [] },
      sink: udp,
      tcp: relays.onionFirstHop,
      // What makes the C peer able to reach us: our relay inside our DHT-PK announcements.
      tcpRelays: relays.onionAdvertisedRelays,
      events: {
        onDhtPk: (friend, dhtPk, nodes) => {
          cDhtFromOnion = dhtPk;
          relays.onFriendDhtPk(friend, dhtPk, nodes);
        },
      },
    });
    relays.onOnionResponse = (data) => client.handleTcpResponse(data);
    for (const d of daemons)
      client.addBootstrapPathNode({
        protocol: "udp",
        ipPort: ipPort(d.host, d.port),
        publicKey: d.publicKey,
      });
    const relay = daemons[0]!;
    const ourRelayKey = relays.addRelay({
      host: relay.host,
      port: relay.tcpPort,
      publicKey: relay.publicKey,
    });
    const loop = () => {
      nc.tick();
      relays.tick();
      client.tick();
      timer = setTimeout(loop, 20);
    };
    loop();

    // The C peer: UDP off, onion path nodes from tox_bootstrap, one TCP relay, us as a friend.
    const c = await CToxPeer.create({
      udp: false,
      startPort: 34770,
      endPort: 34779,
      label: "c-first-contact",
    });
    peer = c;
    for (const d of daemons) c.bootstrap(d.host, d.port, d.publicKey);
    c.addTcpRelay(relay.host, relay.tcpPort, relay.publicKey);
    const friend = c.friendAddNoRequest(realKeys.publicKey);
    const cStatus: string[] = [];
    c.on("friendConnectionStatus", (_f, s) => cStatus.push(s));
    const texts: string[] = [];
    c.on("friendMessage", (_f, _t, text) => texts.push(text));

    await waitUntil(() => p.relayStatus(ourRelayKey) === "confirmed", 5000, "relay");
    const t0 = Date.now();
    client.addFriend(c.publicKey); // search for C, so our DHT-PK (with our relay) reaches it
    await waitUntil(() => status.includes("established"), 90_000, "session started by the C peer");
    const ms = Date.now() - t0;
    const conn = nc.connectionFor(c.publicKey)!;
    expect(accepted).toBeGreaterThanOrEqual(1);
    expect(udpSends).toBe(0);

    nc.sendLossless(conn, new Uint8Array([PACKET_ID_ONLINE]));
    await waitUntil(() => cStatus.includes("tcp"), 10_000, "C sees us online over TCP");
    nc.sendLossless(conn, new Uint8Array([PACKET_ID_MESSAGE, ...new TextEncoder().encode("first contact")]));
    await waitUntil(() => texts.includes("first contact"), 10_000, "message to C");
    c.sendMessage(friend, "hello back");
    await waitUntil(
      () =>
        lossless.some(
          (d) => d[0] === PACKET_ID_MESSAGE && new TextDecoder().decode(d.subarray(1)) === "hello back",
        ),
      10_000,
      "message from C",
    );
    console.log(
      `first contact over TCP: C-initiated session ${ms} ms after we started searching; C DHT key via onion: ${cDhtFromOnion !== undefined}`,
    );
  }, 120_000);
});
