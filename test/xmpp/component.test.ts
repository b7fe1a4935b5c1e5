/**
 * The gateway component against a real Prosody (Debian 0.12) on loopback, with real XMPP users
 * (@xmpp/client) and a fake core: connect, disco, registration, the XEP-0100 prompt, chat
 * commands, messages to the user's bare JID (stored offline by the server), malformed stanzas,
 * refused JIDs, and reconnecting after the server restarts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatAddress } from "../../src/tox/address.js";
import { fromHex, toHex } from "../../src/tox/bytes.js";
import { newKeyPair } from "../../src/tox/crypto.js";
import { XmppComponent } from "../../src/xmpp/component.js";
import { XmppFrontend } from "../../src/xmpp/frontend.js";
import { NS } from "../../src/xmpp/namespaces.js";
import { GatewayRouter } from "../../src/xmpp/router.js";
import { xml as stanza } from "../../src/xmpp/xml.js";
import { type Prosody, pickPorts, startProsody } from "../helpers/prosody/index.js";
import { waitUntil } from "../helpers/wait.js";
import { FakeCore, friendView } from "./fake-core.js";
import { GW, registrationForm, startXmppServer, type XmppServer } from "./harness.js";
import { type TestUser, xml } from "./user.js";

const SECRET = "component-secret";

function errorCondition(err: unknown): string | undefined {
  return (err as { condition?: string }).condition;
}

describe("XMPP gateway component on a real Prosody", () => {
  let server: XmppServer;
  let core: FakeCore;
  let component: XmppComponent;
  let alice: TestUser;
  let mallory: TestUser;

  beforeAll(async () => {
    server = await startXmppServer({ secret: SECRET, users: ["alice", "mallory"] });
    core = new FakeCore();
    const router = new GatewayRouter({
      domain: GW,
      core,
      permissions: () => ({ "alice@localhost": "user" }),
    });
    component = new XmppComponent({
      service: server.prosody.componentService,
      domain: GW,
      secret: SECRET,
      router,
    });
    core.registerFrontend(new XmppFrontend(GW, component));
    await component.start();
    [alice, mallory] = await Promise.all([server.connect("alice"), server.connect("mallory")]);
  });

  afterAll(async () => {
    await Promise.all([alice?.stop(), mallory?.stop()]);
    await component?.stop();
    await server?.stop();
  });

  it("connects and authenticates as the component", () => {
    expect(component.status).toBe("online");
    expect(component.stats.connections).toBe(1);
  });

  it("answers disco#info with the gateway identity, through the server", async () => {
    const query = await alice.xmpp.iqCaller.get(xml("query", { xmlns: NS.discoInfo }), GW);
    expect(query.getChild("identity")?.attrs).toMatchObject({ category: "gateway", type: "tox" });
    expect(query.getChildren("feature").map((f) => f.attrs.var)).toContain(NS.register);
  });

  it("registers alice through the XEP-0077 form", async () => {
    const form = await alice.xmpp.iqCaller.get(xml("query", { xmlns: NS.register }), GW);
    expect(
      form
        .getChild("x", NS.data)
        ?.getChildren("field")
        .map((f) => f.attrs.var),
    ).toEqual(expect.arrayContaining(["action", "name"]));
    await alice.xmpp.iqCaller.set(registrationForm({ FORM_TYPE: NS.register, action: "create" }), GW);
    expect(core.accounts.has("alice@localhost")).toBe(true);
    // The gateway asks for alice's presence (XEP-0100) and tells her the Tox ID.
    await alice.waitFor(
      (el) => el.name === "presence" && el.attrs.type === "subscribe" && el.attrs.from === GW,
      "subscribe",
    );
    const msg = await alice.waitFor(
      (el) => el.name === "message" && el.attrs.from === GW,
      "registration reply",
    );
    expect(msg.getChildText("body")).toMatch(/[0-9A-F]{76}/);
  });

  it("resolves a Tox ID through the jabber:iq:gateway prompt and refuses a bad checksum", async () => {
    const prompt = await alice.xmpp.iqCaller.get(xml("query", { xmlns: NS.gateway }), GW);
    expect(prompt.getChildText("prompt")).toBe("Tox ID");
    const kp = newKeyPair();
    const toxId = formatAddress({ publicKey: kp.publicKey, nospam: fromHex("01020304") });
    const answer = await alice.xmpp.iqCaller.set(
      xml("query", { xmlns: NS.gateway }, xml("prompt", {}, toxId)),
      GW,
    );
    expect(answer.getChildText("jid")).toBe(`${toHex(kp.publicKey)}@${GW}`);
    const broken = toxId.slice(0, -2) + (toxId.endsWith("00") ? "11" : "00");
    const err = await alice.xmpp.iqCaller
      .set(xml("query", { xmlns: NS.gateway }, xml("prompt", {}, broken)), GW)
      .catch((e: unknown) => e);
    expect(errorCondition(err)).toBe("not-acceptable");
  });

  it("answers a chat command with a chat message from the gateway", async () => {
    await alice.xmpp.send(xml("message", { to: GW, type: "chat", id: "cmd-1" }, xml("body", {}, "id")));
    const reply = await alice.waitFor(
      (el) => el.name === "message" && el.attrs.from === GW && /^tox:/.test(el.getChildText("body") ?? ""),
      "id reply",
    );
    expect(reply.attrs.to).toBe("alice@localhost");
  });

  it("answers malformed stanzas with errors and stays up", async () => {
    const twoPayloads = await alice.xmpp.iqCaller
      .request(
        xml(
          "iq",
          { type: "get", to: GW },
          xml("query", { xmlns: NS.discoInfo }),
          xml("ping", { xmlns: NS.ping }),
        ),
        5000,
      )
      .catch((e: unknown) => e);
    expect(errorCondition(twoPayloads)).toBe("bad-request");
    const badContact = await alice.xmpp.iqCaller
      .get(xml("query", { xmlns: NS.discoInfo }), `not-a-key@${GW}`, 5000)
      .catch((e: unknown) => e);
    expect(errorCondition(badContact)).toBe("item-not-found");
    const unknownNs = await alice.xmpp.iqCaller
      .get(xml("query", { xmlns: "urn:example:nothing" }), GW, 5000)
      .catch((e: unknown) => e);
    expect(errorCondition(unknownNs)).toBe("service-unavailable");
    await alice.xmpp.send(
      xml(
        "message",
        { to: `${"ab".repeat(32)}@${GW}`, type: "chat", id: "no-friend" },
        xml("body", {}, "hi"),
      ),
    );
    const bounced = await alice.waitFor(
      (el) => el.name === "message" && el.attrs.id === "no-friend",
      "error",
    );
    expect(bounced.attrs.type).toBe("error");
    expect(bounced.getChild("error")?.getChild("item-not-found", NS.stanzas)).toBeDefined();
    // Still connected and answering.
    expect(component.status).toBe("online");
    expect(component.stats.errorReplies).toBeGreaterThanOrEqual(4);
    await alice.xmpp.iqCaller.get(xml("ping", { xmlns: NS.ping }), GW, 5000);
  });

  it("refuses a JID the config does not permit", async () => {
    const reg = await mallory.xmpp.iqCaller
      .get(xml("query", { xmlns: NS.register }), GW, 5000)
      .catch((e: unknown) => e);
    expect(errorCondition(reg)).toBe("forbidden");
    await mallory.xmpp.send(xml("message", { to: GW, type: "chat", id: "m-1" }, xml("body", {}, "create")));
    const refused = await mallory.waitFor((el) => el.name === "message" && el.attrs.id === "m-1", "error");
    expect(refused.getChild("error")?.getChild("forbidden", NS.stanzas)).toBeDefined();
    expect(core.accounts.has("mallory@localhost")).toBe(false);
  });

  it("turns messages to a contact into core sends, and chat states into typing", async () => {
    const account = core.accounts.get("alice@localhost");
    if (!account) throw new Error("alice is not registered");
    const pk = toHex(newKeyPair().publicKey);
    account.friends.set(pk, friendView(pk, "accepted", { online: true }));
    await alice.xmpp.send(
      xml(
        "message",
        { to: `${pk}@${GW}`, type: "chat", id: "to-tox-1" },
        xml("body", {}, "hello Tox"),
        xml("request", { xmlns: NS.receipts }),
      ),
    );
    await alice.xmpp.send(
      xml("message", { to: `${pk}@${GW}`, type: "chat" }, xml("composing", { xmlns: NS.chatStates })),
    );
    await waitUntil(() => core.sent.length > 0 && core.typing.length > 0, 5000, "the message and typing", 20);
    expect(core.sent.at(-1)).toMatchObject({ friend: pk, text: "hello Tox", sourceEventId: "to-tox-1" });
    expect(core.typing.at(-1)).toMatchObject({ friend: pk, typing: true });

    // The Tox read receipt comes back as a XEP-0184 receipt for alice's message id.
    await core.frontend?.readReceipt(account.ref, pk, "to-tox-1");
    const receipt = await alice.waitFor(
      (el) => el.getChild("received", NS.receipts) !== undefined,
      "receipt",
    );
    expect(receipt.attrs.from).toBe(`${pk}@${GW}`);
    expect(receipt.getChild("received", NS.receipts)?.attrs.id).toBe("to-tox-1");
  });

  it("keeps one sender's messages in order even when the core is slow", async () => {
    const account = core.accounts.get("alice@localhost");
    if (!account) throw new Error("alice is not registered");
    const pk = toHex(newKeyPair().publicKey);
    account.friends.set(pk, friendView(pk, "accepted"));
    core.sendDelay = () => Math.floor(Math.random() * 15);
    try {
      const texts = Array.from({ length: 20 }, (_, n) => `message ${n}`);
      for (const [n, text] of texts.entries())
        await alice.xmpp.send(
          xml("message", { to: `${pk}@${GW}`, type: "chat", id: `order-${n}` }, xml("body", {}, text)),
        );
      const sentToPk = () => core.sent.filter((s) => s.friend === pk).map((s) => s.text);
      await waitUntil(() => sentToPk().length >= texts.length, 5000, "all 20 messages", 20);
      expect(sentToPk()).toEqual(texts);
    } finally {
      core.sendDelay = () => 0;
    }
  });

  it("delivers Tox messages to the bare JID; the server stores them while the user is offline", async () => {
    const account = core.accounts.get("alice@localhost");
    if (!account) throw new Error("alice is not registered");
    const pk = toHex(newKeyPair().publicKey);
    account.friends.set(pk, friendView(pk, "accepted"));
    await core.frontend?.deliverMessage(account.ref, {
      friend: pk,
      kind: "normal",
      text: "while you were online",
      receivedAt: new Date(),
      id: 1,
    });
    // deliverMessage resolved only after Prosody answered the barrier ping behind the message.
    expect(component.stats.sent).toBeGreaterThan(0);
    const live = await alice.waitFor((el) => el.attrs.id === "tox-in-1", "live message");
    expect(live.attrs).toMatchObject({ from: `${pk}@${GW}`, type: "chat" });

    await alice.stop();
    await core.frontend?.deliverMessage(account.ref, {
      friend: pk,
      kind: "action",
      text: "waves while you were away",
      receivedAt: new Date(),
      id: 2,
    });
    alice = await server.connect("alice", { resource: "laptop" });
    const stored = await alice.waitFor((el) => el.attrs.id === "tox-in-2", "offline message");
    expect(stored.getChildText("body")).toBe("/me waves while you were away");
  });
});

describe("XMPP gateway component reconnects", () => {
  it("retries until the server is up, and reconnects after it restarts", async () => {
    const [c2s, componentPort, http] = (await pickPorts(3)) as [number, number, number];
    const ports = { c2s, component: componentPort, http };
    const core = new FakeCore();
    const router = new GatewayRouter({ domain: GW, core, permissions: () => ({}) });
    const states: string[] = [];
    const component = new XmppComponent({
      service: `xmpp://127.0.0.1:${componentPort}`,
      domain: GW,
      secret: SECRET,
      router,
      initialRetryMs: 100,
      maxRetryMs: 400,
      onOnline: () => states.push("online"),
    });
    let prosody: Prosody | undefined;
    try {
      const online = component.start();
      await new Promise((r) => setTimeout(r, 300)); // a few refused attempts first
      expect(component.status).not.toBe("online");
      prosody = await startProsody({ components: [{ domain: GW, secret: SECRET }], ports });
      await online;
      expect(states).toEqual(["online"]);

      await prosody.stop();
      prosody = await startProsody({ components: [{ domain: GW, secret: SECRET }], ports });
      await waitUntil(() => states.length >= 2, 10_000, "online again", 50);
      expect(states).toEqual(["online", "online"]);
      expect(component.status).toBe("online");
    } finally {
      await component.stop();
      await prosody?.stop();
    }
  });

  it("keeps retrying with a wrong secret without going online, and stops cleanly while waiting", async () => {
    const prosody = await startProsody({ components: [{ domain: GW, secret: SECRET }] });
    const warnings: string[] = [];
    const log = {
      debug() {},
      info() {},
      warn(_o: Record<string, unknown>, msg: string) {
        warnings.push(msg);
      },
      error(_o: Record<string, unknown>, msg: string) {
        warnings.push(msg);
      },
    };
    const component = new XmppComponent({
      service: prosody.componentService,
      domain: GW,
      secret: "not the secret",
      router: new GatewayRouter({ domain: GW, core: new FakeCore(), permissions: () => ({}) }),
      log,
      initialRetryMs: 50,
      maxRetryMs: 100,
    });
    try {
      const started = component.start();
      await waitUntil(
        () => warnings.filter((w) => w.includes("disconnected")).length >= 2,
        5000,
        "two refused attempts",
        20,
      );
      expect(component.status).not.toBe("online");
      expect(warnings.some((w) => /handshake|error/.test(w))).toBe(true);
      expect(warnings.filter((w) => w.includes("disconnected")).length).toBeGreaterThanOrEqual(2);
      await component.stop();
      await expect(started).rejects.toThrow(/stopped/);
    } finally {
      await component.stop();
      await prosody.stop();
    }
    expect(component.status).toBe("stopped");
    await expect(component.sendConfirmed(stanza("message", { to: "alice@localhost" }))).rejects.toThrow(
      /not connected/,
    );
  });
});
