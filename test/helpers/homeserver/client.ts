/**
 * A tiny Matrix client for tests: the calls a human user makes, over real HTTP against the double
 * (so they run through the same auth and rules as the bridge's calls). Failed calls reject with
 * `MatrixClientError` carrying the status and errcode.
 */
import { randomBytes } from "node:crypto";
import type { JsonObject } from "./rooms.js";
import type { CreateRoomRequest } from "./state.js";

export class MatrixClientError extends Error {
  override readonly name = "MatrixClientError";
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly errcode: string | undefined,
    readonly body: unknown,
  ) {
    super(`${method} ${path} -> ${status} ${errcode ?? ""} ${JSON.stringify(body)}`);
  }
}

export interface TestUser {
  userId: string;
  accessToken: string;
}

export class TestClient {
  constructor(
    readonly baseUrl: string,
    readonly user: TestUser,
  ) {}

  get userId(): string {
    return this.user.userId;
  }

  /** Raw request; `body` is sent as JSON unless it is a Buffer. Resolves with the parsed JSON. */
  async request<T = JsonObject>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    const isBuffer = Buffer.isBuffer(body);
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${this.user.accessToken}`,
        ...(body !== undefined && !isBuffer ? { "Content-Type": "application/json" } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : isBuffer ? (body as Buffer) : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text === "" ? {} : JSON.parse(text);
    } catch {
      /* non-JSON answer (media): returned as text */
    }
    if (!res.ok) {
      const errcode = (parsed as { errcode?: string } | undefined)?.errcode;
      throw new MatrixClientError(method, path, res.status, errcode, parsed);
    }
    return parsed as T;
  }

  private room(roomId: string): string {
    return `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}`;
  }

  async createRoom(opts: CreateRoomRequest = {}): Promise<string> {
    return (await this.request<{ room_id: string }>("POST", "/_matrix/client/v3/createRoom", opts)).room_id;
  }

  /** A DM as Element makes one: trusted_private_chat, is_direct, invitee, and m.direct updated. */
  async createDirectRoom(otherUserId: string): Promise<string> {
    const roomId = await this.createRoom({
      preset: "trusted_private_chat",
      is_direct: true,
      invite: [otherUserId],
    });
    const direct = await this.getAccountData("m.direct").catch(() => ({}) as Record<string, string[]>);
    const list = (direct as Record<string, string[]>)[otherUserId] ?? [];
    await this.setAccountData("m.direct", { ...direct, [otherUserId]: [...list, roomId] });
    return roomId;
  }

  async invite(roomId: string, userId: string): Promise<void> {
    await this.request("POST", `${this.room(roomId)}/invite`, { user_id: userId });
  }

  async join(roomIdOrAlias: string): Promise<string> {
    const path = `/_matrix/client/v3/join/${encodeURIComponent(roomIdOrAlias)}`;
    return (await this.request<{ room_id: string }>("POST", path, {})).room_id;
  }

  async leave(roomId: string): Promise<void> {
    await this.request("POST", `${this.room(roomId)}/leave`, {});
  }

  async kick(roomId: string, userId: string, reason?: string): Promise<void> {
    await this.request(
      "POST",
      `${this.room(roomId)}/kick`,
      reason ? { user_id: userId, reason } : { user_id: userId },
    );
  }

  async sendEvent(roomId: string, type: string, content: JsonObject, txnId = newTxnId()): Promise<string> {
    const path = `${this.room(roomId)}/send/${encodeURIComponent(type)}/${encodeURIComponent(txnId)}`;
    return (await this.request<{ event_id: string }>("PUT", path, content)).event_id;
  }

  sendMessage(roomId: string, body: string, msgtype = "m.text"): Promise<string> {
    return this.sendEvent(roomId, "m.room.message", { msgtype, body });
  }

  async sendState(roomId: string, type: string, stateKey: string, content: JsonObject): Promise<string> {
    const path = `${this.room(roomId)}/state/${encodeURIComponent(type)}/${encodeURIComponent(stateKey)}`;
    return (await this.request<{ event_id: string }>("PUT", path, content)).event_id;
  }

  getState(roomId: string, type: string, stateKey = ""): Promise<JsonObject> {
    return this.request(
      "GET",
      `${this.room(roomId)}/state/${encodeURIComponent(type)}/${encodeURIComponent(stateKey)}`,
    );
  }

  async redact(roomId: string, eventId: string, reason?: string): Promise<string> {
    const path = `${this.room(roomId)}/redact/${encodeURIComponent(eventId)}/${newTxnId()}`;
    return (await this.request<{ event_id: string }>("PUT", path, reason ? { reason } : {})).event_id;
  }

  async setTyping(roomId: string, typing: boolean, timeout = 30_000): Promise<void> {
    const path = `${this.room(roomId)}/typing/${encodeURIComponent(this.userId)}`;
    await this.request("PUT", path, typing ? { typing, timeout } : { typing });
  }

  async sendReceipt(roomId: string, eventId: string, type = "m.read"): Promise<void> {
    await this.request("POST", `${this.room(roomId)}/receipt/${type}/${encodeURIComponent(eventId)}`, {});
  }

  async setPresence(presence: "online" | "offline" | "unavailable", statusMsg?: string): Promise<void> {
    const body = statusMsg === undefined ? { presence } : { presence, status_msg: statusMsg };
    await this.request("PUT", `/_matrix/client/v3/presence/${encodeURIComponent(this.userId)}/status`, body);
  }

  async setDisplayName(name: string): Promise<void> {
    const path = `/_matrix/client/v3/profile/${encodeURIComponent(this.userId)}/displayname`;
    await this.request("PUT", path, { displayname: name });
  }

  getAccountData(type: string): Promise<JsonObject> {
    const path = `/_matrix/client/v3/user/${encodeURIComponent(this.userId)}/account_data/${encodeURIComponent(type)}`;
    return this.request("GET", path);
  }

  async setAccountData(type: string, content: JsonObject): Promise<void> {
    const path = `/_matrix/client/v3/user/${encodeURIComponent(this.userId)}/account_data/${encodeURIComponent(type)}`;
    await this.request("PUT", path, content);
  }

  async upload(data: Buffer, contentType: string, filename?: string): Promise<string> {
    const q = filename === undefined ? "" : `?filename=${encodeURIComponent(filename)}`;
    const res = await this.request<{ content_uri: string }>("POST", `/_matrix/media/v3/upload${q}`, data, {
      "Content-Type": contentType,
    });
    return res.content_uri;
  }

  /** Authenticated download (spec v1.11); returns the bytes and content type. */
  async download(mxc: string): Promise<{ data: Buffer; contentType: string | null }> {
    const m = /^mxc:\/\/([^/]+)\/(.+)$/.exec(mxc);
    if (!m) throw new Error(`Not an mxc URI: ${mxc}`);
    const res = await fetch(`${this.baseUrl}/_matrix/client/v1/media/download/${m[1]}/${m[2]}`, {
      headers: { Authorization: `Bearer ${this.user.accessToken}` },
    });
    if (!res.ok) throw new MatrixClientError("GET", mxc, res.status, undefined, await res.text());
    return { data: Buffer.from(await res.arrayBuffer()), contentType: res.headers.get("content-type") };
  }
}

export function newTxnId(): string {
  return `t${Date.now()}.${randomBytes(4).toString("hex")}`;
}
