/**
 * The homeserver double against the spec rules a bridge depends on: authentication, appservice
 * registration and identity assertion, transaction-id idempotence, room and membership rules,
 * media, and transactions pushed to the appservice (retries, legacy path, ephemeral keys).
 */
import type { AddressInfo } from "node:net";
import express from "express";
import { afterEach, describe, expect, it } from "vitest";
import type { Registration } from "../../src/config/registration.js";
import {
  type HomeserverDouble,
  type HomeserverOptions,
  MatrixClientError,
  startHomeserver,
} from "../helpers/homeserver/index.js";
import { waitUntil } from "../helpers/wait.js";
import { testRegistration } from "./bridge-harness.js";

/** The test registration with this file's tokens (the pusher's requests are checked for them). */
const registration = (over: Partial<Registration> = {}): Registration =>
  testRegistration({ as_token: "as-secret", hs_token: "hs-secret", ...over });

interface TxnBody {
  events: Array<{ event_id: string; room_id: string; type: string; [k: string]: unknown }>;
  ephemeral?: unknown[];
  "de.sorunome.msc2409.ephemeral"?: unknown[];
}

/** A recording appservice endpoint; `failFirst` answers 500 that many times. */
async function fakeAppservice(failFirst = 0) {
  const received: Array<{ path: string; auth: string | undefined; query: unknown; body: TxnBody }> = [];
  let failures = failFirst;
  const app = express();
  app.use(express.json());
  app.put(["/_matrix/app/v1/transactions/:txnId", "/transactions/:txnId"], (req, res) => {
    received.push({ path: req.path, auth: req.headers.authorization, query: req.query, body: req.body });
    if (failures > 0) {
      failures--;
      res.status(500).json({ errcode: "M_UNKNOWN" });
      return;
    }
    res.json({});
  });
  const server = app.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    received,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

let hs: HomeserverDouble | undefined;
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  await hs?.close();
  hs = undefined;
  for (const c of cleanups.splice(0)) await c();
});

async function start(opts: Partial<HomeserverOptions> = {}) {
  hs = await startHomeserver({ registration: registration(), backoffMs: { initial: 5, max: 50 }, ...opts });
  return hs;
}

