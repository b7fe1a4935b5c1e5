/**
 * End to end with a real XMPP server and a real c-toxcore 0.2.18 peer: alice (on @xmpp/client,
 * through Prosody) registers with the gateway, looks up Carol's Tox ID through the XEP-0100 prompt,
 * subscribes to her contact JID (a Tox friend request), and they chat both ways with receipts
 * and typing. Our identity runs in a real ToxNode and reaches the C peer directly over loopback UDP
 * (no DHT/onion: the C side adds us without a request). Ports: Prosody 35200-35299, our node
 * 35300-35339, C 35340-35399.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BridgeCore } from "../../src/core/bridge-core.js";
import { ipPort, type ToxNode } from "../../src/tox/index.js";
import { NS } from "../../src/xmpp/namespaces.js";
import { TestDb } from "../core/helpers.js";
import { waitUntil } from "../helpers/wait.js";
import { nodeOf, startWholeBridge } from "../helpers/whole-bridge.js";
import { CToxPeer } from "../interop/ctoxcore.js";
import { GW, registrationForm, startXmppServer } from "./harness.js";
import { type TestUser, xml } from "./user.js";

const owner = { kind: "xmpp" as const, id: "alice@localhost" };

describe("XMPP <-> c-toxcore through the gateway", () => {
  const db = new TestDb();
  const cleanup: (() => unknown)[] = [];
  let node: ToxNode;
  let core: BridgeCore;
  let alice: TestUser;
  let c: CToxPeer;

  beforeAll(async () => {
    await db.setup();
    cleanup.push(() => db.teardown());
    const server = await startXmppServer({ secret: "e2e-secret", users: ["alice"] });
    cleanup.push(() => server.stop());
    const bridge = await startWholeBridge({ store: db, tox: { ports: [35300, 35339] }, xmpp: server });
    cleanup.push(() => bridge.stop());
    ({ core } = bridge);
    node = nodeOf(bridge);
    alice = await server.connect("alice");
    c = await CToxPeer.create({ startPort: 35340, endPort: 35399, name: "Carol", label: "c" });
    cleanup.push(() => c.kill());
  });

  afterAll(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  it("register, add via subscription, chat both ways with receipts and typing", async () => {
    // Register: the core creates the Tox identity in the ToxNode.
    await alice.xmpp.iqCaller.set(registrationForm({ action: "create" }), GW);
    const account = await core.account(owner);
    const me = account && node.identity(account.publicKey);
    if (!account || !me) throw new Error("no identity after registration");

    // XEP-0100: Carol's Tox ID -> her contact JID; subscribing sends the Tox friend request.
    const answer = await alice.xmpp.iqCaller.set(
      xml("query", { xmlns: NS.gateway }, xml("prompt", {}, c.addressHex)),
      GW,
    );
    const friend = c.publicKeyHex.toLowerCase();
    const contact = `${friend}@${GW}`;
    expect(answer.getChildText("jid")).toBe(contact);
    await alice.xmpp.send(
      xml("presence", { to: contact, type: "subscribe" }, xml("status", {}, "hi from XMPP")),
    );
    await waitUntil(
      async () => (await core.friend(owner, friend))?.state === "pending_out",
      5000,
      "the friend request recorded",
      20,
    );

    // Without onion friend requests, the C side adds us directly and we dial its UDP port.
    const friendNo = c.friendAddNoRequest(me.publicKeyBytes);
    await me.connectFriendDirect(c.publicKey, c.dhtId, ipPort("127.0.0.1", c.udpPort));
    await waitUntil(() => c.friendConnectionStatus(friendNo) === "udp", 15_000, "C sees us online");
    // The friend is accepted and online: the contact confirms the subscription and shows presence.
    await alice.waitFor(
      (el) =>
        el.name === "presence" && el.attrs.from?.startsWith(contact) === true && el.attrs.type === undefined,
      "Carol's available presence",
      15_000,
    );
    const roster = await alice.xmpp.iqCaller.get(xml("query", { xmlns: "jabber:iq:roster" }));
    expect(roster.getChildren("item").find((i) => i.attrs.jid === contact)?.attrs.subscription).toMatch(
      /^(to|both)$/,
    );

    // Tox -> XMPP.
    c.sendMessage(friendNo, "hello from c-toxcore");
    const incoming = await alice.waitFor(
      (el) => el.name === "message" && el.getChildText("body") === "hello from c-toxcore",
      "Carol's message",
      10_000,
    );
    expect(incoming.attrs.from).toBe(contact);

    // XMPP -> Tox, with the C client's read receipt back as a XEP-0184 receipt.
    const got: [string, string][] = [];
    c.on("friendMessage", (_f, type, text) => got.push([type, text]));
    await alice.xmpp.send(
      xml(
        "message",
        { to: contact, type: "chat", id: "x-1" },
        xml("body", {}, "hi Carol, from XMPP"),
        xml("request", { xmlns: NS.receipts }),
      ),
    );
    await alice.xmpp.send(
      xml("message", { to: contact, type: "chat", id: "x-2" }, xml("body", {}, "/me waves")),
    );
    await waitUntil(() => got.length === 2, 10_000, "C receives both");
    expect(got).toEqual([
      ["normal", "hi Carol, from XMPP"],
      ["action", "waves"],
    ]);
    const receipt = await alice.waitFor(
      (el) => el.getChild("received", NS.receipts)?.attrs.id === "x-1",
      "receipt for x-1",
      10_000,
    );
    expect(receipt.attrs.from).toBe(contact);

    // Typing both ways.
    c.setTyping(friendNo, true);
    await alice.waitFor((el) => el.getChild("composing", NS.chatStates) !== undefined, "composing", 10_000);
    const cTyping: boolean[] = [];
    c.on("friendTyping", (_f, t) => cTyping.push(t));
    await alice.xmpp.send(
      xml("message", { to: contact, type: "chat" }, xml("composing", { xmlns: NS.chatStates })),
    );
    await waitUntil(() => cTyping.includes(true), 10_000, "C sees alice typing");
  }, 60_000);
});
