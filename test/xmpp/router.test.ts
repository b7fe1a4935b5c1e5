import { beforeEach, describe, expect, it } from "vitest";
import { COMMANDS as CORE_COMMANDS } from "../../src/core/commands.js";
import { formatAddress } from "../../src/tox/address.js";
import { fromHex, toHex } from "../../src/tox/bytes.js";
import { newKeyPair } from "../../src/tox/crypto.js";
import { COMMANDS } from "../../src/xmpp/adhoc.js";
import { NS } from "../../src/xmpp/namespaces.js";
import { GatewayRouter } from "../../src/xmpp/router.js";
import type { XmlElement } from "../../src/xmpp/xml.js";
import { FakeCore, friendView } from "./fake-core.js";
import { parseXml } from "./parse-xml.js";

const GW = "tox.localhost";
const ALICE = "alice@localhost";
const ALICE_FULL = `${ALICE}/phone`;

function errorCondition(el: XmlElement | undefined): string | undefined {
  const err = el?.getChild("error");
  return err?.getChildElements().find((c) => c.attrs.xmlns === NS.stanzas && c.name !== "text")?.name;
}

function newFriendKey(): { pk: string; toxId: string } {
  const kp = newKeyPair();
  return {
    pk: toHex(kp.publicKey),
    toxId: formatAddress({ publicKey: kp.publicKey, nospam: fromHex("0a0b0c0d") }),
  };
}

