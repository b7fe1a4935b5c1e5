/**
 * The file-transfer half of FakeTox: plays the friend's side of transfers in memory. Offers we
 * make are recorded (the test accepts and pulls them, or ends them); offers the friend makes go
 * to the core's listeners, and the test then feeds bytes into the sink the core accepted with.
 */
import type {
  FileDirection,
  FileEndReason,
  FileSink,
  FileSource,
  GatewayFile,
  GatewayFileEvent,
  ToxGatewayEvents,
} from "../../src/core/tox-gateway.js";
import { toHex } from "../../src/tox/bytes.js";

export interface FakeOutgoing {
  identity: string;
  friend: string;
  file: GatewayFile;
  source: FileSource;
  /** Bytes the friend pulled so far. */
  transferred: number;
  cancelled: boolean;
}

export interface FakeIncoming {
  identity: string;
  friend: string;
  file: GatewayFile;
  sink: FileSink | undefined;
  /** Resume position the core accepted with. */
  position: number | undefined;
  transferred: number;
  cancelled: boolean;
  paused: boolean;
}

export class FakeFiles {
  readonly outgoing: FakeOutgoing[] = [];
  readonly incoming: FakeIncoming[] = [];
  /** When set, sendFile rejects with it. */
  refuseSends: Error | undefined;

  constructor(
    private readonly listeners: () => Iterable<ToxGatewayEvents>,
    private readonly online: (identity: string, friend: string) => boolean,
  ) {}

  // --- ToxGateway

  async sendFile(
    identity: string,
    friend: string,
    file: { kind: "data" | "avatar"; size: number; name: string; fileId: Uint8Array; source: FileSource },
  ): Promise<number> {
    if (!this.online(identity, friend)) throw new Error("friend is not online");
    if (this.refuseSends !== undefined) throw this.refuseSends;
    const busy = new Set(this.running("send", identity, friend).map((t) => t.file.fileNumber));
    let fileNumber = 0;
    while (busy.has(fileNumber)) fileNumber++;
    this.outgoing.push({
      identity,
      friend,
      file: {
        direction: "send",
        fileNumber,
        kind: file.kind,
        size: file.size,
        fileId: toHex(file.fileId),
        name: file.name,
      },
      source: file.source,
      transferred: 0,
      cancelled: false,
    });
    return fileNumber;
  }

  async acceptFile(
    identity: string,
    friend: string,
    fileNumber: number,
    sink: FileSink,
    position = 0,
  ): Promise<void> {
    const t = this.find("recv", identity, friend, fileNumber);
    if (t === undefined || !isIncoming(t) || t.sink !== undefined) throw new Error("no such pending file");
    t.sink = sink;
    t.position = position;
    t.transferred = position;
  }

  async controlFile(
    identity: string,
    friend: string,
    direction: FileDirection,
    fileNumber: number,
    control: "pause" | "resume" | "cancel",
  ): Promise<void> {
    const t = this.find(direction, identity, friend, fileNumber);
    if (t === undefined) return;
    if (control === "cancel") {
      t.cancelled = true;
      await closeIo(t);
    } else if (isIncoming(t)) t.paused = control === "pause";
  }

  fileProgress(identity: string, friend: string, direction: FileDirection, fileNumber: number) {
    return this.find(direction, identity, friend, fileNumber)?.transferred;
  }

  // --- The friend's side

