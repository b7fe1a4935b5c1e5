/**
 * File transfers for one identity (c-toxcore Messenger.c file functions), as a Messenger
 * extension: it owns packet ids 80-82 and sends through the Messenger with congestion control.
 *
 * Semantics kept from c-toxcore 0.2.18 because peers rely on them:
 * - File numbers 0-255 per friend and direction; an offer takes the lowest free number.
 * - Sender: pending -> (peer ACCEPT) transferring -> (last chunk sent) finished -> (peer acked the
 *   last chunk's packet) done. Chunks are exactly 1371 bytes except the last; a zero-length file
 *   sends one empty chunk; a stream of unknown size (UINT64_MAX) ends with a short (maybe empty)
 *   chunk.
 * - Receiver: pending -> (we ACCEPT, optionally SEEK first to resume) transferring -> done when
 *   the size is reached or a short chunk arrives; data for a file not transferring is dropped.
 * - Pause by either side (ACCEPT un-pauses one's own pause); KILL by either side; a control for
 *   a file we do not know is answered with KILL (except a KILL). SEEK only from the receiver
 *   before it accepts (`handle_filecontrol`).
 * - When the friend goes offline every transfer ends (`break_files`); the resume record
 *   (file id + offset) lets the app resume when the sender offers the same file id again.
 *
 * Differences, on purpose: the data source and sink are async (disk spooling), so the sender
 * reads ahead a few blocks and the receiver coalesces writes; completion on the receiving side
 * is reported only after the sink has the bytes. Transfers share the send window round-robin, one
 * chunk each per round, so a big file cannot starve a small one.
 */
import { toHex } from "../bytes.js";
import type { Clock } from "../clock.js";
import { randomBytes, sha256 } from "../crypto.js";
import { ToxProtocolError } from "../errors.js";
import { LazyMap } from "../lazy-collections.js";
import { packetAcked } from "../messenger/messenger.js";
import type { FileSink, FileSource } from "./io.js";
import {
  FILE_ID_LENGTH,
  FILE_KIND_AVATAR,
  FILE_KIND_DATA,
  type FileControl,
  type FileSendRequest,
  MAX_CONCURRENT_FILES,
  MAX_FILE_DATA_SIZE,
  MAX_FILENAME_LENGTH,
  PACKET_ID_FILE_CONTROL,
  PACKET_ID_FILE_DATA,
  PACKET_ID_FILE_SENDREQUEST,
  parseFilePacket,
  serializeFilePacket,
  UNKNOWN_FILE_SIZE,
} from "./packets.js";

/** What the transfers need below them (the Messenger implements it). */
export interface FileTransport {
  /** Packet number, or -1 when the friend is not online or the window is full. */
  sendPacket(peerPk: Uint8Array, data: Uint8Array, congestionControl?: boolean): number;
  sendWindowFree(peerPk: Uint8Array): number;
  isOnline(peerPk: Uint8Array): boolean;
}

export type FileDirection = "send" | "recv";

/** A transfer as the application sees it. */
export interface TransferInfo {
  friend: Uint8Array;
  direction: FileDirection;
  /** Wire file number 0-255 (tox.h numbers incoming files `(n + 1) << 16`: see toxFileNumber). */
  fileNumber: number;
  kind: number;
  /** undefined = unknown size (a stream). */
  size: number | undefined;
  fileId: Uint8Array;
  name: Uint8Array;
  /** Bytes sent (send) or received (recv) so far, counted from 0 (a seek skips ahead). */
  transferred: number;
  state: "pending" | "transferring" | "finished";
  pausedByUs: boolean;
  pausedByPeer: boolean;
}

/** Enough to resume a transfer later (persist it as JSON): the file id and the safe offset. */
export interface ResumeRecord {
  friend: string;
  direction: FileDirection;
  fileId: string;
  kind: number;
  size: number | null;
  name: string;
  /** recv: bytes durably handed to the sink; send: bytes sent. */
  offset: number;
}

export type EndReason = "cancelled-by-peer" | "disconnected" | "io-error" | "protocol";

