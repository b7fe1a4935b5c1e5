/**
 * Time source injected into every protocol state machine, so they run without real timers in
 * tests. Milliseconds, monotonic within a process run. `unixSeconds()` is wall-clock time for
 * the few fields Tox defines in Unix seconds (DHTPK no_replay, save-file "last seen").
 */
export interface Clock {
  now(): number;
  unixSeconds(): number;
}

export const systemClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  unixSeconds: () => Math.floor(Date.now() / 1000),
};

/** A clock that only moves when told to; for deterministic state-machine tests. */
export class ManualClock implements Clock {
  constructor(
    private ms = 1_000_000,
    private unixBase = 1_700_000_000,
  ) {}
  now(): number {
    return this.ms;
  }
  unixSeconds(): number {
    return this.unixBase + Math.floor(this.ms / 1000);
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}
