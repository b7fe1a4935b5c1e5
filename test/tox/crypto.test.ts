import fc from "fast-check";
import sodium from "libsodium-wrappers-sumo";
import { describe, expect, it } from "vitest";
import { toHex } from "../../src/tox/bytes.js";
import {
  decrypt,
  decryptSymmetric,
  encrypt,
  encryptSymmetric,
  incrementNonce,
  incrementNonceBy,
  keyPairFromSecret,
  newKeyPair,
  precompute,
  publicKeyValid,
  randomNonce,
  sha256,
  sha512,
} from "../../src/tox/crypto.js";

describe("crypto_core equivalents", () => {
  it("box and box_afternm interoperate both ways, MAC first", () => {
    const a = newKeyPair();
    const b = newKeyPair();
    const nonce = randomNonce();
    const plain = new TextEncoder().encode("hello tox");
    const c1 = encrypt(b.publicKey, a.secretKey, nonce, plain);
    expect(c1.length).toBe(plain.length + 16);
    expect(decryptSymmetric(precompute(a.publicKey, b.secretKey), nonce, c1)).toEqual(plain);
    const c2 = encryptSymmetric(precompute(a.publicKey, b.secretKey), nonce, plain);
    expect(decrypt(b.publicKey, a.secretKey, nonce, c2)).toEqual(plain);
  });

  it("returns null (not throw) on tampering or short input", () => {
    const a = newKeyPair();
    const key = precompute(a.publicKey, a.secretKey);
    const nonce = randomNonce();
    const c = encryptSymmetric(key, nonce, Uint8Array.of(1, 2, 3));
    c[5]! ^= 1;
    expect(decryptSymmetric(key, nonce, c)).toBeNull();
    expect(decryptSymmetric(key, nonce, new Uint8Array(16))).toBeNull();
  });

  it("refuses empty plaintexts like c-toxcore", () => {
    const a = newKeyPair();
    expect(() =>
      encryptSymmetric(precompute(a.publicKey, a.secretKey), randomNonce(), new Uint8Array()),
    ).toThrow();
  });

  it("derives the public key from the secret key", () => {
    const kp = newKeyPair();
    expect(keyPairFromSecret(kp.secretKey).publicKey).toEqual(kp.publicKey);
  });

  it("increments nonces as a big-endian counter with carry", () => {
    const n = new Uint8Array(24);
    n[23] = 0xff;
    n[22] = 0xff;
    incrementNonce(n);
    expect(toHex(n.subarray(20))).toBe("00010000");
    const m = new Uint8Array(24);
    m[23] = 0xf0;
    incrementNonceBy(m, 0x1_0020);
    expect(toHex(m.subarray(20))).toBe("00010110");
    const full = new Uint8Array(24).fill(0xff);
    incrementNonce(full);
    expect(full.every((x) => x === 0)).toBe(true);
  });

  it("checks public key validity like public_key_valid", () => {
    const pk = new Uint8Array(32);
    expect(publicKeyValid(pk)).toBe(true);
    pk[31] = 0x80;
    expect(publicKeyValid(pk)).toBe(false);
  });

  it("hashes with SHA-256 and SHA-512 (known vectors)", () => {
    const abc = new TextEncoder().encode("abc");
    expect(toHex(sha256(abc))).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(toHex(sha512(abc)).slice(0, 32)).toBe("ddaf35a193617abacc417349ae204131");
  });
});

describe("direct WASM calls (scratch region) against the libsodium wrappers", () => {
  const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
  const nonce = fc.uint8Array({ minLength: 24, maxLength: 24 });

  it("box_afternm and open give the wrappers' bytes, for any size up to and past the scratch region", () => {
    const size = fc.oneof(fc.integer({ min: 1, max: 1500 }), fc.integer({ min: 4090, max: 4200 }));
    fc.assert(
      fc.property(key, nonce, size, (k, n, len) => {
        const plain = new Uint8Array(len).map((_, i) => (i * 7 + len) & 0xff);
        const cipher = encryptSymmetric(k, n, plain);
        expect(toHex(cipher)).toBe(toHex(sodium.crypto_box_easy_afternm(plain, n, k)));
        expect(decryptSymmetric(k, n, cipher)).toEqual(plain);
      }),
      { numRuns: 200 },
    );
  });

  it("a tampered or truncated box opens to null (no exception), and the next call still works", () => {
    const k = precompute(newKeyPair().publicKey, newKeyPair().secretKey);
    const n = randomNonce();
    const plain = new Uint8Array(300).fill(9);
    const cipher = encryptSymmetric(k, n, plain);
    for (const i of [0, 15, 16, 299, 315]) {
      const bad = cipher.slice();
      bad[i]! ^= 1;
      expect(decryptSymmetric(k, n, bad)).toBeNull();
    }
    expect(decryptSymmetric(k, n, cipher.subarray(0, 16))).toBeNull();
    expect(decryptSymmetric(k, n, cipher.subarray(0, 200))).toBeNull();
    expect(decryptSymmetric(k, n, cipher)).toEqual(plain);
  });

  it("precompute equals crypto_box_beforenm and refuses a low-order key as the wrappers do", () => {
    for (let i = 0; i < 20; i++) {
      const a = newKeyPair();
      const b = newKeyPair();
      expect(toHex(precompute(a.publicKey, b.secretKey))).toBe(
        toHex(sodium.crypto_box_beforenm(a.publicKey, b.secretKey)),
      );
    }
    const zero = new Uint8Array(32);
    expect(() => sodium.crypto_box_beforenm(zero, newKeyPair().secretKey)).toThrow();
    expect(() => precompute(zero, newKeyPair().secretKey)).toThrow();
    expect(() => precompute(new Uint8Array(31), newKeyPair().secretKey)).toThrow();
  });
});
