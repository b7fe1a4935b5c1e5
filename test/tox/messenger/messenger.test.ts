import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/tox/clock.js";
import { newKeyPair } from "../../../src/tox/crypto.js";
import { ToxProtocolError } from "../../../src/tox/errors.js";
import { Messenger, packetAcked } from "../../../src/tox/messenger/messenger.js";
import { parseMessengerPacket } from "../../../src/tox/messenger/packets.js";

/** Transport with a settable window; packet numbers count from `base` like a net_crypto session. */
class FakeTransport {
  sent: Uint8Array[] = [];
  nums: number[] = [];
  next = 0;
  window = 1000;
  up = true;
  sendLossless(_pk: Uint8Array, data: Uint8Array): number {
    if (!this.up || this.window <= 0) return -1;
    this.window--;
    this.sent.push(data);
    const n = this.next;
    this.next = (this.next + 1) >>> 0;
    this.nums.push(n);
    return n;
  }
  ids(): number[] {
    return this.sent.map((d) => d[0]!);
  }
}

function setup() {
  const clock = new ManualClock();
  const t = new FakeTransport();
  const ev = {
    conn: [] as Array<[boolean, number[]]>,
    msgs: [] as Array<[string, string]>,
    receipts: [] as number[],
    names: [] as string[],
    statusMessages: [] as string[],
    statuses: [] as string[],
    typing: [] as boolean[],
  };
  const m = new Messenger({
    clock,
    transport: t,
    name: "me",
    statusMessage: "here",
    status: "busy",
    events: {
      onConnection: (_pk, online, unconfirmed) => ev.conn.push([online, unconfirmed]),
      onMessage: (_pk, kind, text) => ev.msgs.push([kind, text]),
      onReadReceipt: (_pk, id) => ev.receipts.push(id),
      onName: (_pk, n) => ev.names.push(n),
      onStatusMessage: (_pk, s) => ev.statusMessages.push(s),
      onStatus: (_pk, s) => ev.statuses.push(s),
      onTyping: (_pk, s) => ev.typing.push(s),
    },
  });
  const pk = newKeyPair().publicKey;
  m.addFriend(pk);
  const online = () => {
    m.handleConnection(pk, true);
    m.handlePacket(pk, Uint8Array.of(24));
  };
  return { clock, t, ev, m, pk, online };
}

