import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bytesEqual } from "../../../src/tox/bytes.js";
import { incrementNonce, newKeyPair, precompute, randomBytes, randomNonce } from "../../../src/tox/crypto.js";
import { unwrap } from "../../../src/tox/errors.js";
import {
  openFrame,
  parseClientHandshake,
  parseServerHandshake,
  parseTcpPacket,
  peekClientHandshakeSender,
  sealFrame,
  serializeClientHandshake,
  serializeServerHandshake,
  serializeTcpPacket,
  TCP_CLIENT_HANDSHAKE_SIZE,
  TCP_MAX_PACKET_SIZE,
  TCP_ONION_REQUEST_MIN_SIZE,
  TCP_SERVER_HANDSHAKE_SIZE,
  type TcpPacket,
  TcpStreamReader,
} from "../../../src/tox/wire/tcp.js";

const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
const pk = bytes(32, 32);
const connId = fc.integer({ min: 16, max: 255 });
const nonZeroPing = bytes(8, 8).filter((b) => b.some((x) => x !== 0));

const arbPacket: fc.Arbitrary<TcpPacket> = fc.oneof(
  pk.map((publicKey) => ({ type: "routing-request" as const, publicKey })),
  fc
    .record({ connectionId: fc.oneof(fc.constant(0), connId), publicKey: pk })
    .map((v) => ({ type: "routing-response" as const, ...v })),
  connId.map((connectionId) => ({ type: "connect-notification" as const, connectionId })),
  connId.map((connectionId) => ({ type: "disconnect-notification" as const, connectionId })),
  bytes(8, 8).map((pingId) => ({ type: "ping" as const, pingId })),
  nonZeroPing.map((pingId) => ({ type: "pong" as const, pingId })),
  fc.record({ publicKey: pk, data: bytes(1, 1024) }).map((v) => ({ type: "oob-send" as const, ...v })),
  fc.record({ publicKey: pk, data: bytes(1, 1024) }).map((v) => ({ type: "oob-recv" as const, ...v })),
  fc
    .record({ nonce: bytes(24, 24), payload: bytes(TCP_ONION_REQUEST_MIN_SIZE - 25, 1500) })
    .map((v) => ({ type: "onion-request" as const, ...v })),
  bytes(1, 1500).map((data) => ({ type: "onion-response" as const, data })),
  bytes(1, 600).map((data) => ({ type: "forward-request" as const, data })),
  bytes(1, 600).map((data) => ({ type: "forwarding" as const, data })),
  fc.record({ connectionId: connId, data: bytes(1, 2031) }).map((v) => ({ type: "data" as const, ...v })),
);

describe("TCP handshake", () => {
  it("client hello round-trips and is 128 bytes; relay answer is 96 bytes", () => {
    const client = newKeyPair();
    const relay = newKeyPair();
    const temp = newKeyPair();
    const baseNonce = randomNonce();
    const hello = serializeClientHandshake(
      { clientPk: client.publicKey, tempPk: temp.publicKey, baseNonce },
      precompute(relay.publicKey, client.secretKey),
      randomNonce(),
    );
    expect(hello.length).toBe(TCP_CLIENT_HANDSHAKE_SIZE);
    const sender = unwrap(peekClientHandshakeSender(hello));
    expect(bytesEqual(sender, client.publicKey)).toBe(true);
    const parsed = unwrap(parseClientHandshake(hello, precompute(sender, relay.secretKey)));
    expect(bytesEqual(parsed.tempPk, temp.publicKey)).toBe(true);
    expect(bytesEqual(parsed.baseNonce, baseNonce)).toBe(true);

    const relayTemp = newKeyPair();
    const answer = serializeServerHandshake(
      { tempPk: relayTemp.publicKey, baseNonce: baseNonce },
      precompute(client.publicKey, relay.secretKey),
      randomNonce(),
    );
    expect(answer.length).toBe(TCP_SERVER_HANDSHAKE_SIZE);
    const keys = unwrap(parseServerHandshake(answer, precompute(relay.publicKey, client.secretKey)));
    expect(bytesEqual(keys.tempPk, relayTemp.publicKey)).toBe(true);
  });

  it("rejects wrong lengths, wrong keys and tampering", () => {
    const client = newKeyPair();
    const relay = newKeyPair();
    const shared = precompute(relay.publicKey, client.secretKey);
    const hello = serializeClientHandshake(
      { clientPk: client.publicKey, tempPk: randomBytes(32), baseNonce: randomNonce() },
      shared,
      randomNonce(),
    );
    expect(parseClientHandshake(hello.subarray(0, 127), shared).ok).toBe(false);
    expect(parseClientHandshake(new Uint8Array([...hello, 0]), shared).ok).toBe(false);
    expect(peekClientHandshakeSender(hello.subarray(1)).ok).toBe(false);
    expect(parseClientHandshake(hello, precompute(newKeyPair().publicKey, relay.secretKey)).ok).toBe(false);
    const tampered = Uint8Array.from(hello);
    tampered[100]! ^= 1;
    expect(parseClientHandshake(tampered, shared).ok).toBe(false);
    expect(parseServerHandshake(new Uint8Array(96), shared).ok).toBe(false);
    expect(parseServerHandshake(new Uint8Array(95), shared).ok).toBe(false);
  });
});

