/**
 * End to end: a Tox conference of real c-toxcore 0.2.18 peers as a MUC room, through the real
 * bridge core (PGlite, ToxNode) and a real Prosody, with alice on @xmpp/client. Carol (C) invites
 * alice's identity; the core joins; alice gets the invitation, joins the room and sees Carol and
 * the title; messages go both ways; Dan (C, Carol's friend, not ours) joins and leaves; title
 * changes both ways; Carol's rename is a 303; a message sent while alice is out of the room waits
 * in the core and reaches her at once when she rejoins (the MUC asks the core to redeliver; its own
 * retry would be minutes away). Our identity reaches Carol directly over loopback UDP (no
 * DHT/onion). Ports: Prosody 39200-39219, our node 39220-39239, C 39240-39299.
 */
import type { ClientElement } from "@xmpp/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BridgeCore } from "../../src/core/bridge-core.js";
import { ipPort, type ToxNode } from "../../src/tox/index.js";
import { MUC_NS, roomJid } from "../../src/xmpp/muc-stanzas.js";
import { TestDb } from "../core/helpers.js";
import { waitUntil } from "../helpers/wait.js";
import { nodeOf, startWholeBridge } from "../helpers/whole-bridge.js";
import { conferenceTitle } from "../interop/ctox-conference.js";
import { befriend, CToxPeer } from "../interop/ctoxcore.js";
import { GW, startXmppServer } from "./harness.js";
import { type TestUser, xml } from "./user.js";

const owner = { kind: "xmpp" as const, id: "alice@localhost" };

const codes = (el: ClientElement): number[] =>
  (el.getChild("x", MUC_NS.user)?.getChildren("status") ?? []).map((s) => Number(s.attrs.code));

