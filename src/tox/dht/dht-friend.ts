/**
 * A searched DHT key (DHT.c `DHT_Friend`): the 8 nodes closest to it, who wants to know when it
 * is found (locks), and NAT-traversal state. Also the two queries over such a list that NAT
 * punching and routing need: where do its nodes say the friend is, and who can relay to it.
 */
import { randomBytes } from "../crypto.js";
import { PING_ID_SIZE } from "../wire/dht.js";
import type { IpPort } from "../wire/ipport.js";
import { type Assoc, bestAssoc, type Candidate, entryGood, type Slot } from "./client-list.js";
import { BAD_NODE_TIMEOUT_MS, MAX_FRIEND_CLIENTS } from "./constants.js";
import { keysEqual } from "./distance.js";
import type { PunchState } from "./nat.js";

export interface NatState extends PunchState {
  /** The id our next NAT ping request carries; replaced once answered. */
  pingId: Uint8Array;
  pingSentAt: number;
  /** Set when our NAT ping got its response: the friend is online, punch next round. */
  readyToPunch: boolean;
  /** When the friend last NAT-pinged us (it is punching too). */
  recvPingAt: number;
  punchedAt: number;
}

export interface DhtFriend {
  publicKey: Uint8Array;
  clients: Slot[];
  /** Lock id -> callback for "friend's address found". */
  locks: Map<number, ((ipPort: IpPort) => void) | undefined>;
  /** Close candidates learned from nodes responses, asked next tick. */
  toBootstrap: Candidate[];
  lastGetNodesAt: number;
  bootstrapTimes: number;
  nat: NatState;
  /** One of the random keys searched only to spread our lists over the key space. */
  fake: boolean;
}

export function newPingId(): Uint8Array {
  const id = randomBytes(PING_ID_SIZE);
  id[7] = id[7]! | 1; // never all zero
  return id;
}

export function newDhtFriend(pk: Uint8Array, fake = false): DhtFriend {
  return {
    publicKey: Uint8Array.from(pk),
    clients: new Array(MAX_FRIEND_CLIENTS),
    locks: new Map(),
    toBootstrap: [],
    lastGetNodesAt: 0,
    bootstrapTimes: 0,
    nat: {
      pingId: newPingId(),
      pingSentAt: 0,
      readyToPunch: false,
      recvPingAt: 0,
      punchedAt: 0,
      tries: 0,
      index: 0,
      index2: 0,
    },
    fake,
  };
}

function returnedFresh(a: Assoc | undefined, now: number): boolean {
  return a?.returnedIpPort !== undefined && a.returnedAt + BAD_NODE_TIMEOUT_MS > now;
}

/**
 * `friend_iplist`: the addresses the friend's nodes report for it (one family: whichever has
 * more reports). Empty when we hear from the friend directly: no punching needed then.
 */
export function reportedAddresses(f: DhtFriend, now: number): IpPort[] {
  const v4: IpPort[] = [];
  const v6: IpPort[] = [];
  for (const e of f.clients) {
    if (!e) continue;
    if (keysEqual(e.publicKey, f.publicKey) && entryGood(e, now)) return [];
    for (const a of [e.assoc4, e.assoc6]) {
      if (returnedFresh(a, now)) (a!.returnedIpPort!.family === 4 ? v4 : v6).push(a!.returnedIpPort!);
    }
  }
  return v6.length >= v4.length ? v6 : v4;
}

/**
 * Nodes that can forward a 0x20 packet to the friend: every good node of its list (those that
 * have the friend in their close list forward, the others drop it), and among them the ones
 * that reported the friend's address, which surely can.
 */
export function relaysFor(f: DhtFriend, now: number): { all: IpPort[]; reporting: IpPort[] } {
  const all: IpPort[] = [];
  const reporting: IpPort[] = [];
  for (const e of f.clients) {
    if (!e || keysEqual(e.publicKey, f.publicKey)) continue;
    const a = bestAssoc(e, now);
    if (!a) continue;
    all.push(a.ipPort);
    if (returnedFresh(e.assoc4, now) || returnedFresh(e.assoc6, now)) reporting.push(a.ipPort);
  }
  return { all, reporting };
}
