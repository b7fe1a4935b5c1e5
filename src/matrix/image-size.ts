/**
 * Pixel size of PNG, JPEG, GIF and WebP images from the first bytes of the file, so the bridge
 * can fill `info.w`/`info.h` (clients reserve the space before the image loads) without an image
 * library. Only headers are read; anything unrecognised or truncated gives null.
 */

export interface ImageSize {
  w: number;
  h: number;
}

/** How many bytes of a file imageSize wants: JPEG size markers may follow a large EXIF block. */
export const IMAGE_HEAD_BYTES = 64 * 1024;

export function imageSize(head: Uint8Array): ImageSize | null {
  const size = png(head) ?? gif(head) ?? webp(head) ?? jpeg(head);
  if (size === null || size.w <= 0 || size.h <= 0) return null;
  return size;
}

const u16be = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;
const u16le = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8);
const u24le = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16);
const u32be = (b: Uint8Array, o: number) =>
  ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
const ascii = (b: Uint8Array, o: number, s: string) =>
  b.length >= o + s.length && [...s].every((ch, i) => b[o + i] === ch.charCodeAt(0));

function png(b: Uint8Array): ImageSize | null {
  // Signature, then the IHDR chunk (length 13), whose data starts with width and height.
  if (b.length < 24 || !ascii(b, 1, "PNG\r\n\u001a\n") || b[0] !== 0x89 || !ascii(b, 12, "IHDR")) return null;
  return { w: u32be(b, 16), h: u32be(b, 20) };
}

function gif(b: Uint8Array): ImageSize | null {
  if (b.length < 10 || !(ascii(b, 0, "GIF87a") || ascii(b, 0, "GIF89a"))) return null;
  return { w: u16le(b, 6), h: u16le(b, 8) };
}

function webp(b: Uint8Array): ImageSize | null {
  if (b.length < 25 || !ascii(b, 0, "RIFF") || !ascii(b, 8, "WEBP")) return null;
  if (ascii(b, 12, "VP8 ")) {
    if (b.length < 30) return null;
    // Lossy: a 3-byte frame tag and the start code 9d 01 2a, then 14-bit width and height.
    if (b[23] !== 0x9d || b[24] !== 0x01 || b[25] !== 0x2a) return null;
    return { w: u16le(b, 26) & 0x3fff, h: u16le(b, 28) & 0x3fff };
  }
  if (ascii(b, 12, "VP8L")) {
    // Lossless: signature 0x2f, then width-1 and height-1 as two 14-bit fields.
    if (b[20] !== 0x2f) return null;
    const bits = (b[21]! | (b[22]! << 8) | (b[23]! << 16) | (b[24]! << 24)) >>> 0;
    return { w: (bits & 0x3fff) + 1, h: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (ascii(b, 12, "VP8X")) {
    if (b.length < 30) return null;
    // Extended: 24-bit canvas width-1 and height-1 after 4 bytes of flags.
    return { w: u24le(b, 24) + 1, h: u24le(b, 27) + 1 };
  }
  return null;
}

/** Start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not. */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

function jpeg(b: Uint8Array): ImageSize | null {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return null;
  let o = 2;
  while (o + 4 <= b.length) {
    if (b[o] !== 0xff) return null;
    const marker = b[o + 1]!;
    if (marker === 0xff) {
      o++; // fill byte
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      o += 2; // markers without a length
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) return null; // end of image / start of scan: no frame seen
    const length = u16be(b, o + 2);
    if (length < 2) return null;
    if (isStartOfFrame(marker)) {
      if (o + 9 > b.length) return null;
      return { w: u16be(b, o + 7), h: u16be(b, o + 5) };
    }
    o += 2 + length;
  }
  return null;
}
