/**
 * NaCl primitives as c-toxcore uses them (crypto_core.c), on libsodium-wrappers-sumo.
 *
 * The module awaits libsodium's WASM initialisation at import time (top-level await), so every
 * function here is synchronous. Ciphertexts are always `MAC(16) | encrypted` (libsodium's
 * `*_easy` layout), exactly what goes on the Tox wire.
 *
 * Sumo is used because the standard build lacks crypto_hash_sha256/sha512 and scrypt.
 */
import { createHash, randomFillSync } from "node:crypto";
import sodium from "libsodium-wrappers-sumo";
import { concatBytes } from "./bytes.js";
import { WireError } from "./errors.js";

await sodium.ready;

export const PUBLIC_KEY_SIZE = 32;
export const SECRET_KEY_SIZE = 32;
export const SHARED_KEY_SIZE = 32;
export const NONCE_SIZE = 24;
export const MAC_SIZE = 16;
export const SHA256_SIZE = 32;
export const SHA512_SIZE = 64;

export interface KeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

export function newKeyPair(): KeyPair {
  const kp = sodium.crypto_box_keypair();
  return { publicKey: kp.publicKey, secretKey: kp.privateKey };
}

/** Derives the Curve25519 public key of a secret key (a Tox identity is fully defined by its sk). */
export function publicKeyFromSecret(secretKey: Uint8Array): Uint8Array {
  if (secretKey.length !== SECRET_KEY_SIZE)
    throw new RangeError(`secret key must be 32 bytes, got ${secretKey.length}`);
  return sodium.crypto_scalarmult_base(secretKey);
}

export function keyPairFromSecret(secretKey: Uint8Array): KeyPair {
  return { publicKey: publicKeyFromSecret(secretKey), secretKey: Uint8Array.from(secretKey) };
}

/**
 * CSPRNG bytes from Node's crypto (OpenSSL), not libsodium-wrappers' `randombytes_buf`, which
 * costs ~140 µs per call in the WASM build against ~3 µs here: every DHT packet needs a nonce.
 */
/**
 * Small random values (nonces, ping ids) come from a pool refilled 4 KiB at a time: one
 * randomFillSync per 24-byte nonce was the top CPU cost of idle identities. Every pooled byte is
 * handed out once.
 */
const RANDOM_POOL_SIZE = 4096;
let randomPool = new Uint8Array(0);
let randomPoolOffset = 0;

export function randomBytes(n: number): Uint8Array {
  if (n > 256) return randomFillSync(new Uint8Array(n));
  if (randomPoolOffset + n > randomPool.length) {
    randomPool = randomFillSync(new Uint8Array(RANDOM_POOL_SIZE));
    randomPoolOffset = 0;
  }
  const out = randomPool.slice(randomPoolOffset, randomPoolOffset + n);
  randomPoolOffset += n;
  return out;
}

export function randomNonce(): Uint8Array {
  return randomBytes(NONCE_SIZE);
}

export function randomU32(): number {
  const b = randomBytes(4);
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}

/** c-toxcore `public_key_valid`: the top bit of the last byte must be clear. */
export function publicKeyValid(pk: Uint8Array): boolean {
  return pk.length === PUBLIC_KEY_SIZE && (pk[31]! & 0x80) === 0;
}

/**
 * The WASM module under libsodium-wrappers, called directly for the per-packet primitives. The
 * wrappers allocate, copy and free every argument on each call and throw on a failed MAC (an
 * exception per packet that does not decrypt); here the key, nonce and message go into one
 * scratch region allocated once, and a failed MAC is a return code. Same functions, same bytes.
 */
interface SodiumModule {
  HEAPU8: Uint8Array;
  _malloc(size: number): number;
  _crypto_box_beforenm(k: number, pk: number, sk: number): number;
  _crypto_box_easy_afternm(
    c: number,
    m: number,
    mlenLo: number,
    mlenHi: number,
    n: number,
    k: number,
  ): number;
  _crypto_box_open_easy_afternm(
    m: number,
    c: number,
    clenLo: number,
    clenHi: number,
    n: number,
    k: number,
  ): number;
}
const wasm = (sodium as unknown as { libsodium: SodiumModule }).libsodium;
/** Largest message through the scratch region (a net_crypto packet is at most 1,400 bytes). */
const SCRATCH_MESSAGE_MAX = 4096;
/** Layout: key 32 | nonce 24 | in (max + MAC) | out (max + MAC). */
const SCRATCH_KEY = 0;
const SCRATCH_NONCE = 32;
const SCRATCH_IN = 64;
const SCRATCH_OUT = SCRATCH_IN + SCRATCH_MESSAGE_MAX + MAC_SIZE;
const SCRATCH_REGION = SCRATCH_OUT + SCRATCH_MESSAGE_MAX + MAC_SIZE;
const scratch = wasm._malloc(SCRATCH_REGION);