export interface FileTransferEvents {
  /** A friend offers a file: answer with accept (optionally from an offset) or cancel. */
  onOffer(offer: TransferInfo): void;
  /** The peer accepted (our send), paused or resumed a transfer. */
  onControl?(info: TransferInfo, control: "accept" | "pause" | "resume"): void;
  /** recv: every byte is in the sink; send: the peer acknowledged the last chunk. */
  onComplete(info: TransferInfo): void;
  /** Ended without completing (not called for our own cancel). The record allows a resume. */
  onEnded?(info: TransferInfo, reason: EndReason, record: ResumeRecord, error?: unknown): void;
  log?(obj: Record<string, unknown>, msg: string): void;
}

export interface FileTransfersOptions {
  clock: Clock;
  transport: FileTransport;
  events: FileTransferEvents;
  /** Called after async work (a disk read) made sending possible; the node loop should tick. */
  wake?: () => void;
  /** Bytes each sending transfer keeps read ahead (default 4 blocks of 64 KiB-ish). */
  readAheadBytes?: number;
  /** Receiving transfers write in blocks of this size (default 256 KiB). */
  writeBlockBytes?: number;
  /** Send-window slots left for other traffic (c-toxcore `MIN_SLOTS_FREE` = 16). */
  reserveSlots?: number;
}

/** One disk read: 48 chunks, so reads stay chunk-aligned. */
const READ_BLOCK = MAX_FILE_DATA_SIZE * 48;
const DEFAULT_READ_AHEAD = READ_BLOCK * 4;
const DEFAULT_WRITE_BLOCK = 256 * 1024;
const DEFAULT_RESERVE = 16;
/** While transfers run, come back this often even without acks (windows also open on timeouts). */
const ACTIVE_TICK_MS = 20;

/** The tox.h file number: sending files keep 0-255, receiving ones are `(n + 1) << 16`. */
export function toxFileNumber(direction: FileDirection, fileNumber: number): number {
  return direction === "send" ? fileNumber : (fileNumber + 1) << 16;
}

/** The avatar file id: SHA-256 of the image (tox.h, qTox/toxic). */
export function avatarFileId(avatar: Uint8Array): Uint8Array {
  return sha256(avatar);
}

interface Outgoing {
  direction: "send";
  fileNumber: number;
  kind: number;
  size: number | undefined;
  fileId: Uint8Array;
  name: Uint8Array;
  source: FileSource;
  state: "pending" | "transferring" | "finished";
  pausedByUs: boolean;
  pausedByPeer: boolean;
  /** Next byte to send. */
  position: number;
  /** Chunks read ahead, in order, starting at `position`. */
  chunks: Uint8Array[];
  bufferedBytes: number;
  /** Next byte to read from the source. */
  readPos: number;
  reading: boolean;
  eof: boolean;
  /** Bumped by a seek so a read already in flight is discarded. */
  generation: number;
  lastPacket: number;
  ended: boolean;
}

interface Incoming {
  direction: "recv";
  fileNumber: number;
  kind: number;
  size: number | undefined;
  fileId: Uint8Array;
  name: Uint8Array;
  sink: FileSink | undefined;
  state: "pending" | "transferring" | "finished";
  pausedByUs: boolean;
  pausedByPeer: boolean;
  /** Next byte expected (the seek position plus bytes received). */
  position: number;
  /** Bytes received but not yet handed to the sink, starting at `blockStart`. */
  block: Uint8Array;
  blockLength: number;
  blockStart: number;
  /** Bytes the sink has confirmed (everything below this offset is on disk). */
  written: number;
  writes: Promise<void>;
  writeError: unknown;
}

type Transfer = Outgoing | Incoming;

interface FriendFiles {
  pk: Uint8Array;
  sending: Array<Outgoing | undefined>;
  receiving: Array<Incoming | undefined>;
  /** Round-robin start for the next send pass. */
  next: number;
}

function protocolError(code: string, message: string, ctx: Record<string, unknown> = {}): ToxProtocolError {
  return new ToxProtocolError(message, { code, ...ctx });
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: false });

