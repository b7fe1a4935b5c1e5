/**
 * The Matrix frontend over real HTTP: homeserver double <-> matrix-appservice-bridge <-> frontend
 * <-> bridge core (PGlite) <-> the in-memory Tox gateway. Proves the bot, ghosts, portals, both
 * message directions with receipts, typing, permissions and transaction durability.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ghostUserId } from "../../src/matrix/ids.js";
import { FakeTox } from "../core/fake-tox.js";
import { stranger } from "../core/helpers.js";
import { waitUntil } from "../helpers/wait.js";
import {
  type FrontendRig,
  friendWithPortal,
  onlineFriend,
  startFrontendRig,
  userWithAccount,
} from "./frontend-harness.js";

let rig: FrontendRig | undefined;
afterEach(async () => {
  await rig?.stop();
  rig = undefined;
});

const names = { domain: "localhost", botLocalpart: "toxbot", userPrefix: "_tox_" };

describe("Matrix frontend: bot", () => {
  it("answers commands in its DM: create (Tox ID and QR code image), help, clear errors", async () => {
    rig = await startFrontendRig();
    const r = rig;
    const { user: alice, botRoom, account } = await userWithAccount(r, "alice");
    expect(r.tox.isOnline(account.publicKey)).toBe(true);
    const created = await r.hs.waitForMessage({
      roomId: botRoom,
      sender: r.hs.botUserId,
      body: /Your Tox ID: /,
    });
    expect(created.content.msgtype).toBe("m.notice");
    expect(String(created.content.body)).toContain(account.publicKey.toUpperCase());
    const image = await r.hs.waitForMessage({ roomId: botRoom, msgtype: "m.image" });
    expect(String(image.content.body)).toMatch(/^tox:[0-9A-F]{76}$/);
    const media = await alice.download(String(image.content.url));
    expect(media.contentType).toBe("image/png");
    expect(media.data.subarray(1, 4).toString()).toBe("PNG");

    await alice.sendMessage(botRoom, "help");
    await r.hs.waitForMessage({ roomId: botRoom, sender: r.hs.botUserId, body: /^Commands:/ });
    await alice.sendMessage(botRoom, "add 1234");
    await r.hs.waitForMessage({ roomId: botRoom, sender: r.hs.botUserId, body: /not a valid Tox ID/ });
    await alice.sendMessage(botRoom, "frobnicate");
    await r.hs.waitForMessage({ roomId: botRoom, sender: r.hs.botUserId, body: /Unknown command/ });
  });

  it("refuses a user without permission once, politely, and changes nothing", async () => {
    rig = await startFrontendRig({ permissions: { "@alice:localhost": "user" } });
    const r = rig;
    const eve = r.hs.asUser(r.hs.createUser("eve"));
    const room1 = await eve.createDirectRoom(r.hs.botUserId);
    await r.hs.waitForMessage({ roomId: room1, sender: r.hs.botUserId, body: /not permitted/ });
    await r.hs.waitForMembership(room1, r.hs.botUserId, "leave");
    const room2 = await eve.createDirectRoom(r.hs.botUserId);
    await r.hs.waitForMembership(room2, r.hs.botUserId, "leave");
    await r.hs.pushIdle();
    const refusals = [room1, room2]
      .flatMap((id) => r.hs.messages(id))
      .filter((m) => /not permitted/.test(String(m.body)));
    expect(refusals).toHaveLength(1);
    expect(await r.core.account({ kind: "matrix", id: eve.userId })).toBeNull();
  });
});

describe("Matrix frontend: ghosts and portals", () => {
  it("Tox -> Matrix: the ghost makes a DM portal on first contact, messages and emotes arrive, typing too", async () => {
    rig = await startFrontendRig();
    const r = rig;
    const { user: alice, account } = await userWithAccount(r, "alice");
    const friend = await onlineFriend(r, alice, account);
    r.tox.name(account.publicKey, friend, "Bob");
    await r.core.idle();
    r.tox.message(account.publicKey, friend, "hello from Tox");
    const ghost = ghostUserId(names, friend);
    const msg = await r.hs.waitForMessage({ sender: ghost, body: "hello from Tox" });
    const room = r.hs.room(msg.room_id);
    expect(room.membership(alice.userId)).toBe("invite");
    const bridgeState = r.hs.events(msg.room_id, "m.bridge");
    expect(bridgeState[0]?.content).toMatchObject({ bridgebot: r.hs.botUserId, channel: { id: friend } });
    expect(r.hs.events(msg.room_id, "uk.half-shot.bridge")).toHaveLength(1);
    const invite = r.hs.events(msg.room_id, "m.room.member").find((e) => e.state_key === alice.userId);
    expect(invite?.content.is_direct).toBe(true);
    const profile = await alice.request<{ displayname?: string }>(
      "GET",
      `/_matrix/client/v3/profile/${encodeURIComponent(ghost)}`,
    );
    expect(profile.displayname).toBe("Bob (Tox)");
    expect(r.hs.state.account(ghost).presence.presence).toBe("online");

    r.tox.message(account.publicKey, friend, "waves", "action");
    const emote = await r.hs.waitForMessage({ sender: ghost, body: "waves" });
    expect(emote.content.msgtype).toBe("m.emote");
    expect(emote.room_id).toBe(msg.room_id);
    r.tox.typing(account.publicKey, friend, true);
    await waitUntil(() => r.hs.state.typingIn(msg.room_id).includes(ghost), 20_000, "ghost typing");
    const portals = await r.store.portals.listForAccount(account.id, "matrix");
    expect(portals.map((p) => p.remoteId)).toEqual([msg.room_id]);
  });

  it("Matrix -> Tox with receipts; emotes become actions, edits and reactions readable text; typing", async () => {
    rig = await startFrontendRig();
    const r = rig;
    const { user: alice, account } = await userWithAccount(r, "alice");
    // Alice opens the DM herself by inviting the ghost.
    const { friend, ghost, room } = await friendWithPortal(r, alice, account);
    const e1 = await alice.sendMessage(room, "hi Bob");
    await waitUntil(() => r.tox.sentTo(account.publicKey, friend).length === 1, 20_000, "message to Tox");
    expect(r.tox.sentTo(account.publicKey, friend)[0]).toMatchObject({ text: "hi Bob", kind: "normal" });
    r.tox.ackAll(account.publicKey, friend);
    await waitUntil(
      () => r.hs.state.receipts.some((x) => x.userId === ghost && x.eventId === e1 && x.roomId === room),
      20_000,
      "ghost read receipt",
    );
    await alice.sendMessage(room, "dances", "m.emote");
    await alice.sendEvent(room, "m.room.message", {
      msgtype: "m.text",
      body: "* hi bob!",
      "m.new_content": { msgtype: "m.text", body: "hi bob!" },
      "m.relates_to": { rel_type: "m.replace", event_id: e1 },
    });
    await alice.sendEvent(room, "m.reaction", {
      "m.relates_to": { rel_type: "m.annotation", event_id: e1, key: "👍" },
    });
    await waitUntil(() => r.tox.sentTo(account.publicKey, friend).length === 4, 20_000, "4 messages to Tox");
    expect(r.tox.sentTo(account.publicKey, friend).map((m) => [m.kind, m.text])).toEqual([
      ["normal", "hi Bob"],
      ["action", "dances"],
      ["normal", "* hi bob!"],
      ["action", "reacted 👍"],
    ]);
    await alice.setTyping(room, true);
    await waitUntil(
      () => r.tox.identities.get(account.publicKey)?.typing.get(friend) === true,
      20_000,
      "typing to Tox",
    );

    // A long message goes as several Tox messages; the ghost's receipt waits for every part.
    const long = "é".repeat(1500); // 3000 bytes: three Tox messages of at most 1372 bytes
    const e2 = await alice.sendMessage(room, long);
    await waitUntil(
      () => r.tox.sentTo(account.publicKey, friend).length === 7,
      20_000,
      "the long message's parts",
    );
    expect(
      r.tox
        .sentTo(account.publicKey, friend)
        .slice(4)
        .map((m) => m.text)
        .join(""),
    ).toBe(long);
    const ack = (id: number) => r.tox.receipt(account.publicKey, friend, id);
    const ids = r.tox.sentTo(account.publicKey, friend).map((m) => m.id);
    for (const id of ids.slice(1, 6)) ack(id);
    await r.core.idle();
    await r.frontend.receiptsIdle();
    expect(r.hs.state.receipts.some((x) => x.userId === ghost && x.eventId === e2)).toBe(false);
    ack(ids[6]!);
    await waitUntil(
      () => r.hs.state.receipts.some((x) => x.userId === ghost && x.eventId === e2),
      20_000,
      "receipt after all parts",
    );
  });

  it("a ghost refuses an invite from a user it is not a friend of", async () => {
    rig = await startFrontendRig();
    const r = rig;
    const { user: alice } = await userWithAccount(r, "alice");
    const ghost = ghostUserId(names, stranger().publicKey);
    const room = await alice.createDirectRoom(ghost);
    await r.hs.waitForMembership(room, ghost, "leave");
  });
});

describe("Matrix frontend: older homeservers", () => {
  it("works over the legacy transaction path (token in the query) with EDUs under the unstable key", async () => {
    rig = await startFrontendRig({
      homeserver: { transactionPath: "legacy", ephemeralKeys: ["de.sorunome.msc2409.ephemeral"] },
    });
    const r = rig;
    const { user: alice, account } = await userWithAccount(r, "alice");
    const { friend, room } = await friendWithPortal(r, alice, account);
    await alice.sendMessage(room, "over the old path");
    await alice.setTyping(room, true);
    await waitUntil(() => r.tox.sentTo(account.publicKey, friend).length === 1, 20_000, "message to Tox");
    await waitUntil(
      () => r.tox.identities.get(account.publicKey)?.typing.get(friend) === true,
      20_000,
      "typing to Tox",
    );
    expect(r.hs.transactions.length).toBeGreaterThan(0);
    expect(r.hs.transactions.every((t) => !t.url.includes("/_matrix/app/v1/"))).toBe(true);
  });
});

describe("Matrix frontend: durability", () => {
  it("a redelivered transaction sends once; bad transactions are refused and change nothing", async () => {
    rig = await startFrontendRig();
    const r = rig;
    const { user: alice, account } = await userWithAccount(r, "alice");
    const { friend, room } = await friendWithPortal(r, alice, account);
    await alice.sendMessage(room, "once");
    await waitUntil(() => r.tox.sentTo(account.publicKey, friend).length === 1, 20_000, "first send");
    await r.hs.pushIdle();
    const asUrl = `http://127.0.0.1:${r.appservice.port}`;
    const ev = r.hs.events(room, "m.room.message").at(-1)!;
    const put = (path: string, body: string, token = "test-hs-token") =>
      fetch(`${asUrl}${path}`, {
        method: "PUT",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body,
      });
    // The same event again under a new transaction id (a homeserver that restarted its counter).
    expect((await put("/_matrix/app/v1/transactions/again-1", JSON.stringify({ events: [ev] }))).status).toBe(
      200,
    );
    // Wrong token, malformed JSON, a body without events, an event in a room we do not know.
    const forged = { ...ev, event_id: "$forged", content: { msgtype: "m.text", body: "forged" } };
    expect(
      (await put("/_matrix/app/v1/transactions/bad-1", JSON.stringify({ events: [forged] }), "wrong")).status,
    ).toBe(403);
    expect((await put("/_matrix/app/v1/transactions/bad-2", "{not json")).status).toBe(400);
    expect((await put("/_matrix/app/v1/transactions/bad-3", JSON.stringify({ nope: 1 }))).status).toBe(400);
    const unknownRoom = { ...forged, event_id: "$elsewhere", room_id: "!nowhere:localhost" };
    expect(
      (await put("/_matrix/app/v1/transactions/bad-4", JSON.stringify({ events: [unknownRoom] }))).status,
    ).toBe(200);
    await r.core.idle();
    expect(r.tox.sentTo(account.publicKey, friend).map((m) => m.text)).toEqual(["once"]);
    expect(await r.store.outbox.depth()).toMatchObject({ queued: 0 });
  });

  it("a message is acknowledged only once it is in the outbox; a friend offline gets it when back", async () => {
    rig = await startFrontendRig();
    const r = rig;
    const { user: alice, account } = await userWithAccount(r, "alice");
    const { friend, room } = await friendWithPortal(r, alice, account);
    r.tox.setOnline(account.publicKey, friend, false);
    await r.core.idle();
    await alice.sendMessage(room, "while you were away");
    await r.hs.pushIdle();
    expect(await r.store.outbox.depth()).toMatchObject({ queued: 1 });
    expect(r.tox.sentTo(account.publicKey, friend)).toHaveLength(0);
    r.tox.setOnline(account.publicKey, friend, true);
    await waitUntil(
      () => r.tox.sentTo(account.publicKey, friend).length === 1,
      20_000,
      "delivery after reconnect",
    );
  });

  it("Tox -> Matrix survives homeserver errors: retried until accepted, posted once", async () => {
    rig = await startFrontendRig();
    const r = rig;
    const { user: alice, account } = await userWithAccount(r, "alice");
    const friend = await onlineFriend(r, alice, account);
    const ghost = ghostUserId(names, friend);
    r.tox.message(account.publicKey, friend, "first");
    await r.hs.waitForMessage({ sender: ghost, body: "first" });
    r.hs.failNext(3, { status: 502, match: (req) => req.method === "PUT" && req.path.includes("/send/") });
    r.tox.message(account.publicKey, friend, "second");
    const second = await r.hs.waitForMessage({ sender: ghost, body: "second" }, { timeoutMs: 8000 });
    await r.core.idle();
    expect(
      r.hs
        .messages(second.room_id)
        .filter((m) => m.sender === ghost)
        .map((m) => m.body),
    ).toEqual(["first", "second"]);
  });
});

void FakeTox;

describe("Matrix frontend: notices and lifecycle", () => {
  it("a Tox friend request and a failed delivery become bot notices", async () => {
    rig = await startFrontendRig();
    const r = rig;
    const { user: alice, botRoom, account } = await userWithAccount(r, "alice");
    const someone = stranger();
    r.tox.request(account.publicKey, someone.publicKey, "let's be friends");
    await r.hs.waitForMessage({
      roomId: botRoom,
      sender: r.hs.botUserId,
      body: /Friend request from Tox user/,
    });
    await alice.sendMessage(botRoom, "requests");
    await r.hs.waitForMessage({ roomId: botRoom, body: /let's be friends/ });
    await alice.sendMessage(botRoom, "accept 1");
    await r.hs.waitForMessage({ roomId: botRoom, body: /is now your friend/ });
    r.tox.setOnline(account.publicKey, someone.publicKey, true);
    await r.core.idle();
    const room = await alice.createDirectRoom(ghostUserId(names, someone.publicKey));
    await r.hs.waitForMembership(room, ghostUserId(names, someone.publicKey), "join");
    // The core's give-up path is covered by its own tests; here: its notice reaches the bot room.
    await r.frontend.notice(account, {
      code: "delivery-failed",
      text: 'Your message "x" could not be delivered to Tox (boom).',
    });
    await r.hs.waitForMessage({ roomId: botRoom, body: /could not be delivered/ });
  });

  it("logout deletes the identity and its portals; the old DM no longer reaches Tox", async () => {
    rig = await startFrontendRig();
    const r = rig;
    const { user: alice, botRoom, account } = await userWithAccount(r, "alice");
    const { friend, room } = await friendWithPortal(r, alice, account);
    await alice.sendMessage(room, "before");
    await waitUntil(() => r.tox.sentTo(account.publicKey, friend).length === 1, 20_000, "first message");
    await alice.sendMessage(botRoom, "logout");
    await r.hs.waitForMessage({ roomId: botRoom, body: /logout confirm/ });
    await alice.sendMessage(botRoom, "logout confirm");
    await r.hs.waitForMessage({ roomId: botRoom, body: /identity was deleted/ });
    expect(r.tox.isOnline(account.publicKey)).toBe(false);
    expect(await r.store.portals.listForAccount(account.id)).toEqual([]);
    await alice.sendMessage(room, "after");
    await r.hs.pushIdle();
    expect(r.tox.sent.map((m) => m.text)).toEqual(["before"]);
  });

  it("a kicked ghost's portal is forgotten; the next Tox message opens a new DM", async () => {
    rig = await startFrontendRig();
    const r = rig;
    const { user: alice, account } = await userWithAccount(r, "alice");
    const friend = await onlineFriend(r, alice, account);
    const ghost = ghostUserId(names, friend);
    // A plain private chat (not trusted_private_chat, where the invitee gets the creator's level).
    const room = await alice.createRoom({ preset: "private_chat", is_direct: true, invite: [ghost] });
    await r.hs.waitForMembership(room, ghost, "join");
    await alice.kick(room, ghost);
    await waitUntil(
      async () => (await r.store.portals.getByRemote("matrix", room)) === null,
      20_000,
      "portal forgotten",
      20,
    );
    r.tox.message(account.publicKey, friend, "still there?");
    const msg = await r.hs.waitForMessage({ sender: ghost, body: "still there?" });
    expect(msg.room_id).not.toBe(room);
  });
});
