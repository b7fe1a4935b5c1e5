import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fromHex } from "../../../src/tox/bytes.js";
import {
  type ConferencePacket,
  chunkPeerEntries,
  type GroupMessageBody,
  MAX_PEER_RESPONSE_BODY,
  type PeerEntry,
  parseConferencePacket,
  serializeConferencePacket,
} from "../../../src/tox/conference/packets.js";
import { unwrap } from "../../../src/tox/errors.js";

const pk = fc.uint8Array({ minLength: 32, maxLength: 32 });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const ref = { confType: fc.integer({ min: 0, max: 255 }), id: pk };
const nick = fc.uint8Array({ maxLength: 128 });
const KNOWN_MESSAGE_IDS = new Set([0, 16, 17, 18, 48, 49, 64, 65]);

const body: fc.Arbitrary<GroupMessageBody> = fc.oneof(
  fc.constant({ kind: "ping" as const }),
  fc.record({ kind: fc.constant("newPeer" as const), peerNumber: u16, realPk: pk, tempPk: pk }),
  fc.record({ kind: fc.constantFrom("killPeer" as const, "freezePeer" as const), peerNumber: u16 }),
  fc.record({ kind: fc.constant("name" as const), name: nick }),
  fc.record({ kind: fc.constant("title" as const), title: fc.uint8Array({ minLength: 1, maxLength: 128 }) }),
  fc.record({
    kind: fc.constantFrom("message" as const, "action" as const),
    text: fc.uint8Array({ minLength: 1, maxLength: 1363 }),
  }),
  fc.record({
    kind: fc.constant("other" as const),
    messageId: fc.integer({ min: 0, max: 255 }).filter((i) => !KNOWN_MESSAGE_IDS.has(i)),
    data: fc.uint8Array({ maxLength: 64 }),
  }),
);

const peerEntry: fc.Arbitrary<PeerEntry> = fc.record({ peerNumber: u16, realPk: pk, tempPk: pk, nick });

const packet: fc.Arbitrary<ConferencePacket> = fc.oneof(
  fc.record({ type: fc.constant("invite" as const), groupNumber: u16, ...ref }),
  fc.record({ type: fc.constant("inviteAccept" as const), joinerGroupNumber: u16, groupNumber: u16, ...ref }),
  fc.record({
    type: fc.constant("inviteMember" as const),
    joinerGroupNumber: u16,
    groupNumber: u16,
    peerNumber: u16,
    ...ref,
  }),
  fc.record({ type: fc.constant("online" as const), groupNumber: u16, ...ref }),
  fc.record({ type: fc.constant("rejoin" as const), ...ref }),
  fc.record({ type: fc.constantFrom("peerIntroduced" as const, "peerQuery" as const), groupNumber: u16 }),
  fc.record({
    type: fc.constant("peerResponse" as const),
    groupNumber: u16,
    peers: fc.array(peerEntry, { maxLength: 6 }),
  }),
  fc.record({ type: fc.constant("directTitle" as const), groupNumber: u16, title: nick }),
  fc.record({
    type: fc.constant("directOther" as const),
    groupNumber: u16,
    subId: fc.integer({ min: 0, max: 255 }).filter((i) => ![1, 8, 9, 10].includes(i)),
    data: fc.uint8Array({ maxLength: 40 }),
  }),
  fc.record({
    type: fc.constant("message" as const),
    groupNumber: u16,
    peerNumber: u16,
    messageNumber: u32,
    body,
  }),
  fc.record({
    type: fc.constant("lossy" as const),
    groupNumber: u16,
    peerNumber: u16,
    lossyNumber: u16,
    lossyType: fc.integer({ min: 0, max: 255 }),
    data: fc.uint8Array({ maxLength: 64 }),
  }),
);

const ID = fromHex("11".repeat(32));

