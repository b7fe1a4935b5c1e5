/**
 * The homeserver's media repository, streamed: uploads read a file from disk and downloads write
 * one, so a 50 MB transfer never sits in memory. matrix-bot-sdk's uploadContent/downloadContent
 * take and return whole Buffers, and Synapse refuses uploads without a Content-Length (which
 * `fetch` does not send for a streamed body), hence plain node:http here.
 *
 * Requests are made with the appservice token, as the user given (`user_id`, identity assertion):
 * a ghost uploads the files its friend sent. Downloads use authenticated media
 * (`/_matrix/client/v1/media/download`, spec v1.11) and fall back to the legacy unauthenticated
 * endpoint on homeservers that do not know it; once one answered that way, the client remembers.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { stat, unlink } from "node:fs/promises";
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Mxc } from "./media-content.js";

/**
 * - too-large: over our limit, or the homeserver answered 413;
 * - not-found / forbidden: the media is gone or not ours to read (permanent: tell the user);
 * - invalid: the homeserver refused the request as malformed (permanent);
 * - unavailable: network error, timeout or a 5xx (transient: try again later).
 */
export type MediaErrorKind = "too-large" | "not-found" | "forbidden" | "invalid" | "unavailable";

export class MediaError extends Error {
  override readonly name = "MediaError";
  constructor(
    readonly kind: MediaErrorKind,
    message: string,
    readonly context: { status?: number; errcode?: string; limit?: number; url?: string } = {},
  ) {
    super(message);
  }
}

export interface MediaClientOptions {
  homeserverUrl: string;
  /** The appservice's as_token. */
  asToken: string;
  /** Idle time (no bytes either way) after which a request is abandoned. Default 60 s. */
  idleTimeoutMs?: number;
}

export interface UploadSource {
  /** A file to stream, or bytes already in memory (small things: a QR code, an exported profile). */
  path?: string;
  data?: Uint8Array;
}

export interface DownloadResult {
  size: number;
  contentType: string;
}

export interface DownloadOptions {
  /** Where the bytes go; removed again when the download fails. */
  dest: string;
  /** Refuse (before reading, from Content-Length, or while streaming) anything larger. */
  maxBytes: number;
  /** Ask for a server-side thumbnail of at most this size instead of the original. */
  thumbnail?: { width: number; height: number };
}

interface RawResponse {
  status: number;
  headers: IncomingMessage["headers"];
  body: Readable;
}

const MAX_REDIRECTS = 3;

export class MediaClient {
  private readonly base: URL;
  /** False once the homeserver showed it has no authenticated media endpoints. */
  private authenticatedMedia = true;
  private readonly idleTimeoutMs: number;
  /** The homeserver's upload limit (`m.upload.size`), read once per hour; null: it states none. */
  private limit: { value: number | null; readAt: number } | undefined;

  constructor(private readonly opts: MediaClientOptions) {
    this.base = new URL(opts.homeserverUrl.replace(/\/+$/, ""));
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 60_000;
  }

  /** Uploads as `asUser` (a ghost or the bot); resolves with the new mxc:// URI. */
  async upload(
    asUser: string,
    source: UploadSource,
    meta: { contentType: string; fileName?: string },
  ): Promise<string> {
    const query: Record<string, string> = { user_id: asUser };
    if (meta.fileName !== undefined) query.filename = meta.fileName;
    let length: number;
    let body: () => Readable;
    if (source.path !== undefined) {
      const path = source.path;
      length = (await stat(path)).size;
      body = () => createReadStream(path);
    } else {
      const data = Buffer.from(source.data ?? new Uint8Array(0));
      length = data.length;
      body = () => Readable.from([data]);
    }
    // Refused before sending: a server that stops reading mid-body may reset the connection
    // before its 413 answer can be read.
    const serverLimit = await this.uploadLimit(asUser);
    if (serverLimit !== null && length > serverLimit)
      throw new MediaError("too-large", `the homeserver accepts uploads up to ${serverLimit} bytes`, {
        limit: serverLimit,
      });
    const res = await this.request("POST", "/_matrix/media/v3/upload", query, {
      headers: { "Content-Type": meta.contentType, "Content-Length": String(length) },
      body,
    });
    const json = await readJson(res.body);
    if (res.status !== 200) throw errorFor(res.status, json, "upload");
    const uri = (json as { content_uri?: unknown } | undefined)?.content_uri;
    if (typeof uri !== "string" || !uri.startsWith("mxc://"))
      throw new MediaError("unavailable", "the homeserver answered the upload without a content_uri");
    return uri;
  }

