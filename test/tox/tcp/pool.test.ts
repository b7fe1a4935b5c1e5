import { describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/tox/clock.js";
import { newKeyPair } from "../../../src/tox/crypto.js";
import { MAX_RELAYS_PER_PEER, relayKey, TcpRelayPool } from "../../../src/tox/tcp/pool.js";
import type { TcpTransportFactory } from "../../../src/tox/tcp/socket.js";
import { MemRelay } from "./memrelay.js";

function setup(relayCount: number) {
  const clock = new ManualClock();
  const relays = Array.from({ length: relayCount }, () => new MemRelay(clock));
  const transport: TcpTransportFactory = (addr, sink) => relays[addr.port]!.transport(addr, sink);
  const events: string[] = [];
  const packets: Array<{ from: Uint8Array; data: Uint8Array; oob: boolean }> = [];
  const keys = new WeakMap<TcpRelayPool, Uint8Array>();
  const pkOf = (pool: TcpRelayPool) => keys.get(pool)!;
  const make = () => {
    const k = newKeyPair();
    const pool = new TcpRelayPool({
      clock,
      dhtKeys: () => k,
      transport,
      events: {
        onPacket: (from, data, _relay, oob) => packets.push({ from, data, oob }),
        onPeerStatus: (_pk, online) => events.push(`peer:${online}`),
        onRelayStatus: (addr, up) => events.push(`relay${addr.port}:${up}`),
      },
    });
    keys.set(pool, k.publicKey);
    return pool;
  };
  const pump = (ms: number, pools: TcpRelayPool[], step = 50) => {
    for (let t = 0; t < ms; t += step) {
      for (const r of relays) r.pump();
      for (const p of pools) p.tick();
      for (const r of relays) {
        r.server.tick();
        r.pump();
      }
      clock.advance(step);
    }
  };
  return { clock, relays, events, packets, make, pump, pkOf };
}

describe("TcpRelayPool", () => {
  it("keeps own relays, uses at most 6 relays per peer, and closes relays only a removed peer needed", () => {
    const { relays, make, pump } = setup(8);
    const pool = make();
    pool.addRelay(relays[0]!.address(0));
    const peer = newKeyPair().publicKey;
    pool.addPeer(
      peer,
      relays.slice(1).map((r, i) => r.address(i + 1)),
    );
    pump(200, [pool]);
    // Our relay 0 plus the first 5 of the peer's 7 relays; the last two are never connected.
    expect(relays.map((r) => r.server.connectionCount)).toEqual([1, 1, 1, 1, 1, 1, 0, 0]);
    expect(pool.connectedRelays().length).toBe(MAX_RELAYS_PER_PEER);
    pool.removePeer(peer);
    pump(100, [pool]);
    expect(relays[0]!.server.connectionCount).toBe(1);
    expect(relays.slice(1).every((r) => r.server.connectionCount === 0)).toBe(true);
    expect(pool.connectedRelays()).toEqual([relayKey(relays[0]!.address(0))]);
  });

  it("reconnects a dropped relay with doubling backoff and restores routes", () => {
    const { clock, relays, events, make, pump, pkOf } = setup(1);
    const a = make();
    const b = make();
    const r = relays[0]!;
    a.addRelay(r.address(0));
    b.addRelay(r.address(0));
    const aPk = pkOf(a);
    const bPk = pkOf(b);
    a.addPeer(bPk);
    b.addPeer(aPk);
    pump(200, [a, b]);
    expect(a.isPeerOnline(bPk)).toBe(true);
    expect(events.filter((e) => e === "relay0:true").length).toBe(2);

    r.down = true;
    r.cutAll();
    pump(100, [a, b]);
    expect(a.isPeerOnline(bPk)).toBe(false);
    expect(a.relayStatus(relayKey(r.address(0)))).toBe("disconnected");
    // First retry after 5 s fails (relay down), the next waits 10 s.
    const t0 = clock.now();
    pump(5_000, [a, b]);
    expect(r.server.connectionCount).toBe(0);
    r.down = false;
    pump(4_000, [a, b]);
    expect(a.isPeerOnline(bPk)).toBe(false);
    pump(7_000, [a, b]);
    expect(clock.now() - t0).toBeGreaterThanOrEqual(15_000);
    expect(a.isPeerOnline(bPk)).toBe(true);
    expect(events.filter((e) => e.startsWith("peer:"))).toEqual([
      "peer:true",
      "peer:true",
      "peer:false",
      "peer:false",
      "peer:true",
      "peer:true",
    ]);
  });

  it("sends routed when online, OOB before, and shares only its own connected relays", () => {
    const { relays, packets, make, pump, pkOf } = setup(2);
    const a = make();
    const b = make();
    const bPk = pkOf(b);
    const aPk = pkOf(a);
    a.addRelay(relays[0]!.address(0));
    b.addRelay(relays[0]!.address(0));
    a.addPeer(bPk, [relays[1]!.address(1)]); // a peer relay: used, not shared
    pump(200, [a, b]);
    expect(a.sharedRelays().map((n) => n.ipPort.port)).toEqual([0]);
    expect(a.send(bPk, new Uint8Array([0x18, 1]))).toBe(true); // OOB (b has not routed to a)
    pump(100, [a, b]);
    expect(packets.map((p) => p.oob)).toEqual([true]);
    b.addPeer(aPk);
    pump(200, [a, b]);
    expect(a.send(bPk, new Uint8Array([0x1b, 2]))).toBe(true);
    pump(100, [a, b]);
    expect(packets.map((p) => p.oob)).toEqual([true, false]);
    expect(a.send(newKeyPair().publicKey, new Uint8Array([1]))).toBe(false); // unknown peer
    const snap = a.snapshot();
    expect(snap.map((r) => [r.own, r.status, r.peers, r.peersOnline])).toEqual([
      [true, "confirmed", 1, 1],
      [false, "confirmed", 1, 0],
    ]);
    expect(snap[0]!.framesOut).toBeGreaterThan(2);
  });
});

describe("TcpRelayPool rekey", () => {
  it("reconnects with the new DHT key and restores routes", () => {
    const { clock, relays, make, pump, pkOf } = setup(1);
    const r = relays[0]!;
    const b = make();
    b.addRelay(r.address(0));
    let keys = newKeyPair();
    const a = new TcpRelayPool({
      clock,
      dhtKeys: () => keys,
      transport: r.transport,
      events: { onPacket: () => {} },
    });
    a.addRelay(r.address(0));
    a.addPeer(pkOf(b));
    b.addPeer(keys.publicKey);
    pump(200, [a, b]);
    expect(a.isPeerOnline(pkOf(b))).toBe(true);
    const old = keys.publicKey;
    keys = newKeyPair();
    a.rekey();
    b.removePeer(old);
    b.addPeer(keys.publicKey);
    pump(200, [a, b]);
    expect(a.isPeerOnline(pkOf(b))).toBe(true);
    expect(b.isPeerOnline(keys.publicKey)).toBe(true);
    expect(r.server.connectionCount).toBe(2);
  });
});

describe("TcpRelayPool relay added after peers", () => {
  it("routes existing peers through a relay added later", () => {
    const { relays, make, pump, pkOf } = setup(1);
    const a = make();
    const b = make();
    a.addPeer(pkOf(b)); // no relays yet
    b.addPeer(pkOf(a));
    a.addRelay(relays[0]!.address(0));
    b.addRelay(relays[0]!.address(0));
    pump(200, [a, b]);
    expect(a.isPeerOnline(pkOf(b))).toBe(true);
  });
});
