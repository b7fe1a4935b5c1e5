/**
 * Tox conferences as MUC rooms, without a server: the MUC service behind the gateway router, a
 * fake core and a recording sink. Join order and status codes, reflection, subject both ways,
 * occupant changes (join, leave, rename with 303), invitations, leaving for good, self-ping,
 * disco, and the errors (non-member, no account, bad nick, malformed stanzas) that change nothing.
 */
import { beforeEach, describe, expect, it } from "vitest";
import type { ConferencePeerView, ConferenceView } from "../../src/core/frontend.js";
import { toHex } from "../../src/tox/bytes.js";
import { newKeyPair } from "../../src/tox/crypto.js";
import { MucService } from "../../src/xmpp/muc.js";
import { MucXmppFrontend } from "../../src/xmpp/muc-frontend.js";
import { assignNicks } from "../../src/xmpp/muc-nicks.js";
import { MucGatewayRouter } from "../../src/xmpp/muc-router.js";
import { MUC_NS, roomJid } from "../../src/xmpp/muc-stanzas.js";
import { NS } from "../../src/xmpp/namespaces.js";
import type { XmlElement } from "../../src/xmpp/xml.js";
import { FakeCore, friendView } from "./fake-core.js";
import { parseXml } from "./parse-xml.js";

const GW = "tox.localhost";
const ALICE = "alice@localhost";
const PHONE = `${ALICE}/phone`;
const LAPTOP = `${ALICE}/laptop`;

const key = () => toHex(newKeyPair().publicKey);
const CONF = "c0".repeat(32);
const ROOM = roomJid(CONF, GW);

function errorCondition(el: XmlElement | undefined): string | undefined {
  const err = el?.getChild("error");
  return err?.getChildElements().find((c) => c.attrs.xmlns === NS.stanzas && c.name !== "text")?.name;
}

function codes(el: XmlElement | undefined): number[] {
  return (
    el
      ?.getChild("x", MUC_NS.user)
      ?.getChildren("status")
      .map((s) => Number(s.attrs.code)) ?? []
  );
}

function peer(publicKey: string, name: string, extra: Partial<ConferencePeerView> = {}): ConferencePeerView {
  return { publicKey, name, self: false, ...extra };
}

