/**
 * Conferences through the core (issue 8), over PGlite and the fake Tox gateway: auto-join of a
 * friend's invite, echo suppression, messages of other bridged accounts, durable sending while
 * nobody else is reachable, inbound retries, inviting another bridged user, leaving, and a
 * restart that keeps conferences, their state and queued messages.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { BridgeCore } from "../../src/core/bridge-core.js";
import { CoreError } from "../../src/core/errors.js";
import type {
  AccountRef,
  ConferenceUpdateReason,
  ConferenceView,
  InboundConferenceMessage,
  Owner,
} from "../../src/core/frontend.js";
import { ManualClock } from "../../src/tox/clock.js";
import { FakeTox } from "./fake-tox.js";
import { alice, bob, makeCore, RecordingFrontend, stranger, TestDb, withFriend } from "./helpers.js";

const t = new TestDb();
beforeAll(() => t.setup());
afterAll(() => t.teardown());

/** A recording frontend that also records the conference calls. */
class ConferenceFrontend extends RecordingFrontend {
  readonly conferenceViews: { account: AccountRef; view: ConferenceView; reason?: ConferenceUpdateReason }[] =
    [];
  readonly conferenceMessages: { account: AccountRef; message: InboundConferenceMessage }[] = [];
  readonly conferencesRemoved: { account: AccountRef; conference: string }[] = [];
  refuseConference: Error | undefined;

  conferenceUpdated(account: AccountRef, view: ConferenceView, reason?: ConferenceUpdateReason) {
    this.conferenceViews.push({ account, view, ...(reason ? { reason } : {}) });
  }
  async deliverConferenceMessage(account: AccountRef, message: InboundConferenceMessage) {
    if (this.refuseConference) throw this.refuseConference;
    this.conferenceMessages.push({ account, message });
  }
  conferenceRemoved(account: AccountRef, conference: string) {
    this.conferencesRemoved.push({ account, conference });
  }
  lastView(conference: string, owner: Owner = alice): ConferenceView | undefined {
    return this.conferenceViews
      .filter((v) => v.view.id === conference && v.account.owner.id === owner.id)
      .at(-1)?.view;
  }
  reasons(conference: string, owner: Owner = alice): (ConferenceUpdateReason | undefined)[] {
    return this.conferenceViews
      .filter((v) => v.view.id === conference && v.account.owner.id === owner.id)
      .map((v) => v.reason);
  }
  texts(owner: Owner = alice): string[] {
    return this.conferenceMessages.filter((m) => m.account.owner.id === owner.id).map((m) => m.message.text);
  }
}

const cores: BridgeCore[] = [];
async function core(opts: Parameters<typeof makeCore>[1] = {}) {
  const c = await makeCore(t, { conferences: { settleMs: 0 }, ...opts });
  cores.push(c.core);
  const matrix = new ConferenceFrontend("matrix");
  const xmpp = new ConferenceFrontend("xmpp");
  c.core.registerFrontend(matrix);
  c.core.registerFrontend(xmpp);
  return { ...c, matrix, xmpp };
}
beforeEach(async () => {
  for (const c of cores.splice(0)) await c.stop();
  await t.reset();
});

describe("joining", () => {
  it("joins a conference an accepted friend invites the account to, and tells the frontend", async () => {
    const { core: c, tox, matrix } = await core();
    const { ref, friend } = await withFriend(c, tox);
    tox.setOnline(ref.publicKey, friend, true);
    const id = tox.conferenceInviteFrom(ref.publicKey, friend, { title: "Tox lounge", friendName: "carol" });
    await c.idle();
    const [view] = await c.conferences(alice);
    expect(view).toMatchObject({ id, title: "Tox lounge", type: "text", connected: true });
    expect(view?.peers.map((p) => [p.name, p.self])).toEqual([
      ["carol", false],
      ["alice", true],
    ]);
    expect(view?.peers[1]?.bridgedOwner).toEqual(alice);
    expect(matrix.lastView(id)?.title).toBe("Tox lounge");
  });

  it("ignores an invite from someone who is not an accepted friend", async () => {
    const { core: c, tox, matrix } = await core();
    await c.accounts.create(alice);
    const ref = (await c.account(alice))!;
    const outsider = stranger().publicKey;
    tox.conferenceInviteFrom(ref.publicKey, outsider);
    await c.idle();
    expect(await c.conferences(alice)).toEqual([]);
    expect(matrix.conferenceViews).toEqual([]);
  });
});

