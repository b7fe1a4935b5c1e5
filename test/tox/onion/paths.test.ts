import { describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/tox/clock.js";
import { newKeyPair } from "../../../src/tox/crypto.js";
import {
  NUMBER_ONION_PATHS,
  ONION_PATH_FIRST_TIMEOUT_MS,
  ONION_PATH_MAX_LIFETIME_MS,
  ONION_PATH_TIMEOUT_MS,
  OnionPathSet,
} from "../../../src/tox/onion/paths.js";
import { ipPort, type NodeInfo } from "../../../src/tox/wire/ipport.js";

const node = (port: number): NodeInfo => ({
  protocol: "udp",
  ipPort: ipPort("127.0.0.1", port),
  publicKey: newKeyPair().publicKey,
});

function setup() {
  const clock = new ManualClock();
  const set = new OnionPathSet(clock);
  let built = 0;
  const pick = () => {
    built++;
    return [node(1), node(2), node(3)] as [NodeInfo, NodeInfo, NodeInfo];
  };
  return { clock, set, pick, builds: () => built, dht: newKeyPair() };
}

describe("onion path set", () => {
  it("names paths so that pathNum % 6 is the slot; first hop uses our DHT key", () => {
    const { set, pick, dht } = setup();
    const p = set.use(3, pick, dht)!;
    expect(p.pathNum % NUMBER_ONION_PATHS).toBe(3);
    expect(p.keys.publicKeys[0]).toEqual(dht.publicKey);
    expect(p.keys.publicKeys[1]).not.toEqual(dht.publicKey);
    expect(set.exists(p.pathNum)).toBe(true);
    expect(set.exists(p.pathNum + NUMBER_ONION_PATHS)).toBe(false);
  });

  it("a new path unanswered after 2 more uses and 4 s is replaced; an answered one after 10 s", () => {
    const { clock, set, pick, dht, builds } = setup();
    const p = set.use(0, pick, dht)!;
    set.use(0, pick, dht);
    clock.advance(ONION_PATH_FIRST_TIMEOUT_MS + 1);
    expect(set.use(0, pick, dht)!.pathNum).not.toBe(p.pathNum);
    expect(builds()).toBe(2);

    const q = set.use(1, pick, dht)!;
    clock.advance(1000);
    expect(set.replied(q.pathNum)).not.toBeNull();
    for (let i = 0; i < 4; i++) set.use(1, pick, dht);
    clock.advance(ONION_PATH_FIRST_TIMEOUT_MS + 1);
    expect(set.use(1, pick, dht)!.pathNum).toBe(q.pathNum);
    clock.advance(ONION_PATH_TIMEOUT_MS + 1);
    expect(set.use(1, pick, dht)!.pathNum).not.toBe(q.pathNum);
  });

  it("paths live at most 20 minutes even when they work; replies on a replaced path are ignored", () => {
    const { clock, set, pick, dht } = setup();
    const p = set.use(2, pick, dht)!;
    for (let t = 0; t < ONION_PATH_MAX_LIFETIME_MS; t += 60_000) {
      clock.advance(60_000);
      set.replied(p.pathNum);
    }
    clock.advance(1);
    const next = set.use(2, pick, dht)!;
    expect(next.pathNum).not.toBe(p.pathNum);
    expect(set.replied(p.pathNum)).toBeNull();
  });

  it("returns null when there are not enough nodes", () => {
    const { set, dht } = setup();
    expect(set.use(undefined, () => null, dht)).toBeNull();
  });
});
