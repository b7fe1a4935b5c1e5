import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bytesEqual, toHex } from "../../../src/tox/bytes.js";
import { ManualClock } from "../../../src/tox/clock.js";
import { newKeyPair, randomBytes } from "../../../src/tox/crypto.js";
import type { TcpClientEvents } from "../../../src/tox/tcp/client.js";
import { MemRelay } from "./memrelay.js";

function recorder() {
  const log: string[] = [];
  const data: Array<{ from: string; data: Uint8Array }> = [];
  const events: TcpClientEvents = {
    onConfirmed: () => log.push("confirmed"),
    onDisconnected: (r) => log.push(`disconnected:${r}`),
    onRoutingResponse: (pk, id) => log.push(`routed:${toHex(pk).slice(0, 4)}:${id}`),
    onPeerOnline: (pk, id) => log.push(`online:${toHex(pk).slice(0, 4)}:${id}`),
    onPeerOffline: (pk, id) => log.push(`offline:${toHex(pk).slice(0, 4)}:${id}`),
    onData: (pk, _id, d) => data.push({ from: toHex(pk), data: d }),
    onOob: (pk, d) => data.push({ from: `oob:${toHex(pk)}`, data: d }),
  };
  return { log, data, events };
}

describe("TcpClientConnection against our relay state machine", () => {
  it("handshakes, routes two clients to each other and carries data and OOB both ways", () => {
    const clock = new ManualClock();
    const relay = new MemRelay(clock);
    const ka = newKeyPair();
    const kb = newKeyPair();
    const ra = recorder();
    const rb = recorder();
    const a = relay.connect(ka, ra.events);
    const b = relay.connect(kb, rb.events);
    // Routing requested before the handshake is done: must be sent once confirmed.
    a.client.routingRequest(kb.publicKey);
    expect(a.client.peerStatus(kb.publicKey)).toBe("requested");
    relay.pump();
    expect(a.client.status).toBe("confirmed");
    expect(b.client.status).toBe("confirmed");
    expect(a.client.peerStatus(kb.publicKey)).toBe("registered");
    expect(ra.log).toEqual(["confirmed", `routed:${toHex(kb.publicKey).slice(0, 4)}:16`]);

    // OOB works before routing is mutual.
    expect(b.client.sendOob(ka.publicKey, new Uint8Array([0x18, 1, 2]))).toBe(true);
    relay.pump();
    expect(ra.data).toEqual([{ from: `oob:${toHex(kb.publicKey)}`, data: new Uint8Array([0x18, 1, 2]) }]);

    b.client.routingRequest(ka.publicKey);
    relay.pump();
    expect(a.client.peerStatus(kb.publicKey)).toBe("online");
    expect(b.client.peerStatus(ka.publicKey)).toBe("online");
    expect(ra.log.at(-1)).toBe(`online:${toHex(kb.publicKey).slice(0, 4)}:16`);

    const big = randomBytes(2031);
    expect(a.client.sendData(kb.publicKey, big)).toBe(true);
    expect(b.client.sendData(ka.publicKey, new Uint8Array([0x1b, 7]))).toBe(true);
    expect(a.client.sendData(kb.publicKey, new Uint8Array(2032))).toBe(false); // too big for a frame
    relay.pump();
    expect(rb.data.length).toBe(1);
    expect(bytesEqual(rb.data[0]!.data, big)).toBe(true);
    expect(ra.data.at(-1)).toEqual({ from: toHex(kb.publicKey), data: new Uint8Array([0x1b, 7]) });

    // B drops the route: A sees the peer offline but keeps its slot; B re-requests: online again.
    b.client.disconnectPeer(ka.publicKey);
    relay.pump();
    expect(a.client.peerStatus(kb.publicKey)).toBe("registered");
    expect(a.client.sendData(kb.publicKey, new Uint8Array([1]))).toBe(false);
    b.client.routingRequest(ka.publicKey);
    relay.pump();
    expect(a.client.peerStatus(kb.publicKey)).toBe("online");

    // B's socket dies: A is told.
    b.cut();
    relay.pump();
    expect(a.client.peerStatus(kb.publicKey)).toBe("registered");
    expect(rb.log.at(-1)).toBe("disconnected:cut");
    expect(ra.log.at(-1)).toMatch(/^offline:/);
  });

  it("pings every 30 s and stays up while the relay answers; drops 10 s after an unanswered ping", () => {
    const clock = new ManualClock();
    const relay = new MemRelay(clock);
    const r = recorder();
    const link = relay.connect(newKeyPair(), r.events);
    relay.pump();
    for (let i = 0; i < 10; i++) {
      clock.advance(5_000);
      link.client.tick();
      relay.server.tick();
      relay.pump();
    }
    expect(link.client.status).toBe("confirmed");
    const framesBefore = link.client.stats.framesOut;
    clock.advance(30_000);
    link.client.tick();
    expect(link.client.stats.framesOut).toBe(framesBefore + 1); // a ping
    link.blackhole = true;
    // The ping was written before the blackhole, so it is answered: make the next one vanish.
    relay.pump();
    clock.advance(30_000);
    link.client.tick();
    expect(link.client.nextTickIn()).toBe(10_000);
    clock.advance(9_999);
    link.client.tick();
    expect(link.client.status).toBe("confirmed");
    clock.advance(1);
    link.client.tick();
    expect(link.client.status).toBe("disconnected");
    expect(r.log.at(-1)).toBe("disconnected:ping timeout");
  });

  it("gives up when the handshake does not complete within 10 s", () => {
    const clock = new ManualClock();
    const relay = new MemRelay(clock);
    const r = recorder();
    const link = relay.connect(newKeyPair(), r.events);
    // Server never sees the hello.
    relay.pump(0);
    clock.advance(9_999);
    link.client.tick();
    expect(link.client.status).toBe("handshake-sent");
    clock.advance(1);
    link.client.tick();
    expect(r.log).toEqual(["disconnected:connect/handshake timeout"]);
  });

  it("fills at most 240 routing slots; further requests are refused", () => {
    const clock = new ManualClock();
    const relay = new MemRelay(clock);
    const r = recorder();
    const link = relay.connect(newKeyPair(), r.events);
    relay.pump();
    const pks = Array.from({ length: 241 }, () => newKeyPair().publicKey);
    for (const pk of pks) link.client.routingRequest(pk);
    relay.pump();
    expect(link.client.slotCount).toBe(240);
    expect(r.log.at(-1)).toBe(`routed:${toHex(pks[240]!).slice(0, 4)}:null`);
    expect(link.client.peerStatus(pks[240]!)).toBe("none");
    // Freeing one makes room.
    link.client.disconnectPeer(pks[0]!);
    link.client.routingRequest(pks[240]!);
    relay.pump();
    expect(link.client.peerStatus(pks[240]!)).toBe("registered");
  });

  it("disconnects on a corrupted frame and on a bad relay handshake", () => {
    const clock = new ManualClock();
    const relay = new MemRelay(clock);
    const r = recorder();
    const link = relay.connect(newKeyPair(), r.events);
    relay.pump();
    link.client.receive(new Uint8Array([0, 40, ...randomBytes(40)]));
    expect(r.log.at(-1)).toBe("disconnected:frame failed to decrypt");

    const r2 = recorder();
    const wrongRelay = new MemRelay(clock);
    const other = new MemRelay(clock, newKeyPair());
    // Client thinks it talks to `other` but the bytes reach `wrongRelay`'s server: the server
    // cannot open the hello and closes.
    const l2 = other.connect(newKeyPair(), r2.events);
    l2.client.receive(new Uint8Array(96));
    expect(r2.log.at(-1)).toMatch(/^disconnected:bad relay handshake/);
    expect(wrongRelay.server.connectionCount).toBe(0);
  });
});

describe("TcpClientConnection robustness", () => {
  it("never throws on arbitrary bytes from the relay, before or after the handshake (fast-check)", () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(fc.uint8Array({ minLength: 0, maxLength: 300 }), { maxLength: 6 }),
        (afterHandshake, chunks) => {
          const clock = new ManualClock();
          const relay = new MemRelay(clock);
          const link = relay.connect(newKeyPair(), {});
          if (afterHandshake) relay.pump();
          for (const c of chunks) link.client.receive(c);
          link.client.tick();
          expect(["handshake-sent", "confirmed", "disconnected"]).toContain(link.client.status);
        },
      ),
      { numRuns: 300 },
    );
  });
});
