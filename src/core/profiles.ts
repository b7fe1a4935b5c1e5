/**
 * .tox profiles in and out of the bridge: a user brings their qTox/toxic identity (Tox ID,
 * nospam, name, status message, friends) and can take it back to a native client at any time.
 *
 * Import checks everything before it changes anything: a truncated, corrupt or wrongly
 * decrypted file is refused with a clear message and the account stays as it was. An encrypted
 * profile sent without its passphrase waits in memory (never on disk) for 10 minutes so the
 * user can send the passphrase in a second message.
 *
 * The DHT nodes and TCP relays of an imported profile are kept as extra bootstrap nodes; at every
 * bridge stop the identity's current ones are remembered the same way (only when it has some,
 * so a disconnected identity never forgets the relays it knew), and an export carries them.
 */
import type { Account, FriendRequestState, Store } from "../store/index.js";
import {
  type Clock,
  formatAddress,
  fromHex,
  isEncryptedSave,
  MAX_NAME_LENGTH,
  MAX_STATUSMESSAGE_LENGTH,
  PassDecryptError,
  parseSaveData,
  passDecrypt,
  passEncrypt,
  type SaveData,
  serializeSaveData,
} from "../tox/index.js";
import type { Accounts } from "./accounts.js";
import { CoreError, type CoreLogger, errorText } from "./errors.js";
import type { AccountRef, Attachment, Owner } from "./frontend.js";
import { hex, nospamNumber } from "./keys.js";
import type { SavedNode, ToxGateway } from "./tox-gateway.js";

/** How long an encrypted upload waits for its passphrase. */
export const STAGED_PROFILE_MS = 10 * 60_000;
/** Larger than any real profile (a friend record is ~2.2 kB; 1 000 friends ≈ 2.2 MB). */
export const MAX_PROFILE_SIZE = 8 * 1024 * 1024;
/** Nodes remembered per account. */
const MAX_SAVED_NODES = 32;

export interface ImportResult {
  account: Account;
  toxId: string;
  friends: number;
  replaced: boolean;
}

export type ImportOutcome =
  | { kind: "imported"; result: ImportResult }
  /** Encrypted and no passphrase given: the data waits for `import <passphrase>`. */
  | { kind: "needs-passphrase" };

export interface ExportResult {
  attachment: Attachment;
  encrypted: boolean;
  toxId: string;
}

const utf8 = new TextDecoder("utf-8", { fatal: false });

export class Profiles {
  private readonly staged = new Map<string, { data: Uint8Array; until: number }>();

  constructor(
    private readonly deps: {
      store: Store;
      tox: ToxGateway;
      accounts: Accounts;
      clock: Clock;
      log: CoreLogger;
    },
  ) {}

  /** True when an encrypted profile of this owner waits for its passphrase. */
  hasStaged(owner: Owner): boolean {
    return this.takeStaged(owner, false) !== undefined;
  }

  /**
   * Imports a profile (plain or toxencryptsave). `data` absent = the encrypted upload staged
   * earlier. With `replace` an existing account is replaced (its identity goes offline for good).
   */
  async import(
    owner: Owner,
    data: Uint8Array | undefined,
    opts: { passphrase?: string; replace?: boolean } = {},
  ): Promise<ImportOutcome> {
    const upload = data ?? this.takeStaged(owner, false);
    if (upload === undefined)
      throw new CoreError(
        "bad-argument",
        "Send your .tox profile file along with `import` (or right after it).",
      );
    if (upload.length > MAX_PROFILE_SIZE)
      throw new CoreError(
        "bad-argument",
        "That file is far too large to be a Tox profile; nothing was imported.",
      );
    let plain = upload;
    if (isEncryptedSave(upload)) {
      if (opts.passphrase === undefined || opts.passphrase === "") {
        this.staged.set(ownerKey(owner), {
          data: Uint8Array.from(upload),
          until: this.deps.clock.now() + STAGED_PROFILE_MS,
        });
        return { kind: "needs-passphrase" };
      }
      try {
        plain = await passDecrypt(upload, opts.passphrase);
      } catch (err) {
        if (err instanceof PassDecryptError || err instanceof Error)
          throw new CoreError(
            "bad-argument",
            "Could not decrypt the profile: wrong passphrase, or the file is damaged. Nothing was imported.",
          );
        throw err;
      }
    }
    const parsed = parseSaveData(plain);
    if (!parsed.ok)
      throw new CoreError(
        "bad-argument",
        `That is not a valid .tox profile (${parsed.error.message}); it may be truncated or damaged. ` +
          "Nothing was imported.",
      );
    const save = parsed.value;
    const result = await this.apply(owner, save, opts.replace === true);
    this.staged.delete(ownerKey(owner));
    return { kind: "imported", result };
  }

