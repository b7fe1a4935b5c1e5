import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { toHex } from "../../../src/tox/bytes.js";
import { ManualClock } from "../../../src/tox/clock.js";
import { newKeyPair } from "../../../src/tox/crypto.js";
import {
  FRIEND_DHT_TIMEOUT_MS,
  FriendConnections,
} from "../../../src/tox/friend-connection/friend-connections.js";
import {
  PACKET_ID_ALIVE,
  parseFriendConnPacket,
  serializeFriendConnPacket,
} from "../../../src/tox/friend-connection/packets.js";
import { NetCrypto } from "../../../src/tox/netcrypto/netcrypto.js";
import type { ConnectionId, CryptoConnectionState, NetCryptoApi } from "../../../src/tox/netcrypto/types.js";
import { type IpPort, ipPort, type NodeInfo } from "../../../src/tox/wire/ipport.js";
import { Link, rng } from "../netcrypto/harness.js";

/** A NetCryptoApi that records calls; the test drives session state by hand. */
class FakeNetCrypto implements NetCryptoApi {
  next = 0;
  sessions = new Map<
    ConnectionId,
    { pk: string; dht: string; state: CryptoConnectionState; addr?: IpPort }
  >();
  sent: Array<[ConnectionId, Uint8Array]> = [];
  killed: ConnectionId[] = [];
  connects: Array<[string, string]> = [];
  window = 100;
  connect(pk: Uint8Array, dht: Uint8Array): ConnectionId {
    const existing = this.connectionFor(pk);
    if (existing !== undefined) return existing;
    const id = this.next++;
    this.connects.push([toHex(pk), toHex(dht)]);
    this.sessions.set(id, { pk: toHex(pk), dht: toHex(dht), state: "cookie-requesting" });
    return id;
  }
  /** Simulates net_crypto accepting an incoming handshake. */
  accept(pk: Uint8Array): ConnectionId {
    const id = this.next++;
    this.sessions.set(id, { pk: toHex(pk), dht: "", state: "not-confirmed" });
    return id;
  }
  setDirectAddress(conn: ConnectionId, addr: IpPort) {
    const s = this.sessions.get(conn);
    if (s) s.addr = addr;
  }
  sendLossless(conn: ConnectionId, data: Uint8Array): number {
    if (this.sessions.get(conn)?.state !== "established" || this.window <= 0) return -1;
    this.sent.push([conn, data]);
    return this.sent.length - 1;
  }
  sendLossy() {
    return false;
  }
  sendWindowFree() {
    return this.window;
  }
  state(conn: ConnectionId) {
    return this.sessions.get(conn)?.state;
  }
  kill(conn: ConnectionId) {
    this.killed.push(conn);
    this.sessions.delete(conn);
  }
  connectionFor(pk: Uint8Array) {
    for (const [id, s] of this.sessions) if (s.pk === toHex(pk)) return id;
    return undefined;
  }
  alives(conn: ConnectionId) {
    return this.sent.filter(([c, d]) => c === conn && d[0] === PACKET_ID_ALIVE).length;
  }
}

function setup(relays: NodeInfo[] = []) {
  const clock = new ManualClock();
  const nc = new FakeNetCrypto();
  const log = {
    status: [] as boolean[],
    packets: [] as Uint8Array[],
    acked: [] as number[],
    relays: [] as NodeInfo[][],
  };
  const fcs = new FriendConnections({
    clock,
    relaysToShare: () => relays,
    events: {
      onStatus: (_pk, up) => log.status.push(up),
      onPacket: (_pk, d) => log.packets.push(d),
      onAcked: (_pk, n) => log.acked.push(n),
      onRelays: (_pk, r) => log.relays.push(r),
    },
  });
  fcs.attach(nc);
  const peer = newKeyPair().publicKey;
  const dht = newKeyPair().publicKey;
  const step = (ms: number, by = 100) => {
    for (let t = 0; t < ms; t += by) {
      clock.advance(by);
      fcs.tick();
    }
  };
  return { clock, nc, fcs, log, peer, dht, step };
}