/** Lossless ids file transfers take through the Messenger (file_sendrequest, file_control, file_data). */
export const FILE_PACKET_IDS = [
  PACKET_ID_FILE_SENDREQUEST,
  PACKET_ID_FILE_CONTROL,
  PACKET_ID_FILE_DATA,
] as const;

export class FileTransfers {
  readonly packetIds = FILE_PACKET_IDS;
  private readonly transport: FileTransport;
  private readonly events: FileTransferEvents;
  private readonly wake: () => void;
  private readonly readAhead: number;
  private readonly writeBlock: number;
  private readonly reserve: number;
  private readonly friends = new LazyMap<string, FriendFiles>();

  constructor(opts: FileTransfersOptions) {
    this.transport = opts.transport;
    this.events = opts.events;
    this.wake = opts.wake ?? (() => {});
    this.readAhead = Math.max(READ_BLOCK, opts.readAheadBytes ?? DEFAULT_READ_AHEAD);
    this.writeBlock = Math.max(MAX_FILE_DATA_SIZE, opts.writeBlockBytes ?? DEFAULT_WRITE_BLOCK);
    this.reserve = opts.reserveSlots ?? DEFAULT_RESERVE;
  }

  // -------------------------------------------------------------------------------------------
  // Sending

  /**
   * Offers a file to an online friend (`new_filesender`); returns its file number. `size`
   * undefined = unknown length (the source's first short read ends it). Throws
   * ToxProtocolError with code "friend-not-connected", "too-many-files", "name-too-long",
   * "bad-file-id", "bad-size" or "send-failed".
   */
  sendFile(
    friend: Uint8Array,
    file: {
      source: FileSource;
      size: number | undefined;
      name: string | Uint8Array;
      kind?: number;
      fileId?: Uint8Array;
    },
  ): number {
    const peer = toHex(friend);
    if (!this.transport.isOnline(friend))
      throw protocolError("friend-not-connected", "friend is not online", { friend: peer });
    const name = typeof file.name === "string" ? encoder.encode(file.name) : file.name;
    if (name.length > MAX_FILENAME_LENGTH)
      throw protocolError("name-too-long", `file name over ${MAX_FILENAME_LENGTH} bytes`, { friend: peer });
    const fileId = file.fileId ?? randomBytes(FILE_ID_LENGTH);
    if (fileId.length !== FILE_ID_LENGTH)
      throw protocolError("bad-file-id", `file id must be ${FILE_ID_LENGTH} bytes`, { friend: peer });
    if (file.size !== undefined && (!Number.isSafeInteger(file.size) || file.size < 0))
      throw protocolError("bad-size", "file size must be a non-negative safe integer", { friend: peer });
    const f = this.friendFiles(friend);
    const fileNumber = f.sending.indexOf(undefined);
    if (fileNumber === -1)
      throw protocolError("too-many-files", `already sending ${MAX_CONCURRENT_FILES} files`, {
        friend: peer,
      });
    const kind = file.kind ?? FILE_KIND_DATA;
    const packet = serializeFilePacket({
      type: "sendRequest",
      fileNumber,
      kind,
      size: file.size === undefined ? UNKNOWN_FILE_SIZE : BigInt(file.size),
      fileId,
      name,
    });
    // Offers and controls bypass congestion control, like c-toxcore's write_cryptpacket_id.
    if (this.transport.sendPacket(f.pk, packet, false) === -1)
      throw protocolError("send-failed", "could not send the file offer", { friend: peer, fileNumber });
    f.sending[fileNumber] = {
      direction: "send",
      fileNumber,
      kind,
      size: file.size,
      fileId: Uint8Array.from(fileId),
      name: Uint8Array.from(name),
      source: file.source,
      state: "pending",
      pausedByUs: false,
      pausedByPeer: false,
      position: 0,
      chunks: [],
      bufferedBytes: 0,
      readPos: 0,
      reading: false,
      eof: false,
      generation: 0,
      lastPacket: -1,
      ended: false,
    };
    return fileNumber;
  }

