/**
 * Interop, whole stack: our real DHT + OnionStack (relay, announce node, client) + friend
 * requests on one UDP socket, in a loopback network of tox-bootstrapd daemons and a c-toxcore
 * 0.2.18 peer. Our node bootstraps like any client (from a daemon); nothing is pre-wired.
 * Proves: we come online through the onion; friend requests both ways by Tox ID; the C peer's
 * DHT-PK reaches us; and our node is used as a DHT/onion node by c-toxcore.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatAddress } from "../../../src/tox/address.js";
import { bytesEqual, toHex } from "../../../src/tox/bytes.js";
import { systemClock } from "../../../src/tox/clock.js";
import { newKeyPair } from "../../../src/tox/crypto.js";
import { Dht } from "../../../src/tox/dht/dht.js";
import { FriendRequests, type IncomingRequest } from "../../../src/tox/friend-requests/friend-requests.js";
import { onionDhtView, routeDhtPkFromDht } from "../../../src/tox/onion/dht-view.js";
import { OnionStack } from "../../../src/tox/onion/onion-stack.js";
import { PacketRouter } from "../../../src/tox/transport/router.js";
import { UdpTransport } from "../../../src/tox/transport/udp.js";
import { ipPort } from "../../../src/tox/wire/ipport.js";
import { ONION_DATA_FRIEND_REQUEST } from "../../../src/tox/wire/onion.js";
import { type Bootstrapd, startBootstrapNetwork } from "../../interop/bootstrapd.js";
import { CToxPeer, waitUntil } from "../../interop/ctoxcore.js";

const DAEMON_BASE_PORT = 34900; // 34900..34905
const C_PORTS = { startPort: 34910, endPort: 34919 };
const OUR_PORT = 34920;

describe("whole onion stack (our DHT + onion + friend requests) with c-toxcore 0.2.18", () => {
  let daemons: Bootstrapd[] = [];
  let peer: CToxPeer;
  let udp: UdpTransport;
  let dht: Dht;
  let onion: OnionStack;
  let requests: FriendRequests;
  let timer: NodeJS.Timeout | undefined;
  const incoming: IncomingRequest[] = [];
  const learned: { friend: Uint8Array; dhtPk: Uint8Array }[] = [];
  const peerRequests: { pk: Uint8Array; message: string }[] = [];
  const realKeys = newKeyPair();
  const nospam = Uint8Array.of(0xca, 0xfe, 0xba, 0xbe);

  beforeAll(async () => {
    daemons = await startBootstrapNetwork(3, DAEMON_BASE_PORT);
    peer = await CToxPeer.create({ ...C_PORTS, label: "stack-peer" });
    for (const d of daemons) peer.bootstrap(d.host, d.port, d.publicKey);
    peer.on("friendRequest", (pk, message) => peerRequests.push({ pk, message }));

    const router = new PacketRouter();
    udp = await UdpTransport.open({ host: "127.0.0.1", port: OUR_PORT, onPacket: router.handle });
    dht = new Dht({ clock: systemClock, sink: udp });
    for (const id of [0x00, 0x01, 0x02, 0x04, 0x20, 0x21])
      router.register(id, (f, d) => dht.handlePacket(f, d));
    onion = new OnionStack({
      clock: systemClock,
      realKeys,
      dht: onionDhtView(dht),
      sink: udp,
      events: {
        onDhtPk: (friend, dhtPk) => {
          learned.push({ friend, dhtPk });
          dht.addFriend(dhtPk);
        },
        onData: (sender, type, payload) => {
          if (type === ONION_DATA_FRIEND_REQUEST) requests.handleOnionRequest(sender, payload);
        },
      },
    });
    for (const id of OnionStack.packetIds) router.register(id, (f, d) => onion.handlePacket(f, d));
    routeDhtPkFromDht(dht, onion.client);
    requests = new FriendRequests({
      clock: systemClock,
      ownPk: realKeys.publicKey,
      nospam: () => nospam,
      isFriend: () => false,
      transport: {
        searchFor: (pk) => onion.client.addFriend(pk),
        stopSearching: (pk) => onion.client.removeFriend(pk),
        sendOnion: (pk, payload) => onion.client.sendData(pk, ONION_DATA_FRIEND_REQUEST, payload),
      },
      onRequest: (r) => incoming.push(r),
    });
    const first = daemons[0]!;
    dht.bootstrap({ ipPort: ipPort(first.host, first.port), publicKey: first.publicKey });
    onion.client.addBootstrapPathNode({
      protocol: "udp",
      ipPort: ipPort(first.host, first.port),
      publicKey: first.publicKey,
    });
    const loop = () => {
      dht.tick();
      onion.tick();
      requests.tick();
      timer = setTimeout(loop, 50);
    };
    loop();
  }, 60_000);

  afterAll(async () => {
    if (timer) clearTimeout(timer);
    await udp?.close();
    peer?.kill();
    await Promise.all(daemons.map((d) => d.stop()));
  });

  it("comes online: DHT bootstrapped and announced through the onion", async () => {
    const t0 = Date.now();
    await waitUntil(() => onion.client.isConnected(), 40_000, "our onion client announced");
    const st = onion.client.status();
    console.log(
      `onion stack interop: announced on ${st.storedOn}/${st.announceNodes} nodes after ${Date.now() - t0} ms ` +
        `(path nodes ${st.pathNodes})`,
    );
  }, 50_000);

  it("friend requests both ways by Tox ID, and the C peer's DHT key arrives", async () => {
    const t0 = Date.now();
    expect(requests.addFriend(peer.addressHex, "hi from the whole stack").ok).toBe(true);
    await waitUntil(() => peerRequests.length > 0, 40_000, "C peer got our request");
    console.log(`onion stack interop: our request delivered after ${Date.now() - t0} ms`);
    expect(toHex(peerRequests[0]!.pk)).toBe(toHex(realKeys.publicKey));

    const t1 = Date.now();
    peer.friendAdd(formatAddress({ publicKey: realKeys.publicKey, nospam }), "hi back from c-toxcore");
    await waitUntil(() => incoming.length > 0, 40_000, "we got the C peer's request");
    console.log(`onion stack interop: C request delivered after ${Date.now() - t1} ms`);
    expect(new TextDecoder().decode(incoming[0]!.message)).toBe("hi back from c-toxcore");
    await waitUntil(() => learned.length > 0, 40_000, "C peer's DHT-PK");
    expect(bytesEqual(learned[0]!.friend, peer.publicKey)).toBe(true);
    expect(bytesEqual(learned[0]!.dhtPk, peer.dhtId)).toBe(true);
    const served = { relayed: onion.relay!.stats.forwarded, announces: onion.announce!.stats.requests };
    console.log(
      `onion stack interop: our node relayed ${served.relayed} onion packets, answered ${served.announces} announces`,
    );
  }, 100_000);
});