describe("FriendConnections (fake net_crypto)", () => {
  it("connects once the DHT key is known, pings at once and every 8 s, passes packets up", () => {
    const { nc, fcs, log, peer, dht, step } = setup();
    fcs.add(peer);
    fcs.tick();
    expect(nc.connects).toHaveLength(0);
    fcs.setAddress(peer, ipPort("127.0.0.1", 33445));
    fcs.setDhtKey(peer, dht);
    expect(nc.connects).toEqual([[toHex(peer), toHex(dht)]]);
    expect(nc.sessions.get(0)?.addr?.port).toBe(33445);
    nc.sessions.get(0)!.state = "established";
    fcs.onStatus(0, "established");
    expect(log.status).toEqual([true]);
    expect(fcs.status(peer)).toBe("connected");
    expect(nc.alives(0)).toBe(1);
    for (let i = 0; i < 5; i++) {
      step(8000);
      fcs.onLossless(0, Uint8Array.of(PACKET_ID_ALIVE));
    }
    expect(nc.alives(0)).toBe(6);
    expect(log.status).toEqual([true]);
    fcs.onLossless(0, Uint8Array.of(64, 65));
    fcs.onAcked(0, 7);
    expect(log.packets).toEqual([Uint8Array.of(64, 65)]);
    expect(log.acked).toEqual([7]);
    expect(fcs.sendLossless(peer, Uint8Array.of(64, 1))).toBeGreaterThanOrEqual(0);
  });

  it("kills the session after 32 s without ALIVE and reconnects", () => {
    const { nc, fcs, log, peer, dht, step } = setup();
    fcs.add(peer);
    fcs.setDhtKey(peer, dht);
    nc.sessions.get(0)!.state = "established";
    fcs.onStatus(0, "established");
    step(31_900);
    expect(nc.killed).toEqual([]);
    step(1_000);
    expect(nc.killed).toEqual([0]);
    expect(log.status).toEqual([true, false]);
    expect(fcs.status(peer)).toBe("connecting");
    step(1_100);
    expect(nc.connects).toHaveLength(2);
    expect(fcs.sendLossless(peer, Uint8Array.of(64, 1))).toBe(-1);
  });

  it("retries while the DHT key is fresh and forgets it after 122 s", () => {
    const { nc, fcs, peer, dht, step } = setup();
    fcs.add(peer);
    fcs.setDhtKey(peer, dht);
    // net_crypto gives up after 8 cookie requests.
    for (let i = 0; i < 20; i++) {
      step(8000, 500);
      const id = nc.connectionFor(peer);
      if (id === undefined) continue;
      nc.sessions.delete(id);
      fcs.onStatus(id, "killed");
    }
    const attempts = nc.connects.length;
    expect(attempts).toBeGreaterThan(10);
    expect(attempts).toBeLessThanOrEqual(17);
    step(10_000);
    const id = nc.connectionFor(peer);
    if (id !== undefined) {
      nc.sessions.delete(id);
      fcs.onStatus(id, "killed");
    }
    step(10_000);
    expect(fcs.info(peer)?.dhtPk).toBeNull();
    expect(nc.connectionFor(peer)).toBeUndefined();
    expect(FRIEND_DHT_TIMEOUT_MS).toBe(122_000);
  });

  it("accepts handshakes only from known peers without a session, and learns the session id", () => {
    const { nc, fcs, log, peer, dht } = setup();
    const stranger = newKeyPair().publicKey;
    const from = ipPort("127.0.0.1", 40000);
    expect(fcs.shouldAccept(stranger, dht, from)).toBe(false);
    fcs.add(peer);
    expect(fcs.shouldAccept(peer, dht, from)).toBe(true);
    expect(fcs.shouldAccept(peer, dht, from)).toBe(false);
    const id = nc.accept(peer);
    nc.sessions.get(id)!.state = "established";
    fcs.onStatus(id, "established");
    expect(log.status).toEqual([true]);
    expect(fcs.info(peer)?.connection).toBe(id);
    expect(fcs.info(peer)?.address).toEqual(from);
    expect(toHex(fcs.info(peer)!.dhtPk!)).toBe(toHex(dht));
  });

  it("an accepted handshake that never made a session is forgotten on the next tick", () => {
    const { nc, fcs, peer, dht } = setup();
    fcs.add(peer);
    expect(fcs.shouldAccept(peer, dht, ipPort("127.0.0.1", 40000))).toBe(true);
    fcs.tick();
    // Retries towards the learned key and address.
    expect(nc.connects).toHaveLength(1);
  });

  it("a new DHT key replaces a live session (peer restarted)", () => {
    const { nc, fcs, log, peer, dht } = setup();
    fcs.add(peer);
    fcs.setDhtKey(peer, dht);
    nc.sessions.get(0)!.state = "established";
    fcs.onStatus(0, "established");
    const dht2 = newKeyPair().publicKey;
    fcs.setDhtKey(peer, dht2);
    expect(nc.killed).toEqual([0]);
    expect(log.status).toEqual([true, false]);
    expect(nc.connects[1]).toEqual([toHex(peer), toHex(dht2)]);
    // net_crypto reporting the change itself (handshake with the new key) reconnects too.
    nc.sessions.get(1)!.state = "established";
    fcs.onStatus(1, "established");
    nc.sessions.delete(1);
    fcs.onStatus(1, "killed");
    const dht3 = newKeyPair().publicKey;
    fcs.onDhtKeyChanged(1, dht3);
    expect(nc.connects[2]).toEqual([toHex(peer), toHex(dht3)]);
  });

  it("shares relays through the hook and reports the peer's", () => {
    const relay = (port: number): NodeInfo => ({
      protocol: "tcp",
      ipPort: ipPort("127.0.0.1", port),
      publicKey: newKeyPair().publicKey,
    });
    const relays = [relay(1), relay(2), relay(3), relay(4)];
    const { nc, fcs, log, peer, dht, step } = setup(relays);
    fcs.add(peer);
    fcs.setDhtKey(peer, dht);
    nc.sessions.get(0)!.state = "established";
    fcs.onStatus(0, "established");
    const shared = nc.sent.filter(([, d]) => d[0] === 17);
    expect(shared).toHaveLength(1);
    const parsed = parseFriendConnPacket(shared[0]![1]);
    expect(parsed.ok && parsed.value.type === "shareRelays" && parsed.value.relays.length).toBe(3);
    fcs.onLossless(0, serializeFriendConnPacket({ type: "shareRelays", relays: relays.slice(0, 2) }));
    expect(log.relays[0]?.map((r) => r.ipPort.port)).toEqual([1, 2]);
    for (let i = 0; i < 15; i++) {
      step(8000, 1000);
      fcs.onLossless(0, Uint8Array.of(PACKET_ID_ALIVE));
    }
    expect(nc.sent.filter(([, d]) => d[0] === 17)).toHaveLength(2);
  });

  it("removing a peer kills its session silently", () => {
    const { nc, fcs, log, peer, dht } = setup();
    fcs.add(peer);
    fcs.setDhtKey(peer, dht);
    nc.sessions.get(0)!.state = "established";
    fcs.onStatus(0, "established");
    fcs.remove(peer);
    expect(nc.killed).toEqual([0]);
    expect(log.status).toEqual([true]);
    expect(fcs.has(peer)).toBe(false);
  });

  it("fuzz: arbitrary lossless packets never throw (100k cases)", () => {
    const { nc, fcs, peer, dht } = setup();
    fcs.add(peer);
    fcs.setDhtKey(peer, dht);
    nc.sessions.get(0)!.state = "established";
    fcs.onStatus(0, "established");
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: 0, maxLength: 200 }),
          fc
            .tuple(fc.integer({ min: 16, max: 18 }), fc.uint8Array({ maxLength: 160 }))
            .map(([id, b]) => Uint8Array.of(id, ...b)),
        ),
        (data) => {
          fcs.onLossless(0, data);
          const p = parseFriendConnPacket(data);
          if (p.ok) serializeFriendConnPacket(p.value);
        },
      ),
      { numRuns: 100_000 },
    );
  });
});

