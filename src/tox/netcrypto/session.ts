/**
 * One net_crypto session (c-toxcore `Crypto_Connection`) as a pure state machine: no sockets, no
 * timers, no lookups. The manager (netcrypto.ts) decrypts cookie responses and handshakes, finds
 * the session, and feeds it; the session owns the data-packet crypto, reliability and timers.
 *
 * States: cookie-requesting → handshake-sent → not-confirmed → established (→ killed). A responder
 * starts in not-confirmed. The "temp packet" (cookie request, then our handshake) is resent every
 * second until the first data packet arrives; after 8 sends the session is killed, as in
 * c-toxcore's `kill_timedout`.
 */
import { bytesEqual } from "../bytes.js";
import type { Clock } from "../clock.js";
import { incrementNonce, NONCE_SIZE, newKeyPair, precompute, randomNonce } from "../crypto.js";
import {
  DATA_NUM_THRESHOLD,
  dataPacketNonce,
  decodeRequest,
  encodeRequest,
  openDataPacket,
  PACKET_ID_KILL,
  PACKET_ID_LOSSLESS_END,
  PACKET_ID_LOSSLESS_START,
  PACKET_ID_LOSSY_END,
  PACKET_ID_LOSSY_START,
  PACKET_ID_REQUEST,
  peekDataNonce,
  serializeDataPacket,
} from "../wire/netcrypto.js";
import { dist, RecvBuffer, SendBuffer } from "./buffers.js";
import { CongestionWindow, MAX_SPAN } from "./congestion.js";
import type { CryptoConnectionState } from "./types.js";

/** `CRYPTO_SEND_PACKET_INTERVAL`: temp packet resend and maximum REQUEST interval. */
export const SEND_PACKET_INTERVAL = 1000;
/** `MAX_NUM_SENDPACKET_TRIES`. */
export const MAX_SEND_TRIES = 8;
/** Delay before acknowledging received lossless packets with a REQUEST (c-toxcore: 50 ms floor). */
export const ACK_DELAY = 20;
/** Minimum interval between "tail probe" REQUESTs while our packets are unacknowledged. */
const PROBE_INTERVAL_MIN = 50;
/**
 * Retry interval of the temp packet while no path is usable (address unknown, relays down).
 * c-toxcore retries on every do_net_crypto call, i.e. its 50 ms idle iteration; a 1 ms floor
 * here made a hosting identity tick a thousand times a second for such a session.
 */
export const NO_PATH_RETRY = 50;

export interface SessionHooks {
  /** Sends a raw packet on the session's path. Returns false if there is no usable path. */
  transmit(data: Uint8Array): boolean;
  /** Builds our handshake answering `peerCookie`, carrying our base nonce and session pk. */
  buildHandshake(peerCookie: Uint8Array, baseNonce: Uint8Array, sessionPk: Uint8Array): Uint8Array;
  /** "established", or "killed" for remote KILL / timeout / replacement (not for local kill()). */
  onStatus(state: CryptoConnectionState): void;
  onLossless(data: Uint8Array): void;
  onLossy(data: Uint8Array): void;
  onAcked(bufferStart: number): void;
}

interface TempPacket {
  data: Uint8Array;
  sentAt: number;
  tries: number;
  /** Last send that found no usable path (retried after NO_PATH_RETRY, or when a path appears). */
  failedAt: number;
}

export interface SessionStats {
  state: CryptoConnectionState;
  cwnd: number;
  srtt: number;
  inFlight: number;
  sendSpan: number;
  recvQueued: number;
  sentPackets: number;
  resentPackets: number;
  receivedPackets: number;
}

export class CryptoSession {
  state: CryptoConnectionState;
  readonly sessionPk: Uint8Array;
  private readonly sessionSk: Uint8Array;
  /** Our base nonce as put in the handshake (kept for re-sent handshakes). */
  readonly baseNonce: Uint8Array;
  private readonly sentNonce: Uint8Array;
  private recvNonce = new Uint8Array(NONCE_SIZE);
  peerSessionPk: Uint8Array | null = null;
  private sharedKey: Uint8Array | null = null;
  private temp: TempPacket | null = null;

