/**
 * The store's public vocabulary: row types and repository interfaces. Everything the rest of the
 * bridge knows about persistence is in this file; SQL stays behind it.
 *
 * Conventions (identical on PostgreSQL and PGlite):
 * - ids and other bigint columns are JS numbers (all values we store fit in 2^53);
 * - keys and other bytea columns are plain Uint8Array (never Node Buffer);
 * - timestamps are Date. Methods that compare against "now" take it as a parameter so callers
 *   can drive them from an injected Clock.
 */

export type OwnerKind = "matrix" | "xmpp";
export type Network = "matrix" | "xmpp";

export interface Account {
  id: number;
  ownerKind: OwnerKind;
  /** Matrix user id (`@alice:example.org`) or bare JID (`alice@example.org`). */
  ownerId: string;
  /** Tox long-term public key (32 bytes). Stored in clear: it is public and we look it up. */
  publicKey: Uint8Array;
  /** Tox nospam as an unsigned 32-bit number. */
  nospam: number;
  name: string;
  statusMessage: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewAccount {
  ownerKind: OwnerKind;
  ownerId: string;
  /** Tox long-term secret key (32 bytes); encrypted at rest under the store key. */
  secretKey: Uint8Array;
  nospam: number;
  name?: string;
  statusMessage?: string;
}

export interface AccountProfileUpdate {
  name?: string;
  statusMessage?: string;
  nospam?: number;
}

export interface AccountsRepo {
  /** Throws StoreConstraintError when the owner already has an account or the key is taken. */
  create(account: NewAccount): Promise<Account>;
  get(id: number): Promise<Account | null>;
  getByOwner(ownerKind: OwnerKind, ownerId: string): Promise<Account | null>;
  getByPublicKey(publicKey: Uint8Array): Promise<Account | null>;
  list(): Promise<Account[]>;
  /** Returns the updated account, or null when it does not exist. */
  updateProfile(id: number, update: AccountProfileUpdate): Promise<Account | null>;
  /** Decrypts the Tox secret key; throws StoreKeyError on a wrong store key or tampered row. */
  getSecretKey(id: number): Promise<Uint8Array>;
  /** Deletes the account and, by cascade, its friends, portals and outbox. */
  delete(id: number): Promise<boolean>;
}

/**
 * Friendship state as Tox sees it: `pending_in` = they sent us a request we have not accepted,
 * `pending_out` = we sent one and wait, `accepted` = a real Tox friend.
 */
export type FriendRequestState = "pending_in" | "pending_out" | "accepted";

export interface Friend {
  accountId: number;
  publicKey: Uint8Array;
  /** Full 38-byte Tox address when we added them by address (needed to resend a request). */
  address: Uint8Array | null;
  requestState: FriendRequestState;
  /** The text of the friend request (theirs for pending_in, ours for pending_out). */
  requestMessage: string;
  name: string;
  statusMessage: string;
  lastSeenAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewFriend {
  accountId: number;
  publicKey: Uint8Array;
  address?: Uint8Array | null;
  requestState: FriendRequestState;
  requestMessage?: string;
  name?: string;
  statusMessage?: string;
}

export interface FriendUpdate {
  name?: string;
  statusMessage?: string;
  requestState?: FriendRequestState;
  requestMessage?: string;
  address?: Uint8Array | null;
  lastSeenAt?: Date | null;
}

export interface FriendsRepo {
  /** Throws StoreConstraintError if the friend exists already or the account does not. */
  create(friend: NewFriend): Promise<Friend>;
  /**
   * Inserts, or updates the given fields of an existing friend. A repeated incoming request for a
   * friend that is already accepted keeps `accepted` (the caller decides about downgrades).
   */
  upsert(friend: NewFriend): Promise<Friend>;
  get(accountId: number, publicKey: Uint8Array): Promise<Friend | null>;
  list(accountId: number, filter?: { requestState?: FriendRequestState }): Promise<Friend[]>;
  update(accountId: number, publicKey: Uint8Array, update: FriendUpdate): Promise<Friend | null>;
  delete(accountId: number, publicKey: Uint8Array): Promise<boolean>;
}

export type PortalKind = "friend" | "conference";

export interface Portal {
  id: number;
  accountId: number;
  kind: PortalKind;
  /** Friend public key or 32-byte conference id. */
  targetKey: Uint8Array;
  network: Network;
  /** Matrix room id (`!abc:example.org`) or the XMPP JID the portal lives at. */
  remoteId: string;
  createdAt: Date;
}

export interface NewPortal {
  accountId: number;
  kind: PortalKind;
  targetKey: Uint8Array;
  network: Network;
  remoteId: string;
}

export interface PortalsRepo {
  /**
   * Throws StoreConstraintError when the room/JID is already a portal, or the (account, target)
   * already has a portal on that network.
   */
  create(portal: NewPortal): Promise<Portal>;
  get(id: number): Promise<Portal | null>;
  getByRemote(network: Network, remoteId: string): Promise<Portal | null>;
  getByTarget(
    accountId: number,
    kind: PortalKind,
    targetKey: Uint8Array,
    network: Network,
  ): Promise<Portal | null>;
  listForAccount(accountId: number, network?: Network): Promise<Portal[]>;
  delete(id: number): Promise<boolean>;
}

export type OutboxKind = "normal" | "action";
/**
 * queued: waiting to be handed to Tox (friend offline, or retry later);
 * sending: handed to Tox with a message id, waiting for the read receipt;
 * sent: handed over where no receipt will come (kept for completeness; not retried);
 * delivered: the friend's read receipt arrived;
 * failed: given up (reason in lastError).
 */
export type OutboxState = "queued" | "sending" | "sent" | "delivered" | "failed";

export interface OutboxItem {
  id: number;
  accountId: number;
  friendPk: Uint8Array;
  kind: OutboxKind;
  body: string;
  /** Where the message came from, for idempotency and for read receipts back to the sender. */
  sourceNetwork: Network | null;
  sourceEventId: string | null;
  /** Index of this piece when one source event was split into several Tox messages. */
  part: number;
  state: OutboxState;
  attempts: number;
  /** Tox message id (u32) assigned when handed to Tox; null before. */
  toxMessageId: number | null;
  lastError: string | null;
  /** Earliest time of the next attempt; null = as soon as possible. */
  nextAttemptAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewOutboxItem {
  accountId: number;
  friendPk: Uint8Array;
  kind?: OutboxKind;
  body: string;
  sourceNetwork?: Network | null;
  sourceEventId?: string | null;
  part?: number;
  /** Earliest time to send; default: as soon as possible (no clock involved). */
  notBefore?: Date;
}

export interface OutboxDepth {
  queued: number;
  sending: number;
  sent: number;
  delivered: number;
  failed: number;
  /** createdAt of the oldest queued or sending item, or null when nothing is pending. */
  oldestPendingAt: Date | null;
}

export interface OutboxRepo {
  /**
   * Persists a message. Idempotent on (account, friend, sourceEventId, part): enqueueing the same
   * source event again returns the existing item with `created: false`.
   */
  enqueue(item: NewOutboxItem): Promise<{ item: OutboxItem; created: boolean }>;
  get(id: number): Promise<OutboxItem | null>;
  /**
   * The oldest queued item for this friend, if it is due (nextAttemptAt null or <= now). A later
   * item never overtakes an earlier one that waits for a retry: messages go out in order.
   */
  nextDue(accountId: number, friendPk: Uint8Array, now: Date): Promise<OutboxItem | null>;
  /** Up to `limit` (default 100) due items for this friend, oldest first, stopping at one not due. */
  listDue(accountId: number, friendPk: Uint8Array, now: Date, limit?: number): Promise<OutboxItem[]>;
  /** Friends of this account with at least one queued item (any due time). */
  friendsWithQueued(accountId: number): Promise<Uint8Array[]>;
  /** queued -> sending with the Tox message id; attempts + 1. Null if the item was not queued. */
  markSending(id: number, toxMessageId: number): Promise<OutboxItem | null>;
  /** queued|sending -> sent (no receipt expected). */
  markSent(id: number): Promise<OutboxItem | null>;
  /**
   * sending -> delivered for the read receipt of `toxMessageId` from this friend. Returns the
   * item (to forward a read marker) or null for an unknown/duplicate receipt.
   */
  markDelivered(accountId: number, friendPk: Uint8Array, toxMessageId: number): Promise<OutboxItem | null>;
  /**
   * A send attempt failed. With `retryAt` the item goes back to queued for that time; without it
   * the item is failed for good. Returns null if the item does not exist or is already final.
   */
  markFailed(id: number, reason: string, retryAt?: Date): Promise<OutboxItem | null>;
  /**
   * sending -> queued for one friend (its session dropped before the receipts came: resend).
   * Returns the number of items requeued.
   */
  requeueSending(accountId: number, friendPk: Uint8Array): Promise<number>;
  /** Crash recovery at startup: every sending item back to queued. Returns how many. */
  requeueAllSending(): Promise<number>;
  depth(accountId?: number): Promise<OutboxDepth>;
  /** Deletes delivered/sent/failed items last updated before `before`. Returns how many. */
  prune(before: Date): Promise<number>;
}

export interface ProcessedEventsRepo {
  /** Records the event; true the first time, false if it was already processed. */
  markProcessed(network: Network, eventId: string): Promise<boolean>;
  has(network: Network, eventId: string): Promise<boolean>;
  /** Forgets events processed before `before`. Returns how many. */
  prune(before: Date): Promise<number>;
}

/** Small JSON key/value store for bridge-wide state (DHT node cache, counters, versions). */
export interface BridgeStateRepo {
  get<T = unknown>(key: string): Promise<T | null>;
  set(key: string, value: unknown): Promise<void>;
  /** Writes only if the key is absent; true when this call wrote it. */
  setIfAbsent(key: string, value: unknown): Promise<boolean>;
  delete(key: string): Promise<boolean>;
}

export interface StoreLogger {
  info(msg: string, ...args: unknown[]): void;
  warn(msg: string, ...args: unknown[]): void;
  error(msg: string, ...args: unknown[]): void;
  debug(msg: string, ...args: unknown[]): void;
}

export interface OpenStoreOptions {
  /** PostgreSQL connection URL. When absent, the embedded PGlite in `dataDir` is used. */
  url?: string;
  /** Data directory; PGlite keeps its database in `<dataDir>/pglite`. */
  dataDir: string;
  /** pg pool size (PostgreSQL only); default 10. */
  poolSize?: number;
  /** Secret from config; the key that encrypts Tox secret keys is derived from it. */
  encryptionKey: string;
  logger?: StoreLogger;
  /** Directory with NNN_name.sql files; defaults to the repository's `migrations/`. */
  migrationsDir?: string;
}

/** The repositories, as handed to a transaction callback. */
export interface StoreRepos {
  accounts: AccountsRepo;
  friends: FriendsRepo;
  portals: PortalsRepo;
  outbox: OutboxRepo;
  processedEvents: ProcessedEventsRepo;
  bridgeState: BridgeStateRepo;
}

export interface Store extends StoreRepos {
  kind: "pglite" | "postgres";
  /** Applies pending migrations (safe when several processes start at once), checks the key. */
  migrate(): Promise<{ applied: string[] }>;
  /** True when the database answers a trivial query. Never throws. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
  /**
   * Runs fn with repositories bound to one transaction: all its writes commit together, or none
   * if fn throws. Use only `tx` inside fn: on PGlite the store's own repositories wait for the
   * transaction to end, so calling them from inside would deadlock.
   */
  transaction<T>(fn: (tx: StoreRepos) => Promise<T>): Promise<T>;
}
