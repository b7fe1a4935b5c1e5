/**
 * An in-memory stand-in for the bridge core (CoreApi), enough to drive the XMPP gateway in tests:
 * accounts, friends with request states, a few commands of the shared set, sends and typing
 * recorded for assertions. Not the real command parser; that one lives in src/core.
 */

import type { ConferenceSendRequest, ConferenceView, CoreConferencesApi } from "../../src/core/frontend.js";
import { formatAddress, parseAddress } from "../../src/tox/address.js";
import { fromHex, toHex } from "../../src/tox/bytes.js";
import { keyPairFromSecret, newKeyPair } from "../../src/tox/crypto.js";
import type {
  AccountRef,
  CommandReply,
  CoreApi,
  FriendView,
  Frontend,
  Owner,
  PermissionLevel,
  SendRequest,
  SendResult,
} from "../../src/xmpp/core-port.js";

export class FakeCoreError extends Error {
  override readonly name = "CoreError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface FakeAccount {
  ref: AccountRef;
  nospam: Uint8Array;
  friends: Map<string, FriendView>;
}

export function friendView(
  publicKey: string,
  state: FriendView["state"],
  extra: Partial<FriendView> = {},
): FriendView {
  return {
    publicKey,
    state,
    name: "",
    statusMessage: "",
    online: false,
    status: "none",
    lastSeenAt: null,
    requestMessage: "",
    ...extra,
  };
}

export class FakeCore implements CoreApi, CoreConferencesApi {
  readonly accounts = new Map<string, FakeAccount>();
  readonly sent: SendRequest[] = [];
  readonly typing: { owner: string; friend: string; typing: boolean }[] = [];
  readonly commands: { owner: string; text: string; permission: PermissionLevel | null }[] = [];
  frontend: Frontend | null = null;
  /** Milliseconds each `send` takes before it records (to expose reordering by the caller). */
  sendDelay: () => number = () => 0;
  private nextId = 1;
  private readonly seen = new Set<string>();

  registerFrontend(frontend: Frontend): void {
    this.frontend = frontend;
  }

  /** Creates an account directly (test setup). */
  createAccount(ownerId: string, secret?: Uint8Array): FakeAccount {
    const kp = secret ? keyPairFromSecret(secret) : newKeyPair();
    const account: FakeAccount = {
      ref: { id: this.nextId++, owner: { kind: "xmpp", id: ownerId }, publicKey: toHex(kp.publicKey) },
      nospam: new Uint8Array([1, 2, 3, 4]),
      friends: new Map(),
    };
    this.accounts.set(ownerId, account);
    return account;
  }

  async account(owner: Owner): Promise<AccountRef | null> {
    return this.accounts.get(owner.id)?.ref ?? null;
  }

  async friends(owner: Owner): Promise<FriendView[]> {
    return [...(this.accounts.get(owner.id)?.friends.values() ?? [])];
  }

  async friend(owner: Owner, friend: string): Promise<FriendView | null> {
    return this.accounts.get(owner.id)?.friends.get(friend) ?? null;
  }

  private require(owner: Owner): FakeAccount {
    const a = this.accounts.get(owner.id);
    if (!a) throw new FakeCoreError("no-account", "You have no Tox account yet. Send `create` to make one.");
    return a;
  }

  async send(request: SendRequest): Promise<SendResult> {
    const delay = this.sendDelay();
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    const a = this.require(request.owner);
    if (!a.friends.has(request.friend)) throw new FakeCoreError("unknown-friend", "No such friend.");
    if (request.sourceEventId !== undefined) {
      const key = `${request.owner.id} ${request.sourceEventId}`;
      if (this.seen.has(key)) return { created: false, parts: 0 };
      this.seen.add(key);
    }
    this.sent.push(request);
    return { created: true, parts: Math.max(1, Math.ceil(Buffer.byteLength(request.text) / 1372)) };
  }

  async setTyping(owner: Owner, friend: string, typing: boolean): Promise<void> {
    this.require(owner);
    this.typing.push({ owner: owner.id, friend, typing });
  }

  private findFriend(a: FakeAccount, arg: string | undefined): FriendView | undefined {
    if (arg === undefined) return undefined;
    return a.friends.get(arg.toLowerCase());
  }