  readonly send = new SendBuffer();
  readonly recv = new RecvBuffer();
  readonly cc = new CongestionWindow();
  private lastRequestAt = Number.NEGATIVE_INFINITY;
  /** Packets flagged for resend; an upper bound (flagged packets may since be acked), recounted by flushResends. */
  private resendsFlagged = 0;
  /** Last time the peer's acks freed something, or we probed; drives the tail-loss probe. */
  private lastProgressAt = 0;
  private ackPending = false;
  private lastAckedReported = 0;
  private readonly retransmitted = new Set<number>();
  private stats = { sent: 0, resent: 0, received: 0 };

  constructor(
    readonly peerRealPk: Uint8Array,
    public peerDhtPk: Uint8Array,
    private readonly clock: Clock,
    private readonly hooks: SessionHooks,
    initialState: "cookie-requesting" | "not-confirmed",
  ) {
    const kp = newKeyPair();
    this.sessionPk = kp.publicKey;
    this.sessionSk = kp.secretKey;
    this.baseNonce = randomNonce();
    this.sentNonce = Uint8Array.from(this.baseNonce);
    this.state = initialState;
  }

  get isAlive(): boolean {
    return this.state !== "killed";
  }

  // -------------------------------------------------------------------------------------------
  // Handshake phase

  /** Sets the packet resent every second until the session is confirmed, and sends it now. */
  setTempPacket(data: Uint8Array): void {
    this.temp = { data, sentAt: Number.NEGATIVE_INFINITY, tries: 0, failedAt: Number.NEGATIVE_INFINITY };
    this.sendTemp();
  }

  private sendTemp(): void {
    if (this.temp === null) return;
    // Like c-toxcore, a send with no usable path does not count as a try, so a session whose
    // address is not known yet waits instead of timing out.
    if (this.hooks.transmit(this.temp.data)) {
      this.temp.sentAt = this.clock.now();
      this.temp.tries++;
    } else {
      this.temp.failedAt = this.clock.now();
    }
  }

  /** When the temp packet is next due: a second after the last send, paced while no path works. */
  private tempDueAt(): number {
    if (this.temp === null) return Number.POSITIVE_INFINITY;
    return Math.max(this.temp.sentAt + SEND_PACKET_INTERVAL + 1, this.temp.failedAt + NO_PATH_RETRY);
  }

  /** A path may have appeared (direct address learned): a pending temp packet goes at the next tick. */
  pathChanged(): void {
    if (this.temp !== null) this.temp.failedAt = Number.NEGATIVE_INFINITY;
  }

  /** A cookie response with our echo id arrived: answer with our handshake. */
  handleCookie(cookie: Uint8Array): boolean {
    if (this.state !== "cookie-requesting") return false;
    this.state = "handshake-sent";
    this.setTempPacket(this.hooks.buildHandshake(cookie, this.baseNonce, this.sessionPk));
    return true;
  }

