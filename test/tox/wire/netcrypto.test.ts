import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bytesEqual, toHex } from "../../../src/tox/bytes.js";
import { decryptSymmetric, newKeyPair, precompute, randomBytes, sha512 } from "../../../src/tox/crypto.js";
import { unwrap } from "../../../src/tox/errors.js";
import {
  COOKIE_LENGTH,
  COOKIE_REQUEST_LENGTH,
  COOKIE_RESPONSE_LENGTH,
  createCookie,
  DATA_NUM_THRESHOLD,
  dataPacketNonce,
  decodeRequest,
  encodeRequest,
  HANDSHAKE_PACKET_LENGTH,
  MAX_CRYPTO_DATA_SIZE,
  MAX_CRYPTO_PACKET_SIZE,
  openCookie,
  openDataPacket,
  paddingLength,
  parseCookieRequest,
  parseCookieResponse,
  parseDataPlain,
  parseHandshake,
  peekCookieRequestSender,
  peekDataNonce,
  serializeCookieRequest,
  serializeCookieResponse,
  serializeDataPacket,
  serializeHandshake,
} from "../../../src/tox/wire/netcrypto.js";

const pk = () => randomBytes(32);

describe("cookie", () => {
  it("is 112 bytes: nonce | sbox(time u64 | real pk | dht pk) and opens with the issuer key only", () => {
    const key = randomBytes(32);
    const realPk = pk();
    const dhtPk = pk();
    const cookie = createCookie(key, { timeMs: 123456789, realPk, dhtPk });
    expect(cookie.length).toBe(COOKIE_LENGTH);
    const plain = decryptSymmetric(key, cookie.subarray(0, 24), cookie.subarray(24));
    expect(plain?.length).toBe(72);
    const opened = unwrap(openCookie(key, cookie));
    expect(opened.timeMs).toBe(123456789);
    expect(bytesEqual(opened.realPk, realPk)).toBe(true);
    expect(bytesEqual(opened.dhtPk, dhtPk)).toBe(true);
    expect(openCookie(randomBytes(32), cookie).ok).toBe(false);
    expect(openCookie(key, cookie.subarray(1)).ok).toBe(false);
  });
});

describe("cookie request 0x18 / response 0x19", () => {
  it("request is exactly 145 bytes, keyed with the DHT keys, and round-trips", () => {
    const a = newKeyPair();
    const b = newKeyPair();
    const realPk = pk();
    const echoId = randomBytes(8);
    const pkt = serializeCookieRequest(
      { senderDhtPk: a.publicKey, senderRealPk: realPk, echoId },
      precompute(b.publicKey, a.secretKey),
    );
    expect(pkt.length).toBe(COOKIE_REQUEST_LENGTH);
    expect(pkt.length).toBe(145);
    expect(pkt[0]).toBe(0x18);
    expect(toHex(unwrap(peekCookieRequestSender(pkt)))).toBe(toHex(a.publicKey));
    const parsed = unwrap(parseCookieRequest(pkt, precompute(a.publicKey, b.secretKey)));
    expect(toHex(parsed.senderRealPk)).toBe(toHex(realPk));
    expect(toHex(parsed.echoId)).toBe(toHex(echoId));
    // The 32 bytes after the real pk are zero padding (c-toxcore layout).
    const plain = decryptSymmetric(
      precompute(a.publicKey, b.secretKey),
      pkt.subarray(33, 57),
      pkt.subarray(57),
    );
    expect(plain!.subarray(32, 64).every((x) => x === 0)).toBe(true);
    // Exact length: one byte more or less is rejected.
    expect(parseCookieRequest(Uint8Array.of(...pkt, 0), precompute(a.publicKey, b.secretKey)).ok).toBe(false);
    expect(parseCookieRequest(pkt.subarray(0, 144), precompute(a.publicKey, b.secretKey)).ok).toBe(false);
    expect(parseCookieRequest(pkt, randomBytes(32)).ok).toBe(false);
  });

  it("response is exactly 161 bytes and round-trips", () => {
    const shared = randomBytes(32);
    const cookie = createCookie(randomBytes(32), { timeMs: 1, realPk: pk(), dhtPk: pk() });
    const echoId = randomBytes(8);
    const pkt = serializeCookieResponse({ cookie, echoId }, shared);
    expect(pkt.length).toBe(COOKIE_RESPONSE_LENGTH);
    expect(pkt.length).toBe(161);
    expect(pkt[0]).toBe(0x19);
    const parsed = unwrap(parseCookieResponse(pkt, shared));
    expect(toHex(parsed.cookie)).toBe(toHex(cookie));
    expect(toHex(parsed.echoId)).toBe(toHex(echoId));
    expect(parseCookieResponse(pkt.subarray(0, 160), shared).ok).toBe(false);
    expect(parseCookieResponse(Uint8Array.of(...pkt, 1), shared).ok).toBe(false);
  });
});