describe("messages", () => {
  async function inConference() {
    const c = await core();
    const { ref, friend } = await withFriend(c.core, c.tox);
    c.tox.setOnline(ref.publicKey, friend, true);
    const id = c.tox.conferenceInviteFrom(ref.publicKey, friend, { friendName: "carol" });
    await c.core.idle();
    return { ...c, ref, friend, id };
  }

  it("delivers peers' messages and actions in order, and drops Tox's echo of our own", async () => {
    const { core: c, tox, matrix, ref, friend, id } = await inConference();
    tox.conferenceSay(id, friend, "hello all");
    tox.conferenceSay(id, friend, "waves", "action");
    expect(await c.sendConference({ owner: alice, conference: id, text: "hi carol" })).toEqual({
      created: true,
      parts: 1,
    });
    await c.idle();
    expect(tox.conferenceSent).toEqual([
      { identity: ref.publicKey, conference: id, text: "hi carol", kind: "normal" },
    ]);
    expect(
      matrix.conferenceMessages.map((m) => [m.message.peerName, m.message.kind, m.message.text]),
    ).toEqual([
      ["carol", "normal", "hello all"],
      ["carol", "action", "waves"],
    ]);
    expect(matrix.conferenceMessages[0]?.message).toMatchObject({ conference: id, peer: friend });
    expect(matrix.conferenceMessages[0]?.message.bridgedOwner).toBeUndefined();
  });

  it("keeps a message the frontend refused and hands it over again later, in order", async () => {
    const { core: c, tox, clock, matrix, friend, id } = await inConference();
    matrix.refuseConference = new Error("homeserver down");
    tox.conferenceSay(id, friend, "one");
    tox.conferenceSay(id, friend, "two");
    await c.idle();
    expect(matrix.conferenceMessages).toEqual([]);
    matrix.refuseConference = undefined;
    clock.advance(60_000);
    await c.tick();
    await c.idle();
    expect(matrix.texts()).toEqual(["one", "two"]);
    clock.advance(60_000);
    await c.tick();
    await c.idle();
    expect(matrix.texts()).toEqual(["one", "two"]); // delivered once
  });

  it("keeps messages while nobody else is reachable and sends each once when a peer is back", async () => {
    const { core: c, tox, clock, ref, friend, id } = await inConference();
    tox.conferencePeerLeave(id, friend);
    await c.idle();
    expect((await c.conferences(alice))[0]?.connected).toBe(false);
    await c.sendConference({ owner: alice, conference: id, text: "anyone?", sourceEventId: "$a" });
    await c.sendConference({
      owner: alice,
      conference: id,
      text: "/me waits",
      kind: "action",
      sourceEventId: "$b",
    });
    // A redelivered transaction: the same event is not queued twice.
    expect(
      await c.sendConference({ owner: alice, conference: id, text: "anyone?", sourceEventId: "$a" }),
    ).toEqual({
      created: false,
      parts: 1,
    });
    clock.advance(10_000);
    await c.tick();
    await c.idle();
    expect(tox.conferenceSent).toEqual([]);
    tox.conferencePeerJoin(id, friend, "carol");
    await c.idle();
    expect(tox.conferenceSent.map((m) => [m.identity, m.text, m.kind])).toEqual([
      [ref.publicKey, "anyone?", "normal"],
      [ref.publicKey, "/me waits", "action"],
    ]);
    clock.advance(10_000);
    await c.tick();
    await c.idle();
    expect(tox.conferenceSent).toHaveLength(2);
  });

  it("waits a settling time after the conference becomes reachable before sending what was queued", async () => {
    const clock = new ManualClock(Date.now());
    const c = await core({ clock, conferences: { settleMs: 3000 } });
    const { ref, friend } = await withFriend(c.core, c.tox);
    c.tox.setOnline(ref.publicKey, friend, true);
    const id = c.tox.conferenceInviteFrom(ref.publicKey, friend, { friendName: "carol" });
    await c.core.idle();
    await c.core.sendConference({ owner: alice, conference: id, text: "soon" });
    await c.core.idle();
    expect(c.tox.conferenceSent).toEqual([]);
    clock.advance(3000);
    await c.core.tick();
    await c.core.idle();
    expect(c.tox.conferenceSent.map((m) => m.text)).toEqual(["soon"]);
  });

  it("refuses messages to a conference the account is not in", async () => {
    const { core: c } = await inConference();
    const other = stranger().publicKey;
    await expect(c.sendConference({ owner: alice, conference: other, text: "x" })).rejects.toMatchObject({
      code: "unknown-conference",
    });
    await expect(c.sendConference({ owner: alice, conference: "nope", text: "x" })).rejects.toBeInstanceOf(
      CoreError,
    );
  });
});

