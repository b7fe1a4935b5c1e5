/**
 * ToxGateway over the library's ToxNode. Presence is tracked from the node's events, because the
 * core asks for it synchronously (Identity's own getters are async).
 */
import { keyPairFromSecret } from "../tox/crypto.js";
import {
  FILE_KIND_AVATAR,
  FILE_KIND_DATA,
  type FileEvent,
  type FileSink,
  type FileSource,
  fromHex,
  type Identity,
  type MessageKind,
  type SaveData,
  type ToxNode,
  type ToxNodeEvents,
  ToxProtocolError,
  toHex,
  type UserStatus,
} from "../tox/index.js";
import { type CoreLogger, silentLogger } from "./errors.js";
import { nospamBytes } from "./keys.js";
import type {
  ConferenceInfo,
  ConferenceSnapshot,
  ConferenceType,
  FileDirection,
  FriendPresence,
  GatewayFileEvent,
  IdentitySpec,
  ToxGateway,
  ToxGatewayEvents,
} from "./tox-gateway.js";

/** ToxProtocolError codes of Identity.addFriend that mean "nothing more to do". */
const ADD_FRIEND_DONE = new Set(["already-friend", "already-sent"]);

const OFFLINE: FriendPresence = { online: false, status: "none" };

export class ToxNodeGateway implements ToxGateway {
  private readonly presence = new Map<string, FriendPresence>();

  constructor(
    private readonly node: ToxNode,
    private readonly log: CoreLogger = silentLogger,
  ) {
    node.on("friendConnection", (e) => {
      const key = presenceKey(e.identity, e.friend);
      const online = e.status !== "none";
      this.presence.set(key, {
        online,
        status: online ? (this.presence.get(key)?.status ?? "none") : "none",
      });
    });
    node.on("friendStatus", (e) => {
      const key = presenceKey(e.identity, e.friend);
      this.presence.set(key, { online: this.presence.get(key)?.online ?? false, status: e.status });
    });
  }

  async bringOnline(spec: IdentitySpec): Promise<string> {
    const identity = await this.node.addIdentity({
      secretKey: spec.secretKey,
      nospam: nospamBytes(spec.nospam),
      name: spec.name,
      statusMessage: spec.statusMessage,
      status: spec.status,
      ...(spec.conferences !== undefined && spec.conferences.length > 0
        ? { savedata: conferencesSavedata(spec) }
        : {}),
    });
    for (const friend of spec.friends) await identity.addFriendNoRequest(friend);
    for (const request of spec.pendingRequests)
      await this.addFriend(identity.publicKey, request.address, request.message);
    for (const n of spec.extraNodes ?? []) {
      try {
        if (n.protocol === "udp") await identity.bootstrap(n.host, n.port, n.publicKey);
        else await identity.addTcpRelay(n.host, n.port, n.publicKey);
      } catch (err) {
        // One unusable node from an old profile is not worth failing the identity over.
        this.log.debug({ host: n.host, err: String(err) }, "tox adapter: skipping a saved node");
      }
    }
    return identity.publicKey;
  }

  async takeOffline(identity: string): Promise<void> {
    await this.node.removeIdentity(identity);
    for (const key of [...this.presence.keys()])
      if (key.startsWith(`${identity}:`)) this.presence.delete(key);
  }

  isOnline(identity: string): boolean {
    return this.node.identity(identity) !== undefined;
  }

  async addFriend(identity: string, address: Uint8Array, message: string): Promise<void> {
    try {
      await this.require(identity).addFriend(address, message);
    } catch (err) {
      // A request resent at startup to someone who accepted meanwhile, or sent twice: fine.
      if (err instanceof ToxProtocolError && err.code !== undefined && ADD_FRIEND_DONE.has(err.code)) return;
      throw err;
    }
  }

  async addFriendNoRequest(identity: string, friend: string): Promise<void> {
    await this.require(identity).addFriendNoRequest(friend);
  }

  async acceptRequest(identity: string, friend: string): Promise<void> {
    const id = this.require(identity);
    try {
      await id.acceptFriendRequest(friend);
    } catch (err) {
      // Tox keeps pending requests in memory only: one from before a restart is gone there.
      if (!(err instanceof ToxProtocolError && err.code === "no-request")) throw err;
      this.log.debug(
        { identity: identity.slice(0, 16), friend: friend.slice(0, 16) },
        "tox adapter: accept without a request",
      );
      await id.addFriendNoRequest(friend);
    }
  }

