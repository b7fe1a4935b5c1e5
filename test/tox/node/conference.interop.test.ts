/**
 * Interop through the Identity API: conferences wired into Identity (events on the ToxNode).
 * A c-toxcore 0.2.18 peer invites us; we join, talk, rename ourselves, see its title; after a
 * restart from our own save file the conference rejoins. Ports: ours 36480-36489, C 36490-36499.
 */
import { afterEach, describe, expect, it } from "vitest";
import { newKeyPair } from "../../../src/tox/crypto.js";
import {
  type ConferenceInviteEvent,
  type ConferenceMessageEvent,
  type FriendConnectionEvent,
  ipPort,
  ToxNode,
} from "../../../src/tox/index.js";
import { conferencePeerNames } from "../../interop/ctox-conference.js";
import { CToxPeer, waitUntil } from "../../interop/ctoxcore.js";

const OUR_PORTS: [number, number] = [36480, 36489];
const C_PORTS = { startPort: 36490, endPort: 36499 };

describe("Identity conferences <-> c-toxcore 0.2.18", () => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  it("joins by invite, talks, renames, keeps the conference across a restart from its save file", async () => {
    const c = await CToxPeer.create({
      ...C_PORTS,
      name: "c-one",
      label: "c-one",
      iterateEveryMs: 10,
    });
    cleanup.push(() => c.kill());
    const start = async (savedata?: Uint8Array) => {
      const node = await ToxNode.create({
        host: "127.0.0.1",
        portRange: OUR_PORTS,
      });
      const me = await node.addIdentity(
        savedata ? { savedata } : { secretKey: newKeyPair().secretKey, name: "ours" },
      );
      const ev = {
        invites: [] as ConferenceInviteEvent[],
        msgs: [] as ConferenceMessageEvent[],
        conn: [] as FriendConnectionEvent[],
        titles: [] as string[],
      };
      node.on("conferenceInvite", (e) => ev.invites.push(e));
      node.on("conferenceMessage", (e) => ev.msgs.push(e));
      node.on("conferenceTitle", (e) => ev.titles.push(e.title));
      node.on("friendConnection", (e) => ev.conn.push(e));
      return { node, me, ev };
    };
    let o = await start();
    cleanup.push(() => o.node.close());
    const f = c.friendAddNoRequest(o.me.publicKeyBytes);
    const connect = async () => {
      await o.me.connectFriendDirect(c.publicKey, c.dhtId, ipPort("127.0.0.1", c.udpPort));
      await waitUntil(
        () => o.ev.conn.some((e) => e.status === "udp") && c.friendConnectionStatus(f) === "udp",
        15_000,
        "online",
      );
    };
    await connect();
    const cc = c.conferenceNew();
    c.conferenceSetTitle(cc, "Room");
    c.conferenceInvite(f, cc);
    await waitUntil(() => o.ev.invites.length > 0, 10_000, "invite");
    const conf = await o.me.conferenceJoin(o.ev.invites[0]!.friend, o.ev.invites[0]!.cookie);
    await waitUntil(() => o.me.conferencePeers(conf).length === 2, 10_000, "joined");
    await waitUntil(() => o.me.conferenceInfo(conf)?.title === "Room", 10_000, "title");
    const cGot: string[] = [];
    c.on("conferenceMessage", (_c, _p, _t, text) => cGot.push(text));
    await o.me.conferenceSendMessage(conf, "hi from the identity");
    c.conferenceSendMessage(cc, "hi identity");
    await waitUntil(
      () =>
        cGot.includes("hi from the identity") &&
        o.ev.msgs.some((m) => m.text === "hi identity" && !m.peer.self),
      10_000,
      "messages",
    );
    await o.me.setName("renamed");
    await waitUntil(() => conferencePeerNames(c, cc).includes("renamed"), 10_000, "our new name at C");

    const saved = await o.me.getSavedata();
    await o.node.close();
    await waitUntil(() => c.friendConnectionStatus(f) === "none", 15_000, "C sees us go");
    o = await start(saved);
    cleanup.push(() => o.node.close());
    expect(o.me.conferenceList()).toEqual([0]);
    await connect();
    await waitUntil(() => o.me.conferencePeers(0).length === 2, 15_000, "rejoined after restart");
    await o.me.conferenceSendMessage(0, "back again");
    await waitUntil(() => cGot.includes("back again"), 10_000, "message after restart");
  }, 60_000);
});