  /** `m.upload.size` from the media config (authenticated endpoint first), cached for an hour. */
  async uploadLimit(asUser: string): Promise<number | null> {
    if (this.limit !== undefined && Date.now() - this.limit.readAt < 3600_000) return this.limit.value;
    let value: number | null = null;
    try {
      const res = await this.getMedia("config", { user_id: asUser });
      const json = (await readJson(res.body)) as { "m.upload.size"?: unknown } | undefined;
      const size = json?.["m.upload.size"];
      if (res.status === 200 && typeof size === "number" && size > 0) value = size;
    } catch {
      return null; // unknown this time: the upload itself will tell
    }
    this.limit = { value, readAt: Date.now() };
    return value;
  }

  /** Downloads `mxc` into `opts.dest` (as `asUser` where authentication is used). */
  async download(asUser: string, mxc: Mxc, opts: DownloadOptions): Promise<DownloadResult> {
    const server = encodeURIComponent(mxc.serverName);
    const id = encodeURIComponent(mxc.mediaId);
    const kind = opts.thumbnail === undefined ? "download" : "thumbnail";
    const query: Record<string, string> = { user_id: asUser };
    if (opts.thumbnail !== undefined) {
      query.width = String(opts.thumbnail.width);
      query.height = String(opts.thumbnail.height);
      query.method = "scale";
    }
    const res = await this.getMedia(`${kind}/${server}/${id}`, query);
    if (res.status !== 200) throw errorFor(res.status, await readJson(res.body), kind);
    const declared = Number(res.headers["content-length"]);
    if (Number.isFinite(declared) && declared > opts.maxBytes) {
      res.body.destroy();
      throw tooLarge(opts.maxBytes);
    }
    let size = 0;
    const limit = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > opts.maxBytes) done(tooLarge(opts.maxBytes));
        else done(null, chunk);
      },
    });
    try {
      await pipeline(res.body, limit, createWriteStream(opts.dest, { mode: 0o600 }));
    } catch (err) {
      await unlink(opts.dest).catch(() => {});
      if (err instanceof MediaError) throw err;
      throw new MediaError("unavailable", `the download broke off: ${(err as Error).message}`);
    }
    const contentType = String(res.headers["content-type"] ?? "application/octet-stream").split(";")[0]!;
    return { size, contentType: contentType.trim().toLowerCase() };
  }

  /** GET from the authenticated media API, or the legacy one where the homeserver has no other. */
  private async getMedia(subpath: string, query: Record<string, string>): Promise<RawResponse> {
    if (this.authenticatedMedia) {
      const res = await this.request("GET", `/_matrix/client/v1/media/${subpath}`, query, {});
      if (!(await isUnknownEndpoint(res))) return res;
      this.authenticatedMedia = false;
    }
    return this.request("GET", `/_matrix/media/v3/${subpath}`, query, {});
  }

  private async request(
    method: "GET" | "POST",
    path: string,
    query: Record<string, string>,
    opts: { headers?: Record<string, string>; body?: () => Readable },
  ): Promise<RawResponse> {
    let url = new URL(this.base.href);
    url.pathname = `${this.base.pathname.replace(/\/$/, "")}${path}`;
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    for (let hop = 0; ; hop++) {
      const sameOrigin = url.origin === this.base.origin;
      const headers: Record<string, string> = { ...opts.headers };
      // The token goes to the homeserver only, never to a host a redirect points at.
      if (sameOrigin) headers.Authorization = `Bearer ${this.opts.asToken}`;
      const res = await this.once(method, url, headers, opts.body);
      const location = res.headers.location;
      if (res.status >= 300 && res.status < 400 && location !== undefined && method === "GET") {
        res.body.resume();
        if (hop >= MAX_REDIRECTS)
          throw new MediaError("unavailable", "too many redirects", { url: url.href });
        url = new URL(location, url);
        continue;
      }
      return res;
    }
  }

  private once(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: (() => Readable) | undefined,
  ): Promise<RawResponse> {
    const lib = url.protocol === "https:" ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request(url, { method, headers });
      const fail = (err: Error) =>
        reject(
          err instanceof MediaError
            ? err
            : new MediaError("unavailable", `cannot reach the homeserver: ${err.message}`, {
                url: `${url.origin}${url.pathname}`,
              }),
        );
      req.setTimeout(this.idleTimeoutMs, () =>
        req.destroy(
          new MediaError("unavailable", `no answer from the homeserver in ${this.idleTimeoutMs} ms`),
        ),
      );
      req.once("error", fail);
      req.once("response", (res) => {
        res.setTimeout(this.idleTimeoutMs, () =>
          res.destroy(new MediaError("unavailable", "the homeserver stopped sending")),
        );
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
      });
      if (body === undefined) req.end();
      else pipeline(body(), req).catch(fail);
    });
  }
}