/** `encrypt_precompute`: the shared key for box_afternm / secretbox. */
export function precompute(theirPublicKey: Uint8Array, ourSecretKey: Uint8Array): Uint8Array {
  if (theirPublicKey.length !== PUBLIC_KEY_SIZE || ourSecretKey.length !== SECRET_KEY_SIZE)
    return sodium.crypto_box_beforenm(theirPublicKey, ourSecretKey); // throws the wrappers' error
  // HEAPU8 is read on each call: the WASM memory may have grown (and been replaced) since.
  const heap = wasm.HEAPU8;
  heap.set(theirPublicKey, scratch + SCRATCH_IN);
  heap.set(ourSecretKey, scratch + SCRATCH_IN + PUBLIC_KEY_SIZE);
  const rc = wasm._crypto_box_beforenm(
    scratch + SCRATCH_OUT,
    scratch + SCRATCH_IN,
    scratch + SCRATCH_IN + PUBLIC_KEY_SIZE,
  );
  const out = heap.slice(scratch + SCRATCH_OUT, scratch + SCRATCH_OUT + SHARED_KEY_SIZE);
  heap.fill(0, scratch + SCRATCH_IN, scratch + SCRATCH_IN + PUBLIC_KEY_SIZE + SECRET_KEY_SIZE);
  heap.fill(0, scratch + SCRATCH_OUT, scratch + SCRATCH_OUT + SHARED_KEY_SIZE);
  // A low-order public key (all-zero shared secret): the wrappers throw, and so must we.
  if (rc !== 0) return sodium.crypto_box_beforenm(theirPublicKey, ourSecretKey);
  return out;
}

/** `encrypt_data_symmetric`. c-toxcore refuses empty plaintexts; so do we. */
export function encryptSymmetric(sharedKey: Uint8Array, nonce: Uint8Array, plain: Uint8Array): Uint8Array {
  if (plain.length === 0)
    throw new RangeError("refusing to encrypt an empty plaintext (c-toxcore rejects it)");
  if (
    plain.length > SCRATCH_MESSAGE_MAX ||
    sharedKey.length !== SHARED_KEY_SIZE ||
    nonce.length !== NONCE_SIZE
  )
    return sodium.crypto_box_easy_afternm(plain, nonce, sharedKey);
  const out = afternmInScratch("seal", sharedKey, nonce, plain);
  if (out === null) throw new Error("crypto_box_easy_afternm failed");
  return out;
}

/**
 * One afternm box operation through the scratch region: seal (input = plaintext) or open (input =
 * box, null when its MAC does not verify). Key, nonce, input and output are wiped afterwards, so no
 * key or plaintext outlives the call in WASM memory. HEAPU8 is read on each call: the WASM memory
 * may have grown (and been replaced) since the last one.
 */
function afternmInScratch(
  op: "seal" | "open",
  sharedKey: Uint8Array,
  nonce: Uint8Array,
  input: Uint8Array,
): Uint8Array | null {
  const heap = wasm.HEAPU8;
  const keyPtr = scratch + SCRATCH_KEY;
  const noncePtr = scratch + SCRATCH_NONCE;
  const inPtr = scratch + SCRATCH_IN;
  const outPtr = scratch + SCRATCH_OUT;
  heap.set(sharedKey, keyPtr);
  heap.set(nonce, noncePtr);
  heap.set(input, inPtr);
  const rc =
    op === "seal"
      ? wasm._crypto_box_easy_afternm(outPtr, inPtr, input.length, 0, noncePtr, keyPtr)
      : wasm._crypto_box_open_easy_afternm(outPtr, inPtr, input.length, 0, noncePtr, keyPtr);
  const outLength = op === "seal" ? input.length + MAC_SIZE : input.length - MAC_SIZE;
  const out = rc === 0 ? heap.slice(outPtr, outPtr + outLength) : null;
  heap.fill(0, scratch, inPtr + input.length);
  heap.fill(0, outPtr, outPtr + outLength);
  return out;
}

/** One layer of `sealNested`: its key and the bytes put before the previous layer's box. */
export interface NestedLayer {
  key: Uint8Array;
  header: readonly Uint8Array[];
}

/**
 * Nested boxes with one nonce (an onion request's three layers), innermost layer first: layer i
 * boxes `header_i | previous` (layer 0: `header_0 | inner`) with its key; returns
 * `outer | outermost box`. Byte for byte what `encryptSymmetric` layer by layer gives, but built
 * in place in WASM memory (libsodium's box_easy may overwrite its input: each layer's box lands
 * where its plaintext was, MAC in front), so the packet is copied in once and out once.
 */