async function expectError(p: Promise<unknown>, status: number, errcode: string) {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected ${status} ${errcode}`).toBeInstanceOf(MatrixClientError);
  expect((err as MatrixClientError).status).toBe(status);
  expect((err as MatrixClientError).errcode).toBe(errcode);
}

describe("authentication", () => {
  it("needs a token, rejects unknown ones, and takes it from the header or the query", async () => {
    const h = await start();
    const res = await fetch(`${h.url}/_matrix/client/versions`);
    expect(((await res.json()) as { versions: string[] }).versions).toContain("v1.11");

    const whoami = "/_matrix/client/v3/account/whoami";
    const noToken = await fetch(`${h.url}${whoami}`);
    expect(noToken.status).toBe(401);
    expect(await noToken.json()).toMatchObject({ errcode: "M_MISSING_TOKEN" });

    await expectError(
      h.asUser({ userId: "@x:localhost", accessToken: "nope" }).request("GET", whoami),
      401,
      "M_UNKNOWN_TOKEN",
    );

    const alice = h.createUser("alice");
    const viaQuery = await fetch(`${h.url}${whoami}?access_token=${alice.accessToken}`);
    expect(await viaQuery.json()).toMatchObject({ user_id: "@alice:localhost", is_guest: false });
    expect(await h.asUser(alice).request("GET", whoami)).toMatchObject({ user_id: "@alice:localhost" });
  });

  it("lets the appservice act as its bot and as registered users of its namespace only", async () => {
    const h = await start();
    const whoami = "/_matrix/client/v3/account/whoami";
    expect(await h.asAppservice().request("GET", whoami)).toMatchObject({ user_id: "@toxbot:localhost" });

    // Not registered yet: identity assertion fails.
    await expectError(h.asAppservice("@_tox_aa:localhost").request("GET", whoami), 403, "M_FORBIDDEN");
    await h.asAppservice().request("POST", "/_matrix/client/v3/register", {
      type: "m.login.application_service",
      username: "_tox_aa",
    });
    expect(await h.asAppservice("@_tox_aa:localhost").request("GET", whoami)).toMatchObject({
      user_id: "@_tox_aa:localhost",
    });

    h.createUser("alice");
    await expectError(h.asAppservice("@alice:localhost").request("GET", whoami), 403, "M_FORBIDDEN");
  });
});

describe("register with m.login.application_service", () => {
  const reg = "/_matrix/client/v3/register";
  const body = (username: string) => ({ type: "m.login.application_service", username });

  it("registers users in the namespace once, and refuses the rest with the spec's codes", async () => {
    const h = await start();
    const as = h.asAppservice();
    const first = await as.request("POST", reg, body("_tox_0123"));
    expect(first).toMatchObject({ user_id: "@_tox_0123:localhost" });
    expect(typeof first.access_token).toBe("string");
    await expectError(as.request("POST", reg, body("_tox_0123")), 400, "M_USER_IN_USE");
    await expectError(as.request("POST", reg, body("bob")), 400, "M_EXCLUSIVE");
    await expectError(as.request("POST", reg, body("Not Valid")), 400, "M_INVALID_USERNAME");
    expect(await as.request("POST", reg, { ...body("_tox_quiet"), inhibit_login: true })).toEqual({
      user_id: "@_tox_quiet:localhost",
    });
  });

  it("needs the as_token", async () => {
    const h = await start();
    const res = await fetch(`${h.url}${reg}`, { method: "POST", body: JSON.stringify(body("_tox_x")) });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ errcode: "M_MISSING_TOKEN" });
    const alice = h.asUser(h.createUser("alice"));
    await expectError(alice.request("POST", reg, body("_tox_x")), 401, "M_UNKNOWN_TOKEN");
  });

  it("keeps humans out of the exclusive namespace", async () => {
    const h = await start();
    const res = await fetch(`${h.url}${reg}`, {
      method: "POST",
      body: JSON.stringify({ username: "_tox_evil" }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ errcode: "M_EXCLUSIVE" });
    expect(() => h.createUser("_tox_evil")).toThrow(/exclusive/);
  });
});

describe("login with m.login.application_service", () => {
  it("gives appservice users a device and refuses others", async () => {
    const h = await start();
    const as = h.asAppservice();
    const login = (user: string) =>
      as.request("POST", "/_matrix/client/v3/login", {
        type: "m.login.application_service",
        identifier: { type: "m.id.user", user },
      });
    expect(await as.request("GET", "/_matrix/client/v3/login")).toEqual({
      flows: [{ type: "m.login.application_service" }],
    });
    const bot = await login("toxbot");
    expect(bot).toMatchObject({ user_id: h.botUserId, device_id: expect.any(String) });
    const whoami = await h
      .asUser({ userId: h.botUserId, accessToken: String(bot.access_token) })
      .request("GET", "/_matrix/client/v3/account/whoami");
    expect(whoami).toMatchObject({ user_id: h.botUserId, device_id: bot.device_id });
    h.createUser("alice");
    await expectError(login("@alice:localhost"), 403, "M_EXCLUSIVE");
    await expectError(login("_tox_unregistered"), 403, "M_FORBIDDEN");
  });
});

describe("rooms", () => {
  it("makes transaction ids idempotent per access token", async () => {
    const h = await start();
    const alice = h.asUser(h.createUser("alice"));
    const bob = h.asUser(h.createUser("bob"));
    const room = await alice.createRoom({ preset: "public_chat" });
    await bob.join(room);
    const a1 = await alice.sendEvent(room, "m.room.message", { msgtype: "m.text", body: "one" }, "txn1");
    const a2 = await alice.sendEvent(room, "m.room.message", { msgtype: "m.text", body: "one" }, "txn1");
    const b1 = await bob.sendEvent(room, "m.room.message", { msgtype: "m.text", body: "one" }, "txn1");
    expect(a2).toBe(a1);
    expect(b1).not.toBe(a1);
    expect(h.messages(room).map((m) => m.sender)).toEqual(["@alice:localhost", "@bob:localhost"]);
  });

  it("keeps appservice transaction ids apart per masqueraded user", async () => {
    const h = await start();
    const as = h.asAppservice();
    for (const u of ["_tox_a", "_tox_b"]) {
      await as.request("POST", "/_matrix/client/v3/register", {
        type: "m.login.application_service",
        username: u,
      });
    }
    const room = await as.createRoom({ preset: "public_chat" });
    const ghostA = h.asAppservice("@_tox_a:localhost");
    const ghostB = h.asAppservice("@_tox_b:localhost");
    await ghostA.join(room);
    await ghostB.join(room);
    const e1 = await ghostA.sendEvent(room, "m.room.message", { msgtype: "m.text", body: "x" }, "same");
    const e2 = await ghostB.sendEvent(room, "m.room.message", { msgtype: "m.text", body: "x" }, "same");
    const e3 = await ghostA.sendEvent(room, "m.room.message", { msgtype: "m.text", body: "x" }, "same");
    expect(e2).not.toBe(e1);
    expect(e3).toBe(e1);
    expect(h.messages(room)).toHaveLength(2);
  });

  it("creates a DM the way Element does: is_direct invite, state, m.direct", async () => {
    const h = await start();
    const alice = h.asUser(h.createUser("alice", "Alice"));
    const room = await alice.createDirectRoom(h.botUserId);
    const invite = h.room(room).getState("m.room.member", h.botUserId);
    expect(invite?.content).toMatchObject({ membership: "invite", is_direct: true });
    expect(h.room(room).getState("m.room.member", "@alice:localhost")?.content).toMatchObject({
      membership: "join",
      displayname: "Alice",
    });
    expect(await alice.getAccountData("m.direct")).toEqual({ [h.botUserId]: [room] });
    expect(h.room(room).userLevel(h.botUserId)).toBe(100); // trusted_private_chat
    expect(h.room(room).getState("m.room.join_rules")?.content.join_rule).toBe("invite");
  });

  it("applies membership and power-level rules", async () => {
    const h = await start();
    const alice = h.asUser(h.createUser("alice"));
    const bob = h.asUser(h.createUser("bob"));
    const carol = h.asUser(h.createUser("carol"));
    const room = await alice.createRoom({
      name: "Private",
      initial_state: [{ type: "m.room.topic", content: { topic: "t" } }],
    });
    expect(await alice.getState(room, "m.room.name")).toEqual({ name: "Private" });
    expect(await alice.getState(room, "m.room.topic")).toEqual({ topic: "t" });

    await expectError(bob.join(room), 403, "M_FORBIDDEN"); // invite-only
    await expectError(bob.sendMessage(room, "hi"), 403, "M_FORBIDDEN");
    await alice.invite(room, bob.userId);
    await expectError(alice.invite(room, "not-a-user-id"), 400, "M_INVALID_PARAM");
    await bob.join(room);
    await expectError(alice.invite(room, bob.userId), 403, "M_FORBIDDEN"); // already joined
    await bob.sendMessage(room, "hi");
    await expectError(bob.sendState(room, "m.room.name", "", { name: "Mine" }), 403, "M_FORBIDDEN");
    await alice.invite(room, carol.userId);
    await carol.join(room);
    await expectError(bob.kick(room, carol.userId), 403, "M_FORBIDDEN");
    await alice.kick(room, carol.userId, "bye");
    expect(h.room(room).membership(carol.userId)).toBe("leave");
    expect(
      await bob.request("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/joined_members`),
    ).toEqual({
      joined: {
        "@alice:localhost": { display_name: null, avatar_url: null },
        "@bob:localhost": { display_name: null, avatar_url: null },
      },
    });
    expect(await bob.request("GET", "/_matrix/client/v3/joined_rooms")).toEqual({ joined_rooms: [room] });
    await bob.leave(room);
    await expectError(bob.leave(room), 403, "M_FORBIDDEN");
    await expectError(alice.getState(room, "m.room.avatar"), 404, "M_NOT_FOUND");
    await expectError(alice.sendMessage("!nowhere:localhost", "x"), 403, "M_FORBIDDEN");
  });

  it("redacts: strips content and records redacted_because; others need the redact level", async () => {
    const h = await start();
    const alice = h.asUser(h.createUser("alice"));
    const bob = h.asUser(h.createUser("bob"));
    const room = await alice.createRoom({ preset: "public_chat" });
    await bob.join(room);
    const mine = await bob.sendMessage(room, "secret");
    const hers = await alice.sendMessage(room, "hers");
    await expectError(bob.redact(room, hers), 403, "M_FORBIDDEN");
    const redaction = await bob.redact(room, mine, "oops");
    const target = h.room(room).event(mine)!;
    expect(target.content).toEqual({});
    expect(target.unsigned?.redacted_because).toMatchObject({ event_id: redaction });
    expect(h.room(room).event(redaction)).toMatchObject({ type: "m.room.redaction", redacts: mine });
    await expectError(alice.redact(room, "$missing"), 404, "M_NOT_FOUND");
  });

  it("propagates a display name change into joined rooms", async () => {
    const h = await start();
    const alice = h.asUser(h.createUser("alice"));
    const room = await alice.createRoom();
    await alice.setDisplayName("Alice Liddell");
    expect(h.room(room).getState("m.room.member", alice.userId)?.content.displayname).toBe("Alice Liddell");
    expect(await alice.request("GET", "/_matrix/client/v3/profile/%40alice%3Alocalhost/displayname")).toEqual(
      {
        displayname: "Alice Liddell",
      },
    );
    await expectError(
      alice.request("PUT", "/_matrix/client/v3/profile/%40bob%3Alocalhost/displayname", { displayname: "x" }),
      403,
      "M_FORBIDDEN",
    );
    await expectError(
      alice.request("GET", "/_matrix/client/v3/profile/%40nobody%3Alocalhost"),
      404,
      "M_NOT_FOUND",
    );
  });
});

