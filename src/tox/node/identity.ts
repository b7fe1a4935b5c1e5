/**
 * One hosted Tox identity: its UDP socket, net_crypto, friend connections and messenger, wired
 * together. Owns no timer: the ToxNode drives `tick()` from its single loop and asks
 * `nextTickIn()` when to come back.
 */

import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { formatAddress, parseAddress, type ToxAddress } from "../address.js";
import { bytesEqual, fromHex, toHex } from "../bytes.js";
import type { Clock } from "../clock.js";
import { type ConferencePeer, Conferences } from "../conference/conferences.js";
import {
  CONFERENCE_MESSENGER_PACKET_IDS,
  type ConferenceLinks,
  conferenceTransport,
  isConferenceLossyPacket,
  isConferenceSessionPacket,
} from "../conference/wiring.js";
import { type KeyPair, keyPairFromSecret, PUBLIC_KEY_SIZE, randomBytes } from "../crypto.js";
import { Dht, type DhtBackbone } from "../dht/dht.js";
import { ToxProtocolError } from "../errors.js";
import type { FileSink, FileSource } from "../files/io.js";
import {
  FILE_PACKET_IDS,
  type FileDirection,
  FileTransfers,
  type ResumeRecord,
  type TransferInfo,
} from "../files/transfers.js";
import { fileNodeEvents } from "../files/wiring.js";
import { type FriendConnectionEvents, FriendConnections } from "../friend-connection/friend-connections.js";
import { serializeFriendConnPacket } from "../friend-connection/packets.js";
import {
  FriendRequests,
  type FriendRequestsOptions,
  type FriendRequestTransport,
  type IncomingRequest,
} from "../friend-requests/friend-requests.js";
import { KeyChunks, longLivedKeyPair } from "../key-chunks.js";
import { LazyMap } from "../lazy-collections.js";
import {
  Messenger,
  type MessengerEvents,
  type MessengerExtension,
  type MessengerTransport,
} from "../messenger/messenger.js";
import { type MessageKind, USER_STATUS_CODES, type UserStatus } from "../messenger/packets.js";
import { NetCrypto, type NetCryptoLogger } from "../netcrypto/netcrypto.js";
import type { OnionClientEvents } from "../onion/client.js";
import { DhtOnionView, routeDhtPkFromDht } from "../onion/dht-view.js";
import { OnionStack } from "../onion/onion-stack.js";
import type { SharedOnionPaths } from "../onion/shared-paths.js";
import { parseSaveData, type SaveData, serializeSaveData } from "../state/savefile.js";
import { IdentityTcpRelays } from "../tcp/identity-relays.js";
import { UDP_DIRECT_TIMEOUT_MS } from "../tcp/netcrypto-relay.js";
import type { TcpTransportFactory } from "../tcp/socket.js";
import type { PacketSink } from "../transport/types.js";
import type { UdpTransport } from "../transport/udp.js";
import { type IpPort, ipPort, type NodeInfo } from "../wire/ipport.js";
import { ONION_DATA_FRIEND_REQUEST } from "../wire/onion.js";
import type { FriendConnectionStatus, SelfConnectionStatus, ToxNodeEvents } from "./events.js";

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
   * name, status message, status, friends (and pending requests), TCP relays and path nodes are
   * restored from it (explicit options win).
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
  /** True while our friend request to it is not yet answered (added by Tox ID, not yet connected). */
  requestPending: boolean;
}

export interface PendingFriendRequest {
  /** The requester's public key, lower-case hex. */
  publicKey: string;
  message: string;
  /** Clock time (ms since the epoch with the system clock) when it arrived. */
  receivedAt: number;
}

type Emit = <K extends keyof ToxNodeEvents>(event: K, ...args: ToxNodeEvents[K]) => void;

export interface IdentityWiring {
  clock: Clock;
  socket: UdpTransport;
  emit: Emit;
  /** Called after anything that may bring the identity's next deadline closer. */
  wake: (identity: Identity) => void;
  log?: NetCryptoLogger;
  /** false = TCP only: nothing is sent over UDP and UDP input is ignored (default true). */
  udp?: boolean;
  /** TCP sockets for relays (tests inject in-memory ones); default real sockets. */
  tcpTransport?: TcpTransportFactory;
  /**
   * Shared routing (ToxNode `routing: "shared"`): the backbone DHT that routes for this identity
   * (our DHT becomes its leaf) and the onion paths all identities share.
   */
  backbone?: DhtBackbone;
  sharedPaths?: SharedOnionPaths;
}

/** Anything hex or bytes naming a DHT/relay key. */
type KeyInput = Uint8Array | string;

/** A sink that drops everything (UDP off). */
const nowhere: PacketSink = { send: () => {} };