  /**
   * Offers our avatar (kind 1, file id = its SHA-256); an empty avatar (size 0) tells the
   * friend we have none (client convention).
   */
  sendAvatar(friend: Uint8Array, avatar: Uint8Array, source?: FileSource): number {
    return this.sendFile(friend, {
      source: source ?? { read: async (pos, len) => avatar.subarray(pos, pos + len) },
      size: avatar.length,
      name: "",
      kind: FILE_KIND_AVATAR,
      fileId: avatarFileId(avatar),
    });
  }

  // -------------------------------------------------------------------------------------------
  // Receiving

  /**
   * Accepts an offered file into `sink`. With `position` > 0 the sender is first told to seek
   * there (resume; the sink must already hold the bytes below it). Throws ToxProtocolError
   * ("no-such-file", "not-pending", "bad-position", "send-failed").
   */
  accept(friend: Uint8Array, fileNumber: number, sink: FileSink, opts: { position?: number } = {}): void {
    const t = this.mustGet(friend, "recv", fileNumber) as Incoming;
    if (t.state !== "pending")
      throw protocolError("not-pending", "file already accepted", this.ctx(friend, t));
    const f = this.friendFiles(friend);
    const position = opts.position ?? 0;
    if (position > 0) {
      if (!Number.isSafeInteger(position) || (t.size !== undefined && position >= t.size))
        throw protocolError("bad-position", "seek position outside the file", {
          ...this.ctx(friend, t),
          position,
        });
      const seek = serializeFilePacket({
        type: "control",
        senderReceives: true,
        fileNumber,
        control: "seek",
        position: BigInt(position),
      });
      if (this.transport.sendPacket(f.pk, seek, false) === -1)
        throw protocolError("send-failed", "could not send seek", this.ctx(friend, t));
      t.position = position;
      t.blockStart = position;
      t.written = position;
    }
    this.sendControl(f, t, "accept");
    t.sink = sink;
    t.state = "transferring";
  }

  // -------------------------------------------------------------------------------------------
  // Control of either direction

  pause(friend: Uint8Array, direction: FileDirection, fileNumber: number): void {
    const t = this.mustGet(friend, direction, fileNumber);
    if (t.pausedByUs || t.state !== "transferring")
      throw protocolError("cannot-pause", "file not transferring or already paused", this.ctx(friend, t));
    this.sendControl(this.friendFiles(friend), t, "pause");
    t.pausedByUs = true;
  }

  /** Undoes our pause (an ACCEPT on the wire). */
  resume(friend: Uint8Array, direction: FileDirection, fileNumber: number): void {
    const t = this.mustGet(friend, direction, fileNumber);
    if (!t.pausedByUs) throw protocolError("not-paused", "file not paused by us", this.ctx(friend, t));
    this.sendControl(this.friendFiles(friend), t, "accept");
    t.pausedByUs = false;
    if (t.direction === "send") this.pump(this.friendFiles(friend));
  }

  /** Kills a transfer (KILL to the peer); a receiving transfer's buffered bytes are still written. */
  async cancel(friend: Uint8Array, direction: FileDirection, fileNumber: number): Promise<ResumeRecord> {
    const t = this.mustGet(friend, direction, fileNumber);
    const f = this.friendFiles(friend);
    this.sendControlQuiet(f, t.direction === "recv", t.fileNumber, "kill");
    this.remove(f, t);
    await this.finishIo(t);
    return this.record(f.pk, t);
  }

  /** Current transfers (all friends, or one). */
  transfers(friend?: Uint8Array): TransferInfo[] {
    const out: TransferInfo[] = [];
    const list = friend === undefined ? [...this.friends.values()] : [this.friends.get(toHex(friend))];
    for (const f of list) {
      if (f === undefined) continue;
      for (const t of f.sending) if (t) out.push(this.info(f.pk, t));
      for (const t of f.receiving) if (t) out.push(this.info(f.pk, t));
    }
    return out;
  }

