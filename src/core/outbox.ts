/**
 * The outbound half of store-and-forward: messages from Matrix/XMPP users to Tox friends.
 *
 * - `send`/`sendMany` persist first (one row per 1372-byte part; a whole batch, e.g. one
 *   appservice transaction, in ONE statement and so one commit; idempotent on the frontend's
 *   event id) and resolve only then, so the frontend acknowledges its transaction after the
 *   messages are durable.
 * - A per-friend pump hands due items to Tox in id order while the friend is online and records
 *   the Tox message ids (`sending`) in one statement per pass. The rows just written are handed
 *   over from memory, without reading them back, while this run knows the friend's whole queue
 *   (see `pump`). One friend's queue never waits for another's. Nothing waits for a batch window:
 *   a batch is whatever is already there.
 * - The friend's read receipt marks the item delivered (receipts that pile up while the friend's
 *   lane is busy are applied by one statement); when every part of a source event is delivered
 *   the frontend is told, with its own event id.
 * - The friend going offline before the receipts puts the `sending` items back in the queue, in
 *   order, and they go again on the next connection: c-toxcore does the same with unreceipted
 *   messages on reconnect, so delivery is at-least-once, like Tox's own.
 * - An item older than `maxAgeMs`, or handed over `maxAttempts` times without a receipt, is
 *   given up with a notice to the frontend. At startup `recover()` requeues `sending` rows left
 *   by a crash.
 */