describe("TCP frames", () => {
  it("seal/open with per-frame nonce increments, reassembled from arbitrary chunking", () => {
    fc.assert(
      fc.property(
        fc.array(bytes(1, 300), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 10 }),
        (packets, cuts) => {
          const key = randomBytes(32);
          const sendNonce = randomNonce();
          const recvNonce = Uint8Array.from(sendNonce);
          const stream: number[] = [];
          for (const p of packets) {
            stream.push(...sealFrame(key, sendNonce, p));
            incrementNonce(sendNonce);
          }
          const reader = new TcpStreamReader();
          const got: Uint8Array[] = [];
          let pos = 0;
          let i = 0;
          while (pos < stream.length) {
            const n = cuts[i++ % cuts.length]!;
            reader.push(Uint8Array.from(stream.slice(pos, pos + n)));
            pos += n;
            for (;;) {
              const body = unwrap(reader.takeFrame());
              if (body === null) break;
              got.push(unwrap(openFrame(key, recvNonce, body)));
              incrementNonce(recvNonce);
            }
          }
          expect(got.length).toBe(packets.length);
          for (const [k, g] of got.entries()) expect(bytesEqual(g, packets[k]!)).toBe(true);
          expect(reader.buffered).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a frame opened with the wrong nonce fails; bad lengths are errors", () => {
    const key = randomBytes(32);
    const nonce = randomNonce();
    const frame = sealFrame(key, nonce, new Uint8Array([4, 1, 2, 3, 4, 5, 6, 7, 8]));
    const wrong = Uint8Array.from(nonce);
    incrementNonce(wrong);
    expect(openFrame(key, wrong, frame.subarray(2)).ok).toBe(false);
    const r = new TcpStreamReader();
    r.push(new Uint8Array([0x08, 0x01]));
    expect(r.takeFrame().ok).toBe(false);
    const r2 = new TcpStreamReader();
    r2.push(new Uint8Array([0x00, 0x00]));
    expect(r2.takeFrame().ok).toBe(false);
    expect(() => sealFrame(key, nonce, new Uint8Array(TCP_MAX_PACKET_SIZE + 1))).toThrow(RangeError);
    expect(() => sealFrame(key, nonce, new Uint8Array(0))).toThrow(RangeError);
    // Raw handshake bytes first, then frames, out of one buffer.
    const r3 = new TcpStreamReader();
    r3.push(new Uint8Array([...new Uint8Array(96).fill(7), ...frame]));
    expect(r3.takeRaw(96)?.length).toBe(96);
    expect(unwrap(r3.takeFrame())?.length).toBe(frame.length - 2);
  });
});

describe("TCP packets", () => {
  it("round-trip every packet type (fast-check)", () => {
    fc.assert(
      fc.property(arbPacket, (p) => {
        const wire = serializeTcpPacket(p);
        expect(unwrap(parseTcpPacket(wire))).toEqual(p);
      }),
      { numRuns: 20_000 },
    );
  });

  it("matches the c-toxcore byte layout", () => {
    const key = new Uint8Array(32).fill(0xab);
    expect([...serializeTcpPacket({ type: "routing-request", publicKey: key })]).toEqual([0, ...key]);
    expect([...serializeTcpPacket({ type: "routing-response", connectionId: 16, publicKey: key })]).toEqual([
      1,
      16,
      ...key,
    ]);
    expect([...serializeTcpPacket({ type: "connect-notification", connectionId: 17 })]).toEqual([2, 17]);
    expect([...serializeTcpPacket({ type: "disconnect-notification", connectionId: 255 })]).toEqual([3, 255]);
    const id = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    expect([...serializeTcpPacket({ type: "pong", pingId: id })]).toEqual([5, ...id]);
    expect([...serializeTcpPacket({ type: "oob-send", publicKey: key, data: new Uint8Array([9]) })]).toEqual([
      6,
      ...key,
      9,
    ]);
    expect([
      ...serializeTcpPacket({ type: "data", connectionId: 200, data: new Uint8Array([0x1b, 1]) }),
    ]).toEqual([200, 0x1b, 1]);
  });

  it("rejects what c-toxcore rejects", () => {
    const bad = (b: number[]) => expect(parseTcpPacket(new Uint8Array(b)).ok).toBe(false);
    bad([]);
    bad([0, ...new Uint8Array(31)]); // routing request one short
    bad([1, 16, ...new Uint8Array(33)]); // routing response one long
    bad([1, 5, ...new Uint8Array(32)]); // reserved connection id
    bad([2]);
    bad([2, 15]);
    bad([3, 16, 0]);
    bad([4, 1, 2, 3, 4, 5, 6, 7]);
    bad([5, 0, 0, 0, 0, 0, 0, 0, 0]); // zero pong
    bad([6, ...new Uint8Array(32)]); // OOB without data
    bad([7, ...new Uint8Array(32 + 1025)]); // OOB too long
    bad([8, ...new Uint8Array(100)]); // onion request too short
    bad([9]);
    bad([12, 1]);
    bad([15, 1]);
    bad([16]); // data without payload
    expect(parseTcpPacket(new Uint8Array(TCP_MAX_PACKET_SIZE + 1).fill(20)).ok).toBe(false);
  });

  it("never throws on arbitrary input, and anything it accepts re-serialises identically", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          bytes(0, 80),
          fc.tuple(fc.integer({ min: 0, max: 255 }), bytes(0, 1100)).map(([h, t]) => {
            const out = new Uint8Array(t.length + 1);
            out[0] = h;
            out.set(t, 1);
            return out;
          }),
        ),
        (input) => {
          const res = parseTcpPacket(input);
          if (res.ok) expect(bytesEqual(serializeTcpPacket(res.value), input)).toBe(true);
        },
      ),
      { numRuns: 60_000 },
    );
  });

  it("handshake parsers and the stream reader never throw on arbitrary input", () => {
    const shared = randomBytes(32);
    fc.assert(
      fc.property(bytes(0, 140), fc.array(bytes(0, 40), { maxLength: 6 }), (input, chunks) => {
        expect(parseClientHandshake(input, shared).ok).toBe(false);
        expect(parseServerHandshake(input, shared).ok).toBe(false);
        peekClientHandshakeSender(input);
        const r = new TcpStreamReader();
        for (const c of chunks) {
          r.push(c);
          for (let k = 0; k < 4; k++) {
            const f = r.takeFrame();
            if (!f.ok || f.value === null) break;
            expect(openFrame(shared, randomNonce(), f.value).ok).toBe(false);
          }
        }
      }),
      { numRuns: 20_000 },
    );
  });
});