describe("request errors and faults", () => {
  it("answers broken JSON with M_NOT_JSON, wrong shapes with M_BAD_JSON, unknown routes with M_UNRECOGNIZED", async () => {
    const h = await start();
    const alice = h.createUser("alice");
    const room = await h.asUser(alice).createRoom();
    const res = await fetch(
      `${h.url}/_matrix/client/v3/rooms/${encodeURIComponent(room)}/send/m.room.message/t1`,
      {
        method: "PUT",
        headers: { Authorization: `Bearer ${alice.accessToken}`, "Content-Type": "application/json" },
        body: "{not json",
      },
    );
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ errcode: "M_NOT_JSON" });
    await expectError(
      h
        .asUser(alice)
        .request(
          "PUT",
          `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/typing/%40alice%3Alocalhost`,
          [1],
        ),
      400,
      "M_BAD_JSON",
    );
    await expectError(h.asUser(alice).request("GET", "/_matrix/client/v3/nonsense"), 404, "M_UNRECOGNIZED");
    expect(h.unrecognized).toContain("GET /_matrix/client/v3/nonsense");
    expect(h.messages(room)).toHaveLength(0);
  });

  it("answers a known endpoint with the wrong method with 405 M_UNRECOGNIZED", async () => {
    const h = await start();
    const alice = h.asUser(h.createUser("alice"));
    await expectError(alice.request("DELETE", "/_matrix/client/v3/account/whoami"), 405, "M_UNRECOGNIZED");
    await expectError(alice.request("GET", "/_matrix/client/v3/createRoom"), 405, "M_UNRECOGNIZED");
  });

  it("injects failures that change nothing", async () => {
    const h = await start();
    const alice = h.asUser(h.createUser("alice"));
    const room = await alice.createRoom();
    h.failNext(2, { match: (r) => r.method === "PUT" });
    await expectError(alice.sendMessage(room, "a"), 500, "M_UNKNOWN");
    await expectError(alice.sendMessage(room, "a"), 500, "M_UNKNOWN");
    expect(h.messages(room)).toHaveLength(0);
    await alice.sendMessage(room, "a");
    expect(h.messages(room)).toHaveLength(1);
    expect(h.requests.filter((r) => r.status === 500)).toHaveLength(2);
  });
});