export class Identity {
  readonly publicKey: string;
  readonly publicKeyBytes: Uint8Array;
  readonly nospam: Uint8Array;
  readonly udpPort: number;
  /** Whether UDP is used at all (false = TCP relays only). */
  readonly udpEnabled: boolean;
  private readonly clock: Clock;
  private readonly realKeys: KeyPair;
  private readonly dht: Dht;
  private readonly onion: OnionStack;
  private readonly relays: IdentityTcpRelays;
  private readonly requests: FriendRequests;
  private readonly nc: NetCrypto;
  private readonly fc: FriendConnections;
  private readonly messenger: Messenger;
  /** File transfers, made on the first file packet or API call (idle identities never need them). */
  private filesState: FileTransfers | undefined;
  /**
   * Conferences and their transport, made on first use (an invite, a packet, an API call or a
   * saved conference): most identities never join one, and the module's maps, events and
   * closures would otherwise cost every idle identity a couple of kB.
   */
  private conferencesState: { conferences: Conferences; links: ConferenceLinks } | undefined;
  private readonly emit: Emit;
  private readonly wakeNode: (identity: Identity) => void;
  private readonly log: NetCryptoLogger | undefined;
  private removed = false;
  /** TCP relays configured for us (our own, not friends'). */
  private relayCount = 0;
  private selfStatus: SelfConnectionStatus = "none";
  /** Last path reported per online friend (hex), to emit path changes (udp <-> tcp). */
  private readonly reportedPath = new LazyMap<string, FriendConnectionStatus>();
  /** The DHT search lock held per friend for its current DHT key. */
  private readonly dhtSearch = new LazyMap<string, { dhtPk: Uint8Array; lock: number }>();

  /** Parts of an imported save file we do not interpret, kept for a lossless export. */
  private readonly saveExtras: Pick<SaveData, "conferences" | "unknownSections">;
  /** Friend records from an imported save file, by key (request fields kept for export). */
  private readonly savedFriends = new LazyMap<string, SaveData["friends"][number]>();

  constructor(opts: IdentityOptions, wiring: IdentityWiring) {
    const save = resolveSavedata(opts.savedata);
    const secretKey = opts.secretKey ?? save?.secretKey;
    if (secretKey === undefined)
      throw new ToxProtocolError("an identity needs a secret key or a save file", { code: "no-key" });
    this.realKeys = longLivedKeyPair(keyPairFromSecret(secretKey));
    this.clock = wiring.clock;
    this.saveExtras =
      save === undefined
        ? NO_SAVE_EXTRAS
        : { conferences: save.conferences, unknownSections: save.unknownSections };
    this.udpEnabled = wiring.udp ?? true;
    const sink: PacketSink = this.udpEnabled ? wiring.socket : nowhere;
    this.log = wiring.log;
    // The DHT owns the DHT key pair; c-toxcore makes a fresh one every run.
    this.dht = new Dht({
      clock: wiring.clock,
      sink,
      localAddress: wiring.socket.local,
      ...(wiring.backbone ? { backbone: wiring.backbone } : {}),
      ...(wiring.log ? { log: wiring.log } : {}),
    });
    const dhtKeys = () => this.dht.keyPair;
    this.publicKeyBytes = this.realKeys.publicKey;
    this.publicKey = toHex(this.realKeys.publicKey);
    this.nospam = nospams.store(opts.nospam ?? save?.nospam ?? randomBytes(4));
    this.udpPort = wiring.socket.local.port;
    this.emit = wiring.emit;
    this.wakeNode = wiring.wake;

    this.relays = new IdentityTcpRelays({
      clock: wiring.clock,
      dhtKeys,
      udp: sink,
      ...(wiring.tcpTransport ? { transport: wiring.tcpTransport } : {}),
    });
    // Relay input arrives from TCP sockets outside the node loop: wake the identity after it.
    this.relays.onInput = () => this.wake();

    this.messenger = new Messenger({
      clock: wiring.clock,
      transport: new Identity.MessengerTransportGlue(this),
      name: opts.name ?? (save ? utf8.decode(save.name) : undefined),
      statusMessage: opts.statusMessage ?? (save ? utf8.decode(save.statusMessage) : undefined),
      status: opts.status ?? (save ? (USER_STATUS_CODES[save.userStatus] ?? "none") : undefined),
      events: new Identity.MessengerEventsGlue(this),
    });
    this.fc = new FriendConnections({
      clock: wiring.clock,
      log: wiring.log,
      relaysToShare: this.relays.relaysToShare,
      events: new Identity.FriendConnectionEventsGlue(this),
    });
    this.nc = new NetCrypto({
      clock: wiring.clock,
      realKeys: this.realKeys,
      dhtKeys,
      sink,
      events: this.fc,
      log: wiring.log,
      ...this.relays.netCryptoOptions,
    });
    this.fc.attach(this.nc);
    this.relays.attach(this.nc);

    // Invites (packet 96) make the conferences on demand; timers run only once they exist.
    this.messenger.attach(new Identity.ConferenceExtensionGlue(this));
    this.messenger.attach(new Identity.FileExtensionGlue(this));
    if (save !== undefined && save.conferences.length > 0) this.conferences.restore(save.conferences);

    this.onion = new OnionStack({
      clock: wiring.clock,
      realKeys: this.realKeys,
      dht: new IdentityOnionDht(this.dht, this),
      sink,
      tcpRelays: this.relays.onionAdvertisedRelays,
      tcp: this.relays.onionFirstHop,
      ...(wiring.sharedPaths ? { sharedPaths: wiring.sharedPaths } : {}),
      ...(wiring.log ? { log: wiring.log } : {}),
      events: new Identity.OnionEventsGlue(this),
    });
    this.relays.onOnionResponse = (data) => this.onion.client.handleTcpResponse(data);
    routeDhtPkFromDht(this.dht, this.onion.client);

    this.requests = new FriendRequests(new Identity.FriendRequestsGlue(this));

    for (const f of save?.friends ?? []) {
      this.savedFriends.set(toHex(f.publicKey), f);
      // A friend added by Tox ID whose request was not yet answered: keep asking (as c-toxcore).
      if (f.status < 3 && f.requestMessage.length > 0)
        this.requests.outgoing.add({ publicKey: f.publicKey, nospam: f.requestNospam }, f.requestMessage);
      this.messenger.restoreFriend(f.publicKey, {
        name: utf8.decode(f.name),
        statusMessage: utf8.decode(f.statusMessage),
        status: USER_STATUS_CODES[f.userStatus] ?? "none",
        lastSeen: Number(f.lastSeen),
      });
      this.fc.add(f.publicKey);
      this.onion.client.addFriend(f.publicKey);
    }
    for (const r of save?.tcpRelays ?? []) this.addRelayNode(r);
    for (const n of save?.pathNodes ?? []) this.onion.client.addBootstrapPathNode(n);
    for (const n of save?.dhtNodes ?? []) if (n.protocol === "udp" && this.udpEnabled) this.dht.bootstrap(n);
  }

