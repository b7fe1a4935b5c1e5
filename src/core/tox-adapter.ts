/**
 * ToxGateway over the library's ToxNode. Presence is tracked from the node's events, because the
 * core asks for it synchronously (Identity's own getters are async).
 */
import {
  type Identity,
  type MessageKind,
  type ToxNode,
  type ToxNodeEvents,
  ToxProtocolError,
  type UserStatus,
} from "../tox/index.js";
import { type CoreLogger, silentLogger } from "./errors.js";
import { nospamBytes } from "./keys.js";
import type { FriendPresence, IdentitySpec, ToxGateway, ToxGatewayEvents } from "./tox-gateway.js";

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
    });
    for (const friend of spec.friends) await identity.addFriendNoRequest(friend);
    for (const request of spec.pendingRequests)
      await this.addFriend(identity.publicKey, request.address, request.message);
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

  private require(identity: string): Identity {
    const id = this.node.identity(identity);
    if (id === undefined) throw new Error(`Tox identity ${identity.slice(0, 16)}… is not online`);
    return id;
  }
}

function presenceKey(identity: string, friend: string): string {
  return `${identity}:${friend}`;
}
