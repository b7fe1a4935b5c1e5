/**
 * Interop: conferences between our ToxNode (Conferences attached to an Identity) and real
 * c-toxcore 0.2.18 peers over loopback UDP, friends connected directly (no DHT/onion search).
 * A C peer invites us, we join; messages both ways; names and title changes seen on both sides;
 * we invite a second C peer, who joins and talks to everyone; leaving is seen.
 * Ports: ours 36400-36419, C peers 36420-36479.
 */
import { afterEach, describe, expect, it } from "vitest";
import { bytesEqual } from "../../../src/tox/bytes.js";
import type { ConferencePeer, Conferences } from "../../../src/tox/conference/conferences.js";
import { newKeyPair } from "../../../src/tox/crypto.js";
import { type FriendConnectionEvent, type Identity, ipPort, ToxNode } from "../../../src/tox/index.js";
import { conferencePeerNames, conferenceTitle } from "../../interop/ctox-conference.js";
import { CToxPeer, nextEvent, waitUntil } from "../../interop/ctoxcore.js";
import { attachConferences } from "./attach.js";

const OUR_PORTS: [number, number] = [36400, 36419];
const C_PORTS = { startPort: 36420, endPort: 36479 };

interface Ours {
  node: ToxNode;
  me: Identity;
  conf: Conferences;
  invites: Array<{ from: Uint8Array; cookie: Uint8Array }>;
  connected: number[];
  messages: Array<{ peer: ConferencePeer; kind: string; text: string }>;
  titles: string[];
  left: ConferencePeer[];
  conn: FriendConnectionEvent[];
}