describe("bridged members", () => {
  it("invites another bridged user with its own identity (befriended without requests) and marks its lines", async () => {
    const { core: c, tox, matrix, xmpp } = await core();
    await c.accounts.create(alice);
    await c.accounts.create(bob);
    const a = (await c.account(alice))!;
    const b = (await c.account(bob))!;
    const view = await c.createConference(alice, "bridge folks");
    expect(view.title).toBe("bridge folks");
    await c.inviteToConference(alice, view.id, bob);
    await c.idle();
    // Both are friends now, stored, without a request either way.
    expect((await c.friend(alice, b.publicKey))?.state).toBe("accepted");
    expect((await c.friend(bob, a.publicKey))?.state).toBe("accepted");
    expect(tox.identities.get(a.publicKey)?.requestsSent).toEqual([]);
    // The invite waits for the friend connection, then bob's identity joins by itself.
    expect(await c.conferences(bob)).toEqual([]);
    tox.setOnline(a.publicKey, b.publicKey, true);
    tox.setOnline(b.publicKey, a.publicKey, true);
    await c.idle();
    const bobView = (await c.conferences(bob))[0];
    expect(bobView?.id).toBe(view.id);
    expect(bobView?.peers.find((p) => p.publicKey === a.publicKey)?.bridgedOwner).toEqual(alice);
    expect(xmpp.lastView(view.id, bob)?.title).toBe("bridge folks");

    await c.sendConference({ owner: alice, conference: view.id, text: "hi bob" });
    await c.sendConference({ owner: bob, conference: view.id, text: "hi alice" });
    await c.idle();
    // Nobody gets their own line back; each gets the other's, marked as a bridged user's.
    expect(xmpp.conferenceMessages.map((m) => [m.message.text, m.message.bridgedOwner])).toEqual([
      ["hi bob", alice],
    ]);
    expect(matrix.conferenceMessages.map((m) => [m.message.text, m.message.bridgedOwner])).toEqual([
      ["hi alice", bob],
    ]);
  });

  it("tells the inviter how the invitee gets an account when it has none", async () => {
    const { core: c } = await core();
    await c.accounts.create(alice);
    const view = await c.createConference(alice);
    await expect(c.inviteToConference(alice, view.id, bob)).rejects.toThrow(/create/);
  });
});

