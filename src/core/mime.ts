/**
 * Guesses a file's MIME type from its first bytes, then its name. Tox sends only a name and a
 * size, but Matrix and XMPP clients pick how to show a file (inline image, player, download)
 * from its type. A small table of what people send each other; no dependency.
 */

const OCTET_STREAM = "application/octet-stream";

/** Magic numbers: bytes at an offset (null = any byte). */
const MAGIC: { type: string; at: number; bytes: (number | null)[] }[] = [
  { type: "image/png", at: 0, bytes: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] },
  { type: "image/jpeg", at: 0, bytes: [0xff, 0xd8, 0xff] },
  { type: "image/gif", at: 0, bytes: [0x47, 0x49, 0x46, 0x38] },
  {
    type: "image/webp",
    at: 0,
    bytes: [0x52, 0x49, 0x46, 0x46, null, null, null, null, 0x57, 0x45, 0x42, 0x50],
  },
  {
    type: "audio/wav",
    at: 0,
    bytes: [0x52, 0x49, 0x46, 0x46, null, null, null, null, 0x57, 0x41, 0x56, 0x45],
  },
  { type: "image/bmp", at: 0, bytes: [0x42, 0x4d] },
  { type: "application/pdf", at: 0, bytes: [0x25, 0x50, 0x44, 0x46, 0x2d] },
  { type: "application/gzip", at: 0, bytes: [0x1f, 0x8b] },
  { type: "application/x-7z-compressed", at: 0, bytes: [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c] },
  { type: "audio/ogg", at: 0, bytes: [0x4f, 0x67, 0x67, 0x53] },
  { type: "audio/flac", at: 0, bytes: [0x66, 0x4c, 0x61, 0x43] },
  { type: "audio/mpeg", at: 0, bytes: [0x49, 0x44, 0x33] },
  { type: "video/webm", at: 0, bytes: [0x1a, 0x45, 0xdf, 0xa3] },
  { type: "video/mp4", at: 4, bytes: [0x66, 0x74, 0x79, 0x70] },
];

const BY_EXTENSION: Record<string, string> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  bmp: "image/bmp",
  svg: "image/svg+xml",
  pdf: "application/pdf",
  zip: "application/zip",
  gz: "application/gzip",
  "7z": "application/x-7z-compressed",
  tar: "application/x-tar",
  txt: "text/plain",
  md: "text/markdown",
  csv: "text/csv",
  json: "application/json",
  html: "text/html",
  ogg: "audio/ogg",
  oga: "audio/ogg",
  opus: "audio/ogg",
  mp3: "audio/mpeg",
  flac: "audio/flac",
  wav: "audio/wav",
  m4a: "audio/mp4",
  mp4: "video/mp4",
  m4v: "video/mp4",
  mov: "video/quicktime",
  webm: "video/webm",
  mkv: "video/x-matroska",
  tox: "application/octet-stream",
};

function matches(head: Uint8Array, m: (typeof MAGIC)[number]): boolean {
  if (head.length < m.at + m.bytes.length) return false;
  return m.bytes.every((b, i) => b === null || head[m.at + i] === b);
}

/** Bytes of the file start that `guessMimeType` looks at. */
export const MIME_SNIFF_BYTES = 16;

/**
 * The type by magic bytes first (a name can lie or lack an extension), then by extension;
 * "application/octet-stream" when neither says. ZIP containers (docx, odt, apk...) are named
 * by extension when it is known.
 */
export function guessMimeType(fileName: string, head: Uint8Array = new Uint8Array(0)): string {
  const ext = /\.([A-Za-z0-9]{1,8})$/.exec(fileName)?.[1]?.toLowerCase();
  const byName = ext === undefined ? undefined : BY_EXTENSION[ext];
  for (const m of MAGIC) if (matches(head, m)) return m.type === "video/mp4" && byName ? byName : m.type;
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04)
    return byName ?? "application/zip";
  return byName ?? OCTET_STREAM;
}

/** A file name extension for a type (for avatars saved without a name). */
export function extensionFor(mimeType: string): string {
  for (const [ext, type] of Object.entries(BY_EXTENSION)) if (type === mimeType) return ext;
  return "bin";
}
