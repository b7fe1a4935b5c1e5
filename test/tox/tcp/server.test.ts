import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/tox/clock.js";
import { newKeyPair } from "../../../src/tox/crypto.js";
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
