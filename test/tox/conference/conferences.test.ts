import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { toHex } from "../../../src/tox/bytes.js";
import { FREEZE_TIMEOUT_MS } from "../../../src/tox/conference/conferences.js";
import {
  type GroupMessageBody,
  PACKET_ID_MESSAGE_CONFERENCE,
  parseConferencePacket,
  serializeConferencePacket,
} from "../../../src/tox/conference/packets.js";
import { SAVE_OFFSET_MESSAGE_NUMBER } from "../../../src/tox/state/savefile.js";
import { FakeNet, type FakeNode } from "./fake-net.js";

/** `a` creates a conference and invites each of `others` (friends of `a`), who join. */
function setup(n: number, confType = 0) {
  const net = new FakeNet();
  const nodes = Array.from({ length: n }, (_, i) => net.add(`peer${i}`));
  const [a, ...others] = nodes as [FakeNode, ...FakeNode[]];
  for (const o of others) net.befriend(a, o);
  const conf = a.conf.create(confType);
  const joined = new Map<FakeNode, number>([[a, conf]]);
  for (const o of others) {
    a.conf.invite(conf, o.pk);
    net.pump();
    const inv = o.invites.at(-1)!;
    joined.set(o, o.conf.join(inv.from, inv.cookie));
    net.pump();
    net.run(1000);
  }
  return { net, nodes, a, others, conf, joined, num: (x: FakeNode) => joined.get(x)! };
}

