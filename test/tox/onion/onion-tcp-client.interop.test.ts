/**
 * Interop, TCP-only: our onion client with no UDP and no DHT, reaching the c-toxcore 0.2.18
 * network only through tox-bootstrapd's TCP relay (our TcpRelayPool). Paths start at the relay
 * (TCP onion request, packet 8) and answers come back as TCP onion responses (packet 9). Proves
 * TCP-only announce, friend requests both ways and the C peer's DHT-PK reaching us over TCP.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatAddress } from "../../../src/tox/address.js";
import { bytesEqual, toHex } from "../../../src/tox/bytes.js";
import { systemClock } from "../../../src/tox/clock.js";
import { newKeyPair } from "../../../src/tox/crypto.js";
import { FriendRequests, type IncomingRequest } from "../../../src/tox/friend-requests/friend-requests.js";
import { OnionClient } from "../../../src/tox/onion/client.js";
import { nodeToRelay, relayKey, TcpRelayPool } from "../../../src/tox/tcp/pool.js";
import { netTransport } from "../../../src/tox/tcp/socket.js";
import { ipPort } from "../../../src/tox/wire/ipport.js";
import { ONION_DATA_FRIEND_REQUEST } from "../../../src/tox/wire/onion.js";
import { type Bootstrapd, startBootstrapNetwork } from "../../interop/bootstrapd.js";
import { CToxPeer, waitUntil } from "../../interop/ctoxcore.js";

const DAEMON_BASE_PORT = 34940; // 34940..34945
const C_PORTS = { startPort: 34950, endPort: 34959 };

describe("TCP-only onion client interop with c-toxcore 0.2.18", () => {
  let daemons: Bootstrapd[] = [];
  let peer: CToxPeer;
  let pool: TcpRelayPool;
  let client: OnionClient;
  let requests: FriendRequests;
  let timer: NodeJS.Timeout | undefined;
  let udpSends = 0;
  let tcpSends = 0;
  const incoming: IncomingRequest[] = [];
  const learned: { friend: Uint8Array; dhtPk: Uint8Array }[] = [];
  const peerRequests: { pk: Uint8Array; message: string }[] = [];
  const realKeys = newKeyPair();
  const dhtKeys = newKeyPair();
  const nospam = Uint8Array.of(7, 7, 7, 7);

  beforeAll(async () => {
    daemons = await startBootstrapNetwork(3, DAEMON_BASE_PORT);
    peer = await CToxPeer.create({ ...C_PORTS, label: "tcp-onion-peer" });
    for (const d of daemons) peer.bootstrap(d.host, d.port, d.publicKey);
    peer.on("friendRequest", (pk, message) => peerRequests.push({ pk, message }));

    pool = new TcpRelayPool({
      clock: systemClock,
      dhtKeys: () => dhtKeys,
      transport: netTransport,
      events: { onPacket: () => {}, onOnionResponse: (data) => client.handleTcpResponse(data) },
    });
    const relay = daemons[0]!;
    pool.addRelay({ host: relay.host, port: relay.tcpPort, publicKey: relay.publicKey });
    client = new OnionClient({
      clock: systemClock,
      realKeys,
      dht: { dhtKeys: () => dhtKeys, isConnected: () => false, randomNodes: () => [], closeNodes: () => [] },
      sink: { send: () => void udpSends++ },
      tcp: {
        relays: () => pool.sharedRelays(6),
        send: (r, nonce, payload) => {
          tcpSends++;
          return pool.sendOnionRequest(nonce, payload, relayKey(nodeToRelay(r)));
        },
      },
      tcpRelays: () => pool.sharedRelays(2),
      events: {
        onDhtPk: (friend, dhtPk) => learned.push({ friend, dhtPk }),
        onData: (sender, type, payload) => {
          if (type === ONION_DATA_FRIEND_REQUEST) requests.handleOnionRequest(sender, payload);
        },
      },
    });
    // As tox_bootstrap does: the daemons are the first onion path nodes.
    for (const d of daemons) {
      client.addBootstrapPathNode({
        protocol: "udp",
        ipPort: ipPort(d.host, d.port),
        publicKey: d.publicKey,
      });
    }
    requests = new FriendRequests({
      clock: systemClock,
      ownPk: realKeys.publicKey,
      nospam: () => nospam,
      isFriend: () => false,
      transport: {
        searchFor: (pk) => client.addFriend(pk),
        stopSearching: (pk) => client.removeFriend(pk),
        sendOnion: (pk, payload) => client.sendData(pk, ONION_DATA_FRIEND_REQUEST, payload),
      },
      onRequest: (r) => incoming.push(r),
    });
    const loop = () => {
      pool.tick();
      client.tick();
      requests.tick();
      timer = setTimeout(loop, 50);
    };
    loop();
  }, 60_000);

  afterAll(async () => {
    if (timer) clearTimeout(timer);
    pool?.close();
    peer?.kill();
    await Promise.all(daemons.map((d) => d.stop()));
  });

  it("announces through the TCP relay without sending any UDP", async () => {
    const t0 = Date.now();
    await waitUntil(() => client.isConnected(), 40_000, "announced over TCP");
    const st = client.status();
    console.log(
      `tcp onion interop: announced on ${st.storedOn}/${st.announceNodes} nodes after ${Date.now() - t0} ms`,
    );
    expect(udpSends).toBe(0);
    expect(tcpSends).toBeGreaterThan(0);
  }, 50_000);

  it("friend requests both ways and the C peer's DHT-PK, all over TCP", async () => {
    const t0 = Date.now();
    expect(requests.addFriend(peer.addressHex, "hi over tcp").ok).toBe(true);
    await waitUntil(() => peerRequests.length > 0, 40_000, "C peer got our request");
    expect(toHex(peerRequests[0]!.pk)).toBe(toHex(realKeys.publicKey));
    console.log(`tcp onion interop: our request delivered after ${Date.now() - t0} ms`);
    const t1 = Date.now();
    peer.friendAdd(formatAddress({ publicKey: realKeys.publicKey, nospam }), "hi back over tcp");
    await waitUntil(() => incoming.length > 0 && learned.length > 0, 40_000, "C request and DHT-PK");
    console.log(`tcp onion interop: C request + DHT-PK after ${Date.now() - t1} ms`);
    expect(new TextDecoder().decode(incoming[0]!.message)).toBe("hi back over tcp");
    expect(bytesEqual(learned[0]!.dhtPk, peer.dhtId)).toBe(true);
    expect(udpSends).toBe(0);
  }, 100_000);
});
