/**
 * An in-memory ToxGateway for core tests: identities and friends as plain maps, message ids
 * counted per friend, and methods to play the friend's side (come online, send, acknowledge).
 */
import type {
  ConferenceInfo,
  ConferenceSnapshot,
  ConferenceType,
  FriendPresence,
  IdentitySpec,
  ToxGateway,
  ToxGatewayEvents,
} from "../../src/core/tox-gateway.js";
import { fromHex, toHex } from "../../src/tox/bytes.js";
import { keyPairFromSecret } from "../../src/tox/crypto.js";
import type { MessageKind, UserStatus } from "../../src/tox/index.js";
import { serializeSaveData } from "../../src/tox/state/savefile.js";
import { FakeFiles } from "./fake-files.js";

export interface FakeIdentity {
  publicKey: string;
  spec: IdentitySpec;
  friends: Set<string>;
  requestsSent: { friend: string; message: string }[];
  name: string;
  statusMessage: string;
  status: UserStatus;
  typing: Map<string, boolean>;
}

export interface FakeConference {
  id: string;
  type: ConferenceType;
  title: string;
  members: Map<string, string>;
  /** Members restored from a snapshot that have not come back yet (Tox's frozen peers). */
  frozen?: Map<string, string>;
}

export interface SentMessage {
  identity: string;
  friend: string;
  text: string;
  kind: MessageKind;
  id: number;
}

export class FakeTox implements ToxGateway {
  readonly identities = new Map<string, FakeIdentity>();
  readonly sent: SentMessage[] = [];
  private readonly presence = new Map<string, FriendPresence>();
  private readonly nextId = new Map<string, number>();
  private readonly listeners = new Set<ToxGatewayEvents>();
  /** When set, sendMessage rejects with it (once per call) although the friend is online. */
  refuseSends: Error | undefined;
  /**
   * Send window per friend, like net_crypto's: messages beyond it are held (sendQueueLength) and
   * put on the wire as receipts free room, or on the next connection (as the Messenger does).
   */
  window = Number.POSITIVE_INFINITY;
  /** Per `${identity}:${friend}`: ids on the wire without a receipt, and messages held back. */
  private readonly inflight = new Map<string, number[]>();
  private readonly held = new Map<string, SentMessage[]>();

  async bringOnline(spec: IdentitySpec): Promise<string> {
    const publicKey = toHex(keyPairFromSecret(spec.secretKey).publicKey);
    this.restoreConferences(publicKey, spec);
    if (!this.identities.has(publicKey))
      this.identities.set(publicKey, {
        publicKey,
        spec,
        friends: new Set([
          ...spec.friends,
          ...spec.pendingRequests.map((r) => toHex(r.address.subarray(0, 32))),
        ]),
        requestsSent: spec.pendingRequests.map((r) => ({
          friend: toHex(r.address.subarray(0, 32)),
          message: r.message,
        })),
        name: spec.name,
        statusMessage: spec.statusMessage,
        status: spec.status,
        typing: new Map(),
      });
    return publicKey;
  }

  async takeOffline(identity: string): Promise<void> {
    this.identities.delete(identity);
    // Gone from every conference it was in (the others would freeze it).
    for (const c of this.conferences.values()) c.members.delete(identity);
    for (const key of [...this.presence.keys()]) if (key.startsWith(identity)) this.presence.delete(key);
    // Its transfers end as the node's do at shutdown (sources and sinks closed, nothing reported).
    await this.files.dropIdentity(identity);
  }

  isOnline(identity: string): boolean {
    return this.identities.has(identity);
  }

  async addFriend(identity: string, address: Uint8Array, message: string): Promise<void> {
    const id = this.get(identity);
    const friend = toHex(address.subarray(0, 32));
    id.friends.add(friend);
    id.requestsSent.push({ friend, message });
  }

  async addFriendNoRequest(identity: string, friend: string): Promise<void> {
    this.get(identity).friends.add(friend);
  }

  /** Requests this identity accepted or declined through the gateway. */
  readonly answered: { identity: string; friend: string; accepted: boolean }[] = [];

  async acceptRequest(identity: string, friend: string): Promise<void> {
    this.get(identity).friends.add(friend);
    this.answered.push({ identity, friend, accepted: true });
  }

  async declineRequest(identity: string, friend: string): Promise<void> {
    this.get(identity);
    this.answered.push({ identity, friend, accepted: false });
  }

  async removeFriend(identity: string, friend: string): Promise<void> {
    this.get(identity).friends.delete(friend);
    this.presence.delete(`${identity}:${friend}`);
  }

