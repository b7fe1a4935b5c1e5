/**
 * Tox conferences as Matrix rooms (issue 8), over real HTTP: homeserver double <->
 * matrix-appservice-bridge <-> Matrix frontend <-> bridge core (PGlite) <-> the in-memory Tox
 * gateway. One room per conference shared by the bridged Matrix members, ghosts for Tox peers
 * with their peer names, title <-> room name, messages both ways shown once, invites from the
 * room, leaving, and a bridge restart that reuses the room.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Owner } from "../../src/core/frontend.js";
import { ghostUserId } from "../../src/matrix/ids.js";
import { FakeTox } from "../core/fake-tox.js";
import { stranger } from "../core/helpers.js";
import { startHomeserver, type TestClient } from "../helpers/homeserver/index.js";
import { waitUntil } from "../helpers/wait.js";
import { startWholeBridge } from "../helpers/whole-bridge.js";
import { openTestStore } from "../store/backends.js";
import { testRegistration } from "./bridge-harness.js";

const names = { domain: "localhost", botLocalpart: "toxbot", userPrefix: "_tox_" };
const registration = testRegistration();

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {});
  cleanup = [];
});

async function rig() {
  const hs = await startHomeserver({ registration, startPaused: true });
  hs.defaultWaitMs = 20_000;
  const store = await openTestStore();
  const tox = new FakeTox();
  let bridge = await startWholeBridge({
    store,
    tox,
    logLevel: "warn",
    core: {
      tickMs: 50,
      inbox: { retryDelayMs: () => 50 },
      conferences: { inboundRetryDelayMs: () => 50, retryDelayMs: () => 50, settleMs: 0 },
    },
    matrix: { hs, registration, appservice: { startupChecks: { ping: false } } },
  });
  cleanup.push(
    () => hs.close(),
    () => store.close(),
    () => bridge.stop(),
  );
  return {
    hs,
    tox,
    get core() {
      return bridge.core;
    },
    /** Stops the bridge and starts a new one on the same homeserver and store (Tox state lost). */
    async restart(next: FakeTox) {
      bridge = await bridge.restart({ tox: next });
    },
  };
}
type Rig = Awaited<ReturnType<typeof rig>>;

/** A Matrix user with a bot room and a Tox identity. */
async function userWithAccount(r: Rig, localpart: string) {
  const client = r.hs.asUser(r.hs.createUser(localpart));
  const botRoom = await client.createDirectRoom(r.hs.botUserId);
  await r.hs.waitForMembership(botRoom, r.hs.botUserId, "join");
  await client.sendMessage(botRoom, "create");
  await r.hs.waitForMessage({ roomId: botRoom, sender: r.hs.botUserId, body: /Tox identity is ready/ });
  const owner: Owner = { kind: "matrix", id: client.userId };
  const account = (await r.core.account(owner))!;
  return { client, botRoom, owner, account };
}

/** An accepted Tox friend of the user, online. */
async function onlineFriend(r: Rig, owner: Owner, identity: string) {
  const f = stranger();
  await r.core.contacts.add(owner, f.toxId);
  r.tox.setOnline(identity, f.publicKey, true);
  await r.core.idle();
  return f.publicKey;
}

/** The conference room the bot invited this user to (and the user joins it). */
async function joinInvitedRoom(r: Rig, client: TestClient, name?: string): Promise<string> {
  const invite = await r.hs.waitForEvent(
    (ev) =>
      ev.type === "m.room.member" &&
      ev.state_key === client.userId &&
      ev.content.membership === "invite" &&
      ev.sender === r.hs.botUserId &&
      (name === undefined || r.hs.room(ev.room_id).getState("m.room.name")?.content.name === name),
    { what: `a conference room invite for ${client.userId}` },
  );
  await client.join(invite.room_id);
  return invite.room_id;
}

const memberOf = (r: Rig, roomId: string, userId: string) =>
  r.hs.room(roomId).getState("m.room.member", userId);