  async declineRequest(identity: string, friend: string): Promise<void> {
    await this.require(identity).declineFriendRequest(friend);
  }

  async removeFriend(identity: string, friend: string): Promise<void> {
    await this.require(identity).removeFriend(friend);
    this.presence.delete(presenceKey(identity, friend));
  }

  async sendMessage(identity: string, friend: string, text: string, kind: MessageKind): Promise<number> {
    const ids = await this.require(identity).sendMessage(friend, text, kind);
    const [id] = ids;
    // The core splits before sending: one piece in, one id out.
    if (id === undefined || ids.length !== 1)
      throw new Error(`expected one Tox message id for one piece, got ${ids.length}`);
    return id;
  }

  friendPresence(identity: string, friend: string): FriendPresence {
    return this.presence.get(presenceKey(identity, friend)) ?? OFFLINE;
  }

  async sendQueueLength(identity: string, friend: string): Promise<number> {
    return (await this.node.identity(identity)?.friend(friend))?.queued ?? 0;
  }

  async setName(identity: string, name: string): Promise<void> {
    await this.require(identity).setName(name);
  }

  async setStatusMessage(identity: string, message: string): Promise<void> {
    await this.require(identity).setStatusMessage(message);
  }

  async setStatus(identity: string, status: UserStatus): Promise<void> {
    await this.require(identity).setStatus(status);
  }

  async setTyping(identity: string, friend: string, typing: boolean): Promise<void> {
    await this.require(identity).setTyping(friend, typing);
  }

  subscribe(listener: ToxGatewayEvents): () => void {
    const node = this.node;
    const handlers: { [K in keyof ToxNodeEvents]?: (...args: ToxNodeEvents[K]) => void } = {
      friendConnection: (e) =>
        listener.friendConnection({
          identity: e.identity,
          friend: e.friend,
          online: e.status !== "none",
          ...(e.status === "none" ? { unconfirmed: e.unconfirmed } : {}),
        }),
      friendMessage: (e) => listener.friendMessage(e),
      readReceipt: (e) => listener.readReceipt(e),
      friendName: (e) => listener.friendName(e),
      friendStatusMessage: (e) => listener.friendStatusMessage(e),
      friendStatus: (e) => listener.friendStatus(e),
      friendTyping: (e) => listener.friendTyping(e),
      friendRequest: (e) =>
        listener.friendRequest({ identity: e.identity, friend: e.friend, message: e.message }),
      ...this.conferenceHandlers(listener),
      ...fileHandlers(listener),
    };
    // Object.entries loses the pairing of event and handler type; each pair above is checked.
    type Untyped = (event: string, handler: (...a: never[]) => void) => void;
    const on = node.on.bind(node) as unknown as Untyped;
    const off = node.off.bind(node) as unknown as Untyped;
    for (const [event, handler] of Object.entries(handlers)) on(event, handler);
    return () => {
      for (const [event, handler] of Object.entries(handlers)) off(event, handler);
    };
  }

  // -------------------------------------------------------------------------------------------
  // File transfers (issue 7)

  async sendFile(
    identity: string,
    friend: string,
    file: { kind: "data" | "avatar"; size: number; name: string; fileId: Uint8Array; source: FileSource },
  ): Promise<number> {
    return this.require(identity).fileSend(friend, {
      source: file.source,
      size: file.size,
      name: file.name,
      kind: file.kind === "avatar" ? FILE_KIND_AVATAR : FILE_KIND_DATA,
      fileId: file.fileId,
    });
  }

  async acceptFile(
    identity: string,
    friend: string,
    fileNumber: number,
    sink: FileSink,
    position = 0,
  ): Promise<void> {
    this.require(identity).fileAccept(friend, fileNumber, sink, position);
  }

  async controlFile(
    identity: string,
    friend: string,
    direction: FileDirection,
    fileNumber: number,
    control: "pause" | "resume" | "cancel",
  ): Promise<void> {
    const id = this.node.identity(identity);
    if (id === undefined) return;
    try {
      await id.fileControl(friend, direction, fileNumber, control);
    } catch (err) {
      // The transfer ended meanwhile (completed, cancelled by the friend, friend offline).
      if (!(err instanceof ToxProtocolError && err.code === "no-such-file")) throw err;
    }
  }

  fileProgress(identity: string, friend: string, direction: FileDirection, fileNumber: number) {
    const id = this.node.identity(identity);
    if (id === undefined) return undefined;
    return id.fileTransfers(friend).find((t) => t.direction === direction && t.fileNumber === fileNumber)
      ?.transferred;
  }

