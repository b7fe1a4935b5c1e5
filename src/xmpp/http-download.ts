/**
 * Downloading a file a user shared by URL (XEP-0066 OOB, usually their server's XEP-0363 upload)
 * to a local file, streamed, with the bridge's size limit checked before (Content-Length of a
 * HEAD) and enforced while streaming (a server may lie or send no length). Only http and https:
 * a redirect to any other scheme is refused, as are more than a few redirects.
 */
import dns from "node:dns";
import { createWriteStream } from "node:fs";
import { unlink } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import { formatSize } from "./upload.js";

export type DownloadFailure = "bad-url" | "too-large" | "http" | "network" | "redirect";

/** Why a download failed, worded for the user. */
export class DownloadError extends Error {
  override readonly name = "DownloadError";
  constructor(
    message: string,
    readonly reason: DownloadFailure,
  ) {
    super(message);
  }
}

export interface DownloadOptions {
  /** Largest accepted file in bytes. */
  maxBytes: number;
  /** Whole download, HEAD included (default 10 min). */
  timeoutMs?: number;
  maxRedirects?: number;
  /** Aborts the download (the gateway stopping); it then fails with reason "network". */
  signal?: AbortSignal;
  /**
   * Which IP addresses may be connected to (every hop, after DNS). Without it, any. The gateway
   * refuses private and loopback addresses by default: a user's link must not reach into the
   * bridge's own network and have the answer sent on to Tox.
   */
  allowAddress?: (address: string) => boolean;
}

/** Loopback, private, link-local, CGNAT, unspecified and multicast addresses (v4, v6, v4-mapped). */
export function isPrivateAddress(address: string): boolean {
  const a = address.toLowerCase().replace(/^\[|\]$/g, "");
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped?.[1]) return isPrivateAddress(mapped[1]);
  if (net.isIPv4(a)) {
    const [x = 0, y = 0] = a.split(".").map(Number);
    return (
      x === 0 ||
      x === 10 ||
      x === 127 ||
      (x === 100 && y >= 64 && y < 128) ||
      (x === 169 && y === 254) ||
      (x === 172 && y >= 16 && y < 32) ||
      (x === 192 && y === 168) ||
      x >= 224
    );
  }
  if (net.isIPv6(a)) {
    return (
      a === "::" ||
      a === "::1" ||
      /^f[cd][0-9a-f]{2}:/.test(a) ||
      /^fe[89ab][0-9a-f]:/.test(a) ||
      a.startsWith("ff")
    );
  }
  return true; // not an address at all: refuse
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | dns.LookupAddress[],
  family?: number,
) => void;

/** dns.lookup that fails for addresses `allow` refuses (http's `lookup` option). */
function checkedLookup(allow: (address: string) => boolean) {
  return (hostname: string, options: dns.LookupOptions, callback: LookupCallback) => {
    dns.lookup(hostname, { ...options }, (err, address, family) => {
      if (err) return callback(err, address as string, family);
      const all = Array.isArray(address) ? address : [{ address: address as string, family }];
      const refused = all.find((a) => !allow(a.address));
      if (refused) {
        const e: NodeJS.ErrnoException = new Error(
          `${hostname} resolves to ${refused.address}, a private address`,
        );
        e.code = "EPRIVATE";
        return callback(e, address as string, family);
      }
      callback(null, address as string, family);
    });
  };
}

export interface Downloaded {
  size: number;
  /** The Content-Type the server sent (parameters dropped), or null. */
  contentType: string | null;
  /** A safe file name from the final URL's last path segment. */
  fileName: string;
}

interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: http.IncomingMessage;
  url: URL;
}

function parseHttpUrl(s: string): URL {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new DownloadError("not a valid URL", "bad-url");
  }
  if (u.protocol !== "http:" && u.protocol !== "https:")
    throw new DownloadError(`only http and https links can be bridged, not ${u.protocol}`, "bad-url");
  return u;
}

