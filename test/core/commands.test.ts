/**
 * The shared command set: parsing (table + property tests: total, never throws) and execution
 * through the core (accounts, contacts, profile) against PGlite and the fake Tox gateway.
 */
import fc from "fast-check";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { BridgeCore } from "../../src/core/bridge-core.js";
import { COMMANDS, type Command, helpText, parseCommand } from "../../src/core/commands.js";
import { alice, bob, makeCore, stranger, TestDb } from "./helpers.js";

describe("parseCommand", () => {
  it.each<[string, Command]>([
    ["help", { name: "help" }],
    ["  HELP add ", { name: "help", topic: "add" }],
    ["!create", { name: "create" }],
    ["/id", { name: "id" }],
    ["add ABCD", { name: "add", toxId: "ABCD" }],
    ["add ABCD  hi there,\nit's me", { name: "add", toxId: "ABCD", message: "hi there,\nit's me" }],
    ["requests", { name: "requests" }],
    ["accept 2", { name: "accept", friend: "2" }],
    ["decline ab12", { name: "decline", friend: "ab12" }],
    ["friends", { name: "friends" }],
    ["remove Bob Smith", { name: "remove", friend: "Bob Smith" }],
    ["name", { name: "name" }],
    ["name Alice  Liddell", { name: "name", text: "Alice  Liddell" }],
    ["status out for lunch", { name: "status", text: "out for lunch" }],
    ["presence", { name: "presence" }],
    ["presence AWAY", { name: "presence", presence: "away" }],
    ["logout", { name: "logout", confirmed: false }],
    ["logout confirm", { name: "logout", confirmed: true }],
    ["export", { name: "export" }],
    ["export  my secret phrase ", { name: "export", passphrase: "my secret phrase" }],
    ["import", { name: "import", replace: false }],
    ["import correct horse", { name: "import", replace: false, passphrase: "correct horse" }],
    ["import REPLACE", { name: "import", replace: true }],
    ["import replace pass  word", { name: "import", replace: true, passphrase: "pass  word" }],
  ])("%j", (input, command) => {
    expect(parseCommand(input)).toEqual({ ok: true, command });
  });

  it.each([
    ["", /help/],
    ["   ", /help/],
    ["frobnicate", /Unknown command `frobnicate`/],
    ["add", /Usage: add <ToxID>/],
    ["accept", /Usage: accept/],
    ["presence sleepy", /Usage: presence/],
    ["friends now", /takes no arguments/],
    ["logout please", /logout confirm/],
  ])("%j is a usage error", (input, message) => {
    const r = parseCommand(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(message);
  });

  it("never throws and always answers with a command or a non-empty error", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 200 }), (text) => {
        const r = parseCommand(text);
        if (r.ok) expect(COMMANDS.map((c) => c.name)).toContain(r.command.name);
        else expect(r.error.length).toBeGreaterThan(0);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...COMMANDS.map((c) => c.name), "!add", "/remove"),
        fc.string({ maxLength: 100 }),
        (word, rest) => {
          parseCommand(`${word} ${rest}`);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("keeps arguments exactly (only the outer whitespace is trimmed)", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 60 }).filter((s) => s.trim() === s && s.length > 0),
        (text) => {
          expect(parseCommand(`status ${text}`)).toEqual({ ok: true, command: { name: "status", text } });
        },
      ),
    );
  });

  it("help lists every command and explains one", () => {
    const all = helpText();
    for (const c of COMMANDS) expect(all).toContain(c.usage);
    expect(helpText("add")).toMatch(/^add <ToxID> \[message\]: send a friend request/);
    expect(helpText("nope")).toMatch(/No command/);
  });
});

