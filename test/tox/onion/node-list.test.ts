import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { newKeyPair, precompute } from "../../../src/tox/crypto.js";
import { compareDistance } from "../../../src/tox/onion/distance.js";
import { newNodeList, RecentlyPinged } from "../../../src/tox/onion/node-list.js";
import { SlotKeyCache } from "../../../src/tox/onion/shared-keys.js";

const key = fc.uint8Array({ minLength: 32, maxLength: 32 });

describe("onion node lists in one buffer", () => {
  it("keeps each node's key, ping id and times apart from the other nodes'", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(key, key, fc.double({ min: 0, max: 2e12, noNaN: true })), {
          minLength: 8,
          maxLength: 8,
        }),
        (rows) => {
          const list = newNodeList(8);
          rows.forEach(([pk, ping, t], i) => {
            const node = list[i]!;
            node.setPublicKey(pk);
            node.setPingId(ping);
            node.timestamp = t;
            node.addedAt = t + 1;
            node.lastPinged = t + 2;
            node.isStored = i % 3;
            node.pingsSinceResponse = i;
            node.pathUsed = 4_000_000_000 + i;
          });
          rows.forEach(([pk, ping, t], i) => {
            const node = list[i]!;
            expect(node.publicKey).toEqual(pk);
            expect(node.pingId).toEqual(ping);
            expect(node.hasPublicKey(pk)).toBe(true);
            expect(node.hasPingId(ping)).toBe(true);
            expect([node.timestamp, node.addedAt, node.lastPinged]).toEqual([t, t + 1, t + 2]);
            expect([node.isStored, node.pingsSinceResponse, node.pathUsed]).toEqual([i % 3, i, 4e9 + i]);
          });
        },
      ),
    );
  });

  it("starts empty (zero keys, time 0) and orders keys as compareDistance does", () => {
    const [a, b] = newNodeList(2) as [
      ReturnType<typeof newNodeList>[number],
      ReturnType<typeof newNodeList>[number],
    ];
    expect(a.publicKey).toEqual(new Uint8Array(32));
    expect(a.timestamp).toBe(0);
    fc.assert(
      fc.property(key, key, key, (base, ka, kb) => {
        a.setPublicKey(ka);
        b.setPublicKey(kb);
        expect(Math.sign(b.compareToNode(base, a))).toBe(Math.sign(compareDistance(base, ka, kb)));
        expect(Math.sign(b.compareToKey(base, ka))).toBe(Math.sign(compareDistance(base, ka, kb)));
      }),
    );
  });

  it("a replaced key is written in place: copies taken before keep the old bytes", () => {
    const [node] = newNodeList(1);
    const first = new Uint8Array(32).fill(1);
    node!.setPublicKey(first);
    const copy = Uint8Array.from(node!.publicKey);
    node!.setPublicKey(new Uint8Array(32).fill(2));
    expect(copy).toEqual(first);
    expect(node!.hasPublicKey(first)).toBe(false);
  });
});

describe("RecentlyPinged", () => {
  it("answers as a list of the last 9 (key, time) entries with a 10 s minimum interval", () => {
    const keys = Array.from({ length: 12 }, (_, i) => new Uint8Array(32).fill(i));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(11), fc.nat(6_000)), { maxLength: 60 }), (steps) => {
        const ring = new RecentlyPinged(9);
        const model: { key: number; at: number }[] = [];
        let now = 0;
        for (const [k, dt] of steps) {
          now += dt;
          const expected = !model.some((p) => p.key === k && now - p.at <= 10_000);
          if (expected) {
            model.push({ key: k, at: now });
            if (model.length > 9) model.shift();
          }
          expect(ring.goodToPing(keys[k]!, now, 10_000)).toBe(expected);
        }
      }),
    );
  });
});

describe("SlotKeyCache", () => {
  it("returns the precomputed key for each peer, evicting the least recently used", () => {
    const ours = newKeyPair();
    const peers = Array.from({ length: 40 }, () => newKeyPair().publicKey);
    const expected = peers.map((p) => precompute(p, ours.secretKey));
    fc.assert(
      fc.property(fc.array(fc.nat(39), { maxLength: 200 }), (picks) => {
        const cache = new SlotKeyCache(20);
        for (const i of picks) {
          expect(cache.get(peers[i]!, ours.secretKey)).toEqual(expected[i]);
          expect(cache.size).toBeLessThanOrEqual(20);
        }
      }),
      { numRuns: 50 },
    );
  });

  it("forgets every key when our secret key changes", () => {
    const cache = new SlotKeyCache(8);
    const a = newKeyPair();
    const b = newKeyPair();
    const peer = newKeyPair().publicKey;
    expect(cache.get(peer, a.secretKey)).toEqual(precompute(peer, a.secretKey));
    expect(cache.get(peer, b.secretKey)).toEqual(precompute(peer, b.secretKey));
    expect(cache.size).toBe(1);
    expect(cache.get(peer, Uint8Array.from(b.secretKey))).toEqual(precompute(peer, b.secretKey));
    expect(cache.size).toBe(1);
  });
});

describe("OnionNode shared keys", () => {
  it("computes the box key once per node key and again after the key changes", () => {
    const ours = newKeyPair();
    const [node] = newNodeList(1);
    const a = newKeyPair().publicKey;
    const b = newKeyPair().publicKey;
    node!.setPublicKey(a);
    expect(node!.sharedKey(ours.secretKey)).toEqual(precompute(a, ours.secretKey));
    expect(node!.sharedKey(ours.secretKey)).toEqual(precompute(a, ours.secretKey));
    node!.setPublicKey(b);
    expect(node!.sharedKey(ours.secretKey)).toEqual(precompute(b, ours.secretKey));
    expect(node!.publicKey).toEqual(b);
  });
});
