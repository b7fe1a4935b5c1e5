import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bytesEqual, toHex } from "../../../src/tox/bytes.js";
import { newKeyPair, precompute, randomBytes } from "../../../src/tox/crypto.js";
import { unwrap } from "../../../src/tox/errors.js";
import {
  BOOTSTRAP_INFO_REQUEST_SIZE,
  CRYPTO_PACKET_NAT_PING,
  createCryptoRequest,
  decryptCryptoRequest,
  encodeNatPing,
  encodeNodesResponsePlain,
  isBootstrapInfoRequest,
  MAX_CRYPTO_REQUEST_SIZE,
  motdText,
  NET_PACKET_PING_REQUEST,
  NET_PACKET_PING_RESPONSE,
  NODES_REQUEST_SIZE,
  nodesResponseSize,
  openCryptoRequest,
  openDhtEnvelope,
  PING_PACKET_SIZE,
  parseBootstrapInfo,
  parseLanDiscovery,
  parseNatPing,
  parseNodesRequest,
  parseNodesRequestPlain,
  parseNodesResponse,
  parseNodesResponsePlain,
  parsePing,
  parsePingPlain,
  serializeBootstrapInfo,
  serializeBootstrapInfoRequest,
  serializeCryptoRequest,
  serializeLanDiscovery,
  serializeNodesRequest,
  serializeNodesResponse,
  serializePing,
  splitCryptoRequest,
  splitDhtEnvelope,
} from "../../../src/tox/wire/dht.js";
import { ipPort, type NodeInfo } from "../../../src/tox/wire/ipport.js";

const a = newKeyPair();
const b = newKeyPair();
const abKey = precompute(b.publicKey, a.secretKey);
const baKey = precompute(a.publicKey, b.secretKey);
expect(toHex(abKey)).toBe(toHex(baKey));

const node4 = (i: number): NodeInfo => ({
  protocol: "udp",
  ipPort: ipPort(`10.0.0.${i}`, 33445 + i),
  publicKey: randomBytes(32),
});
const node6: NodeInfo = { protocol: "udp", ipPort: ipPort("2001:db8::1", 33445), publicKey: randomBytes(32) };

/** Every truncation and every one-byte extension of a valid packet must be rejected. */
function rejectsAllResizes(pkt: Uint8Array, parse: (d: Uint8Array) => { ok: boolean }): void {
  for (let len = 0; len < pkt.length; len++) expect(parse(pkt.subarray(0, len)).ok).toBe(false);
  expect(parse(Uint8Array.of(...pkt, 0)).ok).toBe(false);
}

describe("ping 0x00 / 0x01", () => {
  it("is exactly 82 bytes and round-trips for request and response", () => {
    for (const type of [NET_PACKET_PING_REQUEST, NET_PACKET_PING_RESPONSE] as const) {
      const pingId = randomBytes(8);
      const pkt = serializePing({ type, pingId }, a.publicKey, abKey);
      expect(pkt.length).toBe(PING_PACKET_SIZE);
      expect(pkt.length).toBe(82);
      expect(pkt[0]).toBe(type);
      expect(toHex(pkt.subarray(1, 33))).toBe(toHex(a.publicKey));
      const parsed = unwrap(parsePing(pkt, baKey));
      expect(parsed.type).toBe(type);
      expect(toHex(parsed.pingId)).toBe(toHex(pingId));
      expect(toHex(parsed.senderPk)).toBe(toHex(a.publicKey));
      rejectsAllResizes(pkt, (d) => parsePing(d, baKey));
      expect(parsePing(pkt, randomBytes(32)).ok).toBe(false);
    }
  });

  it("rejects an outer id that differs from the boxed one (no request/response confusion)", () => {
    const pkt = serializePing({ type: NET_PACKET_PING_REQUEST, pingId: randomBytes(8) }, a.publicKey, abKey);
    pkt[0] = NET_PACKET_PING_RESPONSE;
    const r = parsePing(pkt, baKey);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toMatch(/does not match/);
  });
});

describe("nodes request 0x02", () => {
  it("is exactly 113 bytes and round-trips", () => {
    const searchedPk = randomBytes(32);
    const pingId = randomBytes(8);
    const pkt = serializeNodesRequest({ searchedPk, pingId }, a.publicKey, abKey);
    expect(pkt.length).toBe(NODES_REQUEST_SIZE);
    expect(pkt.length).toBe(113);
    expect(pkt[0]).toBe(0x02);
    const parsed = unwrap(parseNodesRequest(pkt, baKey));
    expect(toHex(parsed.searchedPk)).toBe(toHex(searchedPk));
    expect(toHex(parsed.pingId)).toBe(toHex(pingId));
    expect(toHex(parsed.senderPk)).toBe(toHex(a.publicKey));
    rejectsAllResizes(pkt, (d) => parseNodesRequest(d, baKey));
  });
});

