import { describe, expect, it } from "vitest";
import { formatAddress } from "../../../src/tox/address.js";
import { toHex } from "../../../src/tox/bytes.js";
import { ManualClock } from "../../../src/tox/clock.js";
import { newKeyPair } from "../../../src/tox/crypto.js";
import {
  FRIEND_REQUEST_TIMEOUT_MS,
  OutgoingFriendRequests,
} from "../../../src/tox/friend-requests/outgoing.js";

function setup() {
  const clock = new ManualClock();
  const me = newKeyPair();
  const friends = new Set<string>();
  const out = new OutgoingFriendRequests(clock, me.publicKey, { isFriend: (pk) => friends.has(toHex(pk)) });
  const target = newKeyPair().publicKey;
  const id = formatAddress({ publicKey: target, nospam: Uint8Array.of(1, 2, 3, 4) });
  return { clock, me, friends, out, target, id };
}

describe("outgoing friend requests", () => {
  it("validates like tox_friend_add", () => {
    const { out, me, id, friends, target } = setup();
    expect(out.add("not an id", "hi")).toEqual({ ok: false, error: "bad-address" });
    const badChecksum = id.slice(0, -1) + (id.endsWith("0") ? "1" : "0");
    expect(out.add(badChecksum, "hi")).toEqual({ ok: false, error: "bad-address" });
    expect(out.add(formatAddress({ publicKey: me.publicKey, nospam: new Uint8Array(4) }), "hi")).toEqual({
      ok: false,
      error: "own-key",
    });
    expect(out.add(id, "")).toEqual({ ok: false, error: "message-empty" });
    expect(out.add(id, "x".repeat(922))).toEqual({ ok: false, error: "message-too-long" });
    expect(out.add(`tox:${id.toLowerCase()}`, "x".repeat(921)).ok).toBe(true);
    expect(out.add(id, "again")).toEqual({ ok: false, error: "already-sent" });
    const newer = formatAddress({ publicKey: target, nospam: Uint8Array.of(9, 9, 9, 9) });
    const r = out.add(newer, "new nospam");
    expect(r.ok && r.nospamChanged).toBe(true);
    friends.add(toHex(target));
    out.cancel(target);
    expect(out.add(id, "hi")).toEqual({ ok: false, error: "already-friend" });
  });

  it("is due at once, then after 5 s, 10 s, 20 s... while unconfirmed; failed sends stay due", () => {
    const { out, clock, id, target } = setup();
    out.add(id, "hi");
    expect(out.due()).toHaveLength(1);
    out.markSent(target, false);
    expect(out.due()).toHaveLength(1);
    const sendTimes: number[] = [];
    const start = clock.now();
    for (let s = 0; s <= 80; s++) {
      if (out.due().length > 0) {
        out.markSent(target, true);
        sendTimes.push((clock.now() - start) / 1000);
      }
      clock.advance(1000);
    }
    expect(sendTimes).toEqual([0, 6, 17, 38, 79]);
    expect(FRIEND_REQUEST_TIMEOUT_MS).toBe(5000);
    expect(out.confirmed(target)).toBe(true);
    expect(out.due()).toHaveLength(0);
  });
});
