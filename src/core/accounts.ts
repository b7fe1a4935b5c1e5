/**
 * Accounts: one Tox identity per bridged user (Matrix user id or bare JID), kept online by the
 * bridge at all times. Creating an account makes a fresh key pair, persists it (the store seals
 * the secret key) and only then brings the identity online.
 */
import type { Account, Store } from "../store/index.js";
import {
  formatAddress,
  MAX_NAME_LENGTH,
  MAX_STATUSMESSAGE_LENGTH,
  newKeyPair,
  type UserStatus,
} from "../tox/index.js";
import { CoreError, type CoreLogger, errorText } from "./errors.js";
import type { AccountRef, Owner } from "./frontend.js";
import { hex, nospamBytes } from "./keys.js";
import type { IdentitySpec, ToxGateway } from "./tox-gateway.js";

/** Presence as users name it; Tox calls "online" `none` (no special status). */
export type Presence = "online" | "away" | "busy";
export const PRESENCES: readonly Presence[] = ["online", "away", "busy"];

export function presenceToStatus(p: Presence): UserStatus {
  return p === "online" ? "none" : p;
}
export function statusToPresence(s: UserStatus): Presence {
  return s === "none" ? "online" : s;
}

export interface Profile {
  toxId: string;
  publicKey: string;
  name: string;
  statusMessage: string;
  presence: Presence;
}

const presenceKey = (accountId: number) => `core.presence.${accountId}`;
const utf8Length = (s: string) => Buffer.byteLength(s, "utf8");

export function toAccountRef(a: Account): AccountRef {
  return { id: a.id, owner: { kind: a.ownerKind, id: a.ownerId }, publicKey: hex(a.publicKey) };
}

export function toxIdOf(a: Account): string {
  return formatAddress({ publicKey: a.publicKey, nospam: nospamBytes(a.nospam) });
}

export class Accounts {
  /** Accounts whose identity is online, by our public key (hex): how Tox events find their account. */
  private readonly online = new Map<string, AccountRef>();
  private readonly onlineById = new Map<number, AccountRef>();
  private readonly onlineByOwner = new Map<string, AccountRef>();
  /** What other parts of the core add to an identity's spec (conferences to rejoin). */
  private readonly specSources: ((account: Account) => Promise<Partial<IdentitySpec>>)[] = [];
  private readonly deleteListeners: ((account: AccountRef) => Promise<void>)[] = [];

  constructor(
    private readonly store: Store,
    private readonly tox: ToxGateway,
    private readonly log: CoreLogger,
  ) {}

  async get(owner: Owner): Promise<Account | null> {
    return this.store.accounts.getByOwner(owner.kind, owner.id);
  }

  addSpecSource(source: (account: Account) => Promise<Partial<IdentitySpec>>): void {
    this.specSources.push(source);
  }

  /** Runs before an account is deleted, while its identity is still online (leave conferences). */
  onDelete(listener: (account: AccountRef) => Promise<void>): void {
    this.deleteListeners.push(listener);
  }

  /** The owner's account; CoreError("no-account") when there is none. */
  async require(owner: Owner): Promise<Account> {
    const account = await this.get(owner);
    if (account === null)
      throw new CoreError("no-account", "You have no Tox account yet. Send `create` to make one.", {
        owner: owner.id,
      });
    return account;
  }

  /** The online account hosting this identity (hex public key), if any. */
  byIdentity(identity: string): AccountRef | undefined {
    return this.online.get(identity);
  }

  /** The online account of this owner, if any (no database round trip: the hot path of send). */
  byOwner(owner: Owner): AccountRef | undefined {
    return this.onlineByOwner.get(ownerKey(owner));
  }

  /** The online account with this id, if any. */
  byId(id: number): AccountRef | undefined {
    return this.onlineById.get(id);
  }

  onlineCount(): number {
    return this.online.size;
  }

  async create(owner: Owner, opts: { name?: string } = {}): Promise<Account> {
    if ((await this.get(owner)) !== null)
      throw new CoreError("account-exists", "You already have a Tox account (see `id`).", {
        owner: owner.id,
      });
    const keys = newKeyPair();
    const nospam = new DataView(crypto.getRandomValues(new Uint8Array(4)).buffer).getUint32(0);
    const name = opts.name ?? defaultName(owner);
    let account: Account;
    try {
      account = await this.store.accounts.create({
        ownerKind: owner.kind,
        ownerId: owner.id,
        secretKey: keys.secretKey,
        nospam,
        name,
      });
    } catch (err) {
      // Two `create` commands racing: the second one loses on the owner's unique constraint.
      if ((await this.get(owner)) !== null)
        throw new CoreError("account-exists", "You already have a Tox account (see `id`).", {
          owner: owner.id,
        });
      throw err;
    }
    await this.bringOnline(account);
    this.log.info({ account: account.id, owner: owner.id }, "core: account created");
    return account;
  }

