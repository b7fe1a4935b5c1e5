import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { toHex } from "../../../src/tox/bytes.js";
import { newKeyPair, precompute, randomBytes } from "../../../src/tox/crypto.js";
import { unwrap } from "../../../src/tox/errors.js";
import { NetCrypto } from "../../../src/tox/netcrypto/netcrypto.js";
import { NO_PATH_RETRY } from "../../../src/tox/netcrypto/session.js";
import { ipPort } from "../../../src/tox/wire/ipport.js";
import {
  createCookie,
  parseCookieResponse,
  serializeCookieRequest,
  serializeHandshake,
} from "../../../src/tox/wire/netcrypto.js";
import { makePair, Peer, run } from "./harness.js";

const established = (p: Peer, other: Peer) => {
  const c = p.connTo(other);
  return c !== undefined && p.nc.state(c) === "established";
};

function payload(id: number, i: number): Uint8Array {
  const b = new Uint8Array(1 + 4 + (i % 50));
  b[0] = id;
  new DataView(b.buffer).setUint32(1, i);
  return b;
}

describe("NetCrypto handshake", () => {
  it("A initiates, B accepts: both reach ESTABLISHED and report it once", () => {
    const { clock, link, a, b } = makePair();
    a.connectTo(b);
    expect(a.nc.state(a.connTo(b)!)).toBe("cookie-requesting");
    expect(run(clock, link, [a, b], 5000, () => established(a, b) && established(b, a))).toBe(true);
    expect(clock.now() - 1_000_000).toBeLessThan(100);
    expect(a.log.status.map((s) => s[1])).toEqual(["established"]);
    expect(b.log.status.map((s) => s[1])).toEqual(["established"]);
    expect(b.log.accepted).toBe(1);
    // B learned A's address from the handshake.
    expect(b.nc.info(b.connTo(a)!)!.address).toEqual(a.addr);
  });

  it("B initiates, A accepts (other order)", () => {
    const { clock, link, a, b } = makePair();
    b.connectTo(a);
    expect(run(clock, link, [a, b], 5000, () => established(a, b) && established(b, a))).toBe(true);
    expect(a.log.accepted).toBe(1);
  });

  it("crossed handshakes: both connect at once, one session each, no accept needed", () => {
    const { clock, link, a, b } = makePair();
    a.accept = false;
    b.accept = false;
    const ca = a.connectTo(b);
    const cb = b.connectTo(a);
    expect(run(clock, link, [a, b], 5000, () => established(a, b) && established(b, a))).toBe(true);
    expect(a.connTo(b)).toBe(ca);
    expect(b.connTo(a)).toBe(cb);
    expect(a.nc.connections()).toEqual([ca]);
    expect(b.nc.connections()).toEqual([cb]);
  });

  it("crossed with one side still cookie-requesting adopts the peer's handshake", () => {
    const { clock, link, a, b } = makePair();
    b.accept = false;
    a.connectTo(b);
    // B connects without knowing A's address: its cookie request cannot go out, but A's
    // handshake arrives and B (cookie-requesting) answers it.
    b.nc.connect(a.realKeys.publicKey, a.dhtKeys.publicKey);
    expect(run(clock, link, [a, b], 5000, () => established(a, b) && established(b, a))).toBe(true);
    expect(b.log.accepted).toBe(0);
  });

  it("does not accept when shouldAccept says no, and the initiator times out after 8 tries", () => {
    const { clock, link, a, b } = makePair();
    b.accept = false;
    const c = a.connectTo(b);
    let sent = 0;
    link.tap = (from) => {
      if (from === a.addr) sent++;
      return true;
    };
    expect(run(clock, link, [a, b], 20_000, () => a.nc.state(c) === undefined)).toBe(true);
    expect(a.log.status).toEqual([[c, "killed"]]);
    // 1 cookie request + 7 resends... then the handshake (cookie answered) resent up to 8 times.
    expect(sent).toBeLessThanOrEqual(9);
    expect(clock.now() - 1_000_000).toBeGreaterThan(7000);
    expect(clock.now() - 1_000_000).toBeLessThan(9500);
  });

  it("times out after 8 cookie requests to a dead address, and waits while no address is known", () => {
    const { clock, link, a, b } = makePair();
    const c = a.nc.connect(b.realKeys.publicKey, b.dhtKeys.publicKey);
    // No address: nothing is sent and the session does not time out.
    run(clock, link, [a, b], 15_000);
    expect(a.nc.state(c)).toBe("cookie-requesting");
    link.down.add("10.0.0.2:33446");
    let requests = 0;
    link.tap = (_f, _t, d) => {
      if (d[0] === 0x18) requests++;
      return true;
    };
    a.nc.setDirectAddress(c, b.addr);
    expect(run(clock, link, [a, b], 20_000, () => a.nc.state(c) === undefined)).toBe(true);
    expect(requests).toBe(8);
    expect(a.log.status).toEqual([[c, "killed"]]);
  });

  it("with no usable path, retries the cookie request every NO_PATH_RETRY instead of every tick", () => {
    const { clock, link, a, b } = makePair();
    let attempts = 0;
    const nc = new NetCrypto({
      clock,
      realKeys: a.realKeys,
      dhtKeys: () => a.dhtKeys,
      sink: { send: (to, data) => link.send(a.addr, to, data) },
      events: {
        onStatus: () => {},
        onLossless: () => {},
        onLossy: () => {},
        onAcked: () => {},
        shouldAccept: () => false,
      },
      route: (_conn, data, direct) => {
        attempts++;
        if (direct === undefined) return false;
        link.send(a.addr, direct, data);
        return true;
      },
    });
    const c = nc.connect(b.realKeys.publicKey, b.dhtKeys.publicKey);
    expect(attempts).toBe(1);
    expect(nc.nextTickIn()).toBe(NO_PATH_RETRY);
    for (let t = 0; t < 1000; t++) {
      clock.advance(1);
      nc.tick();
    }
    // One attempt per NO_PATH_RETRY (c-toxcore: one per 50 ms iteration), not one per tick.
    expect(attempts).toBeGreaterThanOrEqual(1000 / NO_PATH_RETRY - 1);
    expect(attempts).toBeLessThanOrEqual(1000 / NO_PATH_RETRY + 1);
    // A path appears: the request goes out at the next tick, not after the retry pause.
    clock.advance(1);
    nc.tick();
    const before = attempts;
    nc.setDirectAddress(c, b.addr);
    expect(nc.nextTickIn()).toBeLessThanOrEqual(1);
    clock.advance(1);
    nc.tick();
    expect(attempts).toBe(before + 1);
    expect(nc.info(c)?.state).toBe("cookie-requesting");
  });

  it("KILL from one side ends the session on the other", () => {
    const { clock, link, a, b } = makePair();
    a.connectTo(b);
    run(clock, link, [a, b], 5000, () => established(a, b) && established(b, a));
    const cb = b.connTo(a)!;
    a.nc.kill(a.connTo(b)!);
    expect(a.connTo(b)).toBeUndefined();
    expect(run(clock, link, [a, b], 1000, () => b.nc.state(cb) === undefined)).toBe(true);
    expect(b.log.status.at(-1)).toEqual([cb, "killed"]);
    // Local kill raises no event on the killer's side.
    expect(a.log.status.map((s) => s[1])).toEqual(["established"]);
  });
});