describe("title and leaving", () => {
  it("sets the title, follows a peer's title change, and leaves for good", async () => {
    const { core: c, tox, matrix } = await core();
    const { ref, friend } = await withFriend(c, tox);
    tox.setOnline(ref.publicKey, friend, true);
    const view = await c.createConference(alice, "first");
    await c.inviteToConference(alice, view.id, friend);
    expect(tox.conferenceInvites).toEqual([{ identity: ref.publicKey, conference: view.id, friend }]);
    tox.conferencePeerJoin(view.id, friend, "carol");
    await c.setConferenceTitle(alice, view.id, "second");
    await c.idle();
    expect(tox.conferences.get(view.id)?.title).toBe("second");
    expect(matrix.lastView(view.id)?.title).toBe("second");
    tox.conferencePeerTitle(view.id, "third");
    await c.idle();
    expect(matrix.lastView(view.id)?.title).toBe("third");
    expect((await c.conferences(alice))[0]?.title).toBe("third");
    await expect(c.setConferenceTitle(alice, view.id, "x".repeat(129))).rejects.toMatchObject({
      code: "bad-argument",
    });

    await c.leaveConference(alice, view.id);
    expect(await c.conferences(alice)).toEqual([]);
    expect(matrix.conferencesRemoved.map((r) => r.conference)).toEqual([view.id]);
    expect(tox.conferences.get(view.id)?.members.has(ref.publicKey)).toBe(false);
  });
});

describe("account deletion", () => {
  it("leaves every conference for good and tells the frontend before the account goes", async () => {
    const { core: c, tox, matrix } = await core();
    const { ref, friend } = await withFriend(c, tox);
    tox.setOnline(ref.publicKey, friend, true);
    const id = tox.conferenceInviteFrom(ref.publicKey, friend, { friendName: "carol" });
    await c.idle();
    expect((await c.command(alice, "logout confirm", "user")).ok).toBe(true);
    expect(matrix.conferencesRemoved.map((r) => r.conference)).toEqual([id]);
    expect(tox.conferences.get(id)?.members.has(ref.publicKey)).toBe(false);
    expect(await c.account(alice)).toBeNull();
  });
});

describe("restart", () => {
  it("rejoins conferences from their saved state and sends what was queued when a peer is back", async () => {
    const clock = new ManualClock(Date.now());
    const first = await core({ clock });
    const { ref, friend } = await withFriend(first.core, first.tox);
    first.tox.setOnline(ref.publicKey, friend, true);
    const id = first.tox.conferenceInviteFrom(ref.publicKey, friend, {
      title: "durable",
      friendName: "carol",
    });
    await first.core.idle();
    first.tox.conferencePeerLeave(id, friend);
    await first.core.idle();
    await first.core.sendConference({
      owner: alice,
      conference: id,
      text: "after restart",
      sourceEventId: "$r",
    });
    await first.core.stop();
    cores.splice(cores.indexOf(first.core), 1);

    const tox = new FakeTox();
    const second = await core({ clock, tox });
    await second.core.idle();
    // The identity came back with the conference's restart record (message numbers included).
    expect(tox.restored.get(ref.publicKey)?.map((s) => [s.id, s.messageNumber])).toEqual([[id, 65536]]);
    expect(second.matrix.lastView(id)?.title).toBe("durable");
    const [view] = await second.core.conferences(alice);
    expect(view).toMatchObject({ id, title: "durable", connected: false });
    // Same event again after the restart: still one message.
    await second.core.sendConference({
      owner: alice,
      conference: id,
      text: "after restart",
      sourceEventId: "$r",
    });
    tox.conferencePeerJoin(id, friend, "carol");
    await second.core.idle();
    expect(tox.conferenceSent.map((m) => m.text)).toEqual(["after restart"]);
  });
});

