/**
 * The outbound half of store-and-forward: messages from Matrix/XMPP users to Tox friends.
 *
 * - `send` persists first (one row per 1372-byte part, in one transaction; idempotent on the
 *   frontend's event id) and resolves only then, so the frontend acknowledges its transaction
 *   after the message is durable.
 * - A per-friend pump hands due items to Tox in id order while the friend is online and records
 *   each Tox message id (`sending`). One friend's queue never waits for another's.
 * - The friend's read receipt marks the item delivered; when every part of a source event is
 *   delivered the frontend is told, with its own event id.
 * - The friend going offline before the receipts puts the `sending` items back in the queue, in
 *   order, and they go again on the next connection: c-toxcore does the same with unreceipted
 *   messages on reconnect, so delivery is at-least-once, like Tox's own.
 * - An item older than `maxAgeMs`, or handed over `maxAttempts` times without a receipt, is
 *   given up with a notice to the frontend. At startup `recover()` requeues `sending` rows left
 *   by a crash.
 */
import { type OutboxItem, type Store, StoreConstraintError } from "../store/index.js";
import type { OutboxEventsRepo } from "../store/repos/outbox-events.js";
import { type Clock, fromHex, splitMessage } from "../tox/index.js";
import { CoreError, type CoreLogger, errorText } from "./errors.js";
import type { AccountRef, MessageKind, SendResult } from "./frontend.js";
import type { FrontendHub } from "./frontends.js";
import { hex } from "./keys.js";
import { Lanes } from "./lanes.js";
import type { CoreMetrics } from "./metrics.js";
import type { ToxGateway } from "./tox-gateway.js";

export interface OutboxOptions {
  /** Give up on a message not delivered this long after it was queued. Default 7 days. */
  maxAgeMs?: number;
  /** Give up after handing a message to Tox this many times without a receipt. Default 20. */
  maxAttempts?: number;
  /** Wait before retrying after Tox refused a message for a reason other than "offline". */
  retryDelayMs?: (attempts: number) => number;
  /** Items read per database round trip while pumping. Default 50. */
  batchSize?: number;
  /** How often queues of offline friends are checked against the age limit. Default 60 s. */
  expirySweepMs?: number;
  /**
   * Finished rows (delivered, failed) are kept this long, then pruned. They are what makes a
   * redelivered source event a no-op, so keep them longer than any frontend redelivers. 30 days.
   */
  retentionMs?: number;
}

const DAY_MS = 24 * 3600 * 1000;
const PRUNE_EVERY_MS = 3600 * 1000;
const defaultRetryDelay = (attempts: number) => Math.min(1000 * 2 ** attempts, 5 * 60_000);

export class Outbox {
  private readonly lanes: Lanes;
  private readonly maxAgeMs: number;
  private readonly maxAttempts: number;
  private readonly retryDelayMs: (attempts: number) => number;
  private readonly batchSize: number;
  private readonly expirySweepMs: number;
  private lastExpirySweep = Number.NEGATIVE_INFINITY;
  private readonly retentionMs: number;
  private lastPrune = Number.NEGATIVE_INFINITY;
  /** Source events already reported as failed in this run (one notice per event, not per part). */
  private readonly failedNoticed = new Set<string>();
  /** Lanes whose pump stopped because Tox's send queue was not empty (resumed by a receipt). */
  private readonly throttled = new Set<string>();

  constructor(
    private readonly deps: {
      store: Store;
      outboxEvents: OutboxEventsRepo;
      tox: ToxGateway;
      frontends: FrontendHub;
      metrics: CoreMetrics;
      clock: Clock;
      log: CoreLogger;
    },
    opts: OutboxOptions = {},
  ) {
    this.lanes = new Lanes(deps.log, "outbox");
    this.maxAgeMs = opts.maxAgeMs ?? 7 * DAY_MS;
    this.maxAttempts = opts.maxAttempts ?? 20;
    this.retryDelayMs = opts.retryDelayMs ?? defaultRetryDelay;
    this.batchSize = opts.batchSize ?? 50;
    this.expirySweepMs = opts.expirySweepMs ?? 60_000;
    this.retentionMs = opts.retentionMs ?? 30 * DAY_MS;
  }