  transfer(friend: Uint8Array, direction: FileDirection, fileNumber: number): TransferInfo | undefined {
    const t = this.find(friend, direction, fileNumber);
    return t === undefined ? undefined : this.info(friend, t);
  }

  resumeRecord(friend: Uint8Array, direction: FileDirection, fileNumber: number): ResumeRecord | undefined {
    const t = this.find(friend, direction, fileNumber);
    return t === undefined ? undefined : this.record(friend, t);
  }

  // -------------------------------------------------------------------------------------------
  // MessengerExtension

  handlePacket(peerPk: Uint8Array, data: Uint8Array): void {
    const parsed = parseFilePacket(data);
    if (!parsed.ok) {
      this.events.log?.(
        { friend: toHex(peerPk).slice(0, 16), err: parsed.error.message },
        "files: bad packet",
      );
      return;
    }
    const f = this.friendFiles(peerPk);
    const p = parsed.value;
    switch (p.type) {
      case "sendRequest":
        this.onSendRequest(f, p);
        return;
      case "control":
        this.onControl(f, p);
        return;
      case "data":
        this.onData(f, p.fileNumber, p.data);
        return;
    }
  }

  handleOnline(peerPk: Uint8Array, online: boolean): void {
    if (online) return;
    const f = this.friends.get(toHex(peerPk));
    if (f === undefined) return;
    this.friends.delete(toHex(peerPk));
    for (const t of [...f.sending, ...f.receiving]) if (t) this.end(f, t, "disconnected");
  }

  handleAcked(peerPk: Uint8Array, bufferStart: number): void {
    const f = this.friends.get(toHex(peerPk));
    if (f === undefined) return;
    for (const t of f.sending) {
      if (t?.state === "finished" && packetAcked(t.lastPacket, bufferStart)) {
        this.remove(f, t);
        void this.finishIo(t).then(() => this.events.onComplete(this.info(f.pk, t)));
      }
    }
    this.pump(f);
  }

  tick(): void {
    for (const f of this.friends.values()) this.pump(f);
  }

  nextTickIn(): number {
    for (const f of this.friends.values())
      for (const t of f.sending)
        if (t && (t.state === "finished" || (t.state === "transferring" && !t.pausedByUs && !t.pausedByPeer)))
          return ACTIVE_TICK_MS;
    return 1000;
  }

  // -------------------------------------------------------------------------------------------
  // Incoming packets

  private onSendRequest(f: FriendFiles, p: FileSendRequest): void {
    // A slot still in use: c-toxcore ignores the new offer.
    if (f.receiving[p.fileNumber] !== undefined) return;
    const size = p.size === UNKNOWN_FILE_SIZE ? undefined : p.size;
    if (size !== undefined && size > BigInt(Number.MAX_SAFE_INTEGER)) {
      // Larger than 8 PiB: we cannot count it; refuse rather than misreport.
      this.sendControlQuiet(f, true, p.fileNumber, "kill");
      return;
    }
    const t: Incoming = {
      direction: "recv",
      fileNumber: p.fileNumber,
      kind: p.kind,
      size: size === undefined ? undefined : Number(size),
      fileId: p.fileId,
      name: p.name,
      sink: undefined,
      state: "pending",
      pausedByUs: false,
      pausedByPeer: false,
      position: 0,
      block: new Uint8Array(0),
      blockLength: 0,
      blockStart: 0,
      written: 0,
      writes: Promise.resolve(),
      writeError: undefined,
    };
    f.receiving[p.fileNumber] = t;
    this.events.onOffer(this.info(f.pk, t));
  }