  async sendMessage(identity: string, friend: string, text: string, kind: MessageKind): Promise<number> {
    this.get(identity);
    if (!this.friendPresence(identity, friend).online) throw new Error("friend is not online");
    if (this.refuseSends !== undefined) throw this.refuseSends;
    if (Buffer.byteLength(text) > 1372) throw new Error("too long");
    const key = `${identity}:${friend}`;
    const id = this.nextId.get(key) ?? 1;
    this.nextId.set(key, id + 1);
    this.list(this.held, key).push({ identity, friend, text, kind, id });
    this.flush(identity, friend);
    return id;
  }

  async sendQueueLength(identity: string, friend: string): Promise<number> {
    return this.held.get(`${identity}:${friend}`)?.length ?? 0;
  }

  /** Puts held messages on the wire while the friend is online and the window has room. */
  private flush(identity: string, friend: string): void {
    const key = `${identity}:${friend}`;
    const held = this.list(this.held, key);
    const inflight = this.list(this.inflight, key);
    while (held.length > 0 && inflight.length < this.window && this.friendPresence(identity, friend).online) {
      const m = held.shift()!;
      inflight.push(m.id);
      this.sent.push(m);
    }
  }

  private list<T>(map: Map<string, T[]>, key: string): T[] {
    let l = map.get(key);
    if (l === undefined) {
      l = [];
      map.set(key, l);
    }
    return l;
  }

  friendPresence(identity: string, friend: string): FriendPresence {
    return this.presence.get(`${identity}:${friend}`) ?? { online: false, status: "none" };
  }

  async setName(identity: string, name: string): Promise<void> {
    this.get(identity).name = name;
  }
  async setStatusMessage(identity: string, message: string): Promise<void> {
    this.get(identity).statusMessage = message;
  }
  async setStatus(identity: string, status: UserStatus): Promise<void> {
    this.get(identity).status = status;
  }
  async setTyping(identity: string, friend: string, typing: boolean): Promise<void> {
    this.get(identity).typing.set(friend, typing);
  }

  subscribe(listener: ToxGatewayEvents): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // -------------------------------------------------------------------------------------------
  // File transfers (fake-files.ts plays the friend's side) and save files

  readonly files = new FakeFiles(
    () => this.listeners,
    (identity, friend) => this.identities.has(identity) && this.friendPresence(identity, friend).online,
  );
  sendFile: ToxGateway["sendFile"] = (...a) => this.files.sendFile(...a);
  acceptFile: ToxGateway["acceptFile"] = (...a) => this.files.acceptFile(...a);
  controlFile: ToxGateway["controlFile"] = (...a) => this.files.controlFile(...a);
  fileProgress: ToxGateway["fileProgress"] = (...a) => this.files.fileProgress(...a);