  /** Persists a message for a friend and starts delivering it; resolves once it is durable. */
  async send(
    account: AccountRef,
    friend: string,
    text: string,
    kind: MessageKind = "normal",
    sourceEventId?: string,
  ): Promise<SendResult> {
    if (text.length === 0) throw new CoreError("empty-message", "An empty message cannot be sent to Tox.");
    const { store } = this.deps;
    const friendPk = fromHex(friend);
    const row = await store.friends.get(account.id, friendPk);
    if (row === null)
      throw new CoreError("unknown-friend", `${friend.slice(0, 8)}… is not one of your Tox friends.`, {
        friend,
      });
    const decoder = new TextDecoder();
    const pieces = splitMessage(text).map((p) => decoder.decode(p));
    const network = account.owner.kind;
    const enqueueAll = async (outbox: Store["outbox"]) => {
      let fresh = false;
      for (const [part, body] of pieces.entries()) {
        const { created } = await outbox.enqueue({
          accountId: account.id,
          friendPk,
          kind,
          body,
          part,
          sourceNetwork: sourceEventId === undefined ? null : network,
          sourceEventId: sourceEventId ?? null,
        });
        fresh ||= created;
      }
      return fresh;
    };
    // Idempotency is the outbox's unique (account, friend, network, event id, part): a redelivered
    // event maps onto its rows. One part is one statement; several go in one transaction so a
    // crash never leaves half a message queued.
    const created = await this.persist(account, friend, () =>
      pieces.length === 1 ? enqueueAll(store.outbox) : store.transaction((tx) => enqueueAll(tx.outbox)),
    );
    if (created) this.deps.metrics.messagesQueued++;
    this.kick(account, friend);
    return { created, parts: pieces.length };
  }

  /** Runs the enqueue; the outbox's foreign key on friends is what says "not a friend". */
  private async persist<T>(account: AccountRef, friend: string, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (err) {
      if (err instanceof StoreConstraintError && err.kind === "foreign_key")
        throw new CoreError("unknown-friend", `${friend.slice(0, 8)}… is not one of your Tox friends.`, {
          account: account.id,
          friend,
        });
      throw err;
    }
  }

  /** Schedules a pump of this friend's queue (coalesced with one already waiting). */
  kick(account: AccountRef, friend: string): Promise<void> {
    return this.lanes.runOnce(laneKey(account, friend), "pump", () => this.pump(account, friend, false));
  }

  /** Like kick, but also applies the age limit while the friend is offline. */
  private sweep(account: AccountRef, friend: string): Promise<void> {
    return this.lanes.runOnce(laneKey(account, friend), "sweep", () => this.pump(account, friend, true));
  }

  /**
   * Friend online: pump. Offline: the messages on the wire without a receipt go back in the queue
   * (sent again on the next connection); those Tox still holds it sends itself then, so they
   * stay `sending` and no copy goes twice. Without the list, everything unreceipted is resent.
   */
  onConnection(account: AccountRef, friend: string, online: boolean, unconfirmed?: number[]): Promise<void> {
    if (online) return this.kick(account, friend);
    return this.lanes.run(laneKey(account, friend), async () => {
      const friendPk = fromHex(friend);
      const n =
        unconfirmed === undefined
          ? await this.deps.store.outbox.requeueSending(account.id, friendPk)
          : await this.deps.outboxEvents.requeueMessages(account.id, friendPk, unconfirmed);
      if (n > 0) {
        this.deps.metrics.messagesRequeued += n;
        this.deps.log.debug(
          { account: account.id, friend: friend.slice(0, 16), n },
          "core: requeued unreceipted",
        );
      }
    });
  }

  onReceipt(account: AccountRef, friend: string, messageId: number): Promise<void> {
    return this.lanes.run(laneKey(account, friend), async () => {
      const friendPk = fromHex(friend);
      const item = await this.deps.outboxEvents.deliver(account.id, friendPk, messageId);
      if (item === null) return; // a receipt for a message we did not send, or a duplicate
      this.deps.metrics.messagesDelivered++;
      // Window room again: resume a pump that stopped for flow control.
      if (this.throttled.delete(laneKey(account, friend))) void this.kick(account, friend);
      if (item.sourceEventId === null || item.pendingParts > 0) return;
      const eventId = item.sourceEventId;
      await this.deps.frontends.tell(account, "readReceipt", (f) => f.readReceipt(account, friend, eventId));
    });
  }

  /** Startup: messages handed to Tox by a previous run get no receipt now; queue them again. */
  async recover(): Promise<number> {
    const n = await this.deps.store.outbox.requeueAllSending();
    if (n > 0) this.deps.log.info({ n }, "core: requeued messages in flight at last shutdown");
    return n;
  }

