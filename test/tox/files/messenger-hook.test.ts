import { describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/tox/clock.js";
import { newKeyPair } from "../../../src/tox/crypto.js";
import { Messenger, type MessengerExtension } from "../../../src/tox/messenger/messenger.js";

function setup(windowFree?: (pk: Uint8Array) => number) {
  const sent: Array<[Uint8Array, boolean | undefined]> = [];
  const m = new Messenger({
    clock: new ManualClock(),
    transport: {
      sendLossless: (_pk, d, cc) => {
        sent.push([d, cc]);
        return sent.length;
      },
      ...(windowFree ? { windowFree } : {}),
    },
    events: {
      onConnection: () => {},
      onMessage: () => {},
      onReadReceipt: () => {},
      onName: () => {},
      onStatusMessage: () => {},
      onStatus: () => {},
      onTyping: () => {},
    },
  });
  const log: string[] = [];
  const ext: MessengerExtension = {
    packetIds: [80, 81, 82],
    handlePacket: (_pk, d) => log.push(`packet ${d[0]}`),
    handleOnline: (_pk, on) => log.push(`online ${on}`),
    handleAcked: (_pk, n) => log.push(`acked ${n}`),
    tick: () => log.push("tick"),
    nextTickIn: () => 7,
  };
  m.attach(ext);
  const pk = newKeyPair().publicKey;
  m.addFriend(pk);
  return { m, ext, log, pk, sent };
}

describe("Messenger extension hook", () => {
  it("routes owned ids only while online, and online/offline, acks, ticks", () => {
    const { m, log, pk } = setup();
    m.handleConnection(pk, true);
    m.handlePacket(pk, Uint8Array.of(80, 1)); // before ONLINE: dropped like everything else
    m.handlePacket(pk, Uint8Array.of(24));
    m.handlePacket(pk, Uint8Array.of(82, 0, 9));
    m.handleAcked(pk, 3);
    m.tick();
    expect(m.nextTickIn()).toBeLessThanOrEqual(7);
    m.handleConnection(pk, false);
    m.handlePacket(pk, Uint8Array.of(81, 0, 0, 0));
    expect(log).toEqual(["online true", "packet 82", "acked 3", "tick", "online false"]);
  });

  it("sends raw packets with congestion control only to online friends; window from the transport", () => {
    const { m, pk, sent } = setup((_pk) => 42);
    expect(m.sendPacket(pk, Uint8Array.of(82, 0))).toBe(-1);
    expect(m.sendWindowFree(pk)).toBe(0);
    m.handleConnection(pk, true);
    m.handlePacket(pk, Uint8Array.of(24));
    const before = sent.length;
    expect(m.sendPacket(pk, Uint8Array.of(82, 0))).toBe(before + 1);
    expect(sent.at(-1)![1]).toBe(true);
    expect(m.sendWindowFree(pk)).toBe(42);
    expect(m.isOnline(pk)).toBe(true);
  });

  it("refuses a second owner for a packet id; tells extensions when an online friend is removed", () => {
    const { m, ext, log, pk } = setup();
    expect(() => m.attach(ext)).toThrow(/already has an extension/);
    m.handleConnection(pk, true);
    m.handlePacket(pk, Uint8Array.of(24));
    m.removeFriend(pk);
    expect(log).toEqual(["online true", "online false"]);
  });
});