describe("crypto handshake 0x1a", () => {
  it("is exactly 385 bytes: cookie | nonce | box(real keys)(base nonce | session pk | sha512(cookie) | new cookie)", () => {
    const alice = newKeyPair(); // sender (real keys)
    const bob = newKeyPair(); // receiver (real keys)
    const bobCookieKey = randomBytes(32);
    const aliceDht = pk();
    // Bob issued this cookie to Alice earlier (it names Alice's keys).
    const cookie = createCookie(bobCookieKey, { timeMs: 5000, realPk: alice.publicKey, dhtPk: aliceDht });
    const newCookie = createCookie(randomBytes(32), { timeMs: 1, realPk: bob.publicKey, dhtPk: pk() });
    const baseNonce = randomBytes(24);
    const sessionPk = pk();
    const pkt = serializeHandshake(
      { cookie, baseNonce, sessionPk, newCookie },
      alice.secretKey,
      bob.publicKey,
    );
    expect(pkt.length).toBe(HANDSHAKE_PACKET_LENGTH);
    expect(pkt.length).toBe(385);
    expect(pkt[0]).toBe(0x1a);
    expect(toHex(pkt.subarray(1, 113))).toBe(toHex(cookie));
    const hs = unwrap(parseHandshake(pkt, bobCookieKey, bob.secretKey));
    expect(toHex(hs.peerRealPk)).toBe(toHex(alice.publicKey));
    expect(toHex(hs.peerDhtPk)).toBe(toHex(aliceDht));
    expect(hs.cookieTimeMs).toBe(5000);
    expect(toHex(hs.baseNonce)).toBe(toHex(baseNonce));
    expect(toHex(hs.sessionPk)).toBe(toHex(sessionPk));
    expect(toHex(hs.newCookie)).toBe(toHex(newCookie));
    // Wrong cookie key, wrong receiver key, tampered cookie, wrong length: all rejected.
    expect(parseHandshake(pkt, randomBytes(32), bob.secretKey).ok).toBe(false);
    expect(parseHandshake(pkt, bobCookieKey, newKeyPair().secretKey).ok).toBe(false);
    expect(parseHandshake(pkt.subarray(0, 384), bobCookieKey, bob.secretKey).ok).toBe(false);
    const tampered = Uint8Array.from(pkt);
    tampered[200]! ^= 1;
    expect(parseHandshake(tampered, bobCookieKey, bob.secretKey).ok).toBe(false);
  });

  it("rejects a handshake whose inner hash is not sha512 of the head cookie", () => {
    const alice = newKeyPair();
    const bob = newKeyPair();
    const key = randomBytes(32);
    const cookie = createCookie(key, { timeMs: 1, realPk: alice.publicKey, dhtPk: pk() });
    const other = createCookie(key, { timeMs: 1, realPk: alice.publicKey, dhtPk: pk() });
    const pkt = serializeHandshake(
      { cookie: other, baseNonce: randomBytes(24), sessionPk: pk(), newCookie: other },
      alice.secretKey,
      bob.publicKey,
    );
    // Swap in a different valid cookie at the head: the sha512 inside no longer matches.
    pkt.set(cookie, 1);
    expect(sha512(cookie)).not.toEqual(sha512(other));
    const res = parseHandshake(pkt, key, bob.secretKey);
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.error.message).toMatch(/hash/);
  });
});

describe("crypto data 0x1b", () => {
  it("pads to (1373 - len) % 8, carries the nonce's low 16 bits, and strips padding on open", () => {
    const key = randomBytes(32);
    const nonce = randomBytes(24);
    for (const len of [1, 2, 7, 8, 9, 100, 1372, MAX_CRYPTO_DATA_SIZE]) {
      const payload = randomBytes(len);
      payload[0] = 64;
      const pkt = serializeDataPacket(key, nonce, { bufferStart: 0xfffffff0, packetNumber: 7, payload });
      expect(pkt.length).toBe(1 + 2 + 16 + 8 + paddingLength(len) + len);
      expect(pkt.length).toBeLessThanOrEqual(MAX_CRYPTO_PACKET_SIZE);
      expect((pkt[1]! << 8) | pkt[2]!).toBe((nonce[22]! << 8) | nonce[23]!);
      expect(unwrap(peekDataNonce(pkt))).toBe((nonce[22]! << 8) | nonce[23]!);
      const opened = unwrap(openDataPacket(key, nonce, pkt));
      expect(opened.bufferStart).toBe(0xfffffff0);
      expect(opened.packetNumber).toBe(7);
      expect(toHex(opened.payload)).toBe(toHex(payload));
    }
    expect(paddingLength(1373)).toBe(0);
    expect(paddingLength(1)).toBe(4); // 1372 % 8
    expect(paddingLength(5)).toBe(0);
    expect(() =>
      serializeDataPacket(key, nonce, { bufferStart: 0, packetNumber: 0, payload: new Uint8Array(1374) }),
    ).toThrow();
    expect(() =>
      serializeDataPacket(key, nonce, { bufferStart: 0, packetNumber: 0, payload: Uint8Array.of(0, 1) }),
    ).toThrow();
  });

  it("rejects plaintexts of only padding or with no payload", () => {
    expect(() => parseDataPlain(new Uint8Array(8))).toThrow();
    expect(() => parseDataPlain(new Uint8Array(20))).toThrow();
    expect(parseDataPlain(Uint8Array.of(0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 3)).payload).toEqual(Uint8Array.of(3));
  });

  it("derives the packet nonce from the low 16 bits with carry, incl. wrap", () => {
    const recv = new Uint8Array(24);
    recv[21] = 0x01;
    recv[22] = 0xff;
    recv[23] = 0xf0;
    const { nonce, diff } = dataPacketNonce(recv, 0x0005);
    expect(diff).toBe(0x15);
    expect(toHex(nonce.subarray(21))).toBe("020005");
    // A packet "behind" the receive nonce is 65536 - k ahead: it decrypts only if the sender's
    // nonce really is that far ahead, which the 21845 advance rule keeps impossible in practice.
    expect(dataPacketNonce(recv, 0xffef).diff).toBe(0xffff);
    expect(DATA_NUM_THRESHOLD * 3).toBe(65535);
  });
});