  /**
   * Periodic: pumps online friends with queued items (retries that came due) and, at most every
   * `expirySweepMs`, offline ones too so the age limit is applied while a friend stays away.
   */
  async tick(accountById: (id: number) => AccountRef | undefined): Promise<void> {
    const now = this.deps.clock.now();
    const sweep = now - this.lastExpirySweep >= this.expirySweepMs;
    if (sweep) this.lastExpirySweep = now;
    if (now - this.lastPrune >= PRUNE_EVERY_MS) {
      this.lastPrune = now;
      const pruned = await this.deps.store.outbox.prune(new Date(now - this.retentionMs));
      if (pruned > 0) this.deps.log.debug({ pruned }, "core: pruned finished outbox rows");
    }
    for (const { accountId, friendPk } of await this.deps.outboxEvents.queuedFriends()) {
      const account = accountById(accountId);
      if (account === undefined) continue;
      const friend = hex(friendPk);
      if (this.friendOnline(account, friend)) void this.kick(account, friend);
      else if (sweep) void this.sweep(account, friend);
    }
  }

  idle(): Promise<void> {
    return this.lanes.idle();
  }

  // -------------------------------------------------------------------------------------------

  private async pump(account: AccountRef, friend: string, expireOffline: boolean): Promise<void> {
    const { store, tox, metrics } = this.deps;
    const friendPk = fromHex(friend);
    for (;;) {
      // Nothing to do for an offline friend but the age limit, which the periodic sweep applies.
      if (!expireOffline && !this.friendOnline(account, friend)) return;
      const now = new Date(this.deps.clock.now());
      const due = await store.outbox.listDue(account.id, friendPk, now, this.batchSize);
      // Handed-over items are recorded in one statement per batch, also when the loop stops early.
      const handed: { id: number; toxMessageId: number }[] = [];
      const record = async () => {
        await this.deps.outboxEvents.markSendingMany(handed);
        metrics.messagesToTox += handed.length;
      };
      for (const item of due) {
        const reason = this.giveUpReason(item, now);
        if (reason !== null) {
          await this.giveUp(account, friend, item, reason);
          continue;
        }
        if (!this.friendOnline(account, friend)) return record();
        // Flow control: Tox holds messages back when the window is full; do not pile up more.
        if ((await tox.sendQueueLength(account.publicKey, friend)) > 0) {
          this.throttled.add(laneKey(account, friend));
          return record();
        }
        let messageId: number;
        try {
          messageId = await tox.sendMessage(account.publicKey, friend, item.body, item.kind);
        } catch (err) {
          await record();
          // Went offline between the check and the send: the item waits for the next connection.
          if (!this.friendOnline(account, friend)) return;
          const retryAt = new Date(now.getTime() + this.retryDelayMs(item.attempts));
          await store.outbox.markFailed(item.id, `Tox refused the message: ${errorText(err)}`, retryAt);
          this.deps.log.warn(
            { account: account.id, friend: friend.slice(0, 16), item: item.id, err: errorText(err) },
            "core: Tox refused a message; will retry",
          );
          return;
        }
        handed.push({ id: item.id, toxMessageId: messageId });
      }
      await record();
      if (due.length < this.batchSize) return;
    }
  }

  private friendOnline(account: AccountRef, friend: string): boolean {
    const { tox } = this.deps;
    return tox.isOnline(account.publicKey) && tox.friendPresence(account.publicKey, friend).online;
  }

  private giveUpReason(item: OutboxItem, now: Date): string | null {
    if (now.getTime() - item.createdAt.getTime() > this.maxAgeMs)
      return `not delivered within ${formatDuration(this.maxAgeMs)}`;
    if (item.attempts >= this.maxAttempts) return `no read receipt after ${item.attempts} attempts`;
    return null;
  }

  private async giveUp(account: AccountRef, friend: string, item: OutboxItem, reason: string): Promise<void> {
    const failed = await this.deps.store.outbox.markFailed(item.id, reason);
    if (failed === null) return;
    this.deps.metrics.messagesFailed++;
    this.deps.log.info(
      { account: account.id, friend: friend.slice(0, 16), item: item.id, reason },
      "core: gave up",
    );
    const eventKey =
      item.sourceEventId === null ? `item:${item.id}` : `event:${account.id}:${item.sourceEventId}`;
    if (this.failedNoticed.has(eventKey)) return;
    this.failedNoticed.add(eventKey);
    if (this.failedNoticed.size > 10_000) this.failedNoticed.clear();
    const preview = item.body.length > 60 ? `${item.body.slice(0, 60)}…` : item.body;
    await this.deps.frontends.tell(account, "notice", (f) =>
      f.notice(account, {
        code: "delivery-failed",
        text: `Your message "${preview}" could not be delivered to Tox (${reason}).`,
        friend,
        ...(item.sourceEventId === null ? {} : { sourceEventId: item.sourceEventId }),
      }),
    );
  }
}

function laneKey(account: AccountRef, friend: string): string {
  return `${account.id}:${friend}`;
}

function formatDuration(ms: number): string {
  if (ms % DAY_MS === 0) return `${ms / DAY_MS} day${ms === DAY_MS ? "" : "s"}`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${ms / 1000} s`;
}
