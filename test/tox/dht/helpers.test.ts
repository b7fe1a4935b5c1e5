import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { toHex } from "../../../src/tox/bytes.js";
import {
  addClosest,
  type Candidate,
  type Slot,
  storeInFriendList,
} from "../../../src/tox/dht/client-list.js";
import { BAD_NODE_TIMEOUT_MS } from "../../../src/tox/dht/constants.js";
import { commonPrefixBits, compareDistance } from "../../../src/tox/dht/distance.js";
import { commonIp, portsOf, punchPorts } from "../../../src/tox/dht/nat.js";
import { PingArray } from "../../../src/tox/dht/ping-array.js";
import { ipPort } from "../../../src/tox/wire/ipport.js";

const key = fc.uint8Array({ minLength: 32, maxLength: 32 });

/** XOR distance as a bigint, the definition compareDistance must agree with. */
function dist(a: Uint8Array, b: Uint8Array): bigint {
  let x = 0n;
  for (let i = 0; i < 32; i++) x = (x << 8n) | BigInt(a[i]! ^ b[i]!);
  return x;
}

describe("XOR distance", () => {
  it("compareDistance orders by the XOR metric", () => {
    fc.assert(
      fc.property(key, key, key, (t, a, b) => {
        const d = dist(t, a) - dist(t, b);
        expect(Math.sign(compareDistance(t, a, b))).toBe(d < 0n ? -1 : d > 0n ? 1 : 0);
      }),
      { numRuns: 2000 },
    );
  });

  it("commonPrefixBits counts equal leading bits", () => {
    const a = new Uint8Array(32);
    const b = new Uint8Array(32);
    expect(commonPrefixBits(a, b)).toBe(256);
    b[0] = 0x80;
    expect(commonPrefixBits(a, b)).toBe(0);
    b[0] = 0;
    b[3] = 0x01;
    expect(commonPrefixBits(a, b)).toBe(31);
    fc.assert(
      fc.property(key, key, (x, y) => {
        const n = commonPrefixBits(x, y);
        const d = dist(x, y);
        if (d === 0n) expect(n).toBe(256);
        else expect(n).toBe(256 - d.toString(2).length);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("PingArray", () => {
  it("ids are single-use, expire after the timeout, and the oldest is evicted when full", () => {
    const pa = new PingArray<string>(3, 5000);
    const a = pa.add(0, "a");
    const b = pa.add(0, "b");
    expect(a.length).toBe(8);
    expect(pa.take(100, a)).toBe("a");
    expect(pa.take(100, a)).toBeUndefined();
    expect(pa.take(5000, b)).toBeUndefined();
    const c = pa.add(6000, "c");
    pa.add(6000, "d");
    pa.add(6000, "e");
    pa.add(6000, "f");
    expect(pa.size).toBe(3);
    expect(pa.take(6001, c)).toBeUndefined();
  });
});

describe("list helpers", () => {
  it("addClosest keeps the n closest, sorted, without duplicates", () => {
    fc.assert(
      fc.property(key, fc.array(key, { maxLength: 30 }), (target, keys) => {
        const list: Candidate[] = [];
        for (const k of keys) addClosest(list, 4, { publicKey: k, ipPort: ipPort("1.2.3.4", 1) }, target);
        const uniq = [...new Map(keys.map((k) => [toHex(k), k])).values()];
        uniq.sort((x, y) => compareDistance(target, x, y));
        expect(list.map((c) => toHex(c.publicKey))).toEqual(uniq.slice(0, 4).map((k) => toHex(k)));
      }),
      { numRuns: 500 },
    );
  });

  it("storeInFriendList replaces bad entries first, then the farthest if the new key is closer", () => {
    const target = new Uint8Array(32);
    const k = (b: number) => {
      const x = new Uint8Array(32);
      x[0] = b;
      return x;
    };
    const now = 1_000_000;
    const list: Slot[] = new Array(2);
    expect(storeInFriendList(list, k(50), ipPort("1.1.1.1", 1), target, now)).toBe(true);
    expect(storeInFriendList(list, k(40), ipPort("1.1.1.2", 1), target, now)).toBe(true);
    expect(storeInFriendList(list, k(60), ipPort("1.1.1.3", 1), target, now)).toBe(false);
    expect(storeInFriendList(list, k(10), ipPort("1.1.1.4", 1), target, now)).toBe(true);
    expect(list.map((e) => e!.publicKey[0]).sort()).toEqual([10, 40]);
    // Later, everything is stale: even a far key is stored.
    expect(storeInFriendList(list, k(99), ipPort("1.1.1.5", 1), target, now + BAD_NODE_TIMEOUT_MS)).toBe(
      true,
    );
  });
});

describe("NAT helpers", () => {
  const at = (ip: string, port: number) => ipPort(ip, port);

  it("commonIp needs the IP reported at least minCount times", () => {
    const list = [at("5.5.5.5", 1), at("6.6.6.6", 2), at("5.5.5.5", 3), at("5.5.5.5", 4)];
    expect(commonIp(list, 3)).toBe("5.5.5.5");
    expect(commonIp(list, 4)).toBeUndefined();
    expect(portsOf(list, "5.5.5.5")).toEqual([1, 3, 4]);
  });

  it("punchPorts: one port when all agree, 48 guesses around them otherwise, then a sweep from 1024", () => {
    const st = { tries: 0, index: 0, index2: 0 };
    expect(punchPorts([7000, 7000, 7000, 7000], st)).toEqual([7000]);
    const st2 = { tries: 0, index: 0, index2: 0 };
    const ports = [40000, 40003, 40006, 40009];
    const first = punchPorts(ports, st2);
    expect(first.length).toBe(48);
    for (const p of ports) expect(first).toContain(p);
    expect(first).toContain(40012); // one step beyond the highest reported port
    expect(first).toContain(39997);
    for (let i = 0; i < 5; i++) punchPorts(ports, st2);
    const later = punchPorts(ports, st2);
    expect(later.length).toBe(96);
    expect(later.slice(48)).toContain(1024 + 24);
  });
});
