/**
 * Gives a test the Conferences of a ToxNode Identity with the test's own event handlers (the
 * node's conference events stop for that identity). Identity wires conferences itself; the
 * fallback builds the same wiring from the outside (private fields on purpose) for a checkout
 * whose Identity does not.
 */
import { toHex } from "../../../src/tox/bytes.js";
import { systemClock } from "../../../src/tox/clock.js";
import { type ConferenceEvents, Conferences } from "../../../src/tox/conference/conferences.js";
import {
  conferenceMessengerExtension,
  conferenceTransport,
  isConferenceLossyPacket,
  isConferenceSessionPacket,
} from "../../../src/tox/conference/wiring.js";
import type {
  FriendConnectionEvents,
  FriendConnections,
} from "../../../src/tox/friend-connection/friend-connections.js";
import type { Messenger } from "../../../src/tox/messenger/messenger.js";
import type { Identity } from "../../../src/tox/node/identity.js";

interface IdentityInternals {
  /** Identity wires conferences itself now; the fallback below covers older checkouts. */
  conferences?: Conferences;
  messenger: Messenger;
  fc: FriendConnections;
  dht: { keyPair: { publicKey: Uint8Array }; removeFriend(dhtPk: Uint8Array, lock: number): void };
  dhtSearch: Map<string, { dhtPk: Uint8Array; lock: number }>;
  learnDhtPk(pk: Uint8Array, dhtPk: Uint8Array): void;
  wake(): void;
}

export function attachConferences(identity: Identity, events: ConferenceEvents): Conferences {
  const inner = identity as unknown as IdentityInternals;
  if (inner.conferences instanceof Conferences) {
    // Already wired by Identity: only route the events to this test instead of the node.
    (inner.conferences as unknown as { events: ConferenceEvents }).events = events;
    return inner.conferences;
  }
  const conferences = new Conferences({
    clock: systemClock,
    selfPk: identity.publicKeyBytes,
    selfDhtPk: () => inner.dht.keyPair.publicKey,
    selfName: () => inner.messenger.selfName,
    events,
    transport: conferenceTransport({
      fc: inner.fc,
      messenger: inner.messenger,
      findPeer: (pk, dhtPk) => {
        inner.learnDhtPk(pk, dhtPk);
        inner.wake();
      },
      forgetPeer: (pk) => {
        const s = inner.dhtSearch.get(toHex(pk));
        if (s === undefined) return;
        inner.dht.removeFriend(s.dhtPk, s.lock);
        inner.dhtSearch.delete(toHex(pk));
      },
    }),
  });
  inner.messenger.attach(conferenceMessengerExtension(conferences));
  // friend_connection input: conference packets from any session (friend or not) go to the
  // conference layer first, as group.c's own friend_connection callbacks receive them.
  const ev = (inner.fc as unknown as { events: FriendConnectionEvents }).events;
  const onPacket = ev.onPacket.bind(ev);
  const onStatus = ev.onStatus.bind(ev);
  const onLossy = ev.onLossy?.bind(ev);
  ev.onPacket = (pk, data) => {
    if (isConferenceSessionPacket(data)) conferences.handlePacket(pk, data);
    else onPacket(pk, data);
  };
  ev.onLossy = (pk, data) => {
    if (isConferenceLossyPacket(data)) conferences.handlePacket(pk, data);
    else onLossy?.(pk, data);
  };
  ev.onStatus = (pk, up) => {
    onStatus(pk, up);
    conferences.handleConnection(pk, up);
  };
  return conferences;
}
