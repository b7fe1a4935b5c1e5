/**
 * Contacts: the Tox friends of each account, including friend requests both ways. The store is
 * the record (it survives restarts and tells the Tox layer whom to add at startup); Tox events
 * keep it current (names, status messages, last seen) and are passed on to the frontend.
 */
import type { Friend, Store } from "../store/index.js";
import { formatAddress, fromHex, parseAddress, type UserStatus } from "../tox/index.js";
import { type Accounts, toAccountRef } from "./accounts.js";
import { CoreError, type CoreLogger } from "./errors.js";
import type { AccountRef, FriendView, Owner } from "./frontend.js";
import type { FrontendHub } from "./frontends.js";
import { hex, isHexKey } from "./keys.js";
import type { ToxGateway } from "./tox-gateway.js";

/** c-toxcore refuses an empty friend request message; current peers drop more than 921 bytes. */
export const MAX_FRIEND_REQUEST_LENGTH = 921;
export const DEFAULT_REQUEST_MESSAGE = "Hello! I would like to add you as a friend (sent via toxbridge).";

export class Contacts {
  constructor(
    private readonly store: Store,
    private readonly tox: ToxGateway,
    private readonly accounts: Accounts,
    private readonly frontends: FrontendHub,
    private readonly log: CoreLogger,
    private readonly now: () => Date,
  ) {}

  view(account: AccountRef, f: Friend): FriendView {
    const presence = this.tox.isOnline(account.publicKey)
      ? this.tox.friendPresence(account.publicKey, hex(f.publicKey))
      : { online: false, status: "none" as UserStatus };
    return {
      publicKey: hex(f.publicKey),
      state: f.requestState,
      name: f.name,
      statusMessage: f.statusMessage,
      online: f.requestState === "accepted" && presence.online,
      status: presence.status,
      lastSeenAt: f.lastSeenAt,
      requestMessage: f.requestState === "accepted" ? "" : f.requestMessage,
    };
  }

  /** Friends and our outgoing requests (not their incoming ones: see `requests`), oldest first. */
  async list(owner: Owner): Promise<FriendView[]> {
    const account = await this.accounts.require(owner);
    const ref = await this.ref(owner);
    const all = await this.store.friends.list(account.id);
    return all.filter((f) => f.requestState !== "pending_in").map((f) => this.view(ref, f));
  }

  async requests(owner: Owner): Promise<FriendView[]> {
    const account = await this.accounts.require(owner);
    const ref = await this.ref(owner);
    const pending = await this.store.friends.list(account.id, { requestState: "pending_in" });
    return pending.map((f) => this.view(ref, f));
  }

  /** One friend by public key; null when unknown, not a key, or the owner has no account. */
  async get(owner: Owner, friend: string): Promise<FriendView | null> {
    if (!isHexKey(friend) || (await this.accounts.get(owner)) === null) return null;
    const ref = await this.ref(owner);
    const f = await this.store.friends.get(ref.id, fromHex(friend));
    return f === null ? null : this.view(ref, f);
  }

