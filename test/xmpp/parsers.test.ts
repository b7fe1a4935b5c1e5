/**
 * Pure stanza parsers and builders: JIDs, messages, presence, data forms, registration, ad-hoc
 * requests, the XEP-0100 prompt. fast-check properties: parsers never throw on arbitrary
 * elements, and the router answers any stanza without rejecting.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatAddress } from "../../src/tox/address.js";
import { toHex } from "../../src/tox/bytes.js";
import { newKeyPair } from "../../src/tox/crypto.js";
import { commandSpec, commandText, parseAdhoc } from "../../src/xmpp/adhoc.js";
import { StanzaError } from "../../src/xmpp/errors.js";
import { buildForm, readSubmittedForm } from "../../src/xmpp/forms.js";
import { resolvePrompt } from "../../src/xmpp/gateway-iq.js";
import { bareJid, contactJid, formatJid, parseJid, publicKeyOfJid } from "../../src/xmpp/jid.js";
import { chatMessage, parseMessage, toxTextOf } from "../../src/xmpp/message.js";
import { NS } from "../../src/xmpp/namespaces.js";
import { friendPresence, parsePresence, presenceWordOf, showOf } from "../../src/xmpp/presence.js";
import { parseRegistration } from "../../src/xmpp/registration.js";
import { GatewayRouter } from "../../src/xmpp/router.js";
import { type XmlElement, xml } from "../../src/xmpp/xml.js";
import { FakeCore, friendView } from "./fake-core.js";
import { parseXml } from "./parse-xml.js";

/** Arbitrary XML trees over names and namespaces the gateway cares about, plus junk. */
const names = fc.constantFrom(
  "body",
  "query",
  "x",
  "field",
  "value",
  "command",
  "prompt",
  "show",
  "status",
  "composing",
  "replace",
  "retract",
  "apply-to",
  "remove",
  "password",
  "nick",
  "request",
  "item",
  "junk",
);
const namespaces = fc.constantFrom(undefined, ...Object.values(NS), "urn:example:junk");
const text = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.constantFrom("submit", "form", "create", "import", "1", "execute"),
);
const attrs = fc.record(
  {
    xmlns: namespaces,
    type: fc.option(text, { nil: undefined }),
    var: fc.option(fc.constantFrom("action", "secret", "name", "FORM_TYPE", "friend", "toxid", "x"), {
      nil: undefined,
    }),
    node: fc.option(fc.constantFrom("add", "help", "id", "logout", NS.commands, "bogus"), { nil: undefined }),
    action: fc.option(fc.constantFrom("execute", "complete", "cancel", "next", "bogus"), { nil: undefined }),
    id: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
  },
  { requiredKeys: [] },
);
const { tree } = fc.letrec((tie) => ({
  tree: fc
    .tuple(names, attrs, fc.array(fc.oneof({ depthSize: "small" }, text, tie("tree")), { maxLength: 4 }))
    .map(([name, a, children]) => xml(name, a, ...(children as (XmlElement | string)[]))),
}));

const stanzaNames = fc.constantFrom("iq", "message", "presence", "nonsense");
const jids = fc.constantFrom(
  "alice@localhost/res",
  "alice@localhost",
  "mallory@evil.example/x",
  "localhost",
  "",
  "@@",
  "tox.localhost",
  `${"ab".repeat(32)}@tox.localhost`,
  "bob@tox.localhost",
  `${"ab".repeat(32)}@tox.localhost/r`,
);
const stanza = fc
  .tuple(
    stanzaNames,
    fc.record({
      type: fc.option(
        fc.constantFrom(
          "get",
          "set",
          "result",
          "error",
          "chat",
          "normal",
          "groupchat",
          "subscribe",
          "unsubscribed",
          "probe",
          "available",
          "weird",
        ),
        { nil: undefined },
      ),
      from: fc.option(jids, { nil: undefined }),
      to: fc.option(jids, { nil: undefined }),
      id: fc.option(fc.string({ maxLength: 8 }), { nil: undefined }),
    }),
    fc.array(tree, { maxLength: 3 }),
  )
  .map(([name, a, children]) => xml(name, a, ...children));