export function sealNested(
  nonce: Uint8Array,
  inner: Uint8Array,
  layers: readonly NestedLayer[],
  outer: readonly Uint8Array[],
): Uint8Array {
  const size = (parts: readonly Uint8Array[]) => parts.reduce((n, p) => n + p.length, 0);
  let total = inner.length + size(outer);
  for (const l of layers) total += size(l.header) + MAC_SIZE;
  const fits =
    total <= SCRATCH_REGION - SCRATCH_IN &&
    nonce.length === NONCE_SIZE &&
    layers.every((l) => l.key.length === SHARED_KEY_SIZE);
  if (!fits || inner.length + size(layers[0]?.header ?? []) === 0) {
    let box = inner;
    for (const l of layers) box = encryptSymmetric(l.key, nonce, concatBytes(...l.header, box));
    return concatBytes(...outer, box);
  }
  const heap = wasm.HEAPU8;
  const start = scratch + SCRATCH_IN;
  const end = start + total;
  heap.set(nonce, scratch + SCRATCH_NONCE);
  let at = end - inner.length;
  heap.set(inner, at);
  for (const l of layers) {
    for (let i = l.header.length - 1; i >= 0; i--) {
      const part = l.header[i]!;
      at -= part.length;
      heap.set(part, at);
    }
    heap.set(l.key, scratch + SCRATCH_KEY);
    const rc = wasm._crypto_box_easy_afternm(
      at - MAC_SIZE,
      at,
      end - at,
      0,
      scratch + SCRATCH_NONCE,
      scratch + SCRATCH_KEY,
    );
    at -= MAC_SIZE;
    if (rc !== 0) {
      heap.fill(0, scratch, scratch + SCRATCH_NONCE);
      throw new Error("crypto_box_easy_afternm failed");
    }
  }
  heap.fill(0, scratch, scratch + SCRATCH_NONCE);
  for (let i = outer.length - 1; i >= 0; i--) {
    const part = outer[i]!;
    at -= part.length;
    heap.set(part, at);
  }
  return heap.slice(start, end);
}

/** `decrypt_data_symmetric`; returns null when authentication fails or input is too short. */
export function decryptSymmetric(
  sharedKey: Uint8Array,
  nonce: Uint8Array,
  cipher: Uint8Array,
): Uint8Array | null {
  if (cipher.length <= MAC_SIZE) return null;
  if (
    cipher.length > SCRATCH_MESSAGE_MAX + MAC_SIZE ||
    sharedKey.length !== SHARED_KEY_SIZE ||
    nonce.length !== NONCE_SIZE
  ) {
    try {
      return sodium.crypto_box_open_easy_afternm(cipher, nonce, sharedKey);
    } catch {
      return null;
    }
  }
  return afternmInScratch("open", sharedKey, nonce, cipher);
}

/** `encrypt_data`: box with our secret key to their public key. */
export function encrypt(
  theirPublicKey: Uint8Array,
  ourSecretKey: Uint8Array,
  nonce: Uint8Array,
  plain: Uint8Array,
): Uint8Array {
  return encryptSymmetric(precompute(theirPublicKey, ourSecretKey), nonce, plain);
}

export function decrypt(
  theirPublicKey: Uint8Array,
  ourSecretKey: Uint8Array,
  nonce: Uint8Array,
  cipher: Uint8Array,
): Uint8Array | null {
  return decryptSymmetric(precompute(theirPublicKey, ourSecretKey), nonce, cipher);
}

/** Like decryptSymmetric but throws a WireError naming the packet (for use inside parsers). */
export function openOrThrow(
  sharedKey: Uint8Array,
  nonce: Uint8Array,
  cipher: Uint8Array,
  what: string,
): Uint8Array {
  const plain = decryptSymmetric(sharedKey, nonce, cipher);
  if (plain === null)
    throw new WireError(`${what}: decryption failed (wrong key or tampered data)`, { what });
  return plain;
}

/**
 * `increment_nonce`: the 24-byte nonce as a big-endian counter, +1 with carry from the last byte.
 * (libsodium's sodium_increment is little-endian and must not be used.) Mutates in place.
 */
export function incrementNonce(nonce: Uint8Array): void {
  for (let i = nonce.length - 1; i >= 0; i--) {
    nonce[i] = (nonce[i]! + 1) & 0xff;
    if (nonce[i] !== 0) return;
  }
}

/** `increment_nonce_number`: adds a 32-bit number to the big-endian counter. Mutates in place. */
export function incrementNonceBy(nonce: Uint8Array, amount: number): void {
  let carry = amount >>> 0;
  for (let i = nonce.length - 1; i >= 0 && carry !== 0; i--) {
    const sum = nonce[i]! + (carry & 0xff);
    nonce[i] = sum & 0xff;
    carry = (carry >>> 8) + (sum >> 8);
  }
}

export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(data).digest());
}

export function sha512(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha512").update(data).digest());
}

/** Symmetric secretbox with a 32-byte key (same construction as encryptSymmetric). */
export function secretboxSeal(key: Uint8Array, nonce: Uint8Array, plain: Uint8Array): Uint8Array {
  return sodium.crypto_secretbox_easy(plain, nonce, key);
}

export function secretboxOpen(key: Uint8Array, nonce: Uint8Array, cipher: Uint8Array): Uint8Array | null {
  if (cipher.length < MAC_SIZE) return null;
  try {
    return sodium.crypto_secretbox_open_easy(cipher, nonce, key);
  } catch {
    return null;
  }
}

/** Constant-time comparison for secrets (ping ids, cookies hashes). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && sodium.memcmp(a, b);
}
