/**
 * The inbound half of store-and-forward: messages from Tox friends to Matrix/XMPP users. Tox has
 * already acknowledged a message when it arrives, so it is written to the inbox table first and
 * removed only after the frontend took it. A frontend that is down or refuses gets it again with
 * growing waits (never dropped); messages of one friend reach the frontend in arrival order.
 */
import type { InboxItem, InboxRepo } from "../store/repos/inbox.js";
import { type Clock, fromHex } from "../tox/index.js";
import { type CoreLogger, errorText } from "./errors.js";
import type { AccountRef, MessageKind } from "./frontend.js";
import type { FrontendHub } from "./frontends.js";
import { hex } from "./keys.js";
import { Lanes } from "./lanes.js";
import type { CoreMetrics } from "./metrics.js";

export interface InboxOptions {
  /** Wait before the n-th retry (n from 1). Default 1 s doubling up to 5 min. */
  retryDelayMs?: (attempts: number) => number;
}

const defaultRetryDelay = (attempts: number) => Math.min(1000 * 2 ** (attempts - 1), 5 * 60_000);

export class Inbox {
  private readonly lanes: Lanes;
  private readonly retryDelayMs: (attempts: number) => number;
  /**
   * Friends known to have nothing waiting (seen empty by this process): a new message is then
   * the head of its queue and goes to the frontend straight away, saving two round trips.
   */
  private readonly empty = new Set<string>();

  constructor(
    private readonly deps: {
      inbox: InboxRepo;
      frontends: FrontendHub;
      metrics: CoreMetrics;
      clock: Clock;
      log: CoreLogger;
    },
    opts: InboxOptions = {},
  ) {
    this.lanes = new Lanes(deps.log, "inbox");
    this.retryDelayMs = opts.retryDelayMs ?? defaultRetryDelay;
  }

  onMessage(account: AccountRef, friend: string, kind: MessageKind, text: string): Promise<void> {
    this.deps.metrics.messagesFromTox++;
    const key = laneKey(account.id, friend);
    return this.lanes.run(key, async () => {
      const item = await this.deps.inbox.add({
        accountId: account.id,
        friendPk: fromHex(friend),
        kind,
        body: text,
      });
      // The flag is spent by this message: unless it goes out at once, the friend has a queue.
      if (this.empty.delete(key) && (await this.deliver(account, friend, item))) {
        this.empty.add(key);
        return;
      }
      await this.drain(account, friend);
    });
  }

  /** Retries everything waiting whose time has come (periodic, and when a frontend registers). */
  async tick(accountById: (id: number) => AccountRef | undefined): Promise<void> {
    for (const { accountId, friendPk } of await this.deps.inbox.pending()) {
      const account = accountById(accountId);
      if (account === undefined) continue;
      const friend = hex(friendPk);
      void this.lanes.runOnce(laneKey(accountId, friend), "drain", () => this.drain(account, friend));
    }
  }

  idle(): Promise<void> {
    return this.lanes.idle();
  }

  private async drain(account: AccountRef, friend: string): Promise<void> {
    const { inbox, frontends, clock } = this.deps;
    const key = laneKey(account.id, friend);
    const friendPk = fromHex(friend);
    for (;;) {
      if (frontends.for(account) === undefined) return; // kept until one registers
      const item = await inbox.head(account.id, friendPk);
      if (item === null) {
        this.empty.add(key);
        return;
      }
      if (item.nextAttemptAt !== null && item.nextAttemptAt.getTime() > clock.now()) return;
      if (!(await this.deliver(account, friend, item))) return;
    }
  }

  /** Hands one message to the frontend; false (and a retry scheduled) when it refused. */
  private async deliver(account: AccountRef, friend: string, item: InboxItem): Promise<boolean> {
    const { inbox, frontends, metrics, clock, log } = this.deps;
    const frontend = frontends.for(account);
    if (frontend === undefined) return false;
    try {
      await frontend.deliverMessage(account, {
        id: item.id,
        friend,
        kind: item.kind,
        text: item.body,
        receivedAt: item.receivedAt,
      });
    } catch (err) {
      this.empty.delete(laneKey(account.id, friend));
      metrics.inboundRetries++;
      const retryAt = new Date(clock.now() + this.retryDelayMs(item.attempts + 1));
      await inbox.markRetry(item.id, errorText(err), retryAt);
      log.warn(
        {
          account: account.id,
          friend: friend.slice(0, 16),
          item: item.id,
          attempts: item.attempts + 1,
          err: errorText(err),
        },
        "core: frontend refused an inbound message; will retry",
      );
      return false;
    }
    await inbox.remove(item.id);
    metrics.inboundDelivered++;
    return true;
  }
}

function laneKey(accountId: number, friend: string): string {
  return `${accountId}:${friend}`;
}