  /** Brings every stored account online; one failing account does not stop the others. */
  async bringAllOnline(): Promise<{ online: number; failed: number }> {
    let online = 0;
    let failed = 0;
    for (const account of await this.store.accounts.list()) {
      try {
        await this.bringOnline(account);
        online++;
      } catch (err) {
        failed++;
        this.log.error({ account: account.id, err: errorText(err) }, "core: cannot bring account online");
      }
    }
    return { online, failed };
  }

  async bringOnline(account: Account): Promise<AccountRef> {
    const friends = await this.store.friends.list(account.id);
    const presence = (await this.store.bridgeState.get<Presence>(presenceKey(account.id))) ?? "online";
    const extras: Partial<IdentitySpec> = {};
    for (const source of this.specSources) Object.assign(extras, await source(account));
    const identity = await this.tox.bringOnline({
      ...extras,
      secretKey: await this.store.accounts.getSecretKey(account.id),
      nospam: account.nospam,
      name: account.name,
      statusMessage: account.statusMessage,
      status: presenceToStatus(presence),
      friends: friends.filter((f) => f.requestState === "accepted").map((f) => hex(f.publicKey)),
      pendingRequests: friends.flatMap((f) =>
        f.requestState === "pending_out" && f.address !== null
          ? [{ address: f.address, message: f.requestMessage }]
          : [],
      ),
    });
    const ref = toAccountRef(account);
    this.online.set(identity, ref);
    this.onlineById.set(ref.id, ref);
    this.onlineByOwner.set(ownerKey(ref.owner), ref);
    return ref;
  }

  /** Takes every identity offline (bridge shutdown); the accounts stay. */
  async takeAllOffline(): Promise<void> {
    for (const [identity, ref] of [...this.online]) {
      this.online.delete(identity);
      this.onlineById.delete(ref.id);
      this.onlineByOwner.delete(ownerKey(ref.owner));
      await this.tox.takeOffline(identity);
    }
  }

  /** Deletes the account: the identity goes offline and its key, friends and queues are gone. */
  async delete(owner: Owner): Promise<boolean> {
    const account = await this.get(owner);
    if (account === null) return false;
    const identity = hex(account.publicKey);
    const ref = this.online.get(identity) ?? toAccountRef(account);
    for (const listener of this.deleteListeners)
      await listener(ref).catch((err: unknown) =>
        this.log.warn({ account: account.id, err: errorText(err) }, "core: account deletion step failed"),
      );
    this.online.delete(identity);
    this.onlineById.delete(account.id);
    this.onlineByOwner.delete(ownerKey(owner));
    await this.tox.takeOffline(identity);
    await this.store.bridgeState.delete(presenceKey(account.id));
    const deleted = await this.store.accounts.delete(account.id);
    this.log.info({ account: account.id, owner: owner.id }, "core: account deleted");
    return deleted;
  }

  async profile(owner: Owner): Promise<Profile> {
    const account = await this.require(owner);
    return {
      toxId: toxIdOf(account),
      publicKey: hex(account.publicKey),
      name: account.name,
      statusMessage: account.statusMessage,
      presence: (await this.store.bridgeState.get<Presence>(presenceKey(account.id))) ?? "online",
    };
  }

  async setName(owner: Owner, name: string): Promise<void> {
    if (utf8Length(name) > MAX_NAME_LENGTH)
      throw new CoreError("bad-argument", `A Tox name is at most ${MAX_NAME_LENGTH} bytes.`);
    const account = await this.require(owner);
    await this.store.accounts.updateProfile(account.id, { name });
    await this.tox.setName(hex(account.publicKey), name);
  }

  async setStatusMessage(owner: Owner, statusMessage: string): Promise<void> {
    if (utf8Length(statusMessage) > MAX_STATUSMESSAGE_LENGTH)
      throw new CoreError(
        "bad-argument",
        `A Tox status message is at most ${MAX_STATUSMESSAGE_LENGTH} bytes.`,
      );
    const account = await this.require(owner);
    await this.store.accounts.updateProfile(account.id, { statusMessage });
    await this.tox.setStatusMessage(hex(account.publicKey), statusMessage);
  }

  async setPresence(owner: Owner, presence: Presence): Promise<void> {
    const account = await this.require(owner);
    await this.store.bridgeState.set(presenceKey(account.id), presence);
    await this.tox.setStatus(hex(account.publicKey), presenceToStatus(presence));
  }
}

const ownerKey = (owner: Owner) => `${owner.kind}:${owner.id}`;

/** A first name for the Tox profile: the Matrix localpart or the JID's node. */
function defaultName(owner: Owner): string {
  const local = owner.kind === "matrix" ? owner.id.slice(1).split(":")[0] : owner.id.split("@")[0];
  const name = local ?? "";
  return utf8Length(name) <= MAX_NAME_LENGTH ? name : "";
}