/** One request, following redirects within http(s). The caller consumes or drops the body. */
async function request(method: "HEAD" | "GET", start: URL, opts: DownloadOptions, deadline: number) {
  let url = start;
  for (let hop = 0; ; hop++) {
    const res = await new Promise<Response>((resolve, reject) => {
      const lib = url.protocol === "https:" ? https : http;
      if (opts.signal?.aborted) return reject(new DownloadError("the gateway is stopping", "network"));
      const allow = opts.allowAddress;
      const literal = url.hostname.replace(/^\[|\]$/g, "");
      if (allow && net.isIP(literal) !== 0 && !allow(literal))
        return reject(
          new DownloadError(
            `${url.host} is a private address, which the bridge does not fetch from`,
            "bad-url",
          ),
        );
      const req = lib.request(url, {
        method,
        timeout: Math.max(1, deadline - Date.now()),
        signal: opts.signal,
        ...(allow ? { lookup: checkedLookup(allow) as unknown as typeof dns.lookup } : {}),
      });
      req.on("timeout", () => {
        req.destroy();
        reject(new DownloadError(`${url.host} did not answer in time`, "network"));
      });
      req.on("error", (err: NodeJS.ErrnoException) =>
        reject(
          err.code === "EPRIVATE"
            ? new DownloadError(`${err.message}, which the bridge does not fetch from`, "bad-url")
            : new DownloadError(`cannot reach ${url.host}: ${err.message}`, "network"),
        ),
      );
      req.on("response", (body) =>
        resolve({ status: body.statusCode ?? 0, headers: body.headers, body, url: new URL(url) }),
      );
      req.end();
    });
    if (res.status < 300 || res.status >= 400 || res.status === 304) return res;
    res.body.resume();
    const location = res.headers.location;
    if (!location) return res;
    if (hop >= (opts.maxRedirects ?? 3))
      throw new DownloadError(`too many redirects from ${start.host}`, "redirect");
    let next: URL;
    try {
      next = new URL(location, url);
    } catch {
      throw new DownloadError(`${url.host} redirected to a malformed URL`, "redirect");
    }
    if (next.protocol !== "http:" && next.protocol !== "https:")
      throw new DownloadError(
        `${url.host} redirected to a ${next.protocol} URL, which is not followed`,
        "redirect",
      );
    url = next;
  }
}

function lengthOf(headers: http.IncomingHttpHeaders): number | null {
  const v = headers["content-length"];
  return v !== undefined && /^\d{1,15}$/.test(v) ? Number(v) : null;
}

function tooLarge(size: number, max: number): DownloadError {
  return new DownloadError(
    `the file has ${formatSize(size)}; the bridge takes at most ${formatSize(max)}`,
    "too-large",
  );
}

/** Downloads `url` into `dest` (created or truncated); on failure `dest` is removed. */
export async function downloadToFile(url: string, dest: string, opts: DownloadOptions): Promise<Downloaded> {
  const start = parseHttpUrl(url);
  const deadline = Date.now() + (opts.timeoutMs ?? 10 * 60_000);
  // HEAD first: a too-big file is refused before a single byte of it is fetched. Servers that do
  // not support HEAD answer 4xx/5xx; the limit is then enforced while streaming.
  const head = await request("HEAD", start, opts, deadline).catch((err: unknown) => {
    if (err instanceof DownloadError && err.reason === "redirect") throw err;
    return null;
  });
  if (head) {
    head.body.resume();
    const announced = head.status < 300 ? lengthOf(head.headers) : null;
    if (announced !== null && announced > opts.maxBytes) throw tooLarge(announced, opts.maxBytes);
  }
  const res = await request("GET", start, opts, deadline);
  if (res.status < 200 || res.status >= 300) {
    res.body.resume();
    throw new DownloadError(`${res.url.host} answered HTTP ${res.status}`, "http");
  }
  const announced = lengthOf(res.headers);
  if (announced !== null && announced > opts.maxBytes) {
    res.body.destroy();
    throw tooLarge(announced, opts.maxBytes);
  }
  const size = await new Promise<number>((resolve, reject) => {
    const out = createWriteStream(dest);
    let bytes = 0;
    let failed = false;
    const fail = (err: DownloadError) => {
      if (failed) return;
      failed = true;
      res.body.destroy();
      out.destroy();
      reject(err);
    };
    const timer = setTimeout(
      () => fail(new DownloadError(`${res.url.host} took too long`, "network")),
      Math.max(1, deadline - Date.now()),
    );
    const onAbort = () => fail(new DownloadError("the gateway is stopping", "network"));
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    res.body.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > opts.maxBytes) fail(tooLarge(bytes, opts.maxBytes));
    });
    res.body.on("error", (err) => fail(new DownloadError(`download broke off: ${err.message}`, "network")));
    res.body.on("aborted", () => fail(new DownloadError("download broke off", "network")));
    out.on("error", (err) => fail(new DownloadError(`cannot write the download: ${err.message}`, "network")));
    out.on("close", () => {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
    });
    out.on("finish", () => {
      clearTimeout(timer);
      if (failed) return;
      if (announced !== null && bytes !== announced)
        fail(new DownloadError(`download broke off after ${bytes} of ${announced} bytes`, "network"));
      else resolve(bytes);
    });
    res.body.pipe(out);
  }).catch(async (err: unknown) => {
    await unlink(dest).catch(() => undefined);
    throw err;
  });
  const type = res.headers["content-type"]?.split(";")[0]?.trim().toLowerCase();
  return { size, contentType: type || null, fileName: fileNameOf(res.url) };
}

const MAX_NAME_BYTES = 255;

/** The last path segment, decoded, without path separators or control characters; "file" if empty. */
export function fileNameOf(url: URL): string {
  const segment = url.pathname.split("/").filter(Boolean).pop() ?? "";
  let name: string;
  try {
    name = decodeURIComponent(segment);
  } catch {
    name = segment;
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
  name = name.replace(/[\u0000-\u001f\u007f/\\]/g, "_").trim();
  if (name === "" || name === "." || name === "..") return "file";
  while (Buffer.byteLength(name, "utf8") > MAX_NAME_BYTES) name = name.slice(0, -1);
  return name;
}
