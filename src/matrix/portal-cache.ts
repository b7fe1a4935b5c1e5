/**
 * The Matrix portals (DM room per account and Tox friend) with an in-memory cache in front of the
 * store: every bridged event asks "is this room a portal, and whose?", and answering from memory
 * instead of two queries is most of the frontend's cost per message. This frontend is the only
 * writer of Matrix portals, so the cache stays exact as long as all writes go through here; an
 * account's id never changes owner (ids are not reused), so owners are cached for good.
 */
import type { NewPortal, Portal, Store } from "../store/index.js";
import { fromHex } from "../tox/index.js";

export class PortalCache {
  private readonly byRoom = new Map<string, Portal | null>();
  private readonly byTarget = new Map<string, Portal | null>();
  private readonly owners = new Map<number, string | null>();

  constructor(private readonly store: Store) {}

  async inRoom(roomId: string): Promise<Portal | null> {
    let p = this.byRoom.get(roomId);
    if (p === undefined) {
      p = await this.store.portals.getByRemote("matrix", roomId);
      this.byRoom.set(roomId, p);
      if (p !== null) this.byTarget.set(targetKey(p.accountId, hexOf(p.targetKey)), p);
    }
    return p;
  }

  async forFriend(accountId: number, friend: string): Promise<Portal | null> {
    const key = targetKey(accountId, friend);
    let p = this.byTarget.get(key);
    if (p === undefined) {
      p = await this.store.portals.getByTarget(accountId, "friend", fromHex(friend), "matrix");
      this.byTarget.set(key, p);
      if (p !== null) this.byRoom.set(p.remoteId, p);
    }
    return p;
  }

  /** The Matrix user owning an account, or null when the account is gone. */
  async ownerOf(accountId: number): Promise<string | null> {
    let owner = this.owners.get(accountId);
    if (owner === undefined) {
      owner = (await this.store.accounts.get(accountId))?.ownerId ?? null;
      // A missing account is not cached: it may be a race with its creation.
      if (owner !== null) this.owners.set(accountId, owner);
    }
    return owner;
  }

  async create(portal: Omit<NewPortal, "network">): Promise<Portal> {
    const p = await this.store.portals.create({ ...portal, network: "matrix" });
    this.byRoom.set(p.remoteId, p);
    this.byTarget.set(targetKey(p.accountId, hexOf(p.targetKey)), p);
    return p;
  }

  async delete(portal: Portal): Promise<void> {
    this.byRoom.delete(portal.remoteId);
    this.byTarget.delete(targetKey(portal.accountId, hexOf(portal.targetKey)));
    await this.store.portals.delete(portal.id);
  }

  /** Forgets everything about an account (its portals went with it, by cascade). */
  forgetAccount(accountId: number): void {
    for (const [room, p] of this.byRoom) if (p?.accountId === accountId) this.byRoom.delete(room);
    for (const [key, p] of this.byTarget)
      if (p?.accountId === accountId || key.startsWith(`${accountId}:`)) this.byTarget.delete(key);
  }
}

const hexOf = (key: Uint8Array) => Buffer.from(key).toString("hex");
const targetKey = (accountId: number, friend: string) => `${accountId}:${friend.toLowerCase()}`;
