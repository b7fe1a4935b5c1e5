import { describe, expect, it } from "vitest";
import type { AccountRef } from "../../src/xmpp/core-port.js";
import { XmppFrontend } from "../../src/xmpp/frontend.js";
import { NS } from "../../src/xmpp/namespaces.js";
import type { XmlElement } from "../../src/xmpp/xml.js";
import { friendView } from "./fake-core.js";

const GW = "tox.localhost";
const PK = "cd".repeat(32);
const CONTACT = `${PK}@${GW}`;
const account: AccountRef = {
  id: 1,
  owner: { kind: "xmpp", id: "alice@localhost" },
  publicKey: "ab".repeat(32),
};

function setup(fail = false) {
  const sent: XmlElement[] = [];
  const send = async (el: XmlElement) => {
    if (fail) throw new Error("not connected");
    sent.push(el);
  };
  const frontend = new XmppFrontend(GW, { send, sendConfirmed: send });
  return { sent, frontend };
}

describe("XmppFrontend", () => {
  it("delivers a Tox message to the bare JID with a stable id", async () => {
    const { sent, frontend } = setup();
    await frontend.deliverMessage(account, {
      friend: PK,
      kind: "normal",
      text: "hi",
      receivedAt: new Date(),
      id: 7,
    });
    expect(sent[0]?.attrs).toMatchObject({
      from: CONTACT,
      to: "alice@localhost",
      id: "tox-in-7",
      type: "chat",
    });
    expect(sent[0]?.getChildText("body")).toBe("hi");
  });

  it("rejects delivery when not connected, so the core retries", async () => {
    const { frontend } = setup(true);
    await expect(
      frontend.deliverMessage(account, {
        friend: PK,
        kind: "normal",
        text: "hi",
        receivedAt: new Date(),
        id: 1,
      }),
    ).rejects.toThrow(/not connected/);
  });

  it("shows presence only for accepted friends", async () => {
    const { sent, frontend } = setup();
    await frontend.friendUpdated(account, friendView(PK, "pending_out"));
    expect(sent).toEqual([]);
    await frontend.friendUpdated(
      account,
      friendView(PK, "accepted", { online: true, status: "away", name: "Bob" }),
    );
    // The first time, the contact also confirms the user's subscription.
    expect(sent[0]?.attrs.type).toBe("subscribed");
    expect(sent[1]?.getChildText("show")).toBe("away");
    expect(sent[1]?.getChild("nick")?.attrs.xmlns).toBe(NS.nick);
    await frontend.friendUpdated(account, friendView(PK, "accepted", { online: false }));
    expect(sent.map((s) => s.attrs.type)).toEqual(["subscribed", undefined, "unavailable"]);
  });

  it("maps typing, requests, removal, receipts and notices", async () => {
    const { sent, frontend } = setup();
    await frontend.friendTyping(account, PK, true);
    await frontend.friendTyping(account, PK, false);
    await frontend.friendRequest(account, { friend: PK, message: "add me" });
    await frontend.friendRemoved(account, PK);
    await frontend.readReceipt(account, PK, "m-1");
    await frontend.notice(account, { code: "delivery-failed", text: "gave up", friend: PK });
    await frontend.notice(account, { code: "info", text: "hello" });
    const summary = sent.map((s) => [s.name, s.attrs.type, s.getChildElements()[0]?.name]);
    expect(summary).toEqual([
      ["message", "chat", "composing"],
      ["message", "chat", "paused"],
      ["presence", "subscribe", "status"],
      ["presence", "unavailable", undefined],
      ["presence", "unsubscribed", undefined],
      ["presence", "unsubscribe", undefined],
      ["message", "chat", "received"],
      ["message", "chat", "body"],
      ["message", "chat", "body"],
    ]);
    expect(sent[6]?.getChild("received")?.attrs.id).toBe("m-1");
    expect(sent[7]?.attrs.from).toBe(CONTACT);
    expect(sent[8]?.attrs.from).toBe(GW);
  });

  it("takes contacts it showed online offline on goodbye", async () => {
    const { sent, frontend } = setup();
    const other = "ef".repeat(32);
    await frontend.friendUpdated(account, friendView(PK, "accepted", { online: true }));
    await frontend.friendUpdated(account, friendView(other, "accepted", { online: true }));
    await frontend.friendUpdated(account, friendView(other, "accepted", { online: false }));
    sent.length = 0;
    await frontend.goodbye();
    expect(sent.map((s) => [s.attrs.from, s.attrs.type])).toEqual([[CONTACT, "unavailable"]]);
    sent.length = 0;
    await frontend.goodbye();
    expect(sent).toEqual([]);
  });
});
