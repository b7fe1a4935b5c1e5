/**
 * toxencryptsave: passphrase-encrypted profiles as qTox/toxic write them.
 *
 * Format: `"toxEsave" 8 | salt 32 | nonce 24 | MAC 16 | ciphertext` (80 bytes overhead).
 * Key = scrypt-salsa208-sha256(password = SHA-256(passphrase), salt) with libsodium's
 * OPSLIMIT_INTERACTIVE×2 / MEMLIMIT_INTERACTIVE, which libsodium maps to N=16384, r=8, p=2;
 * Node's scrypt with those parameters yields the same 32-byte key. Cipher = secretbox.
 */
import { scrypt } from "node:crypto";
import { bytesEqual, concatBytes } from "../bytes.js";
import { NONCE_SIZE, randomBytes, secretboxOpen, secretboxSeal, sha256 } from "../crypto.js";
import { WireError } from "../errors.js";

const MAGIC = new TextEncoder().encode("toxEsave");
export const PASS_SALT_LENGTH = 32;
export const PASS_ENCRYPTION_EXTRA_LENGTH = 80;
const SCRYPT = { N: 16384, r: 8, p: 2, maxmem: 64 * 1024 * 1024 };

export function isEncryptedSave(data: Uint8Array): boolean {
  return data.length >= MAGIC.length && bytesEqual(data.subarray(0, MAGIC.length), MAGIC);
}

/** Derives the 32-byte key for a passphrase and salt (slow on purpose: ~50 ms). */
export function derivePassKey(passphrase: string | Uint8Array, salt: Uint8Array): Promise<Uint8Array> {
  const pass = typeof passphrase === "string" ? new TextEncoder().encode(passphrase) : passphrase;
  return new Promise((resolve, reject) => {
    scrypt(sha256(pass), salt, 32, SCRYPT, (err, key) => (err ? reject(err) : resolve(new Uint8Array(key))));
  });
}

export async function passEncrypt(plain: Uint8Array, passphrase: string | Uint8Array): Promise<Uint8Array> {
  const salt = randomBytes(PASS_SALT_LENGTH);
  const nonce = randomBytes(NONCE_SIZE);
  const key = await derivePassKey(passphrase, salt);
  return concatBytes(MAGIC, salt, nonce, secretboxSeal(key, nonce, plain));
}

export class PassDecryptError extends WireError {}

export async function passDecrypt(data: Uint8Array, passphrase: string | Uint8Array): Promise<Uint8Array> {
  if (data.length < PASS_ENCRYPTION_EXTRA_LENGTH) {
    throw new PassDecryptError(`encrypted profile too short (${data.length} bytes)`, {
      what: "toxencryptsave",
    });
  }
  if (!isEncryptedSave(data))
    throw new PassDecryptError("not a toxencryptsave file (bad magic)", { what: "toxencryptsave" });
  const salt = data.subarray(8, 8 + PASS_SALT_LENGTH);
  const nonce = data.subarray(8 + PASS_SALT_LENGTH, 8 + PASS_SALT_LENGTH + NONCE_SIZE);
  const key = await derivePassKey(passphrase, salt);
  const plain = secretboxOpen(key, nonce, data.subarray(8 + PASS_SALT_LENGTH + NONCE_SIZE));
  if (plain === null) {
    throw new PassDecryptError("wrong passphrase or corrupted encrypted profile", { what: "toxencryptsave" });
  }
  return plain;
}