  private onControl(f: FriendFiles, p: FileControl): void {
    // The peer receives the file => it is one we send.
    const t: Transfer | undefined = p.senderReceives ? f.sending[p.fileNumber] : f.receiving[p.fileNumber];
    if (t === undefined) {
      if (p.control !== "kill") this.sendControlQuiet(f, !p.senderReceives, p.fileNumber, "kill");
      return;
    }
    switch (p.control) {
      case "accept":
        if (t.direction === "send" && t.state === "pending") {
          t.state = "transferring";
          this.events.onControl?.(this.info(f.pk, t), "accept");
          this.fill(f, t);
          this.pump(f);
        } else if (t.pausedByPeer) {
          t.pausedByPeer = false;
          this.events.onControl?.(this.info(f.pk, t), "resume");
          if (t.direction === "send") this.pump(f);
        }
        return;
      case "pause":
        if (t.pausedByPeer || t.state !== "transferring") return;
        t.pausedByPeer = true;
        this.events.onControl?.(this.info(f.pk, t), "pause");
        return;
      case "kill":
        this.remove(f, t);
        this.end(f, t, "cancelled-by-peer");
        return;
      case "seek": {
        if (t.direction !== "send" || t.state !== "pending") return;
        const position = p.position ?? 0n;
        if (t.size !== undefined && position >= BigInt(t.size)) return;
        if (position > BigInt(Number.MAX_SAFE_INTEGER)) return;
        t.position = Number(position);
        t.readPos = t.position;
        t.chunks = [];
        t.bufferedBytes = 0;
        t.eof = false;
        t.generation++;
        return;
      }
    }
  }

  private onData(f: FriendFiles, fileNumber: number, data: Uint8Array): void {
    const t = f.receiving[fileNumber];
    if (t === undefined || t.state !== "transferring") return;
    let length = data.length;
    // Never pass more than the announced size to the sink (`m_handle_packet`).
    if (t.size !== undefined && t.position + length > t.size) length = t.size - t.position;
    if (length > 0) this.buffer(t, data.subarray(0, length));
    t.position += length;
    const done =
      length === 0 || (t.size !== undefined && t.position >= t.size) || length !== MAX_FILE_DATA_SIZE;
    if (t.blockLength >= this.writeBlock || done) this.flushBlock(t, f);
    if (!done) return;
    t.state = "finished";
    f.receiving[fileNumber] = undefined;
    void this.finishIo(t).then(() => {
      if (t.writeError !== undefined)
        this.events.onEnded?.(this.info(f.pk, t), "io-error", this.record(f.pk, t), t.writeError);
      else this.events.onComplete(this.info(f.pk, t));
    });
  }

  // -------------------------------------------------------------------------------------------
  // Receive-side writes

  private buffer(t: Incoming, data: Uint8Array): void {
    if (t.block.length < t.blockLength + data.length) {
      const next = new Uint8Array(
        Math.max(this.writeBlock + MAX_FILE_DATA_SIZE, t.blockLength + data.length),
      );
      next.set(t.block.subarray(0, t.blockLength));
      t.block = next;
    }
    t.block.set(data, t.blockLength);
    t.blockLength += data.length;
  }

  private flushBlock(t: Incoming, f?: FriendFiles): void {
    if (t.blockLength === 0 || t.sink === undefined) return;
    const data = t.block.subarray(0, t.blockLength);
    const at = t.blockStart;
    const sink = t.sink;
    t.block = new Uint8Array(0);
    t.blockStart += t.blockLength;
    t.blockLength = 0;
    t.writes = t.writes.then(async () => {
      if (t.writeError !== undefined) return;
      try {
        await sink.write(at, data);
        t.written = at + data.length;
      } catch (err) {
        t.writeError = err;
        // The disk failed: stop the transfer rather than acknowledge bytes we lost.
        if (f !== undefined && f.receiving[t.fileNumber] === t) {
          this.sendControlQuiet(f, true, t.fileNumber, "kill");
          this.remove(f, t);
          this.events.onEnded?.(this.info(f.pk, t), "io-error", this.record(f.pk, t), err);
        }
      }
    });
  }

  // -------------------------------------------------------------------------------------------
  // Send side: read ahead, then share the window

