/**
 * Send-window congestion control for one net_crypto session.
 *
 * c-toxcore runs a rate estimator (packets_left from the acked rate and queue growth every
 * 50 ms). Congestion control is local to the sender, so we use a simpler, well-understood
 * scheme: an AIMD window over packets *in flight* (sent, not yet reported received), with slow
 * start, a multiplicative decrease at most once per RTT when the peer's REQUEST reports a fresh
 * loss, and an RTT estimate from buffer_start progress. Counting only in-flight packets (the gap
 * list tells us which later packets arrived) keeps a lossy link moving while a hole is being
 * repaired; the span of the window is capped separately so the peer's 32768-slot array never
 * overflows.
 */

/** `CRYPTO_MIN_QUEUE_LENGTH`: c-toxcore never lets its window drop below this. */
export const MIN_WINDOW = 64;
/** Large enough for ~100 Mbit/s at 10 ms RTT, small enough to keep bursts sane. */
export const MAX_WINDOW = 8192;
/** Maximum span (holes included) of our send window; the peer accepts < 32768. */
export const MAX_SPAN = 16384;
/** `DEFAULT_PING_CONNECTION`: RTT assumed before the first sample. */
export const DEFAULT_RTT = 1000;
/** Decrease factor on loss. Gentler than TCP's 0.5 because random loss is common on UDP paths. */
const DECREASE = 0.7;

export class CongestionWindow {
  cwnd = MIN_WINDOW;
  ssthresh = MAX_WINDOW;
  /** Smoothed RTT (ms). */
  srtt = DEFAULT_RTT;
  /** Minimum RTT seen (ms); c-toxcore uses it to decide whether a re-request is stale. */
  minRtt = DEFAULT_RTT;
  private hasSample = false;
  private lastDecrease = Number.NEGATIVE_INFINITY;

  /**
   * RTT to plan resends and probes with. Before the first sample c-toxcore assumes 1 s; that
   * makes early loss recovery (and Karn-starved sampling under loss) needlessly slow, so we
   * plan with a quarter of it until measured.
   */
  get planningRtt(): number {
    return this.hasSample ? this.srtt : DEFAULT_RTT / 4;
  }

  /** Packets the window still admits given `inFlight` unacknowledged ones and the span. */
  free(inFlight: number, span: number): number {
    const byWindow = Math.floor(this.cwnd) - inFlight;
    const bySpan = MAX_SPAN - span;
    return Math.max(0, Math.min(byWindow, bySpan));
  }

  onRttSample(ms: number): void {
    const sample = Math.max(1, ms);
    if (!this.hasSample) {
      this.srtt = sample;
      this.minRtt = sample;
      this.hasSample = true;
      return;
    }
    this.srtt = this.srtt * 0.875 + sample * 0.125;
    if (sample < this.minRtt) this.minRtt = sample;
  }

  /** `n` packets newly confirmed received. */
  onAcked(n: number): void {
    if (n <= 0) return;
    if (this.cwnd < this.ssthresh) this.cwnd = Math.min(MAX_WINDOW, this.cwnd + n);
    else this.cwnd = Math.min(MAX_WINDOW, this.cwnd + n / this.cwnd);
  }

  /** The peer reported packets missing that we had not already resent recently. */
  onLoss(now: number): void {
    if (now - this.lastDecrease < this.planningRtt) return;
    this.lastDecrease = now;
    this.ssthresh = Math.max(MIN_WINDOW, this.cwnd * DECREASE);
    this.cwnd = this.ssthresh;
  }
}