  /** Our Tox ID (hex), made when asked: thousands of hosted identities need not each keep one. */
  get toxId(): string {
    return formatAddress({ publicKey: this.realKeys.publicKey, nospam: this.nospam });
  }

  /** Our DHT key for this run (c-toxcore makes a fresh one every start; it is never saved). */
  get dhtPublicKey(): string {
    return toHex(this.dht.keyPair.publicKey);
  }

  // -------------------------------------------------------------------------------------------
  // Public API (async so a later version may persist or go through a worker without changing it)

  /**
   * Adds a friend by Tox ID and sends it a friend request through the onion (re-sent until it
   * answers), as `tox_friend_add`. Adding someone whose request is pending accepts it. Errors are
   * ToxProtocolError with `code`: "bad-address" (malformed or bad checksum), "own-key",
   * "message-empty", "message-too-long" (921 bytes max), "already-friend", "already-sent".
   */
  async addFriend(toxId: string | Uint8Array, message: string): Promise<void> {
    let address: string | ToxAddress = typeof toxId === "string" ? toxId : toHex(toxId);
    if (typeof address === "string") {
      const parsed = parseAddress(address.replace(/^tox:/i, "").trim());
      if (!parsed.ok)
        throw new ToxProtocolError(`invalid Tox ID: ${parsed.error.message}`, {
          code: "bad-address",
        });
      address = parsed.value;
    }
    const result = this.requests.addFriend(address, message);
    if (!result.ok)
      throw new ToxProtocolError(`cannot add friend: ${result.error}`, {
        code: result.error,
      });
    this.startFriend(address.publicKey);
    this.wake();
  }

  /** Accepts a pending incoming request: the requester becomes a friend (no request sent back). */
  async acceptFriendRequest(pk: PublicKeyInput): Promise<void> {
    const key = toKey(pk, "requester public key");
    const r = this.requests.accept(key);
    if (r === undefined && !this.messenger.hasFriend(key))
      throw new ToxProtocolError("no pending friend request from this key", {
        code: "no-request",
        peer: toHex(key),
      });
    this.startFriend(key);
    this.wake();
  }

  /** Declines a pending request; repeats from that key are ignored for a day. */
  async declineFriendRequest(pk: PublicKeyInput): Promise<void> {
    this.requests.decline(toKey(pk, "requester public key"));
  }

  pendingFriendRequests(): PendingFriendRequest[] {
    return this.requests.pendingIncoming().map((r) => ({
      publicKey: toHex(r.publicKey),
      message: utf8.decode(r.message),
      receivedAt: r.receivedAt,
    }));
  }

  /** "udp": announced on the onion with the DHT up; "tcp": announced through TCP relays only. */
  selfConnection(): SelfConnectionStatus {
    return this.selfStatus;
  }

  /** Joins the DHT through this node (DHT bootstrap plus onion path node); hosts are resolved. */
  async bootstrap(host: string, port: number, publicKey: KeyInput): Promise<void> {
    const key = toKey(publicKey, "bootstrap node key");
    const ip = await resolveHost(host);
    this.bootstrapNode({
      protocol: "udp",
      ipPort: ipPort(ip, port),
      publicKey: key,
    });
  }

  /** @internal Bootstrap from an already resolved node (the node staggers these). */
  bootstrapNode(node: NodeInfo): void {
    if (this.removed) return;
    if (this.udpEnabled) this.dht.bootstrap(node);
    this.onion.client.addBootstrapPathNode({ ...node, protocol: "udp" });
    this.wake();
  }

  /** Uses a TCP relay (tox-bootstrapd's or any c-toxcore TCP server). */
  async addTcpRelay(host: string, port: number, publicKey: KeyInput): Promise<void> {
    const key = toKey(publicKey, "TCP relay key");
    const ip = await resolveHost(host);
    this.addRelayNode({
      protocol: "tcp",
      ipPort: ipPort(ip, port),
      publicKey: key,
    });
  }

  /** @internal */
  addRelayNode(node: NodeInfo): void {
    if (this.removed) return;
    this.relays.addRelay({
      host: node.ipPort.ip,
      port: node.ipPort.port,
      publicKey: node.publicKey,
    });
    this.relayCount++;
    this.wake();
  }

  async addFriendNoRequest(pk: PublicKeyInput): Promise<void> {
    this.startFriend(toKey(pk, "friend public key"));
    this.wake();
  }

