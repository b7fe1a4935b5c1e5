/**
 * One hosted Tox identity: its UDP socket, net_crypto, friend connections and messenger, wired
 * together. Owns no timer: the ToxNode drives `tick()` from its single loop and asks
 * `nextTickIn()` when to come back.
 */
import { formatAddress } from "../address.js";
import { fromHex, toHex } from "../bytes.js";
import type { Clock } from "../clock.js";
import { type KeyPair, keyPairFromSecret, newKeyPair, PUBLIC_KEY_SIZE, randomBytes } from "../crypto.js";
import { ToxProtocolError } from "../errors.js";
import { FriendConnections } from "../friend-connection/friend-connections.js";
import { Messenger } from "../messenger/messenger.js";
import { type MessageKind, USER_STATUS_CODES, type UserStatus } from "../messenger/packets.js";
import { NetCrypto, type NetCryptoLogger } from "../netcrypto/netcrypto.js";
import { parseSaveData, type SaveData, serializeSaveData } from "../state/savefile.js";
import { PacketRouter } from "../transport/router.js";
import type { UdpTransport } from "../transport/udp.js";
import type { IpPort } from "../wire/ipport.js";
import type { FriendConnectionStatus, ToxNodeEvents } from "./events.js";

/** A public key as bytes or 64 hex characters. */
export type PublicKeyInput = Uint8Array | string;

export function toKey(pk: PublicKeyInput, what = "public key"): Uint8Array {
  const bytes = typeof pk === "string" ? fromHex(pk, what) : pk;
  if (bytes.length !== PUBLIC_KEY_SIZE)
    throw new ToxProtocolError(`${what} must be ${PUBLIC_KEY_SIZE} bytes`, {
      code: "bad-key",
      length: bytes.length,
    });
  return bytes;
}

export interface IdentityOptions {
  /** The identity's secret key; may be omitted when `savedata` carries one. */
  secretKey?: Uint8Array;
  /**
   * A c-toxcore save file (`tox_get_savedata`, unencrypted) or its parsed form: keys, nospam,
   * name, status message, status and friends are restored from it (explicit options win).
   */
  savedata?: Uint8Array | SaveData;
  /** 4 bytes; random when absent. */
  nospam?: Uint8Array;
  name?: string;
  statusMessage?: string;
  status?: UserStatus;
}

export interface FriendInfo {
  publicKey: string;
  connection: FriendConnectionStatus;
  name: string;
  statusMessage: string;
  status: UserStatus;
  typing: boolean;
  /** Messages accepted but still waiting for send-window room. */
  queued: number;
  /** Messages sent whose read receipt is pending. */
  awaitingReceipt: number;
  /** Unix seconds when last seen online (now while online; 0 = never in this process). */
  lastSeen: number;
}

type Emit = <K extends keyof ToxNodeEvents>(event: K, ...args: ToxNodeEvents[K]) => void;

export interface IdentityWiring {
  clock: Clock;
  socket: UdpTransport;
  emit: Emit;
  /** Called after anything that may bring the identity's next deadline closer. */
  wake: (identity: Identity) => void;
  log?: NetCryptoLogger;
}

export class Identity {
  readonly publicKey: string;
  readonly publicKeyBytes: Uint8Array;
  readonly nospam: Uint8Array;
  readonly toxId: string;
  readonly dhtPublicKey: string;
  readonly udpPort: number;
  /**
   * Dispatches this identity's datagrams by packet id. net_crypto owns 0x18–0x1b; the DHT and
   * onion layers register their ids here when they are wired in.
   */
  readonly router: PacketRouter;
  private readonly realKeys: KeyPair;
  private readonly dhtKeys: KeyPair;
  private readonly nc: NetCrypto;
  private readonly fc: FriendConnections;
  private readonly messenger: Messenger;
  private readonly emit: Emit;
  private readonly wakeNode: (identity: Identity) => void;
  private removed = false;

  /** Parts of an imported save file we do not interpret, kept for a lossless export. */
  private readonly saveExtras: Pick<SaveData, "conferences" | "unknownSections" | "tcpRelays" | "pathNodes">;
  /** Friend records from an imported save file, by key (request fields kept for export). */
  private readonly savedFriends = new Map<string, SaveData["friends"][number]>();

