/**
 * The close list (DHT.c `close_clientlist`): 128 buckets of 8 nodes, a node's bucket being the
 * number of leading bits its key shares with ours (capped at 127). A slot is free when its node
 * has not been heard from within BAD_NODE_TIMEOUT; good nodes are never displaced by closer ones
 * (c-toxcore's rule, which also resists list takeover by key grinding).
 */
import type { IpPort } from "../wire/ipport.js";
import { ipPortEqual } from "../wire/ipport.js";
import { type ClientEntry, entryGood, freshEntry, refreshInList, type Slot } from "./client-list.js";
import { LCLIENT_LENGTH, LCLIENT_LIST, LCLIENT_NODES } from "./constants.js";
import { commonPrefixBits, keysEqual } from "./distance.js";

export class CloseList {
  /** Flat slots, bucket b at [b*8, b*8+8). */
  readonly slots: Slot[];

  /** `allocate` false: an always-empty list (a leaf DHT keeps none; saves 1,024 slots). */
  constructor(
    private readonly selfPk: Uint8Array,
    allocate = true,
  ) {
    this.slots = allocate ? new Array(LCLIENT_LIST) : [];
  }

  bucketOf(pk: Uint8Array): number {
    return Math.min(commonPrefixBits(pk, this.selfPk), LCLIENT_LENGTH - 1);
  }

  entry(pk: Uint8Array): ClientEntry | undefined {
    const base = this.bucketOf(pk) * LCLIENT_NODES;
    for (let i = base; i < base + LCLIENT_NODES; i++) {
      const e = this.slots[i];
      if (e && keysEqual(e.publicKey, pk)) return e;
    }
    return undefined;
  }

  /** `add_to_close(simulate)`: whether the key's bucket has a free (empty or bad) slot. */
  addable(pk: Uint8Array, now: number): boolean {
    return this.freeSlot(pk, now) >= 0;
  }

  private freeSlot(pk: Uint8Array, now: number): number {
    const base = this.bucketOf(pk) * LCLIENT_NODES;
    for (let i = base; i < base + LCLIENT_NODES; i++) if (!entryGood(this.slots[i], now)) return i;
    return -1;
  }

  /**
   * We heard from `pk` at `from`: refresh its entry, or take a free slot in its bucket. A new key
   * at an address already listed is that node restarted with a fresh DHT key (c-toxcore makes
   * one per start): the old key's address is forgotten so we stop handing it out.
   * Returns true if the node is now listed.
   */
  heardFrom(pk: Uint8Array, from: IpPort, now: number): boolean {
    const base = this.bucketOf(pk) * LCLIENT_NODES;
    const bucket = this.slots.slice(base, base + LCLIENT_NODES);
    if (refreshInList(bucket, pk, from, now)) {
      for (let i = 0; i < LCLIENT_NODES; i++) this.slots[base + i] = bucket[i];
      return true;
    }
    for (const e of this.slots) {
      if (e?.assoc4 && ipPortEqual(e.assoc4.ipPort, from)) e.assoc4 = undefined;
      if (e?.assoc6 && ipPortEqual(e.assoc6.ipPort, from)) e.assoc6 = undefined;
    }
    const slot = this.freeSlot(pk, now);
    if (slot < 0) return false;
    this.slots[slot] = freshEntry(pk, from, now);
    return true;
  }
}