describe("Tox conference <-> XMPP MUC end to end", () => {
  const db = new TestDb();
  const cleanup: (() => unknown)[] = [];
  let node: ToxNode;
  let core: BridgeCore;
  let alice: TestUser;
  let carol: CToxPeer;
  let dan: CToxPeer;

  beforeAll(async () => {
    await db.setup();
    cleanup.push(() => db.teardown());
    const server = await startXmppServer({
      portBase: 39200,
      portCount: 20,
      secret: "muc-e2e-secret",
      users: ["alice"],
    });
    cleanup.push(() => server.stop());
    const bridge = await startWholeBridge({
      store: db,
      tox: { ports: [39220, 39239] },
      // Retries far away: the message that waited for alice's rejoin can only come by redelivery.
      core: { conferences: { inboundRetryDelayMs: () => 10 * 60_000 } },
      xmpp: server,
    });
    cleanup.push(() => bridge.stop());
    ({ core } = bridge);
    node = nodeOf(bridge);
    alice = await server.connect("alice");
    carol = await CToxPeer.create({
      startPort: 39240,
      endPort: 39269,
      name: "Carol",
      label: "carol",
      iterateEveryMs: 10,
    });
    cleanup.push(() => carol.kill());
    dan = await CToxPeer.create({
      startPort: 39270,
      endPort: 39299,
      name: "Dan",
      label: "dan",
      iterateEveryMs: 10,
    });
    cleanup.push(() => dan.kill());
  }, 30_000);

  afterAll(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  it("invite, join, talk both ways, peers join/leave/rename, title both ways, and a message kept while away", async () => {
    expect((await core.command(owner, "create", "user")).ok).toBe(true);
    const account = await core.account(owner);
    const me = account && node.identity(account.publicKey);
    if (!account || !me) throw new Error("no identity");
    // alice and Carol become friends: alice's request, Carol adds us without one and we dial her.
    expect((await core.command(owner, `add ${carol.addressHex} hi`, "user")).ok).toBe(true);
    const carolPk = carol.publicKeyHex.toLowerCase();
    const friendNo = carol.friendAddNoRequest(me.publicKeyBytes);
    await me.connectFriendDirect(carol.publicKey, carol.dhtId, ipPort("127.0.0.1", carol.udpPort));
    await waitUntil(() => carol.friendConnectionStatus(friendNo) === "udp", 15_000, "Carol sees us online");
    await waitUntil(
      async () => (await core.friend(owner, carolPk))?.state === "accepted",
      10_000,
      "Carol accepted",
      50,
    );

    // Carol's conference; her invite is joined by the core and shown to alice as an invitation.
    const cc = carol.conferenceNew();
    carol.conferenceSetTitle(cc, "Tox room");
    carol.conferenceInvite(friendNo, cc);
    const conf = Buffer.from(carol.conferenceId(cc)).toString("hex");
    const room = roomJid(conf, GW);
    await alice.waitFor(
      (el) => el.name === "message" && el.getChild("x", MUC_NS.conference)?.attrs.jid === room,
      "invitation",
      15_000,
    );

    // Join: Carol is an occupant, the subject is the title.
    await alice.xmpp.send(xml("presence", { to: `${room}/alice` }, xml("x", { xmlns: MUC_NS.muc })));
    const self = await alice.waitFor(
      (el) => el.name === "presence" && el.attrs.from === `${room}/alice` && codes(el).includes(110),
      "self presence",
    );
    expect(codes(self)).toEqual([100, 110]);
    await alice.waitFor((el) => el.attrs.from === `${room}/Carol` && el.name === "presence", "Carol", 15_000);
    await alice.waitFor((el) => el.getChildText("subject") === "Tox room", "subject", 10_000);

    // Messages both ways.
    carol.conferenceSendMessage(cc, "hello from c-toxcore");
    await alice.waitFor(
      (el) => el.attrs.from === `${room}/Carol` && el.getChildText("body") === "hello from c-toxcore",
      "Carol's message",
      10_000,
    );
    const carolGot: string[] = [];
    carol.on("conferenceMessage", (_c, _p, _t, text) => carolGot.push(text));
    await alice.xmpp.send(
      xml("message", { to: room, type: "groupchat", id: "a1" }, xml("body", {}, "hi Carol")),
    );
    const echo = await alice.waitFor(
      (el) => el.attrs.id === "a1" && el.attrs.type === "groupchat",
      "reflection",
    );
    expect(echo.attrs.from).toBe(`${room}/alice`);
    await waitUntil(() => carolGot.includes("hi Carol"), 10_000, "alice's message at Carol");

    // Dan (Carol's friend, a stranger to us) joins, talks through the conference, and leaves.
    dan.bootstrapToPeer(carol);
    carol.bootstrapToPeer(dan);
    const { aFriend: danAtCarol } = await befriend(carol, dan, { timeoutMs: 20_000 });
    const danInvites: Uint8Array[] = [];
    dan.on("conferenceInvite", (_f, _t, cookie) => danInvites.push(cookie));
    carol.conferenceInvite(danAtCarol, cc);
    await waitUntil(() => danInvites.length > 0, 10_000, "Dan's invite");
    const dc = dan.conferenceJoin(dan.friendByPublicKey(carol.publicKey) ?? 0, danInvites[0]!);
    await alice.waitFor(
      (el) => el.name === "presence" && el.attrs.from === `${room}/Dan` && el.attrs.type === undefined,
      "Dan joining",
      15_000,
    );
    dan.conferenceSendMessage(dc, "Dan here");
    await alice.waitFor(
      (el) => el.attrs.from === `${room}/Dan` && el.getChildText("body") === "Dan here",
      "Dan's message",
      10_000,
    );
    dan.conferenceDelete(dc);
    await alice.waitFor(
      (el) => el.attrs.from === `${room}/Dan` && el.attrs.type === "unavailable",
      "Dan leaving",
      15_000,
    );

    // Title both ways; Carol's rename as a 303.
    carol.conferenceSetTitle(cc, "Renamed by Carol");
    await alice.waitFor((el) => el.getChildText("subject") === "Renamed by Carol", "Carol's title", 10_000);
    await alice.xmpp.send(
      xml("message", { to: room, type: "groupchat" }, xml("subject", {}, "Set from XMPP")),
    );
    await waitUntil(() => conferenceTitle(carol, cc) === "Set from XMPP", 10_000, "title at Carol");
    carol.setName("Caroline");
    const renamed = await alice.waitFor(
      (el) => el.attrs.from === `${room}/Carol` && codes(el).includes(303),
      "303 for Carol",
      10_000,
    );
    expect(renamed.getChild("x", MUC_NS.user)?.getChild("item")?.attrs.nick).toBe("Caroline");

    // Out of the room (the conference stays): Carol's message waits in the core until alice rejoins.
    await alice.xmpp.send(xml("presence", { to: `${room}/alice`, type: "unavailable" }));
    await alice.waitFor(
      (el) => el.attrs.from === `${room}/alice` && el.attrs.type === "unavailable",
      "leave confirmed",
    );
    carol.conferenceSendMessage(cc, "while you were away");
    await new Promise((r) => setTimeout(r, 1000));
    expect(alice.received.some((el) => el.getChildText("body") === "while you were away")).toBe(false);
    expect((await core.conferences(owner)).map((c) => c.id)).toEqual([conf]);
    await alice.xmpp.send(xml("presence", { to: `${room}/alice` }, xml("x", { xmlns: MUC_NS.muc })));
    const late = await alice.waitFor(
      (el) => el.attrs.from === `${room}/Caroline` && el.getChildText("body") === "while you were away",
      "the kept message after rejoining",
      5_000,
    );
    expect(late.getChild("delay", MUC_NS.delay)).toBeDefined();
    // After her own presence (the join completed first), then the kept line.
    const order = alice.received.filter(
      (el) =>
        (el.attrs.from === `${room}/alice` && codes(el).includes(110)) ||
        el.getChildText("body") === "while you were away",
    );
    expect(order.at(-1)).toBe(late);
    expect(codes(order.at(-2)!)).toContain(110);
  }, 90_000);
});