describe("Conferences (in-memory network)", () => {
  it("invite, join, peer list with names, title from the inviter, messages and actions both ways", () => {
    const net = new FakeNet();
    const a = net.add("alice");
    const b = net.add("bob");
    net.befriend(a, b);
    const ca = a.conf.create();
    a.conf.setTitle(ca, "Tea room");
    a.conf.invite(ca, b.pk);
    net.pump();
    expect(b.invites).toHaveLength(1);
    expect(b.invites[0]!.cookie).toHaveLength(35);
    const cb = b.conf.join(a.pk, b.invites[0]!.cookie);
    net.pump();
    expect(b.connected).toEqual([cb]);
    net.run(1000);
    expect(b.conf.info(cb)!.title).toBe("Tea room");
    expect(b.conf.info(cb)!.id).toEqual(a.conf.info(ca)!.id);
    const names = (x: FakeNode, c: number) =>
      x.conf
        .peers(c)
        .map((p) => p.name)
        .sort();
    expect(names(a, ca)).toEqual(["alice", "bob"]);
    expect(names(b, cb)).toEqual(["alice", "bob"]);
    expect(b.conf.info(cb)!.peerNumber).not.toBe(0);

    a.conf.sendMessage(ca, "hello bob");
    b.conf.sendMessage(cb, "waves", "action");
    net.pump();
    expect(b.texts()).toEqual(["hello bob"]);
    expect(a.messages.filter((m) => !m.self)).toMatchObject([{ kind: "action", text: "waves", from: b.hex }]);
    // The single connection echoes a message back to its sender, as group.c does.
    expect(a.messages.filter((m) => m.self).map((m) => m.text)).toEqual(["hello bob"]);
  });

  it("a second invitee (not a friend of the first) gets every peer, names and messages; title changes spread", () => {
    const { net, a, others, num } = setup(3);
    const [b, c] = others as [FakeNode, FakeNode];
    for (const x of [a, b, c])
      expect(
        x.conf
          .peers(num(x))
          .map((p) => p.name)
          .sort(),
      ).toEqual(["peer0", "peer1", "peer2"]);
    c.conf.sendMessage(num(c), "from c");
    b.conf.sendMessage(num(b), "from b");
    net.pump();
    expect(b.texts()).toEqual(["from c"]);
    expect(c.texts()).toEqual(["from b"]);
    expect(a.texts().sort()).toEqual(["from b", "from c"]);
    b.conf.setTitle(num(b), "renamed");
    net.pump();
    expect(a.conf.info(num(a))!.title).toBe("renamed");
    expect(c.conf.info(num(c))!.title).toBe("renamed");
    expect(c.titles.at(-1)).toEqual({ conference: num(c), title: "renamed", by: b.hex });
    // Name changes reach everyone.
    c.name = "carol";
    c.conf.nameChanged();
    net.pump();
    expect(a.conf.peers(num(a)).find((p) => toHex(p.publicKey) === c.hex)!.name).toBe("carol");
    expect(b.names.at(-1)).toMatchObject({ peer: c.hex, name: "carol" });
  });

  it("non-friend members open direct sessions to each other (ring neighbours)", () => {
    const { net, others, num } = setup(3);
    const [b, c] = others as [FakeNode, FakeNode];
    net.run(2000);
    expect(net.isUp(b, c)).toBe(true);
    expect(b.conf.onlineConnections(num(b))).toBe(2);
  });

  it("leaving: the others see the peer go (KILL_PEER) and its session closes", () => {
    const { net, a, others, num } = setup(3);
    const [b, c] = others as [FakeNode, FakeNode];
    net.run(2000);
    c.conf.leave(num(c));
    net.pump();
    expect(a.left.map((l) => toHex(l.peer.publicKey))).toEqual([c.hex]);
    expect(b.conf.peers(num(b))).toHaveLength(2);
    expect(c.conf.list()).toEqual([]);
    net.run(1000);
    expect(net.isUp(b, c)).toBe(false);
  });

  it("pings keep peers; a peer silent for 60 s is frozen and thaws when it speaks again", () => {
    const { net, a, others, num } = setup(2);
    const b = others[0]!;
    net.run(3 * FREEZE_TIMEOUT_MS);
    expect(a.conf.peers(num(a))).toHaveLength(2);
    net.paused.add(b);
    net.run(FREEZE_TIMEOUT_MS + 2000);
    expect(a.conf.peers(num(a))).toHaveLength(1);
    expect(a.conf.peers(num(a), true).map((p) => p.name)).toEqual(["peer1"]);
    net.paused.delete(b);
    b.conf.sendMessage(num(b), "back");
    net.pump();
    expect(a.texts()).toEqual(["back"]);
    expect(a.conf.peers(num(a))).toHaveLength(2);
  });

  it("a lost session freezes everyone; when it returns REJOIN brings the peer back", () => {
    const { net, a, others, num } = setup(2);
    const b = others[0]!;
    net.setCut(a, b, true);
    expect(a.conf.peers(num(a))).toHaveLength(1);
    expect(() => a.conf.sendMessage(num(a), "nobody")).toThrow(/reachable/);
    net.setCut(a, b, false);
    net.run(1000);
    expect(a.conf.peers(num(a))).toHaveLength(2);
    expect(b.conf.peers(num(b))).toHaveLength(2);
    a.conf.sendMessage(num(a), "again");
    net.pump();
    expect(b.texts()).toEqual(["again"]);
  });

  it("after a restart the saved conference rejoins, keeps its peer number, and message numbers keep rising", () => {
    const { net, a, others, num } = setup(2);
    const b = others[0]!;
    for (let i = 0; i < 5; i++) b.conf.sendMessage(num(b), `m${i}`);
    net.pump();
    const before = b.conf.info(num(b))!;
    const saved = b.conf.save();
    expect(saved).toHaveLength(1);
    expect(saved[0]!.messageNumber).toBe(before.messageNumber + SAVE_OFFSET_MESSAGE_NUMBER);
    expect(saved[0]!.peers.map((p) => toHex(p.realPk))).toEqual([a.hex]);

    let restored = -1;
    net.restart(b, () => {
      [restored] = b.conf.restore(saved) as [number];
      expect(b.conf.info(restored)!.peerNumber).toBe(before.peerNumber);
      expect(b.conf.peers(restored, true).map((p) => p.name)).toEqual(["peer0"]);
    });
    net.run(1000);
    expect(b.conf.peers(restored)).toHaveLength(2);
    const [n] = b.conf.sendMessage(restored, "after restart") as [number];
    expect(n).toBeGreaterThan(before.messageNumber + SAVE_OFFSET_MESSAGE_NUMBER);
    net.pump();
    expect(a.texts().at(-1)).toBe("after restart");
  });

  it("drops duplicate and old message numbers (8-entry window)", () => {
    const { net, a, others, num } = setup(2);
    const b = others[0]!;
    const bNumber = b.conf.info(num(b))!.peerNumber;
    const msg = (n: number, text: string) =>
      serializeConferencePacket({
        type: "message",
        groupNumber: num(a),
        peerNumber: bNumber,
        messageNumber: n,
        body: { kind: "message", text: new TextEncoder().encode(text) },
      });
    const start = a.texts().length;
    for (const [n, t] of [
      [1000, "x"],
      [1000, "dup"],
      [1001, "y"],
      [999, "late but new"],
      [1001, "dup2"],
    ] as const)
      a.conf.handlePacket(b.pk, msg(n, t));
    net.pump();
    expect(a.texts().slice(start)).toEqual(["x", "y", "late but new"]);
    for (let i = 0; i < 10; i++) a.conf.handlePacket(b.pk, msg(2000 + i, `n${i}`));
    a.conf.handlePacket(b.pk, msg(1500, "too old"));
    net.pump();
    expect(a.texts()).not.toContain("too old");
  });

  it("ignores malformed packets and packets for unknown conferences", () => {
    const { a, others, num } = setup(2);
    const b = others[0]!;
    const before = a.texts().length;
    a.conf.handlePacket(b.pk, Uint8Array.of(PACKET_ID_MESSAGE_CONFERENCE, 0));
    a.conf.handlePacket(b.pk, Uint8Array.of(97, 1, 2));
    a.conf.handleFriendPacket(b.pk, Uint8Array.of(96, 9));
    const other = parseConferencePacket(
      serializeConferencePacket({
        type: "message",
        groupNumber: num(a) + 5,
        peerNumber: 1,
        messageNumber: 1,
        body: { kind: "message", text: Uint8Array.of(65) },
      }),
    );
    expect(other.ok).toBe(true);
    expect(a.texts().length).toBe(before);
  });

  it("timers: no busy loop while alone or cut off; the next ping is due within 20 s", () => {
    const net = new FakeNet();
    const a = net.add("alone");
    a.conf.create();
    net.run(1000);
    expect(a.conf.nextTickIn()).toBe(1000);
    const { net: net2, a: b, others, num } = setup(2);
    net2.run(1000);
    expect(b.conf.nextTickIn()).toBeGreaterThan(100);
    expect(b.conf.nextTickIn()).toBeLessThanOrEqual(1000);
    net2.setCut(b, others[0]!, true);
    net2.run(1000);
    expect(b.conf.peers(num(b))).toHaveLength(1);
    expect(b.conf.nextTickIn()).toBe(1000);
  });

  it("AV conferences flood lossy data once to every member; text conferences ignore it", () => {
    const { net, a, others, num } = setup(3, 1);
    const [b, c] = others as [FakeNode, FakeNode];
    net.run(2000);
    net.setCut(b, c, true); // b reaches c only through a
    net.run(1000);
    expect(b.conf.sendLossy(num(b), 192, Uint8Array.of(1, 2, 3))).toBe(true);
    expect(b.conf.sendLossy(num(b), 192, Uint8Array.of(4))).toBe(true);
    net.pump();
    expect(a.lossy).toEqual([
      { from: b.hex, type: 192, data: [1, 2, 3] },
      { from: b.hex, type: 192, data: [4] },
    ]);
    expect(c.lossy).toEqual(a.lossy);
    expect(b.lossy).toEqual([]);

    const text = setup(2);
    const [tb] = text.others as [FakeNode];
    tb.conf.sendLossy(text.num(tb), 192, Uint8Array.of(9));
    text.net.pump();
    expect(text.a.lossy).toEqual([]);
  });

  it("property: in any conference of 2-5 members, every message reaches every other member exactly once, in order", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 5 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 30 }),
        fc.boolean(),
        (n, senders, settle) => {
          const { net, nodes, num } = setup(n);
          if (settle) net.run(2000); // ring-neighbour sessions up, or not yet
          const sent = new Map<FakeNode, string[]>();
          senders.forEach((s, i) => {
            const from = nodes[s % n]!;
            const text = `m${i}`;
            from.conf.sendMessage(num(from), text);
            sent.set(from, [...(sent.get(from) ?? []), text]);
          });
          net.pump();
          for (const to of nodes) {
            for (const from of nodes) {
              if (from === to) continue;
              const got = to.messages.filter((m) => m.from === from.hex).map((m) => m.text);
              expect(got).toEqual(sent.get(from) ?? []);
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it("fuzz: arbitrary conference packets from a member never throw and keep us in the conference", () => {
    const { net, a, others, num } = setup(2);
    const b = others[0]!;
    const conf = num(a);
    const bNumber = b.conf.info(num(b))!.peerNumber;
    const id = a.conf.info(conf)!.id;
    const u16 = fc.integer({ min: 0, max: 0xffff });
    const nearby = fc.oneof(fc.constant(conf), u16);
    const packet = fc.oneof(
      fc
        .tuple(fc.constantFrom(96, 97, 98, 99, 100, 199), fc.uint8Array({ maxLength: 80 }))
        .map(([pid, r]) => Uint8Array.of(pid, ...r)),
      fc
        .record({
          g: nearby,
          peer: fc.oneof(fc.constant(bNumber), u16),
          n: fc.nat(),
          mid: fc.nat(255),
          data: fc.uint8Array({ maxLength: 70 }),
        })
        .map(({ g, peer, n, mid, data }) =>
          Uint8Array.of(
            99,
            g >> 8,
            g & 255,
            peer >> 8,
            peer & 255,
            n >>> 24,
            (n >>> 16) & 255,
            (n >>> 8) & 255,
            n & 255,
            mid,
            ...data,
          ),
        ),
      fc
        .record({ g: nearby, sub: fc.nat(12), data: fc.uint8Array({ maxLength: 140 }) })
        .map(({ g, sub, data }) => Uint8Array.of(98, g >> 8, g & 255, sub, ...data)),
      fc.record({ g: u16, t: fc.nat(2) }).map(({ g, t }) => Uint8Array.of(97, g >> 8, g & 255, t, ...id)),
      fc.constant(Uint8Array.of(100, 0, ...id)),
    );
    fc.assert(
      fc.property(fc.array(packet, { maxLength: 8 }), fc.boolean(), (pkts, viaFriendPath) => {
        for (const p of pkts) {
          if (viaFriendPath) a.conf.handleFriendPacket(b.pk, p);
          else a.conf.handlePacket(b.pk, p);
        }
        net.pump();
        const info = a.conf.info(conf)!;
        expect(info.connected).toBe(true);
        expect(a.conf.peers(conf).some((p) => p.self)).toBe(true);
      }),
      { numRuns: 10_000 },
    );
  });

  it("nobody can remove us from our own list: forged KILL/FREEZE for our number, NEW_PEER with our key", () => {
    const { net, a, others, num } = setup(2);
    const b = others[0]!;
    const conf = num(a);
    const self = a.conf.info(conf)!.peerNumber;
    const send = (messageNumber: number, body: GroupMessageBody) =>
      a.conf.handlePacket(
        b.pk,
        serializeConferencePacket({
          type: "message",
          groupNumber: conf,
          peerNumber: self,
          messageNumber,
          body,
        }),
      );
    send(1_000_000, { kind: "killPeer", peerNumber: self });
    send(1_000_001, { kind: "freezePeer", peerNumber: self });
    send(1_000_002, { kind: "newPeer", peerNumber: (self + 1) & 0xffff, realPk: a.pk, tempPk: a.dhtPk });
    net.pump();
    expect(a.conf.peers(conf).filter((p) => p.self)).toHaveLength(1);
    expect(a.conf.peers(conf)).toHaveLength(2);
  });
});
