/**
 * Per-key serial execution: jobs with the same key run one after another, in the order they were
 * queued; different keys run concurrently. Each friend's outbox and inbox is a lane, so a receipt
 * is never applied before the send it answers was recorded, and one friend never blocks another.
 */
import { type CoreLogger, errorText } from "./errors.js";

export class Lanes {
  private readonly tails = new Map<string, Promise<void>>();
  /** Keys with a coalescable job queued but not started (see `runOnce`). */
  private readonly waiting = new Set<string>();

  constructor(
    private readonly log: CoreLogger,
    private readonly what: string,
  ) {}

  run(key: string, job: () => Promise<void>): Promise<void> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const next = previous.then(job).catch((err: unknown) => {
      this.log.warn({ lane: this.what, key, err: errorText(err) }, "core: lane job failed");
    });
    this.tails.set(key, next);
    void next.then(() => {
      if (this.tails.get(key) === next) this.tails.delete(key);
    });
    return next;
  }

  /** Like `run`, but a job already waiting under this tag is not queued twice (pumps coalesce). */
  runOnce(key: string, tag: string, job: () => Promise<void>): Promise<void> {
    const id = `${key}\u0000${tag}`;
    if (this.waiting.has(id)) return this.tails.get(key) ?? Promise.resolve();
    this.waiting.add(id);
    return this.run(key, () => {
      this.waiting.delete(id);
      return job();
    });
  }

  /** Resolves when every job queued so far (and any they queue) has finished. */
  async idle(): Promise<void> {
    while (this.tails.size > 0) await Promise.all([...this.tails.values()]);
  }
}