describe("media", () => {
  it("uploads, serves on the authenticated and legacy paths, and enforces the size limit", async () => {
    const h = await start({ uploadLimit: 1000 });
    const alice = h.asUser(h.createUser("alice"));
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
    const mxc = await alice.upload(png, "image/png", "qr.png");
    expect(mxc).toMatch(/^mxc:\/\/localhost\/[\w-]+$/);
    const got = await alice.download(mxc);
    expect(got.data.equals(png)).toBe(true);
    expect(got.contentType).toBe("image/png");
    const mediaPath = mxc.slice("mxc://".length);
    const unauth = await fetch(`${h.url}/_matrix/client/v1/media/download/${mediaPath}`);
    expect(unauth.status).toBe(401);
    const legacy = await fetch(`${h.url}/_matrix/media/v3/download/${mediaPath}/qr.png`);
    expect(legacy.status).toBe(200);
    expect(legacy.headers.get("content-disposition")).toBe("inline; filename*=utf-8''qr.png");
    expect(Buffer.from(await legacy.arrayBuffer()).equals(png)).toBe(true);
    expect(await alice.request("GET", "/_matrix/media/v3/config")).toEqual({ "m.upload.size": 1000 });
    await expectError(alice.upload(Buffer.alloc(1001), "application/octet-stream"), 413, "M_TOO_LARGE");
    const missing = await fetch(`${h.url}/_matrix/media/v3/download/localhost/nope`);
    expect(missing.status).toBe(404);
  });
});