describe("nodes response 0x04", () => {
  it("round-trips 0..4 nodes (IPv4 and IPv6) with the exact length", () => {
    for (let count = 0; count <= 4; count++) {
      const nodes = [node6, node4(1), node4(2), node4(3)].slice(0, count);
      const pingId = randomBytes(8);
      const pkt = serializeNodesResponse({ nodes, pingId }, b.publicKey, baKey);
      expect(pkt.length).toBe(nodesResponseSize(nodes));
      expect(pkt.length).toBe(
        1 + 32 + 24 + 1 + nodes.reduce((s, n) => s + (n === node6 ? 51 : 39), 0) + 8 + 16,
      );
      const parsed = unwrap(parseNodesResponse(pkt, abKey));
      expect(parsed.nodes.length).toBe(count);
      parsed.nodes.forEach((n, i) => {
        expect(n.ipPort).toEqual(nodes[i]!.ipPort);
        expect(toHex(n.publicKey)).toBe(toHex(nodes[i]!.publicKey));
      });
      expect(toHex(parsed.pingId)).toBe(toHex(pingId));
      rejectsAllResizes(pkt, (d) => parseNodesResponse(d, abKey));
    }
  });

  it("rejects a count that does not match the packed nodes, and counts above 4", () => {
    const plain = encodeNodesResponsePlain({ nodes: [node4(1), node4(2)], pingId: randomBytes(8) });
    expect(parseNodesResponsePlain(plain).ok).toBe(true);
    plain[0] = 1;
    expect(parseNodesResponsePlain(plain).ok).toBe(false);
    plain[0] = 3;
    expect(parseNodesResponsePlain(plain).ok).toBe(false);
    plain[0] = 5;
    expect(parseNodesResponsePlain(plain).ok).toBe(false);
    expect(() =>
      encodeNodesResponsePlain({ nodes: [1, 2, 3, 4, 5].map(node4), pingId: randomBytes(8) }),
    ).toThrow(RangeError);
  });

  it("opens through the generic envelope split as well", () => {
    const pkt = serializeNodesResponse({ nodes: [node4(9)], pingId: randomBytes(8) }, b.publicKey, baKey);
    const env = unwrap(splitDhtEnvelope(pkt));
    expect(env.type).toBe(0x04);
    expect(toHex(env.senderPk)).toBe(toHex(b.publicKey));
    const plain = unwrap(openDhtEnvelope(env, abKey, "nodes response"));
    expect(unwrap(parseNodesResponsePlain(plain)).nodes.length).toBe(1);
  });
});

describe("crypto request 0x20 and NAT ping", () => {
  it("round-trips with a cached shared key and with one-shot keys", () => {
    const inner = { id: CRYPTO_PACKET_NAT_PING, data: encodeNatPing({ kind: 0, pingId: randomBytes(8) }) };
    const pkt = serializeCryptoRequest(b.publicKey, a.publicKey, abKey, inner);
    expect(pkt.length).toBe(1 + 32 + 32 + 24 + 1 + 9 + 16);
    const h = unwrap(splitCryptoRequest(pkt));
    expect(toHex(h.receiverPk)).toBe(toHex(b.publicKey));
    expect(toHex(h.senderPk)).toBe(toHex(a.publicKey));
    const opened = unwrap(openCryptoRequest(h, baKey));
    expect(opened.id).toBe(CRYPTO_PACKET_NAT_PING);
    expect(unwrap(parseNatPing(opened.data))).toEqual(unwrap(parseNatPing(inner.data)));
    const viaOneShot = unwrap(decryptCryptoRequest(createCryptoRequest(b.publicKey, a, inner), b));
    expect(viaOneShot.id).toBe(CRYPTO_PACKET_NAT_PING);
    expect(toHex(viaOneShot.senderPk)).toBe(toHex(a.publicKey));
    expect(openCryptoRequest(h, randomBytes(32)).ok).toBe(false);
  });

  it("accepts an inner packet that is only its id byte (as c-toxcore's handle_request)", () => {
    const pkt = serializeCryptoRequest(b.publicKey, a.publicKey, abKey, { id: 7, data: new Uint8Array(0) });
    expect(pkt.length).toBe(89 + 1 + 16);
    const h = unwrap(splitCryptoRequest(pkt));
    const inner = unwrap(openCryptoRequest(h, baKey));
    expect(inner.id).toBe(7);
    expect(inner.data.length).toBe(0);
  });

  it("enforces the 1024-byte limit on create and the receive bound on split", () => {
    const max = MAX_CRYPTO_REQUEST_SIZE - (89 + 1 + 16);
    const ok = serializeCryptoRequest(b.publicKey, a.publicKey, abKey, { id: 156, data: randomBytes(max) });
    expect(ok.length).toBe(1024);
    expect(() =>
      serializeCryptoRequest(b.publicKey, a.publicKey, abKey, { id: 156, data: randomBytes(max + 1) }),
    ).toThrow(RangeError);
    expect(splitCryptoRequest(new Uint8Array(1041).fill(0x20)).ok).toBe(false);
    expect(splitCryptoRequest(new Uint8Array(105).fill(0x20)).ok).toBe(false);
  });

  it("NAT ping is kind | ping id, length-exact", () => {
    const p = encodeNatPing({ kind: 1, pingId: randomBytes(8) });
    expect(p.length).toBe(9);
    rejectsAllResizes(p, parseNatPing);
    p[0] = 2;
    expect(parseNatPing(p).ok).toBe(false);
  });
});

