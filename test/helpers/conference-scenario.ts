/**
 * The pieces the conference end-to-end tests share (Matrix room, mixed Matrix + XMPP MUC): three
 * c-toxcore peers, Carol's friends Dan and Erin joining her conference through her, bridged
 * identities that reach Carol and each other directly over loopback UDP (no DHT in these tests),
 * and the bridge options that make the core's conference retries quick.
 */
import type { Owner } from "../../src/core/frontend.js";
import { ipPort, type ToxNode } from "../../src/tox/index.js";
import { befriend, CToxPeer, waitUntil } from "../interop/ctoxcore.js";
import type { HomeserverDouble } from "./homeserver/index.js";
import type { WholeBridge, WholeBridgeOptions } from "./whole-bridge.js";

/** Core options of the conference tests: inbound lines and sends retried within a fraction of a second. */
export const QUICK_CONFERENCE_RETRIES: NonNullable<WholeBridgeOptions["core"]> = {
  inbox: { retryDelayMs: () => 100 },
  conferences: { inboundRetryDelayMs: () => 100, retryDelayMs: () => 200 },
};

/** One c-toxcore peer named `name` on the 20 ports from `startPort`, killed through `cleanup`. */
export async function conferencePeer(
  name: string,
  startPort: number,
  cleanup: (() => unknown)[],
): Promise<CToxPeer> {
  const p = await CToxPeer.create({
    startPort,
    endPort: startPort + 19,
    name,
    label: name,
    iterateEveryMs: 10,
  });
  cleanup.push(() => p.kill());
  return p;
}

/** Carol, Dan and Erin: c-toxcore peers on 20 ports each from `firstPort`, killed through `cleanup`. */
export async function conferencePeers(
  firstPort: number,
  cleanup: (() => unknown)[],
): Promise<{ carol: CToxPeer; dan: CToxPeer; erin: CToxPeer }> {
  return {
    carol: await conferencePeer("Carol", firstPort, cleanup),
    dan: await conferencePeer("Dan", firstPort + 20, cleanup),
    erin: await conferencePeer("Erin", firstPort + 40, cleanup),
  };
}

/** Each of `joiners` befriends Carol and joins her conference `cc` on her invite. */
export async function joinThroughCarol(carol: CToxPeer, cc: number, joiners: CToxPeer[]): Promise<void> {
  for (const p of joiners) {
    p.bootstrapToPeer(carol);
    carol.bootstrapToPeer(p);
    const { aFriend } = await befriend(carol, p, { timeoutMs: 20_000 });
    const invites: Uint8Array[] = [];
    p.on("conferenceInvite", (_f, _t, cookie) => invites.push(cookie));
    carol.conferenceInvite(aFriend, cc);
    await waitUntil(() => invites.length > 0, 10_000, `${p.label}'s invite`);
    p.conferenceJoin(p.friendByPublicKey(carol.publicKey) ?? 0, invites[0]!);
  }
}

/** A Matrix user who made a Tox identity through the bot (in their DM with it). */
export interface MatrixUserWithIdentity {
  client: ReturnType<HomeserverDouble["asUser"]>;
  botRoom: string;
  owner: Owner;
  publicKey: string;
}

export async function matrixUserWithIdentity(
  hs: HomeserverDouble,
  bridge: Pick<WholeBridge, "core">,
  localpart: string,
): Promise<MatrixUserWithIdentity> {
  const client = hs.asUser(hs.createUser(localpart));
  const botRoom = await client.createDirectRoom(hs.botUserId);
  await hs.waitForMembership(botRoom, hs.botUserId, "join");
  await client.sendMessage(botRoom, "create");
  await hs.waitForMessage({ roomId: botRoom, sender: hs.botUserId, body: /Tox identity is ready/ });
  const owner: Owner = { kind: "matrix", id: client.userId };
  const account = await bridge.core.account(owner);
  if (account === null) throw new Error(`${localpart} has no Tox identity after "create"`);
  return { client, botRoom, owner, publicKey: account.publicKey };
}

/**
 * Direct dialling between the bridge's identities and Carol (loopback UDP, no DHT), needed after
 * start and again after every restart. `node` is read on each call: it changes with a restart.
 */
export function dialling(node: () => ToxNode) {
  const identity = (pk: string) => {
    const id = node().identity(pk);
    if (id === undefined) throw new Error(`identity ${pk.slice(0, 8)} not online`);
    return id;
  };
  return {
    identity,
    /** The identity `pk` dials Carol. */
    dialCarol: (pk: string, carol: CToxPeer) =>
      identity(pk).connectFriendDirect(carol.publicKey, carol.dhtId, ipPort("127.0.0.1", carol.udpPort)),
    /** Two of our identities dial each other. */
    async dialEachOther(pkA: string, pkB: string) {
      const a = identity(pkA);
      const b = identity(pkB);
      await a.connectFriendDirect(b.publicKeyBytes, b.dhtPublicKey, ipPort("127.0.0.1", b.udpPort));
      await b.connectFriendDirect(a.publicKeyBytes, a.dhtPublicKey, ipPort("127.0.0.1", a.udpPort));
    },
  };
}

export type Dialling = ReturnType<typeof dialling>;

/**
 * `user` adds Carol through the bot; Carol adds the user's identity without a request (no onion
 * in these tests) and the identity dials her. Resolves with Carol's friend number for the user
 * once the core has her as an accepted friend.
 */
export async function befriendCarolThroughBot(
  hs: HomeserverDouble,
  bridge: () => Pick<WholeBridge, "core">,
  user: MatrixUserWithIdentity,
  carol: CToxPeer,
  dial: Dialling,
): Promise<number> {
  await user.client.sendMessage(user.botRoom, `add ${carol.addressHex} hi`);
  await hs.waitForMessage({ roomId: user.botRoom, sender: hs.botUserId, body: /Friend request sent/ });
  const carolFriend = carol.friendAddNoRequest(dial.identity(user.publicKey).publicKeyBytes);
  await dial.dialCarol(user.publicKey, carol);
  await waitUntil(() => carol.friendConnectionStatus(carolFriend) === "udp", 15_000, "Carol sees the user");
  await waitUntil(
    async () =>
      (await bridge().core.friend(user.owner, carol.publicKeyHex.toLowerCase()))?.state === "accepted",
    15_000,
    "Carol accepted",
    20,
  );
  return carolFriend;
}

/** The id of the room the bot invites `user` to for a conference (not the bot's DM). */
export async function conferenceRoomInvite(
  hs: HomeserverDouble,
  user: MatrixUserWithIdentity,
): Promise<string> {
  const invite = await hs.waitForEvent(
    (ev) =>
      ev.type === "m.room.member" &&
      ev.state_key === user.client.userId &&
      ev.content.membership === "invite" &&
      ev.sender === hs.botUserId &&
      ev.room_id !== user.botRoom,
    { what: "the conference room invite" },
  );
  return invite.room_id;
}
