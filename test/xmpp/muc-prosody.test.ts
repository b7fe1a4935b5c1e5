/**
 * Tox conference rooms through a real Prosody, with real @xmpp/client users and the fake core:
 * the invitation reaches the user, joining shows occupants + self presence (110, 100) + subject,
 * messages go both ways with reflection, peers renaming show as 303, the title changes both ways,
 * a mediated invite reaches the core, non-members and malformed stanzas get errors, and a client
 * that disconnects ends its session (the conference stays; the core keeps messages meanwhile).
 */
import type { ClientElement } from "@xmpp/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConferenceView } from "../../src/core/frontend.js";
import { toHex } from "../../src/tox/bytes.js";
import { newKeyPair } from "../../src/tox/crypto.js";
import { XmppComponent } from "../../src/xmpp/component.js";
import { MucService } from "../../src/xmpp/muc.js";
import { MucXmppFrontend } from "../../src/xmpp/muc-frontend.js";
import { MucGatewayRouter } from "../../src/xmpp/muc-router.js";
import { MUC_NS, roomJid } from "../../src/xmpp/muc-stanzas.js";
import { NS } from "../../src/xmpp/namespaces.js";
import { waitUntil } from "../helpers/wait.js";
import { FakeCore, friendView } from "./fake-core.js";
import { GW, startXmppServer, type XmppServer } from "./harness.js";
import { type TestUser, xml } from "./user.js";

const SECRET = "muc-secret";
const ALICE = "alice@localhost";

const statusCodes = (el: ClientElement | undefined): number[] =>
  (el?.getChild("x", MUC_NS.user)?.getChildren("status") ?? []).map((s) => Number(s.attrs.code));

