import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type FilePacket,
  MAX_FILE_DATA_SIZE,
  parseFilePacket,
  serializeFilePacket,
  UNKNOWN_FILE_SIZE,
} from "../../../src/tox/files/packets.js";

const u8 = fc.integer({ min: 0, max: 255 });
const u64 = fc.bigInt({ min: 0n, max: UNKNOWN_FILE_SIZE });
const packetArb: fc.Arbitrary<FilePacket> = fc.oneof(
  fc.record({
    type: fc.constant("sendRequest" as const),
    fileNumber: u8,
    kind: fc.integer({ min: 0, max: 0xffffffff }),
    size: u64,
    fileId: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    name: fc.uint8Array({ maxLength: 255 }),
  }),
  fc.record({
    type: fc.constant("control" as const),
    senderReceives: fc.boolean(),
    fileNumber: u8,
    control: fc.constantFrom("accept" as const, "pause" as const, "kill" as const),
  }),
  fc.record({
    type: fc.constant("control" as const),
    senderReceives: fc.boolean(),
    fileNumber: u8,
    control: fc.constant("seek" as const),
    position: u64,
  }),
  fc.record({
    type: fc.constant("data" as const),
    fileNumber: u8,
    data: fc.uint8Array({ maxLength: MAX_FILE_DATA_SIZE }),
  }),
);

describe("file packets", () => {
  it("matches c-toxcore's byte layouts", () => {
    const fileId = new Uint8Array(32).fill(0xaa);
    const req = serializeFilePacket({
      type: "sendRequest",
      fileNumber: 3,
      kind: 1,
      size: 0x0102030405060708n,
      fileId,
      name: new TextEncoder().encode("a.png"),
    });
    expect([...req.subarray(0, 14)]).toEqual([80, 3, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(req.length).toBe(1 + 1 + 4 + 8 + 32 + 5);
    expect(new TextDecoder().decode(req.subarray(46))).toBe("a.png");
    // dir 1 = the sender of the control receives the file; seek = 3 with a BE u64.
    const seek = serializeFilePacket({
      type: "control",
      senderReceives: true,
      fileNumber: 7,
      control: "seek",
      position: 1371n * 2n,
    });
    expect([...seek]).toEqual([81, 1, 7, 3, 0, 0, 0, 0, 0, 0, 0x0a, 0xb6]);
    expect([
      ...serializeFilePacket({ type: "control", senderReceives: false, fileNumber: 0, control: "kill" }),
    ]).toEqual([81, 0, 0, 2]);
    expect([...serializeFilePacket({ type: "data", fileNumber: 9, data: Uint8Array.of(1, 2) })]).toEqual([
      82, 9, 1, 2,
    ]);
  });

  it("round-trips every valid packet", () => {
    fc.assert(
      fc.property(packetArb, (p) => {
        const parsed = parseFilePacket(serializeFilePacket(p));
        expect(parsed.ok).toBe(true);
        if (parsed.ok) expect(parsed.value).toEqual(p);
      }),
      { numRuns: 20_000 },
    );
  });

  it("applies c-toxcore's limits", () => {
    const long = new Uint8Array(1 + 1 + 4 + 8 + 32 + 256);
    long[0] = 80;
    expect(parseFilePacket(long).ok).toBe(false); // name over 255
    expect(parseFilePacket(long.subarray(0, 45)).ok).toBe(false); // header short
    expect(parseFilePacket(long.subarray(0, 46)).ok).toBe(true); // empty name
    expect(parseFilePacket(Uint8Array.of(81, 0, 0)).ok).toBe(false);
    expect(parseFilePacket(Uint8Array.of(81, 1, 0, 4)).ok).toBe(false); // unknown control
    expect(parseFilePacket(Uint8Array.of(81, 1, 0, 3, 0, 0)).ok).toBe(false); // short seek
    expect(parseFilePacket(Uint8Array.of(81, 1, 0, 1, 9, 9)).ok).toBe(true); // trailing bytes ignored
    expect(parseFilePacket(Uint8Array.of(82)).ok).toBe(false);
    expect(parseFilePacket(Uint8Array.of(82, 0)).ok).toBe(true); // empty chunk ends a file
    expect(parseFilePacket(new Uint8Array(2 + MAX_FILE_DATA_SIZE + 1).fill(82)).ok).toBe(false);
    expect(() => serializeFilePacket({ type: "data", fileNumber: 256, data: new Uint8Array(0) })).toThrow(
      RangeError,
    );
  });

  it("never throws on arbitrary input (fuzz, 100k cases)", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 400 }),
          fc
            .tuple(fc.integer({ min: 80, max: 82 }), fc.uint8Array({ maxLength: 400 }))
            .map(([id, rest]) => Uint8Array.of(id, ...rest)),
        ),
        (bytes) => {
          const r = parseFilePacket(bytes);
          if (r.ok) {
            // Whatever parses re-serializes to a packet that parses to the same value.
            const again = parseFilePacket(serializeFilePacket(r.value));
            expect(again.ok && again.value).toEqual(r.value);
          }
        },
      ),
      { numRuns: 100_000 },
    );
  });
});
