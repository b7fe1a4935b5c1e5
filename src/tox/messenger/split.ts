/**
 * Splitting long texts into Tox messages. c-toxcore itself rejects anything over
 * TOX_MAX_MESSAGE_LENGTH (1372 bytes, `TOX_ERR_FRIEND_SEND_MESSAGE_TOO_LONG`); clients split.
 * Like qTox/toxic we cut at the last newline, else the last space, inside the limit, and fall
 * back to the last UTF-8 code point boundary so no piece carries half a character.
 *
 * Invariant: the pieces concatenated are byte-for-byte the input (separators stay at the end
 * of the piece they close), so a receiver that joins them gets the original text back.
 */
import { MAX_MESSAGE_LENGTH } from "./packets.js";

const NEWLINE = 0x0a;
const SPACE = 0x20;

/** A whitespace cut this early would make a tiny piece; below it we cut mid-word instead. */
const MIN_PIECE_FRACTION = 0.5;

function isContinuationByte(b: number): boolean {
  return (b & 0xc0) === 0x80;
}

/** Largest cut `<= limit` such that bytes[cut] starts a code point. */
function codePointCut(bytes: Uint8Array, start: number, limit: number): number {
  let cut = limit;
  while (cut > start && isContinuationByte(bytes[cut]!)) cut--;
  // Only possible on invalid UTF-8 (a run of continuation bytes longer than a code point).
  return cut === start ? limit : cut;
}

function lastIndexOf(bytes: Uint8Array, byte: number, from: number, to: number): number {
  for (let i = to - 1; i >= from; i--) if (bytes[i] === byte) return i;
  return -1;
}

/** Splits UTF-8 bytes into pieces of 1..max bytes. Empty input gives no pieces. */
export function splitMessageBytes(bytes: Uint8Array, max = MAX_MESSAGE_LENGTH): Uint8Array[] {
  if (max < 4) throw new RangeError("max must leave room for a 4-byte code point");
  const pieces: Uint8Array[] = [];
  let start = 0;
  while (bytes.length - start > max) {
    const limit = start + max;
    const minCut = start + Math.floor(max * MIN_PIECE_FRACTION);
    let cut = -1;
    for (const sep of [NEWLINE, SPACE]) {
      const at = lastIndexOf(bytes, sep, minCut, limit);
      if (at >= 0) {
        cut = at + 1;
        break;
      }
    }
    if (cut < 0) cut = codePointCut(bytes, start, limit);
    pieces.push(bytes.subarray(start, cut));
    start = cut;
  }
  if (start < bytes.length) pieces.push(bytes.subarray(start));
  return pieces;
}

/** Splits a string into UTF-8 pieces of at most `max` bytes each. */
export function splitMessage(text: string, max = MAX_MESSAGE_LENGTH): Uint8Array[] {
  return splitMessageBytes(new TextEncoder().encode(text), max);
}
