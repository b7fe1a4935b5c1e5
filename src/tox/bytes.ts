/**
 * Byte packing helpers shared by every wire format in the Tox stack.
 *
 * Tox integers on the wire are big-endian unless a format says otherwise (save files use
 * little-endian section headers). Readers throw {@link WireError} on truncation; the exported
 * `parse*` functions of each wire module turn that into a {@link ParseResult}, so nothing ever
 * throws out of a socket handler.
 */
import { WireError } from "./errors.js";

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const HEX = "0123456789abcdef";

export function toHex(bytes: Uint8Array, upper = false): string {
  // Short inputs: a loop beats crossing into Buffer. Keys (32 bytes) and longer: Buffer gives a
  // flat string in one native call, where `+=` builds a rope of 32 nodes (~1 kB kept alive by
  // every hex key stored in a map until V8 flattens it) and costs ~10x the time.
  let s: string;
  if (bytes.length < 16) {
    s = "";
    for (const b of bytes) s += HEX[b >> 4]! + HEX[b & 15]!;
  } else {
    s = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
  }
  return upper ? s.toUpperCase() : s;
}

/**
 * Lower-case hex of a key, memoised per array object: layers keyed by public key (messenger,
 * friend connections) hex-encode the same key objects on every packet, which showed up in
 * profiles. Only for arrays that are never mutated in place, as keys are.
 */
const keyHexCache = new WeakMap<Uint8Array, string>();
export function keyHex(key: Uint8Array): string {
  let hex = keyHexCache.get(key);
  if (hex === undefined) {
    hex = toHex(key);
    keyHexCache.set(key, hex);
  }
  return hex;
}

/** Parses a hex string (either case, even length). Throws WireError naming `what` on bad input. */
export function fromHex(hex: string, what = "hex string"): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new WireError(`${what}: not an even-length hex string`, { what });
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Sequential reader over a byte array; every read checks bounds. */
export class ByteReader {
  private offset = 0;
  constructor(
    readonly bytes: Uint8Array,
    /** Name of the structure being read, used in error messages. */
    readonly what = "packet",
  ) {}

  get position(): number {
    return this.offset;
  }
  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  private need(n: number, field: string): void {
    if (this.offset + n > this.bytes.length) {
      throw new WireError(
        `${this.what}: truncated reading ${field} (need ${n} bytes at offset ${this.offset}, have ${this.remaining})`,
        { what: this.what, field, offset: this.offset },
      );
    }
  }

  u8(field = "u8"): number {
    this.need(1, field);
    return this.bytes[this.offset++]!;
  }
  u16be(field = "u16"): number {
    this.need(2, field);
    const v = (this.bytes[this.offset]! << 8) | this.bytes[this.offset + 1]!;
    this.offset += 2;
    return v;
  }
  u16le(field = "u16"): number {
    this.need(2, field);
    const v = this.bytes[this.offset]! | (this.bytes[this.offset + 1]! << 8);
    this.offset += 2;
    return v;
  }
  u32be(field = "u32"): number {
    this.need(4, field);
    const b = this.bytes;
    const o = this.offset;
    this.offset += 4;
    return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  }
  u32le(field = "u32"): number {
    this.need(4, field);
    const b = this.bytes;
    const o = this.offset;
    this.offset += 4;
    return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
  }
  u64be(field = "u64"): bigint {
    const hi = this.u32be(field);
    const lo = this.u32be(field);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }
  u64le(field = "u64"): bigint {
    const lo = this.u32le(field);
    const hi = this.u32le(field);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }
  /** Returns a copy of the next n bytes (copies, so callers may keep it after the buffer is reused). */
  bytesN(n: number, field = "bytes"): Uint8Array {
    this.need(n, field);
    const out = this.bytes.slice(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }
  /** The rest of the input (copy). */
  rest(): Uint8Array {
    const out = this.bytes.slice(this.offset);
    this.offset = this.bytes.length;
    return out;
  }
  skip(n: number, field = "padding"): void {
    this.need(n, field);
    this.offset += n;
  }
  /** Throws unless everything was consumed: Tox formats are length-exact. */
  end(): void {
    if (this.offset !== this.bytes.length) {
      throw new WireError(
        `${this.what}: ${this.remaining} unexpected trailing bytes at offset ${this.offset}`,
        {
          what: this.what,
          offset: this.offset,
        },
      );
    }
  }
}

/** Growable writer; `finish()` returns exactly the written bytes. */
export class ByteWriter {
  private buf: Uint8Array;
  private length = 0;
  constructor(initialCapacity = 64) {
    this.buf = new Uint8Array(initialCapacity);
  }
  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }
  get size(): number {
    return this.length;
  }
  u8(v: number): this {
    this.ensure(1);
    this.buf[this.length++] = v & 0xff;
    return this;
  }
  u16be(v: number): this {
    this.ensure(2);
    this.buf[this.length++] = (v >>> 8) & 0xff;
    this.buf[this.length++] = v & 0xff;
    return this;
  }
  u16le(v: number): this {
    this.ensure(2);
    this.buf[this.length++] = v & 0xff;
    this.buf[this.length++] = (v >>> 8) & 0xff;
    return this;
  }
  u32be(v: number): this {
    this.ensure(4);
    this.buf[this.length++] = (v >>> 24) & 0xff;
    this.buf[this.length++] = (v >>> 16) & 0xff;
    this.buf[this.length++] = (v >>> 8) & 0xff;
    this.buf[this.length++] = v & 0xff;
    return this;
  }
  u32le(v: number): this {
    this.ensure(4);
    this.buf[this.length++] = v & 0xff;
    this.buf[this.length++] = (v >>> 8) & 0xff;
    this.buf[this.length++] = (v >>> 16) & 0xff;
    this.buf[this.length++] = (v >>> 24) & 0xff;
    return this;
  }
  u64be(v: bigint): this {
    this.u32be(Number((v >> 32n) & 0xffffffffn));
    return this.u32be(Number(v & 0xffffffffn));
  }
  u64le(v: bigint): this {
    this.u32le(Number(v & 0xffffffffn));
    return this.u32le(Number((v >> 32n) & 0xffffffffn));
  }
  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
    return this;
  }
  zeros(n: number): this {
    this.ensure(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
    return this;
  }
  finish(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}
