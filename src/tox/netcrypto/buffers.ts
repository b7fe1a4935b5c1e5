/**
 * Send and receive windows of one net_crypto session, keyed by 32-bit packet numbers that wrap.
 *
 * c-toxcore keeps two fixed 32768-slot pointer arrays per connection (`Packets_Array`), about
 * 0.5 MB per session. A bridge hosts thousands of sessions that are almost always idle, so these
 * hold only the packets actually in flight (Maps), with the same numbering and the same limits.
 * All comparisons are modulo 2^32 (`(a - b) >>> 0`), as in the C code.
 */

/** `CRYPTO_PACKET_BUFFER_SIZE`: the peer rejects packet numbers this far past its buffer_start. */
export const PACKET_WINDOW = 32768;

export function u32(n: number): number {
  return n >>> 0;
}

/** (a − b) mod 2^32. */
export function dist(a: number, b: number): number {
  return (a - b) >>> 0;
}

export interface SentPacket {
  data: Uint8Array;
  /** Last transmission time (ms); 0 = never sent / waiting for a resend. */
  sentAt: number;
  /** The peer asked for it again (REQUEST gap list) and we have not resent it yet. */
  resend: boolean;
}

/** Our outgoing lossless packets: numbers [start, end) minus the ones known received. */
export class SendBuffer {
  start = 0;
  end = 0;
  readonly packets = new Map<number, SentPacket>();

  /** Numbers in the window, holes included (what the peer's window must be able to hold). */
  get span(): number {
    return dist(this.end, this.start);
  }
  /** Packets not yet known to be received. */
  get inFlight(): number {
    return this.packets.size;
  }

  push(data: Uint8Array, now: number): number {
    const num = this.end;
    this.packets.set(num, { data, sentAt: now, resend: false });
    this.end = u32(this.end + 1);
    return num;
  }

  /**
   * The peer's buffer_start moved to `num`: everything below is received. Returns the number of
   * packets freed and the send time of the old head (for an RTT sample), or null if `num` is not
   * in (start, end] (c-toxcore `clear_buffer_until` rejects the whole packet then).
   */
  ackUntil(num: number): { freed: number; headSentAt: number } | null {
    const ahead = dist(num, this.start);
    if (ahead === 0 || ahead > this.span) return null;
    const headSentAt = this.packets.get(this.start)?.sentAt ?? 0;
    let freed = 0;
    if (ahead < this.packets.size) {
      for (let i = this.start; i !== num; i = u32(i + 1)) if (this.packets.delete(i)) freed++;
    } else {
      for (const key of this.packets.keys()) {
        if (dist(key, this.start) < ahead) {
          this.packets.delete(key);
          freed++;
        }
      }
    }
    this.start = u32(num);
    return { freed, headSentAt };
  }

  /** Forgets one packet the peer reported as received (gap list). */
  markReceived(num: number): boolean {
    return this.packets.delete(num);
  }

  clear(): void {
    this.packets.clear();
    this.start = this.end;
  }
}

/** Incoming lossless packets waiting for the ones before them. */
export class RecvBuffer {
  /** Everything below this was delivered (our buffer_start, sent in every packet as the ack). */
  start = 0;
  /** One past the highest packet number the peer told us about. */
  end = 0;
  readonly packets = new Map<number, Uint8Array>();

  get span(): number {
    return dist(this.end, this.start);
  }

  /** `add_data_to_buffer`: false for duplicates and for numbers outside the window. */
  add(num: number, data: Uint8Array): boolean {
    const off = dist(num, this.start);
    if (off >= PACKET_WINDOW) return false;
    if (this.packets.has(num)) return false;
    this.packets.set(num, data);
    if (off >= this.span) this.end = u32(num + 1);
    return true;
  }

  /** Pops the next in-order packet, if it is here. */
  takeNext(): Uint8Array | undefined {
    if (this.start === this.end) return undefined;
    const data = this.packets.get(this.start);
    if (data === undefined) return undefined;
    this.packets.delete(this.start);
    this.start = u32(this.start + 1);
    return data;
  }

  /** `set_buffer_end` (REQUEST and lossy packets carry the sender's buffer_end): forward only. */
  setEnd(num: number): boolean {
    if (dist(num, this.start) > PACKET_WINDOW) return false;
    if (dist(num, this.end) > PACKET_WINDOW) return false;
    this.end = u32(num);
    return true;
  }

  isMissing(offset: number): boolean {
    return !this.packets.has(u32(this.start + offset));
  }
}
