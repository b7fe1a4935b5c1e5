/**
 * Matrix media events as plain data: reading what a client sent (m.image/m.file/m.video/m.audio)
 * and writing what the bridge posts for a Tox file. Pure and total: event content comes from the
 * network and may lack any field or carry the wrong type, so parsing returns a reason, never throws.
 */

type Json = Record<string, unknown>;

export const MEDIA_MSGTYPES = ["m.image", "m.file", "m.video", "m.audio"] as const;
export type MediaMsgtype = (typeof MEDIA_MSGTYPES)[number];

export function isMediaMsgtype(msgtype: unknown): msgtype is MediaMsgtype {
  return typeof msgtype === "string" && (MEDIA_MSGTYPES as readonly string[]).includes(msgtype);
}

export interface Mxc {
  serverName: string;
  mediaId: string;
}

/**
 * `mxc://<server-name>/<media-id>` as the spec defines it: a server name (host, optional port) and
 * a media id of `[A-Za-z0-9_-]`. Anything else (paths, queries, `..`) is refused, so an event can
 * never steer a download to another endpoint.
 */
export function parseMxc(uri: unknown): Mxc | null {
  if (typeof uri !== "string" || uri.length > 1024) return null;
  const m = /^mxc:\/\/([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?\/([A-Za-z0-9_-]+)$/.exec(uri);
  if (m === null) return null;
  return { serverName: `${m[1]}${m[2] ?? ""}`, mediaId: m[3]! };
}

/** The message type Matrix clients expect for a MIME type. */
export function msgtypeForMime(mimeType: string): MediaMsgtype {
  const major = mimeType.toLowerCase().split("/")[0];
  if (major === "image") return "m.image";
  if (major === "video") return "m.video";
  if (major === "audio") return "m.audio";
  return "m.file";
}

/** A media message from a Matrix client, checked enough to download it. */
export interface MediaEvent {
  msgtype: MediaMsgtype;
  mxc: Mxc;
  url: string;
  fileName: string;
  /** From `info.mimetype`; "application/octet-stream" when absent. */
  mimeType: string;
  /** From `info.size`: what the client claims, verified again while downloading. */
  declaredSize: number | undefined;
  /** The caption, when the client sent one apart from the file name (MSC2530). */
  caption: string | undefined;
}

export type ParsedMedia = { ok: true; media: MediaEvent } | { ok: false; problem: string };

const asObject = (v: unknown): Json | undefined =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : undefined;

/**
 * Reads an m.image/m.file/m.video/m.audio content. `info` is optional in the spec (some clients
 * and bots omit it): without it the size limit is enforced while downloading only. A present but
 * malformed `info`, a missing or foreign `url`, or an encrypted attachment (`file`, which the
 * bridge cannot decrypt) is a problem worth telling the user about.
 */
export function parseMediaEvent(content: unknown): ParsedMedia {
  const c = asObject(content);
  if (c === undefined) return { ok: false, problem: "the event has no content" };
  const msgtype = c.msgtype;
  if (!isMediaMsgtype(msgtype)) return { ok: false, problem: "it is not a media message" };
  if (c.url === undefined && asObject(c.file) !== undefined)
    return { ok: false, problem: "it is end-to-end encrypted, and the bridge cannot decrypt attachments" };
  if (c.url === undefined) return { ok: false, problem: "the message has no file URL" };
  const mxc = parseMxc(c.url);
  if (mxc === null) return { ok: false, problem: "its URL is not a valid mxc:// URI" };
  let declaredSize: number | undefined;
  let mimeType = "application/octet-stream";
  if (c.info !== undefined) {
    const info = asObject(c.info);
    if (info === undefined) return { ok: false, problem: "its `info` is not an object" };
    if (info.size !== undefined) {
      if (typeof info.size !== "number" || !Number.isSafeInteger(info.size) || info.size < 0)
        return { ok: false, problem: "its `info.size` is not a size in bytes" };
      declaredSize = info.size;
    }
    if (info.mimetype !== undefined) {
      if (typeof info.mimetype !== "string" || !isMimeType(info.mimetype))
        return { ok: false, problem: "its `info.mimetype` is not a MIME type" };
      mimeType = info.mimetype.toLowerCase();
    }
  }
  const body = typeof c.body === "string" ? c.body : "";
  const filenameField = typeof c.filename === "string" && c.filename.trim() !== "" ? c.filename : undefined;
  const fileName = safeFileName(filenameField ?? body, defaultName(msgtype, mimeType));
  const caption =
    filenameField !== undefined && body.trim() !== "" && body !== filenameField ? body : undefined;
  return {
    ok: true,
    media: { msgtype, mxc, url: c.url as string, fileName, mimeType, declaredSize, caption },
  };
}

function isMimeType(s: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/.test(s);
}

function defaultName(msgtype: MediaMsgtype, mimeType: string): string {
  const ext = /^[a-z0-9]{1,8}$/.exec(mimeType.split("/")[1]?.replace(/^x-/, "") ?? "")?.[0];
  const base = msgtype.slice(2);
  return ext === undefined || ext === "octet-stream" ? base : `${base}.${ext}`;
}

/**
 * A file name fit for Tox (at most 255 bytes of UTF-8, TOX_MAX_FILENAME_LENGTH) and for a disk:
 * no directories, no control characters, not empty, not `.`/`..`.
 */
export function safeFileName(name: string, fallback = "file"): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we strip
  let clean = (name.split(/[/\\]/).pop() ?? "").replace(/[\u0000-\u001f\u007f]/g, "").trim();
  if (clean === "" || clean === "." || clean === "..") clean = fallback;
  const enc = new TextEncoder();
  while (enc.encode(clean).length > 255) clean = [...clean].slice(0, -1).join("");
  return clean;
}

/** Size in the units people read: "812 bytes", "1.5 MB" (SI, as Matrix clients show sizes). */
export function humanSize(bytes: number): string {
  if (bytes < 1000) return `${bytes} bytes`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = bytes / 1000;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v >= 100 ? Math.round(v) : Number(v.toFixed(1))} ${units[i]}`;
}

export interface MediaContentInput {
  url: string;
  fileName: string;
  mimeType: string;
  size: number;
  /** Pixel size, for images whose header told us. */
  dimensions?: { w: number; h: number } | null;
  /** Overrides the message type chosen from the MIME type (an exported profile is always m.file). */
  msgtype?: MediaMsgtype;
  /** Text for `body` when it should differ from the file name (a QR code's Tox ID). */
  body?: string;
}

/** The content of the m.room.message the bridge posts for a file. */
export function mediaMessageContent(input: MediaContentInput): Json {
  const msgtype = input.msgtype ?? msgtypeForMime(input.mimeType);
  const info: Json = { mimetype: input.mimeType, size: input.size };
  if (input.dimensions && msgtype === "m.image") {
    info.w = input.dimensions.w;
    info.h = input.dimensions.h;
  }
  return {
    msgtype,
    body: input.body ?? input.fileName,
    filename: input.fileName,
    url: input.url,
    info,
  };
}
