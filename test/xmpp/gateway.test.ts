/**
 * The XMPP gateway plugged into the real bridge core (PGlite store, fake Tox gateway) behind a
 * real Prosody, with alice on @xmpp/client: register, a Tox friend request shown as a
 * subscription request and approved, presence, messages both ways with the read receipt coming
 * back as a XEP-0184 receipt, typing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BridgeCore } from "../../src/core/bridge-core.js";
import { NS } from "../../src/xmpp/namespaces.js";
import { FakeTox } from "../core/fake-tox.js";
import { stranger, TestDb } from "../core/helpers.js";
import { waitUntil } from "../helpers/wait.js";
import { startWholeBridge, type WholeBridge } from "../helpers/whole-bridge.js";
import { GW, registrationForm, startXmppServer, type XmppServer } from "./harness.js";
import { type TestUser, xml } from "./user.js";

const ALICE = "alice@localhost";

describe("XMPP gateway with the real core", () => {
  const db = new TestDb();
  let server: XmppServer;
  let bridge: WholeBridge<FakeTox>;
  let core: BridgeCore;
  let tox: FakeTox;
  let alice: TestUser;
  const owner = { kind: "xmpp" as const, id: ALICE };
  const friend = stranger();
  let identity = "";

  beforeAll(async () => {
    await db.setup();
    server = await startXmppServer({ secret: "gateway-secret", users: ["alice"] });
    bridge = await startWholeBridge({ store: db, tox: new FakeTox(), core: { tickMs: 50 }, xmpp: server });
    ({ core, tox } = bridge);
    alice = await server.connect("alice");
  });

  afterAll(async () => {
    await bridge?.stop();
    await server?.stop();
    await db.teardown();
  });

  it("registers alice: the core creates her Tox identity", async () => {
    await alice.xmpp.iqCaller.set(registrationForm({ action: "create" }), GW);
    const account = await core.account(owner);
    expect(account).not.toBeNull();
    identity = account?.publicKey ?? "";
    expect(tox.isOnline(identity)).toBe(true);
    const reply = await alice.waitFor((el) => el.name === "message" && el.attrs.from === GW, "reply");
    expect(reply.getChildText("body")).toMatch(/[0-9A-F]{76}/);
  });

  it("shows a Tox friend request as a subscription request; approving it accepts the friend", async () => {
    const contact = `${friend.publicKey}@${GW}`;
    tox.request(identity, friend.publicKey, "hi from Tox");
    const sub = await alice.waitFor(
      (el) => el.name === "presence" && el.attrs.type === "subscribe" && el.attrs.from === contact,
      "subscription request",
    );
    expect(sub.getChildText("status")).toBe("hi from Tox");
    await alice.xmpp.send(xml("presence", { to: contact, type: "subscribed" }));
    await waitUntil(
      async () => (await core.friend(owner, friend.publicKey))?.state === "accepted",
      5000,
      "friend accepted",
      20,
    );
    // alice subscribes back (as clients do); the contact confirms.
    await alice.xmpp.send(xml("presence", { to: contact, type: "subscribe" }));
    // Prosody records the contact's `subscribed` in the roster (pushed to roster-aware clients).
    await waitUntil(
      async () => {
        const roster = await alice.xmpp.iqCaller.get(xml("query", { xmlns: "jabber:iq:roster" }));
        const item = roster.getChildren("item").find((i) => i.attrs.jid === contact);
        return item?.attrs.subscription === "both";
      },
      5000,
      "mutual subscription in alice's roster",
      20,
    );
  });

  it("shows the friend coming online, and delivers alice's message with a receipt", async () => {
    const contact = `${friend.publicKey}@${GW}`;
    tox.setOnline(identity, friend.publicKey, true);
    await alice.waitFor(
      (el) =>
        el.name === "presence" && el.attrs.from?.startsWith(contact) === true && el.attrs.type === undefined,
      "available presence",
    );
    await alice.xmpp.send(
      xml(
        "message",
        { to: contact, type: "chat", id: "alice-1" },
        xml("body", {}, "hello from XMPP"),
        xml("request", { xmlns: NS.receipts }),
      ),
    );
    await waitUntil(() => tox.sentTo(identity, friend.publicKey).length > 0, 5000, "Tox send");
    expect(tox.sentTo(identity, friend.publicKey)[0]?.text).toBe("hello from XMPP");
    tox.ackAll(identity, friend.publicKey);
    const receipt = await alice.waitFor(
      (el) => el.getChild("received", NS.receipts) !== undefined,
      "receipt",
    );
    expect(receipt.getChild("received", NS.receipts)?.attrs.id).toBe("alice-1");
  });

  it("delivers the friend's messages and typing to alice", async () => {
    const contact = `${friend.publicKey}@${GW}`;
    tox.typing(identity, friend.publicKey, true);
    await alice.waitFor((el) => el.getChild("composing", NS.chatStates) !== undefined, "composing");
    tox.message(identity, friend.publicKey, "hello from Tox");
    const msg = await alice.waitFor(
      (el) => el.name === "message" && el.getChildText("body") === "hello from Tox",
      "message",
    );
    expect(msg.attrs.from).toBe(contact);
  });

  it("removing the roster item removes the Tox friend", async () => {
    const contact = `${friend.publicKey}@${GW}`;
    await alice.xmpp.iqCaller.set(
      xml("query", { xmlns: "jabber:iq:roster" }, xml("item", { jid: contact, subscription: "remove" })),
    );
    await waitUntil(
      async () => (await core.friend(owner, friend.publicKey)) === null,
      5000,
      "friend removed",
      20,
    );
  });
});
