import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { newKeyPair } from "../../../src/tox/crypto.js";
import { unwrap } from "../../../src/tox/errors.js";
import {
  isEncryptedSave,
  PASS_ENCRYPTION_EXTRA_LENGTH,
  passDecrypt,
  passEncrypt,
} from "../../../src/tox/state/encryptsave.js";
import {
  parseSaveData,
  SAVED_FRIEND_SIZE,
  type SaveData,
  serializeSaveData,
} from "../../../src/tox/state/savefile.js";
import { ipPort } from "../../../src/tox/wire/ipport.js";

const enc = (s: string) => new TextEncoder().encode(s);

function sample(): SaveData {
  const kp = newKeyPair();
  const friendKp = newKeyPair();
  const pendingKp = newKeyPair();
  return {
    secretKey: kp.secretKey,
    publicKey: kp.publicKey,
    nospam: Uint8Array.of(1, 2, 3, 4),
    name: enc("Alice ✨"),
    statusMessage: enc("bridged"),
    userStatus: 1,
    friends: [
      {
        status: 3,
        publicKey: friendKp.publicKey,
        requestMessage: new Uint8Array(),
        requestNospam: new Uint8Array(4),
        name: enc("Bob"),
        statusMessage: enc("hi there"),
        userStatus: 2,
        lastSeen: 1_700_000_123n,
      },
      {
        status: 2,
        publicKey: pendingKp.publicKey,
        requestMessage: enc("please add me"),
        requestNospam: Uint8Array.of(9, 9, 9, 9),
        name: new Uint8Array(),
        statusMessage: new Uint8Array(),
        userStatus: 0,
        lastSeen: 0n,
      },
    ],
    dhtNodes: [{ protocol: "udp", ipPort: ipPort("127.0.0.1", 33445), publicKey: newKeyPair().publicKey }],
    tcpRelays: [{ protocol: "tcp", ipPort: ipPort("127.0.0.1", 33446), publicKey: newKeyPair().publicKey }],
    pathNodes: [],
    conferences: [
      {
        type: 0,
        id: new Uint8Array(32).fill(5),
        messageNumber: 65536 + 17,
        lossyMessageNumber: 8192,
        ownPeerNumber: 7,
        title: enc("Tox chat"),
        peers: [
          {
            realPk: friendKp.publicKey,
            tempPk: newKeyPair().publicKey,
            peerNumber: 3,
            lastActive: 99n,
            nick: enc("Bob"),
          },
        ],
      },
    ],
    unknownSections: [{ type: 7, data: Uint8Array.of(0x90) }],
  };
}

describe("save file", () => {
  it("has 2216-byte friend records", () => {
    expect(SAVED_FRIEND_SIZE).toBe(2216);
  });

  it("round-trips every section, keeping unknown ones", () => {
    const s = sample();
    const bytes = serializeSaveData(s);
    expect(Array.from(bytes.subarray(0, 8))).toEqual([0, 0, 0, 0, 0x1f, 0x1b, 0xed, 0x15]);
    expect(unwrap(parseSaveData(bytes))).toEqual(s);
  });

  it("accepts zero padding after END like tox_get_savedata produces", () => {
    const bytes = serializeSaveData(sample());
    const padded = new Uint8Array(bytes.length + 600);
    padded.set(bytes);
    expect(unwrap(parseSaveData(padded)).name).toEqual(enc("Alice ✨"));
  });

  it("rejects truncated, garbled or mismatched profiles with a clear message", () => {
    const bytes = serializeSaveData(sample());
    const truncated = parseSaveData(bytes.subarray(0, 100));
    expect(truncated.ok).toBe(false);
    if (!truncated.ok) expect(truncated.error.message).toMatch(/truncated/);
    const badMagic = Uint8Array.from(bytes);
    badMagic[4] = 0;
    const r2 = parseSaveData(badMagic);
    expect(!r2.ok && r2.error.message).toMatch(/not a Tox save file/);
    const wrongKey = Uint8Array.from(bytes);
    wrongKey[8 + 8 + 4] = wrongKey[8 + 8 + 4]! ^ 0xff; // first byte of the stored public key
    const r3 = parseSaveData(wrongKey);
    expect(!r3.ok && r3.error.message).toMatch(/does not match/);
  });

  it("never throws on corrupted input", () => {
    const bytes = serializeSaveData(sample());
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: bytes.length - 1 }),
        fc.integer({ min: 0, max: 255 }),
        fc.nat(bytes.length),
        (pos, v, cut) => {
          const copy = Uint8Array.from(bytes.subarray(0, Math.max(cut, pos + 1)));
          copy[pos] = v;
          parseSaveData(copy);
        },
      ),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (b) => void parseSaveData(b)),
      { numRuns: 20_000 },
    );
  });
});

describe("toxencryptsave", () => {
  it("encrypts with 80 bytes overhead and decrypts with the right passphrase only", async () => {
    const plain = serializeSaveData(sample());
    const encrypted = await passEncrypt(plain, "correct horse");
    expect(encrypted.length).toBe(plain.length + PASS_ENCRYPTION_EXTRA_LENGTH);
    expect(isEncryptedSave(encrypted)).toBe(true);
    expect(await passDecrypt(encrypted, "correct horse")).toEqual(plain);
    await expect(passDecrypt(encrypted, "wrong")).rejects.toThrow(/wrong passphrase/);
    await expect(passDecrypt(encrypted.subarray(0, 50), "x")).rejects.toThrow(/too short/);
  });
});