  async savedata(identity: string): Promise<Uint8Array> {
    return this.require(identity).getSavedata();
  }

  // -------------------------------------------------------------------------------------------
  // Conferences (issue 8): the library numbers conferences per identity; the core names them by
  // their 32-byte id, which every member shares and which survives restarts.

  async conferenceNew(identity: string, type: ConferenceType = "text"): Promise<string> {
    const id = this.require(identity);
    const n = await id.conferenceNew(type === "av" ? 1 : 0);
    const info = id.conferenceInfo(n);
    if (info === undefined) throw new Error("conference vanished right after it was created");
    return toHex(info.id);
  }

  async conferenceInvite(identity: string, conference: string, friend: string): Promise<void> {
    const id = this.require(identity);
    await id.conferenceInvite(this.conferenceNumber(id, conference), friend);
  }

  async conferenceJoin(identity: string, friend: string, cookie: Uint8Array): Promise<string> {
    const id = this.require(identity);
    const n = await id.conferenceJoin(friend, cookie);
    const info = id.conferenceInfo(n);
    if (info === undefined) throw new Error("conference vanished right after joining it");
    return toHex(info.id);
  }

  conferenceReachable(identity: string, conference: string): boolean {
    const id = this.node.identity(identity);
    const n = id === undefined ? undefined : conferenceNumberOf(id, conference);
    if (id === undefined || n === undefined || id.conferenceInfo(n)?.connected !== true) return false;
    // With no live connection the library freezes every other peer, so an active one means a path.
    return id.conferencePeers(n).some((p) => !isSelf(id, p.publicKey));
  }

  async conferenceSend(identity: string, conference: string, text: string, kind: MessageKind): Promise<void> {
    const id = this.require(identity);
    await id.conferenceSendMessage(this.conferenceNumber(id, conference), text, kind);
  }

  async conferenceSetTitle(identity: string, conference: string, title: string): Promise<void> {
    const id = this.require(identity);
    try {
      await id.conferenceSetTitle(this.conferenceNumber(id, conference), title);
    } catch (err) {
      // The title is stored before sending; nobody reachable just means nobody hears of it now.
      if (!(err instanceof ToxProtocolError && err.code === "no-connection")) throw err;
    }
  }

  async conferenceLeave(identity: string, conference: string): Promise<void> {
    const id = this.node.identity(identity);
    const n = id === undefined ? undefined : conferenceNumberOf(id, conference);
    if (id === undefined || n === undefined) return;
    await id.conferenceLeave(n, true);
  }

  conferenceList(identity: string): string[] {
    const id = this.node.identity(identity);
    if (id === undefined) return [];
    return id.conferenceList().flatMap((n) => {
      const info = id.conferenceInfo(n);
      return info === undefined ? [] : [toHex(info.id)];
    });
  }

  conferenceInfo(identity: string, conference: string): ConferenceInfo | undefined {
    const id = this.node.identity(identity);
    const n = id === undefined ? undefined : conferenceNumberOf(id, conference);
    const info = n === undefined ? undefined : id?.conferenceInfo(n);
    if (id === undefined || n === undefined || info === undefined) return undefined;
    return {
      id: toHex(info.id),
      type: info.type === 1 ? "av" : "text",
      title: info.title,
      connected: info.connected,
      peers: id.conferencePeers(n).map((p) => ({
        publicKey: p.publicKey.toLowerCase(),
        name: p.name,
        self: p.self,
      })),
      frozen: id.conferencePeers(n, true).map((p) => ({
        publicKey: p.publicKey.toLowerCase(),
        name: p.name,
        self: p.self,
      })),
    };
  }

  conferenceSnapshots(identity: string): ConferenceSnapshot[] {
    const id = this.node.identity(identity);
    if (id === undefined || id.conferenceList().length === 0) return [];
    return id.saveData().conferences.map((c) => ({
      id: toHex(c.id),
      type: c.type,
      messageNumber: c.messageNumber,
      lossyMessageNumber: c.lossyMessageNumber,
      ownPeerNumber: c.ownPeerNumber,
      title: toHex(c.title),
      peers: c.peers.map((p) => ({
        publicKey: toHex(p.realPk),
        dhtKey: toHex(p.tempPk),
        peerNumber: p.peerNumber,
        lastActive: Number(p.lastActive),
        name: toHex(p.nick),
      })),
    }));
  }

