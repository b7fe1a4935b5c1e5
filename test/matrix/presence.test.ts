/**
 * Matrix presence -> Tox: the mapping (online -> none, unavailable/offline -> away, status_msg ->
 * status message), the debounce of flapping clients, and that what the user set with the bot
 * wins; then end to end: a presence set at the homeserver double changes the Tox identity.
 */
import { afterEach, describe, expect, it } from "vitest";
import { CoreError } from "../../src/core/errors.js";
import type { Owner } from "../../src/core/frontend.js";
import { silentLogger } from "../../src/logger.js";
import {
  MatrixPresenceSync,
  parsePresenceEdu,
  type ToxPresence,
  toxPresenceOf,
} from "../../src/matrix/presence.js";
import { type FrontendRig, startFrontendRig, userWithAccount } from "./frontend-harness.js";

/** A fake core profile per user and a fake bridge state. */
function fakes() {
  const profiles = new Map<string, { statusMessage: string; presence: ToxPresence }>();
  const memory = new Map<string, unknown>();
  const changes: { userId: string; change: object }[] = [];
  const target = {
    async profile(owner: Owner) {
      const p = profiles.get(owner.id);
      if (p === undefined) throw new CoreError("no-account", "no account");
      return { ...p };
    },
    async setProfile(owner: Owner, change: { statusMessage?: string; presence?: ToxPresence }) {
      const p = profiles.get(owner.id)!;
      profiles.set(owner.id, { ...p, ...change });
      changes.push({ userId: owner.id, change });
    },
  };
  const store = {
    async get<T>(key: string) {
      return (memory.get(key) as T | undefined) ?? null;
    },
    async set(key: string, value: unknown) {
      memory.set(key, value);
    },
  };
  /** Manual timers: `run()` fires what is due. */
  const pending = new Map<number, () => void>();
  let next = 1;
  const timers = {
    set: (fn: () => void) => {
      pending.set(next, fn);
      return next++;
    },
    clear: (h: unknown) => void pending.delete(h as number),
  };
  const fire = () => {
    for (const [h, fn] of [...pending]) {
      pending.delete(h);
      fn();
    }
  };
  const sync = new MatrixPresenceSync({ target, memory: store, log: silentLogger(), timers });
  return { profiles, changes, sync, fire, pending };
}

const alice = "@alice:example.org";

