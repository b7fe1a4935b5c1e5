/**
 * A homeserver double for bridge tests: real HTTP on 127.0.0.1 (port 0), the Client-Server and
 * Application Service API subset a bridge uses, transactions pushed to the appservice, plus a test
 * API to act as human users, wait for what the bridge did, inspect state and inject faults.
 *
 *   const hs = await startHomeserver({ registration });
 *   const alice = hs.asUser(hs.createUser("alice"));
 *   const room = await alice.createDirectRoom(hs.botUserId);
 *   await alice.sendMessage(room, "ping");
 *   await hs.waitForMessage({ roomId: room, sender: hs.botUserId, body: "pong" });
 */
import type { AddressInfo } from "node:net";
import express from "express";
import type { Registration } from "../../../src/config/registration.js";
import { AppservicePusher, type TransactionAttempt, type TransactionPath } from "./appservice-pusher.js";
import { TestClient, type TestUser } from "./client.js";
import type { JsonObject, Room, RoomEvent } from "./rooms.js";
import { createRoutes, type Fault, type FaultRequest, type RequestLogEntry } from "./routes.js";
import { type EphemeralEvent, HomeserverState } from "./state.js";

export { MatrixClientError, TestClient, type TestUser } from "./client.js";
export { MatrixApiError } from "./errors.js";
export type { JsonObject, Room, RoomEvent } from "./rooms.js";
export type { FaultRequest, RequestLogEntry } from "./routes.js";
export type { EphemeralEvent } from "./state.js";

export interface HomeserverOptions {
  registration: Registration;
  /** server_name; "localhost" by default. */
  domain?: string;
  /** How transactions reach the appservice (see TransactionPath). Default "v1". */
  transactionPath?: TransactionPath;
  /**
   * Which body keys carry EDUs when the registration asks for them. Default both, as Synapse
   * during the MSC2409 transition; ["de.sorunome.msc2409.ephemeral"] mimics an older homeserver.
   */
  ephemeralKeys?: Array<"ephemeral" | "de.sorunome.msc2409.ephemeral">;
  backoffMs?: { initial: number; max: number };
  uploadLimit?: number;
  /** False: no authenticated media (`/_matrix/client/v1/media/*` unknown), as before spec v1.11. */
  authenticatedMedia?: boolean;
  /** Appservice push starts paused (e.g. until the bridge listens); call resumePush(). */
  startPaused?: boolean;
  /** Accept shared-secret logins (`com.devture.shared_secret_auth`) with this secret. */
  loginSharedSecret?: string;
}

export interface WaitOptions {
  timeoutMs?: number;
}

export interface MessageMatch {
  roomId?: string;
  sender?: string;
  body?: string | RegExp;
  msgtype?: string;
}

interface Waiter {
  match: (ev: RoomEvent) => boolean;
  resolve: (ev: RoomEvent) => void;
}

export class HomeserverDouble {
  readonly state: HomeserverState;
  readonly faults: Fault[] = [];
  readonly requests: RequestLogEntry[] = [];
  readonly unrecognized: string[] = [];
  /** Every EDU the double produced, with whether the appservice was interested. */
  readonly ephemeral: Array<{ edu: EphemeralEvent; interested: boolean }> = [];
  private readonly pusher: AppservicePusher;
  private readonly waiters = new Set<Waiter>();
  private server: import("node:http").Server | undefined;
  url = "";
  /** Timeout of the wait helpers when a call gives none (raise it for suites run under load). */
  defaultWaitMs = 5000;

