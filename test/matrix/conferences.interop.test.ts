/**
 * End to end: one Tox conference of three real c-toxcore 0.2.18 peers (Carol, Dan, Erin) and two
 * bridged Matrix users (alice, bob), through the real bridge (ToxNode, core on PGlite,
 * matrix-appservice-bridge, Matrix frontend) and the homeserver double over HTTP.
 *
 * Carol invites alice's identity: the core joins, the bot makes the room. alice invites bob in the
 * room: bob's own identity joins. Dan and Erin join through Carol and appear as ghosts with their
 * names. Messages both ways (each Tox line once in the room; alice's and bob's from their own
 * identities), title both ways, Erin leaves (her ghost leaves). Then the bridge restarts
 * mid-conversation: alice writes while it is down, and after the restart the same room is used,
 * her line reaches the Tox peers and Carol's next line reaches the room: nothing lost.
 *
 * Our identities reach Carol (and each other) directly over loopback UDP; Dan and Erin are
 * reached through the conference via Carol. Ports: ours 39000-39019, C 39040-39099.
 */
import { afterAll, describe, expect, it } from "vitest";
import { ghostUserId } from "../../src/matrix/ids.js";
import {
  befriendCarolThroughBot,
  conferencePeers,
  conferenceRoomInvite,
  dialling,
  joinThroughCarol,
  matrixUserWithIdentity,
  QUICK_CONFERENCE_RETRIES,
} from "../helpers/conference-scenario.js";
import { type HomeserverDouble, startHomeserver } from "../helpers/homeserver/index.js";
import { waitUntil } from "../helpers/wait.js";
import { nodeOf, startWholeBridge } from "../helpers/whole-bridge.js";
import { conferenceTitle } from "../interop/ctox-conference.js";
import type { CToxPeer } from "../interop/ctoxcore.js";
import { openTestStore } from "../store/backends.js";
import { testRegistration } from "./bridge-harness.js";

const names = { domain: "localhost", botLocalpart: "toxbot", userPrefix: "_tox_" };
const registration = testRegistration();
const OUR_PORTS: [number, number] = [39000, 39019];

/** The whole bridge over the test's homeserver and store (the same ones again after a restart). */
const startBridge = (hs: HomeserverDouble, store: Awaited<ReturnType<typeof openTestStore>>) =>
  startWholeBridge({
    store,
    tox: { ports: OUR_PORTS },
    logLevel: "warn",
    core: QUICK_CONFERENCE_RETRIES,
    matrix: { hs, registration, appservice: { startupChecks: { ping: false } } },
  });