describe("Matrix conferences", () => {
  it("a conference made with the bot is a room: ghosts with peer names, messages both ways, title both ways, joins and leaves", async () => {
    const r = await rig();
    const { client: alice, botRoom, owner, account } = await userWithAccount(r, "alice");
    const carol = await onlineFriend(r, owner, account.publicKey);
    await alice.sendMessage(botRoom, "conference create Tox lounge");
    await r.hs.waitForMessage({ roomId: botRoom, sender: r.hs.botUserId, body: /"Tox lounge" created/ });
    const roomId = await joinInvitedRoom(r, alice, "Tox lounge");
    expect(r.hs.events(roomId, "m.bridge").map((e) => e.state_key)).toEqual([
      expect.stringMatching(/^toxbridge:\/\/tox\/conference\/[0-9a-f]{64}$/),
    ]);
    const [view] = await r.core.conferences(owner);
    const id = view!.id;

    // carol (a Tox peer) joins: her ghost joins with her peer name as room displayname.
    await alice.sendMessage(botRoom, "conference invite 1 nobody");
    await r.hs.waitForMessage({ roomId: botRoom, sender: r.hs.botUserId, body: /No friend matches/ });
    r.tox.conferencePeerJoin(id, carol, "Carol");
    const ghost = ghostUserId(names, carol);
    await r.hs.waitForMembership(roomId, ghost, "join");
    await waitUntil(
      () => memberOf(r, roomId, ghost)?.content.displayname === "Carol",
      20_000,
      "ghost displayname",
    );

    // Tox -> Matrix: message and action from the ghost; our own echo is not shown.
    r.tox.conferenceSay(id, carol, "hello room");
    r.tox.conferenceSay(id, carol, "waves", "action");
    await r.hs.waitForMessage({ roomId, sender: ghost, body: "hello room", msgtype: "m.text" });
    await r.hs.waitForMessage({ roomId, sender: ghost, body: "waves", msgtype: "m.emote" });

    // Matrix -> Tox from alice's own identity.
    await alice.sendMessage(roomId, "hi Carol");
    await alice.sendMessage(roomId, "dances", "m.emote");
    await waitUntil(() => r.tox.conferenceSent.length === 2, 20_000, "alice's lines on Tox");
    expect(r.tox.conferenceSent.map((m) => [m.identity, m.text, m.kind])).toEqual([
      [account.publicKey, "hi Carol", "normal"],
      [account.publicKey, "dances", "action"],
    ]);
    await r.core.idle();
    expect(r.hs.messages(roomId).filter((m) => m.sender === ghost)).toHaveLength(2);

    // Title: room name -> Tox; Tox title -> room name (set by the bot).
    await alice.sendState(roomId, "m.room.name", "", { name: "Lounge 2" });
    await waitUntil(() => r.tox.conferences.get(id)?.title === "Lounge 2", 20_000, "title on Tox");
    r.tox.conferencePeerTitle(id, "Carol's lounge");
    await waitUntil(
      () => r.hs.room(roomId).getState("m.room.name")?.content.name === "Carol's lounge",
      20_000,
      "room name from Tox",
    );

    // carol leaves the conference: her ghost leaves the room.
    r.tox.conferencePeerLeave(id, carol);
    await r.hs.waitForMembership(roomId, ghost, "leave");

    // alice leaves the room: her identity leaves the conference.
    await alice.leave(roomId);
    await waitUntil(
      async () => (await r.core.conferences(owner)).length === 0,
      20_000,
      "conference left",
      20,
    );
    expect(r.tox.conferences.get(id)?.members.has(account.publicKey)).toBe(false);
  });

  it("a friend's invite is joined and shared by two Matrix users; each line shows once; invites from the room", async () => {
    const r = await rig();
    const a = await userWithAccount(r, "alice");
    const b = await userWithAccount(r, "bob");
    const carol = await onlineFriend(r, a.owner, a.account.publicKey);
    const id = r.tox.conferenceInviteFrom(a.account.publicKey, carol, {
      title: "Carol's",
      friendName: "Carol",
    });
    const roomId = await joinInvitedRoom(r, a.client, "Carol's");
    const ghost = ghostUserId(names, carol);
    await r.hs.waitForMembership(roomId, ghost, "join");

    // alice invites bob (a Matrix user of this bridge) in the room: bob's own identity joins.
    await a.client.invite(roomId, b.client.userId);
    await waitUntil(
      async () => (await r.core.friend(a.owner, b.account.publicKey))?.state === "accepted",
      20_000,
      "befriended",
      20,
    );
    r.tox.setOnline(a.account.publicKey, b.account.publicKey, true);
    r.tox.setOnline(b.account.publicKey, a.account.publicKey, true);
    await waitUntil(
      async () => (await r.core.conferences(b.owner)).length === 1,
      20_000,
      "bob in the conference",
      20,
    );
    await b.client.join(roomId);
    // bob is himself in the room, never a ghost.
    await r.core.idle();
    expect(memberOf(r, roomId, ghostUserId(names, b.account.publicKey))).toBeUndefined();
    expect(memberOf(r, roomId, ghostUserId(names, a.account.publicKey))).toBeUndefined();

    // carol's line reaches both identities but the room shows it once.
    r.tox.conferenceSay(id, carol, "one line");
    await r.hs.waitForMessage({ roomId, sender: ghost, body: "one line" });
    await r.core.idle();
    await new Promise((res) => setTimeout(res, 200));
    expect(r.hs.messages(roomId).filter((m) => m.body === "one line")).toHaveLength(1);

    // bob speaks from his own identity; alice's identity receives it, but the room has bob's event.
    await b.client.sendMessage(roomId, "bob here");
    await waitUntil(
      () => r.tox.conferenceSent.some((m) => m.text === "bob here"),
      20_000,
      "bob's line on Tox",
    );
    expect(r.tox.conferenceSent.find((m) => m.text === "bob here")?.identity).toBe(b.account.publicKey);
    await r.core.idle();
    expect(r.hs.messages(roomId).filter((m) => m.body === "bob here")).toHaveLength(1);

    // Inviting a Matrix user without an account: the bot tells them how to get one.
    const dave = r.hs.asUser(r.hs.createUser("dave"));
    await a.client.invite(roomId, dave.userId);
    await r.hs.waitForMessage({ sender: r.hs.botUserId, body: /invited you to a Tox conference.*`create`/s });

    // dave joins anyway and talks: nothing goes to Tox, and the bot explains once.
    await dave.join(roomId);
    await dave.sendMessage(roomId, "am I in?");
    await dave.sendMessage(roomId, "hello?");
    await r.hs.waitForMessage({
      sender: r.hs.botUserId,
      body: /not sent to the Tox conference: You have no Tox account/,
    });
    await r.hs.pushIdle();
    await r.core.idle();
    const told = [...r.hs.state.rooms.keys()].flatMap((room) =>
      r.hs.messages(room).filter((m) => /You have no Tox account/.test(String(m.body))),
    );
    expect(told).toHaveLength(1);
    expect(r.tox.conferenceSent.some((m) => m.text === "hello?")).toBe(false);

    // alice deletes her account: she is taken out of the room, and bob's identity now posts the lines.
    await a.client.sendMessage(a.botRoom, "logout confirm");
    await r.hs.waitForMembership(roomId, a.client.userId, "leave");
    r.tox.conferenceSay(id, carol, "after alice");
    await r.hs.waitForMessage({ roomId, sender: ghost, body: "after alice" });
  });

  it("after a bridge restart the room is reused and a message sent while alone goes out when a peer is back", async () => {
    const r = await rig();
    const { client: alice, owner, account } = await userWithAccount(r, "alice");
    const carol = await onlineFriend(r, owner, account.publicKey);
    const id = r.tox.conferenceInviteFrom(account.publicKey, carol, {
      title: "Durable",
      friendName: "Carol",
    });
    const roomId = await joinInvitedRoom(r, alice, "Durable");
    await r.hs.waitForMembership(roomId, ghostUserId(names, carol), "join");
    r.tox.conferencePeerLeave(id, carol);
    await r.core.idle();
    await alice.sendMessage(roomId, "while alone");
    await r.hs.pushIdle();
    await r.core.idle();
    expect(r.tox.conferenceSent).toEqual([]);

    const tox = new FakeTox();
    await r.restart(tox);
    expect(tox.restored.get(account.publicKey)?.map((s) => s.id)).toEqual([id]);
    // Same room, no new one.
    const rooms = [...r.hs.state.rooms.values()].filter(
      (room) => room.getState("m.room.name")?.content.name === "Durable",
    );
    expect(rooms.map((room) => room.roomId)).toEqual([roomId]);
    tox.conferencePeerJoin(id, carol, "Carol");
    await waitUntil(
      () => tox.conferenceSent.some((m) => m.text === "while alone"),
      20_000,
      "queued line sent",
    );
    tox.conferenceSay(id, carol, "welcome back");
    await r.hs.waitForMessage({ roomId, sender: ghostUserId(names, carol), body: "welcome back" });
  });
});