  /** Starts a read if the transfer wants more data. */
  private fill(f: FriendFiles, t: Outgoing): void {
    if (t.reading || t.eof || t.ended || t.state !== "transferring") return;
    if (t.bufferedBytes >= this.readAhead) return;
    let length = READ_BLOCK;
    if (t.size !== undefined) length = Math.min(length, t.size - t.readPos);
    if (length === 0) {
      // Known size reached. A zero-length file still sends one empty chunk.
      t.eof = true;
      if (t.size === 0) t.chunks.push(new Uint8Array(0));
      return;
    }
    const generation = t.generation;
    const at = t.readPos;
    t.reading = true;
    t.source.read(at, length).then(
      (bytes) => {
        t.reading = false;
        if (t.ended || generation !== t.generation) return;
        this.takeRead(f, t, at, length, bytes);
        this.fill(f, t);
        this.pump(f);
        this.wake();
      },
      (err) => {
        t.reading = false;
        if (t.ended) return;
        this.failSend(f, t, err);
      },
    );
  }

  private takeRead(f: FriendFiles, t: Outgoing, at: number, asked: number, bytes: Uint8Array): void {
    if (bytes.length > asked) bytes = bytes.subarray(0, asked);
    const short = bytes.length < asked;
    if (short && t.size !== undefined) {
      this.failSend(f, t, new Error(`source ended at ${at + bytes.length} of ${t.size} bytes`));
      return;
    }
    for (let off = 0; off < bytes.length; off += MAX_FILE_DATA_SIZE)
      t.chunks.push(bytes.subarray(off, Math.min(bytes.length, off + MAX_FILE_DATA_SIZE)));
    t.bufferedBytes += bytes.length;
    t.readPos = at + bytes.length;
    if (t.size !== undefined && t.readPos === t.size) t.eof = true;
    if (short) {
      t.eof = true;
      // A stream ends with a short chunk; if it ended on a chunk boundary, send an empty one.
      if (bytes.length % MAX_FILE_DATA_SIZE === 0) t.chunks.push(new Uint8Array(0));
    }
  }

  private failSend(f: FriendFiles, t: Outgoing, err: unknown): void {
    this.events.log?.(
      { friend: toHex(f.pk).slice(0, 16), file: t.fileNumber, err: String(err) },
      "files: read failed",
    );
    if (this.find(f.pk, "send", t.fileNumber) === t) {
      this.sendControlQuiet(f, false, t.fileNumber, "kill");
      this.remove(f, t);
    }
    this.end(f, t, "io-error", err);
  }

  /**
   * Sends chunks while the window has room: one chunk per ready transfer per round, starting
   * where the previous pass stopped (fairness), leaving `reserve` slots for other traffic.
   */
  private pump(f: FriendFiles): void {
    const free = this.transport.sendWindowFree(f.pk) - this.reserve;
    if (free <= 0) return;
    const ready: Outgoing[] = [];
    for (let i = 0; i < MAX_CONCURRENT_FILES; i++) {
      const t = f.sending[(f.next + i) % MAX_CONCURRENT_FILES];
      if (t && t.state === "transferring" && !t.pausedByUs && !t.pausedByPeer) ready.push(t);
    }
    if (ready.length === 0) return;
    try {
      this.sendRounds(f, ready, free);
    } finally {
      // Top up read-ahead for everything that sent (or had nothing to send).
      for (const t of ready) this.fill(f, t);
    }
  }

  private sendRounds(f: FriendFiles, ready: Outgoing[], free: number): void {
    let progress = true;
    while (free > 0 && progress) {
      progress = false;
      for (const t of ready) {
        if (free <= 0) break;
        if (t.state !== "transferring" || t.chunks.length === 0) continue;
        const chunk = t.chunks[0]!;
        const num = this.transport.sendPacket(
          f.pk,
          serializeFilePacket({ type: "data", fileNumber: t.fileNumber, data: chunk }),
          true,
        );
        if (num === -1) return;
        free--;
        progress = true;
        t.chunks.shift();
        t.bufferedBytes -= chunk.length;
        t.position += chunk.length;
        f.next = (t.fileNumber + 1) % MAX_CONCURRENT_FILES;
        const last = chunk.length !== MAX_FILE_DATA_SIZE || (t.size !== undefined && t.position === t.size);
        if (last) {
          t.state = "finished";
          t.lastPacket = num;
        }
      }
    }
  }