describe("Tox conference <-> Matrix room end to end (3 c-toxcore peers, 2 bridged users)", () => {
  const cleanup: (() => unknown)[] = [];
  afterAll(async () => {
    for (const f of cleanup.splice(0).reverse()) await Promise.resolve(f()).catch(() => {});
  });

  it("messages, titles, joins and leaves everywhere; a bridge restart mid-conversation loses nothing", async () => {
    const hs = await startHomeserver({ registration, startPaused: true });
    hs.defaultWaitMs = 15_000;
    cleanup.push(() => hs.close());
    const store = await openTestStore();
    cleanup.push(() => store.close());
    let bridge = await startBridge(hs, store);
    cleanup.push(() => bridge.stop());
    const { carol, dan, erin } = await conferencePeers(39040, cleanup);

    // alice and bob: Matrix users with Tox identities.
    const alice = await matrixUserWithIdentity(hs, bridge, "alice");
    const bob = await matrixUserWithIdentity(hs, bridge, "bob");
    /** Our identities dial Carol and each other directly (no DHT here): at start and after the restart. */
    const dial = dialling(() => nodeOf(bridge));
    const dialCarol = () => dial.dialCarol(alice.publicKey, carol);
    const dialEachOther = () => dial.dialEachOther(alice.publicKey, bob.publicKey);

    // alice befriends Carol.
    const carolFriend = await befriendCarolThroughBot(hs, () => bridge, alice, carol, dial);

    // Carol's conference: the core joins alice's identity, the bot makes the room.
    const cc = carol.conferenceNew();
    carol.conferenceSetTitle(cc, "Tox room");
    carol.conferenceInvite(carolFriend, cc);
    const roomId = await conferenceRoomInvite(hs, alice);
    await waitUntil(
      () => hs.room(roomId).getState("m.room.name")?.content.name === "Tox room",
      15_000,
      "room name",
    );
    await alice.client.join(roomId);
    const ghostOf = (p: CToxPeer) => ghostUserId(names, p.publicKeyHex.toLowerCase());
    const displayname = (userId: string) =>
      hs.room(roomId).getState("m.room.member", userId)?.content.displayname;
    await hs.waitForMembership(roomId, ghostOf(carol), "join");
    await waitUntil(() => displayname(ghostOf(carol)) === "Carol", 15_000, "Carol's ghost name");

    // alice invites bob in the room: the identities befriend, bob's identity joins, bob joins.
    await alice.client.invite(roomId, bob.client.userId);
    await waitUntil(
      async () => (await bridge.core.friend(alice.owner, bob.publicKey))?.state === "accepted",
      15_000,
      "alice and bob befriended",
      20,
    );
    await dialEachOther();
    await waitUntil(
      async () => (await bridge.core.conferences(bob.owner)).length === 1,
      20_000,
      "bob in the conference",
      20,
    );
    await bob.client.join(roomId);

    // Dan and Erin join through Carol.
    await joinThroughCarol(carol, cc, [dan, erin]);
    await hs.waitForMembership(roomId, ghostOf(dan), "join", { timeoutMs: 20_000 });
    await hs.waitForMembership(roomId, ghostOf(erin), "join", { timeoutMs: 20_000 });
    await waitUntil(
      () => displayname(ghostOf(dan)) === "Dan" && displayname(ghostOf(erin)) === "Erin",
      15_000,
      "ghost names",
    );
    // Bridged users are themselves, never ghosts.
    expect(hs.room(roomId).membership(ghostUserId(names, alice.publicKey))).toBeUndefined();
    expect(hs.room(roomId).membership(ghostUserId(names, bob.publicKey))).toBeUndefined();

    // Tox -> Matrix: each line once, from its ghost.
    const got = new Map<CToxPeer, string[]>([carol, dan, erin].map((p) => [p, []]));
    for (const p of [carol, dan, erin])
      p.on("conferenceMessage", (_c, _peer, _t, text) => got.get(p)!.push(text));
    carol.conferenceSendMessage(cc, "hello from Carol");
    const danConf = 0;
    dan.conferenceSendMessage(danConf, "Dan says hi", "action");
    await hs.waitForMessage({ roomId, sender: ghostOf(carol), body: "hello from Carol", msgtype: "m.text" });
    await hs.waitForMessage({ roomId, sender: ghostOf(dan), body: "Dan says hi", msgtype: "m.emote" });

    // Matrix -> Tox: alice and bob each from their own identity, seen by all three C peers.
    await alice.client.sendMessage(roomId, "alice here");
    await bob.client.sendMessage(roomId, "bob here");
    await waitUntil(
      () =>
        [carol, dan, erin].every(
          (p) => got.get(p)!.includes("alice here") && got.get(p)!.includes("bob here"),
        ),
      15_000,
      "alice's and bob's lines at every C peer",
    );
    const messages = (body: string) => hs.messages(roomId).filter((m) => m.body === body);
    expect(messages("hello from Carol")).toHaveLength(1);
    expect(messages("bob here").map((m) => m.sender)).toEqual([bob.client.userId]);
    expect(messages("alice here").map((m) => m.sender)).toEqual([alice.client.userId]);

    // Titles both ways.
    erin.conferenceSetTitle(0, "Erin's title");
    await waitUntil(
      () => hs.room(roomId).getState("m.room.name")?.content.name === "Erin's title",
      15_000,
      "room name",
    );
    await alice.client.sendState(roomId, "m.room.name", "", { name: "Matrix title" });
    await waitUntil(
      () => [carol, dan, erin].every((p) => conferenceTitle(p, p === carol ? cc : 0) === "Matrix title"),
      15_000,
      "the new title at every C peer",
    );

    // Erin leaves: her ghost leaves the room.
    erin.conferenceDelete(0);
    await hs.waitForMembership(roomId, ghostOf(erin), "leave", { timeoutMs: 20_000 });

    // Restart mid-conversation: alice writes while the bridge is down.
    await bridge.stop();
    await waitUntil(
      () => carol.friendConnectionStatus(carolFriend) === "none",
      40_000,
      "Carol sees alice go",
    );
    await alice.client.sendMessage(roomId, "written while the bridge was down");
    bridge = await bridge.restart();
    await dialCarol();
    await dialEachOther();
    await waitUntil(
      () => [carol, dan].every((p) => got.get(p)!.includes("written while the bridge was down")),
      25_000,
      "the line written during the restart at Carol and Dan",
    );
    carol.conferenceSendMessage(cc, "welcome back");
    await hs.waitForMessage({ roomId, sender: ghostOf(carol), body: "welcome back" });
    // The same room all along, every line once.
    const roomsNamed = [...hs.state.rooms.values()].filter((r) =>
      r.getState(
        "m.bridge",
        `toxbridge://tox/conference/${Buffer.from(carol.conferenceId(cc)).toString("hex")}`,
      ),
    );
    expect(roomsNamed.map((r) => r.roomId)).toEqual([roomId]);
    expect(got.get(carol)!.filter((t) => t === "written while the bridge was down")).toHaveLength(1);
    expect(messages("hello from Carol")).toHaveLength(1);
  }, 90_000);
});