  constructor(private readonly opts: HomeserverOptions) {
    this.state = new HomeserverState(opts.domain ?? "localhost", opts.registration);
    this.state.loginSharedSecret = opts.loginSharedSecret;
    const reg = opts.registration;
    const wantsEphemeral = reg.receive_ephemeral || reg["de.sorunome.msc2409.push_ephemeral"];
    this.pusher = new AppservicePusher({
      url: reg.url,
      hsToken: reg.hs_token,
      path: opts.transactionPath ?? "v1",
      ephemeralKeys: wantsEphemeral
        ? (opts.ephemeralKeys ?? ["ephemeral", "de.sorunome.msc2409.ephemeral"])
        : [],
      backoffMs: opts.backoffMs ?? { initial: 25, max: 1000 },
      maxEventsPerTransaction: 100,
    });
    // Nothing is pushed before start() (and before resumePush() when asked to start paused).
    this.pusher.pause();
    this.state.on("event", (ev) => {
      for (const w of [...this.waiters]) {
        if (w.match(ev)) {
          this.waiters.delete(w);
          w.resolve(ev);
        }
      }
      if (this.state.interestedInEvent(ev)) this.pusher.enqueueEvent(ev);
    });
    this.state.on("ephemeral", (edu, { interested }) => {
      this.ephemeral.push({ edu, interested });
      if (interested) this.pusher.enqueueEphemeral(edu as unknown as JsonObject);
    });
  }

  get domain(): string {
    return this.state.domain;
  }

  get botUserId(): string {
    return this.state.namespaces.botUserId;
  }

  async start(): Promise<this> {
    const app = express();
    app.disable("x-powered-by");
    app.set("etag", false); // hashing every JSON answer costs more than the rest of a send
    app.use(
      createRoutes({
        state: this.state,
        faults: this.faults,
        log: this.requests,
        uploadLimit: this.opts.uploadLimit ?? 10 * 1024 * 1024,
        authenticatedMedia: this.opts.authenticatedMedia ?? true,
        onUnrecognized: (method, path) => this.unrecognized.push(`${method} ${path}`),
        pingAppservice: (txn) => this.pingAppservice(txn),
      }),
    );
    const server = app.listen(0, "127.0.0.1");
    await new Promise<void>((resolve, reject) => {
      server.once("listening", resolve);
      server.once("error", reject);
    });
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    if (!this.opts.startPaused) this.pusher.resume();
    return this;
  }

  /**
   * Points transactions at the appservice (registration.url by default): tests whose bridge listens
   * on port 0 learn the URL only after starting it. Queued events carry over.
   */
  setAppserviceUrl(url: string): void {
    this.pusher.setUrl(url);
    this.pusher.resume();
  }

  private async pingAppservice(transactionId: string | undefined) {
    const started = Date.now();
    try {
      const res = await fetch(`${this.pusher.url.replace(/\/+$/, "")}/_matrix/app/v1/ping`, {
        method: "POST",
        headers: {
          Authorization: `Bearer ${this.opts.registration.hs_token}`,
          "Content-Type": "application/json",
        },
        body: JSON.stringify(transactionId === undefined ? {} : { transaction_id: transactionId }),
        signal: AbortSignal.timeout(5000),
      });
      return { status: res.status, body: await res.text(), ms: Date.now() - started };
    } catch {
      return { ms: Date.now() - started };
    }
  }

  /** Holds appservice transactions back (they queue) until resumePush(). */
  pausePush(): void {
    this.pusher.pause();
  }

  resumePush(): void {
    this.pusher.resume();
  }

  /** Every attempt to push a transaction, successful or not. */
  get transactions(): TransactionAttempt[] {
    return this.pusher.attempts;
  }

  /** Events the appservice acknowledged. */
  get deliveredToAppservice(): RoomEvent[] {
    return this.pusher.delivered;
  }

  /** Resolves when every interesting event so far was acknowledged by the appservice. */
  async pushIdle(): Promise<void> {
    await this.pusher.idle();
  }

