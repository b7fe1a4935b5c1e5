/**
 * Matrix presence -> the user's Tox identity. The identity stays online whatever the Matrix user
 * does (that is the bridge's promise), so presence only colours it: `online` -> no special status,
 * `unavailable` -> away, `offline` -> away too (Tox friends see "away", not a vanished contact).
 * The Matrix `status_msg` becomes the Tox status message.
 *
 * What the user chose with the bot wins: a field (presence, status message) is only changed from
 * Matrix while it still holds the value this sync last put there (or the default: online, no
 * status message). We remember that value in bridge state, so the rule holds across restarts.
 *
 * Clients flap (a phone going idle and back, several devices): changes are applied only after a
 * user's presence has been stable for `debounceMs`, and only the latest one.
 */
import { CoreError } from "../core/errors.js";
import type { Owner } from "../core/frontend.js";
import type { Logger } from "../logger.js";

export type ToxPresence = "online" | "away" | "busy";

/** The core calls this sync needs (BridgeCore has them; CoreApi does not). */
export interface PresenceTarget {
  profile(owner: Owner): Promise<{ statusMessage: string; presence: ToxPresence }>;
  setProfile(owner: Owner, change: { statusMessage?: string; presence?: ToxPresence }): Promise<void>;
}

/** Where the values this sync set are remembered (the store's bridge state). */
export interface PresenceMemory {
  get<T>(key: string): Promise<T | null>;
  set(key: string, value: unknown): Promise<void>;
}

export interface MatrixPresenceOptions {
  target: PresenceTarget;
  memory: PresenceMemory;
  log: Logger;
  /** Quiet time before a change is applied. Default 3 s. */
  debounceMs?: number;
  /** Test hook: timers (default setTimeout/clearTimeout, unref'd). */
  timers?: { set(fn: () => void, ms: number): unknown; clear(handle: unknown): void };
}

/** What one m.presence EDU asks of the Tox identity. */
export interface WantedPresence {
  presence: ToxPresence;
  statusMessage: string;
}

/** Longest Tox status message (bytes). */
const MAX_STATUS_MESSAGE_BYTES = 1007;

/** Matrix presence state -> Tox presence; null for a value the spec does not define. */
export function toxPresenceOf(matrixPresence: unknown): ToxPresence | null {
  switch (matrixPresence) {
    case "online":
      return "online";
    case "unavailable":
    case "offline":
      return "away";
    default:
      return null;
  }
}

/**
 * Reads an m.presence EDU: the user (top-level `sender`, or `content.user_id` from older servers)
 * and what it asks for. Null when it is not a well-formed presence event.
 */
export function parsePresenceEdu(
  edu: Record<string, unknown>,
): { userId: string; wanted: WantedPresence } | null {
  if (edu.type !== "m.presence") return null;
  const content = edu.content;
  if (typeof content !== "object" || content === null) return null;
  const c = content as Record<string, unknown>;
  const userId = typeof edu.sender === "string" ? edu.sender : typeof c.user_id === "string" ? c.user_id : "";
  if (!/^@[^:]+:.+$/.test(userId)) return null;
  const presence = toxPresenceOf(c.presence);
  if (presence === null) return null;
  const statusMessage =
    typeof c.status_msg === "string" ? truncateUtf8(c.status_msg.trim(), MAX_STATUS_MESSAGE_BYTES) : "";
  return { userId, wanted: { presence, statusMessage } };
}

interface AutoRecord {
  presence?: ToxPresence;
  statusMessage?: string;
}

const memoryKey = (userId: string) => `matrix.presence.auto:${userId}`;

export class MatrixPresenceSync {
  private readonly pending = new Map<string, { wanted: WantedPresence; timer: unknown }>();
  private readonly running = new Set<Promise<void>>();
  private readonly debounceMs: number;
  private readonly timers: NonNullable<MatrixPresenceOptions["timers"]>;
  private stopped = false;

  constructor(private readonly opts: MatrixPresenceOptions) {
    this.debounceMs = opts.debounceMs ?? 3000;
    this.timers = opts.timers ?? {
      set: (fn, ms) => setTimeout(fn, ms).unref(),
      clear: (h) => clearTimeout(h as NodeJS.Timeout),
    };
  }

  /** A user's presence changed: applied once it has been stable for `debounceMs`. */
  onPresence(userId: string, wanted: WantedPresence): void {
    if (this.stopped) return;
    const previous = this.pending.get(userId);
    if (previous !== undefined) this.timers.clear(previous.timer);
    const timer = this.timers.set(() => this.fire(userId), this.debounceMs);
    this.pending.set(userId, { wanted, timer });
  }

  /** Applies everything waiting now (tests, shutdown). */
  async flush(): Promise<void> {
    for (const userId of [...this.pending.keys()]) this.fire(userId);
    await this.idle();
  }

  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }

  /** Drops what is waiting; nothing more is applied. */
  stop(): void {
    this.stopped = true;
    for (const { timer } of this.pending.values()) this.timers.clear(timer);
    this.pending.clear();
  }

  private fire(userId: string): void {
    const entry = this.pending.get(userId);
    if (entry === undefined) return;
    this.timers.clear(entry.timer);
    this.pending.delete(userId);
    const job = this.apply(userId, entry.wanted)
      .catch((err: unknown) => this.opts.log.warn({ err, userId }, "Matrix: presence not applied to Tox"))
      .finally(() => this.running.delete(job));
    this.running.add(job);
  }

  /** Applies one wanted presence to the user's identity, leaving what the user set by hand. */
  async apply(userId: string, wanted: WantedPresence): Promise<void> {
    const owner: Owner = { kind: "matrix", id: userId };
    let profile: { statusMessage: string; presence: ToxPresence };
    try {
      profile = await this.opts.target.profile(owner);
    } catch (err) {
      if (err instanceof CoreError && err.code === "no-account") return; // not a bridge user (yet)
      throw err;
    }
    const auto = (await this.opts.memory.get<AutoRecord>(memoryKey(userId))) ?? {};
    const change: { presence?: ToxPresence; statusMessage?: string } = {};
    if (profile.presence === (auto.presence ?? "online") && profile.presence !== wanted.presence)
      change.presence = wanted.presence;
    if (
      profile.statusMessage === (auto.statusMessage ?? "") &&
      profile.statusMessage !== wanted.statusMessage
    )
      change.statusMessage = wanted.statusMessage;
    if (change.presence === undefined && change.statusMessage === undefined) return;
    // Should the process die between these two, the field looks set by hand and is left alone.
    await this.opts.memory.set(memoryKey(userId), {
      presence: change.presence ?? auto.presence,
      statusMessage: change.statusMessage ?? auto.statusMessage,
    } satisfies AutoRecord);
    await this.opts.target.setProfile(owner, change);
    this.opts.log.debug({ userId, ...change }, "Matrix: presence applied to the Tox identity");
  }
}

function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let out = "";
  let bytes = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > maxBytes) break;
    out += ch;
    bytes += n;
  }
  return out;
}