describe("parsers never throw", () => {
  it("on arbitrary elements", () => {
    fc.assert(
      fc.property(tree, (el) => {
        parseMessage(el);
        parsePresence(el);
        readSubmittedForm(el);
        parseRegistration(el);
        parseAdhoc(el);
        const m = parseMessage(el);
        if (m) toxTextOf(m);
        try {
          resolvePrompt(el, "tox.localhost");
        } catch (err) {
          expect(err).toBeInstanceOf(StanzaError);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("parseJid on arbitrary strings, and round-trips what it accepts", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (s) => {
        const j = parseJid(s);
        if (j) expect(parseJid(formatJid(j))).toEqual(j);
      }),
      { numRuns: 1000 },
    );
    // Strings built from JID punctuation find the edge cases faster than arbitrary text.
    const jidish = fc.string({ unit: fc.constantFrom("a", "B", ".", "@", "/", "é", " "), maxLength: 12 });
    fc.assert(
      fc.property(jidish, (s) => {
        const j = parseJid(s);
        if (j) expect(parseJid(formatJid(j))).toEqual(j);
      }),
      { numRuns: 5000 },
    );
  });

  it("the router answers any stanza without rejecting, and never answers an error", async () => {
    const core = new FakeCore();
    const account = core.createAccount("alice@localhost");
    const pk = "ab".repeat(32);
    account.friends.set(pk, friendView(pk, "accepted"));
    const router = new GatewayRouter({
      domain: "tox.localhost",
      core,
      permissions: () => ({ localhost: "user" }),
    });
    await fc.assert(
      fc.asyncProperty(stanza, async (s) => {
        const replies = await router.handle(s);
        if (s.attrs.type === "error") expect(replies).toEqual([]);
        for (const r of replies) expect(["iq", "message", "presence"]).toContain(r.name);
      }),
      { numRuns: 400 },
    );
  });
});

describe("permissions", () => {
  it("a sender the config does not permit never reaches the core", async () => {
    const core = new FakeCore();
    const pk = "ab".repeat(32);
    // Even when an account exists for that JID (e.g. permissions were narrowed later).
    core.createAccount("mallory@evil.example").friends.set(pk, friendView(pk, "accepted"));
    const router = new GatewayRouter({
      domain: "tox.localhost",
      core,
      permissions: () => ({ localhost: "user" }),
    });
    const fromMallory = fc
      .tuple(stanza, fc.constantFrom("mallory@evil.example/x", "mallory@evil.example", "evil.example"))
      .map(([s, from]) => {
        s.attrs.from = from;
        return s;
      });
    let calls = 0;
    for (const name of ["send", "setTyping", "command", "friends", "friend", "account"] as const) {
      const original = core[name].bind(core) as (...args: unknown[]) => Promise<unknown>;
      (core as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
        calls++;
        return original(...args);
      };
    }
    await fc.assert(
      fc.asyncProperty(fromMallory, async (s) => {
        await router.handle(s);
      }),
      { numRuns: 400 },
    );
    expect(calls).toBe(0);
  });
});

describe("jid", () => {
  it("splits and normalises", () => {
    expect(parseJid("Alice@LocalHost/Phone")).toEqual({
      local: "alice",
      domain: "localhost",
      resource: "Phone",
    });
    expect(parseJid("localhost")).toEqual({ local: "", domain: "localhost", resource: "" });
    for (const bad of ["", "@x", "a@", "a@b/", "a b@c", "a@b@c", "a@b..", "a@.b", "a@b..c", undefined])
      expect(parseJid(bad)).toBeNull();
    expect(parseJid("a@b.")?.domain).toBe("b");
    expect(bareJid({ local: "a", domain: "b", resource: "c" })).toBe("a@b");
  });

  it("maps public keys to contact JIDs and back", () => {
    const pk = toHex(newKeyPair().publicKey);
    const jid = contactJid(pk.toUpperCase(), "tox.localhost");
    expect(jid).toBe(`${pk}@tox.localhost`);
    const parsed = parseJid(jid);
    expect(parsed && publicKeyOfJid(parsed, "tox.localhost")).toBe(pk);
    expect(parsed && publicKeyOfJid(parsed, "other.localhost")).toBeNull();
    expect(
      publicKeyOfJid({ local: "bob", domain: "tox.localhost", resource: "" }, "tox.localhost"),
    ).toBeNull();
  });
});

describe("messages", () => {
  it("reads body, chat state, receipt request, correction, v0 retraction and nick", () => {
    const m = parseMessage(
      parseXml(
        `<message type="chat" id="1"><body>hi</body><composing xmlns="${NS.chatStates}"/><request xmlns="${NS.receipts}"/>` +
          `<replace xmlns="${NS.correct}" id="0"/><nick xmlns="${NS.nick}">Al</nick></message>`,
      ),
    );
    expect(m).toMatchObject({
      type: "chat",
      id: "1",
      body: "hi",
      chatState: "composing",
      receiptRequested: true,
      replaces: "0",
      nick: "Al",
    });
    const r = parseMessage(
      parseXml(
        `<message><apply-to xmlns="${NS.fasten}" id="9"><retract xmlns="${NS.retract0}"/></apply-to></message>`,
      ),
    );
    expect(r?.retracts).toBe("9");
    expect(r && toxTextOf(r)?.text).toMatch(/retracted/);
  });

  it("builds chat messages with /me for actions and a store hint", () => {
    const el = chatMessage({ from: "a@gw", to: "u@h", id: "x", text: "waves", kind: "action" });
    expect(el.getChildText("body")).toBe("/me waves");
    expect(el.getChildElements().some((c) => c.name === "store" && c.attrs.xmlns === NS.hints)).toBe(true);
  });
});

describe("presence", () => {
  it("maps Tox status to show and back", () => {
    expect(showOf("none")).toBeUndefined();
    expect(showOf("busy")).toBe("dnd");
    expect(presenceWordOf("xa")).toBe("away");
    expect(presenceWordOf(undefined)).toBe("online");
    const p = friendPresence("f@gw", "u@h", friendView("f", "accepted", { online: false, name: "Bob" }));
    expect(p.attrs.type).toBe("unavailable");
    expect(p.getChild("nick")?.getText()).toBe("Bob");
  });

  it("refuses unknown types and shows", () => {
    expect(parsePresence(parseXml(`<presence type="bogus"/>`))).toBeNull();
    expect(parsePresence(parseXml(`<presence><show>party</show></presence>`))).toBeNull();
    expect(parsePresence(parseXml(`<presence><show>dnd</show><status>x</status></presence>`))).toMatchObject({
      type: "available",
      show: "dnd",
      status: "x",
    });
  });
});

describe("forms, registration, ad-hoc, prompt", () => {
  it("reads back a submitted form", () => {
    const form = buildForm({ type: "form", fields: [{ var: "a", type: "text-multi", value: "x\ny" }] });
    form.attrs.type = "submit";
    const values = readSubmittedForm(xml("query", {}, form));
    expect(values?.get("a")).toEqual(["x", "y"]);
    expect(
      readSubmittedForm(
        parseXml(`<q><x xmlns="${NS.data}" type="submit"><field var="a"/><field var="a"/></x></q>`),
      ),
    ).toBeNull();
  });

  it("parses legacy registration fields", () => {
    expect(
      parseRegistration(parseXml(`<query xmlns="${NS.register}"><username>x</username></query>`)),
    ).toEqual({
      ok: true,
      value: { action: "create" },
    });
    expect(
      parseRegistration(parseXml(`<query xmlns="${NS.register}"><password>short</password></query>`)).ok,
    ).toBe(false);
  });

  it("builds command text from a form, single-line", () => {
    const spec = commandSpec("add");
    if (!spec) throw new Error("no add");
    const values = new Map([
      ["toxid", ["ABC"]],
      ["message", ["hi\nthere"]],
    ]);
    expect(commandText(spec, values)).toEqual({ text: "add ABC hi there" });
    expect(commandText(spec, new Map())).toEqual({ missing: "Tox ID" });
  });

  it("resolves a tox: URI with spaces to the contact JID", () => {
    const kp = newKeyPair();
    const id = formatAddress({ publicKey: kp.publicKey, nospam: new Uint8Array(4) });
    const spaced = `tox:${id.slice(0, 30)} ${id.slice(30)}`;
    const r = resolvePrompt(xml("query", { xmlns: NS.gateway }, xml("prompt", {}, spaced)), "tox.localhost");
    expect(r.jid).toBe(`${toHex(kp.publicKey)}@tox.localhost`);
  });
});