  /**
   * Connects to a friend whose DHT key and UDP address we already know (no DHT/onion needed);
   * adds the friend first if needed. Calling it again with a new DHT key (the friend restarted)
   * replaces the session.
   */
  async connectFriendDirect(pk: PublicKeyInput, dhtPk: PublicKeyInput, address: IpPort): Promise<void> {
    const key = toKey(pk, "friend public key");
    if (!this.messenger.hasFriend(key)) this.startFriend(key);
    this.fc.setAddress(key, address);
    this.fc.setDhtKey(key, toKey(dhtPk, "friend DHT key"));
    this.wake();
  }

  async removeFriend(pk: PublicKeyInput): Promise<void> {
    const key = toKey(pk, "friend public key");
    this.requests.cancel(key);
    this.requests.forgetSender(key);
    this.messenger.removeFriend(key);
    this.fc.remove(key);
    this.onion.client.removeFriend(key);
    const id = toHex(key);
    this.forgetDhtSearch(key);
    // A conference may still use the session: it comes back as a non-friend one if so.
    this.conferencesState?.conferences.handleConnection(key, false);
    this.reportedPath.delete(id);
    this.savedFriends.delete(id);
    this.wake();
  }

  /** Sends a text (split at 1372 bytes); resolves to one message id per piece. */
  async sendMessage(pk: PublicKeyInput, text: string, kind: MessageKind = "normal"): Promise<number[]> {
    const ids = this.messenger.sendMessage(toKey(pk, "friend public key"), text, kind);
    this.wake();
    return ids;
  }

  async setName(name: string): Promise<void> {
    const before = this.messenger.selfName;
    this.messenger.setName(name);
    if (this.messenger.selfName !== before) this.conferencesState?.conferences.nameChanged();
    this.wake();
  }

  // -------------------------------------------------------------------------------------------
  // Conferences (old group chats; see src/tox/conference/conferences.ts)

  /** Creates a conference with us as its only member; its number. */
  async conferenceNew(type = 0): Promise<number> {
    return this.conferences.create(type);
  }

  /** Invites an online friend (throws ToxProtocolError "friend-not-connected" / "not-connected"). */
  async conferenceInvite(conference: number, friendPk: PublicKeyInput): Promise<void> {
    this.conferences.invite(conference, toKey(friendPk, "friend public key"));
    this.wake();
  }

  /** Joins with the cookie of a `conferenceInvite` event; `conferenceConnected` follows. */
  async conferenceJoin(friendPk: PublicKeyInput, cookie: Uint8Array): Promise<number> {
    const n = this.conferences.join(toKey(friendPk, "friend public key"), cookie);
    this.wake();
    return n;
  }

  /** One message number per piece; throws "no-connection" while no member is reachable. */
  async conferenceSendMessage(
    conference: number,
    text: string,
    kind: MessageKind = "normal",
  ): Promise<number[]> {
    const nums = this.conferences.sendMessage(conference, text, kind === "action" ? "action" : "normal");
    this.wake();
    return nums;
  }

  async conferenceSetTitle(conference: number, title: string): Promise<void> {
    this.conferences.setTitle(conference, title);
    this.wake();
  }

  /** Leaves for good (KILL_PEER), or only until a restart when `permanently` is false. */
  async conferenceLeave(conference: number, permanently = true): Promise<void> {
    this.conferences.leave(conference, permanently);
    this.wake();
  }

  conferenceList(): number[] {
    return this.conferencesState?.conferences.list() ?? [];
  }

  conferenceInfo(conference: number) {
    return this.conferences.info(conference);
  }

  conferencePeers(conference: number, frozen = false) {
    return this.conferences.peers(conference, frozen).map((p) => ({
      peerNumber: p.peerNumber,
      publicKey: toHex(p.publicKey),
      name: p.name,
      self: p.self,
    }));
  }

  // -------------------------------------------------------------------------------------------
  // File transfers (see src/tox/files/transfers.ts; events fileOffer/Control/Complete/Ended)

  /**
   * Offers a file to an online friend; its send file number (0-255). Pass the `fileId` of an
   * earlier offer to let the friend resume it (it seeks). Throws ToxProtocolError
   * ("friend-not-connected", "too-many-files", "name-too-long", ...).
   */
  fileSend(
    friend: PublicKeyInput,
    file: { source: FileSource; size: number | undefined; name: string; kind?: number; fileId?: Uint8Array },
  ): number {
    const n = this.files.sendFile(toKey(friend, "friend public key"), file);
    this.wake();
    return n;
  }

  /** Offers our avatar (kind 1, id = SHA-256); an empty one says we have none. */
  fileSendAvatar(friend: PublicKeyInput, avatar: Uint8Array): number {
    const n = this.files.sendAvatar(toKey(friend, "friend public key"), avatar);
    this.wake();
    return n;
  }

  /** Accepts an offered file into `sink`; from `position` > 0 = resume (the friend seeks first). */
  fileAccept(friend: PublicKeyInput, fileNumber: number, sink: FileSink, position = 0): void {
    this.files.accept(toKey(friend, "friend public key"), fileNumber, sink, { position });
    this.wake();
  }

  /** Pause, resume (undo our pause) or cancel (KILL) a transfer; cancel returns its resume record. */
  async fileControl(
    friend: PublicKeyInput,
    direction: FileDirection,
    fileNumber: number,
    control: "pause" | "resume" | "cancel",
  ): Promise<ResumeRecord | undefined> {
    const key = toKey(friend, "friend public key");
    let record: ResumeRecord | undefined;
    if (control === "pause") this.files.pause(key, direction, fileNumber);
    else if (control === "resume") this.files.resume(key, direction, fileNumber);
    else record = await this.files.cancel(key, direction, fileNumber);
    this.wake();
    return record;
  }

