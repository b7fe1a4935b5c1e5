/**
 * Acks under a packet stream, with a scheduler that works like ToxNode's: after every datagram
 * the receiver's deadline is recomputed as now + nextTickIn() (replacing the old one), and
 * tick() runs only once that deadline has passed. A nextTickIn() that never says 0 lets a
 * stream faster than one packet per millisecond postpone the overdue ack forever; c-toxcore's
 * sender paces itself by our acks, so that starved file transfers (issue 7).
 */
import { describe, expect, it } from "vitest";
import { ACK_DELAY } from "../../../src/tox/netcrypto/session.js";
import { makePair, run } from "./harness.js";

describe("NetCrypto acks under a continuous stream", () => {
  it("the receiver acks about every ACK_DELAY while packets arrive every 0.5 ms", () => {
    const { clock, link, a, b } = makePair({ delay: 1, jitter: 0 });
    a.connectTo(b);
    const up = () => a.nc.state(a.connTo(b)!) === "established" && b.nc.state(b.connTo(a)!) === "established";
    expect(run(clock, link, [a, b], 10_000, up)).toBe(true);
    const ca = a.connTo(b)!;

    // B is driven only through its deadline, as ToxNode drives an identity.
    let received = 0;
    const deliver = link.endpoints.get("10.0.0.2:33446");
    expect(deliver).toBeDefined();
    link.endpoints.set("10.0.0.2:33446", (from, data) => {
      received++;
      deliver!(from, data);
    });
    let bDeadline = clock.now() + b.nc.nextTickIn();
    const ackTimes: number[] = [];
    let lastAcks = a.log.acked.length;
    const payload = new Uint8Array(200).fill(7);
    payload[0] = 160;
    const end = clock.now() + 1000;
    while (clock.now() < end) {
      // Without congestion control: the stream does not pause when acks are missing.
      expect(a.nc.sendLossless(ca, payload, false)).toBeGreaterThanOrEqual(0);
      a.nc.tick();
      const before = received;
      link.deliver();
      const now = clock.now();
      if (received > before) bDeadline = now + b.nc.nextTickIn();
      if (now >= bDeadline) {
        b.nc.tick();
        bDeadline = now + b.nc.nextTickIn();
      }
      if (a.log.acked.length > lastAcks) {
        lastAcks = a.log.acked.length;
        ackTimes.push(now);
      }
      clock.advance(0.5);
    }
    expect(received).toBeGreaterThan(1900);
    // ~1000 / (ACK_DELAY + delivery) acks; without the fix there are none at all.
    expect(ackTimes.length).toBeGreaterThan(1000 / (ACK_DELAY * 2));
    const gaps = ackTimes.slice(1).map((t, i) => t - ackTimes[i]!);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(ACK_DELAY + 5);
  });
});
