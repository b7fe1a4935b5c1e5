import { describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/tox/clock.js";
import type { TcpTransportFactory } from "../../../src/tox/tcp/socket.js";
import { RelayIdentity, runRelays } from "./identity-harness.js";
import { MemRelay } from "./memrelay.js";

describe("net_crypto over TCP relays (NetCrypto + TcpRelayPool + glue)", () => {
  it("establishes a session with no UDP at all: OOB cookie/handshake, then routed data", () => {
    const clock = new ManualClock();
    const relay = new MemRelay(clock);
    const a = new RelayIdentity(clock, relay.transport);
    const b = new RelayIdentity(clock, relay.transport);
    a.pool.addRelay(relay.address());
    b.pool.addRelay(relay.address());
    runRelays(clock, [relay], [a, b], 200);
    a.connectTo(b);
    expect(runRelays(clock, [relay], [a, b], 5_000, () => a.established(b) && b.established(a))).toBe(true);
    expect(a.pool.isPeerOnline(b.dhtKeys.publicKey)).toBe(true);
    expect(b.pool.isPeerOnline(a.dhtKeys.publicKey)).toBe(true);
    const ca = a.connTo(b)!;
    const cb = b.connTo(a)!;
    for (let i = 0; i < 500; i++) {
      expect(a.nc.sendLossless(ca, new Uint8Array([64, i & 0xff, i >> 8]))).toBeGreaterThanOrEqual(0);
      if (i % 50 === 0) runRelays(clock, [relay], [a, b], 100);
    }
    b.nc.sendLossless(cb, new Uint8Array([64, 1]));
    expect(
      runRelays(clock, [relay], [a, b], 10_000, () => b.received.length === 500 && a.received.length === 1),
    ).toBe(true);
    for (let i = 0; i < 500; i++) expect([...b.received[i]!]).toEqual([64, i & 0xff, i >> 8]);
    expect(a.glue.stats.relayPackets).toBeGreaterThan(500);
    expect(a.udpDropped).toBe(0); // no direct address was ever known
  });

  it("reaches a peer on the peer's own relay (learned as via share-relays) and survives a relay drop", () => {
    const clock = new ManualClock();
    const r1 = new MemRelay(clock);
    const r2 = new MemRelay(clock);
    // Both relays reachable from one transport: choose by port.
    const transport: TcpTransportFactory = (addr, sink) => (addr.port === 1 ? r1 : r2).transport(addr, sink);
    const a = new RelayIdentity(clock, transport);
    const b = new RelayIdentity(clock, transport);
    a.pool.addRelay(r1.address(1));
    b.pool.addRelay(r2.address(2));
    // A learns B's relays (friend_connection would from packet 17 or a DHTPK announcement).
    a.pool.addPeer(b.dhtKeys.publicKey, [r2.address(2)]);
    runRelays(clock, [r1, r2], [a, b], 200);
    a.connectTo(b);
    expect(runRelays(clock, [r1, r2], [a, b], 5_000, () => a.established(b) && b.established(a))).toBe(true);
    expect(b.pool.sharedRelays().map((n) => n.ipPort.port)).toEqual([2]);
    expect(b.pool.sharedRelays()[0]!.protocol).toBe("tcp");

    // The relay drops everyone. net_crypto keeps the session (well under its timeouts) while the
    // pool reconnects after its 5 s backoff and re-requests routes; traffic resumes.
    r2.cutAll();
    runRelays(clock, [r1, r2], [a, b], 100);
    expect(a.pool.isPeerOnline(b.dhtKeys.publicKey)).toBe(false);
    const ca = a.connTo(b)!;
    a.nc.sendLossless(ca, new Uint8Array([64, 9]));
    expect(runRelays(clock, [r1, r2], [a, b], 15_000, () => b.received.length === 1)).toBe(true);
    expect(a.pool.isPeerOnline(b.dhtKeys.publicKey)).toBe(true);
    expect(a.peerStatus).toEqual([true, false, true]);
  });

  it("forgets the relay route once the session is killed", () => {
    const clock = new ManualClock();
    const relay = new MemRelay(clock);
    const a = new RelayIdentity(clock, relay.transport);
    const b = new RelayIdentity(clock, relay.transport);
    a.pool.addRelay(relay.address());
    b.pool.addRelay(relay.address());
    a.connectTo(b);
    expect(runRelays(clock, [relay], [a, b], 5_000, () => a.established(b) && b.established(a))).toBe(true);
    a.nc.kill(a.connTo(b)!);
    runRelays(clock, [relay], [a, b], 100);
    expect(a.pool.hasPeer(b.dhtKeys.publicKey)).toBe(false);
    // B sees KILL, drops its session, and its glue forgets A too.
    expect(runRelays(clock, [relay], [a, b], 2_000, () => !b.pool.hasPeer(a.dhtKeys.publicKey))).toBe(true);
  });

  it("does not accept a relayed handshake the upper layer refuses", () => {
    const clock = new ManualClock();
    const relay = new MemRelay(clock);
    const a = new RelayIdentity(clock, relay.transport);
    const b = new RelayIdentity(clock, relay.transport);
    b.accept = false;
    a.pool.addRelay(relay.address());
    b.pool.addRelay(relay.address());
    a.connectTo(b);
    runRelays(clock, [relay], [a, b], 12_000);
    expect(b.connTo(a)).toBeUndefined();
    expect(a.status.at(-1)?.[1]).toBe("killed");
  });
});