  /** Transfers in progress (all friends, or one). */
  fileTransfers(friend?: PublicKeyInput): TransferInfo[] {
    const key = friend === undefined ? undefined : toKey(friend, "friend public key");
    return this.filesState?.transfers(key) ?? [];
  }

  /** Offset and file id to resume a running transfer later (persist it). */
  fileResumeRecord(friend: PublicKeyInput, direction: FileDirection, fileNumber: number) {
    const key = toKey(friend, "friend public key");
    return this.filesState?.resumeRecord(key, direction, fileNumber);
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
      const pending = this.requests.outgoing.get(pk);
      return {
        status: pending !== undefined ? (pending.sends > 0 ? 2 : 1) : 3,
        publicKey: pk,
        requestMessage: pending?.message ?? imported?.requestMessage ?? new Uint8Array(0),
        requestNospam: pending?.nospam ?? imported?.requestNospam ?? new Uint8Array(4),
        name: utf8Encoder.encode(f.name),
        statusMessage: utf8Encoder.encode(f.statusMessage),
        userStatus: USER_STATUS_CODES.indexOf(f.status),
        lastSeen: BigInt(f.lastSeen),
      } satisfies SaveData["friends"][number];
    });
    return {
      secretKey: this.realKeys.secretKey,
      publicKey: this.realKeys.publicKey,
      nospam: this.nospam,
      name: utf8Encoder.encode(this.messenger.selfName),
      statusMessage: utf8Encoder.encode(this.messenger.selfStatusMessage),
      userStatus: USER_STATUS_CODES.indexOf(this.messenger.selfStatus),
      friends,
      dhtNodes: this.udpEnabled ? this.dht.savedNodes(100) : [],
      tcpRelays: this.relays.pool.savedRelays(8),
      pathNodes: this.onion.client.backupNodes(),
      ...this.saveExtras,
      conferences: this.conferencesState?.conferences.save() ?? [],
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

  /** Diagnostics: DHT, onion and relay state. */
  diagnostics() {
    return {
      dhtConnected: this.dht.isConnected(),
      closeNodes: this.dht.closeNodes().length,
      onion: this.onion.client.status(),
      relays: this.relays.pool.snapshot(),
      selfConnection: this.selfStatus,
    };
  }

  // -------------------------------------------------------------------------------------------
  // Driven by ToxNode

  /**
   * @internal Whether the onion may build paths over UDP now. c-toxcore builds onion paths
   * through a TCP relay while its DHT is not connected; with no relay configured that would leave
   * a UDP identity without paths until the DHT is up, so then it uses the bootstrap nodes over
   * UDP right away.
   */
  onionDhtConnected(): boolean {
    return this.udpEnabled && (this.relayCount === 0 || this.dht.isConnected());
  }

  /** @internal A datagram for this identity's socket. */
  handleDatagram(from: IpPort, data: Uint8Array): void {
    if (this.removed || !this.udpEnabled || data.length === 0) return;
    // A switch on a table shared by all identities, not a PacketRouter each: a router's handler
    // map and closures cost every hosted identity ~2.6 kB for the same three destinations.
    const layer = LAYER_BY_PACKET_ID[data[0]!];
    if (layer === NO_LAYER) return;
    try {
      if (layer === NET_CRYPTO_LAYER) this.nc.handlePacket(from, data);
      else if (layer === DHT_LAYER) this.dht.handlePacket(from, data);
      else this.onion.handlePacket(from, data);
    } catch (err) {
      // One malformed packet must never take the socket down (as PacketRouter guarantees).
      this.log?.debug(
        { identity: this.publicKey.slice(0, 16), id: data[0], err: String(err) },
        "handler threw",
      );
    }
  }

  /** @internal */
  tick(): void {
    if (this.removed) return;
    this.dht.tick();
    this.relays.tick();
    this.onion.tick();
    this.nc.tick();
    this.fc.tick();
    this.requests.tick();
    this.messenger.tick();
    this.updateSelfConnection();
    this.updatePaths();
  }

  /** @internal */
  nextTickIn(): number {
    return Math.min(
      this.nc.nextTickIn(),
      this.fc.nextTickIn(),
      this.messenger.nextTickIn(),
      this.dht.nextTickIn(),
      this.onion.nextTickIn(),
      this.relays.nextTickIn(),
      SELF_CHECK_MS,
    );
  }

  /** @internal Kills every session (peers get KILL), closes relay connections, stops input. */
  shutdown(): void {
    if (this.removed) return;
    for (const pk of this.messenger.friendPublicKeys()) {
      this.fc.remove(pk);
      // Transfers end as "disconnected" (no KILL): sinks are flushed and records let them resume.
      this.filesState?.handleOnline(pk, false);
    }
    this.conferencesState?.links.closeAll();
    this.relays.close();
    this.removed = true;
  }

  /** The file transfers, made on first use (see `filesState`). */
  private get files(): FileTransfers {
    if (this.filesState !== undefined) return this.filesState;
    const me = this.publicKey;
    const log = this.log;
    this.filesState = new FileTransfers({
      clock: this.clock,
      transport: this.messenger,
      events: fileNodeEvents(
        me,
        this.emit,
        log ? (obj, msg) => log.debug({ identity: me.slice(0, 16), ...obj }, msg) : undefined,
      ),
      wake: () => this.wake(),
    });
    return this.filesState;
  }

  /** The conferences, made on first use (see `conferencesState`). */
  private get conferences(): Conferences {
    return this.conferencesState === undefined ? this.createConferences() : this.conferencesState.conferences;
  }

  private createConferences(): Conferences {
    const me = this.publicKey;
    const hex = toHex;
    const log = this.log;
    const peerRef = (p: ConferencePeer) => ({
      peerNumber: p.peerNumber,
      publicKey: hex(p.publicKey),
      name: p.name,
      self: p.self,
    });
    const links = conferenceTransport({
      fc: this.fc,
      messenger: this.messenger,
      findPeer: (pk, dhtPk) => {
        this.learnDhtPk(pk, dhtPk);
        this.wake();
      },
      forgetPeer: (pk) => this.forgetDhtSearch(pk),
    });
    const conferences = new Conferences({
      clock: this.clock,
      selfPk: this.realKeys.publicKey,
      selfDhtPk: () => this.dht.keyPair.publicKey,
      selfName: () => this.messenger.selfName,
      transport: links,
      events: {
        onInvite: (pk, conferenceType, cookie) =>
          this.emit("conferenceInvite", {
            identity: me,
            friend: hex(pk),
            conferenceType,
            cookie,
          }),
        onConnected: (conference) => this.emit("conferenceConnected", { identity: me, conference }),
        onMessage: (conference, peer, kind, text) =>
          this.emit("conferenceMessage", {
            identity: me,
            conference,
            peer: peerRef(peer),
            kind,
            text,
          }),
        onTitle: (conference, peer, title) =>
          this.emit("conferenceTitle", {
            identity: me,
            conference,
            peer: peer && peerRef(peer),
            title,
          }),
        onPeerName: (conference, peer, name) =>
          this.emit("conferencePeerName", {
            identity: me,
            conference,
            peer: peerRef(peer),
            name,
          }),
        onPeerListChanged: (conference) => this.emit("conferencePeerList", { identity: me, conference }),
        onPeerLeft: (conference, peer) =>
          this.emit("conferencePeerLeft", {
            identity: me,
            conference,
            peer: peerRef(peer),
          }),
        log: log ? (obj, msg) => log.debug({ identity: me.slice(0, 16), ...obj }, msg) : undefined,
      },
    });
    this.conferencesState = { conferences, links };
    return conferences;
  }

  private wake(): void {
    this.wakeNode(this);
  }

  /** Friend list entry + friend_connection + onion search (`m_addfriend_norequest`). */
  private startFriend(key: Uint8Array): void {
    if (!this.messenger.hasFriend(key)) this.messenger.addFriend(key);
    this.fc.add(key);
    this.onion.client.addFriend(key);
  }

  /** A friend's DHT key (from a DHT-PK announcement): connect, and look for it on the DHT. */
  private forgetDhtSearch(pk: Uint8Array): void {
    const id = toHex(pk);
    const search = this.dhtSearch.get(id);
    if (search === undefined) return;
    this.dht.removeFriend(search.dhtPk, search.lock);
    this.relays.forgetPeer(search.dhtPk);
    this.dhtSearch.delete(id);
  }

  private learnDhtPk(friendPk: Uint8Array, dhtPk: Uint8Array): void {
    this.fc.setDhtKey(friendPk, dhtPk);
    if (!this.udpEnabled) return;
    const id = toHex(friendPk);
    const prev = this.dhtSearch.get(id);
    if (prev !== undefined && bytesEqual(prev.dhtPk, dhtPk)) return;
    if (prev !== undefined) this.dht.removeFriend(prev.dhtPk, prev.lock);
    const key = Uint8Array.from(friendPk);
    // In shared routing the backbone calls this from its own input: wake us to connect.
    const lock = this.dht.addFriend(dhtPk, (addr) => {
      this.fc.setAddress(key, addr);
      this.wake();
    });
    this.dhtSearch.set(id, { dhtPk: Uint8Array.from(dhtPk), lock });
  }

  /** `onion_connection_status`: none until announced; then udp with the DHT up, else tcp. */
  private updateSelfConnection(): void {
    let status: SelfConnectionStatus = "none";
    if (this.onion.client.isConnected()) status = this.udpEnabled && this.dht.isConnected() ? "udp" : "tcp";
    if (status === this.selfStatus) return;
    this.selfStatus = status;
    this.emit("selfConnection", { identity: this.publicKey, status });
  }

  /** Emits friendConnection again when an online friend's path switches between UDP and relays. */
  private updatePaths(): void {
    for (const [id, was] of this.reportedPath) {
      const pk = fromHex(id);
      const now = this.pathOf(pk);
      if (now === was) continue;
      this.reportedPath.set(id, now);
      this.emit("friendConnection", {
        identity: this.publicKey,
        friend: id,
        status: now,
        unconfirmed: [],
      });
    }
  }

  /** UDP while the direct address was heard from recently (c-toxcore `UDP_DIRECT_TIMEOUT`). */
  private pathOf(pk: Uint8Array): "udp" | "tcp" {
    const conn = this.nc.connectionFor(pk);
    const path = conn === undefined ? undefined : this.nc.pathInfo(conn);
    if (path === undefined) return this.udpEnabled ? "udp" : "tcp";
    const fresh =
      path.lastDirectRecvAt > 0 && this.clock.now() - path.lastDirectRecvAt < UDP_DIRECT_TIMEOUT_MS;
    return fresh ? "udp" : "tcp";
  }

  private friendInfo(pk: Uint8Array): FriendInfo | undefined {
    const f = this.messenger.friend(pk);
    if (f === undefined) return undefined;
    return {
      publicKey: toHex(pk),
      connection: f.online ? (this.reportedPath.get(toHex(pk)) ?? this.pathOf(pk)) : "none",
      name: f.name,
      statusMessage: f.statusMessage,
      status: f.status,
      typing: f.typing,
      queued: f.queued,
      awaitingReceipt: f.awaitingReceipt,
      lastSeen: f.lastSeen,
      requestPending: this.requests.outgoing.get(pk) !== undefined,
    };
  }

  // -------------------------------------------------------------------------------------------
  // Glue: how the layers report to the identity. One small object per interface, methods on the
  // prototype, instead of object literals of arrow functions: those cost every hosted identity a
  // closure each (~56 bytes) and a shared context, ~2 kB in all. Nested here so they can reach
  // the identity's private parts.

  private static readonly MessengerTransportGlue = class implements MessengerTransport {
    constructor(private readonly id: Identity) {}
    sendLossless(pk: Uint8Array, data: Uint8Array, congestionControl?: boolean): number {
      return this.id.fc.sendLossless(pk, data, congestionControl);
    }
    windowFree(pk: Uint8Array): number {
      return this.id.fc.windowFree(pk);
    }
  };

  private static readonly MessengerEventsGlue = class implements MessengerEvents {
    constructor(private readonly id: Identity) {}
    onConnection(pk: Uint8Array, online: boolean, unconfirmed: number[]): void {
      const id = this.id;
      const status = online ? id.pathOf(pk) : "none";
      if (online) id.reportedPath.set(toHex(pk), status);
      else id.reportedPath.delete(toHex(pk));
      id.emit("friendConnection", { identity: id.publicKey, friend: toHex(pk), status, unconfirmed });
    }
    onMessage(pk: Uint8Array, kind: MessageKind, text: string): void {
      this.id.emit("friendMessage", { identity: this.id.publicKey, friend: toHex(pk), kind, text });
    }
    onReadReceipt(pk: Uint8Array, messageId: number): void {
      this.id.emit("readReceipt", { identity: this.id.publicKey, friend: toHex(pk), messageId });
    }
    onName(pk: Uint8Array, name: string): void {
      this.id.emit("friendName", { identity: this.id.publicKey, friend: toHex(pk), name });
    }
    onStatusMessage(pk: Uint8Array, statusMessage: string): void {
      this.id.emit("friendStatusMessage", { identity: this.id.publicKey, friend: toHex(pk), statusMessage });
    }
    onStatus(pk: Uint8Array, status: UserStatus): void {
      this.id.emit("friendStatus", { identity: this.id.publicKey, friend: toHex(pk), status });
    }
    onTyping(pk: Uint8Array, typing: boolean): void {
      this.id.emit("friendTyping", { identity: this.id.publicKey, friend: toHex(pk), typing });
    }
    log(obj: Record<string, unknown>, msg: string): void {
      this.id.log?.debug({ identity: this.id.publicKey.slice(0, 16), ...obj }, msg);
    }
  };

  private static readonly FriendConnectionEventsGlue = class implements FriendConnectionEvents {
    constructor(private readonly id: Identity) {}
    onStatus(pk: Uint8Array, up: boolean): void {
      const id = this.id;
      id.onion.client.setFriendOnline(pk, up);
      if (up) id.requests.friendConnected(pk);
      id.messenger.handleConnection(pk, up);
      id.conferencesState?.conferences.handleConnection(pk, up);
    }
    /**
     * Conference packets (97-100) come from friends and from non-friend conference members
     * alike, so they bypass the Messenger (which only knows friends), as in group.c.
     */
    onPacket(pk: Uint8Array, data: Uint8Array): void {
      if (isConferenceSessionPacket(data)) this.id.conferences.handlePacket(pk, data);
      else this.id.messenger.handlePacket(pk, data);
    }
    onLossy(pk: Uint8Array, data: Uint8Array): void {
      if (isConferenceLossyPacket(data)) this.id.conferences.handlePacket(pk, data);
    }
    onAcked(pk: Uint8Array, bufferStart: number): void {
      this.id.messenger.handleAcked(pk, bufferStart);
    }
    onFriendRequest(pk: Uint8Array, nospam: Uint8Array, message: Uint8Array): void {
      this.id.requests.handleSessionRequest(pk, nospam, message);
    }
    onRelays(pk: Uint8Array, relays: NodeInfo[]): void {
      this.id.relays.onFriendRelays(pk, relays);
    }
  };

  /** Invites (packet 96) make the conferences on demand; timers run only once they exist. */
  private static readonly ConferenceExtensionGlue = class implements MessengerExtension {
    readonly packetIds = CONFERENCE_MESSENGER_PACKET_IDS;
    constructor(private readonly id: Identity) {}
    handlePacket(pk: Uint8Array, data: Uint8Array): void {
      this.id.conferences.handleFriendPacket(pk, data);
    }
    tick(): void {
      this.id.conferencesState?.conferences.tick();
    }
    nextTickIn(): number {
      return this.id.conferencesState?.conferences.nextTickIn() ?? IDLE_CONFERENCES_TICK_MS;
    }
  };

  /** File transfers, made on the first file packet (see `files`). */
  private static readonly FileExtensionGlue = class implements MessengerExtension {
    readonly packetIds = FILE_PACKET_IDS;
    constructor(private readonly id: Identity) {}
    handlePacket(pk: Uint8Array, data: Uint8Array): void {
      this.id.files.handlePacket(pk, data);
    }
    handleOnline(pk: Uint8Array, online: boolean): void {
      this.id.filesState?.handleOnline(pk, online);
    }
    handleAcked(pk: Uint8Array, bufferStart: number): void {
      this.id.filesState?.handleAcked(pk, bufferStart);
    }
    tick(): void {
      this.id.filesState?.tick();
    }
    nextTickIn(): number {
      return this.id.filesState?.nextTickIn() ?? IDLE_FILES_TICK_MS;
    }
  };

  private static readonly OnionEventsGlue = class implements OnionClientEvents {
    constructor(private readonly id: Identity) {}
    onDhtPk(friendPk: Uint8Array, dhtPk: Uint8Array, nodes: NodeInfo[]): void {
      const id = this.id;
      if (!id.messenger.hasFriend(friendPk)) return;
      id.learnDhtPk(friendPk, dhtPk);
      id.relays.onFriendDhtPk(friendPk, dhtPk, nodes);
      id.wake();
    }
    onData(senderPk: Uint8Array, type: number, payload: Uint8Array): void {
      if (type === ONION_DATA_FRIEND_REQUEST) this.id.requests.handleOnionRequest(senderPk, payload);
    }
    onConnectionChange(): void {
      this.id.updateSelfConnection();
    }
  };

  /** The friend-request module's options and transport in one object. */
  private static readonly FriendRequestsGlue = class
    implements FriendRequestsOptions, FriendRequestTransport
  {
    readonly clock: Clock;
    readonly ownPk: Uint8Array;
    readonly transport: FriendRequestTransport = this;
    constructor(private readonly id: Identity) {
      this.clock = id.clock;
      this.ownPk = id.realKeys.publicKey;
    }
    nospam(): Uint8Array {
      return this.id.nospam;
    }
    isFriend(pk: Uint8Array): boolean {
      return this.id.messenger.hasFriend(pk);
    }
    onRequest(r: IncomingRequest): void {
      const pk = toHex(r.publicKey);
      const message = utf8.decode(r.message);
      this.id.emit("friendRequest", { identity: this.id.publicKey, publicKey: pk, friend: pk, message });
    }
    searchFor(pk: Uint8Array): void {
      this.id.onion.client.addFriend(pk);
    }
    stopSearching(pk: Uint8Array): void {
      this.id.onion.client.removeFriend(pk);
    }
    sendOnion(pk: Uint8Array, payload: Uint8Array): number {
      return this.id.onion.client.sendData(pk, ONION_DATA_FRIEND_REQUEST, payload);
    }
    sendSession(pk: Uint8Array, nospam: Uint8Array, message: Uint8Array): boolean {
      const packet = serializeFriendConnPacket({ type: "friendRequest", nospam, message });
      return this.id.fc.sendLossless(pk, packet) !== -1;
    }
  };
}

