import { describe, expect, it } from "vitest";
import { toHex } from "../../../src/tox/bytes.js";
import {
  conferenceTransport,
  isConferenceLossyPacket,
  isConferenceSessionPacket,
} from "../../../src/tox/conference/wiring.js";
import { newKeyPair } from "../../../src/tox/crypto.js";

function fakes(friends: Uint8Array[]) {
  const log: string[] = [];
  const friendSet = new Set(friends.map((f) => toHex(f)));
  const t = conferenceTransport({
    fc: {
      add: (pk) => log.push(`add ${toHex(pk).slice(0, 4)}`),
      remove: (pk) => log.push(`remove ${toHex(pk).slice(0, 4)}`),
      status: () => "connected",
      info: () => undefined,
      sendLossless: (_pk, _d, cc) => {
        log.push(`lossless cc=${cc}`);
        return 7;
      },
      sendLossy: () => true,
    },
    messenger: {
      sendPacket: (_pk, _d, cc) => {
        log.push(`messenger cc=${cc}`);
        return 3;
      },
      hasFriend: (pk) => friendSet.has(toHex(pk)),
    },
    findPeer: (pk) => log.push(`find ${toHex(pk).slice(0, 4)}`),
    forgetPeer: (pk) => log.push(`forget ${toHex(pk).slice(0, 4)}`),
  });
  return { t, log };
}

describe("conferenceTransport", () => {
  it("opens friend_connection entries only for non-friends and removes only its own", () => {
    const friend = newKeyPair().publicKey;
    const stranger = newKeyPair().publicKey;
    const { t, log } = fakes([friend]);
    const dht = newKeyPair().publicKey;
    t.openConnection(friend, dht);
    t.closeConnection(friend);
    expect(log).toEqual([]);
    t.openConnection(stranger, dht);
    t.openConnection(stranger, dht);
    t.closeConnection(stranger);
    t.closeConnection(stranger);
    const s = toHex(stranger).slice(0, 4);
    expect(log).toEqual([`add ${s}`, `find ${s}`, `find ${s}`, `forget ${s}`, `remove ${s}`]);
    log.length = 0;
    t.openConnection(stranger, dht);
    t.openConnection(friend, dht);
    t.closeAll();
    t.closeAll();
    expect(log).toEqual([`add ${s}`, `find ${s}`, `forget ${s}`, `remove ${s}`]);
  });

  it("sends conference packets without congestion control, invites through the Messenger", () => {
    const { t, log } = fakes([]);
    const pk = newKeyPair().publicKey;
    expect(t.sendLossless(pk, Uint8Array.of(99))).toBe(7);
    expect(t.sendToFriend(pk, Uint8Array.of(96))).toBe(true);
    expect(log).toEqual(["lossless cc=false", "messenger cc=false"]);
  });

  it("routes 97-100 and 199, leaves everything else", () => {
    expect([96, 97, 98, 99, 100, 101, 64].map((id) => isConferenceSessionPacket(Uint8Array.of(id)))).toEqual([
      false,
      true,
      true,
      true,
      true,
      false,
      false,
    ]);
    expect(isConferenceLossyPacket(Uint8Array.of(199))).toBe(true);
    expect(isConferenceLossyPacket(Uint8Array.of(200))).toBe(false);
  });
});