  /**
   * A valid handshake from the peer (cookie fresh, keys checked by the manager). In
   * cookie-requesting we answer it with our own handshake (crossed handshakes); in
   * handshake-sent/not-confirmed we adopt its keys. Returns false if the state ignores it.
   */
  handleHandshake(baseNonce: Uint8Array, sessionPk: Uint8Array, newCookie: Uint8Array): boolean {
    if (this.state === "established" || this.state === "killed") return false;
    // A different session key means the peer started over (new process or new session object):
    // the cookie in our pending handshake is not one it can open any more, so answer afresh.
    const peerRestarted = this.peerSessionPk !== null && !bytesEqual(this.peerSessionPk, sessionPk);
    this.recvNonce = Uint8Array.from(baseNonce);
    this.peerSessionPk = Uint8Array.from(sessionPk);
    this.sharedKey = precompute(sessionPk, this.sessionSk);
    if (this.state === "cookie-requesting" || this.temp === null || peerRestarted) {
      this.setTempPacket(this.hooks.buildHandshake(newCookie, this.baseNonce, this.sessionPk));
    }
    this.state = "not-confirmed";
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // Data packets

  private sendData(bufferStart: number, num: number, payload: Uint8Array): boolean {
    if (this.sharedKey === null) return false;
    const pkt = serializeDataPacket(this.sharedKey, this.sentNonce, {
      bufferStart,
      packetNumber: num,
      payload,
    });
    incrementNonce(this.sentNonce);
    this.stats.sent++;
    return this.hooks.transmit(pkt);
  }

  /** Free slots in the send window (0 unless established). */
  windowFree(): number {
    if (this.state !== "established") return 0;
    return this.cc.free(this.send.inFlight, this.send.span);
  }

  /**
   * Queues and sends a lossless packet; -1 if not established or the window is full. Without
   * congestion control (c-toxcore's `write_cryptpacket(..., congestion_control = false)`, which
   * Messenger uses for texts and presence) only the span limit applies: the packet goes out now.
   */
  sendLossless(data: Uint8Array, congestionControl = true): number {
    if (congestionControl ? this.windowFree() <= 0 : this.spanFree() <= 0) return -1;
    const now = this.clock.now();
    const copy = Uint8Array.from(data);
    if (this.send.inFlight === 0) this.lastProgressAt = now;
    const num = this.send.push(copy, now);
    this.sendData(this.recv.start, num, copy);
    return num;
  }

  /** Room left before the span limit (0 unless established). */
  spanFree(): number {
    if (this.state !== "established") return 0;
    return Math.max(0, MAX_SPAN - this.send.span);
  }

  sendLossy(data: Uint8Array): boolean {
    if (this.state !== "established") return false;
    return this.sendData(this.recv.start, this.send.end, data);
  }

  private sendRequest(now: number): void {
    const req = encodeRequest(this.recv.span, (off) => this.recv.isMissing(off));
    this.lastRequestAt = now;
    this.ackPending = false;
    this.sendData(this.recv.start, this.send.end, req);
  }

  /** Handles a 0x1b packet matched to this session. Returns false if it was not valid. */
  handleData(packet: Uint8Array): boolean {
    if (this.state !== "not-confirmed" && this.state !== "established") return false;
    if (this.sharedKey === null) return false;
    const low = peekDataNonce(packet);
    if (!low.ok) return false;
    const { nonce, diff } = dataPacketNonce(this.recvNonce, low.value);
    const opened = openDataPacket(this.sharedKey, nonce, packet);
    if (!opened.ok) return false;
    // Keep the receive nonce trailing the peer's by less than half the 16-bit space (the
    // `DATA_NUM_THRESHOLD` rule); late packets up to ~21845 behind still decrypt.
    if (diff > DATA_NUM_THRESHOLD * 2) {
      let carry = DATA_NUM_THRESHOLD;
      for (let i = NONCE_SIZE - 1; i >= 0 && carry !== 0; i--) {
        const sum = this.recvNonce[i]! + (carry & 0xff);
        this.recvNonce[i] = sum & 0xff;
        carry = (carry >>> 8) + (sum >> 8);
      }
    }
    const { bufferStart, packetNumber, payload } = opened.value;
    const now = this.clock.now();
    this.stats.received++;

    if (bufferStart !== this.send.start) {
      const head = this.send.start;
      const acked = this.send.ackUntil(bufferStart);
      if (acked === null) return false; // c-toxcore drops the whole packet on a bad ack
      if (acked.headSentAt > 0 && !this.retransmitted.has(head)) this.cc.onRttSample(now - acked.headSentAt);
      this.forgetRetransmitted();
      this.cc.onAcked(acked.freed);
      this.lastProgressAt = now;
    }

    const id = payload[0]!;
    if (id === PACKET_ID_KILL) {
      this.terminate(true);
      return true;
    }
    if (this.state === "not-confirmed") {
      this.temp = null;
      this.state = "established";
      // Answer soon: our next data packet is what confirms the session on the peer's side.
      this.ackPending = true;
      this.hooks.onStatus("established");
      if (!this.isAlive) return true;
    }
    this.reportAck();
    if (!this.isAlive) return true;

    if (id === PACKET_ID_REQUEST) {
      const ok = this.handleRequest(payload, now);
      this.learnEnd(packetNumber);
      // While we miss packets, answer the peer's REQUEST with ours so holes get repaired at
      // RTT pace rather than once a second. (Bounded: only while a hole exists.)
      if (this.recv.span > 0) this.ackPending = true;
      return ok;
    }
    if (id >= PACKET_ID_LOSSLESS_START && id <= PACKET_ID_LOSSLESS_END) {
      // A duplicate means our ack did not reach the peer: acknowledge again soon.
      this.ackPending = true;
      if (!this.recv.add(packetNumber, payload)) return false;
      for (let next = this.recv.takeNext(); next !== undefined; next = this.recv.takeNext()) {
        this.hooks.onLossless(next);
        if (!this.isAlive) return true;
      }
      return true;
    }
    if (id >= PACKET_ID_LOSSY_START && id <= PACKET_ID_LOSSY_END) {
      this.learnEnd(packetNumber);
      this.hooks.onLossy(payload);
      return true;
    }
    return false;
  }

  /**
   * The peer's send buffer_end (carried by REQUEST and lossy packets). If it reveals packets we
   * never saw (a lost tail), ask for them soon instead of at the next 1 s REQUEST.
   */
  private learnEnd(num: number): void {
    const before = this.recv.end;
    if (this.recv.setEnd(num) && this.recv.end !== before) this.ackPending = true;
  }

  private reportAck(): void {
    if (this.send.start !== this.lastAckedReported) {
      this.lastAckedReported = this.send.start;
      this.hooks.onAcked(this.send.start);
    }
  }

  private forgetRetransmitted(): void {
    if (this.retransmitted.size === 0) return;
    for (const n of this.retransmitted) if (!this.send.packets.has(n)) this.retransmitted.delete(n);
  }

  /**
   * `handle_request_packet`: packets the gap list skips over were received (freed); listed ones
   * are resent unless we sent them less than an RTT ago (the request predates our resend).
   */
  private handleRequest(payload: Uint8Array, now: number): boolean {
    const decoded = decodeRequest(payload);
    if (!decoded.ok) return false;
    const { requested, covered } = decoded.value;
    if (covered === 0 || this.send.inFlight === 0) return true;
    const want = new Set(requested);
    let freed = 0;
    let lost = 0;
    const guard = this.cc.planningRtt;
    for (const [num, pkt] of this.send.packets) {
      const off = dist(num, this.send.start);
      if (off >= covered) continue;
      if (want.has(off)) {
        if (!pkt.resend && now - pkt.sentAt > guard) {
          pkt.resend = true;
          this.resendsFlagged++;
          lost++;
        }
      } else {
        this.send.packets.delete(num);
        freed++;
      }
    }
    this.cc.onAcked(freed);
    if (freed > 0) this.lastProgressAt = now;
    if (lost > 0) this.cc.onLoss(now);
    this.flushResends(now);
    return true;
  }

  /** Resends packets the peer asked for, at most a window's worth at a time. */
  private flushResends(now: number): void {
    // Called on every tick: skip the walk over thousands of in-flight packets when none is flagged.
    if (this.resendsFlagged === 0) return;
    let budget = Math.max(16, Math.floor(this.cc.cwnd));
    let left = 0;
    for (const [num, pkt] of this.send.packets) {
      if (!pkt.resend) continue;
      if (budget <= 0) {
        left++;
        continue;
      }
      pkt.resend = false;
      pkt.sentAt = now;
      this.retransmitted.add(num);
      this.stats.resent++;
      this.sendData(this.recv.start, num, pkt.data);
      budget--;
    }
    this.resendsFlagged = left;
  }

  // -------------------------------------------------------------------------------------------
  // Timers and teardown

  tick(): void {
    if (!this.isAlive) return;
    const now = this.clock.now();
    if (this.state !== "established" && this.temp !== null) {
      if (this.temp.tries >= MAX_SEND_TRIES) {
        this.terminate(true);
        return;
      }
      if (now >= this.tempDueAt()) this.sendTemp();
    }
    if (this.state === "not-confirmed" || this.state === "established") {
      const since = now - this.lastRequestAt;
      if (since >= SEND_PACKET_INTERVAL || (this.ackPending && since >= ACK_DELAY)) this.sendRequest(now);
      if (
        this.state === "established" &&
        this.send.inFlight > 0 &&
        now - this.lastProgressAt >= this.probeInterval()
      )
        this.probe(now);
      this.flushResends(now);
    }
  }

  private probeInterval(): number {
    return Math.max(PROBE_INTERVAL_MIN, 2 * this.cc.planningRtt + ACK_DELAY);
  }

  /**
   * Tail-loss probe: nothing was acknowledged for a while although packets are in flight (the
   * last ones or the peer's acks were lost). Resend the oldest packet — a duplicate makes the
   * peer ack at once — and a REQUEST, whose packet number tells the peer our buffer_end.
   */
  private probe(now: number): void {
    this.lastProgressAt = now;
    let num = this.send.start;
    let pkt = this.send.packets.get(num);
    if (pkt === undefined) {
      const first = this.send.packets.entries().next();
      if (first.done) return;
      [num, pkt] = first.value;
    }
    pkt.sentAt = now;
    pkt.resend = false;
    this.retransmitted.add(num);
    this.stats.resent++;
    this.sendData(this.recv.start, num, pkt.data);
    this.sendRequest(now);
  }

  /**
   * Milliseconds until this session wants `tick()` again (a hint for the socket edge); 0 when a
   * REQUEST/ack or probe is already due. That 0 matters: the node recomputes an identity's
   * deadline as now + nextTickIn() after every datagram, so a floor of 1 ms would push an
   * overdue ack out again with each packet of a stream arriving faster than 1 per ms. The
   * receiver then acked a few times a second instead of every ACK_DELAY, and c-toxcore's
   * sender, whose rate follows our buffer_start, crawled (issue 7: 2.3 MiB/s instead of ~4).
   * Every due item is cleared by the next tick(), so 0 never spins. The temp packet keeps a
   * 1 ms floor; with no usable path it is retried every NO_PATH_RETRY.
   */
  nextTickIn(): number {
    if (!this.isAlive) return SEND_PACKET_INTERVAL;
    const now = this.clock.now();
    let wait = SEND_PACKET_INTERVAL;
    if (this.state !== "established" && this.temp !== null)
      wait = Math.max(1, Math.min(wait, this.tempDueAt() - now));
    if (this.state === "not-confirmed" || this.state === "established") {
      wait = Math.min(wait, this.lastRequestAt + SEND_PACKET_INTERVAL - now);
      if (this.ackPending) wait = Math.min(wait, this.lastRequestAt + ACK_DELAY - now);
      if (this.state === "established" && this.send.inFlight > 0)
        wait = Math.min(wait, this.lastProgressAt + this.probeInterval() - now);
    }
    return Math.max(0, Math.ceil(wait));
  }

  /**
   * Local close: sends KILL if established (c-toxcore `crypto_kill`), no status event.
   */
  close(): void {
    if (!this.isAlive) return;
    if (this.state === "established")
      this.sendData(this.recv.start, this.send.end, Uint8Array.of(PACKET_ID_KILL));
    this.terminate(false);
  }

  /** Ends the session; `notify` raises onStatus("killed") (remote kill, timeout, replacement). */
  terminate(notify: boolean): void {
    if (!this.isAlive) return;
    this.state = "killed";
    this.temp = null;
    this.send.clear();
    this.recv.packets.clear();
    if (notify) this.hooks.onStatus("killed");
  }

  getStats(): SessionStats {
    return {
      state: this.state,
      cwnd: this.cc.cwnd,
      srtt: this.cc.srtt,
      inFlight: this.send.inFlight,
      sendSpan: this.send.span,
      recvQueued: this.recv.packets.size,
      sentPackets: this.stats.sent,
      resentPackets: this.stats.resent,
      receivedPackets: this.stats.received,
    };
  }
}
