/**
 * Glue between Conferences and an identity's friend_connection + Messenger layers, the way
 * group.c sits on friend_connection.c and Messenger.c:
 * - invites (96) go through the Messenger, so only online friends get them;
 * - every other conference packet uses the peer's friend_connection directly, without
 *   congestion control (group.c writes with `congestion_control = false`);
 * - members that are not our friends get friend_connection entries of their own, found through
 *   the DHT under the DHT key the peer list carries (`new_friend_connection` + `set_dht_temp_pk`);
 *   friends reuse their existing entry, which a conference never removes.
 *
 * The caller (Identity) must also route input: friend_connection lossless packets that pass
 * `isConferenceSessionPacket` and lossy ones that pass `isConferenceLossyPacket` go to
 * `Conferences.handlePacket` (from friends and non-friends alike, before the Messenger sees
 * them), every friend_connection status change to `Conferences.handleConnection`, and the
 * Messenger gets `conferenceMessengerExtension` (invites + timers). test/tox/conference/attach.ts
 * does exactly this from the outside.
 */
import { toHex } from "../bytes.js";
import type { FriendConnections } from "../friend-connection/friend-connections.js";
import { LazyMap, LazySet } from "../lazy-collections.js";
import type { Messenger, MessengerExtension } from "../messenger/messenger.js";
import type { Conferences, ConferenceTransport } from "./conferences.js";
import {
  PACKET_ID_DIRECT_CONFERENCE,
  PACKET_ID_INVITE_CONFERENCE,
  PACKET_ID_LOSSY_CONFERENCE,
  PACKET_ID_MESSAGE_CONFERENCE,
  PACKET_ID_ONLINE_PACKET,
  PACKET_ID_REJOIN_CONFERENCE,
} from "./packets.js";

export interface ConferenceWiringDeps {
  fc: Pick<FriendConnections, "add" | "remove" | "status" | "info" | "sendLossless" | "sendLossy">;
  messenger: Pick<Messenger, "sendPacket" | "hasFriend">;
  /** Start finding a non-friend peer under its DHT key (Identity: `learnDhtPk`). */
  findPeer(realPk: Uint8Array, dhtPk: Uint8Array): void;
  /** Stop that search (Identity: drop the `dhtSearch` entry). */
  forgetPeer?(realPk: Uint8Array): void;
}

export interface ConferenceLinks extends ConferenceTransport {
  /** Removes every non-friend entry we created (their peers get KILL); for identity shutdown. */
  closeAll(): void;
}

export function conferenceTransport(deps: ConferenceWiringDeps): ConferenceLinks {
  const { fc, messenger } = deps;
  /** Non-friend entries we created (so we never remove a friend's entry). */
  const ours = new LazySet<string>();
  const keys = new LazyMap<string, Uint8Array>();
  return {
    sendLossless: (pk, data) => fc.sendLossless(pk, data, false),
    sendLossy: (pk, data) => fc.sendLossy(pk, data),
    isConnected: (pk) => fc.status(pk) === "connected",
    sendToFriend: (pk, data) => messenger.sendPacket(pk, data, false) !== -1,
    dhtKeyOf: (pk) => fc.info(pk)?.dhtPk ?? undefined,
    openConnection: (pk, tempPk) => {
      if (messenger.hasFriend(pk)) return;
      const hex = toHex(pk);
      if (!ours.has(hex)) {
        ours.add(hex);
        keys.set(hex, Uint8Array.from(pk));
        fc.add(pk);
      }
      deps.findPeer(pk, tempPk);
    },
    closeConnection: (pk) => {
      const hex = toHex(pk);
      keys.delete(hex);
      if (!ours.delete(hex) || messenger.hasFriend(pk)) return;
      deps.forgetPeer?.(pk);
      fc.remove(pk);
    },
    closeAll() {
      for (const pk of [...keys.values()]) this.closeConnection(pk);
    },
  };
}

/** Lossless ids the conference layer takes from any friend_connection (97-100). */
export function isConferenceSessionPacket(data: Uint8Array): boolean {
  const id = data[0];
  return (
    id === PACKET_ID_ONLINE_PACKET ||
    id === PACKET_ID_DIRECT_CONFERENCE ||
    id === PACKET_ID_MESSAGE_CONFERENCE ||
    id === PACKET_ID_REJOIN_CONFERENCE
  );
}

export function isConferenceLossyPacket(data: Uint8Array): boolean {
  return data[0] === PACKET_ID_LOSSY_CONFERENCE;
}

/** Lossless ids the conference layer takes through the Messenger (friends only). */
export const CONFERENCE_MESSENGER_PACKET_IDS: readonly number[] = [PACKET_ID_INVITE_CONFERENCE];

/**
 * The Messenger extension for invites (96, friends only, after ONLINE), which also drives
 * Conferences' timers through the Messenger's tick.
 */
export function conferenceMessengerExtension(conferences: Conferences): MessengerExtension {
  return {
    packetIds: CONFERENCE_MESSENGER_PACKET_IDS,
    handlePacket: (pk, data) => conferences.handleFriendPacket(pk, data),
    tick: () => conferences.tick(),
    nextTickIn: () => conferences.nextTickIn(),
  };
}
