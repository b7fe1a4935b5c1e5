/**
 * Plain counters the app exports (e.g. to Prometheus); the core does not depend on a metrics
 * library. Counters only grow; gauges are read on demand from `BridgeCore.gauges()`.
 */
export class CoreMetrics {
  /** Tox messages handed to Tox (each part of a split message counts; resends count again). */
  messagesToTox = 0;
  /** Source events accepted from a frontend into the outbox (duplicates not counted). */
  messagesQueued = 0;
  /** Outbox items confirmed by the friend's read receipt. */
  messagesDelivered = 0;
  /** Outbox items given up on (age or attempt limit). */
  messagesFailed = 0;
  /** Items put back in the queue because the friend went offline before its receipt. */
  messagesRequeued = 0;
  /** Messages received from Tox friends. */
  messagesFromTox = 0;
  /** Inbound messages a frontend accepted. */
  inboundDelivered = 0;
  /** Inbound delivery attempts a frontend refused (each will be retried). */
  inboundRetries = 0;
  /** Files a Tox friend received from us completely, and their bytes. */
  filesToTox = 0;
  fileBytesToTox = 0;
  /** Files received from Tox friends completely (before the frontend took them), and their bytes. */
  filesFromTox = 0;
  fileBytesFromTox = 0;
  /** Files either way that ended unfinished for good (declined, cancelled, failed, too old). */
  filesFailed = 0;

  snapshot(): Record<string, number> {
    return { ...(this as unknown as Record<string, number>) };
  }
}

export interface CoreGauges {
  accountsOnline: number;
  friendsOnline: number;
  outboxQueued: number;
  outboxSending: number;
  inboxWaiting: number;
  /** Age in ms of the oldest undelivered outbound message (0 when none). */
  outboxOldestMs: number;
}