describe("GatewayRouter", () => {
  let core: FakeCore;
  let router: GatewayRouter;
  const handle = (s: string) => router.handle(parseXml(s));

  beforeEach(() => {
    core = new FakeCore();
    router = new GatewayRouter({
      domain: GW,
      core,
      permissions: () => ({ localhost: "user", "admin@localhost": "admin" }),
      version: "0.1.0",
    });
  });

  describe("disco", () => {
    it("answers disco#info on the gateway with the gateway/tox identity and features", async () => {
      const [r] = await handle(
        `<iq type="get" id="d1" from="${ALICE_FULL}" to="${GW}"><query xmlns="${NS.discoInfo}"/></iq>`,
      );
      expect(r?.attrs).toMatchObject({ type: "result", id: "d1", from: GW, to: ALICE_FULL });
      const q = r?.getChild("query");
      expect(q?.getChild("identity")?.attrs).toMatchObject({ category: "gateway", type: "tox" });
      const features = q?.getChildren("feature").map((f) => f.attrs.var);
      expect(features).toEqual(expect.arrayContaining([NS.register, NS.gateway, NS.commands]));
    });

    it("answers disco to anyone, even unpermitted servers", async () => {
      const [r] = await handle(
        `<iq type="get" id="d2" from="evil.example" to="${GW}"><query xmlns="${NS.discoInfo}"/></iq>`,
      );
      expect(r?.attrs.type).toBe("result");
    });

    it("lists the ad-hoc commands and describes one command node", async () => {
      const [items] = await handle(
        `<iq type="get" id="d3" from="${ALICE_FULL}" to="${GW}"><query xmlns="${NS.discoItems}" node="${NS.commands}"/></iq>`,
      );
      expect(
        items
          ?.getChild("query")
          ?.getChildren("item")
          .map((i) => i.attrs.node),
      ).toEqual(COMMANDS.map((c) => c.node));
      const [info] = await handle(
        `<iq type="get" id="d4" from="${ALICE_FULL}" to="${GW}"><query xmlns="${NS.discoInfo}" node="add"/></iq>`,
      );
      expect(info?.getChild("query")?.getChild("identity")?.attrs).toMatchObject({
        category: "automation",
        type: "command-node",
      });
      const [missing] = await handle(
        `<iq type="get" id="d5" from="${ALICE_FULL}" to="${GW}"><query xmlns="${NS.discoInfo}" node="nope"/></iq>`,
      );
      expect(errorCondition(missing)).toBe("item-not-found");
    });

    it("answers disco#info on a contact JID with the friend's name", async () => {
      const a = core.createAccount(ALICE);
      const { pk } = newFriendKey();
      a.friends.set(pk, friendView(pk, "accepted", { name: "Bob" }));
      const [r] = await handle(
        `<iq type="get" id="c1" from="${ALICE_FULL}" to="${pk}@${GW}"><query xmlns="${NS.discoInfo}"/></iq>`,
      );
      expect(r?.attrs.type).toBe("result");
      const identity = r?.getChild("query")?.getChild("identity");
      expect(identity?.attrs).toMatchObject({ category: "client", type: "pc", name: "Bob" });
    });
  });

  describe("registration (XEP-0077)", () => {
    it("offers a form, creates an account on submit and asks for the user's presence", async () => {
      const [form] = await handle(
        `<iq type="get" id="r1" from="${ALICE_FULL}" to="${GW}"><query xmlns="${NS.register}"/></iq>`,
      );
      const x = form?.getChild("query")?.getChild("x");
      expect(x?.attrs).toMatchObject({ xmlns: NS.data, type: "form" });
      expect(form?.getChild("query")?.getChild("registered")).toBeUndefined();

      const replies = await handle(
        `<iq type="set" id="r2" from="${ALICE_FULL}" to="${GW}"><query xmlns="${NS.register}">` +
          `<x xmlns="${NS.data}" type="submit"><field var="FORM_TYPE"><value>${NS.register}</value></field>` +
          `<field var="action"><value>create</value></field><field var="name"><value>Alice</value></field></x></query></iq>`,
      );
      expect(replies[0]?.attrs).toMatchObject({ type: "result", id: "r2" });
      expect(
        replies.some((r) => r.name === "presence" && r.attrs.type === "subscribe" && r.attrs.to === ALICE),
      ).toBe(true);
      expect(replies.find((r) => r.name === "message")?.getChildText("body")).toMatch(/Tox ID/);
      expect(core.accounts.has(ALICE)).toBe(true);
      expect(core.commands.map((c) => c.text)).toEqual(["create", "name Alice"]);

      const [again] = await handle(
        `<iq type="get" id="r3" from="${ALICE_FULL}" to="${GW}"><query xmlns="${NS.register}"/></iq>`,
      );
      expect(again?.getChild("query")?.getChild("registered")).toBeDefined();

      const [conflict] = await handle(
        `<iq type="set" id="r4" from="${ALICE_FULL}" to="${GW}"><query xmlns="${NS.register}"/></iq>`,
      );
      expect(errorCondition(conflict)).toBe("conflict");
    });

    it("refuses a malformed secret key, and hands a valid one to the core's import as a profile", async () => {
      const secret = toHex(newKeyPair().secretKey);
      const [bad] = await handle(
        `<iq type="set" id="i1" from="${ALICE_FULL}" to="${GW}"><query xmlns="${NS.register}">` +
          `<x xmlns="${NS.data}" type="submit"><field var="action"><value>import</value></field>` +
          `<field var="secret"><value>xyz</value></field></x></query></iq>`,
      );
      expect(errorCondition(bad)).toBe("bad-request");
      const [later] = await handle(
        `<iq type="set" id="i2" from="${ALICE_FULL}" to="${GW}"><query xmlns="${NS.register}">` +
          `<x xmlns="${NS.data}" type="submit"><field var="action"><value>import</value></field>` +
          `<field var="secret"><value>${secret}</value></field></x></query></iq>`,
      );
      // The fake core's `import` refuses: its text comes back as not-acceptable, nothing changes.
      expect(errorCondition(later)).toBe("not-acceptable");
      expect(core.commands.at(-1)?.text).toBe("import");
      expect(core.accounts.has(ALICE)).toBe(false);
    });

    it("unregisters with <remove/>", async () => {
      core.createAccount(ALICE);
      const replies = await handle(
        `<iq type="set" id="u1" from="${ALICE_FULL}" to="${GW}"><query xmlns="${NS.register}"><remove/></query></iq>`,
      );
      expect(replies[0]?.attrs.type).toBe("result");
      expect(core.accounts.has(ALICE)).toBe(false);
    });
  });

  describe("jabber:iq:gateway (XEP-0100)", () => {
    it("prompts for a Tox ID and answers the contact JID", async () => {
      const [prompt] = await handle(
        `<iq type="get" id="g1" from="${ALICE_FULL}" to="${GW}"><query xmlns="${NS.gateway}"/></iq>`,
      );
      expect(prompt?.getChild("query")?.getChildText("prompt")).toBe("Tox ID");
      const { pk, toxId } = newFriendKey();
      const [answer] = await handle(
        `<iq type="set" id="g2" from="${ALICE_FULL}" to="${GW}"><query xmlns="${NS.gateway}"><prompt>tox:${toxId}</prompt></query></iq>`,
      );
      expect(answer?.getChild("query")?.getChildText("jid")).toBe(`${pk}@${GW}`);
    });

    it("refuses a Tox ID with a bad checksum", async () => {
      const { toxId } = newFriendKey();
      const last = toxId.at(-1) === "0" ? "1" : "0";
      const [r] = await handle(
        `<iq type="set" id="g3" from="${ALICE_FULL}" to="${GW}"><query xmlns="${NS.gateway}"><prompt>${toxId.slice(0, -1)}${last}</prompt></query></iq>`,
      );
      expect(errorCondition(r)).toBe("not-acceptable");
      expect(r?.getChild("error")?.getChildText("text")).toMatch(/checksum/);
    });
  });

  describe("ad-hoc commands (XEP-0050)", () => {
    it("offers exactly the core's shared command set", () => {
      expect(COMMANDS.map((c) => c.node)).toEqual(CORE_COMMANDS.map((c) => c.name));
    });

    it("asks for confirmation before logout", async () => {
      core.createAccount(ALICE);
      const [form] = await handle(
        `<iq type="set" id="l1" from="${ALICE_FULL}" to="${GW}"><command xmlns="${NS.commands}" node="logout"/></iq>`,
      );
      expect(form?.getChild("command")?.getChild("x")?.getChild("field")?.attrs.type).toBe("boolean");
      const [done] = await handle(
        `<iq type="set" id="l2" from="${ALICE_FULL}" to="${GW}"><command xmlns="${NS.commands}" node="logout" action="complete">` +
          `<x xmlns="${NS.data}" type="submit"><field var="confirm"><value>1</value></field></x></command></iq>`,
      );
      expect(done?.getChild("command")?.attrs.status).toBe("completed");
      expect(core.commands.at(-1)?.text).toBe("logout confirm");
      expect(core.accounts.has(ALICE)).toBe(false);
    });

    it("runs a command without arguments at once", async () => {
      core.createAccount(ALICE);
      const [r] = await handle(
        `<iq type="set" id="a1" from="${ALICE_FULL}" to="${GW}"><command xmlns="${NS.commands}" node="id" action="execute"/></iq>`,
      );
      const cmd = r?.getChild("command");
      expect(cmd?.attrs).toMatchObject({ node: "id", status: "completed" });
      expect(cmd?.getChildText("note")).toMatch(/^tox:[0-9A-F]{76}$/);
    });

    it("shows a form for a command with arguments, then runs the submitted form", async () => {
      const a = core.createAccount(ALICE);
      const { pk } = newFriendKey();
      a.friends.set(pk, friendView(pk, "pending_in", { name: "Bob" }));
      const [step1] = await handle(
        `<iq type="set" id="a2" from="${ALICE_FULL}" to="${GW}"><command xmlns="${NS.commands}" node="accept" action="execute"/></iq>`,
      );
      const cmd = step1?.getChild("command");
      expect(cmd?.attrs.status).toBe("executing");
      const sessionId = cmd?.attrs.sessionid;
      const field = cmd?.getChild("x")?.getChildren("field")[0];
      expect(field?.attrs).toMatchObject({ var: "friend", type: "list-single" });
      expect(field?.getChild("option")?.getChildText("value")).toBe(pk);
      const [step2] = await handle(
        `<iq type="set" id="a3" from="${ALICE_FULL}" to="${GW}"><command xmlns="${NS.commands}" node="accept" sessionid="${sessionId}" action="complete">` +
          `<x xmlns="${NS.data}" type="submit"><field var="friend"><value>${pk}</value></field></x></command></iq>`,
      );
      expect(step2?.getChild("command")?.attrs).toMatchObject({ status: "completed", sessionid: sessionId });
      expect(a.friends.get(pk)?.state).toBe("accepted");
      expect(core.commands.at(-1)?.text).toBe(`accept ${pk}`);
    });

    it("cancels, and refuses unknown nodes and missing values", async () => {
      const [c] = await handle(
        `<iq type="set" id="a4" from="${ALICE_FULL}" to="${GW}"><command xmlns="${NS.commands}" node="add" sessionid="s" action="cancel"/></iq>`,
      );
      expect(c?.getChild("command")?.attrs.status).toBe("canceled");
      const [unknown] = await handle(
        `<iq type="set" id="a5" from="${ALICE_FULL}" to="${GW}"><command xmlns="${NS.commands}" node="rm -rf"/></iq>`,
      );
      expect(errorCondition(unknown)).toBe("item-not-found");
      const [missing] = await handle(
        `<iq type="set" id="a6" from="${ALICE_FULL}" to="${GW}"><command xmlns="${NS.commands}" node="add" action="complete">` +
          `<x xmlns="${NS.data}" type="submit"><field var="message"><value>hi</value></field></x></command></iq>`,
      );
      expect(errorCondition(missing)).toBe("bad-request");
    });
  });

  describe("chat commands", () => {
    it("runs a chat message to the gateway as a command and replies from the gateway", async () => {
      const [r] = await handle(
        `<message type="chat" id="m1" from="${ALICE_FULL}" to="${GW}"><body>help</body></message>`,
      );
      expect(r?.attrs).toMatchObject({ from: GW, to: ALICE, type: "chat" });
      expect(r?.getChildText("body")).toMatch(/Commands/);
      expect(core.commands).toEqual([{ owner: ALICE, text: "help", permission: "user" }]);
    });

    it("passes the admin level from the config", async () => {
      await handle(`<message type="chat" from="admin@localhost/x" to="${GW}"><body>friends</body></message>`);
      expect(core.commands[0]?.permission).toBe("admin");
    });
  });

  describe("messages to contacts", () => {
    let pk: string;
    beforeEach(() => {
      const a = core.createAccount(ALICE);
      pk = newFriendKey().pk;
      a.friends.set(pk, friendView(pk, "accepted"));
    });

    it("queues a chat message with its stanza id, /me as an action", async () => {
      expect(
        await handle(
          `<message type="chat" id="x1" from="${ALICE_FULL}" to="${pk}@${GW}"><body>hello</body></message>`,
        ),
      ).toEqual([]);
      await handle(
        `<message type="chat" id="x2" from="${ALICE_FULL}" to="${pk}@${GW}"><body>/me waves</body></message>`,
      );
      expect(core.sent).toEqual([
        {
          owner: { kind: "xmpp", id: ALICE },
          friend: pk,
          text: "hello",
          kind: "normal",
          sourceEventId: "x1",
        },
        {
          owner: { kind: "xmpp", id: ALICE },
          friend: pk,
          text: "waves",
          kind: "action",
          sourceEventId: "x2",
        },
      ]);
    });

    it("maps chat states to typing", async () => {
      await handle(
        `<message type="chat" from="${ALICE_FULL}" to="${pk}@${GW}"><composing xmlns="${NS.chatStates}"/></message>`,
      );
      await handle(
        `<message type="chat" from="${ALICE_FULL}" to="${pk}@${GW}"><paused xmlns="${NS.chatStates}"/></message>`,
      );
      expect(core.typing.map((t) => t.typing)).toEqual([true, false]);
      expect(core.sent).toEqual([]);
    });

    it("degrades corrections and retractions to text", async () => {
      await handle(
        `<message type="chat" id="x3" from="${ALICE_FULL}" to="${pk}@${GW}"><body>fixed</body><replace xmlns="${NS.correct}" id="x1"/></message>`,
      );
      await handle(
        `<message type="chat" id="x4" from="${ALICE_FULL}" to="${pk}@${GW}"><body>This person retracted</body><retract xmlns="${NS.retract1}" id="x1"/></message>`,
      );
      expect(core.sent.map((s) => s.text)).toEqual(["Correction: fixed", "(retracted an earlier message)"]);
    });

    it("answers a message to an unknown friend with item-not-found", async () => {
      const other = newFriendKey().pk;
      const [r] = await handle(
        `<message type="chat" id="x5" from="${ALICE_FULL}" to="${other}@${GW}"><body>hi</body></message>`,
      );
      expect(r?.attrs).toMatchObject({ type: "error", id: "x5", from: `${other}@${GW}`, to: ALICE_FULL });
      expect(errorCondition(r)).toBe("item-not-found");
    });

    it("answers a message from a user without an account with registration-required", async () => {
      const [r] = await handle(
        `<message type="chat" id="x6" from="carol@localhost/x" to="${pk}@${GW}"><body>hi</body></message>`,
      );
      expect(errorCondition(r)).toBe("registration-required");
    });
  });

  describe("presence", () => {
    it("subscribing to a friend with a pending request accepts it", async () => {
      const a = core.createAccount(ALICE);
      const { pk } = newFriendKey();
      a.friends.set(pk, friendView(pk, "pending_in"));
      const replies = await handle(`<presence type="subscribe" from="${ALICE}" to="${pk}@${GW}"/>`);
      expect(a.friends.get(pk)?.state).toBe("accepted");
      expect(replies.map((r) => r.attrs.type)).toEqual(["subscribed", "unavailable", "subscribe"]);
    });

    it("subscribing after a XEP-0100 lookup sends a Tox friend request with the status as message", async () => {
      const a = core.createAccount(ALICE);
      const { pk, toxId } = newFriendKey();
      await handle(
        `<iq type="set" id="g" from="${ALICE_FULL}" to="${GW}"><query xmlns="${NS.gateway}"><prompt>${toxId}</prompt></query></iq>`,
      );
      const replies = await handle(
        `<presence type="subscribe" from="${ALICE}" to="${pk}@${GW}"><status>hi, it's Alice</status></presence>`,
      );
      expect(replies).toEqual([]);
      expect(core.commands.at(-1)?.text).toBe(`add ${toxId} hi, it's Alice`);
      expect(a.friends.get(pk)?.state).toBe("pending_out");
    });

    it("subscribing without a known Tox ID explains how to add the friend", async () => {
      core.createAccount(ALICE);
      const { pk } = newFriendKey();
      const replies = await handle(`<presence type="subscribe" from="${ALICE}" to="${pk}@${GW}"/>`);
      expect(replies[0]?.attrs.type).toBe("unsubscribed");
      expect(replies[1]?.getChildText("body")).toMatch(/full Tox ID/);
    });

    it("removing the roster item removes the friend once", async () => {
      const a = core.createAccount(ALICE);
      const { pk } = newFriendKey();
      a.friends.set(pk, friendView(pk, "accepted"));
      await handle(`<presence type="unsubscribe" from="${ALICE}" to="${pk}@${GW}"/>`);
      await handle(`<presence type="unsubscribed" from="${ALICE}" to="${pk}@${GW}"/>`);
      expect(a.friends.has(pk)).toBe(false);
      expect(core.commands.map((c) => c.text)).toEqual([`remove ${pk}`]);
    });

    it("answers a probe with the friend's presence", async () => {
      const a = core.createAccount(ALICE);
      const { pk } = newFriendKey();
      a.friends.set(
        pk,
        friendView(pk, "accepted", { online: true, status: "busy", statusMessage: "coding", name: "Bob" }),
      );
      const [p] = await handle(`<presence type="probe" from="${ALICE}" to="${pk}@${GW}"/>`);
      expect(p?.attrs.type).toBeUndefined();
      expect(p?.getChildText("show")).toBe("dnd");
      expect(p?.getChildText("status")).toBe("coding");
      expect(p?.getChild("nick")?.getText()).toBe("Bob");
    });

    it("turns the user's presence to the gateway into Tox presence and status commands", async () => {
      core.createAccount(ALICE);
      await handle(
        `<presence from="${ALICE_FULL}" to="${GW}"><show>dnd</show><status>in a meeting</status></presence>`,
      );
      await handle(
        `<presence from="${ALICE_FULL}" to="${GW}"><show>dnd</show><status>in a meeting</status></presence>`,
      );
      await handle(`<presence from="${ALICE}/low" to="${GW}"><priority>-1</priority></presence>`);
      await handle(`<presence type="unavailable" from="${ALICE_FULL}" to="${GW}"/>`);
      expect(core.commands.map((c) => c.text)).toEqual(["presence busy", "status in a meeting"]);
    });

    it("accepts subscription to the gateway itself", async () => {
      const replies = await handle(`<presence type="subscribe" from="${ALICE}" to="${GW}"/>`);
      expect(replies.map((r) => r.attrs.type)).toEqual(["subscribed", undefined]);
    });
  });

  describe("hostile and malformed stanzas", () => {
    it("refuses JIDs the config does not permit, without calling the core", async () => {
      const [m] = await handle(
        `<message type="chat" id="e1" from="mallory@evil.example/x" to="${GW}"><body>create</body></message>`,
      );
      expect(errorCondition(m)).toBe("forbidden");
      const [iq] = await handle(
        `<iq type="set" id="e2" from="mallory@evil.example/x" to="${GW}"><query xmlns="${NS.register}"/></iq>`,
      );
      expect(errorCondition(iq)).toBe("forbidden");
      const [sub] = await handle(`<presence type="subscribe" from="mallory@evil.example" to="${GW}"/>`);
      expect(errorCondition(sub)).toBe("forbidden");
      expect(await handle(`<presence from="mallory@evil.example/x" to="${GW}"/>`)).toEqual([]);
      expect(core.commands).toEqual([]);
    });

    it("answers malformed stanzas with bad-request and never answers errors", async () => {
      const [twoPayloads] = await handle(
        `<iq type="get" id="b1" from="${ALICE_FULL}" to="${GW}"><query xmlns="${NS.discoInfo}"/><ping xmlns="${NS.ping}"/></iq>`,
      );
      expect(errorCondition(twoPayloads)).toBe("bad-request");
      const [badType] = await handle(
        `<iq type="bogus" id="b2" from="${ALICE_FULL}" to="${GW}"><ping xmlns="${NS.ping}"/></iq>`,
      );
      expect(errorCondition(badType)).toBe("bad-request");
      const [badMsg] = await handle(
        `<message type="weird" id="b3" from="${ALICE_FULL}" to="${GW}"><body>x</body></message>`,
      );
      expect(errorCondition(badMsg)).toBe("bad-request");
      const [badShow] = await handle(
        `<presence from="${ALICE_FULL}" to="${GW}"><show>sleeping</show></presence>`,
      );
      expect(errorCondition(badShow)).toBe("bad-request");
      expect(
        await handle(`<message type="error" from="${ALICE_FULL}" to="${GW}"><body>x</body></message>`),
      ).toEqual([]);
      expect(await handle(`<iq type="result" id="b4" from="${ALICE_FULL}" to="${GW}"/>`)).toEqual([]);
      expect(await handle(`<message to="${GW}"><body>no sender</body></message>`)).toEqual([]);
    });

    it("answers unknown namespaces with service-unavailable and bad contact JIDs with item-not-found", async () => {
      const [unknown] = await handle(
        `<iq type="get" id="s1" from="${ALICE_FULL}" to="${GW}"><query xmlns="urn:example:nope"/></iq>`,
      );
      expect(errorCondition(unknown)).toBe("service-unavailable");
      const [badContact] = await handle(
        `<message type="chat" id="s2" from="${ALICE_FULL}" to="bob@${GW}"><body>x</body></message>`,
      );
      expect(errorCondition(badContact)).toBe("item-not-found");
      const { pk, toxId } = newFriendKey();
      const [pasted] = await handle(
        `<presence type="subscribe" from="${ALICE}" to="${toxId.toLowerCase()}@${GW}"/>`,
      );
      expect(errorCondition(pasted)).toBe("item-not-found");
      expect(pasted?.getChild("error")?.getChildText("text")).toContain(`${pk}@${GW}`);
    });

    it("refuses oversized bodies", async () => {
      const [r] = await handle(
        `<message type="chat" id="o1" from="${ALICE_FULL}" to="${GW}"><body>${"a".repeat(70_000)}</body></message>`,
      );
      expect(errorCondition(r)).toBe("policy-violation");
    });

    it("turns a failing core into internal-server-error", async () => {
      core.command = async () => {
        throw new Error("database down");
      };
      const [r] = await handle(
        `<message type="chat" id="f1" from="${ALICE_FULL}" to="${GW}"><body>help</body></message>`,
      );
      expect(errorCondition(r)).toBe("internal-server-error");
      expect(r?.getChild("error")?.getChildText("text") ?? "").not.toMatch(/database/);
    });
  });
});
