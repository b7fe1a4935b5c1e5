/**
 * End to end with a real c-toxcore 0.2.18 peer: a Matrix user (on the homeserver double, over real
 * HTTP) makes a Tox identity through the bot, befriends the C peer, and they chat both ways with
 * read receipts. Our identity runs in a real ToxNode and reaches the C peer directly over loopback
 * UDP (no DHT or onion in this test, to keep it fast and local). Ports: ours 35400-35419, C 35500-35539.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { ToxNodeGateway } from "../../src/core/tox-adapter.js";
import { ghostUserId } from "../../src/matrix/ids.js";
import { nodeOf } from "../helpers/whole-bridge.js";
import { CToxPeer, waitUntil } from "../interop/ctoxcore.js";
import { befriendCPeerThroughBot, startFrontendRig, userWithAccount } from "./frontend-harness.js";

const names = { domain: "localhost", botLocalpart: "toxbot", userPrefix: "_tox_" };

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

describe("Matrix <-> c-toxcore through the bridge", () => {
  it("create via the bot, befriend, chat both ways with receipts, typing", async () => {
    const rig = await startFrontendRig<ToxNodeGateway>({ tox: { ports: [35400, 35419] } });
    cleanup.push(() => rig.stop());
    const c = await CToxPeer.create({ startPort: 35500, endPort: 35539, name: "Carol", label: "c" });
    cleanup.push(() => c.kill());
    const { hs } = rig;

    const who = await userWithAccount(rig, "alice");
    const { user: alice, botRoom, account } = who;
    await hs.waitForMessage({ roomId: botRoom, sender: hs.botUserId, body: /Your Tox ID: / });
    expect(nodeOf(rig).identity(account.publicKey)).toBeDefined();

    // Without onion friend requests, the C side adds us directly and we dial its UDP port.
    const { friendNo, friend } = await befriendCPeerThroughBot(rig, who, c, "hi from Matrix");
    await rig.core.idle();
    expect(await rig.core.friend({ kind: "matrix", id: alice.userId }, friend)).toMatchObject({
      state: "accepted",
      online: true,
    });

    // Tox -> Matrix: the ghost opens a DM portal and posts.
    const ghost = ghostUserId(names, friend);
    c.sendMessage(friendNo, "hello from c-toxcore");
    const first = await hs.waitForMessage(
      { sender: ghost, body: "hello from c-toxcore" },
      { timeoutMs: 10_000 },
    );
    const room = first.room_id;
    await alice.join(room);
    const profile = await alice.request<{ displayname?: string }>(
      "GET",
      `/_matrix/client/v3/profile/${encodeURIComponent(ghost)}`,
    );
    expect(profile.displayname).toBe("Carol (Tox)");

    // Matrix -> Tox, and the C client's read receipt back as the ghost's receipt.
    const got: Array<[string, string]> = [];
    c.on("friendMessage", (_f, type, text) => got.push([type, text]));
    const e1 = await alice.sendMessage(room, "hi Carol, from Matrix");
    await alice.sendMessage(room, "waves", "m.emote");
    await waitUntil(() => got.length === 2, 10_000, "C receives both");
    expect(got).toEqual([
      ["normal", "hi Carol, from Matrix"],
      ["action", "waves"],
    ]);
    await waitUntil(
      () => hs.state.receipts.some((r) => r.userId === ghost && r.eventId === e1),
      10_000,
      "ghost read receipt for the first message",
    );

    // Typing both ways.
    c.setTyping(friendNo, true);
    await waitUntil(() => hs.state.typingIn(room).includes(ghost), 10_000, "ghost typing");
    const cTyping: boolean[] = [];
    c.on("friendTyping", (_f, t) => cTyping.push(t));
    await alice.setTyping(room, true);
    await waitUntil(() => cTyping.includes(true), 10_000, "C sees us typing");
  }, 60_000);
});