function tooLarge(limit: number): MediaError {
  return new MediaError("too-large", `the file is larger than ${limit} bytes`, { limit });
}

/**
 * "This homeserver has no such endpoint": 404/405 with M_UNRECOGNIZED (the spec's answer), or
 * without a JSON body (a proxy in front of an old server). A 404 M_NOT_FOUND is about the media.
 */
async function isUnknownEndpoint(res: RawResponse): Promise<boolean> {
  if (res.status !== 404 && res.status !== 405) return false;
  const isJson = String(res.headers["content-type"] ?? "").includes("json");
  if (!isJson) {
    res.body.resume();
    return true;
  }
  const json = (await readJson(res.body)) as { errcode?: unknown } | undefined;
  if (json?.errcode === "M_UNRECOGNIZED") return true;
  // Not an unknown endpoint after all: keep the answer for the caller, whose body we consumed.
  res.body = Readable.from([Buffer.from(JSON.stringify(json ?? {}))]);
  return false;
}

/** The JSON body of an answer (error or upload result); undefined when it is not JSON. */
async function readJson(body: Readable): Promise<unknown> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += (chunk as Buffer).length;
    if (total > 64 * 1024) break; // an answer this large is not an error message
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    return undefined;
  }
}

function errorFor(status: number, json: unknown, what: string): MediaError {
  const j = (json ?? {}) as { errcode?: unknown; error?: unknown };
  const errcode = typeof j.errcode === "string" ? j.errcode : undefined;
  const detail = typeof j.error === "string" ? `: ${j.error.slice(0, 200)}` : "";
  const ctx = { status, ...(errcode === undefined ? {} : { errcode }) };
  if (status === 413 || errcode === "M_TOO_LARGE")
    return new MediaError("too-large", `the homeserver refused the ${what} as too large${detail}`, ctx);
  if (status === 404) return new MediaError("not-found", `the homeserver has no such media${detail}`, ctx);
  if (status === 401 || status === 403)
    return new MediaError("forbidden", `the homeserver refused the ${what}${detail}`, ctx);
  if (status === 429 || status >= 500 || status === 0)
    return new MediaError("unavailable", `the homeserver failed the ${what} (${status})${detail}`, ctx);
  return new MediaError("invalid", `the homeserver refused the ${what} (${status})${detail}`, ctx);
}
