/**
 * The XEP-0114 connection to the XMPP server (the edge: socket and timers live here). Connects
 * with exponential backoff and keeps reconnecting after a drop; hands every received stanza to
 * the router and sends its replies. A failure while handling one stanza never reaches the socket
 * handler: the router answers with an XMPP error, and anything else is logged.
 */

import { randomUUID } from "node:crypto";
import type { StanzaSink } from "./frontend.js";
import { NS } from "./namespaces.js";
import type { GatewayRouter, XmppLogger } from "./router.js";
import { silentXmppLogger } from "./router.js";
import { type ComponentConnection, newComponentConnection, type XmlElement, xml } from "./xml.js";

export interface ComponentOptions {
  /** `xmpp://host:port` of the server's component port. */
  service: string;
  /** The component's domain (the gateway JID). */
  domain: string;
  secret: string;
  router: GatewayRouter;
  log?: XmppLogger;
  /** First retry delay (default 1 s), doubled up to `maxRetryMs` (default 60 s), with ±20 % jitter. */
  initialRetryMs?: number;
  maxRetryMs?: number;
  /** Called on every (re)connection, e.g. to re-send presence of online friends. */
  onOnline?: () => void;
}

/** An iq request that failed: `condition` is the XMPP error condition when the peer answered with one. */
export class IqError extends Error {
  override readonly name = "IqError";
  constructor(
    message: string,
    readonly condition: string | null,
  ) {
    super(message);
  }

  static fromStanza(el: XmlElement): IqError {
    const error = el.getChild("error");
    const condition = error?.getChildElements().find((c) => c.attrs.xmlns === NS.stanzas)?.name ?? null;
    const text = error?.getChildText("text") ?? "";
    return new IqError(
      `xmpp: ${el.attrs.from ?? "?"} answered with an error (${condition ?? "no condition"})${text ? `: ${text}` : ""}`,
      condition,
    );
  }
}

export type ComponentState = "stopped" | "connecting" | "online" | "waiting";

export class XmppComponent implements StanzaSink {
  private conn: ComponentConnection | null = null;
  private state: ComponentState = "stopped";
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly log: XmppLogger;
  private onlineWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  /** Plain counters for metrics: stanzas in and out, error replies, connections made. */
  readonly stats = { received: 0, sent: 0, errorReplies: 0, connections: 0 };
  /** Stanzas being handled, so stop() can let them finish. */
  private readonly inFlight = new Set<Promise<void>>();
  /** The last queued handling per sender (bare JID). */
  private readonly lanes = new Map<string, Promise<void>>();
  /** Our own iq requests (`iq()`) awaiting their answer, by iq id. */
  private readonly requests = new Map<
    string,
    { to: string; resolve: (el: XmlElement) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }
  >();
  /** Barrier pings awaiting the server's answer, by iq id. */
  private readonly barriers = new Map<
    string,
    { server: string; resolve: () => void; reject: (err: Error) => void; timer: NodeJS.Timeout }
  >();

  constructor(private readonly opts: ComponentOptions) {
    this.log = opts.log ?? silentXmppLogger;
  }

  get status(): ComponentState {
    return this.state;
  }

  /**
   * Starts connecting; resolves when first online (keeps retrying in the background until then),
   * rejects if stopped before that.
   */
  start(): Promise<void> {
    if (this.state === "stopped") {
      this.state = "connecting";
      void this.connect();
    }
    return this.waitOnline();
  }

  waitOnline(): Promise<void> {
    if (this.state === "online") return Promise.resolve();
    if (this.state === "stopped")
      return Promise.reject(new Error(`xmpp component ${this.opts.domain} is stopped`));
    return new Promise((resolve, reject) => this.onlineWaiters.push({ resolve, reject }));
  }