  // -------------------------------------------------------------------------------------------

  private sendControl(f: FriendFiles, t: Transfer, control: "accept" | "pause"): void {
    const packet = serializeFilePacket({
      type: "control",
      senderReceives: t.direction === "recv",
      fileNumber: t.fileNumber,
      control,
    });
    if (this.transport.sendPacket(f.pk, packet, false) === -1)
      throw protocolError("send-failed", `could not send ${control}`, this.ctx(f.pk, t));
  }

  private sendControlQuiet(f: FriendFiles, weReceive: boolean, fileNumber: number, control: "kill"): void {
    this.transport.sendPacket(
      f.pk,
      serializeFilePacket({ type: "control", senderReceives: weReceive, fileNumber, control }),
      false,
    );
  }

  private remove(f: FriendFiles, t: Transfer): void {
    if (t.direction === "send") {
      if (f.sending[t.fileNumber] === t) f.sending[t.fileNumber] = undefined;
      t.ended = true;
    } else if (f.receiving[t.fileNumber] === t) f.receiving[t.fileNumber] = undefined;
  }

  /** Ends a transfer that did not complete: flush what we have, close, report. */
  private end(f: FriendFiles, t: Transfer, reason: EndReason, error?: unknown): void {
    this.remove(f, t);
    void this.finishIo(t).then(() =>
      this.events.onEnded?.(this.info(f.pk, t), reason, this.record(f.pk, t), error),
    );
  }

  /** Writes out buffered bytes (receiving) and closes the source/sink; never rejects. */
  private async finishIo(t: Transfer): Promise<void> {
    try {
      if (t.direction === "recv") {
        this.flushBlock(t);
        await t.writes;
        await t.sink?.close?.();
      } else {
        await t.source.close?.();
      }
    } catch (err) {
      if (t.direction === "recv" && t.writeError === undefined) t.writeError = err;
    }
  }

  private info(friend: Uint8Array, t: Transfer): TransferInfo {
    return {
      friend,
      direction: t.direction,
      fileNumber: t.fileNumber,
      kind: t.kind,
      size: t.size,
      fileId: t.fileId,
      name: t.name,
      transferred: t.position,
      state: t.state,
      pausedByUs: t.pausedByUs,
      pausedByPeer: t.pausedByPeer,
    };
  }

  private record(friend: Uint8Array, t: Transfer): ResumeRecord {
    return {
      friend: toHex(friend),
      direction: t.direction,
      fileId: toHex(t.fileId),
      kind: t.kind,
      size: t.size ?? null,
      name: decoder.decode(t.name),
      offset: t.direction === "recv" ? t.written : t.position,
    };
  }

  private ctx(friend: Uint8Array, t: Transfer): Record<string, unknown> {
    return { friend: toHex(friend), direction: t.direction, fileNumber: t.fileNumber };
  }

  private friendFiles(pk: Uint8Array): FriendFiles {
    const hex = toHex(pk);
    let f = this.friends.get(hex);
    if (f === undefined) {
      f = {
        pk: Uint8Array.from(pk),
        sending: new Array(MAX_CONCURRENT_FILES).fill(undefined),
        receiving: new Array(MAX_CONCURRENT_FILES).fill(undefined),
        next: 0,
      };
      this.friends.set(hex, f);
    }
    return f;
  }

  private find(friend: Uint8Array, direction: FileDirection, fileNumber: number): Transfer | undefined {
    const f = this.friends.get(toHex(friend));
    if (f === undefined) return undefined;
    return direction === "send" ? f.sending[fileNumber] : f.receiving[fileNumber];
  }

  private mustGet(friend: Uint8Array, direction: FileDirection, fileNumber: number): Transfer {
    const t = this.find(friend, direction, fileNumber);
    if (t === undefined)
      throw protocolError("no-such-file", "no such file transfer", {
        friend: toHex(friend),
        direction,
        fileNumber,
      });
    return t;
  }
}