/**
 * c-toxcore `handle_request_packet` over a send array [0, span): returns which offsets it would
 * resend and which it would free. A straight transcription of the C loop, for cross-checking.
 */
function cHandleRequest(list: Uint8Array, span: number): { requested: number[]; freed: number[] } {
  const requested: number[] = [];
  const freed: number[] = [];
  let data = 1;
  let length = list.length - 1;
  let n = 1;
  for (let i = 0; i !== span; i++) {
    if (length === 0) break;
    if (n === list[data]) {
      requested.push(i);
      data++;
      length--;
      n = 0;
    } else {
      freed.push(i);
    }
    if (n === 255) {
      n = 1;
      if (list[data] !== 0) throw new Error("c would reject");
      data++;
      length--;
    } else n++;
  }
  return { requested, freed };
}

describe("REQUEST gap list", () => {
  it("encodes distances from 1 and 0 after 255 received in a row", () => {
    // Missing offsets 0, 1, 4 in a window of 6.
    const missing = new Set([0, 1, 4]);
    expect([...encodeRequest(6, (o) => missing.has(o))]).toEqual([1, 1, 1, 3]);
    // 300 received then one missing: a 0 after 255 present, then distance 300 - 255 + 1 = 46.
    const enc = encodeRequest(301, (o) => o === 300);
    expect([...enc]).toEqual([1, 0, 46]);
    expect(unwrap(decodeRequest(enc))).toEqual({ requested: [300], covered: 301 });
    // Empty window: just the id.
    expect([...encodeRequest(0, () => true)]).toEqual([1]);
  });

  it("matches c-toxcore's handler for any window (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3000 }),
        fc.array(fc.nat(2999), { maxLength: 200 }),
        (span, miss) => {
          const missing = new Set(miss.filter((m) => m < span));
          const enc = encodeRequest(span, (o) => missing.has(o));
          const dec = unwrap(decodeRequest(enc));
          const c = cHandleRequest(enc, span);
          expect(dec.requested).toEqual(c.requested);
          // Every offset we treat as received (below covered, not requested) C frees too.
          const freedByUs = [];
          for (let i = 0; i < Math.min(dec.covered, span); i++) if (!missing.has(i)) freedByUs.push(i);
          expect(freedByUs).toEqual(c.freed);
          // Every missing packet is requested (the list is long enough here).
          expect(dec.requested).toEqual([...missing].sort((a, b) => a - b));
        },
      ),
      { numRuns: 500 },
    );
  });

  it("is cut at 1373 bytes like c-toxcore's buffer", () => {
    const enc = encodeRequest(5000, () => true);
    expect(enc.length).toBe(MAX_CRYPTO_DATA_SIZE);
    expect(unwrap(decodeRequest(enc)).requested.length).toBe(MAX_CRYPTO_DATA_SIZE - 1);
  });
});

describe("parsers never throw (fast-check fuzz)", () => {
  const key = randomBytes(32);
  const sk = newKeyPair().secretKey;
  const lengths = [145, 161, 385];
  // Arbitrary bytes, biased towards the exact lengths so decryption paths are exercised too.
  const arbBytes = fc.oneof(
    fc.uint8Array({ maxLength: 1500 }),
    fc.constantFrom(...lengths).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
  );
  const runs = 25_000;

  it("cookie request / response / handshake / cookie", () => {
    fc.assert(
      fc.property(arbBytes, (b) => {
        expect(parseCookieRequest(b, key).ok).toBe(false);
        expect(parseCookieResponse(b, key).ok).toBe(false);
        expect(parseHandshake(b, key, sk).ok).toBe(false);
        expect(openCookie(key, b).ok).toBe(false);
        peekCookieRequestSender(b);
      }),
      { numRuns: runs * 4 },
    );
  });

  it("data packets and REQUEST lists", () => {
    const nonce = randomBytes(24);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1500 }), (b) => {
        expect(openDataPacket(key, nonce, b).ok).toBe(false);
        peekDataNonce(b);
        const req = decodeRequest(b);
        if (b.length > 0 && b[0] === 1) expect(req.ok).toBe(true);
        else expect(req.ok).toBe(false);
      }),
      { numRuns: runs * 4 },
    );
  });
});