  constructor(opts: IdentityOptions, wiring: IdentityWiring) {
    const save = resolveSavedata(opts.savedata);
    const secretKey = opts.secretKey ?? save?.secretKey;
    if (secretKey === undefined)
      throw new ToxProtocolError("an identity needs a secret key or a save file", { code: "no-key" });
    this.realKeys = keyPairFromSecret(secretKey);
    this.saveExtras = {
      conferences: save?.conferences ?? [],
      unknownSections: save?.unknownSections ?? [],
      tcpRelays: save?.tcpRelays ?? [],
      pathNodes: save?.pathNodes ?? [],
    };
    this.dhtKeys = newKeyPair(); // c-toxcore makes a fresh DHT key every run
    this.publicKeyBytes = this.realKeys.publicKey;
    this.publicKey = toHex(this.realKeys.publicKey);
    this.nospam = opts.nospam ?? save?.nospam ?? randomBytes(4);
    this.toxId = formatAddress({ publicKey: this.realKeys.publicKey, nospam: this.nospam });
    this.dhtPublicKey = toHex(this.dhtKeys.publicKey);
    this.udpPort = wiring.socket.local.port;
    this.emit = wiring.emit;
    this.wakeNode = wiring.wake;
    const me = this.publicKey;
    const hex = toHex;

    this.messenger = new Messenger({
      clock: wiring.clock,
      transport: { sendLossless: (pk, data, cc) => this.fc.sendLossless(pk, data, cc) },
      name: opts.name ?? (save ? utf8.decode(save.name) : undefined),
      statusMessage: opts.statusMessage ?? (save ? utf8.decode(save.statusMessage) : undefined),
      status: opts.status ?? (save ? (USER_STATUS_CODES[save.userStatus] ?? "none") : undefined),
      events: {
        onConnection: (pk, online, unconfirmed) =>
          this.emit("friendConnection", {
            identity: me,
            friend: hex(pk),
            status: online ? "udp" : "none",
            unconfirmed,
          }),
        onMessage: (pk, kind, text) =>
          this.emit("friendMessage", { identity: me, friend: hex(pk), kind, text }),
        onReadReceipt: (pk, messageId) =>
          this.emit("readReceipt", { identity: me, friend: hex(pk), messageId }),
        onName: (pk, name) => this.emit("friendName", { identity: me, friend: hex(pk), name }),
        onStatusMessage: (pk, statusMessage) =>
          this.emit("friendStatusMessage", { identity: me, friend: hex(pk), statusMessage }),
        onStatus: (pk, status) => this.emit("friendStatus", { identity: me, friend: hex(pk), status }),
        onTyping: (pk, typing) => this.emit("friendTyping", { identity: me, friend: hex(pk), typing }),
        log: wiring.log
          ? (obj, msg) => wiring.log?.debug({ identity: me.slice(0, 16), ...obj }, msg)
          : undefined,
      },
    });
    this.fc = new FriendConnections({
      clock: wiring.clock,
      log: wiring.log,
      events: {
        onStatus: (pk, up) => this.messenger.handleConnection(pk, up),
        onPacket: (pk, data) => this.messenger.handlePacket(pk, data),
        onAcked: (pk, bufferStart) => this.messenger.handleAcked(pk, bufferStart),
      },
    });
    this.nc = new NetCrypto({
      clock: wiring.clock,
      realKeys: this.realKeys,
      dhtKeys: () => this.dhtKeys,
      sink: wiring.socket,
      events: this.fc,
      log: wiring.log,
    });
    this.fc.attach(this.nc);
    for (const f of save?.friends ?? []) {
      this.savedFriends.set(toHex(f.publicKey), f);
      this.messenger.restoreFriend(f.publicKey, {
        name: utf8.decode(f.name),
        statusMessage: utf8.decode(f.statusMessage),
        status: USER_STATUS_CODES[f.userStatus] ?? "none",
        lastSeen: Number(f.lastSeen),
      });
      this.fc.add(f.publicKey);
    }
    this.router = new PacketRouter((e) =>
      wiring.log?.debug({ identity: me.slice(0, 16), id: e.packetId, err: String(e.error) }, "handler threw"),
    );
    this.router.register([0x18, 0x1b], (from, data) => {
      this.nc.handlePacket(from, data);
    });
  }

  // -------------------------------------------------------------------------------------------
  // Public API (async so a later version may persist or go through a worker without changing it)

  async addFriendNoRequest(pk: PublicKeyInput): Promise<void> {
    const key = toKey(pk, "friend public key");
    this.messenger.addFriend(key);
    this.fc.add(key);
    this.wake();
  }

  /**
   * Connects to a friend whose DHT key and UDP address we already know (no DHT/onion needed);
   * adds the friend first if needed. Calling it again with a new DHT key (the friend restarted)
   * replaces the session.
   */
  async connectFriendDirect(pk: PublicKeyInput, dhtPk: PublicKeyInput, address: IpPort): Promise<void> {
    const key = toKey(pk, "friend public key");
    if (!this.messenger.hasFriend(key)) await this.addFriendNoRequest(key);
    this.fc.setAddress(key, address);
    this.fc.setDhtKey(key, toKey(dhtPk, "friend DHT key"));
    this.wake();
  }

  async removeFriend(pk: PublicKeyInput): Promise<void> {
    const key = toKey(pk, "friend public key");
    this.messenger.removeFriend(key);
    this.fc.remove(key);
    this.wake();
  }

