/**
 * Node entries and the list operations shared by the close list and the per-friend lists
 * (DHT.c `Client_data`, `client_or_ip_port_in_list`, `replace_all`, `add_to_list`).
 *
 * A node keeps separate IPv4 and IPv6 associations, each with its own "last heard" time; a node
 * is good while either association was heard from within BAD_NODE_TIMEOUT.
 */
import { type IpPort, ipPortEqual, isLanAddress } from "../wire/ipport.js";
import { BAD_NODE_TIMEOUT_MS } from "./constants.js";
import { compareDistance, keysEqual } from "./distance.js";

export interface Assoc {
  ipPort: IpPort;
  /** When we last heard from the node at this address (0 = never). */
  heardAt: number;
  /** When we last sent it a liveness nodes request. */
  lastPingedAt: number;
  /** The address this node reported for the key it was listed under (friend's or ours). */
  returnedIpPort: IpPort | undefined;
  returnedAt: number;
}

export interface ClientEntry {
  publicKey: Uint8Array;
  assoc4: Assoc | undefined;
  assoc6: Assoc | undefined;
}

export type Slot = ClientEntry | undefined;

export function newAssoc(ipPort: IpPort, now: number): Assoc {
  return { ipPort, heardAt: now, lastPingedAt: 0, returnedIpPort: undefined, returnedAt: 0 };
}

export function assocGood(a: Assoc | undefined, now: number): a is Assoc {
  return a !== undefined && a.heardAt + BAD_NODE_TIMEOUT_MS > now;
}

export function entryGood(e: Slot, now: number): e is ClientEntry {
  return e !== undefined && (assocGood(e.assoc4, now) || assocGood(e.assoc6, now));
}

export function assocFor(e: ClientEntry, family: 4 | 6): Assoc | undefined {
  return family === 4 ? e.assoc4 : e.assoc6;
}

export function indexOfKey(list: readonly Slot[], pk: Uint8Array): number {
  for (let i = 0; i < list.length; i++) {
    const e = list[i];
    if (e && keysEqual(e.publicKey, pk)) return i;
  }
  return -1;
}

/** The address of an entry to use now: a good one, IPv4 preferred on ties by recency. */
export function bestAssoc(e: ClientEntry, now: number): Assoc | undefined {
  const g4 = assocGood(e.assoc4, now) ? e.assoc4 : undefined;
  const g6 = assocGood(e.assoc6, now) ? e.assoc6 : undefined;
  if (g4 && g6) return g4.heardAt >= g6.heardAt ? g4 : g6;
  return g4 ?? g6;
}

function setAssoc(e: ClientEntry, a: Assoc): void {
  if (a.ipPort.family === 4) e.assoc4 = a;
  else e.assoc6 = a;
}

/**
 * `client_or_ip_port_in_list`: if the key is listed, refresh it (a LAN address never replaces a
 * public one: the node may be reachable both ways and only the public one is useful to others);
 * else if the address is listed under another key, the node restarted with a new key: take the
 * slot over. Returns true if the node is now in the list.
 */
export function refreshInList(list: Slot[], pk: Uint8Array, ipPort: IpPort, now: number): boolean {
  const i = indexOfKey(list, pk);
  if (i >= 0) {
    const e = list[i]!;
    const a = assocFor(e, ipPort.family);
    if (a && !isLanAddress(a.ipPort) && isLanAddress(ipPort)) return true;
    if (a && ipPortEqual(a.ipPort, ipPort)) a.heardAt = now;
    else setAssoc(e, { ...newAssoc(ipPort, now), lastPingedAt: a?.lastPingedAt ?? 0 });
    return true;
  }
  for (let j = 0; j < list.length; j++) {
    const e = list[j];
    if (!e) continue;
    const a = assocFor(e, ipPort.family);
    if (a && ipPortEqual(a.ipPort, ipPort)) {
      list[j] = { publicKey: Uint8Array.from(pk), assoc4: undefined, assoc6: undefined };
      setAssoc(list[j]!, { ...newAssoc(ipPort, now), lastPingedAt: a.lastPingedAt });
      return true;
    }
  }
  return false;
}

/** A fresh entry holding only this address (`update_client_with_reset`). */
export function freshEntry(pk: Uint8Array, ipPort: IpPort, now: number): ClientEntry {
  const e: ClientEntry = { publicKey: Uint8Array.from(pk), assoc4: undefined, assoc6: undefined };
  setAssoc(e, newAssoc(ipPort, now));
  return e;
}

/** Whether `pk` would displace something in a friend list searched for `target` (`store_node_ok`). */
export function friendListWouldStore(
  list: readonly Slot[],
  pk: Uint8Array,
  target: Uint8Array,
  now: number,
): boolean {
  for (const e of list) {
    if (!entryGood(e, now)) return true;
    if (compareDistance(target, e.publicKey, pk) > 0) return true;
  }
  return false;
}

/**
 * `replace_all` for a friend list: replace an empty or bad entry, else the farthest entry from
 * `target` if the new key is closer. Returns true if stored.
 */
export function storeInFriendList(
  list: Slot[],
  pk: Uint8Array,
  ipPort: IpPort,
  target: Uint8Array,
  now: number,
): boolean {
  let victim = -1;
  for (let i = 0; i < list.length; i++) {
    const e = list[i];
    if (!entryGood(e, now)) {
      victim = i;
      break;
    }
    if (compareDistance(target, e.publicKey, pk) > 0) {
      if (victim < 0 || compareDistance(target, e.publicKey, list[victim]!.publicKey) > 0) victim = i;
    }
  }
  if (victim < 0) return false;
  list[victim] = freshEntry(pk, ipPort, now);
  return true;
}

export interface Candidate {
  publicKey: Uint8Array;
  ipPort: IpPort;
}

/**
 * `add_to_list`: keep `list` (max `length`) as the closest keys to `target`, without
 * duplicates. Returns true if the candidate was inserted.
 */
export function addClosest(list: Candidate[], length: number, c: Candidate, target: Uint8Array): boolean {
  if (list.some((x) => keysEqual(x.publicKey, c.publicKey))) return false;
  let pos = list.length;
  while (pos > 0 && compareDistance(target, c.publicKey, list[pos - 1]!.publicKey) < 0) pos--;
  if (pos >= length) return false;
  list.splice(pos, 0, c);
  if (list.length > length) list.length = length;
  return true;
}