  /** A save file of what the fake knows: keys, nospam, name, status message, accepted friends. */
  async savedata(identity: string): Promise<Uint8Array> {
    const id = this.get(identity);
    const keys = keyPairFromSecret(id.spec.secretKey);
    const n = id.spec.nospam;
    const utf8 = new TextEncoder();
    return serializeSaveData({
      secretKey: keys.secretKey,
      publicKey: keys.publicKey,
      nospam: Uint8Array.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]),
      name: utf8.encode(id.name),
      statusMessage: utf8.encode(id.statusMessage),
      userStatus: 0,
      friends: [...id.friends].map((f) => ({
        status: 3,
        publicKey: fromHex(f),
        requestMessage: new Uint8Array(0),
        requestNospam: new Uint8Array(4),
        name: new Uint8Array(0),
        statusMessage: new Uint8Array(0),
        userStatus: 0,
        lastSeen: 0n,
      })),
      dhtNodes: [],
      tcpRelays: [],
      pathNodes: [],
      conferences: [],
      unknownSections: [],
    });
  }

  // -------------------------------------------------------------------------------------------
  // The friend's side

  setOnline(identity: string, friend: string, online: boolean): void {
    const key = `${identity}:${friend}`;
    this.presence.set(key, { online, status: "none" });
    if (online) {
      for (const l of this.listeners) l.friendConnection({ identity, friend, online });
      this.flush(identity, friend); // what was held goes out first, as in the Messenger
    } else {
      const unconfirmed = this.list(this.inflight, key).splice(0);
      for (const l of this.listeners) l.friendConnection({ identity, friend, online, unconfirmed });
    }
  }

  /** Acknowledges (read receipt) every message sent to this friend so far that is not yet acked. */
  ackAll(identity: string, friend: string, acked = new Set<number>()): void {
    for (const m of this.sent)
      if (m.identity === identity && m.friend === friend && !acked.has(m.id))
        this.receipt(identity, friend, m.id);
  }

  receipt(identity: string, friend: string, messageId: number): void {
    const inflight = this.list(this.inflight, `${identity}:${friend}`);
    const at = inflight.indexOf(messageId);
    if (at >= 0) inflight.splice(at, 1);
    for (const l of this.listeners) l.readReceipt({ identity, friend, messageId });
    this.flush(identity, friend);
  }

  message(identity: string, friend: string, text: string, kind: MessageKind = "normal"): void {
    for (const l of this.listeners) l.friendMessage({ identity, friend, kind, text });
  }

  request(identity: string, friend: string, message: string): void {
    for (const l of this.listeners) l.friendRequest({ identity, friend, message });
  }

  name(identity: string, friend: string, name: string): void {
    for (const l of this.listeners) l.friendName({ identity, friend, name });
  }

  typing(identity: string, friend: string, typing: boolean): void {
    for (const l of this.listeners) l.friendTyping({ identity, friend, typing });
  }

  sentTo(identity: string, friend: string): SentMessage[] {
    return this.sent.filter((m) => m.identity === identity && m.friend === friend);
  }

  // -------------------------------------------------------------------------------------------
  // Conferences: one registry shared by every hosted identity and by test peers, so messages
  // one hosted identity sends reach the others (and itself, as Tox echoes them).

  /** Every conference, by id; members by public key (hosted identities and test peers). */
  readonly conferences = new Map<string, FakeConference>();
  /** What hosted identities sent to conferences. */
  readonly conferenceSent: { identity: string; conference: string; text: string; kind: MessageKind }[] = [];
  /** Invites hosted identities sent to peers that are not hosted here. */
  readonly conferenceInvites: { identity: string; conference: string; friend: string }[] = [];

  async conferenceNew(identity: string, type: ConferenceType = "text"): Promise<string> {
    const id = this.get(identity);
    const conference = toHex(crypto.getRandomValues(new Uint8Array(32)));
    this.conferences.set(conference, {
      id: conference,
      type,
      title: "",
      members: new Map([[identity, id.name]]),
    });
    return conference;
  }

  async conferenceInvite(identity: string, conference: string, friend: string): Promise<void> {
    this.member(identity, conference);
    if (!this.friendPresence(identity, friend).online) throw new Error("friend is not online");
    const c = this.conferences.get(conference)!;
    if (this.identities.has(friend))
      for (const l of this.listeners)
        l.conferenceInvite?.({
          identity: friend,
          friend: identity,
          type: c.type,
          cookie: fromHex(conference),
        });
    else this.conferenceInvites.push({ identity, conference, friend });
  }

  async conferenceJoin(identity: string, friend: string, cookie: Uint8Array): Promise<string> {
    const id = this.get(identity);
    const conference = toHex(cookie);
    const c = this.conferences.get(conference);
    if (c === undefined || !c.members.has(friend)) throw new Error("no such conference");
    c.members.set(identity, id.name);
    this.conferenceChanged(conference);
    return conference;
  }

  conferenceReachable(identity: string, conference: string): boolean {
    const c = this.conferences.get(conference);
    return c?.members.has(identity) === true && c.members.size > 1;
  }

  async conferenceSend(identity: string, conference: string, text: string, kind: MessageKind): Promise<void> {
    this.member(identity, conference);
    if (!this.conferenceReachable(identity, conference)) throw new Error("no conference peer is reachable");
    this.conferenceSent.push({ identity, conference, text, kind });
    this.conferenceSay(conference, identity, text, kind);
  }

  async conferenceSetTitle(identity: string, conference: string, title: string): Promise<void> {
    this.member(identity, conference).title = title;
    this.conferenceChanged(conference);
  }

  async conferenceLeave(identity: string, conference: string): Promise<void> {
    const c = this.conferences.get(conference);
    if (c === undefined || !c.members.delete(identity)) return;
    this.conferenceChanged(conference);
  }

  conferenceList(identity: string): string[] {
    return [...this.conferences.values()].filter((c) => c.members.has(identity)).map((c) => c.id);
  }

  conferenceInfo(identity: string, conference: string): ConferenceInfo | undefined {
    const c = this.conferences.get(conference);
    if (c === undefined || !c.members.has(identity)) return undefined;
    return {
      id: c.id,
      type: c.type,
      title: c.title,
      connected: true,
      peers: [...c.members].map(([publicKey, name]) => ({ publicKey, name, self: publicKey === identity })),
      frozen: [...(c.frozen ?? [])].map(([publicKey, name]) => ({ publicKey, name, self: false })),
    };
  }

  conferenceSnapshots(identity: string): ConferenceSnapshot[] {
    return this.conferenceList(identity).map((id) => {
      const c = this.conferences.get(id)!;
      return {
        id,
        type: c.type === "av" ? 1 : 0,
        messageNumber: 65536,
        lossyMessageNumber: 8192,
        ownPeerNumber: 0,
        title: toHex(new TextEncoder().encode(c.title)),
        peers: [...c.members]
          .filter(([pk]) => pk !== identity)
          .map(([publicKey, name], i) => ({
            publicKey,
            dhtKey: publicKey,
            peerNumber: i + 1,
            lastActive: 0,
            name: toHex(new TextEncoder().encode(name)),
          })),
      };
    });
  }

  /** The spec's conferences come back with this identity as the only active member (peers frozen). */
  private restoreConferences(identity: string, spec: IdentitySpec): void {
    this.restored.set(identity, spec.conferences ?? []);
    for (const s of spec.conferences ?? []) {
      let c = this.conferences.get(s.id);
      if (c === undefined) {
        c = {
          id: s.id,
          type: s.type === 1 ? "av" : "text",
          title: new TextDecoder().decode(fromHex(s.title)),
          members: new Map(),
          frozen: new Map(s.peers.map((p) => [p.publicKey, new TextDecoder().decode(fromHex(p.name))])),
        };
        this.conferences.set(s.id, c);
      }
      c.members.set(identity, spec.name);
    }
  }

  /** Conferences each identity was brought online with (what the core restored). */
  readonly restored = new Map<string, ConferenceSnapshot[]>();

  // The peers' side of conferences

  /** A friend (a test peer) invites a hosted identity into a new conference of its own; its id. */
  conferenceInviteFrom(
    identity: string,
    friend: string,
    opts: { title?: string; type?: ConferenceType; peers?: [string, string][]; friendName?: string } = {},
  ): string {
    const conference = toHex(crypto.getRandomValues(new Uint8Array(32)));
    const type = opts.type ?? "text";
    this.conferences.set(conference, {
      id: conference,
      type,
      title: opts.title ?? "",
      members: new Map([[friend, opts.friendName ?? "friend"], ...(opts.peers ?? [])]),
    });
    for (const l of this.listeners)
      l.conferenceInvite?.({ identity, friend, type, cookie: fromHex(conference) });
    return conference;
  }

  conferencePeerJoin(conference: string, peer: string, name: string): void {
    this.conferences.get(conference)?.frozen?.delete(peer);
    this.conferences.get(conference)?.members.set(peer, name);
    this.conferenceChanged(conference);
  }

  conferencePeerLeave(conference: string, peer: string): void {
    this.conferences.get(conference)?.members.delete(peer);
    this.conferenceChanged(conference);
  }

  conferencePeerTitle(conference: string, title: string): void {
    const c = this.conferences.get(conference);
    if (c !== undefined) c.title = title;
    this.conferenceChanged(conference);
  }

  /** A message from `peer` reaches every hosted member (the sender too: Tox echoes). */
  conferenceSay(conference: string, peer: string, text: string, kind: MessageKind = "normal"): void {
    const c = this.conferences.get(conference);
    if (c === undefined) return;
    const peerName = c.members.get(peer) ?? "";
    for (const member of [...c.members.keys()])
      if (this.identities.has(member))
        for (const l of this.listeners)
          l.conferenceMessage?.({
            identity: member,
            conference,
            peer,
            peerName,
            self: member === peer,
            kind,
            text,
          });
  }

  private conferenceChanged(conference: string): void {
    const c = this.conferences.get(conference);
    if (c === undefined) return;
    for (const member of [...c.members.keys()])
      if (this.identities.has(member))
        for (const l of this.listeners) l.conferenceChanged?.({ identity: member, conference });
  }

  private member(identity: string, conference: string): FakeConference {
    this.get(identity);
    const c = this.conferences.get(conference);
    if (c === undefined || !c.members.has(identity)) throw new Error("not in that conference");
    return c;
  }

  private get(identity: string): FakeIdentity {
    const id = this.identities.get(identity);
    if (id === undefined) throw new Error(`identity ${identity.slice(0, 8)} not online`);
    return id;
  }
}
