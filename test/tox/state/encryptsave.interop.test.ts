// Interop: our toxencryptsave against the real c-toxcore 0.2.18 library (tox_pass_encrypt/decrypt).
import koffi from "koffi";
import { describe, expect, it } from "vitest";
import {
  PASS_ENCRYPTION_EXTRA_LENGTH,
  passDecrypt,
  passEncrypt,
} from "../../../src/tox/state/encryptsave.js";

const lib = koffi.load("libtoxcore.so.2");
const toxPassEncrypt = lib.func(
  "bool tox_pass_encrypt(const uint8_t *plaintext, size_t plaintext_len, const uint8_t *passphrase, size_t passphrase_len, _Out_ uint8_t *ciphertext, _Out_ int *error)",
);
const toxPassDecrypt = lib.func(
  "bool tox_pass_decrypt(const uint8_t *ciphertext, size_t ciphertext_len, const uint8_t *passphrase, size_t passphrase_len, _Out_ uint8_t *plaintext, _Out_ int *error)",
);

describe("toxencryptsave interop with c-toxcore", () => {
  const plain = new TextEncoder().encode("a profile body that c-toxcore encrypts ✓");
  const pass = new TextEncoder().encode("hunter2 pässword");

  it("decrypts what tox_pass_encrypt wrote", async () => {
    const out = new Uint8Array(plain.length + PASS_ENCRYPTION_EXTRA_LENGTH);
    const err = [0];
    expect(toxPassEncrypt(plain, plain.length, pass, pass.length, out, err)).toBe(true);
    expect(await passDecrypt(out, pass)).toEqual(plain);
  });

  it("writes what tox_pass_decrypt reads", async () => {
    const encrypted = await passEncrypt(plain, pass);
    const out = new Uint8Array(plain.length);
    const err = [0];
    expect(toxPassDecrypt(encrypted, encrypted.length, pass, pass.length, out, err)).toBe(true);
    expect(out).toEqual(plain);
    const wrong = new TextEncoder().encode("nope");
    expect(toxPassDecrypt(encrypted, encrypted.length, wrong, wrong.length, out, err)).toBe(false);
  });
});
