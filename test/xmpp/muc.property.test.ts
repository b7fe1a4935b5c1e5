/**
 * Properties of the conference rooms: nick assignment always gives unique nicks that avoid the
 * user's own and keep a peer's nick while its name stays; arbitrary stanzas to room JIDs never
 * make the service throw, never send anything to the conference unless the sender joined, and
 * get only error replies or addressed replies.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MucService } from "../../src/xmpp/muc.js";
import { assignNicks } from "../../src/xmpp/muc-nicks.js";
import { MucGatewayRouter } from "../../src/xmpp/muc-router.js";
import { MUC_NS, roomJid } from "../../src/xmpp/muc-stanzas.js";
import { NS } from "../../src/xmpp/namespaces.js";
import { type XmlElement, xml } from "../../src/xmpp/xml.js";
import { FakeCore } from "./fake-core.js";

const GW = "tox.localhost";

describe("assignNicks", () => {
  const key = fc.constantFrom(...["aa", "ab", "ba", "bb", "cc", "cd", "dc", "dd"].map((k) => k.repeat(32)));
  const name = fc.constantFrom(
    "",
    "Bob",
    "bob",
    "Tox User",
    "Tox User [AAAAAA]",
    "alice",
    " Bob ",
    "B\no\tb",
  );
  const peers = fc.uniqueArray(fc.record({ publicKey: key, name }), { selector: (p) => p.publicKey });

  it("unique, never the reserved nick, sticky while the name stays", () => {
    fc.assert(
      fc.property(peers, peers, fc.constantFrom("alice", "Bob", "x"), (before, after, mine) => {
        const reserved = new Set([mine]);
        const first = assignNicks(before, new Map(), reserved);
        const second = assignNicks(after, first, reserved);
        for (const nicks of [first, second]) {
          const values = [...nicks.values()];
          expect(new Set(values).size).toBe(values.length);
          expect(values).not.toContain(mine);
          expect(values.every((n) => n.length > 0 && !/[\n\t]/.test(n))).toBe(true);
        }
        for (const p of after) {
          const old = before.find((b) => b.publicKey === p.publicKey);
          if (old !== undefined && old.name === p.name)
            expect(second.get(p.publicKey)).toBe(first.get(p.publicKey));
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("MUC service on arbitrary stanzas", () => {
  const conf = "c0".repeat(32);
  const room = roomJid(conf, GW);
  const text = fc.string({ maxLength: 12 });
  const attr = fc.option(
    fc.oneof(text, fc.constantFrom("groupchat", "chat", "error", "unavailable", "get", "set")),
    {
      nil: undefined,
    },
  );
  const to = fc.constantFrom(
    room,
    `${room}/alice`,
    `${room}/Bob`,
    `${room}/`,
    `conf-zz@${GW}`,
    `${roomJid("ee".repeat(32), GW)}/x`,
  );
  const from = fc.constantFrom(
    "alice@localhost/phone",
    "alice@localhost",
    "dave@localhost/x",
    "localhost",
    "",
  );
  const payload = fc.oneof(
    fc.constant(null),
    fc.constant(xml("body", {}, "hi")),
    fc.constant(xml("subject", {}, "t")),
    fc.constant(xml("x", { xmlns: MUC_NS.muc })),
    fc.constant(xml("x", { xmlns: MUC_NS.user }, xml("invite", { to: "bob@localhost" }))),
    fc.constant(xml("x", { xmlns: MUC_NS.user })),
    fc.constant(xml("ping", { xmlns: NS.ping })),
    fc.constant(xml("query", { xmlns: NS.discoInfo })),
    fc.constant(xml("query", { xmlns: MUC_NS.owner }, xml("destroy"))),
    fc.constant(xml("show", {}, "bogus")),
    fc.constant(xml("priority", {}, "1000")),
    text.map((t) => xml("body", {}, t)),
  );
  const stanza = fc.record({
    name: fc.constantFrom("message", "presence", "iq", "foo"),
    type: attr,
    id: fc.option(text, { nil: undefined }),
    to,
    from,
    children: fc.array(payload, { maxLength: 3 }),
  });

  it("never throws; nothing reaches the conference from a session that did not join", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stanza, { minLength: 1, maxLength: 8 }), async (stanzas) => {
        const core = new FakeCore();
        const sent: XmlElement[] = [];
        const sink = { send: async (el: XmlElement) => void sent.push(el), sendConfirmed: async () => {} };
        const permissions = () => ({ localhost: "user" as const });
        const muc = new MucService({ domain: GW, core, sink, permissions });
        const router = new MucGatewayRouter({ domain: GW, core, permissions }, muc);
        const pk = core.createAccount("alice@localhost").ref.publicKey;
        core.conferenceViews.set(
          "alice@localhost",
          new Map([
            [
              conf,
              {
                id: conf,
                title: "T",
                type: "text",
                peers: [{ publicKey: pk, name: "", self: true }],
                connected: true,
              },
            ],
          ]),
        );
        /** Sessions the service put into the room (they got the join's closing subject). */
        const joined = new Set<string>();
        for (const s of stanzas) {
          const el = xml(s.name, { type: s.type, id: s.id, to: s.to, from: s.from }, s.children);
          const before = core.conferenceSent.length;
          const replies = await router.handle(el);
          if (core.conferenceSent.length > before) expect(joined.has(s.from)).toBe(true);
          for (const r of replies) {
            if (r.attrs.type === "error") expect(el.attrs.type).not.toBe("error");
            else expect(r.attrs.to).toBeDefined();
            if (r.name === "message" && r.getChild("subject") && r.attrs.to) joined.add(r.attrs.to);
            if (r.name === "presence" && r.attrs.type === "unavailable" && r.attrs.to)
              joined.delete(r.attrs.to);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