describe("conference packets", () => {
  it("invite has c-toxcore's layout: 96 | 0 | gnum BE | type | id (37 bytes)", () => {
    const b = serializeConferencePacket({ type: "invite", groupNumber: 0x0102, confType: 0, id: ID });
    expect(b.length).toBe(37);
    expect([...b.subarray(0, 5)]).toEqual([96, 0, 1, 2, 0]);
  });

  it("invite accept / member: joiner gnum before inviter gnum, member adds its peer number", () => {
    const a = serializeConferencePacket({
      type: "inviteAccept",
      joinerGroupNumber: 3,
      groupNumber: 4,
      confType: 1,
      id: ID,
    });
    expect([...a.subarray(0, 7)]).toEqual([96, 1, 0, 3, 0, 4, 1]);
    expect(a.length).toBe(39);
    const m = serializeConferencePacket({
      type: "inviteMember",
      joinerGroupNumber: 3,
      groupNumber: 4,
      peerNumber: 0xabcd,
      confType: 1,
      id: ID,
    });
    expect(m.length).toBe(41);
    expect([...m.subarray(39)]).toEqual([0xab, 0xcd]);
  });

  it("message: 99 | gnum | peer | number u32 BE | id | data", () => {
    const b = serializeConferencePacket({
      type: "message",
      groupNumber: 1,
      peerNumber: 2,
      messageNumber: 0x01020304,
      body: { kind: "message", text: new TextEncoder().encode("hi") },
    });
    expect([...b]).toEqual([99, 0, 1, 0, 2, 1, 2, 3, 4, 64, 104, 105]);
  });

  it("rejects wrong fixed lengths as group.c does, keeps bodies of bad length as 'other'", () => {
    const inv = serializeConferencePacket({ type: "invite", groupNumber: 1, confType: 0, id: ID });
    expect(parseConferencePacket(inv.subarray(0, 36)).ok).toBe(false);
    expect(parseConferencePacket(Uint8Array.of(...inv, 0)).ok).toBe(false);
    const kill = unwrap(parseConferencePacket(Uint8Array.of(99, 0, 0, 0, 1, 0, 0, 0, 5, 17, 0, 1, 9)));
    expect(kill.type === "message" && kill.body.kind).toBe("other");
    const empty = unwrap(parseConferencePacket(Uint8Array.of(99, 0, 0, 0, 1, 0, 0, 0, 5, 64)));
    expect(empty.type === "message" && empty.body.kind).toBe("other");
  });

  it("peer response: trailing bytes shorter than an entry are ignored, an overlong nick is an error", () => {
    const p = serializeConferencePacket({
      type: "peerResponse",
      groupNumber: 7,
      peers: [{ peerNumber: 1, realPk: ID, tempPk: ID, nick: Uint8Array.of(65) }],
    });
    const parsed = unwrap(parseConferencePacket(Uint8Array.of(...p, 1, 2, 3)));
    expect(parsed.type === "peerResponse" && parsed.peers.length).toBe(1);
    const bad = Uint8Array.from(p);
    bad[4 + 66] = 50; // nick length past the end
    expect(parseConferencePacket(bad).ok).toBe(false);
  });

  it("chunks peer lists so every PEER_RESPONSE fits one packet", () => {
    const peers = Array.from({ length: 40 }, (_, i) => ({
      peerNumber: i,
      realPk: ID,
      tempPk: ID,
      nick: new Uint8Array(128),
    }));
    const chunks = chunkPeerEntries(peers);
    expect(chunks.flat().length).toBe(40);
    for (const c of chunks) {
      const size = c.reduce((n, e) => n + 67 + e.nick.length, 0);
      expect(size).toBeLessThanOrEqual(MAX_PEER_RESPONSE_BODY);
      expect(
        serializeConferencePacket({ type: "peerResponse", groupNumber: 0, peers: c }).length,
      ).toBeLessThanOrEqual(1373);
    }
  });

  it("round-trips every packet kind (property)", () => {
    fc.assert(
      fc.property(packet, (p) => {
        expect(unwrap(parseConferencePacket(serializeConferencePacket(p)))).toEqual(p);
      }),
      { numRuns: 20_000 },
    );
  });

  it("never throws on arbitrary input, and what parses re-serializes to a parseable equal packet (100k)", () => {
    const idByte = fc.constantFrom(96, 97, 98, 99, 100, 199, 0, 255);
    fc.assert(
      fc.property(idByte, fc.uint8Array({ maxLength: 200 }), (id, rest) => {
        const input = Uint8Array.of(id, ...rest);
        const r = parseConferencePacket(input);
        if (r.ok) expect(unwrap(parseConferencePacket(serializeConferencePacket(r.value)))).toEqual(r.value);
      }),
      { numRuns: 100_000 },
    );
  });
});
