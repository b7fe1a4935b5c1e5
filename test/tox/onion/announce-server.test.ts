import { describe, expect, it } from "vitest";
import { bytesEqual } from "../../../src/tox/bytes.js";
import { type KeyPair, newKeyPair, precompute, randomBytes, randomNonce } from "../../../src/tox/crypto.js";
import { unwrap } from "../../../src/tox/errors.js";
import { ONION_ANNOUNCE_TIMEOUT_MS, OnionAnnounceServer } from "../../../src/tox/onion/announce-server.js";
import { type IpPort, ipPort } from "../../../src/tox/wire/ipport.js";
import {
  type AnnounceFormat,
  createAnnounceRequest,
  NET_PACKET_ONION_DATA_RESPONSE,
  ONION_RETURN_3,
  openAnnounceResponse,
  parseAnnounceResponse,
  parseOnionResponse,
  serializeOnionDataRequest,
} from "../../../src/tox/wire/onion.js";
import { OnionTestNetwork } from "./network.js";

/**
 * Talks to one announce server as the last relay of a path would: requests carry a fake R3, and
 * the server's 0x8c answers come back to the "relay" address, where we unwrap them.
 */
function setup(servers = 6) {
  const net = new OnionTestNetwork(servers);
  const server = net.servers[0]!;
  const relayAt = ipPort("127.0.0.1", 34970);
  const inbox: { ret: Uint8Array; data: Uint8Array }[] = [];
  net.net.listen(relayAt, (_from, data) => {
    const r = unwrap(parseOnionResponse(data));
    inbox.push({ ret: r.returnPath, data: r.data });
  });
  const sink = net.net.sinkFor(relayAt);

  function announce(
    sender: KeyPair,
    plain: { pingId?: Uint8Array; searchedPk: Uint8Array; dataPk?: Uint8Array },
    format: AnnounceFormat = "old",
    from: IpPort = relayAt,
  ) {
    const key = precompute(server.keys.publicKey, sender.secretKey);
    const sendback = randomBytes(8);
    const req = createAnnounceRequest(format, key, sender.publicKey, randomNonce(), {
      pingId: plain.pingId ?? new Uint8Array(32),
      searchedPk: plain.searchedPk,
      dataPk: plain.dataPk ?? new Uint8Array(32),
      sendback,
      extra: new Uint8Array(0),
    });
    const ret = randomBytes(ONION_RETURN_3);
    net.net.sinkFor(from).send(server.ipPort, Uint8Array.from([...req, ...ret]));
    inbox.length = 0;
    net.net.run();
    if (inbox.length !== 1) return null;
    const got = inbox[0]!;
    expect(bytesEqual(got.ret, ret)).toBe(true);
    const res = unwrap(parseAnnounceResponse(got.data));
    expect(res.format).toBe(format);
    expect(bytesEqual(res.sendback, sendback)).toBe(true);
    return unwrap(openAnnounceResponse(key, res));
  }
  return { net, server, relayAt, sink, inbox, announce };
}

