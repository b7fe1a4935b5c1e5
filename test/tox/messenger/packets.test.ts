import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { unwrap } from "../../../src/tox/errors.js";
import {
  MAX_MESSAGE_LENGTH,
  MAX_NAME_LENGTH,
  MAX_STATUSMESSAGE_LENGTH,
  type MessengerPacket,
  PACKET_ID_ACTION,
  PACKET_ID_MESSAGE,
  PACKET_ID_ONLINE,
  PACKET_ID_USERSTATUS,
  parseMessengerPacket,
  serializeMessengerPacket,
} from "../../../src/tox/messenger/packets.js";

const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });

const packetArb: fc.Arbitrary<MessengerPacket> = fc.oneof(
  fc.constant<MessengerPacket>({ type: "online" }),
  fc.constant<MessengerPacket>({ type: "offline" }),
  bytes(0, MAX_NAME_LENGTH).map((name): MessengerPacket => ({ type: "nickname", name })),
  bytes(0, MAX_STATUSMESSAGE_LENGTH).map((message): MessengerPacket => ({ type: "statusMessage", message })),
  fc.constantFrom("none", "away", "busy").map((status): MessengerPacket => ({ type: "userStatus", status })),
  fc.boolean().map((typing): MessengerPacket => ({ type: "typing", typing })),
  fc
    .record({ kind: fc.constantFrom("normal", "action"), text: bytes(1, MAX_MESSAGE_LENGTH) })
    .map((m): MessengerPacket => ({ type: "message", ...m })),
);

describe("messenger packets", () => {
  it("uses the ids of Messenger.h 0.2.18", () => {
    expect(serializeMessengerPacket({ type: "online" })).toEqual(Uint8Array.of(24));
    expect(serializeMessengerPacket({ type: "offline" })).toEqual(Uint8Array.of(25));
    expect(serializeMessengerPacket({ type: "nickname", name: Uint8Array.of(0x41) })).toEqual(
      Uint8Array.of(48, 0x41),
    );
    expect(serializeMessengerPacket({ type: "statusMessage", message: new Uint8Array(0) })).toEqual(
      Uint8Array.of(49),
    );
    expect(serializeMessengerPacket({ type: "userStatus", status: "busy" })).toEqual(Uint8Array.of(50, 2));
    expect(serializeMessengerPacket({ type: "typing", typing: true })).toEqual(Uint8Array.of(51, 1));
    expect(serializeMessengerPacket({ type: "message", kind: "normal", text: Uint8Array.of(0x68) })).toEqual(
      Uint8Array.of(64, 0x68),
    );
    expect(serializeMessengerPacket({ type: "message", kind: "action", text: Uint8Array.of(0x68) })).toEqual(
      Uint8Array.of(65, 0x68),
    );
  });

  it("round-trips every packet", () => {
    fc.assert(
      fc.property(packetArb, (p) => {
        expect(unwrap(parseMessengerPacket(serializeMessengerPacket(p)))).toEqual(p);
      }),
      { numRuns: 2000 },
    );
  });

  it("rejects what m_handle_packet ignores", () => {
    expect(parseMessengerPacket(new Uint8Array(0)).ok).toBe(false);
    expect(parseMessengerPacket(Uint8Array.of(PACKET_ID_ONLINE, 0)).ok).toBe(false);
    expect(parseMessengerPacket(Uint8Array.of(PACKET_ID_USERSTATUS, 3)).ok).toBe(false);
    expect(parseMessengerPacket(Uint8Array.of(PACKET_ID_USERSTATUS)).ok).toBe(false);
    expect(parseMessengerPacket(Uint8Array.of(PACKET_ID_MESSAGE)).ok).toBe(false);
    expect(parseMessengerPacket(new Uint8Array(MAX_NAME_LENGTH + 2).fill(48, 0, 1)).ok).toBe(false);
    const typing = unwrap(parseMessengerPacket(Uint8Array.of(51, 7)));
    expect(typing).toEqual({ type: "typing", typing: true });
    expect(unwrap(parseMessengerPacket(Uint8Array.of(PACKET_ID_ACTION, 0)))).toMatchObject({
      kind: "action",
    });
    expect(unwrap(parseMessengerPacket(Uint8Array.of(80, 1, 2)))).toEqual({
      type: "other",
      id: 80,
      data: Uint8Array.of(1, 2),
    });
  });

  it("never throws on arbitrary input (fuzz, 100k cases)", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          bytes(0, 1400),
          fc.tuple(fc.integer({ min: 16, max: 100 }), bytes(0, 4)).map(([id, b]) => Uint8Array.of(id, ...b)),
        ),
        (data) => {
          const r = parseMessengerPacket(data);
          // TYPING is the one lossy field: any non-zero byte means "typing".
          if (r.ok && data[0] !== 51) expect(serializeMessengerPacket(r.value)).toEqual(data);
        },
      ),
      { numRuns: 100_000 },
    );
  });
});