describe("NetCrypto data", () => {
  function transfer(
    opts: Parameters<typeof makePair>[0],
    n: number,
    maxMs: number,
  ): { a: Peer; b: Peer; elapsed: number; ok: boolean; acked: number[] } {
    const { clock, link, a, b } = makePair(opts);
    a.connectTo(b);
    expect(run(clock, link, [a, b], 10_000, () => established(a, b) && established(b, a))).toBe(true);
    const ca = a.connTo(b)!;
    let next = 0;
    const start = clock.now();
    const numbers: number[] = [];
    const ok = run(
      clock,
      link,
      [a, b],
      maxMs,
      () => b.log.lossless.length >= n && a.nc.info(ca)!.inFlight === 0,
      5,
      () => {
        let free = a.nc.sendWindowFree(ca);
        while (free-- > 0 && next < n) {
          const num = a.nc.sendLossless(ca, payload(160, next));
          expect(num).toBeGreaterThanOrEqual(0);
          numbers.push(num);
          next++;
        }
      },
    );
    expect(numbers).toEqual(numbers.map((_, i) => i));
    return { a, b, elapsed: clock.now() - start, ok, acked: a.log.acked.map((x) => x[1]) };
  }

  function checkInOrder(b: Peer, n: number): void {
    expect(b.log.lossless.length).toBe(n);
    b.log.lossless.forEach(([, d], i) => {
      expect(new DataView(d.buffer, d.byteOffset).getUint32(1)).toBe(i);
      expect(d.length).toBe(5 + (i % 50));
    });
  }

  function checkAcks(acked: number[], n: number): void {
    for (let i = 1; i < acked.length; i++) expect(acked[i]!).toBeGreaterThan(acked[i - 1]!);
    expect(acked.at(-1)).toBe(n);
  }

  it("delivers 10,000 lossless packets in order on a clean link; acks are monotone and complete", () => {
    const r = transfer({}, 10_000, 30_000);
    expect(r.ok).toBe(true);
    checkInOrder(r.b, 10_000);
    checkAcks(r.acked, 10_000);
    // Throughput on a 2 ms link with 5 ms ticks: well above 1000 packets per simulated second.
    expect(r.elapsed).toBeLessThan(5000);
  });

  it("delivers 10,000 lossless packets in order with 10% loss", () => {
    const r = transfer({ loss: 0.1, seed: 7 }, 10_000, 120_000);
    expect(r.ok).toBe(true);
    // No stalls: > 1000 packets per simulated second despite the loss (measured ~2000).
    expect(r.elapsed).toBeLessThan(10_000);
    checkInOrder(r.b, 10_000);
    checkAcks(r.acked, 10_000);
    expect(r.a.nc.info(r.a.connTo(r.b)!)!.resentPackets).toBeGreaterThan(500);
  });

  it("delivers 10,000 lossless packets in order with 10% loss, reordering and duplication", () => {
    const r = transfer({ loss: 0.1, duplicate: 0.05, reorder: 0.2, jitter: 30, seed: 99 }, 10_000, 120_000);
    expect(r.ok).toBe(true);
    expect(r.elapsed).toBeLessThan(10_000);
    checkInOrder(r.b, 10_000);
    checkAcks(r.acked, 10_000);
  });

  it("carries packet numbers and nonces across the 16-bit wrap (70,000 packets)", () => {
    const r = transfer({}, 70_000, 120_000);
    expect(r.ok).toBe(true);
    expect(r.b.log.lossless.length).toBe(70_000);
    expect(new DataView(r.b.log.lossless[69_999]![1].buffer).getUint32(1)).toBe(69_999);
    checkAcks(r.acked, 70_000);
    // A sends REQUESTs too, so its nonce went further than 70,000 data packets.
    expect(r.a.nc.info(r.a.connTo(r.b)!)!.sentPackets).toBeGreaterThan(70_000);
  }, 60_000);

  it("delivers lossy packets (no retransmission) and lossless both ways", () => {
    const { clock, link, a, b } = makePair();
    a.connectTo(b);
    run(clock, link, [a, b], 5000, () => established(a, b) && established(b, a));
    const ca = a.connTo(b)!;
    const cb = b.connTo(a)!;
    expect(a.nc.sendLossy(ca, Uint8Array.of(200, 1, 2, 3))).toBe(true);
    expect(b.nc.sendLossless(cb, Uint8Array.of(64, 104, 105))).toBe(0);
    run(clock, link, [a, b], 100);
    expect(b.log.lossy.map(([, d]) => [...d])).toEqual([[200, 1, 2, 3]]);
    expect(a.log.lossless.map(([, d]) => [...d])).toEqual([[64, 104, 105]]);
    expect(b.log.acked).toEqual([[cb, 1]]);
    // Wrong ids are caller bugs.
    expect(() => a.nc.sendLossy(ca, Uint8Array.of(64))).toThrow();
    expect(() => a.nc.sendLossless(ca, Uint8Array.of(200))).toThrow();
    expect(() => a.nc.sendLossless(ca, new Uint8Array(1374).fill(64))).toThrow();
    // Not established / unknown connection.
    expect(a.nc.sendLossless(999, Uint8Array.of(64))).toBe(-1);
  });

  it("acknowledges within ~1 s even when the receiver sends nothing (read receipts)", () => {
    const { clock, link, a, b } = makePair({ loss: 0 });
    a.connectTo(b);
    run(clock, link, [a, b], 5000, () => established(a, b) && established(b, a));
    const ca = a.connTo(b)!;
    const t0 = clock.now();
    a.nc.sendLossless(ca, Uint8Array.of(64, 1));
    expect(run(clock, link, [a, b], 2000, () => a.log.acked.length > 0, 50)).toBe(true);
    expect(clock.now() - t0).toBeLessThanOrEqual(1000);
  });
});