describe("MUC rooms for Tox conferences", () => {
  let core: FakeCore;
  let sent: XmlElement[];
  let muc: MucService;
  let router: MucGatewayRouter;
  let alicePk: string;
  const bob = key();
  const carol = key();
  let view: ConferenceView;
  const handle = (s: string) => router.handle(parseXml(s));
  const join = (from = PHONE, nick = "alice") =>
    handle(`<presence from="${from}" to="${ROOM}/${nick}"><x xmlns="${MUC_NS.muc}"/></presence>`);

  beforeEach(async () => {
    core = new FakeCore();
    sent = [];
    const sink = {
      send: async (el: XmlElement) => void sent.push(el),
      sendConfirmed: async (el: XmlElement) => void sent.push(el),
    };
    const permissions = () => ({ localhost: "user" as const });
    muc = new MucService({ domain: GW, core, sink, permissions });
    router = new MucGatewayRouter({ domain: GW, core, permissions }, muc);
    core.registerFrontend(new MucXmppFrontend(muc, GW, sink));
    alicePk = core.createAccount(ALICE).ref.publicKey;
    view = {
      id: CONF,
      title: "Tox talk",
      type: "text",
      peers: [peer(alicePk, "Alice", { self: true }), peer(bob, "Bob"), peer(carol, "Carol")],
      connected: true,
    };
    await core.putConference(ALICE, view);
  });

  describe("invitation", () => {
    it("a new conference invites the user's bare JID once, mediated and direct in one message", async () => {
      expect(sent).toHaveLength(1);
      const inv = sent[0];
      expect(inv?.attrs).toMatchObject({ from: ROOM, to: ALICE });
      expect(inv?.getChild("x", MUC_NS.user)?.getChild("invite")?.attrs.from).toBe(GW);
      expect(inv?.getChild("x", MUC_NS.conference)?.attrs.jid).toBe(ROOM);
      expect(inv?.getChildText("body")).toContain(`xmpp:${ROOM}?join`);
      await core.putConference(ALICE, { ...view, title: "again" });
      expect(sent.filter((s) => s.getChild("x", MUC_NS.conference))).toHaveLength(1);
    });
  });

  it("sends no invitation for a conference the core says it only restored, and survives a failed send", async () => {
    const account = core.accounts.get(ALICE)?.ref;
    if (!account) throw new Error("no account");
    sent.length = 0;
    await muc.conferenceUpdated(account, { ...view, id: "d1".repeat(32) }, "restored");
    expect(sent).toEqual([]);
    const failing = new MucService({
      domain: GW,
      core,
      sink: {
        send: async () => {
          throw new Error("not connected");
        },
        sendConfirmed: async () => {
          throw new Error("not connected");
        },
      },
      permissions: () => ({ localhost: "user" as const }),
    });
    await expect(failing.conferenceUpdated(account, view)).resolves.toBeUndefined();
  });

  it("with reasons: invites on joined only, also when a change of the new conference came first", async () => {
    const account = core.accounts.get(ALICE)?.ref;
    if (!account) throw new Error("no account");
    sent.length = 0;
    const other = { ...view, id: "d2".repeat(32) };
    const invitations = () => sent.filter((s) => s.getChild("x", MUC_NS.conference) !== undefined);
    await muc.conferenceUpdated(account, other, "changed");
    expect(invitations()).toEqual([]);
    await muc.conferenceUpdated(account, other, "joined");
    expect(invitations().map((s) => s.getChild("x", MUC_NS.conference)?.attrs.jid)).toEqual([
      roomJid(other.id, GW),
    ]);
    await muc.conferenceUpdated(account, { ...other, title: "new" }, "changed");
    await muc.conferenceUpdated(account, other, "joined");
    expect(invitations()).toHaveLength(1);
  });

  it("an invitation for a join that could not be sent (not connected) goes out on the next connection, once", async () => {
    const account = core.accounts.get(ALICE)?.ref;
    if (!account) throw new Error("no account");
    let connected = false;
    const out: XmlElement[] = [];
    const send = async (el: XmlElement) => {
      if (!connected) throw new Error("not connected");
      out.push(el);
    };
    const offline = new MucService({
      domain: GW,
      core,
      sink: { send, sendConfirmed: send },
      permissions: () => ({ localhost: "user" as const }),
    });
    const joined = { ...view, id: "d3".repeat(32) };
    await offline.conferenceUpdated(account, joined, "joined");
    await offline.conferenceUpdated(account, { ...view, id: "d4".repeat(32) }, "restored");
    connected = true;
    await offline.reconnected();
    await offline.reconnected();
    expect(out.map((el) => el.getChild("x", MUC_NS.conference)?.attrs.jid)).toEqual([roomJid(joined.id, GW)]);
  });

  describe("joining", () => {
    it("sends the occupants, then the user's own presence (110, 100), then the subject", async () => {
      const replies = await join();
      expect(replies.map((r) => r.name)).toEqual(["presence", "presence", "presence", "message"]);
      expect(replies.slice(0, 2).map((r) => r.attrs.from)).toEqual([`${ROOM}/Bob`, `${ROOM}/Carol`]);
      const bobItem = replies[0]?.getChild("x", MUC_NS.user)?.getChild("item");
      expect(bobItem?.attrs).toMatchObject({
        affiliation: "member",
        role: "participant",
        jid: `${bob}@${GW}`,
      });
      expect(replies[0]?.getChild("occupant-id", MUC_NS.occupantId)?.attrs.id).toMatch(/^[\w-]{22}$/);
      const self = replies[2];
      expect(self?.attrs).toMatchObject({ from: `${ROOM}/alice`, to: PHONE });
      expect(codes(self)).toEqual([100, 110]);
      expect(replies[3]?.attrs).toMatchObject({ type: "groupchat", from: ROOM, to: PHONE });
      expect(replies[3]?.getChildText("subject")).toBe("Tox talk");
    });

    it("names a nameless identity of another bridged user after that user", async () => {
      const matrixUser = key();
      await core.putConference(ALICE, {
        ...view,
        peers: [
          ...view.peers,
          peer(matrixUser, "", { bridgedOwner: { kind: "matrix", id: "@mia:localhost" } }),
        ],
      });
      const replies = await join();
      expect(replies.map((r) => r.attrs.from)).toContain(`${ROOM}/@mia:localhost`);
    });

    it("gives a second session of the same user the nick already in use (210)", async () => {
      await join(PHONE, "alice");
      const replies = await join(LAPTOP, "other");
      const self = replies.find((r) => codes(r).includes(110));
      expect(self?.attrs.from).toBe(`${ROOM}/alice`);
      expect(codes(self)).toEqual([100, 110, 210]);
    });

    it("refuses a nick a Tox peer has (conflict), a missing nick, a non-member and a user without account", async () => {
      const [conflict] = await join(PHONE, "Bob");
      expect(conflict?.attrs).toMatchObject({ type: "error", from: `${ROOM}/Bob`, to: PHONE });
      expect(errorCondition(conflict)).toBe("conflict");
      const [noNick] = await handle(
        `<presence from="${PHONE}" to="${ROOM}"><x xmlns="${MUC_NS.muc}"/></presence>`,
      );
      expect(errorCondition(noNick)).toBe("jid-malformed");

      core.createAccount("dave@localhost");
      const [notMember] = await join("dave@localhost/x", "dave");
      expect(errorCondition(notMember)).toBe("registration-required");
      const [noAccount] = await join("erin@localhost/x", "erin");
      expect(errorCondition(noAccount)).toBe("registration-required");
      const [unknown] = await handle(
        `<presence from="${PHONE}" to="${roomJid("ee".repeat(32), GW)}/alice"><x xmlns="${MUC_NS.muc}"/></presence>`,
      );
      expect(errorCondition(unknown)).toBe("item-not-found");
      const [badId] = await handle(`<presence from="${PHONE}" to="conf-xyz@${GW}/alice"/>`);
      expect(errorCondition(badId)).toBe("item-not-found");
      const [forbidden] = await join("mallory@evil.example/x", "m");
      expect(errorCondition(forbidden)).toBe("forbidden");
      // Nothing of that joined anyone.
      const [ping] = await handle(
        `<iq type="get" id="p" from="${PHONE}" to="${ROOM}/alice"><ping xmlns="${NS.ping}"/></iq>`,
      );
      expect(errorCondition(ping)).toBe("not-acceptable");
    });

    it("answers malformed stanzas with bad-request", async () => {
      await join();
      const [badPresence] = await handle(`<presence from="${PHONE}" to="${ROOM}/alice" type="bogus"/>`);
      expect(errorCondition(badPresence)).toBe("bad-request");
      const [badMessage] = await handle(
        `<message from="${PHONE}" to="${ROOM}" type="bogus"><body>x</body></message>`,
      );
      expect(errorCondition(badMessage)).toBe("bad-request");
      const [badIq] = await handle(
        `<iq type="get" from="${PHONE}" to="${ROOM}"><ping xmlns="${NS.ping}"/></iq>`,
      );
      expect(errorCondition(badIq)).toBe("bad-request");
      const [badInvite] = await handle(
        `<message from="${PHONE}" to="${ROOM}"><x xmlns="${MUC_NS.user}"><invite to="not a jid"/></x></message>`,
      );
      expect(errorCondition(badInvite)).toBe("bad-request");
      expect(core.conferenceSent).toHaveLength(0);
      expect(core.conferenceInvites).toHaveLength(0);
    });
  });

  describe("messages", () => {
    it("sends the user's groupchat message from their identity and reflects it to every joined session", async () => {
      await join(PHONE);
      await join(LAPTOP);
      const replies = await handle(
        `<message from="${PHONE}" to="${ROOM}" type="groupchat" id="m1"><body>hello all</body>` +
          `<origin-id xmlns="${MUC_NS.originId}" id="o1"/></message>`,
      );
      expect(core.conferenceSent).toEqual([
        {
          owner: { kind: "xmpp", id: ALICE },
          conference: CONF,
          text: "hello all",
          kind: "normal",
          sourceEventId: "o1",
        },
      ]);
      expect(replies.map((r) => r.attrs.to).sort()).toEqual([LAPTOP, PHONE]);
      for (const r of replies) {
        expect(r.attrs).toMatchObject({ type: "groupchat", id: "m1", from: `${ROOM}/alice` });
        expect(r.getChildText("body")).toBe("hello all");
        expect(r.getChild("origin-id", MUC_NS.originId)?.attrs.id).toBe("o1");
      }
      await handle(
        `<message from="${PHONE}" to="${ROOM}" type="groupchat" id="m2"><body>/me waves</body></message>`,
      );
      expect(core.conferenceSent[1]).toMatchObject({ text: "waves", kind: "action", sourceEventId: "m2" });
      // A correction reaches Tox as readable text and is reflected as a correction.
      const [fixed] = await handle(
        `<message from="${PHONE}" to="${ROOM}" type="groupchat" id="m3"><body>hello everyone</body>` +
          `<replace xmlns="${NS.correct}" id="m1"/></message>`,
      );
      expect(core.conferenceSent[2]).toMatchObject({
        text: "Correction: hello everyone",
        sourceEventId: "m3",
      });
      expect(fixed?.getChild("replace", NS.correct)?.attrs.id).toBe("m1");
    });

    it("refuses groupchat from a session that has not joined (not-acceptable) and private messages", async () => {
      const [notJoined] = await handle(
        `<message from="${PHONE}" to="${ROOM}" type="groupchat" id="x"><body>hi</body></message>`,
      );
      expect(errorCondition(notJoined)).toBe("not-acceptable");
      await join();
      const [pm] = await handle(
        `<message from="${PHONE}" to="${ROOM}/Bob" type="chat"><body>psst</body></message>`,
      );
      expect(errorCondition(pm)).toBe("not-acceptable");
      expect(pm?.getChild("error")?.getChildText("text")).toContain(`${bob}@${GW}`);
      expect(core.conferenceSent).toHaveLength(0);
    });

    it("refuses end-to-end encrypted messages, whose body is only a fallback text", async () => {
      await join();
      const [r] = await handle(
        `<message from="${PHONE}" to="${ROOM}" type="groupchat" id="e1"><body>I sent you an OMEMO encrypted message</body>` +
          `<encrypted xmlns="eu.siacs.conversations.axolotl"><header sid="1"/></encrypted></message>`,
      );
      expect(errorCondition(r)).toBe("not-acceptable");
      expect(r?.getChild("error")?.getChildText("text")).toMatch(/OMEMO/);
      expect(core.conferenceSent).toHaveLength(0);
    });

    it("delivers Tox messages from room/<peer nick>; refuses while no session is joined so the core keeps them", async () => {
      const msg = {
        id: 9,
        conference: CONF,
        peer: bob,
        peerName: "Bob",
        kind: "normal" as const,
        text: "hi from Tox",
        receivedAt: new Date(),
      };
      await expect(
        core.frontend?.deliverConferenceMessage?.(core.accounts.get(ALICE)!.ref, msg),
      ).rejects.toThrow(/no joined MUC session/);
      await join(PHONE);
      await join(LAPTOP);
      sent.length = 0;
      const old = new Date(Date.now() - 60_000);
      await core.frontend?.deliverConferenceMessage?.(core.accounts.get(ALICE)!.ref, {
        ...msg,
        kind: "action",
        receivedAt: old,
      });
      expect(sent.map((s) => s.attrs.to).sort()).toEqual([LAPTOP, PHONE]);
      expect(sent[0]?.attrs).toMatchObject({ type: "groupchat", from: `${ROOM}/Bob`, id: "tox-conf-in-9" });
      expect(sent[0]?.getChildText("body")).toBe("/me hi from Tox");
      expect(sent[0]?.getChild("delay", MUC_NS.delay)?.attrs.stamp).toBe(old.toISOString());
    });

    it("a subject from the user sets the conference title and is shown to every session", async () => {
      await join(PHONE);
      await join(LAPTOP);
      const replies = await handle(
        `<message from="${PHONE}" to="${ROOM}" type="groupchat"><subject>New title</subject></message>`,
      );
      expect(core.titlesSet).toEqual([{ owner: ALICE, conference: CONF, title: "New title" }]);
      expect(replies).toHaveLength(2);
      expect(replies[0]?.getChildText("subject")).toBe("New title");
      const [tooLong] = await handle(
        `<message from="${PHONE}" to="${ROOM}" type="groupchat"><subject>${"x".repeat(200)}</subject></message>`,
      );
      expect(errorCondition(tooLong)).toBe("not-acceptable");
      expect(core.titlesSet).toHaveLength(1);
    });
  });

  describe("changes in the conference", () => {
    it("shows peers joining, leaving and renaming (303), and a new title as the subject", async () => {
      await join();
      sent.length = 0;
      const dave = key();
      await core.putConference(ALICE, {
        ...view,
        title: "Renamed",
        peers: [peer(alicePk, "Alice", { self: true }), peer(bob, "Robert"), peer(dave, "Dave")],
      });
      const from = sent.map((s) => `${s.name} ${s.attrs.type ?? ""} ${s.attrs.from}`);
      expect(from).toEqual([
        `presence unavailable ${ROOM}/Carol`,
        `presence unavailable ${ROOM}/Bob`,
        `presence  ${ROOM}/Robert`,
        `presence  ${ROOM}/Dave`,
        `message groupchat ${ROOM}`,
      ]);
      expect(codes(sent[1])).toEqual([303]);
      expect(sent[1]?.getChild("x", MUC_NS.user)?.getChild("item")?.attrs.nick).toBe("Robert");
      expect(sent[4]?.getChildText("subject")).toBe("Renamed");
    });

    it("the user's nick change goes to every session as 303 + new presence, and is refused on a peer's nick", async () => {
      await join(PHONE);
      await join(LAPTOP);
      const replies = await handle(`<presence from="${PHONE}" to="${ROOM}/ally"/>`);
      expect(replies).toHaveLength(4);
      expect(codes(replies[0])).toEqual([110, 303]);
      expect(replies[1]?.attrs.from).toBe(`${ROOM}/ally`);
      const [conflict] = await handle(`<presence from="${PHONE}" to="${ROOM}/Carol"/>`);
      expect(errorCondition(conflict)).toBe("conflict");
    });

    it("an unavailable presence ends only that session; the conference stays", async () => {
      await join(PHONE);
      const [bye] = await handle(`<presence from="${PHONE}" to="${ROOM}/alice" type="unavailable"/>`);
      expect(bye?.attrs).toMatchObject({ type: "unavailable", to: PHONE });
      expect(codes(bye)).toEqual([110]);
      expect(core.left).toHaveLength(0);
      expect(await core.conferences({ kind: "xmpp", id: ALICE })).toHaveLength(1);
    });

    it("a bounced stanza drops the session (its client is gone)", async () => {
      await join(PHONE);
      await handle(`<message from="${PHONE}" to="${ROOM}/Bob" type="error"><error type="cancel"/></message>`);
      const [ping] = await handle(
        `<iq type="get" id="p" from="${PHONE}" to="${ROOM}/alice"><ping xmlns="${NS.ping}"/></iq>`,
      );
      expect(errorCondition(ping)).toBe("not-acceptable");
    });

    it("destroying the room leaves the Tox conference and tells every session", async () => {
      await join(PHONE);
      await join(LAPTOP);
      sent.length = 0;
      const replies = await handle(
        `<iq type="set" id="d" from="${PHONE}" to="${ROOM}"><query xmlns="${MUC_NS.owner}"><destroy/></query></iq>`,
      );
      expect(core.left).toEqual([{ owner: ALICE, conference: CONF }]);
      const all = [...sent, ...replies];
      expect(
        all
          .filter((s) => s.getChild("x", MUC_NS.user)?.getChild("destroy"))
          .map((s) => s.attrs.to)
          .sort(),
      ).toEqual([LAPTOP, PHONE]);
      expect(all.find((s) => s.name === "iq")?.attrs).toMatchObject({ type: "result", id: "d" });
      const [again] = await join();
      expect(errorCondition(again)).toBe("item-not-found");
    });
  });

  describe("gateway lifecycle", () => {
    it("stopping tells every joined session the room went away for a shutdown (332)", async () => {
      await join(PHONE);
      await join(LAPTOP);
      sent.length = 0;
      await muc.goodbye();
      expect(sent.map((s) => s.attrs.to).sort()).toEqual([LAPTOP, PHONE]);
      for (const s of sent) {
        expect(s.attrs.type).toBe("unavailable");
        expect(codes(s)).toEqual([110, 332]);
      }
      const [ping] = await handle(
        `<iq type="get" id="p" from="${PHONE}" to="${ROOM}/alice"><ping xmlns="${NS.ping}"/></iq>`,
      );
      expect(errorCondition(ping)).toBe("not-acceptable");
    });

    it("a reconnection of the component ends every session (332), so messages wait until clients rejoin", async () => {
      await join(PHONE);
      sent.length = 0;
      await muc.reconnected();
      expect(sent.map((s) => [s.attrs.to, codes(s)])).toEqual([[PHONE, [110, 332]]]);
      await expect(
        core.frontend?.deliverConferenceMessage?.(core.accounts.get(ALICE)!.ref, {
          id: 1,
          conference: CONF,
          peer: bob,
          peerName: "Bob",
          kind: "normal",
          text: "x",
          receivedAt: new Date(),
        }),
      ).rejects.toThrow(/no joined MUC session/);
    });

    it("asks a core that can redeliver for the messages it kept, once a session joined", async () => {
      const asked: string[] = [];
      Object.assign(core, {
        redeliverConference: async (owner: { id: string }, conference: string) =>
          void asked.push(`${owner.id} ${conference}`),
      });
      await join();
      await new Promise((r) => setImmediate(r));
      expect(asked).toEqual([`${ALICE} ${CONF}`]);
    });
  });

  it("offers the conference commands as ad-hoc commands with a form", async () => {
    const [r] = await handle(
      `<iq type="set" id="c1" from="${PHONE}" to="${GW}"><command xmlns="${NS.commands}" node="conference">` +
        `<x xmlns="${NS.data}" type="submit"><field var="action"><value>create</value></field>` +
        `<field var="argument"><value>Book club</value></field></x></command></iq>`,
    );
    expect(r?.attrs.type).toBe("result");
    expect(core.commands.at(-1)?.text).toBe("conference create Book club");
  });

  describe("invitations from the user", () => {
    it("a mediated invite to a contact JID or a bridged user's JID invites them into the conference", async () => {
      core.accounts.get(ALICE)?.friends.set(bob, friendView(bob, "accepted"));
      await handle(
        `<message from="${PHONE}" to="${ROOM}"><x xmlns="${MUC_NS.user}"><invite to="${bob}@${GW}"><reason>join us</reason></invite></x></message>`,
      );
      await handle(
        `<message from="${PHONE}" to="${ROOM}"><x xmlns="${MUC_NS.user}"><invite to="zoe@localhost"/></x></message>`,
      );
      expect(core.conferenceInvites).toEqual([
        { owner: ALICE, conference: CONF, invitee: bob },
        { owner: ALICE, conference: CONF, invitee: { kind: "xmpp", id: "zoe@localhost" } },
      ]);
      const stranger = key();
      const [err] = await handle(
        `<message from="${PHONE}" to="${ROOM}"><x xmlns="${MUC_NS.user}"><invite to="${stranger}@${GW}"/></x></message>`,
      );
      expect(errorCondition(err)).toBe("item-not-found");
    });

    it("a XEP-0249 direct invitation sent to a contact JID invites that friend", async () => {
      core.accounts.get(ALICE)?.friends.set(carol, friendView(carol, "accepted"));
      const replies = await handle(
        `<message from="${PHONE}" to="${carol}@${GW}"><x xmlns="${MUC_NS.conference}" jid="${ROOM}"/></message>`,
      );
      expect(replies).toEqual([]);
      expect(core.conferenceInvites).toEqual([{ owner: ALICE, conference: CONF, invitee: carol }]);
    });
  });

  describe("iq and disco", () => {
    it("answers self-ping for a joined session, and disco#info on the room for members only", async () => {
      await join();
      const [ping] = await handle(
        `<iq type="get" id="p" from="${PHONE}" to="${ROOM}/alice"><ping xmlns="${NS.ping}"/></iq>`,
      );
      expect(ping?.attrs).toMatchObject({ type: "result", id: "p" });
      const [info] = await handle(
        `<iq type="get" id="i" from="${PHONE}" to="${ROOM}"><query xmlns="${NS.discoInfo}"/></iq>`,
      );
      const q = info?.getChild("query");
      expect(q?.getChild("identity")?.attrs).toMatchObject({
        category: "conference",
        type: "text",
        name: "Tox talk",
      });
      const features = q?.getChildren("feature").map((f) => f.attrs.var);
      expect(features).toEqual(
        expect.arrayContaining([MUC_NS.muc, "muc_persistent", "muc_nonanonymous", "muc_membersonly"]),
      );
      core.createAccount("dave@localhost");
      const [hidden] = await handle(
        `<iq type="get" id="i2" from="dave@localhost/x" to="${ROOM}"><query xmlns="${NS.discoInfo}"/></iq>`,
      );
      expect(errorCondition(hidden)).toBe("registration-required");
    });

    it("the gateway's disco shows the MUC service and lists the asker's rooms", async () => {
      const [info] = await handle(
        `<iq type="get" id="g1" from="${PHONE}" to="${GW}"><query xmlns="${NS.discoInfo}"/></iq>`,
      );
      const q = info?.getChild("query");
      expect(q?.getChildren("identity").map((i) => `${i.attrs.category}/${i.attrs.type}`)).toEqual([
        "gateway/tox",
        "conference/text",
      ]);
      expect(q?.getChildren("feature").map((f) => f.attrs.var)).toContain(MUC_NS.muc);
      const [items] = await handle(
        `<iq type="get" id="g2" from="${PHONE}" to="${GW}"><query xmlns="${NS.discoItems}"/></iq>`,
      );
      expect(
        items
          ?.getChild("query")
          ?.getChildren("item")
          .map((i) => i.attrs),
      ).toEqual([{ jid: ROOM, name: "Tox talk" }]);
      const [others] = await handle(
        `<iq type="get" id="g3" from="dave@localhost/x" to="${GW}"><query xmlns="${NS.discoItems}"/></iq>`,
      );
      expect(others?.getChild("query")?.getChildren("item")).toEqual([]);
    });
  });
});