  /** Sends a friend request to a Tox ID (accepting theirs if they asked first). */
  async add(owner: Owner, toxId: string, message = DEFAULT_REQUEST_MESSAGE): Promise<FriendView> {
    const account = await this.accounts.require(owner);
    const bare = toxId.trim().replace(/^tox:/i, "");
    if (isHexKey(bare)) {
      // A public key alone cannot carry a friend request (Tox needs the nospam), but it can
      // answer one: that is what subscribing to a contact JID of a requester means.
      const existing = await this.store.friends.get(account.id, fromHex(bare));
      if (existing?.requestState === "pending_in") return this.acceptFriend(await this.ref(owner), existing);
      if (existing?.requestState === "accepted")
        throw new CoreError("already-friend", `${describe(existing)} is already your friend.`);
      throw new CoreError(
        "bad-tox-id",
        "That is a public key, not a full Tox ID: ask your friend for their 76-character Tox ID.",
      );
    }
    const parsed = parseAddress(toxId);
    if (!parsed.ok) throw new CoreError("bad-tox-id", `That is not a valid Tox ID: ${parsed.error.message}.`);
    const pk = parsed.value.publicKey;
    if (hex(pk) === hex(account.publicKey)) throw new CoreError("own-tox-id", "That is your own Tox ID.");
    if (message.length === 0) message = DEFAULT_REQUEST_MESSAGE;
    if (Buffer.byteLength(message, "utf8") > MAX_FRIEND_REQUEST_LENGTH)
      throw new CoreError(
        "bad-argument",
        `A friend request message is at most ${MAX_FRIEND_REQUEST_LENGTH} bytes.`,
      );
    const ref = await this.ref(owner);
    const existing = await this.store.friends.get(account.id, pk);
    if (existing?.requestState === "accepted")
      throw new CoreError("already-friend", `${describe(existing)} is already your friend.`);
    if (existing?.requestState === "pending_in") return this.acceptFriend(ref, existing);
    const address = fromHex(formatAddress(parsed.value));
    const friend = await this.store.friends.upsert({
      accountId: account.id,
      publicKey: pk,
      address,
      requestState: "pending_out",
      requestMessage: message,
    });
    try {
      await this.tox.addFriend(ref.publicKey, address, message);
    } catch (err) {
      // Tox refused (it validates as c-toxcore does): leave no request behind that never went out.
      if (existing === null) await this.store.friends.delete(account.id, pk);
      throw err;
    }
    this.log.info({ account: account.id, friend: hex(pk).slice(0, 16) }, "core: friend request sent");
    return this.view(ref, friend);
  }

  async accept(owner: Owner, selector: string): Promise<FriendView> {
    const ref = await this.ref(owner);
    const friend = await this.resolve(ref, selector, ["pending_in"], "friend request");
    return this.acceptFriend(ref, friend);
  }

  async decline(owner: Owner, selector: string): Promise<FriendView> {
    const ref = await this.ref(owner);
    const friend = await this.resolve(ref, selector, ["pending_in"], "friend request");
    await this.store.friends.delete(ref.id, friend.publicKey);
    if (this.tox.isOnline(ref.publicKey)) await this.tox.declineRequest(ref.publicKey, hex(friend.publicKey));
    return this.view(ref, friend);
  }

  /** Removes a friend (or withdraws our request); its queued messages go with it. */
  async remove(owner: Owner, selector: string): Promise<FriendView> {
    const ref = await this.ref(owner);
    const friend = await this.resolve(ref, selector, ["accepted", "pending_out"], "friend");
    const view = this.view(ref, friend);
    await this.tox.removeFriend(ref.publicKey, view.publicKey);
    await this.store.friends.delete(ref.id, friend.publicKey);
    await this.frontends.tell(ref, "friendRemoved", (f) => f.friendRemoved(ref, view.publicKey));
    return view;
  }

  /**
   * Finds a friend by public key, Tox ID, 1-based position in the list the user sees (`friends`
   * or `requests`), or a unique name.
   */
  async resolve(
    account: AccountRef,
    selector: string,
    states: Friend["requestState"][],
    what: string,
  ): Promise<Friend> {
    const s = selector.trim();
    const all = (await this.store.friends.list(account.id)).filter((f) => states.includes(f.requestState));
    let found: Friend[] = [];
    if (/^\d{1,6}$/.test(s)) {
      const f = all[Number(s) - 1];
      if (f !== undefined) found = [f];
    } else {
      const cleaned = s.replace(/^tox:/i, "");
      const keyText = /^[0-9a-fA-F]{76}$/.test(cleaned) ? cleaned.slice(0, 64) : cleaned;
      if (isHexKey(keyText)) found = all.filter((f) => hex(f.publicKey) === keyText.toLowerCase());
      else {
        const wanted = s.toLowerCase();
        found = all.filter((f) => f.name.toLowerCase() === wanted);
      }
    }
    if (found.length > 1) throw new CoreError("ambiguous-friend", `More than one ${what} matches "${s}".`);
    const f = found[0];
    if (f === undefined)
      throw new CoreError("unknown-friend", `No ${what} matches "${s.slice(0, 80)}".`, {
        selector: s.slice(0, 80),
      });
    return f;
  }

