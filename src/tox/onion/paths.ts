/**
 * A set of onion paths (c-toxcore `Onion_Client_Paths`): 6 slots of 3-node paths, each with its
 * precomputed layer keys. A path is replaced when it is 20 minutes old, or when it was used 4
 * times without any reply for 4 s (new path) / 10 s (path that worked before). Paths are named by
 * a random `pathNum` whose value mod 6 is the slot, so a reply naming a replaced path is ignored.
 */
import type { Clock } from "../clock.js";
import { type KeyPair, newKeyPair, precompute, randomU32 } from "../crypto.js";
import type { NodeInfo } from "../wire/ipport.js";
import type { OnionPathKeys } from "../wire/onion.js";

export const NUMBER_ONION_PATHS = 6;
export const ONION_PATH_FIRST_TIMEOUT_MS = 4_000;
export const ONION_PATH_TIMEOUT_MS = 10_000;
export const ONION_PATH_MAX_LIFETIME_MS = 1_200_000;
export const ONION_PATH_MAX_NO_RESPONSE_USES = 4;

export interface OnionPath {
  keys: OnionPathKeys;
  pathNum: number;
  createdAt: number;
  lastSuccess: number;
  lastUsed: number;
  usesWithoutReply: number;
}

/** Builds path keys: our DHT key for the first hop, fresh random keys for hops 2 and 3. */
export function createPathKeys(
  nodes: readonly [NodeInfo, NodeInfo, NodeInfo],
  dhtKeys: KeyPair,
): OnionPathKeys {
  const k2 = newKeyPair();
  const k3 = newKeyPair();
  return {
    nodes,
    publicKeys: [dhtKeys.publicKey, k2.publicKey, k3.publicKey],
    sharedKeys: [
      precompute(nodes[0].publicKey, dhtKeys.secretKey),
      precompute(nodes[1].publicKey, k2.secretKey),
      precompute(nodes[2].publicKey, k3.secretKey),
    ],
  };
}

export class OnionPathSet {
  private readonly slots: (OnionPath | null)[] = new Array(NUMBER_ONION_PATHS).fill(null);

  constructor(private readonly clock: Clock) {}

  private timedOut(slot: number): boolean {
    const p = this.slots[slot];
    if (p == null) return true;
    const now = this.clock.now();
    const timeout = p.lastSuccess === p.createdAt ? ONION_PATH_FIRST_TIMEOUT_MS : ONION_PATH_TIMEOUT_MS;
    return (
      (p.usesWithoutReply >= ONION_PATH_MAX_NO_RESPONSE_USES && now - p.lastUsed > timeout) ||
      now - p.createdAt > ONION_PATH_MAX_LIFETIME_MS
    );
  }

  /**
   * `random_path`: the path in slot `pathNum % 6` (a random slot when undefined), replaced first
   * if it timed out. `pickNodes` supplies 3 relays for a new path; null when there are too few.
   */
  use(
    pathNum: number | undefined,
    pickNodes: () => [NodeInfo, NodeInfo, NodeInfo] | null,
    dhtKeys: KeyPair,
  ): OnionPath | null {
    const slot = pathNum === undefined ? randomU32() % NUMBER_ONION_PATHS : pathNum % NUMBER_ONION_PATHS;
    const now = this.clock.now();
    if (this.timedOut(slot)) {
      const nodes = pickNodes();
      if (nodes === null) return null;
      this.slots[slot] = {
        keys: createPathKeys(nodes, dhtKeys),
        pathNum: Math.floor(randomU32() / NUMBER_ONION_PATHS) * NUMBER_ONION_PATHS + slot,
        createdAt: now,
        lastSuccess: now,
        lastUsed: now,
        usesWithoutReply: ONION_PATH_MAX_NO_RESPONSE_USES / 2,
      };
    }
    const path = this.slots[slot]!;
    if (path.usesWithoutReply < ONION_PATH_MAX_NO_RESPONSE_USES) path.lastUsed = now;
    path.usesWithoutReply++;
    return path;
  }

  /** `set_path_timeouts`: a reply came back over `pathNum`; returns its nodes, or null if the path is gone. */
  replied(pathNum: number): readonly NodeInfo[] | null {
    const path = this.slots[pathNum % NUMBER_ONION_PATHS];
    if (path == null || path.pathNum !== pathNum) return null;
    path.lastSuccess = this.clock.now();
    path.usesWithoutReply = 0;
    return path.keys.nodes;
  }

  /** `path_exists`: the path is alive and still the one named `pathNum`. */
  exists(pathNum: number): boolean {
    return (
      !this.timedOut(pathNum % NUMBER_ONION_PATHS) &&
      this.slots[pathNum % NUMBER_ONION_PATHS]?.pathNum === pathNum
    );
  }

  get(pathNum: number): OnionPath | null {
    return this.slots[pathNum % NUMBER_ONION_PATHS] ?? null;
  }
}