describe("restart with another bridged member", () => {
  it("queued lines wait for a member that did not restart (not the bridge's own identity), at most rejoinWaitMs", async () => {
    const clock = new ManualClock(Date.now());
    const opts = { clock, conferences: { settleMs: 0, rejoinWaitMs: 30_000 } };
    const first = await core(opts);
    const { ref, friend } = await withFriend(first.core, first.tox);
    await first.core.accounts.create(bob);
    const b = (await first.core.account(bob))!;
    first.tox.setOnline(ref.publicKey, friend, true);
    const id = first.tox.conferenceInviteFrom(ref.publicKey, friend, { friendName: "carol" });
    await first.core.idle();
    await first.core.inviteToConference(alice, id, bob);
    first.tox.setOnline(ref.publicKey, b.publicKey, true);
    first.tox.setOnline(b.publicKey, ref.publicKey, true);
    await first.core.idle();
    expect((await first.core.conferences(bob))[0]?.id).toBe(id);
    const restart = async (previous: BridgeCore) => {
      await previous.stop();
      cores.splice(cores.indexOf(previous), 1);
      const next = await core({ ...opts, tox: new FakeTox() });
      await next.core.idle();
      return next;
    };

    // Carol comes back: the line goes then, not while bob (restarted with us) is the only one there.
    let c = await restart(first.core);
    await c.core.sendConference({ owner: alice, conference: id, text: "one" });
    await c.core.idle();
    expect((await c.core.conferences(alice))[0]?.connected).toBe(true); // through bob
    clock.advance(10_000);
    await c.core.tick();
    await c.core.idle();
    expect(c.tox.conferenceSent).toEqual([]);
    c.tox.conferencePeerJoin(id, friend, "carol");
    await c.core.idle();
    expect(c.tox.conferenceSent.map((m) => [m.identity, m.text])).toEqual([[ref.publicKey, "one"]]);

    // Carol does not come back: the line goes to bob when the wait is over.
    c = await restart(c.core);
    await c.core.sendConference({ owner: alice, conference: id, text: "two" });
    clock.advance(29_000);
    await c.core.tick();
    await c.core.idle();
    expect(c.tox.conferenceSent).toEqual([]);
    clock.advance(1_000);
    await c.core.tick();
    await c.core.idle();
    expect(c.tox.conferenceSent.map((m) => m.text)).toEqual(["two"]);
    expect(c.xmpp.texts(bob)).toContain("two");
  });
});

describe("why a conference is announced", () => {
  it("says joined for a create and an accepted invite, changed for later changes, restored after a restart", async () => {
    const clock = new ManualClock(Date.now());
    const first = await core({ clock });
    const { core: c, tox, matrix } = first;
    const { ref, friend } = await withFriend(c, tox);
    tox.setOnline(ref.publicKey, friend, true);
    const created = await c.createConference(alice, "mine");
    const invited = tox.conferenceInviteFrom(ref.publicKey, friend, { title: "theirs", friendName: "carol" });
    await c.idle();
    // One "joined" per join; Tox's own report of the new conference may add a "changed".
    for (const id of [created.id, invited]) {
      const reasons = matrix.reasons(id);
      expect(reasons.filter((r) => r === "joined")).toHaveLength(1);
      expect(reasons.filter((r) => r !== "joined" && r !== "changed")).toEqual([]);
    }
    const seen = matrix.conferenceViews.length;
    tox.conferencePeerTitle(invited, "renamed");
    await c.setConferenceTitle(alice, created.id, "mine too");
    await c.idle();
    expect(matrix.conferenceViews.slice(seen).map((v) => [v.view.title, v.reason])).toEqual(
      expect.arrayContaining([
        ["renamed", "changed"],
        ["mine too", "changed"],
      ]),
    );
    expect(matrix.conferenceViews.slice(seen).every((v) => v.reason === "changed")).toBe(true);
    await c.stop();
    cores.splice(cores.indexOf(c), 1);

    const second = await core({ clock, tox: new FakeTox() });
    await second.core.idle();
    // Announced at start and again as each frontend registers: never as a new join.
    for (const id of [created.id, invited]) {
      expect(second.matrix.reasons(id).length).toBeGreaterThan(0);
      expect(new Set(second.matrix.reasons(id))).toEqual(new Set(["restored"]));
    }
  });

  it("a join no frontend heard of (none registered for the network) is announced as joined when one registers", async () => {
    const { core: c, tox, matrix } = await core();
    const { ref, friend } = await withFriend(c, tox);
    c.unregisterFrontend("matrix");
    tox.setOnline(ref.publicKey, friend, true);
    const id = tox.conferenceInviteFrom(ref.publicKey, friend, { friendName: "carol" });
    await c.idle();
    expect(matrix.conferenceViews).toEqual([]);
    const late = new ConferenceFrontend("matrix");
    c.registerFrontend(late);
    await c.idle();
    expect(late.reasons(id)).toEqual(["joined"]);
    // Told once: registering again is a plain re-announce.
    const again = new ConferenceFrontend("matrix");
    c.registerFrontend(again);
    await c.idle();
    expect(again.reasons(id)).toEqual(["restored"]);
  });
});

