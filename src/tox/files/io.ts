/**
 * Where file bytes come from and go to. Transfers never hold a whole file: the sender reads
 * ahead a few blocks at an offset, the receiver writes coalesced blocks at an offset, so the
 * bridge can spool to disk. Disk-backed implementations over `fs.promises` FileHandle.
 */
import { type FileHandle, open } from "node:fs/promises";

export interface FileSource {
  /**
   * Up to `length` bytes at `position`. Fewer bytes only at the end of the data (a stream of
   * unknown size ends with the first short read).
   */
  read(position: number, length: number): Promise<Uint8Array>;
  close?(): Promise<void>;
}

export interface FileSink {
  /** Writes `data` at `position`; resolves once the bytes are handed to the OS. */
  write(position: number, data: Uint8Array): Promise<void>;
  close?(): Promise<void>;
}

/** Reads a file on disk at offsets. */
export class DiskFileSource implements FileSource {
  private constructor(
    private readonly handle: FileHandle,
    readonly size: number,
  ) {}

  static async open(path: string): Promise<DiskFileSource> {
    const handle = await open(path, "r");
    try {
      const { size } = await handle.stat();
      return new DiskFileSource(handle, size);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async read(position: number, length: number): Promise<Uint8Array> {
    const buf = new Uint8Array(length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await this.handle.read(buf, got, length - got, position + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return got === length ? buf : buf.subarray(0, got);
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

/**
 * Writes a file on disk at offsets. Opened without truncation, so a resumed transfer keeps the
 * bytes already received (the resume record says how many are trustworthy).
 */
export class DiskFileSink implements FileSink {
  private constructor(private readonly handle: FileHandle) {}

  static async open(path: string): Promise<DiskFileSink> {
    // "a+" would force appends; "r+" fails on a missing file: create first, then open r+.
    await (await open(path, "a")).close();
    return new DiskFileSink(await open(path, "r+"));
  }

  async write(position: number, data: Uint8Array): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.handle.write(data, done, data.length - done, position + done);
      done += bytesWritten;
    }
  }

  /** Drops anything past `length` (a resumed download restarting at an earlier offset). */
  async truncate(length: number): Promise<void> {
    await this.handle.truncate(length);
  }

  async sync(): Promise<void> {
    await this.handle.sync();
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

/** In-memory source over bytes (tests, small avatars). */
export class BytesSource implements FileSource {
  constructor(private readonly bytes: Uint8Array) {}
  async read(position: number, length: number): Promise<Uint8Array> {
    return this.bytes.subarray(position, Math.min(this.bytes.length, position + length));
  }
}

/** In-memory sink (tests, small avatars); grows as needed. */
export class BytesSink implements FileSink {
  private buf = new Uint8Array(0);
  private length = 0;
  async write(position: number, data: Uint8Array): Promise<void> {
    const end = position + data.length;
    if (end > this.buf.length) {
      const next = new Uint8Array(Math.max(end, this.buf.length * 2));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
    }
    this.buf.set(data, position);
    this.length = Math.max(this.length, end);
  }
  get bytes(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}