  // -------------------------------------------------------------------------------------------
  // Tox events

  async onRequest(account: AccountRef, friend: string, message: string): Promise<void> {
    const pk = fromHex(friend);
    const existing = await this.store.friends.get(account.id, pk);
    // A request from a friend means nothing (c-toxcore ignores it too); one from someone we asked
    // ourselves settles itself: both sides have added each other, so the session comes up.
    if (existing !== null && existing.requestState !== "pending_in") return;
    // Tox resends a request until it is answered: the user hears of it once (again if it changed).
    if (existing !== null && existing.requestMessage === message) return;
    const row = await this.store.friends.upsert({
      accountId: account.id,
      publicKey: pk,
      requestState: "pending_in",
      requestMessage: message,
    });
    await this.frontends.tell(account, "friendRequest", (f) => f.friendRequest(account, { friend, message }));
    await this.frontends.tell(account, "friendUpdated", (f) =>
      f.friendUpdated(account, this.view(account, row)),
    );
  }

  async onConnection(account: AccountRef, friend: string, online: boolean): Promise<void> {
    const pk = fromHex(friend);
    const existing = await this.store.friends.get(account.id, pk);
    if (existing === null) return;
    // Our request was accepted once the friend's session comes up.
    const accepted = online && existing.requestState === "pending_out";
    const row = await this.store.friends.update(account.id, pk, {
      lastSeenAt: this.now(),
      ...(accepted ? { requestState: "accepted" as const, requestMessage: "" } : {}),
    });
    if (row === null) return;
    if (accepted)
      this.log.info({ account: account.id, friend: friend.slice(0, 16) }, "core: friend request accepted");
    await this.frontends.tell(account, "friendUpdated", (f) =>
      f.friendUpdated(account, this.view(account, row)),
    );
  }

  async onProfile(
    account: AccountRef,
    friend: string,
    change: { name?: string; statusMessage?: string; status?: UserStatus },
  ): Promise<void> {
    const pk = fromHex(friend);
    const existing = await this.store.friends.get(account.id, pk);
    if (existing === null) return;
    const update: { name?: string; statusMessage?: string } = {};
    if (change.name !== undefined && change.name !== existing.name) update.name = change.name;
    if (change.statusMessage !== undefined && change.statusMessage !== existing.statusMessage)
      update.statusMessage = change.statusMessage;
    const row =
      update.name !== undefined || update.statusMessage !== undefined
        ? await this.store.friends.update(account.id, pk, update)
        : change.status !== undefined
          ? existing
          : null; // nothing changed: the frontend need not hear of it
    if (row === null) return;
    await this.frontends.tell(account, "friendUpdated", (f) =>
      f.friendUpdated(account, this.view(account, row)),
    );
  }

  // -------------------------------------------------------------------------------------------

  private async acceptFriend(account: AccountRef, friend: Friend): Promise<FriendView> {
    const row = await this.store.friends.update(account.id, friend.publicKey, {
      requestState: "accepted",
      requestMessage: "",
    });
    await this.tox.acceptRequest(account.publicKey, hex(friend.publicKey));
    const view = this.view(account, row ?? friend);
    await this.frontends.tell(account, "friendUpdated", (f) => f.friendUpdated(account, view));
    return view;
  }

  private async ref(owner: Owner): Promise<AccountRef> {
    const account = await this.accounts.require(owner);
    return this.accounts.byIdentity(hex(account.publicKey)) ?? toAccountRef(account);
  }
}

function describe(f: Friend): string {
  return f.name !== "" ? `${f.name} (${hex(f.publicKey).slice(0, 8)}…)` : `${hex(f.publicKey).slice(0, 8)}…`;
}
