/**
 * Everything the homeserver double remembers: accounts and tokens, rooms, media, transaction ids,
 * presence and account data, and which of it the appservice is interested in. The HTTP routes are a
 * thin layer over these operations, and tests read the same state to assert what the bridge did.
 */
import { createHmac, randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import type { Registration } from "../../../src/config/registration.js";
import { MatrixApiError, MatrixErrors } from "./errors.js";
import {
  type AppserviceNamespaces,
  claimsUserExclusively,
  compileNamespaces,
  ownsAlias,
  ownsRoom,
  ownsUser,
} from "./namespaces.js";
import { type JsonObject, type Membership, Room, type RoomEvent } from "./rooms.js";

export interface Account {
  userId: string;
  displayname?: string;
  avatar_url?: string;
  /** Created by the appservice (m.login.application_service) rather than by a human. */
  appservice: boolean;
  accountData: Map<string, JsonObject>;
  roomAccountData: Map<string, Map<string, JsonObject>>;
  presence: { presence: string; status_msg?: string; lastActive: number };
}

/** Who a request acts as, after token checks and appservice identity assertion. */
export interface Requester {
  userId: string;
  token: string;
  /** True when the request used the appservice's as_token. */
  appservice: boolean;
  deviceId: string;
}

export interface StoredMedia {
  mediaId: string;
  contentType: string;
  filename?: string;
  data: Buffer;
  uploader: string;
}

export interface CreateRoomRequest {
  preset?: "private_chat" | "trusted_private_chat" | "public_chat";
  visibility?: "public" | "private";
  name?: string;
  topic?: string;
  invite?: string[];
  is_direct?: boolean;
  initial_state?: Array<{ type: string; state_key?: string; content: JsonObject }>;
  power_level_content_override?: JsonObject;
  room_alias_name?: string;
  creation_content?: JsonObject;
  room_version?: string;
}

export interface EphemeralEvent {
  type: "m.typing" | "m.receipt" | "m.presence";
  room_id?: string;
  sender?: string;
  content: JsonObject;
}

const LOCALPART = /^[a-z0-9._=\-/+]+$/;

export class HomeserverState extends EventEmitter<{
  event: [RoomEvent];
  ephemeral: [EphemeralEvent, { interested: boolean }];
}> {
  readonly accounts = new Map<string, Account>();
  private readonly tokens = new Map<string, { userId: string; deviceId: string }>();
  readonly rooms = new Map<string, Room>();
  readonly aliases = new Map<string, string>();
  readonly media = new Map<string, StoredMedia>();
  /** Thumbnails a test provides per media id (the double cannot scale images itself). */
  readonly thumbnails = new Map<string, StoredMedia>();
  /** (token, user, endpoint, txnId) -> event id: what makes retried PUTs idempotent. */
  private readonly txnIds = new Map<string, string>();
  readonly namespaces: AppserviceNamespaces;
  private readonly typing = new Map<string, Set<string>>();

  constructor(
    readonly domain: string,
    readonly registration: Registration,
  ) {
    super();
    this.namespaces = compileNamespaces(registration, domain);
    this.addAccount(this.namespaces.botUserId, true);
  }

  // ---- accounts and authentication ------------------------------------------------------------

  private addAccount(userId: string, appservice: boolean): Account {
    const account: Account = {
      userId,
      appservice,
      accountData: new Map(),
      roomAccountData: new Map(),
      presence: { presence: "offline", lastActive: Date.now() },
    };
    this.accounts.set(userId, account);
    return account;
  }

  private issueToken(userId: string, deviceId = randomBytes(5).toString("hex").toUpperCase()) {
    const token = `syt_${randomBytes(16).toString("base64url")}`;
    this.tokens.set(token, { userId, deviceId });
    return { token, deviceId };
  }

  userIdFor(localpart: string): string {
    return `@${localpart}:${this.domain}`;
  }

  /** A human account made by the test (the double has no password flows). */
  createHumanUser(localpart: string, displayname?: string): { userId: string; accessToken: string } {
    const userId = this.userIdFor(localpart);
    if (!LOCALPART.test(localpart)) throw MatrixErrors.invalidUsername(`Invalid localpart: ${localpart}`);
    if (this.accounts.has(userId)) throw MatrixErrors.userInUse();
    if (claimsUserExclusively(this.namespaces, userId)) {
      throw MatrixErrors.exclusive(`${userId} is in an appservice's exclusive namespace`);
    }
    const account = this.addAccount(userId, false);
    if (displayname !== undefined) account.displayname = displayname;
    return { userId, accessToken: this.issueToken(userId).token };
  }

  /** POST /register: appservice registrations and the checks humans run into first. */
  register(
    body: JsonObject,
    asToken: string | undefined,
  ): { user_id: string; access_token?: string; device_id?: string } {
    const username = body.username;
    if (body.type === "m.login.application_service") {
      if (asToken === undefined) throw MatrixErrors.missingToken();
      if (asToken !== this.registration.as_token) throw MatrixErrors.unknownToken();
    }
    if (username !== undefined && typeof username !== "string") throw MatrixErrors.badJson("username");
    if (username === undefined) {
      throw body.type === "m.login.application_service"
        ? MatrixErrors.missingParam("username")
        : MatrixErrors.forbidden("Registration is disabled");
    }
    const localpart = username.startsWith("@") ? (username.slice(1).split(":")[0] ?? "") : username;
    if (!LOCALPART.test(localpart)) {
      throw MatrixErrors.invalidUsername("User ID can only contain characters a-z, 0-9, or '=_-./+'");
    }
    const userId = this.userIdFor(localpart);
    if (body.type === "m.login.application_service") {
      if (!ownsUser(this.namespaces, userId)) {
        throw MatrixErrors.exclusive(`${userId} is not in the appservice's user namespace`);
      }
      if (this.accounts.has(userId)) throw MatrixErrors.userInUse();
      this.addAccount(userId, true);
      if (body.inhibit_login === true) return { user_id: userId };
      const { token, deviceId } = this.issueToken(
        userId,
        typeof body.device_id === "string" ? body.device_id : undefined,
      );
      return { user_id: userId, access_token: token, device_id: deviceId };
    }
    if (this.accounts.has(userId)) throw MatrixErrors.userInUse();
    if (claimsUserExclusively(this.namespaces, userId)) {
      throw MatrixErrors.exclusive(`${userId} is reserved by an application service`);
    }
    throw MatrixErrors.forbidden("Registration is disabled");
  }

  /** POST /login with m.login.application_service (spec v1.2): a device for an appservice user. */
  /**
   * Secret of a shared-secret login module (devture's matrix-synapse-shared-secret-auth); when set,
   * `com.devture.shared_secret_auth` logins for local users are accepted: token = hex
   * HMAC-SHA512(secret, full user id).
   */
  loginSharedSecret: string | undefined;

  /** POST /login: the appservice login, or the shared-secret one when configured. */
  login(body: JsonObject, bearer: string | undefined) {
    if (body.type === "com.devture.shared_secret_auth" && this.loginSharedSecret !== undefined)
      return this.loginWithSharedSecret(body);
    return this.loginAsAppservice(body, bearer);
  }

  private loginWithSharedSecret(body: JsonObject) {
    const identifier = body.identifier as { type?: unknown; user?: unknown } | undefined;
    if (identifier?.type !== "m.id.user" || typeof identifier.user !== "string") {
      throw MatrixErrors.badJson("identifier must be an m.id.user");
    }
    const userId = identifier.user.startsWith("@") ? identifier.user : this.userIdFor(identifier.user);
    const expected = createHmac("sha512", this.loginSharedSecret ?? "")
      .update(userId)
      .digest("hex");
    const given = typeof body.token === "string" ? body.token : "";
    if (!userId.endsWith(`:${this.domain}`) || !this.accounts.has(userId) || given !== expected)
      throw new MatrixApiError(403, "M_FORBIDDEN", "Invalid username or password");
    const deviceId = typeof body.device_id === "string" ? body.device_id : undefined;
    const { token, deviceId: issued } = this.issueToken(userId, deviceId);
    return { user_id: userId, access_token: token, device_id: issued };
  }

  /** POST /logout: the token stops working. */
  logout(token: string): void {
    this.tokens.delete(token);
  }

  /** Access tokens alive now (tests check that a login was undone). */
  tokenCount(userId: string): number {
    let n = 0;
    for (const entry of this.tokens.values()) if (entry.userId === userId) n++;
    return n;
  }

  loginAsAppservice(body: JsonObject, asToken: string | undefined) {
    if (body.type !== "m.login.application_service") {
      throw new MatrixApiError(400, "M_UNKNOWN", `Unsupported login type ${String(body.type)}`);
    }
    if (asToken === undefined) throw MatrixErrors.missingToken();
    if (asToken !== this.registration.as_token) throw MatrixErrors.unknownToken();
    const identifier = body.identifier as { type?: unknown; user?: unknown } | undefined;
    if (identifier?.type !== "m.id.user" || typeof identifier.user !== "string") {
      throw MatrixErrors.badJson("identifier must be an m.id.user");
    }
    const userId = identifier.user.startsWith("@") ? identifier.user : this.userIdFor(identifier.user);
    if (!ownsUser(this.namespaces, userId))
      throw new MatrixApiError(403, "M_EXCLUSIVE", `${userId} is not yours`);
    if (!this.accounts.has(userId)) throw MatrixErrors.forbidden(`${userId} is not registered`);
    const deviceId = typeof body.device_id === "string" ? body.device_id : undefined;
    const { token, deviceId: issued } = this.issueToken(userId, deviceId);
    return { user_id: userId, access_token: token, device_id: issued };
  }

  /**
   * Resolves a request's token and `user_id` query into the acting user, as the Client-Server API
   * and the AS API's identity assertion require.
   */
  authenticate(token: string | undefined, assertedUserId: string | undefined): Requester {
    if (token === undefined || token === "") throw MatrixErrors.missingToken();
    if (token === this.registration.as_token) {
      const userId = assertedUserId ?? this.namespaces.botUserId;
      if (!ownsUser(this.namespaces, userId)) {
        throw MatrixErrors.forbidden(`Application service cannot masquerade as this user (${userId}).`);
      }
      if (!this.accounts.has(userId)) {
        throw MatrixErrors.forbidden(`Application service has not registered this user (${userId})`);
      }
      return { userId, token, appservice: true, deviceId: "APPSERVICE" };
    }
    const entry = this.tokens.get(token);
    if (!entry) throw MatrixErrors.unknownToken();
    return { userId: entry.userId, token, appservice: false, deviceId: entry.deviceId };
  }

  account(userId: string): Account {
    const a = this.accounts.get(userId);
    if (!a) throw MatrixErrors.notFound(`Profile not found: ${userId}`);
    return a;
  }

  // ---- transaction ids ------------------------------------------------------------------------

  /** Runs `create` once per (token, user, endpoint, txnId); replays return the first event id. */
  idempotent(req: Requester, endpoint: string, txnId: string, create: () => string): string {
    const key = `${req.token}\u0000${req.userId}\u0000${endpoint}\u0000${txnId}`;
    const seen = this.txnIds.get(key);
    if (seen !== undefined) return seen;
    const eventId = create();
    this.txnIds.set(key, eventId);
    return eventId;
  }

  // ---- rooms ----------------------------------------------------------------------------------

  room(roomId: string): Room {
    const room = this.rooms.get(roomId);
    if (!room) throw MatrixErrors.notFound(`Unknown room ${roomId}`);
    return room;
  }

  /** A room the requester is (or was) in: others must not even learn it exists. */
  visibleRoom(req: Requester, roomId: string): Room {
    const room = this.rooms.get(roomId);
    const m = room?.membership(req.userId);
    if (!room || m === undefined) throw MatrixErrors.forbidden(`${req.userId} is not in room ${roomId}`);
    return room;
  }

  resolveRoom(idOrAlias: string): Room {
    if (idOrAlias.startsWith("#")) {
      const id = this.aliases.get(idOrAlias);
      if (!id) throw MatrixErrors.notFound(`Room alias ${idOrAlias} not found`);
      return this.room(id);
    }
    return this.room(idOrAlias);
  }

  private commit(room: Room, ev: Parameters<Room["append"]>[0]): RoomEvent {
    const full = room.append(ev);
    this.emit("event", full);
    return full;
  }

  private memberContent(userId: string, membership: Membership, extra: JsonObject = {}): JsonObject {
    const a = this.accounts.get(userId);
    const content: JsonObject = { membership, ...extra };
    if (membership === "join" || membership === "invite") {
      if (a?.displayname !== undefined && !("displayname" in extra)) content.displayname = a.displayname;
      if (a?.avatar_url !== undefined && !("avatar_url" in extra)) content.avatar_url = a.avatar_url;
    }
    return content;
  }

  createRoom(req: Requester, body: CreateRoomRequest): Room {
    const roomId = `!${randomBytes(12).toString("base64url")}:${this.domain}`;
    const room = new Room(roomId, req.userId);
    const preset = body.preset ?? (body.visibility === "public" ? "public_chat" : "private_chat");
    if (body.room_alias_name !== undefined) {
      const alias = `#${body.room_alias_name}:${this.domain}`;
      if (this.aliases.has(alias)) throw MatrixErrors.unknown(400, `Room alias ${alias} already taken`);
      if (!req.appservice && this.namespaces.aliases.some((n) => n.exclusive && n.regex.test(alias))) {
        throw MatrixErrors.exclusive(`${alias} is reserved by an application service`);
      }
    }
    for (const invitee of body.invite ?? []) {
      if (typeof invitee !== "string" || !invitee.startsWith("@")) {
        throw MatrixErrors.invalidParam(`Invalid user ID to invite: ${String(invitee)}`);
      }
    }
    this.rooms.set(roomId, room);
    const s = req.userId;
    this.commit(room, {
      sender: s,
      type: "m.room.create",
      state_key: "",
      content: { room_version: body.room_version ?? "10", ...body.creation_content, creator: s },
    });
    this.commit(room, {
      sender: s,
      type: "m.room.member",
      state_key: s,
      content: this.memberContent(s, "join"),
    });
    const users: Record<string, number> = { [s]: 100 };
    if (preset === "trusted_private_chat") for (const u of body.invite ?? []) users[u] = 100;
    this.commit(room, {
      sender: s,
      type: "m.room.power_levels",
      state_key: "",
      content: {
        users,
        users_default: 0,
        events: {
          "m.room.name": 50,
          "m.room.power_levels": 100,
          "m.room.history_visibility": 100,
          "m.room.canonical_alias": 50,
          "m.room.avatar": 50,
          "m.room.tombstone": 100,
          "m.room.server_acl": 100,
          "m.room.encryption": 100,
        },
        events_default: 0,
        state_default: 50,
        ban: 50,
        kick: 50,
        redact: 50,
        invite: 0,
        ...body.power_level_content_override,
      },
    });
    if (body.room_alias_name !== undefined) {
      const alias = `#${body.room_alias_name}:${this.domain}`;
      this.aliases.set(alias, roomId);
      room.aliases.add(alias);
      this.commit(room, { sender: s, type: "m.room.canonical_alias", state_key: "", content: { alias } });
    }
    const joinRule = preset === "public_chat" ? "public" : "invite";
    this.commit(room, {
      sender: s,
      type: "m.room.join_rules",
      state_key: "",
      content: { join_rule: joinRule },
    });
    this.commit(room, {
      sender: s,
      type: "m.room.history_visibility",
      state_key: "",
      content: { history_visibility: "shared" },
    });
    if (preset !== "public_chat") {
      this.commit(room, {
        sender: s,
        type: "m.room.guest_access",
        state_key: "",
        content: { guest_access: "can_join" },
      });
    }
    for (const st of body.initial_state ?? []) {
      if (typeof st?.type !== "string" || typeof st.content !== "object") {
        throw MatrixErrors.badJson("initial_state entries need type and content");
      }
      this.commit(room, { sender: s, type: st.type, state_key: st.state_key ?? "", content: st.content });
    }
    if (body.name !== undefined) {
      this.commit(room, { sender: s, type: "m.room.name", state_key: "", content: { name: body.name } });
    }
    if (body.topic !== undefined) {
      this.commit(room, { sender: s, type: "m.room.topic", state_key: "", content: { topic: body.topic } });
    }
    for (const invitee of body.invite ?? []) {
      this.commit(room, {
        sender: s,
        type: "m.room.member",
        state_key: invitee,
        content: this.memberContent(invitee, "invite", body.is_direct ? { is_direct: true } : {}),
      });
    }
    return room;
  }

  /** join, invite, leave (self) and kick (leave of another user), with the membership auth rules. */
  changeMembership(
    req: Requester,
    room: Room,
    target: string,
    next: Membership,
    extra: JsonObject = {},
  ): RoomEvent {
    if (next === "invite" && !target.startsWith("@"))
      throw MatrixErrors.invalidParam(`Invalid user ID ${target}`);
    room.authoriseMembership(req.userId, target, next);
    return this.commit(room, {
      sender: req.userId,
      type: "m.room.member",
      state_key: target,
      content: this.memberContent(target, next, extra),
    });
  }

  sendEvent(
    req: Requester,
    room: Room,
    type: string,
    content: JsonObject,
    stateKey?: string,
    ts?: number,
  ): RoomEvent {
    if (type === "m.room.member" && stateKey !== undefined) {
      const next = content.membership;
      if (typeof next !== "string") throw MatrixErrors.badJson("m.room.member needs a membership");
      if (next === "join" && stateKey === req.userId && room.membership(req.userId) === "join") {
        // A profile change in one room (per-room display name): allowed for the member itself.
        return this.commit(room, { sender: req.userId, type, state_key: stateKey, content });
      }
      room.authoriseMembership(req.userId, stateKey, next as Membership);
      return this.commit(room, { sender: req.userId, type, state_key: stateKey, content });
    }
    room.authoriseEvent(req.userId, type, stateKey);
    const ev: Parameters<Room["append"]>[0] = { sender: req.userId, type, content };
    if (stateKey !== undefined) ev.state_key = stateKey;
    if (ts !== undefined) ev.origin_server_ts = ts;
    return this.commit(room, ev);
  }

  redact(req: Requester, room: Room, eventId: string, reason: string | undefined): RoomEvent {
    const target = room.event(eventId);
    if (!target) throw MatrixErrors.notFound(`Event ${eventId} not found in ${room.roomId}`);
    room.authoriseRedaction(req.userId, target);
    const content: JsonObject = { redacts: eventId };
    if (reason !== undefined) content.reason = reason;
    const redaction = this.commit(room, {
      sender: req.userId,
      type: "m.room.redaction",
      content,
      redacts: eventId,
    });
    room.applyRedaction(target, redaction);
    return redaction;
  }

  joinedRooms(userId: string): string[] {
    return [...this.rooms.values()].filter((r) => r.membership(userId) === "join").map((r) => r.roomId);
  }

  /** A global profile change is also a member event in every joined room, as Synapse does. */
  setProfile(req: Requester, userId: string, field: "displayname" | "avatar_url", value: unknown): void {
    if (req.userId !== userId) throw MatrixErrors.forbidden(`Cannot set the profile of ${userId}`);
    if (value !== undefined && value !== null && typeof value !== "string") throw MatrixErrors.badJson(field);
    const account = this.account(userId);
    if (typeof value === "string") account[field] = value;
    else delete account[field];
    for (const roomId of this.joinedRooms(userId)) {
      const room = this.room(roomId);
      const current = room.getState("m.room.member", userId)?.content ?? { membership: "join" };
      const content: JsonObject = { ...current };
      if (typeof value === "string") content[field] = value;
      else delete content[field];
      this.commit(room, { sender: userId, type: "m.room.member", state_key: userId, content });
    }
  }

  // ---- ephemeral ------------------------------------------------------------------------------

  private readonly typingTimers = new Map<string, NodeJS.Timeout>();

  /**
   * Typing on/off as PUT /typing does. A typing notice expires after `timeoutMs` (as on Synapse),
   * which sends the EDU without the user again.
   */
  setTyping(req: Requester, room: Room, userId: string, typing: boolean, timeoutMs?: number): void {
    if (req.userId !== userId) throw MatrixErrors.forbidden(`Cannot set typing for ${userId}`);
    if (room.membership(userId) !== "join")
      throw MatrixErrors.forbidden(`${userId} is not in ${room.roomId}`);
    const key = `${room.roomId}\u0000${userId}`;
    const pending = this.typingTimers.get(key);
    if (pending) clearTimeout(pending);
    this.typingTimers.delete(key);
    if (typing && timeoutMs !== undefined) {
      const timer = setTimeout(() => {
        this.typingTimers.delete(key);
        this.updateTyping(room, userId, false);
      }, timeoutMs);
      timer.unref();
      this.typingTimers.set(key, timer);
    }
    this.updateTyping(room, userId, typing);
  }

  private updateTyping(room: Room, userId: string, typing: boolean): void {
    let set = this.typing.get(room.roomId);
    if (!set) {
      set = new Set();
      this.typing.set(room.roomId, set);
    }
    if (typing) set.add(userId);
    else set.delete(userId);
    this.emitEphemeral(
      { type: "m.typing", room_id: room.roomId, content: { user_ids: [...set] } },
      this.interestedInRoom(room),
    );
  }

  /** Stops timers (typing expiry); called when the server closes. */
  dispose(): void {
    for (const t of this.typingTimers.values()) clearTimeout(t);
    this.typingTimers.clear();
  }

  typingIn(roomId: string): string[] {
    return [...(this.typing.get(roomId) ?? [])];
  }

  readonly receipts: Array<{
    roomId: string;
    userId: string;
    type: string;
    eventId: string;
    threadId?: string;
  }> = [];

  sendReceipt(req: Requester, room: Room, type: string, eventId: string, threadId?: string): void {
    if (!["m.read", "m.read.private", "m.fully_read"].includes(type)) {
      throw MatrixErrors.invalidParam(`Unknown receipt type ${type}`);
    }
    if (room.membership(req.userId) !== "join")
      throw MatrixErrors.forbidden(`${req.userId} is not in ${room.roomId}`);
    if (!room.event(eventId)) throw MatrixErrors.notFound(`Event ${eventId} not found`);
    const r: (typeof this.receipts)[number] = { roomId: room.roomId, userId: req.userId, type, eventId };
    if (threadId !== undefined) r.threadId = threadId;
    this.receipts.push(r);
    if (type === "m.fully_read") return; // a read marker: room account data, not an EDU
    const receipt: JsonObject = { ts: Date.now() };
    if (threadId !== undefined) receipt.thread_id = threadId;
    const interested =
      type === "m.read.private" ? ownsUser(this.namespaces, req.userId) : this.interestedInRoom(room);
    this.emitEphemeral(
      {
        type: "m.receipt",
        room_id: room.roomId,
        content: { [eventId]: { [type]: { [req.userId]: receipt } } },
      },
      interested,
    );
  }

  setPresence(req: Requester, userId: string, presence: string, statusMsg: string | undefined): void {
    if (req.userId !== userId) throw MatrixErrors.forbidden(`Cannot set presence for ${userId}`);
    if (!["online", "offline", "unavailable"].includes(presence)) {
      throw MatrixErrors.invalidParam(`Unknown presence ${presence}`);
    }
    const account = this.account(userId);
    account.presence = { presence, lastActive: Date.now() };
    if (statusMsg !== undefined) account.presence.status_msg = statusMsg;
    const content: JsonObject = { presence, last_active_ago: 0, currently_active: presence === "online" };
    if (statusMsg !== undefined) content.status_msg = statusMsg;
    // Interesting when the user is the appservice's or shares a room with one of its users.
    const interested =
      ownsUser(this.namespaces, userId) ||
      this.joinedRooms(userId).some((id) => this.interestedInRoom(this.room(id)));
    this.emitEphemeral({ type: "m.presence", sender: userId, content }, interested);
  }

  private emitEphemeral(edu: EphemeralEvent, interested: boolean): void {
    this.emit("ephemeral", edu, { interested });
  }

  // ---- appservice interest ----------------------------------------------------------------------

  /** A room is interesting when its id or an alias is in the namespaces or a joined member is. */
  interestedInRoom(room: Room): boolean {
    if (ownsRoom(this.namespaces, room.roomId)) return true;
    for (const alias of room.aliases) if (ownsAlias(this.namespaces, alias)) return true;
    return room.members("join").some((u) => ownsUser(this.namespaces, u));
  }

  /** The AS API interest rule for one event, evaluated against the state after the event. */
  interestedInEvent(ev: RoomEvent): boolean {
    if (ownsUser(this.namespaces, ev.sender)) return true;
    if (
      ev.type === "m.room.member" &&
      ev.state_key !== undefined &&
      ownsUser(this.namespaces, ev.state_key)
    ) {
      return true;
    }
    const room = this.rooms.get(ev.room_id);
    return room ? this.interestedInRoom(room) : false;
  }

  // ---- media ------------------------------------------------------------------------------------

  storeMedia(uploader: string, data: Buffer, contentType: string, filename?: string): string {
    const mediaId = randomBytes(12).toString("base64url");
    const m: StoredMedia = { mediaId, contentType, data, uploader };
    if (filename !== undefined) m.filename = filename;
    this.media.set(mediaId, m);
    return `mxc://${this.domain}/${mediaId}`;
  }

  /** The media behind an mxc:// URI of this server, or undefined. */
  mediaOf(mxc: string): StoredMedia | undefined {
    const prefix = `mxc://${this.domain}/`;
    return mxc.startsWith(prefix) ? this.media.get(mxc.slice(prefix.length)) : undefined;
  }

  /** Serves `data` as the thumbnail of an uploaded media (any requested size). */
  setThumbnail(mxc: string, data: Buffer, contentType: string): void {
    const original = this.mediaOf(mxc);
    if (!original) throw new Error(`No media ${mxc}`);
    this.thumbnails.set(original.mediaId, { ...original, data, contentType });
  }
}