  async close(): Promise<void> {
    this.state.dispose();
    await this.pusher.close();
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  // ---- test API: users -------------------------------------------------------------------------

  createUser(localpart: string, displayname?: string): TestUser {
    return this.state.createHumanUser(localpart, displayname);
  }

  asUser(user: TestUser): TestClient {
    return new TestClient(this.url, user);
  }

  /** A client that authenticates with the as_token, optionally masquerading via `user_id`. */
  asAppservice(userId?: string): TestClient {
    const client = new TestClient(this.url, {
      userId: userId ?? this.botUserId,
      accessToken: this.opts.registration.as_token,
    });
    if (userId === undefined) return client;
    const request = client.request.bind(client);
    client.request = (method, path, body, headers) => {
      const sep = path.includes("?") ? "&" : "?";
      return request(method, `${path}${sep}user_id=${encodeURIComponent(userId)}`, body, headers);
    };
    return client;
  }

  // ---- test API: inspection --------------------------------------------------------------------

  room(roomId: string): Room {
    return this.state.room(roomId);
  }

  /** Timeline events of a room, optionally of one type. */
  events(roomId: string, type?: string): RoomEvent[] {
    const tl = this.state.room(roomId).timeline;
    return type === undefined ? [...tl] : tl.filter((e) => e.type === type);
  }

  messages(roomId: string): Array<{ sender: string; body: unknown; msgtype: unknown; eventId: string }> {
    return this.events(roomId, "m.room.message").map((e) => ({
      sender: e.sender,
      body: e.content.body,
      msgtype: e.content.msgtype,
      eventId: e.event_id,
    }));
  }

  /** Injects failures: the next `count` matching requests get `status` and change nothing. */
  failNext(
    count: number,
    opts: { status?: number; errcode?: string; match?: (req: FaultRequest) => boolean } = {},
  ): void {
    const fault: Fault = {
      remaining: count,
      status: opts.status ?? 500,
      errcode: opts.errcode ?? "M_UNKNOWN",
    };
    if (opts.match) fault.match = opts.match;
    this.faults.push(fault);
  }

  // ---- test API: waiting -----------------------------------------------------------------------

  /** The first event (already there or yet to come) that matches; rejects after the timeout. */
  waitForEvent(
    match: (ev: RoomEvent) => boolean,
    opts: WaitOptions & { what?: string } = {},
  ): Promise<RoomEvent> {
    for (const room of this.state.rooms.values()) {
      const found = room.timeline.find(match);
      if (found) return Promise.resolve(found);
    }
    const timeoutMs = opts.timeoutMs ?? this.defaultWaitMs;
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match,
        resolve: (ev) => {
          clearTimeout(timer);
          resolve(ev);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${opts.what ?? "an event"}`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  /** "The bridge sent m.room.message with body X into room R" (and/or from sender S). */
  waitForMessage(m: MessageMatch, opts: WaitOptions = {}): Promise<RoomEvent> {
    return this.waitForEvent(
      (ev) =>
        ev.type === "m.room.message" &&
        (m.roomId === undefined || ev.room_id === m.roomId) &&
        (m.sender === undefined || ev.sender === m.sender) &&
        (m.msgtype === undefined || ev.content.msgtype === m.msgtype) &&
        (m.body === undefined ||
          (typeof m.body === "string" ? ev.content.body === m.body : m.body.test(String(ev.content.body)))),
      { ...opts, what: `m.room.message ${JSON.stringify({ ...m, body: String(m.body) })}` },
    );
  }

  waitForMembership(
    roomId: string,
    userId: string,
    membership: string,
    opts: WaitOptions = {},
  ): Promise<RoomEvent> {
    return this.waitForEvent(
      (ev) =>
        ev.room_id === roomId &&
        ev.type === "m.room.member" &&
        ev.state_key === userId &&
        ev.content.membership === membership &&
        this.state.room(roomId).membership(userId) === membership,
      { ...opts, what: `${userId} ${membership} in ${roomId}` },
    );
  }
}

export async function startHomeserver(opts: HomeserverOptions): Promise<HomeserverDouble> {
  return new HomeserverDouble(opts).start();
}
