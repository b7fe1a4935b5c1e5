/**
 * Min-heap of (deadline, item) with lazy invalidation: rescheduling an item pushes a new entry
 * with a fresh generation, so stale entries are skipped when they surface. The node's
 * single timer sleeps until `peekTime()` and pops only what is due: O(log n) per wake instead
 * of a scan over every hosted identity.
 */
export class DeadlineQueue<T> {
  private heap: Array<{ at: number; item: T; gen: number }> = [];
  /** The live entry per scheduled item. Generations are global, never reused. */
  private readonly live = new Map<T, { gen: number; at: number }>();
  private generation = 0;

  /** Schedules `item` at `at`, replacing any earlier schedule of it. */
  schedule(item: T, at: number): void {
    const gen = ++this.generation;
    this.live.set(item, { gen, at });
    this.push({ at, item, gen });
  }

  /**
   * Schedules `item` at `at` unless it is already due earlier. For input-driven rescheduling: a
   * stream of packets, each asking for "now + 1 ms", must not keep pushing back work that is
   * already due (an overdue ack starved that way throttles the peer's sender).
   */
  scheduleNoLater(item: T, at: number): void {
    const current = this.live.get(item);
    if (current !== undefined && current.at <= at) return;
    this.schedule(item, at);
  }

  /** Forgets an item (its entries become stale). */
  remove(item: T): void {
    this.live.delete(item);
  }

  /** Deadline of the earliest live entry, or Infinity. */
  peekTime(): number {
    this.dropStale();
    return this.heap[0]?.at ?? Number.POSITIVE_INFINITY;
  }

  /** Removes and returns every item due at or before `now` (each once). */
  popDue(now: number): T[] {
    const due: T[] = [];
    for (;;) {
      this.dropStale();
      const top = this.heap[0];
      if (top === undefined || top.at > now) return due;
      this.pop();
      this.live.delete(top.item); // consumed: the item is unscheduled until scheduled again
      due.push(top.item);
    }
  }

  get size(): number {
    return this.live.size;
  }

  private dropStale(): void {
    while (this.heap.length > 0) {
      const top = this.heap[0]!;
      if (this.live.get(top.item)?.gen === top.gen) return;
      this.pop();
    }
  }

  private push(e: { at: number; item: T; gen: number }): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.at <= e.at) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = e;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && h[r]!.at < h[l]!.at ? r : l;
      if (h[c]!.at >= last.at) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
  }
}
