import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/tox/clock.js";
import { newKeyPair } from "../../../src/tox/crypto.js";
import { TCP_SERVER_MAX_BUFFERED, TcpRelayServer } from "../../../src/tox/tcp/server.js";
import { MemRelay } from "./memrelay.js";

describe("TcpRelayServer", () => {
  it("refuses routing to oneself and answers a repeated request with the same slot", () => {
    const clock = new ManualClock();
    const relay = new MemRelay(clock);
    const k = newKeyPair();
    const ids: Array<number | null> = [];
    const link = relay.connect(k, { onRoutingResponse: (_pk, id) => ids.push(id) });
    relay.pump();
    link.client.routingRequest(k.publicKey);
    relay.pump();
    expect(ids).toEqual([null]);
  });

  it("pings clients every 30 s and drops one that stops answering", () => {
    const clock = new ManualClock();
    const relay = new MemRelay(clock);
    const link = relay.connect(newKeyPair(), {});
    relay.pump();
    clock.advance(30_000);
    relay.server.tick();
    relay.pump(); // client answers the relay's ping
    clock.advance(10_000);
    relay.server.tick();
    expect(relay.server.connectionCount).toBe(1);
    link.blackhole = true;
    clock.advance(20_000);
    relay.server.tick(); // new ping, never answered
    relay.pump();
    clock.advance(10_000);
    relay.server.tick();
    relay.pump();
    expect(relay.server.connectionCount).toBe(0);
    expect(link.client.status).toBe("disconnected");
  });

  it("drops connections that never confirm, and replaces a client that reconnects with the same key", () => {
    const clock = new ManualClock();
    const relay = new MemRelay(clock);
    const silent = relay.connect(newKeyPair(), {});
    silent.blackhole = true;
    const k = newKeyPair();
    const first = relay.connect(k, {});
    relay.pump();
    clock.advance(10_000);
    relay.server.tick();
    relay.pump();
    expect(relay.server.connectionCount).toBe(1);
    const second = relay.connect(k, {});
    relay.pump();
    expect(second.client.status).toBe("confirmed");
    expect(first.client.status).toBe("disconnected");
    expect(relay.server.connectionCount).toBe(1);
  });

  it("survives garbage from a client without throwing", () => {
    const clock = new ManualClock();
    const relay = new MemRelay(clock);
    const conn = relay.server.accept({ write: () => {}, close: () => {} });
    conn.receive(new Uint8Array(200).fill(3));
    expect(relay.server.connectionCount).toBe(0);
  });
});

describe("TcpRelayServer robustness", () => {
  it("never throws on arbitrary bytes after a valid handshake (fast-check)", () => {
    const clock = new ManualClock();
    const relay = new MemRelay(clock);
    const peer = relay.connect(newKeyPair(), {});
    relay.pump();
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 0, maxLength: 300 }), { maxLength: 6 }), (chunks) => {
        const link = relay.connect(newKeyPair(), {});
        relay.pump();
        for (const c of chunks) link.serverSide.receive(c);
        relay.server.tick();
        relay.pump();
      }),
      { numRuns: 300 },
    );
    expect(peer.client.status).toBe("confirmed");
  });
});

describe("TcpRelayServer limits", () => {
  it("refuses connections beyond maxConnections and drops relayed data to a client that does not read", () => {
    const clock = new ManualClock();
    const server = new TcpRelayServer({ clock, keys: newKeyPair(), maxConnections: 1 });
    let closed = 0;
    server.accept({ write: () => {}, close: () => {} });
    server.accept({ write: () => {}, close: () => void closed++ });
    expect(closed).toBe(1);
    expect(server.connectionCount).toBe(1);
    expect(server.stats.refused).toBe(1);

    // A relay whose connection towards B reports a huge unsent backlog.
    const relay = new MemRelay(clock);
    const ka = newKeyPair();
    const kb = newKeyPair();
    let got = 0;
    const a = relay.connect(ka, {});
    const b = relay.connect(kb, { onData: () => void got++ });
    relay.pump();
    a.client.routingRequest(kb.publicKey);
    b.client.routingRequest(ka.publicKey);
    relay.pump();
    a.client.sendData(kb.publicKey, new Uint8Array([1, 2]));
    relay.pump();
    expect(got).toBe(1);
    (b.serverSide.io as { buffered?: () => number }).buffered = () => TCP_SERVER_MAX_BUFFERED + 1;
    a.client.sendData(kb.publicKey, new Uint8Array([1, 2]));
    a.client.sendOob(kb.publicKey, new Uint8Array([3]));
    relay.pump();
    expect(got).toBe(1);
    expect(relay.server.stats.droppedUnderLoad).toBe(2);
    expect(b.client.status).toBe("confirmed"); // pings and control packets still flow
  });
});