describe("Messenger", () => {
  it("sends ONLINE on a new session, then name, status message, user status, typing once ONLINE arrives", () => {
    const { t, ev, m, pk } = setup();
    m.handleConnection(pk, true);
    expect(t.ids()).toEqual([24]);
    expect(ev.conn).toEqual([]);
    // Anything before the peer's ONLINE is ignored (m_handle_packet).
    m.handlePacket(pk, Uint8Array.of(64, 0x68));
    m.handlePacket(pk, Uint8Array.of(48, 0x41));
    expect(ev.msgs).toEqual([]);
    expect(ev.names).toEqual([]);
    m.handlePacket(pk, Uint8Array.of(24));
    expect(ev.conn).toEqual([[true, []]]);
    expect(t.ids()).toEqual([24, 24, 48, 49, 50, 51]);
    expect(t.sent[2]).toEqual(Uint8Array.of(48, ...new TextEncoder().encode("me")));
    expect(t.sent[4]).toEqual(Uint8Array.of(50, 2));
    expect(t.sent[5]).toEqual(Uint8Array.of(51, 0));
    expect(m.friend(pk)?.online).toBe(true);
  });

  it("raises incoming presence and texts", () => {
    const { ev, m, pk, online } = setup();
    online();
    const enc = (s: string) => new TextEncoder().encode(s);
    m.handlePacket(pk, Uint8Array.of(48, ...enc("Bob")));
    m.handlePacket(pk, Uint8Array.of(49, ...enc("busy day")));
    m.handlePacket(pk, Uint8Array.of(50, 1));
    m.handlePacket(pk, Uint8Array.of(51, 1));
    m.handlePacket(pk, Uint8Array.of(64, ...enc("hi ✓")));
    m.handlePacket(pk, Uint8Array.of(65, ...enc("waves")));
    m.handlePacket(pk, Uint8Array.of(50, 9)); // invalid status: ignored
    m.handlePacket(pk, Uint8Array.of(24)); // second ONLINE: ignored
    expect(ev.names).toEqual(["Bob"]);
    expect(ev.statusMessages).toEqual(["busy day"]);
    expect(ev.statuses).toEqual(["away"]);
    expect(ev.typing).toEqual([true]);
    expect(ev.msgs).toEqual([
      ["normal", "hi ✓"],
      ["action", "waves"],
    ]);
    expect(m.friend(pk)).toMatchObject({
      name: "Bob",
      statusMessage: "busy day",
      status: "away",
      typing: true,
    });
    expect(ev.conn).toHaveLength(1);
  });

  it("numbers messages from 1 per friend and fires receipts as buffer_start passes them, in order", () => {
    const { t, ev, m, pk, online } = setup();
    online();
    const base = t.next;
    expect(m.sendMessage(pk, "a")).toEqual([1]);
    expect(m.sendMessage(pk, "b")).toEqual([2]);
    expect(m.sendMessage(pk, "c", "action")).toEqual([3]);
    expect(t.sent.slice(-3).map((d) => d[0])).toEqual([64, 64, 65]);
    m.handleAcked(pk, base); // nothing yet below base
    expect(ev.receipts).toEqual([]);
    m.handleAcked(pk, base + 2);
    expect(ev.receipts).toEqual([1, 2]);
    m.handleAcked(pk, base + 3);
    expect(ev.receipts).toEqual([1, 2, 3]);
  });

  it("queues while the window is full and flushes in order as acks arrive; nothing is dropped", () => {
    const { t, ev, m, pk, online } = setup();
    online();
    t.window = 2;
    const ids = [...m.sendMessage(pk, "1"), ...m.sendMessage(pk, "2"), ...m.sendMessage(pk, "3")];
    expect(ids).toEqual([1, 2, 3]);
    expect(m.friend(pk)?.queued).toBe(1);
    t.window = 10;
    m.handleAcked(pk, t.next);
    expect(ev.receipts).toEqual([1, 2]);
    expect(m.friend(pk)?.queued).toBe(0);
    m.handleAcked(pk, t.next);
    expect(ev.receipts).toEqual([1, 2, 3]);
    const texts = t.sent.filter((d) => d[0] === 64).map((d) => new TextDecoder().decode(d.subarray(1)));
    expect(texts).toEqual(["1", "2", "3"]);
  });

  it("going offline drops pending receipts (reported), keeps ids counting, keeps queued messages for the next session", () => {
    const { clock, t, ev, m, pk, online } = setup();
    online();
    m.sendMessage(pk, "x");
    t.window = 0;
    m.sendMessage(pk, "y");
    clock.advance(5000);
    m.handleConnection(pk, false);
    expect(ev.conn.at(-1)).toEqual([false, [1]]);
    expect(m.friend(pk)?.lastSeen).toBe(clock.unixSeconds());
    clock.advance(60_000);
    expect(m.friend(pk)?.lastSeen).toBe(clock.unixSeconds() - 60);
    expect(() => m.sendMessage(pk, "z")).toThrow(ToxProtocolError);
    t.window = 100;
    t.next = 0; // a new session numbers from 0 again
    online();
    expect(ev.conn.at(-1)).toEqual([true, []]);
    expect(m.sendMessage(pk, "w")).toEqual([3]);
    m.handleAcked(pk, t.next);
    expect(ev.receipts).toEqual([2, 3]);
    // OFFLINE packet: offline while the session stays up.
    m.handlePacket(pk, Uint8Array.of(25));
    expect(ev.conn.at(-1)).toEqual([false, []]);
  });

  it("presence changes are sent to online friends once, and again on every new session", () => {
    const { t, m, pk, online } = setup();
    online();
    const before = t.sent.length;
    m.setName("me");
    expect(t.sent.length).toBe(before);
    m.setName("new me");
    m.setStatusMessage("away for lunch");
    m.setStatus("away");
    m.setTyping(pk, true);
    expect(t.ids().slice(before)).toEqual([48, 49, 50, 51]);
    m.handleConnection(pk, false);
    online();
    expect(t.ids().slice(-6)).toEqual([24, 24, 48, 49, 50, 51]);
    expect(() => m.setName("x".repeat(129))).toThrow(/name over 128/);
  });

  it("splits long messages into ≤1372-byte pieces with consecutive ids", () => {
    const { t, m, pk, online } = setup();
    online();
    const ids = m.sendMessage(pk, "ä".repeat(1500));
    expect(ids).toEqual([1, 2, 3]);
    const pieces = t.sent.filter((d) => d[0] === 64);
    expect(pieces.map((p) => p.length - 1)).toEqual([1372, 1372, 256]);
  });

  it("packetAcked follows u32 sequence arithmetic", () => {
    expect(packetAcked(5, 6)).toBe(true);
    expect(packetAcked(6, 6)).toBe(false);
    expect(packetAcked(0xffffffff, 2)).toBe(true);
    expect(packetAcked(2, 0xffffffff)).toBe(false);
    fc.assert(
      fc.property(fc.nat(0xffffffff), fc.integer({ min: 1, max: 100000 }), (n, d) => {
        expect(packetAcked(n, (n + d) >>> 0)).toBe(true);
        expect(packetAcked((n + d) >>> 0, n)).toBe(false);
      }),
    );
  });

  it("fuzz: arbitrary packets in any state never throw (100k cases)", () => {
    const { m, pk, online } = setup();
    online();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1400 }), fc.boolean(), (data, up) => {
        if (!up && Math.random() < 0.01) m.handleConnection(pk, false);
        m.handlePacket(pk, data);
        if (Math.random() < 0.01) online();
        parseMessengerPacket(data);
      }),
      { numRuns: 100_000 },
    );
  });

  it("property: every message id ends in exactly one receipt or one 'unconfirmed' report, in order", () => {
    type Op =
      | { op: "send"; pieces: number }
      | { op: "ack"; upTo: number }
      | { op: "window"; size: number }
      | { op: "bounce" };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      { weight: 5, arbitrary: fc.integer({ min: 1, max: 3 }).map((pieces): Op => ({ op: "send", pieces })) },
      { weight: 3, arbitrary: fc.integer({ min: 0, max: 40 }).map((upTo): Op => ({ op: "ack", upTo })) },
      { weight: 2, arbitrary: fc.integer({ min: 0, max: 8 }).map((size): Op => ({ op: "window", size })) },
      { weight: 1, arbitrary: fc.constant<Op>({ op: "bounce" }) },
    );
    fc.assert(
      fc.property(fc.nat(0xffffffff), fc.array(opArb, { maxLength: 80 }), (start, ops) => {
        const { t, ev, m, pk, online } = setup();
        t.next = start; // packet numbers wrap around u32 somewhere in the run
        online();
        const issued: number[] = [];
        let acked = t.next;
        for (const o of ops) {
          if (o.op === "send") {
            if (!m.friend(pk)?.online) continue;
            const text = "x".repeat(o.pieces === 1 ? 10 : 1372 * (o.pieces - 1) + 5);
            issued.push(...m.sendMessage(pk, text));
          } else if (o.op === "ack") {
            // The peer acknowledges part of what was actually sent.
            const sent = (t.next - acked) >>> 0;
            acked = (acked + Math.min(o.upTo, sent)) >>> 0;
            m.handleAcked(pk, acked);
          } else if (o.op === "window") {
            t.window = o.size;
            m.tick();
          } else {
            m.handleConnection(pk, false);
            t.window = 1000;
            acked = t.next = (t.next + 12345) >>> 0; // a new session numbers afresh
            online();
          }
        }
        // Drain: open the window, ack everything.
        t.window = 100_000;
        m.tick();
        m.handleAcked(pk, t.next);
        const unconfirmed = ev.conn.flatMap(([, u]) => u);
        const outcomes = [...ev.receipts, ...unconfirmed].sort((a, b) => a - b);
        expect(outcomes).toEqual(issued);
        // Receipts fire in send order; ids count up from 1 with no gaps.
        expect(ev.receipts).toEqual([...ev.receipts].sort((a, b) => a - b));
        expect(issued).toEqual(issued.map((_, i) => i + 1));
        expect(m.friend(pk)?.queued).toBe(0);
        expect(m.friend(pk)?.awaitingReceipt).toBe(0);
      }),
      { numRuns: 2000 },
    );
  });
});
