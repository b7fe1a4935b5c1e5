import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bytesEqual } from "../../../src/tox/bytes.js";
import {
  encryptSymmetric,
  newKeyPair,
  precompute,
  randomBytes,
  randomNonce,
} from "../../../src/tox/crypto.js";
import { type ParseResult, unwrap } from "../../../src/tox/errors.js";
import { ipPort, type NodeInfo } from "../../../src/tox/wire/ipport.js";
import {
  ANNOUNCE_REQUEST_SIZE,
  ANNOUNCE_RESPONSE_MIN_SIZE,
  createAnnounceRequest,
  createAnnounceResponse,
  createOnionRequest,
  DATA_REQUEST_MIN_SIZE,
  decodeAnnounceRequestPlain,
  decodeAnnounceResponsePlain,
  decodeDhtPk,
  decodeDhtPkOverDht,
  decodeFriendRequest,
  decodeOnionDataInner,
  decodeOnionDataPlain,
  encodeAnnounceRequestPlain,
  encodeAnnounceResponsePlain as encodeAnnounceResponsePlainFor,
  encodeDhtPk,
  encodeFriendRequest,
  encodeOnionDataPlain,
  encodeOnionLayerPlain,
  MAX_DATA_REQUEST_SIZE,
  MAX_FRIEND_REQUEST_MESSAGE,
  ONION_CLIENT_MAX_DATA_SIZE,
  ONION_MAX_DATA_SIZE,
  ONION_RESPONSE_MAX_DATA_SIZE,
  ONION_RETURN_1,
  ONION_RETURN_2,
  ONION_RETURN_3,
  type OnionPathKeys,
  onionPingId,
  openAnnounceRequest,
  openAnnounceResponse,
  openOnionLayer,
  openReturnBlock,
  parseAnnounceRequest,
  parseAnnounceResponse,
  parseOnionDataRequest,
  parseOnionDataResponse,
  parseOnionRequest,
  parseOnionResponse,
  sealReturnBlock,
  serializeAnnounceRequest,
  serializeOnionDataRequest,
  serializeOnionDataResponse,
  serializeOnionRequest,
  serializeOnionResponse,
} from "../../../src/tox/wire/onion.js";

const node = (port: number): NodeInfo => ({
  protocol: "udp",
  ipPort: ipPort("127.0.0.1", port),
  publicKey: newKeyPair().publicKey,
});

describe("onion sizes", () => {
  it("match onion.h / onion_announce.h / onion_client.h of 0.2.18", () => {
    expect([ONION_RETURN_1, ONION_RETURN_2, ONION_RETURN_3]).toEqual([59, 118, 177]);
    expect(ONION_MAX_DATA_SIZE).toBe(1174);
    expect(ONION_RESPONSE_MAX_DATA_SIZE).toBe(1222);
    expect(ANNOUNCE_REQUEST_SIZE).toBe(177);
    expect(ANNOUNCE_RESPONSE_MIN_SIZE).toBe(82);
    expect(DATA_REQUEST_MIN_SIZE).toBe(105);
    expect(MAX_DATA_REQUEST_SIZE).toBe(1069);
    expect(ONION_CLIENT_MAX_DATA_SIZE).toBe(1021);
  });
});

/** Builds a path the way create_onion_path does, returning the relays' key pairs too. */
function makePath() {
  const sender = newKeyPair();
  const relays = [newKeyPair(), newKeyPair(), newKeyPair()] as const;
  const tmp2 = newKeyPair();
  const tmp3 = newKeyPair();
  const nodes = relays.map((k, i) => ({ ...node(34800 + i), publicKey: k.publicKey })) as [
    NodeInfo,
    NodeInfo,
    NodeInfo,
  ];
  const path: OnionPathKeys = {
    nodes,
    publicKeys: [sender.publicKey, tmp2.publicKey, tmp3.publicKey],
    sharedKeys: [
      precompute(relays[0].publicKey, sender.secretKey),
      precompute(relays[1].publicKey, tmp2.secretKey),
      precompute(relays[2].publicKey, tmp3.secretKey),
    ],
  };
  return { sender, relays, path };
}

