/**
 * DM portals are marked as DMs: `is_direct` on the ghost's invite (always), and, with a configured
 * shared-secret login (`matrix.login_shared_secret`), in the user's own m.direct, written by
 * logging in as the user, merged with what is there, and logged out again. Against the homeserver
 * double, which implements the shared-secret login module's login type.
 */
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/logger.js";
import { DoublePuppet, sharedSecretToken } from "../../src/matrix/double-puppet.js";
import { ghostUserId } from "../../src/matrix/ids.js";
import { type HomeserverDouble, startHomeserver } from "../helpers/homeserver/index.js";
import { testRegistration } from "./bridge-harness.js";
import { type FrontendRig, onlineFriend, startFrontendRig, userWithAccount } from "./frontend-harness.js";

const SECRET = "a shared secret of the login module";

let hs: HomeserverDouble | undefined;
let rig: FrontendRig | undefined;
afterEach(async () => {
  await hs?.close();
  hs = undefined;
  await rig?.stop();
  rig = undefined;
});

describe("DoublePuppet (m.direct as the user)", () => {
  it("adds a DM to the user's m.direct, keeping what was there, and leaves no login behind", async () => {
    hs = await startHomeserver({ registration: testRegistration(), loginSharedSecret: SECRET });
    const alice = hs.asUser(hs.createUser("alice"));
    const tokensBefore = hs.state.tokenCount(alice.userId);
    hs.state.account(alice.userId).accountData.set("m.direct", { "@bob:elsewhere": ["!old:localhost"] });
    const dp = new DoublePuppet({
      homeserverUrl: hs.url,
      domain: "localhost",
      sharedSecret: SECRET,
      log: silentLogger(),
    });
    expect(await dp.markDirect(alice.userId, "@_tox_ab:localhost", "!dm:localhost")).toBe(true);
    // Twice is harmless.
    expect(await dp.markDirect(alice.userId, "@_tox_ab:localhost", "!dm:localhost")).toBe(true);
    expect(await dp.markDirect(alice.userId, "@_tox_ab:localhost", "!dm2:localhost")).toBe(true);
    expect(hs.state.account(alice.userId).accountData.get("m.direct")).toEqual({
      "@bob:elsewhere": ["!old:localhost"],
      "@_tox_ab:localhost": ["!dm:localhost", "!dm2:localhost"],
    });
    expect(hs.state.tokenCount(alice.userId)).toBe(tokensBefore);
  });

  it("skips users of other servers, and fails softly with a wrong secret or without the module", async () => {
    hs = await startHomeserver({ registration: testRegistration(), loginSharedSecret: SECRET });
    const alice = hs.asUser(hs.createUser("alice"));
    const make = (secret: string) =>
      new DoublePuppet({
        homeserverUrl: hs!.url,
        domain: "localhost",
        sharedSecret: secret,
        log: silentLogger(),
      });
    expect(await make(SECRET).markDirect("@carol:elsewhere.org", "@_tox_ab:localhost", "!dm:localhost")).toBe(
      false,
    );
    expect(
      await make("not the secret at all").markDirect(alice.userId, "@_tox_ab:localhost", "!dm:localhost"),
    ).toBe(false);
    expect(hs.state.account(alice.userId).accountData.has("m.direct")).toBe(false);
    // The token the module expects: HMAC-SHA512 over the full user id, hex.
    expect(sharedSecretToken("k", "@a:b")).toMatch(/^[0-9a-f]{128}$/);
    await hs.close();
    hs = await startHomeserver({ registration: testRegistration() }); // no module
    hs.createUser("alice");
    expect(await make(SECRET).markDirect(alice.userId, "@_tox_ab:localhost", "!dm:localhost")).toBe(false);
  });
});

describe("DM portals are direct", () => {
  it("a portal made by a Tox message is invited with is_direct and lands in the user's m.direct", async () => {
    rig = await startFrontendRig({
      homeserver: { loginSharedSecret: SECRET },
      frontend: (h) => ({
        doublePuppet: new DoublePuppet({
          homeserverUrl: h.url,
          domain: h.domain,
          sharedSecret: SECRET,
          log: silentLogger(),
        }),
      }),
    });
    const r = rig;
    const { user: alice, botRoom, account } = await userWithAccount(r, "alice");
    const friend = await onlineFriend(r, alice, account);
    r.tox.message(account.publicKey, friend, "hello from Tox");
    const ghost = ghostUserId({ domain: "localhost", botLocalpart: "toxbot", userPrefix: "_tox_" }, friend);
    const msg = await r.hs.waitForMessage({ sender: ghost, body: "hello from Tox" });
    const invite = r.hs
      .events(msg.room_id, "m.room.member")
      .find((e) => e.state_key === alice.userId && e.content.membership === "invite");
    expect(invite?.content.is_direct).toBe(true);
    // Next to the bot room, which alice's own client listed when she opened it.
    expect(r.hs.state.account(alice.userId).accountData.get("m.direct")).toEqual({
      [r.hs.botUserId]: [botRoom],
      [ghost]: [msg.room_id],
    });
  });
});