/** DHT packet ids (ping, nodes, crypto request, LAN discovery). */
const DHT_PACKET_IDS = [0x00, 0x01, 0x02, 0x04, 0x20, 0x21] as const;

/** The DHT as this identity's onion sees it (see `onionDhtConnected`). */
class IdentityOnionDht extends DhtOnionView {
  constructor(
    private readonly fullDht: Dht,
    private readonly identity: Identity,
  ) {
    super(fullDht);
  }

  override isConnected(): boolean {
    return this.identity.onionDhtConnected();
  }

  /** Asks the nodes a friend lists in its DHT-PK for it: found in one round trip. */
  getNodes(node: NodeInfo, searchedPk: Uint8Array): void {
    if (this.identity.udpEnabled) this.fullDht.requestNodes(node, searchedPk);
  }
}

/** Save-file parts of an identity made without one: shared, only ever read (spread into saves). */
const NO_SAVE_EXTRAS: Pick<SaveData, "conferences" | "unknownSections"> = {
  conferences: [],
  unknownSections: [],
};
/** Each identity's 4 nospam bytes, copied into shared chunks rather than a buffer each. */
const nospams = new KeyChunks(4);

const NO_LAYER = 0;
const NET_CRYPTO_LAYER = 1;
const DHT_LAYER = 2;
const ONION_LAYER = 3;
/** Which layer handles each packet id an identity's socket receives (0 = dropped). */
const LAYER_BY_PACKET_ID = (() => {
  const table = new Uint8Array(256);
  for (let id = 0x18; id <= 0x1b; id++) table[id] = NET_CRYPTO_LAYER;
  for (const id of DHT_PACKET_IDS) table[id] = DHT_LAYER;
  for (const id of OnionStack.packetIds) table[id] = ONION_LAYER;
  return table;
})();
/** Self-connection and path changes are checked at least this often. */
const SELF_CHECK_MS = 1_000;
/** What `Conferences.nextTickIn()` answers while there is no conference. */
const IDLE_CONFERENCES_TICK_MS = 1_000;
/** What `FileTransfers.nextTickIn()` answers while there is no transfer. */
const IDLE_FILES_TICK_MS = 1_000;

async function resolveHost(host: string): Promise<string> {
  if (isIP(host) !== 0) return host;
  try {
    return (await lookup(host, { family: 4 })).address;
  } catch (err) {
    throw new ToxProtocolError(`cannot resolve ${host}: ${String(err)}`, {
      code: "bad-host",
      host,
    });
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
