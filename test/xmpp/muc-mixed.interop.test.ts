/**
 * Issue 8's scenario across both frontends: one Tox conference of three real c-toxcore 0.2.18
 * peers (Carol, Dan, Erin), a Matrix user (alice, homeserver double over HTTP) and an XMPP user
 * (xavier, @xmpp/client through a real Prosody), all through one bridge (ToxNode, core on PGlite,
 * Matrix frontend and XMPP gateway side by side).
 *
 * Carol invites alice; alice invites xavier with the bot (`conference invite xavier@localhost`):
 * his own identity joins and he gets the MUC invitation. Dan and Erin join through Carol. Lines
 * from Tox, Matrix and XMPP reach everybody else once; titles both ways from Tox and XMPP; Erin's
 * leave shows in the room and the MUC. Then the whole bridge restarts mid-conversation: alice
 * writes while it is down, xavier's client rejoins after the 332, and that line reaches Carol,
 * Dan and xavier; the talk goes on.
 *
 * The restart does not wait for Carol to see our identities go: alice's and xavier's identities
 * find each other again before Carol, and the core holds the line until a member that did not
 * restart is back (sent through xavier alone it would never reach Carol and Dan).
 *
 * Our identities reach Carol and each other directly over loopback UDP; Dan and Erin through the
 * conference. Ports: Prosody 39100-39109, ours 39110-39129, C 39130-39189.
 */
import type { ClientElement } from "@xmpp/client";
import { afterAll, describe, expect, it } from "vitest";
import type { Owner } from "../../src/core/frontend.js";
import { ghostUserId } from "../../src/matrix/ids.js";
import { MUC_NS, roomJid } from "../../src/xmpp/muc-stanzas.js";
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
import { testRegistration } from "../matrix/bridge-harness.js";
import { openTestStore } from "../store/backends.js";
import { GW, startXmppServer, type XmppServer } from "./harness.js";
import { xml } from "./user.js";

const names = { domain: "localhost", botLocalpart: "toxbot", userPrefix: "_tox_" };
const registration = testRegistration();
const OUR_PORTS: [number, number] = [39110, 39129];
const XAVIER: Owner = { kind: "xmpp", id: "xavier@localhost" };

const codes = (el: ClientElement): number[] =>
  (el.getChild("x", MUC_NS.user)?.getChildren("status") ?? []).map((s) => Number(s.attrs.code));

/** The whole bridge, both frontends, over the test's homeserver, Prosody and store. */
const startBridge = (
  hs: HomeserverDouble,
  server: XmppServer,
  store: Awaited<ReturnType<typeof openTestStore>>,
) =>
  startWholeBridge({
    store,
    tox: { ports: OUR_PORTS },
    logLevel: "warn",
    core: QUICK_CONFERENCE_RETRIES,
    matrix: { hs, registration, appservice: { startupChecks: { ping: false } } },
    xmpp: server,
  });

