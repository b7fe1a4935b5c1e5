/**
 * ToxGateway over the library's ToxNode. Presence is tracked from the node's events, because the
 * core asks for it synchronously (Identity's own getters are async).
 *
 * Friend requests by Tox ID travel over the onion, which is being wired into ToxNode separately:
 * when the Identity offers `addFriend(address, message)` it is used; until then the friend is
 * added without a request (the session comes up as soon as they add us too) and a warning is
 * logged. Incoming requests arrive as a `friendRequest` node event once the node emits one.
 */
import type { EventEmitter } from "node:events";
import type { Identity, MessageKind, ToxNode, ToxNodeEvents, UserStatus } from "../tox/index.js";
import { type CoreLogger, silentLogger } from "./errors.js";
import { hex, nospamBytes } from "./keys.js";
import type { FriendPresence, IdentitySpec, ToxGateway, ToxGatewayEvents } from "./tox-gateway.js";

/** What a friend request event from the node looks like (the shape the onion work will emit). */
interface FriendRequestEvent {
  identity: string;
  friend: string;
  message: string | Uint8Array;
}

type WithAddFriend = Identity & { addFriend(address: string, message: string): Promise<unknown> };

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
    const id = this.require(identity);
    const addressHex = hex(address).toUpperCase();
    if (typeof (id as Partial<WithAddFriend>).addFriend === "function") {
      await (id as WithAddFriend).addFriend(addressHex, message);
      return;
    }
    this.log.warn(
      { identity: identity.slice(0, 16), friend: addressHex.slice(0, 16) },
      "tox adapter: this ToxNode cannot send friend requests yet; added the friend without one",
    );
    await id.addFriendNoRequest(address.subarray(0, 32));
  }

  async addFriendNoRequest(identity: string, friend: string): Promise<void> {
    await this.require(identity).addFriendNoRequest(friend);
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
        listener.friendConnection({ identity: e.identity, friend: e.friend, online: e.status !== "none" }),
      friendMessage: (e) => listener.friendMessage(e),
      readReceipt: (e) => listener.readReceipt(e),
      friendName: (e) => listener.friendName(e),
      friendStatusMessage: (e) => listener.friendStatusMessage(e),
      friendStatus: (e) => listener.friendStatus(e),
      friendTyping: (e) => listener.friendTyping(e),
    };
    const onRequest = (e: FriendRequestEvent) =>
      listener.friendRequest({
        identity: e.identity,
        friend: e.friend,
        message: typeof e.message === "string" ? e.message : new TextDecoder().decode(e.message),
      });
    const untyped = node as unknown as EventEmitter;
    for (const [event, handler] of Object.entries(handlers))
      untyped.on(event, handler as (...a: unknown[]) => void);
    untyped.on("friendRequest", onRequest);
    return () => {
      for (const [event, handler] of Object.entries(handlers))
        untyped.off(event, handler as (...a: unknown[]) => void);
      untyped.off("friendRequest", onRequest);
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