describe("NetCrypto peer restart and replacement", () => {
  it("a peer that restarts with a new DHT key replaces the old session", () => {
    const { clock, link, a, b } = makePair();
    a.connectTo(b);
    run(clock, link, [a, b], 5000, () => established(a, b) && established(b, a));
    const oldConn = a.connTo(b)!;
    // B restarts: same real key, same address, new DHT key, new NetCrypto.
    const b2 = new Peer(link, b.addr, b.realKeys, newKeyPair());
    b2.connectTo(a);
    expect(run(clock, link, [a, b2], 10_000, () => established(a, b2) && established(b2, a))).toBe(true);
    expect(a.connTo(b2)).not.toBe(oldConn);
    expect(a.log.status).toContainEqual([oldConn, "killed"]);
    expect(a.log.dhtChanged.map(([c, k]) => [c, toHex(k)])).toEqual([[oldConn, toHex(b2.dhtKeys.publicKey)]]);
    // Data flows on the new session.
    const c2 = b2.connTo(a)!;
    b2.nc.sendLossless(c2, Uint8Array.of(64, 9));
    run(clock, link, [a, b2], 200);
    expect([...a.log.lossless.at(-1)![1]]).toEqual([64, 9]);
  });

  it("reconnecting from onDhtKeyChanged (friend_connection style) adopts the new handshake", () => {
    const { clock, link, a, b } = makePair();
    a.accept = false; // only friend_connection's connect() may create the new session
    b.connectTo(a);
    a.accept = true;
    run(clock, link, [a, b], 5000, () => established(a, b) && established(b, a));
    a.accept = false;
    const b2 = new Peer(link, b.addr, b.realKeys, newKeyPair());
    a.onDhtChanged = (_c, dht) => {
      const c = a.nc.connect(b.realKeys.publicKey, dht);
      a.nc.setDirectAddress(c, b.addr);
    };
    b2.connectTo(a);
    expect(run(clock, link, [a, b2], 10_000, () => established(a, b2) && established(b2, a))).toBe(true);
  });

  it("a not-yet-confirmed session adopts a handshake from a new address at once", () => {
    const { clock, link, a, b } = makePair();
    a.connectTo(b);
    // B's handshake and data towards A's first port are lost: B accepted but stays not-confirmed.
    link.tap = (_from, to, d) => !(to.port === 33445 && (d[0] === 0x1a || d[0] === 0x1b));
    run(clock, link, [a, b], 300);
    const cb = b.connTo(a)!;
    expect(b.nc.state(cb)).toBe("not-confirmed");
    // A comes back on another port with the same keys (e.g. a NAT rebinding).
    const a2 = new Peer(link, ipPort("10.0.0.1", 40001), a.realKeys, a.dhtKeys);
    a2.connectTo(b);
    const t0 = clock.now();
    expect(run(clock, link, [a2, b], 5000, () => established(a2, b) && established(b, a2))).toBe(true);
    expect(clock.now() - t0).toBeLessThan(500);
    expect(b.connTo(a2)).toBe(cb); // same session, address updated
    expect(b.nc.info(cb)!.address).toEqual(a2.addr);
  });

  it("a peer that lost its session (same DHT key) gets a fresh one from a new address", () => {
    const { clock, link, a, b } = makePair();
    a.connectTo(b);
    run(clock, link, [a, b], 5000, () => established(a, b) && established(b, a));
    const old = b.connTo(a)!;
    // A's process loses the session silently and comes back from another port, same keys.
    const a2 = new Peer(link, ipPort("10.0.0.1", 40000), a.realKeys, a.dhtKeys);
    a2.connectTo(b);
    expect(run(clock, link, [a2, b], 10_000, () => established(a2, b) && established(b, a2))).toBe(true);
    expect(b.connTo(a2)).not.toBe(old);
    expect(b.nc.info(b.connTo(a2)!)!.address).toEqual(a2.addr);
  });
});

