import { describe, expect, it } from "vitest";
import { bytesEqual } from "../../../src/tox/bytes.js";
import { newKeyPair, randomNonce } from "../../../src/tox/crypto.js";
import { createPathKeys } from "../../../src/tox/onion/paths.js";
import { RELAY_KEY_REFRESH_MS, sendOnionResponse } from "../../../src/tox/onion/relay.js";
import { createTcpOnionRequest } from "../../../src/tox/tcp/onion-tcp.js";
import { type IpPort, ipPort } from "../../../src/tox/wire/ipport.js";
import { createOnionRequest, ONION_RETURN_3 } from "../../../src/tox/wire/onion.js";
import { OnionTestNetwork } from "./network.js";

/** A sender and a destination on the fake network; the destination records what reaches it. */
function setup() {
  const net = new OnionTestNetwork(3);
  const senderKeys = newKeyPair();
  const sender = ipPort("127.0.0.1", 34950);
  const dest = ipPort("127.0.0.1", 34951);
  const atDest: { from: string; data: Uint8Array }[] = [];
  const atSender: Uint8Array[] = [];
  net.net.listen(dest, (from, data) => atDest.push({ from: `${from.ip}:${from.port}`, data }));
  net.net.listen(sender, (_from, data) => atSender.push(data));
  const path = createPathKeys([net.servers[0]!.info, net.servers[1]!.info, net.servers[2]!.info], senderKeys);
  const send = (payload: Uint8Array) => {
    net.net
      .sinkFor(sender)
      .send(
        path.nodes[0].ipPort,
        createOnionRequest(path, { protocol: "udp", ipPort: dest }, payload, randomNonce()),
      );
    net.net.run();
  };
  return { net, dest, sender, atDest, atSender, send };
}

describe("onion relay", () => {
  it("carries a request over 3 hops and the response back to the sender", () => {
    const { net, dest, atDest, atSender, send } = setup();
    const payload = Uint8Array.from({ length: 200 }, (_, i) => (i === 0 ? 0x85 : i & 0xff));
    send(payload);
    expect(atDest).toHaveLength(1);
    const got = atDest[0]!;
    expect(got.from).toBe(`127.0.0.1:${net.servers[2]!.ipPort.port}`);
    expect(got.data.length).toBe(payload.length + ONION_RETURN_3);
    expect(bytesEqual(got.data.subarray(0, payload.length), payload)).toBe(true);

    const ret3 = got.data.subarray(payload.length);
    const answer = Uint8Array.from([0x86, 1, 2, 3, 4]);
    expect(sendOnionResponse(net.net.sinkFor(dest), net.servers[2]!.ipPort, ret3, answer)).toBe(true);
    net.net.run();
    expect(atSender).toHaveLength(1);
    expect([...atSender[0]!]).toEqual([...answer]);
    for (const s of net.servers) expect(s.relay.stats).toEqual({ forwarded: 1, returned: 1, dropped: 0 });
  });

  it("a return path dies when the relays rotate their key (2 h)", () => {
    const { net, dest, atDest, atSender, send } = setup();
    send(Uint8Array.from([0x83, ...new Uint8Array(176)]));
    const ret3 = atDest[0]!.data.subarray(177);
    net.clock.advance(RELAY_KEY_REFRESH_MS);
    sendOnionResponse(net.net.sinkFor(dest), net.servers[2]!.ipPort, ret3, Uint8Array.of(0x84, 0));
    net.net.run();
    expect(atSender).toHaveLength(0);
    expect(net.servers[2]!.relay.stats.dropped).toBe(1);
  });

  it("drops tampered layers, foreign payload ids and junk without throwing", () => {
    const { net, atDest, send } = setup();
    send(Uint8Array.from([0x20, 1, 2, 3])); // DHT packet id: the last hop refuses to forward it
    expect(atDest).toHaveLength(0);
    expect(net.servers[2]!.relay.stats.dropped).toBe(1);
    const junk = net.net.sinkFor(ipPort("127.0.0.1", 34960));
    for (const id of [0x80, 0x81, 0x82, 0x8c, 0x8d, 0x8e]) {
      for (const len of [1, 100, 300, 1400, 1401]) {
        const data = new Uint8Array(len).fill(0xab);
        data[0] = id;
        junk.send(net.servers[0]!.ipPort, data);
      }
    }
    net.net.run();
    expect(net.servers[0]!.relay.stats.dropped).toBe(30);
  });
});

describe("onion relay as first hop of TCP clients", () => {
  it("forwards a TCP onion request (hop B's layer) and returns the response through the client's reply", () => {
    const net = new OnionTestNetwork(3);
    const dest = ipPort("127.0.0.1", 34952);
    const atDest: { from: IpPort; data: Uint8Array }[] = [];
    net.net.listen(dest, (from, data) => atDest.push({ from, data }));
    const path = createPathKeys(
      [net.servers[0]!.info, net.servers[1]!.info, net.servers[2]!.info],
      newKeyPair(),
    );
    const payload = Uint8Array.from({ length: 177 }, (_, i) => (i === 0 ? 0x83 : 7));
    const req = createTcpOnionRequest(path, { protocol: "udp", ipPort: dest }, payload);
    const replies: Uint8Array[] = [];
    const clientKey = newKeyPair().publicKey;
    expect(
      net.servers[0]!.relay.handleTcpRequest(clientKey, req.nonce, req.payload, (d) => replies.push(d)),
    ).toBe(true);
    net.net.run();
    expect(atDest).toHaveLength(1);
    expect([...atDest[0]!.data.subarray(0, payload.length)]).toEqual([...payload]);
    const ret3 = atDest[0]!.data.subarray(payload.length);
    sendOnionResponse(net.net.sinkFor(dest), atDest[0]!.from, ret3, Uint8Array.of(0x84, 9, 9));
    net.net.run();
    expect(replies.map((r) => [...r])).toEqual([[0x84, 9, 9]]);
  });

  it("drops short or malformed TCP onion requests", () => {
    const net = new OnionTestNetwork(3);
    const relay = net.servers[0]!.relay;
    expect(relay.handleTcpRequest(newKeyPair().publicKey, randomNonce(), new Uint8Array(100), () => {})).toBe(
      false,
    );
    const junk = new Uint8Array(300).fill(0xff); // unknown ip family
    expect(relay.handleTcpRequest(newKeyPair().publicKey, randomNonce(), junk, () => {})).toBe(false);
    expect(relay.stats.dropped).toBe(2);
  });
});