describe("assignNicks", () => {
  const a = "aa".repeat(32);
  const b = "bb".repeat(32);
  const c = "cc".repeat(32);

  it("gives names when free, disambiguates duplicates, names the nameless, and keeps nicks sticky", () => {
    const first = assignNicks(
      [
        { publicKey: b, name: "Tox User" },
        { publicKey: a, name: "Tox User" },
        { publicKey: c, name: "" },
      ],
      new Map(),
      new Set(),
    );
    expect(first.get(a)).toBe("Tox User");
    expect(first.get(b)).toBe("Tox User [BBBBBB]");
    expect(first.get(c)).toBe("Tox CCCCCCCC");
    // a leaves: b keeps its disambiguated nick (no rename churn); a newcomer named like the
    // user's reserved nick is disambiguated.
    const second = assignNicks(
      [
        { publicKey: b, name: "Tox User" },
        { publicKey: c, name: "alice" },
      ],
      first,
      new Set(["alice"]),
    );
    expect(second.get(b)).toBe("Tox User [BBBBBB]");
    expect(second.get(c)).toBe("alice [CCCCCC]");
  });

  it("strips control characters and line breaks from names", () => {
    const nicks = assignNicks([{ publicKey: a, name: "Bob\n\u0007 the\tbuilder" }], new Map(), new Set());
    expect(nicks.get(a)).toBe("Bob the builder");
  });
});
