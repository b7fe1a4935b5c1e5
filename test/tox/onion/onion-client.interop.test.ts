/**
 * Interop: our onion client and friend requests against c-toxcore 0.2.18, no DHT of ours.
 *
 * The network is 3 tox-bootstrapd daemons plus one c-toxcore peer (koffi), all on loopback. Our
 * client builds its paths through those C nodes (a C relay forwards anyone's onion packets), and
 * announces to them; the "DHT view" we give it is just the list of C nodes. Proves:
 * - the C announce nodes store our 0x83 announce (the C peer finds us and its request arrives);
 * - our request (onion data type 32) reaches the C peer's friend_request callback;
 * - the C peer's DHT-PK (type 156) reaches us and names its real DHT key.
 */
import dgram from "node:dgram";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatAddress } from "../../../src/tox/address.js";
import { bytesEqual, toHex } from "../../../src/tox/bytes.js";
import { systemClock } from "../../../src/tox/clock.js";
import { newKeyPair } from "../../../src/tox/crypto.js";
import { FriendRequests, type IncomingRequest } from "../../../src/tox/friend-requests/friend-requests.js";
import { OnionClient } from "../../../src/tox/onion/client.js";
import { compareDistance } from "../../../src/tox/onion/distance.js";
import { ipPort, type NodeInfo } from "../../../src/tox/wire/ipport.js";
import { ONION_DATA_FRIEND_REQUEST } from "../../../src/tox/wire/onion.js";
import { type Bootstrapd, startBootstrapNetwork } from "../../interop/bootstrapd.js";
import { CToxPeer, waitUntil } from "../../interop/ctoxcore.js";

/** Ports of this file, inside the onion helper's range 34800–34999. */
const DAEMON_BASE_PORT = 34800; // 34800..34805 (UDP + TCP for 3 daemons)
const C_PORTS = { startPort: 34810, endPort: 34819 };
const OUR_PORT = 34830;

describe("onion client interop with c-toxcore 0.2.18", () => {
  let daemons: Bootstrapd[] = [];
  let peer: CToxPeer;
  let socket: dgram.Socket;
  let client: OnionClient;
  let requests: FriendRequests;
  let timer: NodeJS.Timeout | undefined;
  const incoming: IncomingRequest[] = [];
  const learned: { friend: Uint8Array; dhtPk: Uint8Array; nodes: NodeInfo[] }[] = [];
  const peerRequests: { pk: Uint8Array; message: string }[] = [];
  const realKeys = newKeyPair();
  const dhtKeys = newKeyPair();
  const nospam = Uint8Array.of(0x12, 0x34, 0x56, 0x78);
  const ourToxId = formatAddress({ publicKey: realKeys.publicKey, nospam });

  beforeAll(async () => {
    daemons = await startBootstrapNetwork(3, DAEMON_BASE_PORT);
    peer = await CToxPeer.create({ ...C_PORTS, label: "onion-peer" });
    for (const d of daemons) peer.bootstrap(d.host, d.port, d.publicKey);
    peer.on("friendRequest", (pk, message) => peerRequests.push({ pk, message }));

    socket = dgram.createSocket("udp4");
    await new Promise<void>((r) => socket.bind(OUR_PORT, "127.0.0.1", () => r()));
    const cNodes = (): NodeInfo[] => [
      ...daemons.map((d) => ({
        protocol: "udp" as const,
        ipPort: ipPort(d.host, d.port),
        publicKey: d.publicKey,
      })),
      { protocol: "udp" as const, ipPort: ipPort("127.0.0.1", peer.udpPort), publicKey: peer.dhtId },
    ];
    client = new OnionClient({
      clock: systemClock,
      realKeys,
      dht: {
        dhtKeys: () => dhtKeys,
        randomNodes: (n) => cNodes().slice(0, n),
        closeNodes: (pk, n) =>
          cNodes()
            .sort((a, b) => compareDistance(pk, a.publicKey, b.publicKey))
            .slice(0, n),
      },
      sink: { send: (to, data) => socket.send(data, to.port, to.ip) },
      events: {
        onDhtPk: (friend, dhtPk, nodes) => learned.push({ friend, dhtPk, nodes }),
        onData: (sender, type, payload) => {
          if (type === ONION_DATA_FRIEND_REQUEST) requests.handleOnionRequest(sender, payload);
        },
      },
    });
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
    socket.on("message", (msg, rinfo) => {
      client.handlePacket(
        ipPort(rinfo.address, rinfo.port),
        new Uint8Array(msg.buffer, msg.byteOffset, msg.length),
      );
    });
    const loop = () => {
      client.tick();
      requests.tick();
      timer = setTimeout(loop, Math.max(50, client.nextTickIn()));
    };
    loop();
  }, 60_000);

  afterAll(async () => {
    if (timer) clearTimeout(timer);
    socket?.close();
    peer?.kill();
    await Promise.all(daemons.map((d) => d.stop()));
  });

  it("announces through C relays to C announce nodes", async () => {
    const t0 = Date.now();
    await waitUntil(() => client.isConnected(), 30_000, "our onion client announced");
    const st = client.status();
    console.log(
      `onion interop: announced on ${st.storedOn}/${st.announceNodes} C nodes after ${Date.now() - t0} ms`,
    );
    expect(st.storedOn).toBeGreaterThanOrEqual(1);
  }, 40_000);

  it("our friend request (Tox ID only) reaches the C peer's friend_request callback", async () => {
    const t0 = Date.now();
    const r = requests.addFriend(peer.addressHex, "hello from toxbridge");
    expect(r.ok).toBe(true);
    await waitUntil(() => peerRequests.length > 0, 40_000, "C peer got our friend request");
    console.log(`onion interop: our request reached c-toxcore after ${Date.now() - t0} ms`);
    expect(toHex(peerRequests[0]!.pk)).toBe(toHex(realKeys.publicKey));
    expect(peerRequests[0]!.message).toBe("hello from toxbridge");
  }, 50_000);

  it("the C peer's request reaches us, and its DHT-PK gives us its DHT key", async () => {
    const t0 = Date.now();
    peer.friendAdd(ourToxId, "hello from c-toxcore");
    await waitUntil(() => incoming.length > 0, 40_000, "we got the C peer's friend request");
    console.log(`onion interop: c-toxcore's request reached us after ${Date.now() - t0} ms`);
    expect(toHex(incoming[0]!.publicKey)).toBe(peer.publicKeyHex);
    expect(new TextDecoder().decode(incoming[0]!.message)).toBe("hello from c-toxcore");
    await waitUntil(() => learned.length > 0, 40_000, "DHT-PK from the C peer");
    console.log(`onion interop: DHT-PK from c-toxcore after ${Date.now() - t0} ms`);
    expect(bytesEqual(learned[0]!.friend, peer.publicKey)).toBe(true);
    expect(bytesEqual(learned[0]!.dhtPk, peer.dhtId)).toBe(true);
  }, 90_000);
});