describe("conferences: ours <-> c-toxcore 0.2.18 (direct UDP, loopback)", () => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  async function startOurs(secretKey = newKeyPair().secretKey): Promise<Ours> {
    const node = await ToxNode.create({ host: "127.0.0.1", portRange: OUR_PORTS });
    cleanup.push(() => node.close());
    const me = await node.addIdentity({ secretKey, name: "ours" });
    const o = {
      node,
      me,
      invites: [],
      connected: [],
      messages: [],
      titles: [],
      left: [],
      conn: [],
    } as unknown as Ours;
    o.conf = attachConferences(me, {
      onInvite: (from, _type, cookie) => o.invites.push({ from, cookie }),
      onConnected: (c) => o.connected.push(c),
      onMessage: (_c, peer, kind, text) => o.messages.push({ peer, kind, text }),
      onTitle: (_c, _peer, title) => o.titles.push(title),
      onPeerLeft: (_c, peer) => o.left.push(peer),
    });
    node.on("friendConnection", (e) => o.conn.push(e));
    return o;
  }

  async function startC(name: string): Promise<CToxPeer> {
    const c = await CToxPeer.create({ ...C_PORTS, name, label: name, iterateEveryMs: 10 });
    cleanup.push(() => c.kill());
    return c;
  }

  /** C adds us without a request; we connect straight to its DHT key and port. */
  async function connect(o: Ours, c: CToxPeer): Promise<number> {
    const friend = c.friendByPublicKey(o.me.publicKeyBytes) ?? c.friendAddNoRequest(o.me.publicKeyBytes);
    await o.me.connectFriendDirect(c.publicKey, c.dhtId, ipPort("127.0.0.1", c.udpPort));
    await waitUntil(
      () =>
        o.conn.some((e) => e.friend === c.publicKeyHex && e.status === "udp") &&
        c.friendConnectionStatus(friend) === "udp",
      15_000,
      `${c.label} and ours online`,
    );
    return friend;
  }

  const texts = (o: Ours) => o.messages.filter((m) => !m.peer.self).map((m) => m.text);
  const names = (o: Ours, conf: number) =>
    o.conf
      .peers(conf)
      .map((p) => p.name)
      .sort();

  it("joins a C conference, talks both ways, sees names and titles, brings in a second C peer, sees leaves", async () => {
    const o = await startOurs();
    const c1 = await startC("c-one");
    const f1 = await connect(o, c1);

    // c-one creates and invites us.
    const cc1 = c1.conferenceNew();
    c1.conferenceSetTitle(cc1, "Bridge test");
    c1.conferenceInvite(f1, cc1);
    await waitUntil(() => o.invites.length > 0, 10_000, "our invite");
    expect(bytesEqual(o.invites[0]!.from, c1.publicKey)).toBe(true);
    const conf = o.conf.join(o.invites[0]!.from, o.invites[0]!.cookie);
    await waitUntil(() => o.connected.includes(conf), 10_000, "joined");
    expect(bytesEqual(o.conf.info(conf)!.id, c1.conferenceId(cc1))).toBe(true);
    await waitUntil(() => o.conf.info(conf)!.title === "Bridge test", 10_000, "title from the peer list");
    await waitUntil(() => names(o, conf).join() === "c-one,ours", 10_000, "our peer list with names");
    await waitUntil(
      () => conferencePeerNames(c1, cc1).sort().join() === "c-one,ours",
      10_000,
      "C sees our name",
    );

    // Messages and actions both ways.
    const c1Got: string[] = [];
    c1.on("conferenceMessage", (_c, _p, type, text) => c1Got.push(`${type}:${text}`));
    c1.conferenceSendMessage(cc1, "hello from C");
    c1.conferenceSendMessage(cc1, "waves", "action");
    o.conf.sendMessage(conf, "hello from TS");
    o.conf.sendMessage(conf, "nods", "action");
    await waitUntil(() => texts(o).length >= 2 && c1Got.length >= 4, 10_000, "messages both ways");
    expect(texts(o)).toEqual(["hello from C", "waves"]);
    expect(o.messages.find((m) => m.text === "waves")!.kind).toBe("action");
    expect(c1Got).toEqual(expect.arrayContaining(["normal:hello from TS", "action:nods"]));

    // Titles both ways.
    c1.conferenceSetTitle(cc1, "Renamed by C");
    await waitUntil(() => o.titles.includes("Renamed by C"), 10_000, "C's title change");
    o.conf.setTitle(conf, "Renamed by TS ✓");
    await waitUntil(() => conferenceTitle(c1, cc1) === "Renamed by TS ✓", 10_000, "our title change at C");

    // We invite c-two (our friend, not c-one's); it joins and everyone sees everyone.
    const c2 = await startC("c-two");
    c1.bootstrapToPeer(c2);
    c2.bootstrapToPeer(c1);
    const f2 = await connect(o, c2);
    const invited = nextEvent(c2, "conferenceInvite", 10_000);
    o.conf.invite(conf, c2.publicKey);
    const [inviter, , cookie] = await invited;
    expect(inviter).toBe(f2);
    const connected = nextEvent(c2, "conferenceConnected", 10_000);
    const cc2 = c2.conferenceJoin(f2, cookie);
    await connected;
    await waitUntil(() => names(o, conf).join() === "c-one,c-two,ours", 15_000, "c-two in our list");
    await waitUntil(() => conferencePeerNames(c1, cc1).length === 3, 15_000, "c-two in c-one's list");
    await waitUntil(
      () => conferencePeerNames(c2, cc2).sort().join() === "c-one,c-two,ours",
      15_000,
      "c-two sees everyone with names",
    );
    expect(conferenceTitle(c2, cc2)).toBe("Renamed by TS ✓");

    const c2Got: string[] = [];
    c2.on("conferenceMessage", (_c, _p, _t, text) => c2Got.push(text));
    c2.conferenceSendMessage(cc2, "hi all from c-two");
    o.conf.sendMessage(conf, "welcome c-two");
    c1.conferenceSendMessage(cc1, "hi c-two from c-one");
    await waitUntil(
      () =>
        texts(o).includes("hi all from c-two") &&
        c1Got.includes("normal:hi all from c-two") &&
        c2Got.includes("welcome c-two") &&
        c2Got.includes("hi c-two from c-one"),
      15_000,
      "three-way messages",
    );

    // c-two leaves: we and c-one see it go.
    c2.conferenceDelete(cc2);
    await waitUntil(() => o.left.some((p) => bytesEqual(p.publicKey, c2.publicKey)), 10_000, "c-two's leave");
    expect(names(o, conf)).toEqual(["c-one", "ours"]);
    await waitUntil(() => c1.conferencePeerCount(cc1) === 2, 10_000, "c-one sees c-two leave");

    // We leave: c-one is alone.
    o.conf.leave(conf);
    await waitUntil(() => c1.conferencePeerCount(cc1) === 1, 10_000, "c-one sees us leave");
    expect(o.conf.list()).toEqual([]);
  }, 60_000);

  it("we create a conference and invite C; after our restart the saved conference rejoins and our new messages are not dropped as old", async () => {
    const secretKey = newKeyPair().secretKey;
    let o = await startOurs(secretKey);
    const c1 = await startC("c-one");
    const f1 = await connect(o, c1);
    const conf = o.conf.create();
    o.conf.setTitle(conf, "Ours");
    const invited = nextEvent(c1, "conferenceInvite", 10_000);
    o.conf.invite(conf, c1.publicKey);
    const [, , cookie] = await invited;
    const joined = nextEvent(c1, "conferenceConnected", 10_000);
    const cc1 = c1.conferenceJoin(f1, cookie);
    await joined;
    await waitUntil(() => conferencePeerNames(c1, cc1).sort().join() === "c-one,ours", 10_000, "C's list");
    expect(conferenceTitle(c1, cc1)).toBe("Ours");
    await waitUntil(() => names(o, conf).join() === "c-one,ours", 10_000, "our list");
    const c1Got: string[] = [];
    c1.on("conferenceMessage", (_c, _p, _t, text) => c1Got.push(text));
    for (let i = 0; i < 12; i++) o.conf.sendMessage(conf, `before ${i}`);
    await waitUntil(() => c1Got.length === 12, 10_000, "messages before the restart");
    const saved = o.conf.save();
    const numberBefore = o.conf.info(conf)!.messageNumber;

    // Restart: the old node goes away (its sessions are killed), a new one loads the saved state.
    await o.node.close();
    await waitUntil(() => c1.friendConnectionStatus(f1) === "none", 15_000, "C sees us go");
    o = await startOurs(secretKey);
    const [again] = o.conf.restore(saved) as [number];
    expect(o.conf.peers(again, true).map((p) => p.name)).toEqual(["c-one"]);
    await connect(o, c1);
    await waitUntil(() => names(o, again).join() === "c-one,ours", 15_000, "rejoined (c-one thawed)");
    const [n] = o.conf.sendMessage(again, "after restart") as [number];
    expect(n).toBeGreaterThan(numberBefore);
    // c-one can send once its connection to us is online again (our ONLINE answered its REJOIN).
    await waitUntil(
      () => {
        try {
          c1.conferenceSendMessage(cc1, "welcome back");
          return true;
        } catch {
          return false;
        }
      },
      15_000,
      "c-one connected again",
    );
    await waitUntil(
      () => c1Got.includes("after restart") && texts(o).includes("welcome back"),
      15_000,
      "messages after the restart",
    );
    expect(c1.conferencePeerCount(cc1)).toBe(2);
  }, 60_000);
});