  /** Node conference events in the gateway's terms (numbers resolved to ids). */
  private conferenceHandlers(listener: ToxGatewayEvents): {
    [K in keyof ToxNodeEvents]?: (...args: ToxNodeEvents[K]) => void;
  } {
    const idOf = (identity: string, n: number): string | undefined => {
      const info = this.node.identity(identity)?.conferenceInfo(n);
      return info === undefined ? undefined : toHex(info.id);
    };
    const changed = (e: { identity: string; conference: number }) => {
      const conference = idOf(e.identity, e.conference);
      if (conference !== undefined) listener.conferenceChanged?.({ identity: e.identity, conference });
    };
    return {
      conferenceInvite: (e) =>
        listener.conferenceInvite?.({
          identity: e.identity,
          friend: e.friend,
          type: e.conferenceType === 1 ? "av" : "text",
          cookie: e.cookie,
        }),
      conferenceConnected: changed,
      conferenceTitle: changed,
      conferencePeerName: changed,
      conferencePeerList: changed,
      conferencePeerLeft: changed,
      conferenceMessage: (e) => {
        const conference = idOf(e.identity, e.conference);
        if (conference === undefined) return;
        listener.conferenceMessage?.({
          identity: e.identity,
          conference,
          peer: e.peer.publicKey,
          peerName: e.peer.name,
          self: e.peer.self,
          kind: e.kind,
          text: e.text,
        });
      },
    };
  }

  private conferenceNumber(id: Identity, conference: string): number {
    const n = conferenceNumberOf(id, conference);
    if (n === undefined)
      throw new ToxProtocolError(`not in conference ${conference.slice(0, 16)}…`, { code: "no-conference" });
    return n;
  }

  private require(identity: string): Identity {
    const id = this.node.identity(identity);
    if (id === undefined) throw new Error(`Tox identity ${identity.slice(0, 16)}… is not online`);
    return id;
  }
}

/** Node file events in the gateway's terms. */
function fileHandlers(listener: ToxGatewayEvents): {
  [K in keyof ToxNodeEvents]?: (...args: ToxNodeEvents[K]) => void;
} {
  const view = (e: FileEvent): GatewayFileEvent => ({
    identity: e.identity,
    friend: e.friend,
    file: {
      direction: e.file.direction,
      fileNumber: e.file.fileNumber,
      kind: e.file.kind === FILE_KIND_AVATAR ? "avatar" : "data",
      size: e.file.size,
      fileId: e.file.fileId,
      name: e.file.name,
    },
  });
  return {
    fileOffer: (e) => listener.fileOffer?.(view(e)),
    fileControl: (e) => listener.fileControl?.({ ...view(e), control: e.control }),
    fileComplete: (e) => listener.fileComplete?.(view(e)),
    fileEnded: (e) => listener.fileEnded?.({ ...view(e), reason: e.reason, offset: e.offset }),
  };
}

function presenceKey(identity: string, friend: string): string {
  return `${identity}:${friend}`;
}

function conferenceNumberOf(id: Identity, conference: string): number | undefined {
  const wanted = conference.toLowerCase();
  return id.conferenceList().find((n) => {
    const info = id.conferenceInfo(n);
    return info !== undefined && toHex(info.id) === wanted;
  });
}

function isSelf(id: Identity, publicKey: string): boolean {
  return publicKey.toLowerCase() === id.publicKey.toLowerCase();
}

/** A save file carrying only the conferences (the other fields come from the spec itself). */
function conferencesSavedata(spec: IdentitySpec): SaveData {
  return {
    secretKey: spec.secretKey,
    publicKey: keyPairFromSecret(spec.secretKey).publicKey,
    nospam: nospamBytes(spec.nospam),
    name: new TextEncoder().encode(spec.name),
    statusMessage: new TextEncoder().encode(spec.statusMessage),
    userStatus: 0,
    friends: [],
    dhtNodes: [],
    tcpRelays: [],
    pathNodes: [],
    unknownSections: [],
    conferences: (spec.conferences ?? []).map((c) => ({
      type: c.type,
      id: fromHex(c.id),
      messageNumber: c.messageNumber,
      lossyMessageNumber: c.lossyMessageNumber,
      ownPeerNumber: c.ownPeerNumber,
      title: fromHex(c.title),
      peers: c.peers.map((p) => ({
        realPk: fromHex(p.publicKey),
        tempPk: fromHex(p.dhtKey),
        peerNumber: p.peerNumber,
        lastActive: BigInt(p.lastActive),
        nick: fromHex(p.name),
      })),
    })),
  };
}
