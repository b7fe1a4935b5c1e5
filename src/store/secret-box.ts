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

/** The key check as stored in bridge_state (JSON, hex strings). */
export interface KeyCheckRecord {
  nonce: string;
  sealed: string;
}

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

  /** A fresh sealing of the check constant, ready for bridge_state. */
  keyCheckRecord(): KeyCheckRecord {
    const { nonce, sealed } = this.seal(KEY_CHECK_PLAINTEXT);
    return { nonce: Buffer.from(nonce).toString("hex"), sealed: Buffer.from(sealed).toString("hex") };
  }

  matchesKeyCheckRecord(record: KeyCheckRecord): boolean {
    if (typeof record.nonce !== "string" || typeof record.sealed !== "string") return false;
    const plain = this.open({
      nonce: Buffer.from(record.nonce, "hex"),
      sealed: Buffer.from(record.sealed, "hex"),
    });
    return plain !== null && Buffer.from(plain).equals(Buffer.from(KEY_CHECK_PLAINTEXT));
  }
}