describe("NetCrypto cookies and hostile input", () => {
  /** Acts as a raw peer: asks B for a cookie and builds handshakes with the wire functions. */
  function rawPeer(b: Peer) {
    const real = newKeyPair();
    const dht = newKeyPair();
    const shared = precompute(b.dhtKeys.publicKey, dht.secretKey);
    const from = ipPort("10.0.0.9", 5000);
    let response: Uint8Array | undefined;
    b.link.endpoints.set("10.0.0.9:5000", (_f, d) => {
      response = d;
    });
    const echoId = randomBytes(8);
    b.nc.handlePacket(
      from,
      serializeCookieRequest({ senderDhtPk: dht.publicKey, senderRealPk: real.publicKey, echoId }, shared),
    );
    b.link.deliver();
    b.link.clock.advance(10);
    b.link.deliver();
    const cookie = unwrap(parseCookieResponse(response!, shared)).cookie;
    const handshake = () =>
      serializeHandshake(
        {
          cookie,
          baseNonce: randomBytes(24),
          sessionPk: newKeyPair().publicKey,
          newCookie: createCookie(randomBytes(32), {
            timeMs: 0,
            realPk: b.realKeys.publicKey,
            dhtPk: dht.publicKey,
          }),
        },
        real.secretKey,
        b.realKeys.publicKey,
      );
    return { from, handshake };
  }

  it("honours a cookie for 15 s and not after", () => {
    const { clock, b } = makePair();
    const p1 = rawPeer(b);
    clock.advance(14_900);
    expect(b.nc.handlePacket(p1.from, p1.handshake())).toBe(true);
    const p2 = rawPeer(b);
    clock.advance(15_100);
    expect(b.nc.handlePacket(p2.from, p2.handshake())).toBe(false);
    expect(b.log.accepted).toBe(1);
  });

  it("ignores malformed and off-by-one packets", () => {
    const { clock, link, a, b } = makePair();
    a.connectTo(b);
    run(clock, link, [a, b], 5000, () => established(a, b) && established(b, a));
    for (const [id, len] of [
      [0x18, 144],
      [0x18, 146],
      [0x19, 160],
      [0x19, 162],
      [0x1a, 384],
      [0x1a, 386],
      [0x1b, 19],
      [0x1b, 1401],
      [0x1b, 100],
    ] as const) {
      const pkt = randomBytes(len);
      pkt[0] = id;
      expect(b.nc.handlePacket(a.addr, pkt)).toBe(false);
    }
    expect(established(b, a)).toBe(true);
  });

  it("handlePacket never throws on random bytes (fast-check), and sessions survive", () => {
    const { clock, link, a, b } = makePair();
    a.connectTo(b);
    run(clock, link, [a, b], 5000, () => established(a, b) && established(b, a));
    fc.assert(
      fc.property(
        fc.constantFrom(0x18, 0x19, 0x1a, 0x1b, 0x00, 0xff),
        fc.uint8Array({ maxLength: 1500 }),
        fc.boolean(),
        (id, body, known) => {
          const pkt = Uint8Array.of(id, ...body);
          const from = known ? a.addr : ipPort("10.9.9.9", 1);
          expect(b.nc.handlePacket(from, pkt)).toBe(false);
        },
      ),
      { numRuns: 20_000 },
    );
    const cb = b.connTo(a)!;
    b.nc.sendLossless(cb, Uint8Array.of(64, 1));
    run(clock, link, [a, b], 100);
    expect(a.log.lossless.length).toBe(1);
  });
});
