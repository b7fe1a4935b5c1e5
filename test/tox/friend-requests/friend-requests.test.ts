import { describe, expect, it } from "vitest";
import { formatAddress } from "../../../src/tox/address.js";
import { toHex } from "../../../src/tox/bytes.js";
import type { KeyPair } from "../../../src/tox/crypto.js";
import { FriendRequests, type IncomingRequest } from "../../../src/tox/friend-requests/friend-requests.js";
import type { OnionClient } from "../../../src/tox/onion/client.js";
import { ONION_DATA_FRIEND_REQUEST } from "../../../src/tox/wire/onion.js";
import { OnionTestNetwork } from "../onion/network.js";

/** One identity: onion client + friend requests, wired the way the messenger will wire them. */
function identity(net: OnionTestNetwork, nospam: Uint8Array) {
  const friends = new Set<string>();
  const incoming: IncomingRequest[] = [];
  const learned = new Map<string, string>();
  let fr: FriendRequests | undefined;
  const c = net.addClient({
    onData: (sender, type, payload) => {
      if (type === ONION_DATA_FRIEND_REQUEST) fr?.handleOnionRequest(sender, payload);
    },
    onDhtPk: (friendPk, dhtPk) => learned.set(toHex(friendPk), toHex(dhtPk)),
  });
  const client: OnionClient = c.client;
  fr = new FriendRequests({
    clock: net.clock,
    ownPk: c.realKeys.publicKey,
    nospam: () => nospam,
    isFriend: (pk) => friends.has(toHex(pk)),
    transport: {
      searchFor: (pk) => client.addFriend(pk),
      stopSearching: (pk) => client.removeFriend(pk),
      sendOnion: (pk, payload) => client.sendData(pk, ONION_DATA_FRIEND_REQUEST, payload),
    },
    onRequest: (r) => incoming.push(r),
  });
  const keys: KeyPair = c.realKeys;
  return {
    client,
    fr,
    keys,
    friends,
    incoming,
    learned,
    dhtKeys: c.dhtKeys,
    toxId: formatAddress({ publicKey: keys.publicKey, nospam }),
  };
}

describe("friend requests over the in-memory onion network", () => {
  it("A adds B by Tox ID alone; B receives it, accepts, and both learn each other's DHT key", () => {
    const net = new OnionTestNetwork(10);
    const a = identity(net, Uint8Array.of(1, 1, 1, 1));
    const b = identity(net, Uint8Array.of(2, 2, 2, 2));
    const tick = () => {
      a.fr.tick();
      b.fr.tick();
    };
    const added = a.fr.addFriend(b.toxId, "hi from A");
    expect(added.ok).toBe(true);
    const s = net.runUntil(
      [a.client, b.client],
      () => {
        tick();
        net.net.run();
        return b.incoming.length > 0;
      },
      120,
    );
    expect(s).toBeGreaterThan(0);
    expect(b.incoming).toHaveLength(1);
    expect(toHex(b.incoming[0]!.publicKey)).toBe(toHex(a.keys.publicKey));
    expect(new TextDecoder().decode(b.incoming[0]!.message)).toBe("hi from A");

    // B accepts: becomes A's friend without a request (the messenger's m_addfriend_norequest).
    const accepted = b.fr.accept(a.keys.publicKey);
    expect(accepted).toBeDefined();
    b.friends.add(toHex(a.keys.publicKey));
    b.client.addFriend(a.keys.publicKey);
    a.friends.add(toHex(b.keys.publicKey));
    net.runUntil(
      [a.client, b.client],
      () => {
        tick();
        net.net.run();
        return a.learned.size > 0 && b.learned.size > 0;
      },
      120,
    );
    expect(a.learned.get(toHex(b.keys.publicKey))).toBe(toHex(b.dhtKeys.publicKey));
    expect(b.learned.get(toHex(a.keys.publicKey))).toBe(toHex(a.dhtKeys.publicKey));
    // Resends of A's request (every 5 s doubling) were dropped as duplicates, never re-shown.
    expect(b.incoming).toHaveLength(1);
    a.fr.friendConnected(b.keys.publicKey);
    expect(a.fr.outgoing.list()).toHaveLength(0);
  });

  it("a request with a stale nospam is not delivered; declining blocks repeats", () => {
    const net = new OnionTestNetwork(8);
    const a = identity(net, Uint8Array.of(1, 1, 1, 1));
    const b = identity(net, Uint8Array.of(2, 2, 2, 2));
    const stale = formatAddress({ publicKey: b.keys.publicKey, nospam: Uint8Array.of(9, 9, 9, 9) });
    a.fr.addFriend(stale, "hello?");
    net.runUntil(
      [a.client, b.client],
      () => {
        a.fr.tick();
        net.net.run();
        return (a.fr.outgoing.get(b.keys.publicKey)?.sends ?? 0) >= 2;
      },
      120,
    );
    expect(a.fr.outgoing.get(b.keys.publicKey)!.sends).toBeGreaterThanOrEqual(2);
    expect(b.incoming).toHaveLength(0);

    // Correct nospam now: delivered once; B declines; A's later resends stay hidden.
    a.fr.addFriend(b.toxId, "hello!");
    net.runUntil(
      [a.client, b.client],
      () => {
        a.fr.tick();
        net.net.run();
        return b.incoming.length > 0;
      },
      60,
    );
    expect(b.incoming).toHaveLength(1);
    expect(b.fr.decline(a.keys.publicKey)).toBe(true);
    expect(b.fr.pendingIncoming()).toHaveLength(0);
    net.runUntil(
      [a.client, b.client],
      () => {
        a.fr.tick();
        net.net.run();
        return false;
      },
      60,
    );
    expect(b.incoming).toHaveLength(1);
  });
});