describe("Matrix presence -> Tox (unit)", () => {
  it("maps Matrix presence to Tox presence and reads both EDU shapes", () => {
    expect(toxPresenceOf("online")).toBe("online");
    expect(toxPresenceOf("unavailable")).toBe("away");
    expect(toxPresenceOf("offline")).toBe("away");
    expect(toxPresenceOf("busy")).toBeNull();
    expect(
      parsePresenceEdu({
        type: "m.presence",
        sender: alice,
        content: { presence: "unavailable", status_msg: "  lunch  " },
      }),
    ).toEqual({ userId: alice, wanted: { presence: "away", statusMessage: "lunch" } });
    // Older servers name the user in the content.
    expect(parsePresenceEdu({ type: "m.presence", content: { user_id: alice, presence: "online" } })).toEqual(
      {
        userId: alice,
        wanted: { presence: "online", statusMessage: "" },
      },
    );
    for (const bad of [
      { type: "m.presence", sender: alice },
      { type: "m.presence", sender: alice, content: { presence: "dancing" } },
      { type: "m.presence", sender: "alice", content: { presence: "online" } },
      { type: "m.typing", sender: alice, content: { presence: "online" } },
    ])
      expect(parsePresenceEdu(bad)).toBeNull();
    const long = parsePresenceEdu({
      type: "m.presence",
      sender: alice,
      content: { presence: "online", status_msg: "é".repeat(1000) },
    });
    expect(Buffer.byteLength(long!.wanted.statusMessage)).toBeLessThanOrEqual(1007);
  });

  it("applies only the last of a flapping series, once it is quiet", async () => {
    const f = fakes();
    f.profiles.set(alice, { statusMessage: "", presence: "online" });
    f.sync.onPresence(alice, { presence: "away", statusMessage: "" });
    f.sync.onPresence(alice, { presence: "online", statusMessage: "" });
    f.sync.onPresence(alice, { presence: "away", statusMessage: "brb" });
    expect(f.pending.size).toBe(1);
    expect(f.changes).toEqual([]);
    f.fire();
    await f.sync.idle();
    expect(f.changes).toEqual([{ userId: alice, change: { presence: "away", statusMessage: "brb" } }]);
    // Back and forth to where it is: nothing to do.
    f.sync.onPresence(alice, { presence: "online", statusMessage: "" });
    f.sync.onPresence(alice, { presence: "away", statusMessage: "brb" });
    await f.sync.flush();
    expect(f.changes).toHaveLength(1);
  });

  it("leaves what the user set with the bot, and keeps following Matrix for the rest", async () => {
    const f = fakes();
    f.profiles.set(alice, { statusMessage: "", presence: "online" });
    f.sync.onPresence(alice, { presence: "away", statusMessage: "in a meeting" });
    await f.sync.flush();
    expect(f.profiles.get(alice)).toEqual({ statusMessage: "in a meeting", presence: "away" });
    // The user sets a status message and busy with the bot.
    f.profiles.set(alice, { statusMessage: "ask me about Tox", presence: "busy" });
    f.sync.onPresence(alice, { presence: "online", statusMessage: "" });
    await f.sync.flush();
    expect(f.profiles.get(alice)).toEqual({ statusMessage: "ask me about Tox", presence: "busy" });
    // Only the status message was the user's: presence follows Matrix again once back to ours.
    f.profiles.set(alice, { statusMessage: "ask me about Tox", presence: "away" });
    f.sync.onPresence(alice, { presence: "online", statusMessage: "whatever" });
    await f.sync.flush();
    expect(f.profiles.get(alice)).toEqual({ statusMessage: "ask me about Tox", presence: "online" });
  });

  it("ignores users without a Tox account and stops cleanly", async () => {
    const f = fakes();
    f.sync.onPresence("@nobody:example.org", { presence: "away", statusMessage: "" });
    await f.sync.flush();
    expect(f.changes).toEqual([]);
    f.profiles.set(alice, { statusMessage: "", presence: "online" });
    f.sync.onPresence(alice, { presence: "away", statusMessage: "" });
    f.sync.stop();
    f.fire();
    await f.sync.idle();
    expect(f.changes).toEqual([]);
  });
});

let rig: FrontendRig | undefined;
afterEach(async () => {
  await rig?.stop();
  rig = undefined;
});

describe("Matrix presence -> Tox (through the homeserver double)", () => {
  it("a user's presence and status message reach their Tox identity; offline keeps it online as away", async () => {
    rig = await startFrontendRig();
    const r = rig;
    const { user: alice, account } = await userWithAccount(r, "alice");
    const identity = () => r.tox.identities.get(account.publicKey)!;
    expect(r.frontend.presence).toBeDefined();

    await alice.setPresence("unavailable", "at lunch");
    await r.hs.pushIdle();
    await r.frontend.presence!.flush();
    expect(identity().status).toBe("away");
    expect(identity().statusMessage).toBe("at lunch");

    await alice.setPresence("offline");
    await r.hs.pushIdle();
    await r.frontend.presence!.flush();
    expect(r.tox.isOnline(account.publicKey)).toBe(true);
    expect(identity().status).toBe("away");
    expect(identity().statusMessage).toBe("");

    await alice.setPresence("online");
    await r.hs.pushIdle();
    await r.frontend.presence!.flush();
    expect(identity().status).toBe("none");
    expect((await r.core.profile({ kind: "matrix", id: alice.userId })).presence).toBe("online");
  });
});
