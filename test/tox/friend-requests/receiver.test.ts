import { describe, expect, it } from "vitest";
import { toHex } from "../../../src/tox/bytes.js";
import { ManualClock } from "../../../src/tox/clock.js";
import { randomBytes } from "../../../src/tox/crypto.js";
import { FriendRequestReceiver } from "../../../src/tox/friend-requests/receiver.js";

const nospam = Uint8Array.of(0xde, 0xad, 0xbe, 0xef);
const msg = new TextEncoder().encode("hello");

function setup(opts: { burst?: number; refillMs?: number } = {}) {
  const clock = new ManualClock();
  const friends = new Set<string>();
  const got: string[] = [];
  const r = new FriendRequestReceiver({
    clock,
    nospam: () => nospam,
    isFriend: (pk) => friends.has(toHex(pk)),
    onRequest: (pk) => got.push(toHex(pk)),
    ...opts,
  });
  return { clock, friends, got, r };
}

describe("friend request receiver", () => {
  it("delivers a request with our nospam once; repeats from the same sender are duplicates", () => {
    const { r, got } = setup();
    const pk = randomBytes(32);
    expect(r.handleOnion(pk, Uint8Array.from([...nospam, ...msg]))).toBe("delivered");
    expect(r.handleOnion(pk, Uint8Array.from([...nospam, ...msg]))).toBe("duplicate");
    expect(got).toEqual([toHex(pk)]);
  });

  it("rejects a wrong nospam, malformed payloads and existing friends", () => {
    const { r, friends, got } = setup();
    expect(r.handleOnion(randomBytes(32), Uint8Array.from([1, 2, 3, 4, ...msg]))).toBe("wrong-nospam");
    expect(r.handleOnion(randomBytes(32), nospam)).toBe("malformed");
    expect(r.handleOnion(randomBytes(32), new Uint8Array(1100))).toBe("malformed");
    const friend = randomBytes(32);
    friends.add(toHex(friend));
    expect(r.handleOnion(friend, Uint8Array.from([...nospam, ...msg]))).toBe("already-friend");
    expect(got).toHaveLength(0);
  });

  it("a sender is quiet for 10 minutes even after leaving the 32-entry ring; forget() re-opens it", () => {
    const { r, clock } = setup({ burst: 100 });
    const first = randomBytes(32);
    expect(r.handle(first, nospam, msg)).toBe("delivered");
    for (let i = 0; i < 40; i++) r.handle(randomBytes(32), nospam, msg);
    expect(r.handle(first, nospam, msg)).toBe("duplicate");
    clock.advance(10 * 60_000);
    expect(r.handle(first, nospam, msg)).toBe("delivered");
    r.forget(first);
    expect(r.handle(first, nospam, msg)).toBe("delivered");
  });

  it("declined keys stay blocked for a day", () => {
    const { r, clock } = setup();
    const pk = randomBytes(32);
    r.markDeclined(pk);
    expect(r.handle(pk, nospam, msg)).toBe("declined");
    clock.advance(24 * 3600_000);
    expect(r.handle(pk, nospam, msg)).toBe("delivered");
  });

  it("limits a flood from many fresh keys to the burst, then one per refill interval", () => {
    const { r, clock, got } = setup({ burst: 5, refillMs: 3000 });
    const verdicts = Array.from({ length: 50 }, () => r.handle(randomBytes(32), nospam, msg));
    expect(verdicts.filter((v) => v === "delivered")).toHaveLength(5);
    expect(verdicts.filter((v) => v === "rate-limited")).toHaveLength(45);
    clock.advance(3000);
    expect(r.handle(randomBytes(32), nospam, msg)).toBe("delivered");
    expect(r.handle(randomBytes(32), nospam, msg)).toBe("rate-limited");
    expect(got).toHaveLength(6);
  });
});