  /** The account's profile as a .tox file, encrypted with `passphrase` when given. */
  async export(owner: Owner, passphrase?: string): Promise<ExportResult> {
    const { accounts, tox } = this.deps;
    const account = await accounts.require(owner);
    const identity = hex(account.publicKey);
    if (!tox.isOnline(identity))
      throw new CoreError(
        "bad-argument",
        "Your Tox identity is not online right now; try `export` again shortly.",
      );
    const parsed = parseSaveData(await tox.savedata(identity));
    if (!parsed.ok) throw new Error(`the identity wrote a save file we cannot read: ${parsed.error.message}`);
    const save = parsed.value;
    // A disconnected identity lists no relays: give the native client the ones we know.
    const known = await this.savedNodes(account.id);
    if (save.tcpRelays.length === 0) save.tcpRelays = toNodeInfos(known.filter((n) => n.protocol === "tcp"));
    if (save.dhtNodes.length === 0) save.dhtNodes = toNodeInfos(known.filter((n) => n.protocol === "udp"));
    let data = serializeSaveData(save);
    const encrypted = passphrase !== undefined && passphrase !== "";
    if (encrypted) data = await passEncrypt(data, passphrase);
    const base = (account.name || "profile").replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 48) || "profile";
    const toxId = formatAddress({ publicKey: account.publicKey, nospam: save.nospam });
    return {
      encrypted,
      toxId,
      attachment: {
        kind: "file",
        mimeType: "application/octet-stream",
        fileName: `${base}.tox`,
        data,
        alt: encrypted ? "Your Tox profile (encrypted)" : "Your Tox profile",
      },
    };
  }

  /** Extra bootstrap nodes of an account (from its imported profile or the last stop). */
  async savedNodes(accountId: number): Promise<SavedNode[]> {
    return (await this.deps.store.bridgeState.get<SavedNode[]>(nodesKey(accountId))) ?? [];
  }

  /** Remembers an online identity's DHT nodes and TCP relays (kept when it has none now). */
  async rememberNodes(account: AccountRef): Promise<void> {
    const { tox, store } = this.deps;
    if (!tox.isOnline(account.publicKey)) return;
    const parsed = parseSaveData(await tox.savedata(account.publicKey));
    if (!parsed.ok) return;
    const nodes = nodesOf(parsed.value);
    if (nodes.length > 0) await store.bridgeState.set(nodesKey(account.id), nodes);
  }

  // -------------------------------------------------------------------------------------------

  private async apply(owner: Owner, save: SaveData, replace: boolean): Promise<ImportResult> {
    const { store, accounts, log } = this.deps;
    const existing = await accounts.get(owner);
    if (existing !== null && !replace)
      throw new CoreError(
        "account-exists",
        "You already have a Tox account. To replace it by this profile, send `import replace` " +
          "(add the passphrase if the file is encrypted): your current Tox ID and friends are then gone.",
      );
    const holder = await store.accounts.getByPublicKey(save.publicKey);
    if (holder !== null && !(holder.ownerKind === owner.kind && holder.ownerId === owner.id))
      throw new CoreError(
        "bad-argument",
        "This Tox identity is already in use on this bridge by someone else; nothing was imported.",
      );
    const name = clip(utf8.decode(save.name), MAX_NAME_LENGTH);
    const statusMessage = clip(utf8.decode(save.statusMessage), MAX_STATUSMESSAGE_LENGTH);
    const friends = save.friends.filter((f) => f.publicKey.length === 32);
    // Validated: from here on the import happens. The old identity goes offline for good first
    // (its key may be the very one being imported).
    if (existing !== null) await accounts.delete(owner);
    const account = await store.transaction(async (tx) => {
      const created = await tx.accounts.create({
        ownerKind: owner.kind,
        ownerId: owner.id,
        secretKey: save.secretKey,
        nospam: nospamNumber(save.nospam),
        name,
        statusMessage,
      });
      for (const f of friends) {
        const accepted = f.status >= 3;
        const state: FriendRequestState = accepted ? "accepted" : "pending_out";
        await tx.friends.upsert({
          accountId: created.id,
          publicKey: f.publicKey,
          requestState: state,
          address: accepted
            ? null
            : fromHex(formatAddress({ publicKey: f.publicKey, nospam: f.requestNospam })),
          requestMessage: accepted ? "" : utf8.decode(f.requestMessage),
          name: clip(utf8.decode(f.name), MAX_NAME_LENGTH),
          statusMessage: clip(utf8.decode(f.statusMessage), MAX_STATUSMESSAGE_LENGTH),
        });
      }
      const nodes = nodesOf(save);
      if (nodes.length > 0) await tx.bridgeState.set(nodesKey(created.id), nodes);
      return created;
    });
    // The presence the native client had (0 none, 1 away, 2 busy) carries over.
    const presence = save.userStatus === 1 ? "away" : save.userStatus === 2 ? "busy" : undefined;
    try {
      await accounts.bringOnline(account);
      if (presence !== undefined) await accounts.setPresence(owner, presence);
    } catch (err) {
      // Stored all the same: it comes online with the next start.
      log.error({ account: account.id, err: errorText(err) }, "core: imported identity not online");
    }
    log.info(
      { account: account.id, owner: owner.id, friends: friends.length, replaced: existing !== null },
      "core: profile imported",
    );
    return {
      account,
      toxId: formatAddress({ publicKey: account.publicKey, nospam: save.nospam }),
      friends: friends.length,
      replaced: existing !== null,
    };
  }

  private takeStaged(owner: Owner, remove: boolean): Uint8Array | undefined {
    const key = ownerKey(owner);
    const s = this.staged.get(key);
    if (s === undefined) return undefined;
    if (s.until <= this.deps.clock.now()) {
      this.staged.delete(key);
      return undefined;
    }
    if (remove) this.staged.delete(key);
    return s.data;
  }
}

