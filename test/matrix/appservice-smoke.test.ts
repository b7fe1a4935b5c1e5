/**
 * End to end through real HTTP: the homeserver double pushes transactions to a real
 * matrix-appservice-bridge `Bridge` (loaded through our encryption-tolerant loader), whose bot
 * joins a DM when invited and answers "ping" with "pong".
 */
import { readdirSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../src/logger.js";
import { type RunningMatrixAppservice, startMatrixAppservice } from "../../src/matrix/appservice.js";
import { ENCRYPTION_OFF_MESSAGE } from "../../src/matrix/load-bridge.js";
import {
  type HomeserverDouble,
  type HomeserverOptions,
  startHomeserver,
} from "../helpers/homeserver/index.js";
import { waitUntil } from "../helpers/wait.js";
import { testRegistration } from "./bridge-harness.js";

const registration = testRegistration({
  id: "toxbridge-smoke",
  as_token: "smoke-as-token",
  hs_token: "smoke-hs-token",
});

interface Harness {
  hs: HomeserverDouble;
  bridge: RunningMatrixAppservice;
  logLines: Array<{ level: number; msg: string; [k: string]: unknown }>;
  ephemeral: Array<{ type: string }>;
  /** DM rooms the bot knows, kept across bridge restarts like a store would. */
  directRooms: Set<string>;
}

let current: Harness | undefined;

afterEach(async () => {
  await current?.bridge.stop();
  await current?.hs.close();
  current = undefined;
});

async function withRetry<T>(op: () => Promise<T>, attempts = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await op();
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 20 * i));
    }
  }
}

/** A minimal bridge: the bot joins when invited and answers "ping" with "pong" in DMs. */
async function startPingPongBridge(
  hs: HomeserverDouble,
  h: Pick<Harness, "logLines" | "ephemeral" | "directRooms">,
) {
  const log = createLogger({
    level: "debug",
    destination: { write: (line: string) => h.logLines.push(JSON.parse(line)) },
  });
  const { directRooms } = h;
  let running: RunningMatrixAppservice | undefined;
  running = await startMatrixAppservice({
    registration,
    homeserverUrl: hs.url,
    domain: "localhost",
    log,
    listen: { port: 0 },
    onListening: (port) => hs.setAppserviceUrl(`http://127.0.0.1:${port}`),
    controller: {
      onEvent: async (request) => {
        const ev = request.getData();
        const bridge = running!.bridge;
        const bot = bridge.getBot().getUserId();
        if (ev.type === "m.room.member" && ev.state_key === bot && ev.content.membership === "invite") {
          if (ev.content.is_direct === true) directRooms.add(ev.room_id);
          await bridge.getIntent().join(ev.room_id);
        } else if (
          ev.type === "m.room.message" &&
          ev.sender !== bot &&
          ev.content.body === "ping" &&
          directRooms.has(ev.room_id)
        ) {
          // The bot-sdk does not retry 5xx answers (only 429), so a bridge must: see the fault test.
          await withRetry(() => bridge.getIntent().sendText(ev.room_id, "pong"));
        }
        request.resolve(undefined);
      },
      onEphemeralEvent: (request) => {
        h.ephemeral.push(request.getData() as { type: string });
      },
    },
  });
  return running;
}

/** Starts the double and the ping/pong bridge wired to it. */
async function startPingPong(hsOpts: Partial<HomeserverOptions> = {}): Promise<Harness> {
  const hs = await startHomeserver({ registration, startPaused: true, ...hsOpts });
  const partial = {
    hs,
    logLines: [] as Harness["logLines"],
    ephemeral: [] as Harness["ephemeral"],
    directRooms: new Set<string>(),
  };
  current = { ...partial, bridge: await startPingPongBridge(hs, partial) };
  return current;
}