describe("redelivery on request", () => {
  it("hands kept lines over at once, in order, whatever their retry time; refuses a conference the user is not in", async () => {
    const c = await core({ conferences: { settleMs: 0, inboundRetryDelayMs: () => 10 * 60_000 } });
    const { ref, friend } = await withFriend(c.core, c.tox);
    c.tox.setOnline(ref.publicKey, friend, true);
    const id = c.tox.conferenceInviteFrom(ref.publicKey, friend, { friendName: "carol" });
    await c.core.idle();
    c.matrix.refuseConference = new Error("not in the room");
    c.tox.conferenceSay(id, friend, "one");
    c.tox.conferenceSay(id, friend, "two");
    await c.core.idle();
    expect(c.matrix.texts()).toEqual([]);
    // The user can take them again, long before the retry is due.
    c.matrix.refuseConference = undefined;
    c.clock.advance(1000);
    await c.core.tick();
    await c.core.idle();
    expect(c.matrix.texts()).toEqual([]);
    await c.core.redeliverConference(alice, id);
    expect(c.matrix.texts()).toEqual(["one", "two"]);
    // Nothing is left to hand over twice.
    await c.core.redeliverConference(alice, id);
    c.clock.advance(20 * 60_000);
    await c.core.tick();
    await c.core.idle();
    expect(c.matrix.texts()).toEqual(["one", "two"]);
    // Still refused: kept for the next try.
    c.matrix.refuseConference = new Error("still out");
    c.tox.conferenceSay(id, friend, "three");
    await c.core.idle();
    await c.core.redeliverConference(alice, id);
    expect(c.matrix.texts()).toEqual(["one", "two"]);
    c.matrix.refuseConference = undefined;
    await c.core.redeliverConference(alice, id);
    expect(c.matrix.texts()).toEqual(["one", "two", "three"]);
    await expect(c.core.redeliverConference(alice, stranger().publicKey)).rejects.toMatchObject({
      code: "unknown-conference",
    });
  });
});

describe("commands", () => {
  it("conference create / invite / leave and conferences, with clear errors", async () => {
    const { core: c, tox } = await core();
    const { ref, friend } = await withFriend(c, tox);
    await t.store.friends.update(ref.id, Buffer.from(friend, "hex"), { name: "carol" });
    tox.setOnline(ref.publicKey, friend, true);
    const run = (text: string) => c.command(alice, text, "user");

    expect((await run("conferences")).text).toMatch(/no Tox conference/);
    expect(await run("conference invite carol")).toMatchObject({ ok: false, text: /no Tox conference/ });
    expect(await run("conference create Book club")).toMatchObject({ ok: true, text: /"Book club" created/ });
    expect(await run("conference invite carol")).toMatchObject({
      ok: true,
      text: /Invited carol to "Book club"/,
    });
    const [view] = await c.conferences(alice);
    expect(tox.conferenceInvites).toEqual([{ identity: ref.publicKey, conference: view?.id, friend }]);

    await run("conference create");
    expect(await run("conference invite carol")).toMatchObject({ ok: false, text: /several conferences/ });
    expect(await run("conference invite 1 carol")).toMatchObject({ ok: true });
    expect(await run("conference invite 1 nobody")).toMatchObject({ ok: false, text: /No friend matches/ });
    expect(await run("conference invite 1 @dave:example.org")).toMatchObject({
      ok: false,
      text: /@dave:example.org has no Tox account on this bridge yet/,
    });
    const listed = await run("conferences");
    expect(listed.text).toMatch(
      /Your conferences \(2\):\n1\. "Book club" — nobody else reachable right now\n2\. /,
    );
    expect(await run("conference leave 1")).toMatchObject({ ok: true, text: /You left "Book club"/ });
    expect(await c.conferences(alice)).toHaveLength(1);
    expect(await run("conference frobnicate")).toMatchObject({ ok: false, text: /Usage: conference create/ });
  });
});