  /** The friend offers a file; its receive file number. */
  offer(
    identity: string,
    friend: string,
    file: {
      size: number | undefined;
      name: string;
      kind?: "data" | "avatar";
      fileId?: string;
      /** Force a number (a slot Tox reuses before the old transfer's end is reported). */
      fileNumber?: number;
    },
  ): FakeIncoming {
    const busy = new Set(this.running("recv", identity, friend).map((t) => t.file.fileNumber));
    let fileNumber = 0;
    while (busy.has(fileNumber)) fileNumber++;
    if (file.fileNumber !== undefined) fileNumber = file.fileNumber;
    const t: FakeIncoming = {
      identity,
      friend,
      file: {
        direction: "recv",
        fileNumber,
        kind: file.kind ?? "data",
        size: file.size,
        fileId: file.fileId ?? toHex(crypto.getRandomValues(new Uint8Array(32))),
        name: file.name,
      },
      sink: undefined,
      position: undefined,
      transferred: 0,
      cancelled: false,
      paused: false,
    };
    this.incoming.push(t);
    this.emit((l) => l.fileOffer?.(this.event(t)));
    return t;
  }

  /** The friend sends these bytes of an accepted file (from where it stands); completes at `size`. */
  async feed(t: FakeIncoming, data: Uint8Array): Promise<void> {
    if (t.sink === undefined) throw new Error("file not accepted");
    await t.sink.write(t.transferred, data);
    t.transferred += data.length;
    if (t.file.size !== undefined && t.transferred >= t.file.size) {
      await t.sink.close?.();
      this.done(t);
      this.emit((l) => l.fileComplete?.(this.event(t)));
    }
  }

  /** The transfer ends unfinished (friend cancelled, went offline...). */
  async end(t: FakeIncoming | FakeOutgoing, reason: FileEndReason): Promise<void> {
    await closeIo(t);
    this.done(t);
    this.emit((l) => l.fileEnded?.({ ...this.event(t), reason, offset: t.transferred }));
  }

  /** The friend accepts our offer (from `position`, a resume) and pulls every byte; resolves to them. */
  async pull(t: FakeOutgoing, position = 0): Promise<Uint8Array> {
    this.emit((l) => l.fileControl?.({ ...this.event(t), control: "accept" }));
    const size = t.file.size ?? 0;
    const out = new Uint8Array(size - position);
    let at = position;
    while (at < size) {
      const chunk = await t.source.read(at, Math.min(65536, size - at));
      if (chunk.length === 0) throw new Error("source ended early");
      out.set(chunk, at - position);
      at += chunk.length;
      t.transferred = at;
    }
    await t.source.close?.();
    this.done(t);
    this.emit((l) => l.fileComplete?.(this.event(t)));
    return out;
  }

  /** The identity went offline: its transfers stop, their files are closed. */
  async dropIdentity(identity: string): Promise<void> {
    for (const t of [...this.running("send", identity), ...this.running("recv", identity)]) {
      await closeIo(t);
      this.done(t);
    }
  }

  running(direction: FileDirection, identity?: string, friend?: string): Array<FakeIncoming | FakeOutgoing> {
    const list: Array<FakeIncoming | FakeOutgoing> = direction === "send" ? this.outgoing : this.incoming;
    return list.filter(
      (t) =>
        !t.cancelled &&
        !finished.has(t) &&
        (identity === undefined || t.identity === identity) &&
        (friend === undefined || t.friend === friend),
    );
  }

  private done(t: FakeIncoming | FakeOutgoing): void {
    finished.add(t);
  }

  private find(direction: FileDirection, identity: string, friend: string, fileNumber: number) {
    // The newest in the slot: an older one may still be running in the fake until the test ends it.
    return this.running(direction, identity, friend).findLast((t) => t.file.fileNumber === fileNumber);
  }

  private event(t: FakeIncoming | FakeOutgoing): GatewayFileEvent {
    return { identity: t.identity, friend: t.friend, file: { ...t.file } };
  }

  private emit(call: (l: ToxGatewayEvents) => void): void {
    for (const l of this.listeners()) call(l);
  }
}

const finished = new WeakSet<object>();

function isIncoming(t: FakeIncoming | FakeOutgoing): t is FakeIncoming {
  return t.file.direction === "recv";
}

async function closeIo(t: FakeIncoming | FakeOutgoing): Promise<void> {
  if (isIncoming(t)) await t.sink?.close?.();
  else await t.source.close?.();
}