function nodesOf(save: SaveData): SavedNode[] {
  const out: SavedNode[] = [];
  const seen = new Set<string>();
  for (const n of [...save.tcpRelays, ...save.dhtNodes]) {
    const node: SavedNode = {
      protocol: n.protocol === "tcp" ? "tcp" : "udp",
      host: n.ipPort.ip,
      port: n.ipPort.port,
      publicKey: hex(n.publicKey),
    };
    const key = `${node.protocol}:${node.host}:${node.port}`;
    if (seen.has(key) || node.port === 0) continue;
    seen.add(key);
    out.push(node);
    if (out.length >= MAX_SAVED_NODES) break;
  }
  return out;
}

function toNodeInfos(nodes: SavedNode[]): SaveData["tcpRelays"] {
  return nodes.map((n) => ({
    protocol: n.protocol,
    ipPort: { family: n.host.includes(":") ? 6 : 4, ip: n.host, port: n.port },
    publicKey: fromHex(n.publicKey),
  }));
}

/** Cuts a string to at most `max` UTF-8 bytes, on a character boundary. */
function clip(s: string, max: number): string {
  if (Buffer.byteLength(s, "utf8") <= max) return s;
  let out = "";
  for (const ch of s) {
    if (Buffer.byteLength(out + ch, "utf8") > max) break;
    out += ch;
  }
  return out;
}

const ownerKey = (owner: Owner) => `${owner.kind}:${owner.id}`;
const nodesKey = (accountId: number) => `core.profile.nodes.${accountId}`;