describe("LAN discovery 0x21 and bootstrap info 0xF0", () => {
  it("LAN discovery is 0x21 | DHT pk", () => {
    const pkt = serializeLanDiscovery(a.publicKey);
    expect(pkt.length).toBe(33);
    expect(toHex(unwrap(parseLanDiscovery(pkt)).dhtPk)).toBe(toHex(a.publicKey));
    rejectsAllResizes(pkt, parseLanDiscovery);
  });

  it("bootstrap info request is exactly 78 bytes; answer is version u32 BE | MOTD", () => {
    const req = serializeBootstrapInfoRequest();
    expect(req.length).toBe(BOOTSTRAP_INFO_REQUEST_SIZE);
    expect(isBootstrapInfoRequest(req)).toBe(true);
    expect(isBootstrapInfoRequest(req.subarray(0, 77))).toBe(false);
    const motd = new TextEncoder().encode("hello\0");
    const ans = serializeBootstrapInfo({ version: 2018, motd });
    expect(toHex(ans.subarray(0, 5))).toBe("f0000007e2");
    const parsed = unwrap(parseBootstrapInfo(ans));
    expect(parsed.version).toBe(2018);
    expect(motdText(parsed.motd)).toBe("hello");
    expect(parseBootstrapInfo(ans.subarray(0, 4)).ok).toBe(false);
    expect(() => serializeBootstrapInfo({ version: 1, motd: new Uint8Array(257) })).toThrow(RangeError);
  });
});

describe("fuzz: no parser throws, whatever the input", () => {
  const parsers: Array<[string, (d: Uint8Array) => unknown]> = [
    ["splitDhtEnvelope", splitDhtEnvelope],
    ["parsePing", (d) => parsePing(d, baKey)],
    ["parseNodesRequest", (d) => parseNodesRequest(d, baKey)],
    ["parseNodesResponse", (d) => parseNodesResponse(d, abKey)],
    ["parsePingPlain", parsePingPlain],
    ["parseNodesRequestPlain", parseNodesRequestPlain],
    ["parseNodesResponsePlain", parseNodesResponsePlain],
    ["splitCryptoRequest", splitCryptoRequest],
    [
      "openCryptoRequest",
      (d) => {
        const h = splitCryptoRequest(d);
        return h.ok ? openCryptoRequest(h.value, baKey) : h;
      },
    ],
    ["parseNatPing", parseNatPing],
    ["parseLanDiscovery", parseLanDiscovery],
    ["parseBootstrapInfo", parseBootstrapInfo],
  ];
  const valid = [
    serializePing({ type: 0, pingId: randomBytes(8) }, a.publicKey, abKey),
    serializeNodesRequest({ searchedPk: randomBytes(32), pingId: randomBytes(8) }, a.publicKey, abKey),
    serializeNodesResponse({ nodes: [node4(1), node6], pingId: randomBytes(8) }, b.publicKey, baKey),
    encodeNodesResponsePlain({ nodes: [node4(1), node6, node4(3)], pingId: randomBytes(8) }),
    serializeCryptoRequest(b.publicKey, a.publicKey, abKey, { id: 254, data: randomBytes(9) }),
    serializeBootstrapInfo({ version: 1, motd: randomBytes(20) }),
  ];

  // Random bytes, and valid packets with random byte flips / truncations, each fed to every
  // parser: 100k runs, so every parser sees 100k cases.
  const input = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc
      .record({
        base: fc.constantFrom(...valid),
        flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 3 }),
        cut: fc.option(fc.nat(), { nil: undefined }),
      })
      .map(({ base, flips, cut }) => {
        const out = Uint8Array.from(base);
        for (const [pos, x] of flips) out[pos % out.length] = out[pos % out.length]! ^ x;
        return cut === undefined ? out : out.subarray(0, cut % (out.length + 1));
      }),
  );

  it("100k inputs through each of the 12 parsers", () => {
    let accepted = 0;
    fc.assert(
      fc.property(input, (data) => {
        for (const [, parse] of parsers) {
          const r = parse(data) as { ok: boolean };
          if (r.ok) accepted++;
        }
      }),
      { numRuns: 100_000 },
    );
    expect(accepted).toBeGreaterThan(0);
  });

  it("flipped bytes inside an authenticated packet never parse", () => {
    fc.assert(
      fc.property(fc.nat(81), fc.integer({ min: 1, max: 255 }), (pos, x) => {
        const pkt = serializePing({ type: 0, pingId: randomBytes(8) }, a.publicKey, abKey);
        pkt[pos] = pkt[pos]! ^ x;
        const r = parsePing(pkt, baKey);
        // Flipping the sender pk leaves the box valid under our key; anything else must fail.
        if (pos >= 1 && pos < 33) return;
        expect(r.ok).toBe(false);
      }),
      { numRuns: 2000 },
    );
    expect(bytesEqual(a.publicKey, a.publicKey)).toBe(true);
  });
});