describe("executing commands", () => {
  const t = new TestDb();
  beforeAll(() => t.setup());
  afterAll(() => t.teardown());
  const cores: BridgeCore[] = [];
  beforeEach(async () => {
    for (const c of cores.splice(0)) await c.stop();
    await t.reset();
  });
  async function core() {
    const c = await makeCore(t);
    cores.push(c.core);
    return c;
  }

  it("refuses everyone the config does not permit", async () => {
    const { core: c } = await core();
    expect(await c.command(alice, "help", null)).toEqual({
      ok: false,
      text: "Sorry, you are not permitted to use this bridge.",
    });
    expect(await c.account(alice)).toBeNull();
    expect(await c.command(alice, "create", null)).toMatchObject({ ok: false });
    expect(await c.account(alice)).toBeNull();
  });

  it("create makes an online identity once; id shows the Tox ID with a QR code", async () => {
    const { core: c, tox } = await core();
    expect(await c.command(alice, "id", "user")).toEqual({
      ok: false,
      text: "You have no Tox account yet. Send `create` to make one.",
    });
    const created = await c.command(alice, "create", "user");
    expect(created.ok).toBe(true);
    const ref = (await c.account(alice))!;
    expect(tox.isOnline(ref.publicKey)).toBe(true);
    expect(tox.identities.get(ref.publicKey)?.name).toBe("alice");
    const toxId = /Your Tox ID: ([0-9A-F]{76})/.exec(created.text)?.[1];
    expect(toxId?.slice(0, 64).toLowerCase()).toBe(ref.publicKey);
    const id = await c.command(alice, "id", "user");
    expect(id.text).toContain(`tox:${toxId}`);
    const png = id.attachments?.[0];
    expect(png).toMatchObject({ kind: "image", mimeType: "image/png", alt: `tox:${toxId}` });
    expect([...png!.data.subarray(0, 4)]).toEqual([0x89, 0x50, 0x4e, 0x47]);
    expect(await c.command(alice, "create", "user")).toMatchObject({ ok: false, text: /already have/ });
  });

  it("add: clear errors for a bad checksum, a short ID and your own ID; sends a request otherwise", async () => {
    const { core: c, tox } = await core();
    await c.command(alice, "create", "user");
    const ref = (await c.account(alice))!;
    const friend = stranger();
    const typo = friend.toxId.slice(0, 75) + (friend.toxId.endsWith("0") ? "1" : "0");
    expect(await c.command(alice, `add ${typo}`, "user")).toMatchObject({ ok: false, text: /checksum/ });
    expect(await c.command(alice, "add 1234", "user")).toMatchObject({
      ok: false,
      text: /76 hex characters/,
    });
    const own = (await c.accounts.profile(alice)).toxId;
    expect(await c.command(alice, `add ${own}`, "user")).toMatchObject({
      ok: false,
      text: /your own Tox ID/,
    });
    const added = await c.command(alice, `add tox:${friend.toxId} hi, it's Alice`, "user");
    expect(added).toMatchObject({ ok: true, text: /Friend request sent/ });
    expect(tox.identities.get(ref.publicKey)?.requestsSent).toEqual([
      { friend: friend.publicKey, message: "hi, it's Alice" },
    ]);
    expect((await c.command(alice, "friends", "user")).text).toMatch(/1\. .*request sent, not accepted yet/);
    // The friend accepts: the session comes up.
    tox.setOnline(ref.publicKey, friend.publicKey, true);
    tox.name(ref.publicKey, friend.publicKey, "Zed");
    await c.idle();
    expect((await c.command(alice, "friends", "user")).text).toMatch(/1\. Zed \(.{8}…\) — online/);
    expect(await c.command(alice, `add ${friend.toxId}`, "user")).toMatchObject({
      ok: false,
      text: /Zed .* is already your friend/,
    });
  });

  it("incoming requests: listed, accepted by number, declined by key; the frontend hears of them", async () => {
    const { core: c, tox, xmpp } = await core();
    await c.command(bob, "create", "user");
    const ref = (await c.account(bob))!;
    const [p, q] = [stranger(), stranger()];
    tox.request(ref.publicKey, p.publicKey, "it's P");
    tox.request(ref.publicKey, q.publicKey, "it's Q");
    tox.request(ref.publicKey, p.publicKey, "it's P"); // Tox resends until answered: shown once
    await c.idle();
    expect(xmpp.requests).toEqual([
      { friend: p.publicKey, message: "it's P" },
      { friend: q.publicKey, message: "it's Q" },
    ]);
    const listed = await c.command(bob, "requests", "user");
    expect(listed.text).toContain(`1. ${p.publicKey} — "it's P"`);
    expect(listed.text).toContain(`2. ${q.publicKey} — "it's Q"`);
    expect(await c.command(bob, "accept 3", "user")).toMatchObject({
      ok: false,
      text: /No friend request matches "3"/,
    });
    expect(await c.command(bob, "accept 1", "user")).toMatchObject({ ok: true, text: /is now your friend/ });
    expect(tox.identities.get(ref.publicKey)?.friends.has(p.publicKey)).toBe(true);
    expect(await c.command(bob, `decline ${q.publicKey.toUpperCase()}`, "user")).toMatchObject({ ok: true });
    expect(tox.identities.get(ref.publicKey)?.friends.has(q.publicKey)).toBe(false);
    expect(tox.answered).toEqual([
      { identity: ref.publicKey, friend: p.publicKey, accepted: true },
      { identity: ref.publicKey, friend: q.publicKey, accepted: false },
    ]);
    expect((await c.command(bob, "requests", "user")).text).toBe("No friend requests are waiting.");
    // A repeated request from someone already a friend changes nothing.
    tox.request(ref.publicKey, p.publicKey, "again");
    await c.idle();
    expect(xmpp.requests).toHaveLength(2);
    expect((await c.friend(bob, p.publicKey))?.state).toBe("accepted");
  });

  it("add accepts a pending incoming request instead of sending another", async () => {
    const { core: c, tox } = await core();
    await c.command(alice, "create", "user");
    const ref = (await c.account(alice))!;
    const p = stranger();
    tox.request(ref.publicKey, p.publicKey, "hi");
    await c.idle();
    expect(await c.command(alice, `add ${p.toxId}`, "user")).toMatchObject({
      text: /They had asked you already/,
    });
    expect(tox.identities.get(ref.publicKey)?.requestsSent).toEqual([]);
  });

  it("remove by number or name removes the friend from Tox, the store and the frontend", async () => {
    const { core: c, tox, frontend } = await core();
    await c.command(alice, "create", "user");
    const ref = (await c.account(alice))!;
    const [p, q] = [stranger(), stranger()];
    await c.command(alice, `add ${p.toxId}`, "user");
    await c.command(alice, `add ${q.toxId}`, "user");
    tox.setOnline(ref.publicKey, q.publicKey, true);
    tox.name(ref.publicKey, q.publicKey, "Quinn");
    await c.idle();
    expect(await c.command(alice, "remove quinn", "user")).toMatchObject({ ok: true, text: /Removed Quinn/ });
    expect(await c.command(alice, "remove 1", "user")).toMatchObject({ ok: true });
    expect(frontend.removed).toEqual([q.publicKey, p.publicKey]);
    expect(await c.friends(alice)).toEqual([]);
    expect(tox.identities.get(ref.publicKey)?.friends.size).toBe(0);
    expect(await c.command(alice, "remove 1", "user")).toMatchObject({
      ok: false,
      text: /No friend matches/,
    });
  });

  it("name, status and presence: shown, set on Tox and kept across a restart", async () => {
    const { core: c, tox } = await core();
    await c.command(alice, "create", "user");
    const ref = (await c.account(alice))!;
    expect((await c.command(alice, "name", "user")).text).toBe("Your Tox name: alice");
    await c.command(alice, "name Alice L.", "user");
    await c.command(alice, "status reading", "user");
    await c.command(alice, "presence busy", "user");
    expect(tox.identities.get(ref.publicKey)).toMatchObject({
      name: "Alice L.",
      statusMessage: "reading",
      status: "busy",
    });
    expect(await c.command(alice, `name ${"x".repeat(200)}`, "user")).toMatchObject({
      ok: false,
      text: /128 bytes/,
    });
    await c.stop();
    cores.splice(0);
    const second = await core();
    expect(second.tox.identities.get(ref.publicKey)?.spec).toMatchObject({
      name: "Alice L.",
      statusMessage: "reading",
      status: "busy",
    });
    expect((await second.core.command(alice, "presence", "user")).text).toBe("Your presence: busy");
  });

  it("logout asks for confirmation, then deletes the identity and takes it offline", async () => {
    const { core: c, tox } = await core();
    await c.command(alice, "create", "user");
    const ref = (await c.account(alice))!;
    expect((await c.command(alice, "logout", "user")).text).toMatch(/logout confirm/);
    expect(tox.isOnline(ref.publicKey)).toBe(true);
    expect(await c.command(alice, "logout confirm", "user")).toMatchObject({ ok: true });
    expect(tox.isOnline(ref.publicKey)).toBe(false);
    expect(await c.account(alice)).toBeNull();
    expect(await c.command(alice, "logout", "user")).toMatchObject({ ok: false, text: /no Tox account/ });
  });

  it("friend updates reach the frontend: names once per change, typing, presence", async () => {
    const { core: c, tox, frontend } = await core();
    await c.command(alice, "create", "user");
    const ref = (await c.account(alice))!;
    const p = stranger();
    await c.command(alice, `add ${p.toxId}`, "user");
    tox.setOnline(ref.publicKey, p.publicKey, true);
    tox.setOnline(ref.publicKey, p.publicKey, true); // a path change (udp -> tcp): no news
    tox.name(ref.publicKey, p.publicKey, "Pat");
    tox.name(ref.publicKey, p.publicKey, "Pat");
    tox.typing(ref.publicKey, p.publicKey, true);
    await c.idle();
    expect(frontend.updates.map((u) => [u.friend.state, u.friend.online, u.friend.name])).toEqual([
      ["accepted", true, ""],
      ["accepted", true, "Pat"],
    ]);
    expect(frontend.typing).toEqual([{ friend: p.publicKey, typing: true }]);
    await c.setTyping(alice, p.publicKey, true);
    expect(tox.identities.get(ref.publicKey)?.typing.get(p.publicKey)).toBe(true);
    tox.setOnline(ref.publicKey, p.publicKey, false);
    await c.idle();
    const last = frontend.updates.at(-1)!.friend;
    expect(last.online).toBe(false);
    expect(last.lastSeenAt).toBeInstanceOf(Date);
    expect((await c.gauges()).friendsOnline).toBe(0);
  });

  it("add with a bare public key answers a pending request, and explains otherwise", async () => {
    const { core: c, tox } = await core();
    await c.command(bob, "create", "user");
    const ref = (await c.account(bob))!;
    const [p, q] = [stranger(), stranger()];
    tox.request(ref.publicKey, p.publicKey, "hello");
    await c.idle();
    expect(await c.command(bob, `add ${p.publicKey}`, "user")).toMatchObject({
      ok: true,
      text: /had asked you/,
    });
    expect(await c.command(bob, `add ${q.publicKey}`, "user")).toMatchObject({
      ok: false,
      text: /not a full Tox ID/,
    });
    expect(await c.command(bob, `add ${p.publicKey}`, "user")).toMatchObject({ ok: false, text: /already/ });
  });

  it("structured operations mirror the commands and raise CoreErrors", async () => {
    const { core: c, tox } = await core();
    expect(await c.friend(alice, stranger().publicKey)).toBeNull(); // no account: no friend, no throw
    await expect(c.friends(alice)).rejects.toMatchObject({ name: "CoreError", code: "no-account" });
    const profile = await c.createAccount(alice);
    expect(profile).toMatchObject({ name: "alice", statusMessage: "", presence: "online" });
    await expect(c.createAccount(alice)).rejects.toMatchObject({ code: "account-exists" });
    await c.setProfile(alice, { name: "A", statusMessage: "s", presence: "away" });
    expect(await c.profile(alice)).toMatchObject({ name: "A", statusMessage: "s", presence: "away" });
    const p = stranger();
    expect(await c.addFriend(alice, p.toxId)).toMatchObject({ state: "pending_out", publicKey: p.publicKey });
    await expect(c.addFriend(alice, "nonsense")).rejects.toMatchObject({ code: "bad-tox-id" });
    const ref = (await c.account(alice))!;
    const q = stranger();
    tox.request(ref.publicKey, q.publicKey, "hey");
    await c.idle();
    expect((await c.requests(alice)).map((f) => f.publicKey)).toEqual([q.publicKey]);
    expect(await c.acceptFriend(alice, q.publicKey)).toMatchObject({ state: "accepted" });
    await expect(c.declineFriend(alice, q.publicKey)).rejects.toMatchObject({ code: "unknown-friend" });
    expect(await c.removeFriend(alice, p.publicKey)).toMatchObject({ publicKey: p.publicKey });
    expect(await c.deleteAccount(alice)).toBe(true);
    expect(tox.isOnline(ref.publicKey)).toBe(false);
  });
});
