/**
 * Encryption at rest for Tox secret keys. A 32-byte key is derived with HKDF-SHA256 from the
 * configured store key (any string; a passphrase is acceptable because only the operator's
 * database dump is the threat). Each value is sealed with secretbox under a fresh random nonce.
 */
import { hkdfSync } from "node:crypto";
import { NONCE_SIZE, randomNonce, secretboxOpen, secretboxSeal } from "../tox/crypto.js";
import { StoreError } from "./errors.js";

const HKDF_SALT = "toxbridge store";
const HKDF_INFO = "toxbridge store: sealed secrets v1";

/** Sealed constant kept in bridge_state to detect a changed store key at startup. */
export const KEY_CHECK_STATE_KEY = "store.encryption_key_check";
const KEY_CHECK_PLAINTEXT = new TextEncoder().encode("toxbridge store key check v1");

export interface Sealed {
  nonce: Uint8Array;
  sealed: Uint8Array;
}

export class SecretBox {
  private readonly key: Uint8Array;

  constructor(configKey: string) {
    if (configKey.length === 0) throw new StoreError("store encryption key must not be empty");
    this.key = new Uint8Array(hkdfSync("sha256", configKey, HKDF_SALT, HKDF_INFO, 32));
  }

  seal(plain: Uint8Array): Sealed {
    const nonce = randomNonce();
    return { nonce, sealed: secretboxSeal(this.key, nonce, plain) };
  }

  /** Null when the key is wrong or the data was altered (secretbox authenticates). */
  open(value: Sealed): Uint8Array | null {
    if (value.nonce.length !== NONCE_SIZE) return null;
    return secretboxOpen(this.key, value.nonce, value.sealed);
  }

  keyCheck(): Sealed {
    return this.seal(KEY_CHECK_PLAINTEXT);
  }

  matchesKeyCheck(check: Sealed): boolean {
    const plain = this.open(check);
    return plain !== null && Buffer.from(plain).equals(Buffer.from(KEY_CHECK_PLAINTEXT));
  }
}