describe("matrix-appservice-bridge against the homeserver double", () => {
  it("boots without the native crypto binding, says so once, and answers ping with pong in a DM", async () => {
    // Only the library's own store files: other test files may create files here concurrently.
    const storeFiles = () => readdirSync(process.cwd()).filter((f) => /\.(db|sqlite3?)$/.test(f));
    const filesBefore = storeFiles();
    const { hs, bridge, logLines } = await startPingPong();
    expect(bridge.port).toBeGreaterThan(0);

    const alice = hs.asUser(hs.createUser("alice", "Alice"));
    const room = await alice.createDirectRoom(hs.botUserId);
    await hs.waitForMembership(room, hs.botUserId, "join");
    await alice.sendMessage(room, "ping");
    const pong = await hs.waitForMessage({ roomId: room, sender: hs.botUserId, body: "pong" });
    expect(pong.content.msgtype).toBe("m.text");

    // Ping in a room that is not a DM gets no answer.
    const group = await alice.createRoom({ name: "group", invite: [hs.botUserId] });
    await hs.waitForMembership(group, hs.botUserId, "join");
    await alice.sendMessage(group, "ping");
    await hs.pushIdle();
    expect(hs.messages(group).filter((m) => m.sender === hs.botUserId)).toEqual([]);

    const encryptionLines = logLines.filter((l) => l.msg === ENCRYPTION_OFF_MESSAGE);
    if (bridge.encryption.available) {
      expect(encryptionLines).toHaveLength(0);
    } else {
      expect(encryptionLines).toHaveLength(1);
      expect(encryptionLines[0]!.level).toBe(40); // warn
    }
    expect(
      logLines.filter((l) => /encrypt/i.test(l.msg) && l.msg !== ENCRYPTION_OFF_MESSAGE && l.level >= 40),
    ).toEqual([]);
    expect(hs.unrecognized).toEqual([]);
    // The library keeps no store files (rooms and users live in our own store).
    expect(storeFiles()).toEqual(filesBefore);
  });

  it("refuses transactions with a wrong hs_token or broken JSON, and accepts stable-key EDUs", async () => {
    const { hs, bridge, ephemeral } = await startPingPong({ ephemeralKeys: ["ephemeral"] });
    const url = `http://127.0.0.1:${bridge.port}/_matrix/app/v1/transactions/x1`;
    const wrong = await fetch(url, {
      method: "PUT",
      headers: { Authorization: "Bearer nope", "Content-Type": "application/json" },
      body: JSON.stringify({ events: [] }),
    });
    expect(wrong.status).toBe(403);
    expect(await wrong.json()).toMatchObject({ errcode: "M_FORBIDDEN" });
    const broken = await fetch(url, {
      method: "PUT",
      headers: { Authorization: `Bearer ${registration.hs_token}`, "Content-Type": "application/json" },
      body: "{broken",
    });
    expect(broken.status).toBe(400);
    expect(await broken.json()).toMatchObject({ errcode: "M_NOT_JSON" });

    const alice = hs.asUser(hs.createUser("alice"));
    const room = await alice.createDirectRoom(hs.botUserId);
    await hs.waitForMembership(room, hs.botUserId, "join");
    await alice.setTyping(room, true);
    await hs.pushIdle();
    expect(ephemeral.map((e) => e.type)).toContain("m.typing");
  });

  it("survives a failing homeserver request and appservice downtime", async () => {
    const h = await startPingPong({ backoffMs: { initial: 10, max: 100 } });
    const { hs } = h;
    const alice = hs.asUser(hs.createUser("alice"));
    const room = await alice.createDirectRoom(hs.botUserId);
    await hs.waitForMembership(room, hs.botUserId, "join");

    // The bot's first attempt to answer gets a 502 (and changes nothing); the bridge retries it.
    hs.failNext(1, {
      status: 502,
      match: (r) => r.appservice && r.method === "PUT" && r.path.includes("/send/"),
    });
    await alice.sendMessage(room, "ping");
    await hs.waitForMessage({ roomId: room, sender: hs.botUserId, body: "pong" }, { timeoutMs: 15_000 });
    expect(hs.requests.filter((r) => r.status === 502)).toHaveLength(1);
    expect(hs.messages(room).map((m) => m.body)).toEqual(["ping", "pong"]);

    // The appservice goes away: the homeserver keeps retrying the transaction until a new one is up.
    await h.bridge.stop();
    await alice.sendMessage(room, "ping");
    await waitUntil(
      () => hs.transactions.filter((t) => t.status === 0).length >= 2,
      5000,
      "two failed pushes",
      10,
    );
    expect(hs.transactions.filter((t) => t.status === 0).length).toBeGreaterThanOrEqual(2);
    h.bridge = await startPingPongBridge(hs, h);
    await hs.pushIdle();
    await hs.waitForEvent(
      (ev) => ev.type === "m.room.message" && ev.content.body === "pong" && hs.messages(room).length === 4,
      { what: "the second pong" },
    );
    expect(hs.messages(room).map((m) => m.body)).toEqual(["ping", "pong", "ping", "pong"]);
  });

  it("lets a ghost register, open a DM portal, and act in it as issue 5 needs", async () => {
    const { hs, bridge } = await startPingPong();
    const alice = hs.asUser(hs.createUser("alice", "Alice"));
    const ghostId = "@_tox_0a1b2c:localhost";
    const ghost = bridge.bridge.getIntent(ghostId);

    await ghost.ensureProfile("Tox Friend");
    const { room_id: portal } = await ghost.createRoom({
      createAsClient: true,
      options: {
        preset: "trusted_private_chat",
        is_direct: true,
        invite: [alice.userId],
        initial_state: [
          {
            type: "m.bridge",
            state_key: "tox://0a1b2c",
            content: { protocol: { id: "tox", displayname: "Tox" } },
          },
          {
            type: "uk.half-shot.bridge",
            state_key: "tox://0a1b2c",
            content: { protocol: { id: "tox", displayname: "Tox" } },
          },
        ],
      },
    });
    expect(hs.state.accounts.get(ghostId)).toMatchObject({ appservice: true, displayname: "Tox Friend" });
    expect(hs.room(portal).getState("m.room.member", alice.userId)?.content).toMatchObject({
      membership: "invite",
      is_direct: true,
    });
    expect(hs.room(portal).getState("m.bridge", "tox://0a1b2c")?.sender).toBe(ghostId);

    await alice.join(portal);
    const { event_id: hello } = await ghost.sendText(portal, "hello from Tox");
    await ghost.sendTyping(portal, true);
    const reply = await alice.sendMessage(portal, "hi back");
    await ghost.sendReadReceipt(portal, reply);
    await ghost.setPresence("online", "on Tox");
    const mxc = await ghost.uploadContent(Buffer.from("avatar-bytes"), { type: "image/png", name: "a.png" });
    await ghost.setAvatarUrl(mxc);

    expect(hs.messages(portal).map((m) => [m.sender, m.body])).toEqual([
      [ghostId, "hello from Tox"],
      [alice.userId, "hi back"],
    ]);
    expect(hs.messages(portal)[0]!.eventId).toBe(hello);
    expect(hs.state.typingIn(portal)).toEqual([ghostId]);
    expect(hs.state.receipts).toContainEqual({
      roomId: portal,
      userId: ghostId,
      type: "m.read",
      eventId: reply,
    });
    expect(hs.state.accounts.get(ghostId)?.presence).toMatchObject({
      presence: "online",
      status_msg: "on Tox",
    });
    expect((await alice.download(mxc)).data.toString()).toBe("avatar-bytes");
    expect(hs.room(portal).getState("m.room.member", ghostId)?.content).toMatchObject({ avatar_url: mxc });
    // Every ghost request went through appservice identity assertion, none through a user token.
    const ghostRequests = hs.requests.filter((r) => r.userId === ghostId);
    expect(ghostRequests.length).toBeGreaterThan(5);
    expect(ghostRequests.every((r) => r.appservice)).toBe(true);
    expect(hs.unrecognized).toEqual([]);
  });
});