describe("transactions to the appservice", () => {
  it("pushes interesting events with the hs_token and nothing else", async () => {
    const as = await fakeAppservice();
    cleanups.push(as.close);
    const h = await start({ registration: registration({ url: as.url }) });
    const alice = h.asUser(h.createUser("alice"));
    const bob = h.asUser(h.createUser("bob"));
    const boring = await alice.createRoom({ preset: "public_chat" });
    await bob.join(boring);
    await alice.sendMessage(boring, "not for the bridge");
    const dm = await alice.createDirectRoom(h.botUserId);
    await h.asAppservice().join(dm);
    await alice.sendMessage(dm, "for the bridge");
    await h.pushIdle();
    const events = as.received.flatMap((t) => t.body.events);
    expect(
      as.received.every((t) => t.auth === "Bearer hs-secret" && t.path.startsWith("/_matrix/app/v1/")),
    ).toBe(true);
    expect(events.some((e) => e.room_id === boring)).toBe(false);
    // The invite (state_key in namespace) and every event after the bot joined.
    const types = events.filter((e) => e.room_id === dm).map((e) => e.type);
    expect(types.slice(-3)).toEqual(["m.room.member", "m.room.member", "m.room.message"]);
    const msg = events.find((e) => e.type === "m.room.message");
    expect(msg).toMatchObject({
      content: { msgtype: "m.text", body: "for the bridge" },
      unsigned: { age: expect.any(Number) },
    });
  });

  it("retries the same transaction with the same events until the appservice accepts it", async () => {
    const as = await fakeAppservice(3);
    cleanups.push(as.close);
    const h = await start({ registration: registration({ url: as.url }) });
    const alice = h.asUser(h.createUser("alice"));
    const room = await alice.createRoom({ invite: [h.botUserId] });
    await h.asAppservice().join(room);
    await alice.sendMessage(room, "later");
    await h.pushIdle();
    expect(as.received.length).toBeGreaterThanOrEqual(4);
    const [first, ...rest] = as.received;
    for (const retry of rest.slice(0, 3)) {
      expect(retry.path).toBe(first!.path);
      expect(retry.body).toEqual({ ...first!.body, events: retry.body.events });
      expect(retry.body.events.map((e: { event_id: string }) => e.event_id)).toEqual(
        first!.body.events.map((e: { event_id: string }) => e.event_id),
      );
    }
    expect(h.transactions.map((t) => t.status).slice(0, 4)).toEqual([500, 500, 500, 200]);
    expect(h.deliveredToAppservice.map((e) => e.type)).toContain("m.room.message");
  });

  it("speaks the legacy path with the token in the query for old-homeserver tests", async () => {
    const as = await fakeAppservice();
    cleanups.push(as.close);
    const h = await start({ registration: registration({ url: as.url }), transactionPath: "legacy" });
    const alice = h.asUser(h.createUser("alice"));
    await alice.createRoom({ invite: [h.botUserId] });
    await h.pushIdle();
    expect(as.received[0]).toMatchObject({
      path: "/transactions/1",
      auth: undefined,
      query: { access_token: "hs-secret" },
    });
  });

  it("sends typing, receipts and presence under both ephemeral keys when the registration asks", async () => {
    const as = await fakeAppservice();
    cleanups.push(as.close);
    const h = await start({ registration: registration({ url: as.url }) });
    const alice = h.asUser(h.createUser("alice"));
    const room = await alice.createDirectRoom(h.botUserId);
    await h.asAppservice().join(room);
    const ev = await alice.sendMessage(room, "hello");
    await alice.setTyping(room, true);
    await alice.sendReceipt(room, ev);
    await alice.setPresence("online", "around");
    await h.pushIdle();
    const stable = as.received.flatMap((t) => t.body.ephemeral ?? []);
    const unstable = as.received.flatMap((t) => t.body["de.sorunome.msc2409.ephemeral"] ?? []);
    expect(unstable).toEqual(stable);
    expect(stable).toEqual([
      { type: "m.typing", room_id: room, content: { user_ids: [alice.userId] } },
      {
        type: "m.receipt",
        room_id: room,
        content: { [ev]: { "m.read": { [alice.userId]: { ts: expect.any(Number) } } } },
      },
      {
        type: "m.presence",
        sender: alice.userId,
        content: { presence: "online", status_msg: "around", last_active_ago: 0, currently_active: true },
      },
    ]);
  });

  it("expires typing after its timeout and tells the appservice", async () => {
    const as = await fakeAppservice();
    cleanups.push(as.close);
    const h = await start({ registration: registration({ url: as.url }) });
    const alice = h.asUser(h.createUser("alice"));
    const room = await alice.createRoom({ invite: [h.botUserId] });
    await h.asAppservice().join(room);
    await alice.setTyping(room, true, 30);
    expect(h.state.typingIn(room)).toEqual([alice.userId]);
    await waitUntil(() => h.state.typingIn(room).length === 0, 2000, "the typing to time out");
    await h.pushIdle();
    const typing = as.received.flatMap((t) => (t.body.ephemeral ?? []) as Array<{ content: unknown }>);
    expect(typing.map((e) => e.content)).toEqual([{ user_ids: [alice.userId] }, { user_ids: [] }]);
  });

  it("sends no EDUs when the registration does not enable them, and only the unstable key if told", async () => {
    const as = await fakeAppservice();
    cleanups.push(as.close);
    const off = registration({
      url: as.url,
      receive_ephemeral: false,
      "de.sorunome.msc2409.push_ephemeral": false,
    });
    let h = await start({ registration: off });
    let alice = h.asUser(h.createUser("alice"));
    let room = await alice.createRoom({ invite: [h.botUserId] });
    await h.asAppservice().join(room);
    await alice.setTyping(room, true);
    await h.pushIdle();
    expect(as.received.some((t) => "ephemeral" in t.body || "de.sorunome.msc2409.ephemeral" in t.body)).toBe(
      false,
    );
    await h.close();

    as.received.length = 0;
    h = await start({
      registration: registration({ url: as.url }),
      ephemeralKeys: ["de.sorunome.msc2409.ephemeral"],
    });
    alice = h.asUser(h.createUser("alice"));
    room = await alice.createRoom({ invite: [h.botUserId] });
    await h.asAppservice().join(room);
    await alice.setTyping(room, true);
    await h.pushIdle();
    const withEdu = as.received.filter((t) => (t.body["de.sorunome.msc2409.ephemeral"] ?? []).length > 0);
    expect(withEdu).toHaveLength(1);
    expect("ephemeral" in withEdu[0]!.body).toBe(false);
  });

  it("waits for events: already there or yet to come, with a timeout", async () => {
    const h = await start();
    const alice = h.asUser(h.createUser("alice"));
    const room = await alice.createRoom();
    await alice.sendMessage(room, "early");
    await expect(h.waitForMessage({ roomId: room, body: "early" })).resolves.toMatchObject({
      sender: alice.userId,
    });
    const later = h.waitForMessage({ roomId: room, body: /^la/ });
    await alice.sendMessage(room, "late");
    await expect(later).resolves.toMatchObject({ content: { body: "late" } });
    await expect(h.waitForMessage({ body: "never" }, { timeoutMs: 50 })).rejects.toThrow(/Timed out/);
  });
});