describe("onion announce server", () => {
  it("issues a ping id, stores on the second request (status 2), and answers searches with the data pk (status 1)", () => {
    const { server, announce } = setup();
    const me = newKeyPair();
    const dataPk = randomBytes(32);
    const first = announce(me, { searchedPk: me.publicKey, dataPk })!;
    expect(first.status).toBe(0);
    expect(first.nodes.length).toBe(4);
    expect(server.announce.isAnnounced(me.publicKey)).toBe(false);

    const second = announce(me, { pingId: first.pingIdOrKey, searchedPk: me.publicKey, dataPk })!;
    expect(second.status).toBe(2);
    expect(server.announce.isAnnounced(me.publicKey)).toBe(true);

    const searcher = newKeyPair();
    const found = announce(searcher, { searchedPk: me.publicKey })!;
    expect(found.status).toBe(1);
    expect(bytesEqual(found.pingIdOrKey, dataPk)).toBe(true);

    const notFound = announce(searcher, { searchedPk: randomBytes(32) })!;
    expect(notFound.status).toBe(0);
  });

  it("answers 0x87 with 0x88 (node count byte) and stores the same way", () => {
    const { announce } = setup();
    const me = newKeyPair();
    const first = announce(me, { searchedPk: me.publicKey, dataPk: randomBytes(32) }, "new")!;
    expect(first.status).toBe(0);
    expect(first.nodes.length).toBe(4);
    expect(
      announce(me, { pingId: first.pingIdOrKey, searchedPk: me.publicKey, dataPk: randomBytes(32) }, "new")!
        .status,
    ).toBe(2);
  });

  it("ping ids are tied to the requester key and address and expire after two 300 s windows", () => {
    const { net, announce } = setup();
    const me = newKeyPair();
    const dataPk = randomBytes(32);
    const { pingIdOrKey } = announce(me, { searchedPk: me.publicKey, dataPk })!;
    expect(announce(newKeyPair(), { pingId: pingIdOrKey, searchedPk: me.publicKey })!.status).toBe(0);
    expect(
      announce(
        me,
        { pingId: pingIdOrKey, searchedPk: me.publicKey, dataPk },
        "old",
        ipPort("127.0.0.1", 34971),
      ),
    ).toBe(
      null, // answered to the other address, not our inbox
    );
    net.clock.advance(600_000);
    expect(announce(me, { pingId: pingIdOrKey, searchedPk: me.publicKey, dataPk })!.status).toBe(0);
  });

  it("a changed data pk is re-stored only with a valid ping id; entries expire after 300 s", () => {
    const { net, server, announce } = setup();
    const me = newKeyPair();
    const { pingIdOrKey } = announce(me, { searchedPk: me.publicKey, dataPk: randomBytes(32) })!;
    announce(me, { pingId: pingIdOrKey, searchedPk: me.publicKey, dataPk: randomBytes(32) });
    // Same key, different data pk, no valid ping id: "not stored" (status 0).
    expect(announce(me, { searchedPk: me.publicKey, dataPk: randomBytes(32) })!.status).toBe(0);
    net.clock.advance(ONION_ANNOUNCE_TIMEOUT_MS);
    expect(server.announce.isAnnounced(me.publicKey)).toBe(false);
  });

  it("keeps at most N entries, evicting the farthest from its DHT key for a closer one", () => {
    const { server, announce } = setup();
    // 160 entries is the default; fill it and check size stays at the cap.
    for (let i = 0; i < 170; i++) {
      const k = newKeyPair();
      const { pingIdOrKey } = announce(k, { searchedPk: k.publicKey, dataPk: randomBytes(32) })!;
      announce(k, { pingId: pingIdOrKey, searchedPk: k.publicKey, dataPk: randomBytes(32) });
    }
    expect(server.announce.size).toBe(160);
    // A key equal to the server's own DHT key is the closest possible, so it always gets in.
    const closest = { publicKey: server.keys.publicKey, secretKey: server.keys.secretKey };
    const { pingIdOrKey } = announce(closest, { searchedPk: closest.publicKey, dataPk: randomBytes(32) })!;
    expect(
      announce(closest, { pingId: pingIdOrKey, searchedPk: closest.publicKey, dataPk: randomBytes(32) })!
        .status,
    ).toBe(2);
    expect(server.announce.size).toBe(160);
  });

  it("forwards a data request for a stored key along its return path as 0x86, and drops others", () => {
    const { net, server, relayAt, announce, inbox } = setup();
    const me = newKeyPair();
    const { pingIdOrKey } = announce(me, { searchedPk: me.publicKey, dataPk: randomBytes(32) })!;
    // Store with a known R3 by sending the storing request by hand.
    const key = precompute(server.keys.publicKey, me.secretKey);
    const ret = randomBytes(ONION_RETURN_3);
    const req = createAnnounceRequest("old", key, me.publicKey, randomNonce(), {
      pingId: pingIdOrKey,
      searchedPk: me.publicKey,
      dataPk: randomBytes(32),
      sendback: randomBytes(8),
      extra: new Uint8Array(0),
    });
    net.net.sinkFor(relayAt).send(server.ipPort, Uint8Array.from([...req, ...ret]));
    net.net.run();
    inbox.length = 0;

    const body = {
      destPk: me.publicKey,
      nonce: randomNonce(),
      tmpPk: randomBytes(32),
      encrypted: randomBytes(100),
    };
    const other = ipPort("127.0.0.1", 34972);
    net.net
      .sinkFor(other)
      .send(server.ipPort, Uint8Array.from([...serializeOnionDataRequest(body), ...randomBytes(177)]));
    net.net.run();
    expect(inbox).toHaveLength(1);
    expect(bytesEqual(inbox[0]!.ret, ret)).toBe(true);
    const data = inbox[0]!.data;
    expect(data[0]).toBe(NET_PACKET_ONION_DATA_RESPONSE);
    expect(
      bytesEqual(data.subarray(1), Uint8Array.from([...body.nonce, ...body.tmpPk, ...body.encrypted])),
    ).toBe(true);

    inbox.length = 0;
    const unknown = serializeOnionDataRequest({ ...body, destPk: randomBytes(32) });
    net.net.sinkFor(other).send(server.ipPort, Uint8Array.from([...unknown, ...randomBytes(177)]));
    net.net.run();
    expect(inbox).toHaveLength(0);
    expect(server.announce.stats.dataForwarded).toBe(1);
  });

  it("drops wrong lengths, bad boxes and junk without throwing", () => {
    const { net, server, inbox } = setup();
    const junk = net.net.sinkFor(ipPort("127.0.0.1", 34973));
    for (const id of [0x83, 0x85, 0x87]) {
      for (const len of [1, 176, 177 + 177, 177 + 178, 1400]) {
        const data = randomBytes(len);
        data[0] = id;
        junk.send(server.ipPort, data);
      }
    }
    net.net.run();
    expect(inbox).toHaveLength(0);
    expect(server.announce.stats.dropped).toBe(15);
  });
});