import type { NewOutboxItem, OutboxItem, Store } from "../store/index.js";
import type { OutboxEventsRepo } from "../store/repos/outbox-events.js";
import { type Clock, fromHex, splitMessage } from "../tox/index.js";
import { CoreError, type CoreLogger, errorText } from "./errors.js";
import type { AccountRef, MessageKind, SendOutcome, SendResult } from "./frontend.js";
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
  /** Per friend (lane key): see LaneState. */
  private readonly state = new Map<string, LaneState>();

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
    const [outcome] = await this.sendMany([
      { account, friend, text, kind, ...(sourceEventId === undefined ? {} : { sourceEventId }) },
    ]);
    if (outcome === undefined) throw new Error("outbox: no outcome for a queued message");
    if (!outcome.ok) throw outcome.error;
    return outcome.result;
  }

  /**
   * Persists many messages (e.g. every message of one appservice transaction) in ONE database
   * statement, so one commit, and starts delivering them; resolves once they are durable, with
   * one outcome per message in order. A message to someone who is not a friend (or an empty one)
   * gets its own error and the others still go; a database failure rejects the whole batch and
   * nothing is written. Idempotent per (account, friend, network, event id) like `send`.
   */
  async sendMany(messages: readonly OutboxMessage[]): Promise<SendOutcome[]> {
    const outcomes: (SendOutcome | undefined)[] = messages.map(() => undefined);
    const rows: NewOutboxItem[] = [];
    /** For each row, the message it is a part of. */
    const rowOf: number[] = [];
    const parts: number[] = messages.map(() => 0);
    const decoder = new TextDecoder();
    for (const [index, m] of messages.entries()) {
      if (m.text.length === 0) {
        outcomes[index] = {
          ok: false,
          error: new CoreError("empty-message", "An empty message cannot be sent to Tox."),
        };
        continue;
      }
      const pieces = splitMessage(m.text).map((p) => decoder.decode(p));
      parts[index] = pieces.length;
      const friendPk = fromHex(m.friend);
      const sourceEventId = m.sourceEventId ?? null;
      for (const [part, body] of pieces.entries()) {
        rows.push({
          accountId: m.account.id,
          friendPk,
          kind: m.kind ?? "normal",
          body,
          part,
          sourceNetwork: sourceEventId === null ? null : m.account.owner.kind,
          sourceEventId,
        });
        rowOf.push(index);
      }
    }
    const enqueued = await this.deps.outboxEvents.enqueueMany(rows);
    const created = messages.map(() => false);
    const notFriend = messages.map(() => false);
    /** New rows per lane, in id order, for the pump to take without reading them back. */
    const fresh = new Map<string, { account: AccountRef; friend: string; items: OutboxItem[] }>();
    for (const [r, result] of enqueued.entries()) {
      const index = rowOf[r] ?? -1;
      const m = messages[index];
      if (m === undefined) continue;
      if (!result.friend) {
        notFriend[index] = true;
        continue;
      }
      if (result.item === null) continue;
      created[index] = true;
      const key = laneKey(m.account, m.friend);
      const entry = fresh.get(key) ?? { account: m.account, friend: m.friend, items: [] };
      entry.items.push(result.item);
      fresh.set(key, entry);
    }
    for (const [index, m] of messages.entries()) {
      if (outcomes[index] !== undefined) continue;
      if (notFriend[index]) {
        outcomes[index] = {
          ok: false,
          error: new CoreError("unknown-friend", `${m.friend.slice(0, 8)}… is not one of your Tox friends.`, {
            account: m.account.id,
            friend: m.friend,
          }),
        };
        continue;
      }
      if (created[index]) this.deps.metrics.messagesQueued++;
      outcomes[index] = { ok: true, result: { created: created[index] ?? false, parts: parts[index] ?? 0 } };
    }
    for (const [key, { account, friend, items }] of fresh) {
      this.laneState(key).fresh.push(...items);
      void this.kick(account, friend);
    }
    // Redelivered events: their rows exist; a pump picks up any still queued (e.g. after a restart).
    for (const [index, m] of messages.entries())
      if (outcomes[index]?.ok === true && !created[index]) void this.kick(m.account, m.friend);
    return outcomes.map((o) => {
      if (o === undefined) throw new Error("outbox: a message got no outcome");
      return o;
    });
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
    const key = laneKey(account, friend);
    return this.lanes.run(key, async () => {
      const friendPk = fromHex(friend);
      this.laneState(key).clear = false;
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

  /**
   * Receipts are applied in batches: those that arrive while the friend's lane is busy are
   * applied together by one statement when it is free (a lone receipt goes at once).
   */
  onReceipt(account: AccountRef, friend: string, messageId: number): Promise<void> {
    const key = laneKey(account, friend);
    this.laneState(key).receipts.push(messageId);
    return this.lanes.runOnce(key, "receipts", () => this.applyReceipts(account, friend));
  }

  private async applyReceipts(account: AccountRef, friend: string): Promise<void> {
    const key = laneKey(account, friend);
    const state = this.laneState(key);
    const ids = state.receipts;
    state.receipts = [];
    if (ids.length === 0) return;
    // Unknown and duplicate receipts (messages we did not send) match no row and are dropped.
    const delivered = await this.deps.outboxEvents.deliverMany(account.id, fromHex(friend), ids);
    if (delivered.length === 0) return;
    this.deps.metrics.messagesDelivered += delivered.length;
    // Window room again: resume a pump that stopped for flow control.
    if (this.throttled.delete(key)) void this.kick(account, friend);
    // Told in the order the receipts arrived, as if each had been applied on its own.
    const arrival = new Map<number, number>();
    for (const [i, id] of ids.entries()) if (!arrival.has(id)) arrival.set(id, i);
    delivered.sort(
      (a, b) => (arrival.get(a.toxMessageId ?? 0) ?? 0) - (arrival.get(b.toxMessageId ?? 0) ?? 0),
    );
    const told = new Set<string>();
    for (const item of delivered) {
      if (item.sourceEventId === null || item.pendingParts > 0 || told.has(item.sourceEventId)) continue;
      const eventId = item.sourceEventId;
      told.add(eventId);
      await this.deps.frontends.tell(account, "readReceipt", (f) => f.readReceipt(account, friend, eventId));
    }
  }

  /** Startup: messages handed to Tox by a previous run get no receipt now; queue them again. */
  async recover(): Promise<number> {
    for (const state of this.state.values()) state.clear = false;
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
      if (this.friendOnline(account, friend)) {
        // Read the queue from the database again: rows queued in a way this run did not see
        // (none are expected) cannot then wait for a restart.
        this.laneState(laneKey(account, friend)).clear = false;
        void this.kick(account, friend);
      } else if (sweep) void this.sweep(account, friend);
    }
  }

  idle(): Promise<void> {
    return this.lanes.idle();
  }

  // -------------------------------------------------------------------------------------------

  private laneState(key: string): LaneState {
    let state = this.state.get(key);
    if (state === undefined) {
      state = { clear: false, seen: new Set(), fresh: [], receipts: [] };
      this.state.set(key, state);
    }
    return state;
  }

  /**
   * Hands the friend's due items to Tox in id order. While the lane is `clear` (this run has seen
   * its whole queue and handed all of it over), the only queued rows are the ones `sendMany` just
   * wrote and passed in `fresh`, so those go out without reading them back: a lone message costs
   * no query between its commit and Tox. Anything that can leave other queued rows (going
   * offline, flow control, a refusal, a requeue, a restart) clears the flag, and the next pass
   * reads the queue from the database again.
   */
  private async pump(account: AccountRef, friend: string, expireOffline: boolean): Promise<void> {
    const state = this.laneState(laneKey(account, friend));
    try {
      if (!(await this.pumpPasses(account, friend, expireOffline, state))) state.clear = false;
    } catch (err) {
      state.clear = false;
      throw err;
    }
    if (!state.clear) state.fresh = [];
  }

  /** True when every queued item was handed over (the lane is then clear). */
  private async pumpPasses(
    account: AccountRef,
    friend: string,
    expireOffline: boolean,
    state: LaneState,
  ): Promise<boolean> {
    const { store, tox, metrics } = this.deps;
    const friendPk = fromHex(friend);
    for (;;) {
      // Nothing to do for an offline friend but the age limit, which the periodic sweep applies.
      if (!expireOffline && !this.friendOnline(account, friend)) return false;
      const now = new Date(this.deps.clock.now());
      const fromMemory = state.clear && !expireOffline;
      let due: OutboxItem[];
      let cut = false;
      if (fromMemory) {
        due = state.fresh.filter((item) => !state.seen.has(item.id));
        state.fresh = [];
        if (due.length === 0) return true;
        remember(state, due);
      } else {
        // Rows written from here on arrive in `fresh` too; those this read sees are skipped there.
        state.fresh = [];
        const head = await this.deps.outboxEvents.listQueued(account.id, friendPk, this.batchSize);
        due = [];
        for (const item of head) {
          // Order is kept: nothing after an item that is not due yet goes before it.
          if (item.nextAttemptAt !== null && item.nextAttemptAt > now) break;
          due.push(item);
        }
        cut = due.length < head.length || head.length === this.batchSize;
        remember(state, due);
      }
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
        if (!this.friendOnline(account, friend)) {
          await record();
          return false;
        }
        // Flow control: Tox holds messages back when the window is full; do not pile up more.
        if ((await tox.sendQueueLength(account.publicKey, friend)) > 0) {
          this.throttled.add(laneKey(account, friend));
          await record();
          return false;
        }
        let messageId: number;
        try {
          messageId = await tox.sendMessage(account.publicKey, friend, item.body, item.kind);
        } catch (err) {
          await record();
          // Went offline between the check and the send: the item waits for the next connection.
          if (!this.friendOnline(account, friend)) return false;
          const retryAt = new Date(now.getTime() + this.retryDelayMs(item.attempts));
          await store.outbox.markFailed(item.id, `Tox refused the message: ${errorText(err)}`, retryAt);
          this.deps.log.warn(
            { account: account.id, friend: friend.slice(0, 16), item: item.id, err: errorText(err) },
            "core: Tox refused a message; will retry",
          );
          return false;
        }
        handed.push({ id: item.id, toxMessageId: messageId });
      }
      await record();
      if (fromMemory) continue; // more may have been written meanwhile
      if (!cut) {
        // The whole queue was read and handed over: from now on new rows come through `fresh`.
        state.clear = !expireOffline;
        return !expireOffline;
      }
      // A full read: read on. One cut short by an item not due yet: the tick comes back later.
      if (due.length < this.batchSize) return false;
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

/** One friend's message to queue (see `Outbox.sendMany`). */
export interface OutboxMessage {
  account: AccountRef;
  friend: string;
  text: string;
  kind?: MessageKind;
  sourceEventId?: string;
}

/** What the outbox knows about one friend's queue in this run (see `pump`). */
interface LaneState {
  /** Every queued row of this friend is in `fresh` or in `seen` (and was handed over). */
  clear: boolean;
  /**
   * Ids of the latest items this lane took up (read or from `fresh`): a row a read already
   * handed over may still arrive in `fresh` afterwards (its writer resumes late), and is skipped.
   */
  seen: Set<number>;
  /** Rows `sendMany` wrote since, in id order. */
  fresh: OutboxItem[];
  /** Read receipts (Tox message ids) not applied yet. */
  receipts: number[];
}

/** How many item ids a lane remembers in `seen`: far more than can be written while one waits. */
const SEEN_LIMIT = 4096;

function remember(state: LaneState, items: readonly OutboxItem[]): void {
  for (const item of items) state.seen.add(item.id);
  if (state.seen.size <= SEEN_LIMIT) return;
  for (const id of state.seen) {
    state.seen.delete(id);
    if (state.seen.size <= SEEN_LIMIT) break;
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