  async command(owner: Owner, text: string, permission: PermissionLevel | null): Promise<CommandReply> {
    this.commands.push({ owner: owner.id, text, permission });
    if (permission === null) return { ok: false, text: "You are not permitted to use this bridge." };
    const [word = "", ...args] = text.trim().split(/\s+/);
    const a = this.accounts.get(owner.id);
    const needAccount = (): CommandReply => ({
      ok: false,
      text: "You have no Tox account yet. Send `create`.",
    });
    switch (word.toLowerCase()) {
      case "help":
        return {
          ok: true,
          text: "Commands: help, create, id, add, requests, accept, decline, friends, remove",
        };
      case "import":
      case "export":
        return { ok: false, text: `\`${word}\` is not available yet.` };
      case "create": {
        if (a) return { ok: false, text: "You already have a Tox account." };
        const created = this.createAccount(owner.id);
        return { ok: true, text: `Created. Your Tox ID: ${this.toxId(created)}` };
      }
      case "id":
        return a ? { ok: true, text: `tox:${this.toxId(a)}` } : needAccount();
      case "add": {
        if (!a) return needAccount();
        const parsed = parseAddress(args[0] ?? "");
        if (!parsed.ok) return { ok: false, text: `Bad Tox ID: ${parsed.error.message}` };
        const pk = toHex(parsed.value.publicKey);
        a.friends.set(pk, friendView(pk, "pending_out", { requestMessage: args.slice(1).join(" ") }));
        return { ok: true, text: `Friend request sent to ${pk}.` };
      }
      case "accept": {
        if (!a) return needAccount();
        const f = this.findFriend(a, args[0]);
        if (f?.state !== "pending_in") return { ok: false, text: "No such request." };
        f.state = "accepted";
        return { ok: true, text: `Accepted ${f.publicKey}.` };
      }
      case "decline":
      case "remove": {
        if (!a) return needAccount();
        const f = this.findFriend(a, args[0]);
        if (!f) return { ok: false, text: "No such friend." };
        a.friends.delete(f.publicKey);
        return { ok: true, text: `Removed ${f.publicKey}.` };
      }
      case "friends":
      case "requests":
        if (!a) return needAccount();
        return {
          ok: true,
          text: [...a.friends.values()].map((f) => `${f.publicKey} ${f.state}`).join("\n") || "none",
        };
      case "name":
      case "status":
      case "presence":
        return a ? { ok: true, text: `${word} set.` } : needAccount();
      case "logout":
        if (!a) return needAccount();
        if (args[0] !== "confirm") return { ok: true, text: "Send `logout confirm` to go ahead." };
        this.accounts.delete(owner.id);
        return { ok: true, text: "Logged out." };
      default:
        return { ok: false, text: `Unknown command "${word}". Send "help".` };
    }
  }

  toxId(a: FakeAccount): string {
    return formatAddress({ publicKey: fromHex(a.ref.publicKey), nospam: a.nospam });
  }

  // ---- conferences (CoreConferencesApi), in memory

  /** Conference views by account owner, then conference id. */
  readonly conferenceViews = new Map<string, Map<string, ConferenceView>>();
  readonly conferenceSent: ConferenceSendRequest[] = [];
  readonly conferenceInvites: { owner: string; conference: string; invitee: string | Owner }[] = [];
  readonly titlesSet: { owner: string; conference: string; title: string }[] = [];
  readonly left: { owner: string; conference: string }[] = [];
  private readonly conferenceSeen = new Set<string>();

  /** Puts the account into a conference (test setup) and tells the frontend, as the core would. */
  async putConference(ownerId: string, view: ConferenceView): Promise<void> {
    const a = this.accounts.get(ownerId);
    if (!a) throw new Error(`no account ${ownerId}`);
    const views = this.conferenceViews.get(ownerId) ?? new Map<string, ConferenceView>();
    this.conferenceViews.set(ownerId, views);
    views.set(view.id, view);
    await this.frontend?.conferenceUpdated?.(a.ref, view);
  }

  private conferenceOf(owner: Owner, conference: string): ConferenceView {
    this.require(owner);
    const view = this.conferenceViews.get(owner.id)?.get(conference);
    if (!view) throw new FakeCoreError("unknown-conference", "You are not in that conference.");
    return view;
  }

  async conferences(owner: Owner): Promise<ConferenceView[]> {
    return [...(this.conferenceViews.get(owner.id)?.values() ?? [])];
  }

  async createConference(owner: Owner, title = ""): Promise<ConferenceView> {
    const a = this.require(owner);
    const view: ConferenceView = {
      id: toHex(newKeyPair().publicKey),
      title,
      type: "text",
      peers: [{ publicKey: a.ref.publicKey, name: "", self: true }],
      connected: true,
    };
    await this.putConference(owner.id, view);
    return view;
  }

  async inviteToConference(owner: Owner, conference: string, invitee: string | Owner): Promise<void> {
    this.conferenceOf(owner, conference);
    if (typeof invitee === "string" && !this.accounts.get(owner.id)?.friends.has(invitee))
      throw new FakeCoreError("unknown-friend", "No such friend.");
    this.conferenceInvites.push({ owner: owner.id, conference, invitee });
  }

  async sendConference(request: ConferenceSendRequest): Promise<SendResult> {
    this.conferenceOf(request.owner, request.conference);
    if (request.sourceEventId !== undefined) {
      const key = `${request.owner.id} ${request.conference} ${request.sourceEventId}`;
      if (this.conferenceSeen.has(key)) return { created: false, parts: 0 };
      this.conferenceSeen.add(key);
    }
    this.conferenceSent.push(request);
    return { created: true, parts: Math.max(1, Math.ceil(Buffer.byteLength(request.text) / 1372)) };
  }

  /** Like c-toxcore, our own title change raises no title event: no conferenceUpdated here. */
  async setConferenceTitle(owner: Owner, conference: string, title: string): Promise<void> {
    const view = this.conferenceOf(owner, conference);
    this.titlesSet.push({ owner: owner.id, conference, title });
    this.conferenceViews.get(owner.id)?.set(conference, { ...view, title });
  }

  async leaveConference(owner: Owner, conference: string): Promise<void> {
    this.conferenceOf(owner, conference);
    this.left.push({ owner: owner.id, conference });
    this.conferenceViews.get(owner.id)?.delete(conference);
    const a = this.accounts.get(owner.id);
    if (a) await this.frontend?.conferenceRemoved?.(a.ref, conference);
  }
}