describe("one Tox conference: 3 c-toxcore peers, a Matrix user and an XMPP user", () => {
  const cleanup: (() => unknown)[] = [];
  afterAll(async () => {
    for (const f of cleanup.splice(0).reverse()) await Promise.resolve(f()).catch(() => {});
  });

  it("messages, titles, joins and leaves everywhere; a bridge restart mid-conversation loses nothing", async () => {
    const hs = await startHomeserver({ registration, startPaused: true });
    hs.defaultWaitMs = 15_000;
    cleanup.push(() => hs.close());
    const server = await startXmppServer({
      portBase: 39100,
      portCount: 10,
      secret: "muc-mixed-secret",
      users: ["xavier"],
    });
    cleanup.push(() => server.stop());
    const store = await openTestStore();
    cleanup.push(() => store.close());
    let bridge = await startBridge(hs, server, store);
    cleanup.push(() => bridge.stop());
    const { carol, dan, erin } = await conferencePeers(39130, cleanup);

    // alice on Matrix, xavier on XMPP, each with a Tox identity.
    const alice = await matrixUserWithIdentity(hs, bridge, "alice");
    const xavier = await server.connect("xavier");
    expect((await bridge.core.command(XAVIER, "name Xavier", "user")).ok).toBe(false); // no account yet
    expect((await bridge.core.command(XAVIER, "create", "user")).ok).toBe(true);
    expect((await bridge.core.command(XAVIER, "name Xavier", "user")).ok).toBe(true);
    const xavierPk = (await bridge.core.account(XAVIER))?.publicKey ?? "";

    const dial = dialling(() => nodeOf(bridge));
    const dialCarol = () => dial.dialCarol(alice.publicKey, carol);
    const dialEachOther = () => dial.dialEachOther(alice.publicKey, xavierPk);

    // alice befriends Carol; Carol's conference becomes alice's room.
    const carolFriend = await befriendCarolThroughBot(hs, () => bridge, alice, carol, dial);
    const cc = carol.conferenceNew();
    carol.conferenceSetTitle(cc, "Tox room");
    carol.conferenceInvite(carolFriend, cc);
    const roomId = await conferenceRoomInvite(hs, alice);
    await alice.client.join(roomId);
    const conf = Buffer.from(carol.conferenceId(cc)).toString("hex");
    const muc = roomJid(conf, GW);

    // alice invites xavier (another bridged user, on XMPP): his identity joins, he is invited to the MUC.
    await alice.client.sendMessage(alice.botRoom, "conference invite xavier@localhost");
    await waitUntil(
      async () => (await bridge.core.friend(alice.owner, xavierPk))?.state === "accepted",
      15_000,
      "alice and xavier befriended",
      20,
    );
    await dialEachOther();
    await xavier.waitFor(
      (el) => el.name === "message" && el.getChild("x", MUC_NS.conference)?.attrs.jid === muc,
      "xavier's invitation",
      20_000,
    );
    await xavier.xmpp.send(xml("presence", { to: `${muc}/xavier` }, xml("x", { xmlns: MUC_NS.muc })));
    await xavier.waitFor((el) => el.attrs.from === `${muc}/xavier` && codes(el).includes(110), "xavier in");
    await xavier.waitFor(
      (el) => el.attrs.from === `${muc}/Carol` && el.name === "presence",
      "Carol in the MUC",
    );

    // Dan and Erin join through Carol: ghosts in the Matrix room, occupants in the MUC.
    await joinThroughCarol(carol, cc, [dan, erin]);
    const ghostOf = (pk: string) => ghostUserId(names, pk.toLowerCase());
    for (const p of [dan, erin]) {
      await hs.waitForMembership(roomId, ghostOf(p.publicKeyHex), "join", { timeoutMs: 20_000 });
      await xavier.waitFor(
        (el) =>
          el.name === "presence" && el.attrs.from === `${muc}/${p.label}` && el.attrs.type === undefined,
        `${p.label} in the MUC`,
        20_000,
      );
    }

    // Lines from Tox, Matrix and XMPP reach everybody else once.
    const got = new Map<CToxPeer, string[]>([carol, dan, erin].map((p) => [p, []]));
    for (const p of [carol, dan, erin])
      p.on("conferenceMessage", (_c, _peer, _t, text) => got.get(p)?.push(text));
    dan.conferenceSendMessage(0, "Dan says hi");
    await hs.waitForMessage({ roomId, sender: ghostOf(dan.publicKeyHex), body: "Dan says hi" });
    await xavier.waitFor(
      (el) => el.attrs.from === `${muc}/Dan` && el.getChildText("body") === "Dan says hi",
      "Dan's line in the MUC",
    );
    await alice.client.sendMessage(roomId, "alice from Matrix");
    await xavier.waitFor(
      (el) => el.attrs.type === "groupchat" && el.getChildText("body") === "alice from Matrix",
      "alice's line in the MUC",
    );
    await xavier.xmpp.send(
      xml("message", { to: muc, type: "groupchat", id: "x1" }, xml("body", {}, "xavier from XMPP")),
    );
    await hs.waitForMessage({ roomId, sender: ghostOf(xavierPk), body: "xavier from XMPP" });
    await waitUntil(
      () =>
        [carol, dan, erin].every(
          (p) => got.get(p)?.includes("alice from Matrix") && got.get(p)?.includes("xavier from XMPP"),
        ),
      15_000,
      "alice's and xavier's lines at every C peer",
    );
    const lines = (body: string) => hs.messages(roomId).filter((m) => m.body === body);
    expect(lines("Dan says hi")).toHaveLength(1);
    expect(lines("xavier from XMPP")).toHaveLength(1);
    expect(xavier.received.filter((el) => el.getChildText("body") === "Dan says hi")).toHaveLength(1);

    // Titles: from Tox to both; from XMPP to Tox and Matrix.
    erin.conferenceSetTitle(0, "Erin's title");
    await waitUntil(
      () => hs.room(roomId).getState("m.room.name")?.content.name === "Erin's title",
      15_000,
      "room name",
    );
    await xavier.waitFor((el) => el.getChildText("subject") === "Erin's title", "subject in the MUC");
    await xavier.xmpp.send(xml("message", { to: muc, type: "groupchat" }, xml("subject", {}, "XMPP title")));
    await waitUntil(
      () => [carol, dan, erin].every((p) => conferenceTitle(p, p === carol ? cc : 0) === "XMPP title"),
      15_000,
      "the XMPP title at every C peer",
    );
    await waitUntil(
      () => hs.room(roomId).getState("m.room.name")?.content.name === "XMPP title",
      15_000,
      "room name 2",
    );

    // Erin leaves: her ghost leaves the room, her occupant the MUC.
    erin.conferenceDelete(0);
    await hs.waitForMembership(roomId, ghostOf(erin.publicKeyHex), "leave", { timeoutMs: 20_000 });
    await xavier.waitFor(
      (el) => el.attrs.from === `${muc}/Erin` && el.attrs.type === "unavailable",
      "Erin leaving the MUC",
      20_000,
    );

    // Restart mid-conversation: xavier's session is told (332); alice writes while the bridge is down.
    await bridge.stop();
    await xavier.waitFor((el) => el.attrs.from === `${muc}/xavier` && codes(el).includes(332), "332");
    await alice.client.sendMessage(roomId, "written while the bridge was down");
    bridge = await bridge.restart();
    // Our two identities first (they restarted together), Carol later.
    await dialEachOther();
    await new Promise((r) => setTimeout(r, 4000));
    await dialCarol();
    const before = xavier.received.length;
    await xavier.xmpp.send(xml("presence", { to: `${muc}/xavier` }, xml("x", { xmlns: MUC_NS.muc })));
    await xavier.waitFor(
      (el) => xavier.received.indexOf(el) >= before && el.getChild("subject") !== undefined,
      "xavier back in",
    );
    await waitUntil(
      () => [carol, dan].every((p) => got.get(p)?.includes("written while the bridge was down")),
      30_000,
      "the line written during the restart at Carol and Dan",
    );
    await xavier.waitFor(
      (el) => el.getChildText("body") === "written while the bridge was down",
      "the line written during the restart in the MUC",
      20_000,
    );
    carol.conferenceSendMessage(cc, "welcome back");
    await hs.waitForMessage({ roomId, sender: ghostOf(carol.publicKeyHex), body: "welcome back" });
    await xavier.waitFor(
      (el) => el.attrs.from === `${muc}/Carol` && el.getChildText("body") === "welcome back",
      "Carol's line after the restart in the MUC",
    );
    expect(got.get(carol)?.filter((t) => t === "written while the bridge was down")).toHaveLength(1);
    expect(xavier.received.filter((el) => el.getChildText("body") === "welcome back")).toHaveLength(1);
  }, 120_000);
});