describe("onion request layers", () => {
  it("are byte for byte the three boxes sealed one after the other (sizes 1..max, v4 and v6 hops)", () => {
    const { path } = makePath();
    const v6 = { ...path, nodes: path.nodes.map((n) => ({ ...n, ipPort: ipPort("2001:db8::7", 3) })) };
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: ONION_MAX_DATA_SIZE }),
        fc.boolean(),
        fc.constantFrom("udp" as const, "tcp" as const),
        (size, useV6, protocol) => {
          const p = (useV6 ? v6 : path) as OnionPathKeys;
          const dest = { protocol, ipPort: ipPort(useV6 ? "::1" : "10.1.2.3", 33445) };
          const payload = new Uint8Array(size).map((_, i) => i & 0xff);
          const nonce = randomNonce();
          const [, b, c] = p.nodes;
          const l3 = encryptSymmetric(
            p.sharedKeys[2],
            nonce,
            encodeOnionLayerPlain({ dest, inner: payload }),
          );
          const l2 = encryptSymmetric(
            p.sharedKeys[1],
            nonce,
            encodeOnionLayerPlain({
              dest: { protocol: "udp", ipPort: c.ipPort },
              inner: Uint8Array.from([...p.publicKeys[2], ...l3]),
            }),
          );
          const l1 = encryptSymmetric(
            p.sharedKeys[0],
            nonce,
            encodeOnionLayerPlain({
              dest: { protocol: "udp", ipPort: b.ipPort },
              inner: Uint8Array.from([...p.publicKeys[1], ...l2]),
            }),
          );
          const expected = serializeOnionRequest({
            layer: 0,
            nonce,
            publicKey: p.publicKeys[0],
            encrypted: l1,
            returnPath: new Uint8Array(0),
          });
          expect(bytesEqual(createOnionRequest(p, dest, payload, nonce), expected)).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("peel hop by hop with one nonce, and each relay's return block opens back to the previous hop", () => {
    const { relays, path } = makePath();
    const dest = { protocol: "udp" as const, ipPort: ipPort("127.0.0.1", 34900) };
    const payload = new Uint8Array(ANNOUNCE_REQUEST_SIZE).fill(7);
    payload[0] = 0x83;
    const nonce = randomNonce();
    const p0 = createOnionRequest(path, dest, payload, nonce);
    expect(p0.length).toBe(1 + 24 + 32 + (19 + 32 + 16) * 2 + 19 + 16 + payload.length);

    const keys = [randomBytes(32), randomBytes(32), randomBytes(32)];
    const sender = { protocol: "udp" as const, ipPort: ipPort("127.0.0.1", 34999) };

    // Hop A.
    const req0 = unwrap(parseOnionRequest(p0));
    expect(req0.layer).toBe(0);
    expect(bytesEqual(req0.nonce, nonce)).toBe(true);
    const l0 = unwrap(openOnionLayer(precompute(req0.publicKey, relays[0].secretKey), req0));
    expect(l0.dest.ipPort).toEqual(path.nodes[1].ipPort);
    const r1 = sealReturnBlock(keys[0]!, randomNonce(), sender, new Uint8Array(0));
    expect(r1.length).toBe(ONION_RETURN_1);
    const p1 = serializeOnionRequest({
      layer: 1,
      nonce: req0.nonce,
      publicKey: l0.inner.slice(0, 32),
      encrypted: l0.inner.slice(32),
      returnPath: r1,
    });

    // Hop B.
    const req1 = unwrap(parseOnionRequest(p1));
    expect(req1.layer).toBe(1);
    expect(bytesEqual(req1.returnPath, r1)).toBe(true);
    const l1 = unwrap(openOnionLayer(precompute(req1.publicKey, relays[1].secretKey), req1));
    expect(l1.dest.ipPort).toEqual(path.nodes[2].ipPort);
    const aAddr = { protocol: "udp" as const, ipPort: path.nodes[0].ipPort };
    const r2 = sealReturnBlock(keys[1]!, randomNonce(), aAddr, r1);
    expect(r2.length).toBe(ONION_RETURN_2);
    const p2 = serializeOnionRequest({
      layer: 2,
      nonce: req1.nonce,
      publicKey: l1.inner.slice(0, 32),
      encrypted: l1.inner.slice(32),
      returnPath: r2,
    });

    // Hop C.
    const req2 = unwrap(parseOnionRequest(p2));
    const l2 = unwrap(openOnionLayer(precompute(req2.publicKey, relays[2].secretKey), req2));
    expect(l2.dest).toEqual(dest);
    expect(bytesEqual(l2.inner, payload)).toBe(true);
    const r3 = sealReturnBlock(
      keys[2]!,
      randomNonce(),
      { protocol: "udp", ipPort: path.nodes[1].ipPort },
      r2,
    );
    expect(r3.length).toBe(ONION_RETURN_3);

    // Way back.
    const back3 = unwrap(openReturnBlock(keys[2]!, r3, 3));
    expect(back3.dest.ipPort).toEqual(path.nodes[1].ipPort);
    const back2 = unwrap(openReturnBlock(keys[1]!, back3.previous, 2));
    expect(back2.dest.ipPort).toEqual(path.nodes[0].ipPort);
    const back1 = unwrap(openReturnBlock(keys[0]!, back2.previous, 1));
    expect(back1.dest).toEqual(sender);
    expect(back1.previous.length).toBe(0);
    // A wrong relay key does not open a block.
    expect(openReturnBlock(keys[1]!, r3, 3).ok).toBe(false);
  });

  it("refuses a last-hop payload that is not an announce or data request", () => {
    const { relays, path } = makePath();
    const dest = { protocol: "udp" as const, ipPort: ipPort("127.0.0.1", 34900) };
    const p0 = createOnionRequest(path, dest, new Uint8Array(100).fill(0x02), randomNonce());
    const req0 = unwrap(parseOnionRequest(p0));
    const l0 = unwrap(openOnionLayer(precompute(req0.publicKey, relays[0].secretKey), req0));
    const p1 = unwrap(
      parseOnionRequest(
        serializeOnionRequest({
          layer: 1,
          nonce: req0.nonce,
          publicKey: l0.inner.slice(0, 32),
          encrypted: l0.inner.slice(32),
          returnPath: randomBytes(ONION_RETURN_1),
        }),
      ),
    );
    const l1 = unwrap(openOnionLayer(precompute(p1.publicKey, relays[1].secretKey), p1));
    const p2 = unwrap(
      parseOnionRequest(
        serializeOnionRequest({
          layer: 2,
          nonce: p1.nonce,
          publicKey: l1.inner.slice(0, 32),
          encrypted: l1.inner.slice(32),
          returnPath: randomBytes(ONION_RETURN_2),
        }),
      ),
    );
    const r = openOnionLayer(precompute(p2.publicKey, relays[2].secretKey), p2);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toContain("refuses payload id 2");
  });

  it("rejects payloads that do not fit and lengths c-toxcore drops", () => {
    const { path } = makePath();
    const dest = { protocol: "udp" as const, ipPort: ipPort("127.0.0.1", 1) };
    expect(() => createOnionRequest(path, dest, new Uint8Array(0), randomNonce())).toThrow(RangeError);
    expect(() => createOnionRequest(path, dest, new Uint8Array(1175), randomNonce())).toThrow(RangeError);
    expect(createOnionRequest(path, dest, new Uint8Array(1174).fill(0x83), randomNonce()).length).toBe(1400);
    expect(parseOnionRequest(new Uint8Array(1 + 225).fill(0x80)).ok).toBe(false);
    expect(parseOnionRequest(new Uint8Array(1 + 226).fill(0x80)).ok).toBe(true);
    expect(parseOnionRequest(new Uint8Array(1401).fill(0x80)).ok).toBe(false);
  });
});

describe("onion responses", () => {
  it("round-trip for each level and refuse foreign payload ids", () => {
    for (const [level, ret] of [
      [3, ONION_RETURN_3],
      [2, ONION_RETURN_2],
      [1, ONION_RETURN_1],
    ] as const) {
      const p = { level, returnPath: randomBytes(ret), data: Uint8Array.of(0x84, 1, 2, 3) };
      const bytes = serializeOnionResponse(p);
      expect(unwrap(parseOnionResponse(bytes))).toEqual(p);
      bytes[1 + ret] = 0x02;
      expect(parseOnionResponse(bytes).ok).toBe(false);
      expect(parseOnionResponse(bytes.subarray(0, 1 + ret)).ok).toBe(false);
    }
  });
});

describe("announce request", () => {
  const plain = () => ({
    pingId: randomBytes(32),
    searchedPk: randomBytes(32),
    dataPk: randomBytes(32),
    sendback: randomBytes(8),
    extra: new Uint8Array(0),
  });

  it("0x83 is exactly 177 bytes and opens with the node's DHT key", () => {
    const sender = newKeyPair();
    const nodeKeys = newKeyPair();
    const p = plain();
    const bytes = createAnnounceRequest(
      "old",
      precompute(nodeKeys.publicKey, sender.secretKey),
      sender.publicKey,
      randomNonce(),
      p,
    );
    expect(bytes.length).toBe(177);
    expect(bytes[0]).toBe(0x83);
    const req = unwrap(parseAnnounceRequest(bytes));
    expect(req.format).toBe("old");
    expect(bytesEqual(req.senderPk, sender.publicKey)).toBe(true);
    expect(unwrap(openAnnounceRequest(precompute(req.senderPk, nodeKeys.secretKey), req))).toEqual(p);
    expect(openAnnounceRequest(randomBytes(32), req).ok).toBe(false);
    expect(parseAnnounceRequest(bytes.subarray(0, 176)).ok).toBe(false);
    expect(parseAnnounceRequest(Uint8Array.from([...bytes, 0])).ok).toBe(false);
  });

  it("is byte for byte the serialized box of the encoded plaintext, both formats", () => {
    const sender = newKeyPair();
    const key = precompute(newKeyPair().publicKey, sender.secretKey);
    for (const [format, extra] of [
      ["old", 0],
      ["new", 0],
      ["new", 1],
      ["new", 136],
    ] as const) {
      const p = { ...plain(), extra: randomBytes(extra) };
      const nonce = randomNonce();
      const expected = serializeAnnounceRequest({
        format,
        nonce,
        senderPk: sender.publicKey,
        encrypted: encryptSymmetric(key, nonce, encodeAnnounceRequestPlain(p)),
      });
      const bytes = createAnnounceRequest(format, key, sender.publicKey, nonce, p);
      expect(bytesEqual(bytes, expected)).toBe(true);
    }
  });

  it("0x87 is 177 bytes without extra data and carries up to 136 bytes of extra data", () => {
    const sender = newKeyPair();
    const key = precompute(newKeyPair().publicKey, sender.secretKey);
    const p = plain();
    expect(createAnnounceRequest("new", key, sender.publicKey, randomNonce(), p).length).toBe(177);
    const withExtra = { ...p, extra: randomBytes(136) };
    const bytes = createAnnounceRequest("new", key, sender.publicKey, randomNonce(), withExtra);
    expect(bytes.length).toBe(177 + 136);
    expect(unwrap(openAnnounceRequest(key, unwrap(parseAnnounceRequest(bytes))))).toEqual(withExtra);
    expect(
      parseAnnounceRequest(
        createAnnounceRequest("new", key, sender.publicKey, randomNonce(), { ...p, extra: randomBytes(137) }),
      ).ok,
    ).toBe(false);
    expect(() => createAnnounceRequest("old", key, sender.publicKey, randomNonce(), withExtra)).toThrow();
  });
});

describe("announce response", () => {
  const nodes = [node(1), { ...node(2), ipPort: ipPort("::1", 2) }, node(3)];

  it("0x84 carries packed nodes without a count; 0x88 has the count and extra data", () => {
    const key = randomBytes(32);
    const plain = { status: 2 as const, pingIdOrKey: randomBytes(32), nodes, extra: new Uint8Array(0) };
    const old = createAnnounceResponse("old", key, randomBytes(8), randomNonce(), plain);
    expect(old.length).toBe(82 + 39 + 51 + 39);
    const parsed = unwrap(parseAnnounceResponse(old));
    expect(parsed.format).toBe("old");
    expect(unwrap(openAnnounceResponse(key, parsed))).toEqual(plain);

    const withExtra = { ...plain, extra: randomBytes(20) };
    const neu = createAnnounceResponse("new", key, randomBytes(8), randomNonce(), withExtra);
    expect(neu.length).toBe(82 + 1 + 39 + 51 + 39 + 20);
    expect(unwrap(openAnnounceResponse(key, unwrap(parseAnnounceResponse(neu))))).toEqual(withExtra);
    const none = { ...plain, nodes: [] };
    expect(createAnnounceResponse("old", key, randomBytes(8), randomNonce(), none).length).toBe(82);
  });

  it("plaintext decoders reject bad status, too many nodes and truncated nodes", () => {
    const ok = Uint8Array.from([0, ...randomBytes(32)]);
    expect(decodeAnnounceResponsePlain("old", ok).ok).toBe(true);
    expect(decodeAnnounceResponsePlain("old", Uint8Array.from([3, ...randomBytes(32)])).ok).toBe(false);
    expect(decodeAnnounceResponsePlain("new", Uint8Array.from([0, ...randomBytes(32), 5])).ok).toBe(false);
    expect(decodeAnnounceResponsePlain("new", Uint8Array.from([0, ...randomBytes(32), 1, 2, 127])).ok).toBe(
      false,
    );
  });
});

describe("onion data", () => {
  it("request and response round-trip; response length rules follow handle_data_response", () => {
    const req = {
      destPk: randomBytes(32),
      nonce: randomNonce(),
      tmpPk: randomBytes(32),
      encrypted: randomBytes(60),
    };
    const bytes = serializeOnionDataRequest(req);
    expect(bytes.length).toBe(105 + 44);
    expect(unwrap(parseOnionDataRequest(bytes))).toEqual(req);
    expect(parseOnionDataRequest(bytes.subarray(0, 105)).ok).toBe(false);

    const res = { nonce: randomNonce(), tmpPk: randomBytes(32), encrypted: randomBytes(80) };
    const rb = serializeOnionDataResponse(res);
    expect(unwrap(parseOnionDataResponse(rb))).toEqual(res);
    // Total length must exceed 73 + 48 (so a box of at least 65 bytes) and stay within 1069.
    const withBox = (n: number) =>
      parseOnionDataResponse(serializeOnionDataResponse({ ...res, encrypted: randomBytes(n) })).ok;
    expect([withBox(64), withBox(65), withBox(1012), withBox(1013)]).toEqual([false, true, true, false]);
  });

  it("DHT-PK payload: u64 BE no_replay, DHT pk, up to 4 nodes (TCP families allowed)", () => {
    const tcp: NodeInfo = { ...node(5), protocol: "tcp" };
    const p = { noReplay: 1_700_000_123n, dhtPk: randomBytes(32), nodes: [tcp, node(6)] };
    const bytes = encodeDhtPk(p);
    expect(bytes.length).toBe(8 + 32 + 39 * 2);
    expect([...bytes.subarray(0, 8)]).toEqual([0, 0, 0, 0, 0x65, 0x53, 0xf1, 0x7b]);
    expect(unwrap(decodeDhtPk(bytes))).toEqual(p);
    expect(decodeDhtPk(bytes.subarray(0, 39)).ok).toBe(false);
    expect(decodeDhtPk(bytes.subarray(0, bytes.length - 1)).ok).toBe(false);
    expect(() => encodeDhtPk({ ...p, nodes: [tcp, tcp, tcp, tcp, tcp] })).toThrow();
  });

  it("friend request payload: nospam + 1..921 bytes to send, up to 1016 accepted", () => {
    const nospam = Uint8Array.of(1, 2, 3, 4);
    const msg = new TextEncoder().encode("hi");
    const bytes = encodeFriendRequest({ nospam, message: msg });
    expect([...bytes]).toEqual([1, 2, 3, 4, 104, 105]);
    expect(unwrap(decodeFriendRequest(bytes))).toEqual({ nospam, message: msg });
    expect(() =>
      encodeFriendRequest({ nospam, message: new Uint8Array(MAX_FRIEND_REQUEST_MESSAGE + 1) }),
    ).toThrow();
    expect(() => encodeFriendRequest({ nospam, message: new Uint8Array(0) })).toThrow();
    expect(decodeFriendRequest(new Uint8Array(4 + 1016)).ok).toBe(true);
    expect(decodeFriendRequest(new Uint8Array(4 + 1017)).ok).toBe(false);
    expect(decodeFriendRequest(new Uint8Array(4)).ok).toBe(false);
  });

  it("type byte framing and its size cap", () => {
    expect(
      unwrap(decodeOnionDataPlain(encodeOnionDataPlain({ type: 156, payload: Uint8Array.of(9) }))),
    ).toEqual({
      type: 156,
      payload: Uint8Array.of(9),
    });
    expect(() => encodeOnionDataPlain({ type: 32, payload: new Uint8Array(1021) })).toThrow();
    expect(decodeOnionDataInner(new Uint8Array(48)).ok).toBe(false);
    expect(decodeOnionDataInner(new Uint8Array(49)).ok).toBe(true);
  });
});

describe("announce ping ids", () => {
  it("depend on key, window, requester key and address", () => {
    const key = randomBytes(32);
    const pk = randomBytes(32);
    const from = { protocol: "udp" as const, ipPort: ipPort("127.0.0.1", 34850) };
    const a = onionPingId(key, 5n, pk, from);
    expect(a.length).toBe(32);
    expect(bytesEqual(a, onionPingId(key, 5n, pk, from))).toBe(true);
    expect(bytesEqual(a, onionPingId(key, 6n, pk, from))).toBe(false);
    expect(bytesEqual(a, onionPingId(randomBytes(32), 5n, pk, from))).toBe(false);
    expect(bytesEqual(a, onionPingId(key, 5n, randomBytes(32), from))).toBe(false);
    expect(bytesEqual(a, onionPingId(key, 5n, pk, { ...from, ipPort: ipPort("127.0.0.1", 34851) }))).toBe(
      false,
    );
  });
});

describe("parsers never throw on arbitrary input (fuzz)", () => {
  const anyBytes = fc.uint8Array({ minLength: 0, maxLength: 1500 });
  const withId = (ids: number[]) =>
    fc.tuple(fc.constantFrom(...ids), fc.uint8Array({ minLength: 0, maxLength: 1450 })).map(([id, rest]) => {
      const out = new Uint8Array(rest.length + 1);
      out[0] = id;
      out.set(rest, 1);
      return out;
    });
  const parsers: [string, (b: Uint8Array) => ParseResult<unknown>, number[]][] = [
    ["onion request", parseOnionRequest, [0x80, 0x81, 0x82]],
    ["onion response", parseOnionResponse, [0x8c, 0x8d, 0x8e]],
    ["announce request", parseAnnounceRequest, [0x83, 0x87]],
    ["announce response", parseAnnounceResponse, [0x84, 0x88]],
    ["data request", parseOnionDataRequest, [0x85]],
    ["data response", parseOnionDataResponse, [0x86]],
    ["announce request plain", decodeAnnounceRequestPlain, [0]],
    ["announce response plain (old)", (b) => decodeAnnounceResponsePlain("old", b), [0, 1, 2]],
    ["announce response plain (new)", (b) => decodeAnnounceResponsePlain("new", b), [0, 1, 2]],
    ["DHT-PK", decodeDhtPk, [0]],
    ["DHT-PK over DHT", decodeDhtPkOverDht, [0]],
    ["friend request", decodeFriendRequest, [0]],
    ["onion data inner", decodeOnionDataInner, [0]],
  ];
  for (const [name, parse, ids] of parsers) {
    it(`${name}: ok or WireError, never an exception (8k cases)`, () => {
      fc.assert(
        fc.property(fc.oneof(anyBytes, withId(ids)), (b) => {
          const r = parse(b);
          expect(typeof r.ok).toBe("boolean");
        }),
        { numRuns: 8000 },
      );
    });
  }

  it("round-trips: arbitrary valid DHT-PK, announce plaintexts and onion responses (3k cases each)", () => {
    const arbNode = fc
      .record({
        protocol: fc.constantFrom("udp" as const, "tcp" as const),
        v6: fc.boolean(),
        raw: fc.uint8Array({ minLength: 16, maxLength: 16 }),
        port: fc.integer({ min: 0, max: 65535 }),
        publicKey: fc.uint8Array({ minLength: 32, maxLength: 32 }),
      })
      .map(({ protocol, v6, raw, port, publicKey }): NodeInfo => {
        const ip = v6
          ? ipPort(
              `${[...raw]
                .map((b) => b.toString(16).padStart(2, "0"))
                .join("")
                .replace(/(.{4})(?!$)/g, "$1:")}`,
              port,
            )
          : ipPort(`${raw[0]}.${raw[1]}.${raw[2]}.${raw[3]}`, port);
        return { protocol, ipPort: ip, publicKey };
      });
    const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        key32,
        fc.array(arbNode, { maxLength: 4 }),
        (n, k, ns) => {
          const p = { noReplay: n, dhtPk: k, nodes: ns };
          expect(unwrap(decodeDhtPk(encodeDhtPk(p)))).toEqual(p);
        },
      ),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(
        fc.constantFrom(0 as const, 1 as const, 2 as const),
        key32,
        fc.array(arbNode, { maxLength: 4 }),
        fc.uint8Array({ maxLength: 136 }),
        (status, k, ns, extra) => {
          const p = { status, pingIdOrKey: k, nodes: ns, extra };
          const bytes = encodeAnnounceResponsePlainFor("new", p);
          expect(unwrap(decodeAnnounceResponsePlain("new", bytes))).toEqual(p);
          const old = { ...p, extra: new Uint8Array(0) };
          expect(
            unwrap(decodeAnnounceResponsePlain("old", encodeAnnounceResponsePlainFor("old", old))),
          ).toEqual(old);
        },
      ),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(
        fc.constantFrom(1 as const, 2 as const, 3 as const),
        fc.constantFrom(0x84, 0x86, 0x88),
        fc.uint8Array({ minLength: 0, maxLength: 1000 }),
        (level, id, rest) => {
          const ret = [0, ONION_RETURN_1, ONION_RETURN_2, ONION_RETURN_3][level]!;
          const p = {
            level,
            returnPath: new Uint8Array(ret).fill(level),
            data: Uint8Array.from([id, ...rest]),
          };
          const bytes = serializeOnionResponse(p);
          expect(unwrap(parseOnionResponse(bytes))).toEqual(p);
          // Every strict prefix that cuts into the return block is refused.
          expect(parseOnionResponse(bytes.subarray(0, 1 + ret)).ok).toBe(false);
        },
      ),
      { numRuns: 3000 },
    );
  });
});