describe("MUC rooms through a real Prosody", () => {
  let server: XmppServer;
  let component: XmppComponent;
  let core: FakeCore;
  let alice: TestUser;
  let dave: TestUser;
  const alicePk = toHex(newKeyPair().publicKey);
  const bob = toHex(newKeyPair().publicKey);
  const carol = toHex(newKeyPair().publicKey);
  const conf = toHex(newKeyPair().publicKey);
  const room = roomJid(conf, GW);
  let view: ConferenceView;
  let frontend: MucXmppFrontend;

  /** The gateway's MUC side as gateway.ts wires it, with fresh (empty) session state. */
  async function startGateway(): Promise<void> {
    const permissions = () => ({ localhost: "user" as const });
    const sink = {
      send: (el: Parameters<XmppComponent["send"]>[0]) => component.send(el),
      sendConfirmed: (el: Parameters<XmppComponent["send"]>[0]) => component.sendConfirmed(el),
    };
    const muc = new MucService({ domain: GW, core, sink, permissions });
    const router = new MucGatewayRouter({ domain: GW, core, permissions }, muc);
    component = new XmppComponent({
      service: server.prosody.componentService,
      domain: GW,
      secret: SECRET,
      router,
    });
    frontend = new MucXmppFrontend(muc, GW, component);
    core.registerFrontend(frontend);
    void component.start().catch(() => undefined);
    await component.waitOnline();
  }

  beforeAll(async () => {
    server = await startXmppServer({
      portBase: 37400,
      portCount: 100,
      secret: SECRET,
      users: ["alice", "dave"],
    });
    core = new FakeCore();
    await startGateway();
    core.createAccount(ALICE);
    const account = core.accounts.get(ALICE);
    if (account) account.ref.publicKey = alicePk;
    account?.friends.set(bob, friendView(bob, "accepted", { name: "Bob" }));
    core.createAccount("dave@localhost");
    alice = await server.connect("alice");
    dave = await server.connect("dave");
    view = {
      id: conf,
      title: "Tox talk",
      type: "text",
      peers: [
        { publicKey: alicePk, name: "Alice", self: true },
        { publicKey: bob, name: "Bob", self: false },
        { publicKey: carol, name: "Carol", self: false },
      ],
      connected: true,
    };
  }, 30_000);

  afterAll(async () => {
    await alice?.stop();
    await dave?.stop();
    await component?.stop();
    await server?.stop();
  });

  it("shows the user an invitation to a conference their account is in", async () => {
    await core.putConference(ALICE, view);
    const invite = await alice.waitFor(
      (el) => el.name === "message" && el.getChild("x", MUC_NS.conference) !== undefined,
      "invitation",
    );
    expect(invite.attrs.from).toBe(room);
    expect(invite.getChild("x", MUC_NS.conference)?.attrs.jid).toBe(room);
    expect(invite.getChild("x", MUC_NS.user)?.getChild("invite")).toBeDefined();
  });

  it("joining shows the Tox peers, then the user's own presence (110, 100), then the subject", async () => {
    const first = alice.received.length;
    await alice.xmpp.send(xml("presence", { to: `${room}/alice` }, xml("x", { xmlns: MUC_NS.muc })));
    await alice.waitFor((el) => el.name === "message" && el.getChild("subject") !== undefined, "subject");
    const fromRoom = alice.received.slice(first).filter((el) => el.attrs.from?.startsWith(room));
    expect(fromRoom.map((el) => `${el.name} ${el.attrs.from}`)).toEqual([
      `presence ${room}/Bob`,
      `presence ${room}/Carol`,
      `presence ${room}/alice`,
      `message ${room}`,
    ]);
    expect(statusCodes(fromRoom[2])).toEqual([100, 110]);
    expect(fromRoom[3]?.getChildText("subject")).toBe("Tox talk");
  });

  it("sends the user's message to the conference and reflects it with the same id", async () => {
    await alice.xmpp.send(
      xml("message", { to: room, type: "groupchat", id: "alice-m1" }, xml("body", {}, "hello Tox")),
    );
    const echo = await alice.waitFor(
      (el) =>
        el.name === "message" && el.attrs.type === "groupchat" && el.getChildText("body") === "hello Tox",
      "reflection",
    );
    expect(echo.attrs).toMatchObject({ id: "alice-m1", from: `${room}/alice` });
    expect(core.conferenceSent.map((m) => [m.conference, m.text, m.sourceEventId])).toEqual([
      [conf, "hello Tox", "alice-m1"],
    ]);
  });

  it("delivers a Tox peer's message from room/<nick>", async () => {
    const account = core.accounts.get(ALICE)?.ref;
    if (!account) throw new Error("no account");
    await core.frontend?.deliverConferenceMessage?.(account, {
      id: 41,
      conference: conf,
      peer: bob,
      peerName: "Bob",
      kind: "action",
      text: "waves",
      receivedAt: new Date(),
    });
    const msg = await alice.waitFor((el) => el.attrs.id === "tox-conf-in-41", "Tox message");
    expect(msg.attrs).toMatchObject({ type: "groupchat", from: `${room}/Bob` });
    expect(msg.getChildText("body")).toBe("/me waves");
  });

  it("shows a peer's rename as 303 and a new title as the subject; the user's subject sets the title", async () => {
    await core.putConference(ALICE, {
      ...view,
      title: "Tox talk 2",
      peers: view.peers.map((p) => (p.publicKey === carol ? { ...p, name: "Caro" } : p)),
    });
    const gone = await alice.waitFor((el) => statusCodes(el).includes(303), "303 nick change");
    expect(gone.attrs.from).toBe(`${room}/Carol`);
    expect(gone.getChild("x", MUC_NS.user)?.getChild("item")?.attrs.nick).toBe("Caro");
    await alice.waitFor((el) => el.attrs.from === `${room}/Caro` && el.name === "presence", "new nick");
    await alice.waitFor((el) => el.getChildText("subject") === "Tox talk 2", "new subject");

    await alice.xmpp.send(xml("message", { to: room, type: "groupchat" }, xml("subject", {}, "Our plans")));
    await alice.waitFor((el) => el.getChildText("subject") === "Our plans", "own subject");
    expect(core.titlesSet.map((t) => t.title)).toEqual(["Our plans"]);
  });

  it("a mediated invite from the user invites their Tox friend", async () => {
    await alice.xmpp.send(
      xml(
        "message",
        { to: room },
        xml("x", { xmlns: MUC_NS.user }, xml("invite", { to: `${bob}@${GW}` }, xml("reason", {}, "come"))),
      ),
    );
    await waitUntil(() => core.conferenceInvites.length === 1, 5000, "invite reaches the core");
    expect(core.conferenceInvites[0]).toMatchObject({ owner: ALICE, conference: conf, invitee: bob });
  });

  it("refuses a non-member (registration-required) and a malformed stanza (bad-request)", async () => {
    await dave.xmpp.send(xml("presence", { to: `${room}/dave` }, xml("x", { xmlns: MUC_NS.muc })));
    const err = await dave.waitFor((el) => el.name === "presence" && el.attrs.type === "error", "join error");
    expect(err.getChild("error")?.getChild("registration-required", NS.stanzas)).toBeDefined();
    await alice.xmpp.send(xml("message", { to: room, type: "bogus", id: "bad1" }, xml("body", {}, "x")));
    const bad = await alice.waitFor(
      (el) => el.attrs.id === "bad1" && el.attrs.type === "error",
      "bad-request",
    );
    expect(bad.getChild("error")?.getChild("bad-request", NS.stanzas)).toBeDefined();
    expect(core.conferenceSent).toHaveLength(1);
  });

  it("a gateway restart: sessions are told (332); afterwards self-ping says not-acceptable and rejoining works", async () => {
    await frontend.goodbye();
    await component.stop();
    const bye = await alice.waitFor((el) => statusCodes(el).includes(332), "332 shutdown");
    expect(bye.attrs).toMatchObject({ from: `${room}/alice`, type: "unavailable" });
    await startGateway();
    const ping = await alice.xmpp.iqCaller.get(xml("ping", { xmlns: NS.ping }), `${room}/alice`).then(
      () => "result",
      (err: { condition?: string }) => err.condition,
    );
    expect(ping).toBe("not-acceptable");
    const first = alice.received.length;
    await alice.xmpp.send(xml("presence", { to: `${room}/alice` }, xml("x", { xmlns: MUC_NS.muc })));
    await alice.waitFor(
      (el) => alice.received.indexOf(el) >= first && el.getChild("subject") !== undefined,
      "subject after rejoin",
    );
    // Resolves (with the result's empty payload) only for a result.
    await alice.xmpp.iqCaller.get(xml("ping", { xmlns: NS.ping }), `${room}/alice`);
  });

  it("a client that disconnects ends its session, not the conference; messages then wait in the core", async () => {
    const account = core.accounts.get(ALICE)?.ref;
    if (!account) throw new Error("no account");
    await alice.stop();
    const message = {
      id: 42,
      conference: conf,
      peer: bob,
      peerName: "Bob",
      kind: "normal" as const,
      text: "are you there?",
      receivedAt: new Date(),
    };
    await waitUntil(
      async () => {
        try {
          await core.frontend?.deliverConferenceMessage?.(account, message);
          return false;
        } catch {
          return true;
        }
      },
      5000,
      "delivery refused",
      20,
    );
    expect(core.left).toEqual([]);
    expect(await core.conferences({ kind: "xmpp", id: ALICE })).toHaveLength(1);
  });
});
