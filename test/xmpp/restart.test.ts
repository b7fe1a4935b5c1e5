/**
 * Durable delivery through a restart: alice writes to an offline Tox friend, the bridge (core and
 * gateway) restarts over the same store, alice's client sends the same stanza again (as a client
 * resending after a reconnect does), and when the friend comes online the message is delivered
 * exactly once, with the receipt back to alice. Real core (PGlite, fake Tox), real Prosody.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NS } from "../../src/xmpp/namespaces.js";
import { FakeTox } from "../core/fake-tox.js";
import { stranger, TestDb } from "../core/helpers.js";
import { waitUntil } from "../helpers/wait.js";
import { startWholeBridge } from "../helpers/whole-bridge.js";
import { GW, startXmppServer, type XmppServer } from "./harness.js";
import { type TestUser, xml } from "./user.js";

const owner = { kind: "xmpp" as const, id: "alice@localhost" };

describe("XMPP gateway restart", () => {
  const db = new TestDb();
  let server: XmppServer;
  let alice: TestUser;

  const startBridge = (tox: FakeTox) =>
    startWholeBridge({ store: db, tox, core: { tickMs: 50 }, xmpp: server });

  /** Sends a stanza, then a ping: the gateway handles one sender in order, so the pong means done. */
  async function sendAndSettle(el: ReturnType<typeof xml>) {
    await alice.xmpp.send(el);
    await alice.xmpp.iqCaller.get(xml("ping", { xmlns: NS.ping }), GW, 5000);
  }

  beforeAll(async () => {
    await db.setup();
    server = await startXmppServer({ secret: "restart-secret", users: ["alice"] });
    alice = await server.connect("alice");
  });

  afterAll(async () => {
    await server?.stop();
    await db.teardown();
  });

  it("a message to an offline friend survives the restart and is delivered once", async () => {
    const friend = stranger();
    const contact = `${friend.publicKey}@${GW}`;
    const message = xml(
      "message",
      { to: contact, type: "chat", id: "r-1" },
      xml("body", {}, "see you later"),
    );

    // First run: register, become friends (the friend's session comes up once), friend goes offline.
    const tox1 = new FakeTox();
    const first = await startBridge(tox1);
    await sendAndSettle(xml("message", { to: GW, type: "chat" }, xml("body", {}, "create")));
    const account = await first.core.account(owner);
    if (!account) throw new Error("no account");
    await sendAndSettle(xml("message", { to: GW, type: "chat" }, xml("body", {}, `add ${friend.toxId}`)));
    tox1.setOnline(account.publicKey, friend.publicKey, true);
    await first.core.idle();
    tox1.setOnline(account.publicKey, friend.publicKey, false);
    await first.core.idle();
    expect((await first.core.friend(owner, friend.publicKey))?.state).toBe("accepted");

    await sendAndSettle(message);
    await first.core.idle();
    expect(tox1.sentTo(account.publicKey, friend.publicKey)).toEqual([]);
    await first.stop();

    // Second run over the same store; alice's client sends the same stanza again.
    const tox2 = new FakeTox();
    const second = await startBridge(tox2);
    try {
      await sendAndSettle(message);
      tox2.setOnline(account.publicKey, friend.publicKey, true);
      await waitUntil(() => tox2.sentTo(account.publicKey, friend.publicKey).length > 0, 5000, "delivery");
      await second.core.tick();
      await second.core.idle();
      expect(tox2.sentTo(account.publicKey, friend.publicKey).map((m) => m.text)).toEqual(["see you later"]);
      tox2.ackAll(account.publicKey, friend.publicKey);
      const receipt = await alice.waitFor(
        (el) => el.getChild("received", NS.receipts)?.attrs.id === "r-1",
        "receipt",
      );
      expect(receipt.attrs.from).toBe(contact);
    } finally {
      await second.stop();
    }
  });
});