describe("FriendConnections over real NetCrypto (in-memory lossy link)", () => {
  function side(link: Link, addr: IpPort) {
    const realKeys = newKeyPair();
    const dhtKeys = newKeyPair();
    const status: boolean[] = [];
    const packets: Uint8Array[] = [];
    const fcs = new FriendConnections({
      clock: link.clock,
      events: {
        onStatus: (_pk, up) => status.push(up),
        onPacket: (_pk, d) => packets.push(d),
        onAcked: () => {},
      },
    });
    const nc = new NetCrypto({
      clock: link.clock,
      realKeys,
      dhtKeys: () => dhtKeys,
      sink: { send: (to, data) => link.send(addr, to, data) },
      events: fcs,
    });
    fcs.attach(nc);
    link.endpoints.set(`${addr.ip}:${addr.port}`, (from, data) => nc.handlePacket(from, data));
    return { realKeys, dhtKeys, status, packets, fcs, nc, addr };
  }

  function run(link: Link, sides: ReturnType<typeof side>[], ms: number, step = 20) {
    for (let t = 0; t < ms; t += step) {
      link.deliver();
      for (const s of sides) {
        s.nc.tick();
        s.fcs.tick();
      }
      link.clock.advance(step);
    }
  }

  it("stays up for 5 minutes at 10% loss, drops after the peer vanishes, comes back on its own", () => {
    const clock = new ManualClock();
    const link = new Link(clock, { loss: 0.1, seed: 7 });
    const a = side(link, ipPort("10.0.0.1", 33445));
    const b = side(link, ipPort("10.0.0.2", 33445));
    expect(`${a.addr.ip}:${a.addr.port}`).toBe("10.0.0.1:33445");
    a.fcs.add(b.realKeys.publicKey);
    b.fcs.add(a.realKeys.publicKey);
    a.fcs.setAddress(b.realKeys.publicKey, b.addr);
    a.fcs.setDhtKey(b.realKeys.publicKey, b.dhtKeys.publicKey);
    run(link, [a, b], 5000);
    expect(a.status).toEqual([true]);
    expect(b.status).toEqual([true]);
    run(link, [a, b], 300_000, 50);
    expect(a.status).toEqual([true]);
    expect(b.status).toEqual([true]);
    // b disappears: both sides notice within the 32 s ALIVE timeout (or net_crypto's own).
    link.down.add("10.0.0.2:33445");
    link.down.add("10.0.0.1:33445");
    run(link, [a, b], 40_000, 50);
    expect(a.status).toEqual([true, false]);
    expect(b.status).toEqual([true, false]);
    link.down.clear();
    run(link, [a, b], 15_000, 50);
    expect(a.status).toEqual([true, false, true]);
    expect(b.status).toEqual([true, false, true]);
    expect(rng(1)()).toBeGreaterThanOrEqual(0);
  });
});