  /** Sends a text (split at 1372 bytes); resolves to one message id per piece. */
  async sendMessage(pk: PublicKeyInput, text: string, kind: MessageKind = "normal"): Promise<number[]> {
    const ids = this.messenger.sendMessage(toKey(pk, "friend public key"), text, kind);
    this.wake();
    return ids;
  }

  async setName(name: string): Promise<void> {
    this.messenger.setName(name);
    this.wake();
  }

  async setStatusMessage(message: string): Promise<void> {
    this.messenger.setStatusMessage(message);
    this.wake();
  }

  async setStatus(status: UserStatus): Promise<void> {
    this.messenger.setStatus(status);
    this.wake();
  }

  async setTyping(pk: PublicKeyInput, typing: boolean): Promise<void> {
    this.messenger.setTyping(toKey(pk, "friend public key"), typing);
    this.wake();
  }

  async friends(): Promise<FriendInfo[]> {
    return this.messenger.friendPublicKeys().map((pk) => this.friendInfo(pk)!);
  }

  async friend(pk: PublicKeyInput): Promise<FriendInfo | undefined> {
    return this.friendInfo(toKey(pk, "friend public key"));
  }

  async friendConnection(pk: PublicKeyInput): Promise<FriendConnectionStatus> {
    return this.friendInfo(toKey(pk, "friend public key"))?.connection ?? "none";
  }

  /** The identity as a c-toxcore 0.2.18 save file (what `tox_get_savedata` would write). */
  async getSavedata(): Promise<Uint8Array> {
    return serializeSaveData(this.saveData());
  }

  /** The identity in parsed save-file form. */
  saveData(): SaveData {
    const friends = this.messenger.friendPublicKeys().map((pk) => {
      const f = this.messenger.friend(pk)!;
      const imported = this.savedFriends.get(toHex(pk));
      return {
        status: imported?.status ?? 3,
        publicKey: pk,
        requestMessage: imported?.requestMessage ?? new Uint8Array(0),
        requestNospam: imported?.requestNospam ?? new Uint8Array(4),
        name: utf8Encoder.encode(f.name),
        statusMessage: utf8Encoder.encode(f.statusMessage),
        userStatus: USER_STATUS_CODES.indexOf(f.status),
        lastSeen: BigInt(f.lastSeen),
      };
    });
    return {
      secretKey: this.realKeys.secretKey,
      publicKey: this.realKeys.publicKey,
      nospam: this.nospam,
      name: utf8Encoder.encode(this.messenger.selfName),
      statusMessage: utf8Encoder.encode(this.messenger.selfStatusMessage),
      userStatus: USER_STATUS_CODES.indexOf(this.messenger.selfStatus),
      friends,
      dhtNodes: [],
      ...this.saveExtras,
    };
  }

  get name(): string {
    return this.messenger.selfName;
  }
  get statusMessage(): string {
    return this.messenger.selfStatusMessage;
  }
  get status(): UserStatus {
    return this.messenger.selfStatus;
  }

  /** Diagnostics: net_crypto session of a friend. */
  sessionInfo(pk: PublicKeyInput) {
    const conn = this.nc.connectionFor(toKey(pk));
    return conn === undefined ? undefined : this.nc.info(conn);
  }

  // -------------------------------------------------------------------------------------------
  // Driven by ToxNode

  /** @internal A datagram for this identity's socket. */
  handleDatagram(from: IpPort, data: Uint8Array): void {
    if (this.removed) return;
    this.router.handle(from, data);
  }

  /** @internal */
  tick(): void {
    if (this.removed) return;
    this.nc.tick();
    this.fc.tick();
    this.messenger.tick();
  }

  /** @internal */
  nextTickIn(): number {
    return Math.min(this.nc.nextTickIn(), this.fc.nextTickIn(), this.messenger.nextTickIn());
  }

  /** @internal Kills every session (peers get KILL) and stops handling input. */
  shutdown(): void {
    if (this.removed) return;
    for (const pk of this.messenger.friendPublicKeys()) this.fc.remove(pk);
    this.removed = true;
  }

  private wake(): void {
    this.wakeNode(this);
  }

  private friendInfo(pk: Uint8Array): FriendInfo | undefined {
    const f = this.messenger.friend(pk);
    if (f === undefined) return undefined;
    return {
      publicKey: toHex(pk),
      connection: f.online ? "udp" : "none",
      name: f.name,
      statusMessage: f.statusMessage,
      status: f.status,
      typing: f.typing,
      queued: f.queued,
      awaitingReceipt: f.awaitingReceipt,
      lastSeen: f.lastSeen,
    };
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: false });
const utf8Encoder = new TextEncoder();

function resolveSavedata(savedata: Uint8Array | SaveData | undefined): SaveData | undefined {
  if (savedata === undefined) return undefined;
  if (!(savedata instanceof Uint8Array)) return savedata;
  const parsed = parseSaveData(savedata);
  if (!parsed.ok) throw parsed.error;
  return parsed.value;
}
