/**
 * File transfer packets inside a net_crypto session (c-toxcore Messenger.c, ids 80-82).
 *
 * Layouts (whole lossless payload, id byte first):
 * - FILE_SENDREQUEST 80: `file_no u8 | kind u32 BE | size u64 BE | file_id 32 | name 0..255`
 * - FILE_CONTROL 81: `dir u8 | file_no u8 | control u8 | [seek: position u64 BE]`. `dir` is 1
 *   when the packet's sender is the *receiver* of the file, 0 when it is the sender.
 * - FILE_DATA 82: `file_no u8 | data 0..1371`
 *
 * Parsing follows what c-toxcore 0.2.18 accepts (`m_handle_packet`): trailing bytes after an
 * accept/pause/kill are ignored, a seek must carry exactly 8 bytes, an unknown control is dropped.
 */
import { ByteReader, ByteWriter } from "../bytes.js";
import { type ParseResult, tryParse, WireError } from "../errors.js";

export const PACKET_ID_FILE_SENDREQUEST = 80;
export const PACKET_ID_FILE_CONTROL = 81;
export const PACKET_ID_FILE_DATA = 82;

/** `MAX_CRYPTO_DATA_SIZE` 1373 minus the id and file number bytes. */
export const MAX_FILE_DATA_SIZE = 1371;
export const MAX_FILENAME_LENGTH = 255;
export const FILE_ID_LENGTH = 32;
/** `MAX_CONCURRENT_FILE_PIPES`: file numbers are one byte per direction. */
export const MAX_CONCURRENT_FILES = 256;
/** A file of unknown length (a stream); ended by a chunk shorter than MAX_FILE_DATA_SIZE. */
export const UNKNOWN_FILE_SIZE = 0xffff_ffff_ffff_ffffn;

/** `Tox_File_Kind`; other u32 values are legal on the wire and passed through. */
export const FILE_KIND_DATA = 0;
export const FILE_KIND_AVATAR = 1;

export type FileControlType = "accept" | "pause" | "kill" | "seek";
const CONTROL_CODES: readonly FileControlType[] = ["accept", "pause", "kill", "seek"];

export interface FileSendRequest {
  type: "sendRequest";
  fileNumber: number;
  kind: number;
  size: bigint;
  fileId: Uint8Array;
  /** Raw bytes: peers may send any bytes; decoding is the application's choice. */
  name: Uint8Array;
}

export interface FileControl {
  type: "control";
  /** True when the packet's sender is receiving the file (wire `dir` = 1). */
  senderReceives: boolean;
  fileNumber: number;
  control: FileControlType;
  /** Only for "seek". */
  position?: bigint;
}

export interface FileData {
  type: "data";
  fileNumber: number;
  data: Uint8Array;
}

export type FilePacket = FileSendRequest | FileControl | FileData;

const what = "file packet";

export function isFilePacketId(id: number): boolean {
  return id >= PACKET_ID_FILE_SENDREQUEST && id <= PACKET_ID_FILE_DATA;
}

/** Parses a whole lossless payload (id byte first). `data` of FILE_DATA is a view, not a copy. */
export function parseFilePacket(packet: Uint8Array): ParseResult<FilePacket> {
  return tryParse(() => {
    const r = new ByteReader(packet);
    const id = r.u8("packet id");
    switch (id) {
      case PACKET_ID_FILE_SENDREQUEST: {
        const fileNumber = r.u8("file number");
        const kind = r.u32be("kind");
        const size = r.u64be("size");
        const fileId = Uint8Array.from(r.bytesN(FILE_ID_LENGTH, "file id"));
        const name = Uint8Array.from(r.rest());
        if (name.length > MAX_FILENAME_LENGTH)
          throw new WireError("file name too long", { what, id, length: name.length });
        return { type: "sendRequest", fileNumber, kind, size, fileId, name };
      }
      case PACKET_ID_FILE_CONTROL: {
        const dir = r.u8("direction");
        const fileNumber = r.u8("file number");
        const code = r.u8("control");
        const control = CONTROL_CODES[code];
        if (control === undefined) throw new WireError("unknown file control", { what, id, control: code });
        const senderReceives = dir === 1;
        if (control !== "seek") return { type: "control", senderReceives, fileNumber, control };
        if (r.remaining !== 8)
          throw new WireError("seek needs an 8-byte position", { what, id, length: r.remaining });
        return { type: "control", senderReceives, fileNumber, control, position: r.u64be("position") };
      }
      case PACKET_ID_FILE_DATA: {
        const fileNumber = r.u8("file number");
        const data = r.rest();
        if (data.length > MAX_FILE_DATA_SIZE)
          throw new WireError("file chunk too long", { what, id, length: data.length });
        return { type: "data", fileNumber, data };
      }
      default:
        throw new WireError("not a file packet", { what, id });
    }
  });
}

function checkFileNumber(n: number): void {
  if (!Number.isInteger(n) || n < 0 || n >= MAX_CONCURRENT_FILES)
    throw new RangeError(`file number must be 0..${MAX_CONCURRENT_FILES - 1}`);
}

/** Serializes a packet; throws RangeError for values c-toxcore would never send. */
export function serializeFilePacket(p: FilePacket): Uint8Array {
  checkFileNumber(p.fileNumber);
  switch (p.type) {
    case "sendRequest": {
      if (p.fileId.length !== FILE_ID_LENGTH) throw new RangeError(`file id must be ${FILE_ID_LENGTH} bytes`);
      if (p.name.length > MAX_FILENAME_LENGTH)
        throw new RangeError(`file name over ${MAX_FILENAME_LENGTH} bytes`);
      if (p.size < 0n || p.size > UNKNOWN_FILE_SIZE) throw new RangeError("file size out of u64 range");
      return new ByteWriter(1 + 1 + 4 + 8 + FILE_ID_LENGTH + p.name.length)
        .u8(PACKET_ID_FILE_SENDREQUEST)
        .u8(p.fileNumber)
        .u32be(p.kind >>> 0)
        .u64be(p.size)
        .bytes(p.fileId)
        .bytes(p.name)
        .finish();
    }
    case "control": {
      const w = new ByteWriter(12)
        .u8(PACKET_ID_FILE_CONTROL)
        .u8(p.senderReceives ? 1 : 0)
        .u8(p.fileNumber)
        .u8(CONTROL_CODES.indexOf(p.control));
      if (p.control === "seek") {
        if (p.position === undefined || p.position < 0n || p.position > UNKNOWN_FILE_SIZE)
          throw new RangeError("seek needs a u64 position");
        w.u64be(p.position);
      }
      return w.finish();
    }
    case "data": {
      if (p.data.length > MAX_FILE_DATA_SIZE)
        throw new RangeError(`file chunk over ${MAX_FILE_DATA_SIZE} bytes`);
      // Hot path (one per 1371 bytes): build by hand rather than through a writer.
      const out = new Uint8Array(2 + p.data.length);
      out[0] = PACKET_ID_FILE_DATA;
      out[1] = p.fileNumber;
      out.set(p.data, 2);
      return out;
    }
  }
}
