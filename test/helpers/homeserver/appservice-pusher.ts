/**
 * Homeserver -> appservice transactions, as the AS API describes them: events queued in stream
 * order, sent as `PUT /_matrix/app/v1/transactions/{txnId}`, one transaction in flight, the same
 * transaction (same id, same events) retried with exponential backoff until the appservice answers
 * 2xx. Old-homeserver behaviour (legacy path, token in the query string, only the unstable
 * ephemeral key) is selectable so the bridge can be tested against both.
 */
import type { JsonObject, RoomEvent } from "./rooms.js";

export type TransactionPath =
  /** `/_matrix/app/v1/transactions/{txnId}` with `Authorization: Bearer`. */
  | "v1"
  /** `/transactions/{txnId}?access_token=` only, as homeservers before spec v1.4 did. */
  | "legacy"
  /** v1 first; on a non-2xx answer retry that transaction on the legacy path (the spec's fallback). */
  | "v1-then-legacy";

export interface PusherOptions {
  url: string;
  hsToken: string;
  path: TransactionPath;
  /** Body keys for EDUs; empty when the registration does not ask for ephemeral events. */
  ephemeralKeys: Array<"ephemeral" | "de.sorunome.msc2409.ephemeral">;
  backoffMs: { initial: number; max: number };
  maxEventsPerTransaction: number;
}

export interface TransactionAttempt {
  txnId: string;
  url: string;
  /** HTTP status, or 0 when the connection failed. */
  status: number;
  events: number;
  ephemeral: number;
  at: number;
}

interface PendingTransaction {
  txnId: string;
  events: RoomEvent[];
  ephemeral: JsonObject[];
}

export class AppservicePusher {
  private readonly events: RoomEvent[] = [];
  private readonly ephemeral: JsonObject[] = [];
  private inFlight: PendingTransaction | undefined;
  private nextTxn = 1;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private closed = false;
  private paused = false;
  readonly attempts: TransactionAttempt[] = [];
  /** Events the appservice acknowledged (2xx), in order. */
  readonly delivered: RoomEvent[] = [];
  private readonly idleWaiters: Array<() => void> = [];

  constructor(private readonly opts: PusherOptions) {}

  enqueueEvent(ev: RoomEvent): void {
    this.events.push(ev);
    this.kick();
  }

  enqueueEphemeral(edu: JsonObject): void {
    if (this.opts.ephemeralKeys.length === 0) return;
    this.ephemeral.push(edu);
    this.kick();
  }

  get url(): string {
    return this.opts.url;
  }

  /** Later attempts (including the retry of the transaction in flight) go to this URL. */
  setUrl(url: string): void {
    this.opts.url = url;
  }

  /** Stops sending (queued events stay queued) until resume(). */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.kick();
  }

  /** Resolves when nothing is queued or in flight. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  pending(): number {
    return this.events.length + this.ephemeral.length + (this.inFlight ? 1 : 0);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private isIdle(): boolean {
    return !this.inFlight && this.events.length === 0 && this.ephemeral.length === 0;
  }

  private kick(): void {
    if (this.closed || this.paused || this.running || this.timer) return;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.isIdle()) for (const w of this.idleWaiters.splice(0)) w();
    });
  }

  private async drain(): Promise<void> {
    while (!this.closed && !this.paused) {
      if (!this.inFlight) {
        if (this.events.length === 0 && this.ephemeral.length === 0) return;
        this.inFlight = {
          txnId: String(this.nextTxn++),
          events: this.events.splice(0, this.opts.maxEventsPerTransaction),
          ephemeral: this.ephemeral.splice(0, this.opts.maxEventsPerTransaction),
        };
      }
      const ok = await this.send(this.inFlight);
      if (ok) {
        this.delivered.push(...this.inFlight.events);
        this.inFlight = undefined;
        this.failures = 0;
        continue;
      }
      this.failures++;
      const delay = Math.min(this.opts.backoffMs.max, this.opts.backoffMs.initial * 2 ** (this.failures - 1));
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.kick();
      }, delay);
      return;
    }
  }

  private body(txn: PendingTransaction): string {
    const body: JsonObject = { events: txn.events.map((e) => withAge(e)) };
    for (const key of this.opts.ephemeralKeys) body[key] = txn.ephemeral;
    return JSON.stringify(body);
  }

  private async send(txn: PendingTransaction): Promise<boolean> {
    const base = this.opts.url.replace(/\/+$/, "");
    const id = encodeURIComponent(txn.txnId);
    const token = encodeURIComponent(this.opts.hsToken);
    const v1 = async () =>
      this.put(txn, `${base}/_matrix/app/v1/transactions/${id}`, {
        Authorization: `Bearer ${this.opts.hsToken}`,
      });
    const legacy = async () => this.put(txn, `${base}/transactions/${id}?access_token=${token}`, {});
    switch (this.opts.path) {
      case "v1":
        return v1();
      case "legacy":
        return legacy();
      case "v1-then-legacy":
        return (await v1()) || legacy();
    }
  }

  private async put(txn: PendingTransaction, url: string, headers: Record<string, string>): Promise<boolean> {
    let status = 0;
    try {
      const res = await fetch(url, {
        method: "PUT",
        headers: { "Content-Type": "application/json", ...headers },
        body: this.body(txn),
        signal: AbortSignal.timeout(10_000),
      });
      status = res.status;
      await res.arrayBuffer();
    } catch {
      status = 0;
    }
    this.attempts.push({
      txnId: txn.txnId,
      url: url.replace(/access_token=[^&]*/, "access_token=<redacted>"),
      status,
      events: txn.events.length,
      ephemeral: txn.ephemeral.length,
      at: Date.now(),
    });
    return status >= 200 && status < 300;
  }
}

function withAge(ev: RoomEvent): RoomEvent {
  return { ...ev, unsigned: { ...ev.unsigned, age: Math.max(0, Date.now() - ev.origin_server_ts) } };
}