describe("onion announce server details", () => {
  it("answers a 0x87 carrying NGC extra data like a plain one (no extra data back)", () => {
    const { server, relayAt, net, inbox } = setup();
    const me = newKeyPair();
    const key = precompute(server.keys.publicKey, me.secretKey);
    const req = createAnnounceRequest("new", key, me.publicKey, randomNonce(), {
      pingId: new Uint8Array(32),
      searchedPk: me.publicKey,
      dataPk: randomBytes(32),
      sendback: randomBytes(8),
      extra: randomBytes(100),
    });
    net.net.sinkFor(relayAt).send(server.ipPort, Uint8Array.from([...req, ...randomBytes(ONION_RETURN_3)]));
    net.net.run();
    expect(inbox).toHaveLength(1);
    const res = unwrap(parseAnnounceResponse(inbox[0]!.data));
    expect(res.format).toBe("new");
    const plain = unwrap(openAnnounceResponse(key, res));
    expect(plain.status).toBe(0);
    expect(plain.extra.length).toBe(0);
  });

  it("asks the DHT for LAN nodes only when the request came from a LAN address", () => {
    const net = new OnionTestNetwork(1);
    const calls: boolean[] = [];
    const keys = newKeyPair();
    const sent: Uint8Array[] = [];
    const server = new OnionAnnounceServer({
      clock: net.clock,
      dht: {
        dhtKeys: () => keys,
        closeNodes: (_pk, _n, allowLan) => {
          calls.push(allowLan);
          return [];
        },
      },
      sink: { send: (_to, d) => sent.push(d) },
    });
    const me = newKeyPair();
    const mk = () =>
      Uint8Array.from([
        ...createAnnounceRequest(
          "old",
          precompute(keys.publicKey, me.secretKey),
          me.publicKey,
          randomNonce(),
          {
            pingId: new Uint8Array(32),
            searchedPk: me.publicKey,
            dataPk: randomBytes(32),
            sendback: randomBytes(8),
            extra: new Uint8Array(0),
          },
        ),
        ...randomBytes(ONION_RETURN_3),
      ]);
    server.handlePacket(ipPort("192.168.1.5", 33445), mk());
    server.handlePacket(ipPort("198.51.100.7", 33445), mk());
    expect(calls).toEqual([true, false]);
    expect(sent).toHaveLength(2);
    expect(sent.every((d) => d[0] === 0x8c)).toBe(true);
  });
});