  async stop(): Promise<void> {
    this.state = "stopped";
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    for (const w of this.onlineWaiters.splice(0))
      w.reject(new Error(`xmpp component ${this.opts.domain} stopped`));
    this.failBarriers("xmpp: stopped before the server confirmed delivery");
    this.failRequests("xmpp: stopped before the answer came");
    await Promise.allSettled([...this.inFlight]);
    const conn = this.conn;
    this.conn = null;
    if (conn) {
      conn.removeAllListeners("disconnect");
      await conn.stop().catch(() => undefined);
      conn.removeAllListeners();
      conn.on("error", () => undefined); // late socket errors after stop
    }
  }

  async send(stanza: XmlElement): Promise<void> {
    const conn = this.conn;
    if (this.state !== "online" || conn === null) {
      throw new Error(`xmpp component ${this.opts.domain} is not connected (${this.state})`);
    }
    await conn.send(stanza);
    this.stats.sent++;
    if (stanza.attrs.type === "error") this.stats.errorReplies++;
  }

  /**
   * Sends a stanza and resolves only once the server has processed it (routed it, or stored it
   * for an offline user). XEP-0114 has no acknowledgements (no stream management), so a stanza
   * written just before the connection drops can vanish; the server handles a component's
   * stanzas in order, so its answer to a ping sent right after proves the stanza got through.
   * Rejects when disconnected or unanswered within `timeoutMs`: the caller keeps the message and
   * retries (a duplicate then carries the same stanza id).
   */
  async sendConfirmed(stanza: XmlElement, timeoutMs = 10_000): Promise<void> {
    await this.send(stanza);
    const to = stanza.attrs.to ?? "";
    const server = to.slice(to.indexOf("@") + 1).split("/")[0] ?? "";
    // Unguessable, and only the server may answer it: a user could otherwise fake a confirmation.
    const id = `barrier-${randomUUID()}`;
    const answered = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.barriers.delete(id);
        reject(new Error(`xmpp: ${server} did not confirm stanza delivery within ${timeoutMs} ms`));
      }, timeoutMs);
      this.barriers.set(id, { server, resolve, reject, timer });
    });
    try {
      await this.send(xml("iq", { type: "get", id, to: server }, xml("ping", { xmlns: NS.ping })));
    } catch (err) {
      this.settleBarrier(id, err instanceof Error ? err : new Error(String(err)));
    }
    await answered;
  }

  /**
   * Sends an iq get/set and resolves with the `result` answer; rejects with an `IqError` on an
   * error answer, or when disconnected or unanswered within `timeoutMs`. Only an answer from the
   * JID the request went to settles it (anyone else could guess or replay an id).
   */
  async iq(stanza: XmlElement, timeoutMs = 10_000): Promise<XmlElement> {
    const id = `gw-${randomUUID()}`;
    stanza.attrs.id = id;
    const to = (stanza.attrs.to ?? "").toLowerCase();
    const answered = new Promise<XmlElement>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.requests.delete(id);
        reject(new IqError(`xmpp: ${to} did not answer within ${timeoutMs} ms`, null));
      }, timeoutMs);
      this.requests.set(id, { to, resolve, reject, timer });
    });
    try {
      await this.send(stanza);
    } catch (err) {
      this.settleRequest(id, err instanceof Error ? err : new Error(String(err)));
    }
    return answered;
  }

  private settleRequest(id: string, outcome: XmlElement | Error): void {
    const r = this.requests.get(id);
    if (r === undefined) return;
    this.requests.delete(id);
    clearTimeout(r.timer);
    if (outcome instanceof Error) r.reject(outcome);
    else if (outcome.attrs.type === "result") r.resolve(outcome);
    else r.reject(IqError.fromStanza(outcome));
  }

  private failRequests(why: string): void {
    for (const id of [...this.requests.keys()]) this.settleRequest(id, new Error(why));
  }

  private settleBarrier(id: string, err?: Error): boolean {
    const b = this.barriers.get(id);
    if (b === undefined) return false;
    this.barriers.delete(id);
    clearTimeout(b.timer);
    if (err) b.reject(err);
    else b.resolve();
    return true;
  }

  private failBarriers(why: string): void {
    for (const id of [...this.barriers.keys()]) this.settleBarrier(id, new Error(why));
  }

  private async connect(): Promise<void> {
    const { service, domain, secret } = this.opts;
    const conn = newComponentConnection(service, domain);
    this.conn = conn;
    conn.on("error", (err) => {
      this.log.warn({ domain, err: err.message }, "xmpp: component connection error");
    });
    conn.on("open", (el) => {
      const id = el.attrs.id ?? "";
      conn.authenticate(id, secret).catch((err: unknown) => {
        this.log.error(
          { domain, err: err instanceof Error ? err.message : String(err) },
          "xmpp: handshake failed",
        );
        void conn.disconnect().catch(() => undefined);
      });
    });
    conn.on("online", () => {
      if (this.conn !== conn || this.state === "stopped") return;
      this.state = "online";
      this.attempt = 0;
      this.log.info({ domain, service }, "xmpp: component online");
      this.stats.connections++;
      for (const w of this.onlineWaiters.splice(0)) w.resolve();
      this.opts.onOnline?.();
    });
    conn.on("stanza", (stanza) => this.onStanza(stanza));
    conn.on("disconnect", () => {
      if (this.conn !== conn || this.state === "stopped") return;
      this.log.warn({ domain, service }, "xmpp: component disconnected");
      this.failBarriers("xmpp: disconnected before the server confirmed delivery");
      this.failRequests("xmpp: disconnected before the answer came");
      this.scheduleRetry();
    });
    try {
      await conn.connect(service);
      // Stanzas are small and often followed by a barrier ping: without this, Nagle's algorithm
      // holds the ping for the server's delayed ACK (~40 ms per confirmed delivery).
      conn.socket?.setNoDelay?.(true);
      await conn.open({ domain });
    } catch (err) {
      if (this.conn !== conn || this.state === "stopped") return;
      this.log.warn(
        { domain, service, err: err instanceof Error ? err.message : String(err) },
        "xmpp: connect failed",
      );
      conn.removeAllListeners("disconnect");
      void conn.disconnect().catch(() => undefined);
      this.scheduleRetry();
    }
  }

  private scheduleRetry(): void {
    if (this.state === "stopped" || this.retryTimer !== null) return;
    this.state = "waiting";
    const base = this.opts.initialRetryMs ?? 1000;
    const max = this.opts.maxRetryMs ?? 60_000;
    const delay = Math.min(max, base * 2 ** Math.min(this.attempt, 16)) * (0.8 + 0.4 * Math.random());
    this.attempt++;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.state === "stopped") return;
      this.state = "connecting";
      void this.connect();
    }, delay);
  }

  /**
   * Stanzas from one sender are handled one after another, in arrival order (two quick messages
   * must reach the outbox in the order they were typed); different senders run concurrently.
   */
  private onStanza(stanza: XmlElement): void {
    this.stats.received++;
    // Any answer (a result, or an error from a server without XEP-0199) proves the order point.
    const type = stanza.attrs.type;
    const id = stanza.attrs.id;
    if (stanza.name === "iq" && (type === "result" || type === "error") && id !== undefined) {
      if (this.barriers.get(id)?.server === stanza.attrs.from && this.settleBarrier(id)) return;
      const request = this.requests.get(id);
      if (request !== undefined && request.to === (stanza.attrs.from ?? "").toLowerCase()) {
        this.settleRequest(id, stanza);
        return;
      }
    }
    const from = stanza.attrs.from ?? "";
    const slash = from.indexOf("/");
    const key = (slash === -1 ? from : from.slice(0, slash)).toLowerCase();
    const previous = this.lanes.get(key) ?? Promise.resolve();
    const work = previous
      .then(async () => {
        const replies = await this.opts.router.handle(stanza);
        for (const r of replies) await this.send(r);
      })
      .catch((err: unknown) => {
        this.log.warn(
          { from, err: err instanceof Error ? err.message : String(err) },
          "xmpp: reply not sent",
        );
      });
    this.lanes.set(key, work);
    this.inFlight.add(work);
    void work.finally(() => {
      this.inFlight.delete(work);
      if (this.lanes.get(key) === work) this.lanes.delete(key);
    });
  }
}
