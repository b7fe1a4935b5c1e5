import { isIPv4 } from "node:net";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ByteReader, ByteWriter, toHex } from "../../../src/tox/bytes.js";
import { unwrap } from "../../../src/tox/errors.js";
import {
  ipPort,
  ipv4ToBytes,
  isLanAddress,
  type NodeInfo,
  packNodes,
  parsePackedNodes,
  readOnionIpPort,
  writeOnionIpPort,
} from "../../../src/tox/wire/ipport.js";

const arbIpv4 = fc.ipV4();
const arbNode: fc.Arbitrary<NodeInfo> = fc
  .record({
    v6: fc.boolean(),
    v4: arbIpv4,
    v6addr: fc.ipV6(),
    port: fc.integer({ min: 0, max: 65535 }),
    tcp: fc.boolean(),
    pk: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  })
  .map(({ v6, v4, v6addr, port, tcp, pk }) => ({
    protocol: tcp ? "tcp" : "udp",
    ipPort: ipPort(v6 ? v6addr : v4, port),
    publicKey: pk,
  }));

describe("packed nodes", () => {
  it("packs an IPv4 UDP node as 39 bytes: family 2 | ip | port BE | pk", () => {
    const node: NodeInfo = {
      protocol: "udp",
      ipPort: ipPort("127.0.0.1", 33445),
      publicKey: new Uint8Array(32),
    };
    const bytes = packNodes([node]);
    expect(bytes.length).toBe(39);
    expect(toHex(bytes.subarray(0, 7))).toBe("027f00000182a5");
  });

  it("uses families 10, 130 and 138 for IPv6 and TCP", () => {
    const pk = new Uint8Array(32);
    expect(packNodes([{ protocol: "udp", ipPort: ipPort("::1", 1), publicKey: pk }])[0]).toBe(10);
    expect(packNodes([{ protocol: "tcp", ipPort: ipPort("1.2.3.4", 1), publicKey: pk }])[0]).toBe(130);
    expect(packNodes([{ protocol: "tcp", ipPort: ipPort("::1", 1), publicKey: pk }])[0]).toBe(138);
    expect(packNodes([{ protocol: "tcp", ipPort: ipPort("::1", 1), publicKey: pk }]).length).toBe(51);
  });

  it("round-trips any list of nodes", () => {
    fc.assert(
      fc.property(fc.array(arbNode, { maxLength: 8 }), (nodes) => {
        const back = unwrap(parsePackedNodes(packNodes(nodes), nodes.length));
        expect(back).toEqual(nodes);
      }),
    );
  });

  it("rejects unknown families, truncation and trailing bytes", () => {
    const node: NodeInfo = { protocol: "udp", ipPort: ipPort("10.0.0.1", 5), publicKey: new Uint8Array(32) };
    const good = packNodes([node]);
    expect(parsePackedNodes(good.subarray(0, 38)).ok).toBe(false);
    expect(parsePackedNodes(Uint8Array.of(...good, 0), 1).ok).toBe(false);
    const bad = Uint8Array.from(good);
    bad[0] = 3;
    const r = parsePackedNodes(bad);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toMatch(/unknown ip family 3/);
  });

  it("never throws on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.option(fc.integer({ min: 0, max: 4 })), (b, n) => {
        parsePackedNodes(b, n ?? undefined);
      }),
      { numRuns: 100_000 },
    );
  });
});

describe("IP normalisation", () => {
  it("normalises IPv4-mapped IPv6 to IPv4 and formats IPv6 canonically", () => {
    expect(ipPort("::ffff:127.0.0.1", 1)).toEqual({ family: 4, ip: "127.0.0.1", port: 1 });
    expect(ipPort("2001:0db8:0000:0000:0000:0000:0000:0001", 1).ip).toBe("2001:db8::1");
    expect(ipPort("fe80:0:0:1:0:0:0:1", 1).ip).toBe("fe80:0:0:1::1");
  });
  it("classifies LAN and loopback like ip_is_lan", () => {
    expect(isLanAddress(ipPort("127.0.0.1", 1))).toBe(true);
    expect(isLanAddress(ipPort("192.168.1.1", 1))).toBe(true);
    expect(isLanAddress(ipPort("8.8.8.8", 1))).toBe(false);
    expect(isLanAddress(ipPort("::1", 1))).toBe(true);
    expect(isLanAddress(ipPort("2001:db8::1", 1))).toBe(false);
  });
});

describe("onion IP_Port", () => {
  it("is a fixed 19-byte field with IPv4 in the first 4 of 16 bytes", () => {
    const w = new ByteWriter();
    writeOnionIpPort(w, "udp", ipPort("1.2.3.4", 0x1234));
    const bytes = w.finish();
    expect(bytes.length).toBe(19);
    expect(toHex(bytes)).toBe(`0201020304${"00".repeat(12)}1234`);
    expect(readOnionIpPort(new ByteReader(bytes)).ipPort).toEqual(ipPort("1.2.3.4", 0x1234));
  });
});

describe("ipv4ToBytes", () => {
  it("accepts exactly what net.isIPv4 accepts, with the same bytes", () => {
    const octet = fc.oneof(
      fc.integer({ min: 0, max: 300 }).map(String),
      fc.constantFrom("", "00", "01", "007", "1a", " 1", "-1", "+1", "1e2", "0x1"),
    );
    const dotted = fc.array(octet, { minLength: 1, maxLength: 6 }).map((parts) => parts.join("."));
    const text = fc.oneof(
      dotted,
      fc.string({ maxLength: 16 }),
      arbIpv4,
      arbIpv4.map((ip) => `${ip}.`),
    );
    fc.assert(
      fc.property(text, (ip) => {
        if (isIPv4(ip)) expect([...ipv4ToBytes(ip)]).toEqual(ip.split(".").map(Number));
        else expect(() => ipv4ToBytes(ip)).toThrow(/not an IPv4 address/);
      }),
      { numRuns: 3000 },
    );
  });
});
