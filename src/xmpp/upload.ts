/**
 * XEP-0363 HTTP File Upload through the user's own XMPP server: find the upload service (disco
 * items of the server domain, then disco#info of each for `urn:xmpp:http:upload:0`), ask it for a
 * slot, and PUT the file there, streamed from disk. The GET URL it hands out is what the user's
 * clients download (and show inline when it comes with an XEP-0066 OOB element).
 *
 * Files are uploaded in the server's name space, so the server's limits (size, quota, retention)
 * apply and the user's clients need no access to the bridge.
 */
import { createReadStream } from "node:fs";
import http from "node:http";
import https from "node:https";
import { IqError } from "./component.js";
import { NS } from "./namespaces.js";
import { child, type XmlElement, xml } from "./xml.js";

/** Sends an iq and resolves with its `result` (XmppComponent.iq). */
export interface IqSender {
  iq(stanza: XmlElement, timeoutMs?: number): Promise<XmlElement>;
}

export const NS_UPLOAD = "urn:xmpp:http:upload:0";

export interface UploadService {
  jid: string;
  /** The service's `max-file-size` (bytes), or null when it announces none. */
  maxFileSize: number | null;
}

export interface UploadSlot {
  putUrl: string;
  /** The headers XEP-0363 §6 lets the service ask for (Authorization, Cookie, Expires). */
  putHeaders: Record<string, string>;
  getUrl: string;
}

/** Why an upload did not happen, worded for the user. */
export class UploadError extends Error {
  override readonly name = "UploadError";
  constructor(
    message: string,
    /** "no-service" | "too-large" | "refused" | "http" */
    readonly reason: "no-service" | "too-large" | "refused" | "http",
  ) {
    super(message);
  }
}

/** How long a discovery answer is trusted: servers rarely change, but an admin may enable upload. */
const FOUND_TTL_MS = 10 * 60_000;
const MISSING_TTL_MS = 60_000;
/** Disco items of a big server can be long; we look at no more than this many. */
const MAX_ITEMS_PROBED = 16;
/** XEP-0363 §6: only these request headers may be passed on from the slot. */
const ALLOWED_PUT_HEADERS = new Set(["authorization", "cookie", "expires"]);

export class UploadServices {
  private readonly cache = new Map<string, { service: UploadService | null; until: number }>();

  constructor(
    private readonly iq: IqSender,
    /** Our JID, the `from` of discovery requests. */
    private readonly from: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** The upload service of `serverDomain`, or null when it has none (or does not answer). */
  async find(serverDomain: string): Promise<UploadService | null> {
    const domain = serverDomain.toLowerCase();
    const cached = this.cache.get(domain);
    if (cached !== undefined && cached.until > this.now()) return cached.service;
    const service = await this.discover(domain);
    this.cache.set(domain, { service, until: this.now() + (service ? FOUND_TTL_MS : MISSING_TTL_MS) });
    return service;
  }

  private async info(jid: string): Promise<UploadService | null> {
    const answer = await this.iq.iq(
      xml("iq", { type: "get", from: this.from, to: jid }, xml("query", { xmlns: NS.discoInfo })),
    );
    return uploadServiceOf(jid, answer);
  }

  private async discover(domain: string): Promise<UploadService | null> {
    // Some servers (ejabberd with mod_http_upload on the host) announce upload on the domain itself.
    const own = await this.info(domain).catch(nullOnIqError);
    if (own) return own;
    const items = await this.iq
      .iq(xml("iq", { type: "get", from: this.from, to: domain }, xml("query", { xmlns: NS.discoItems })))
      .catch(nullOnIqError);
    const jids = (items?.getChild("query")?.getChildren("item") ?? [])
      .filter((i) => i.attrs.node === undefined && i.attrs.jid)
      .map((i) => i.attrs.jid as string)
      .slice(0, MAX_ITEMS_PROBED);
    for (const jid of jids) {
      const found = await this.info(jid).catch(nullOnIqError);
      if (found) return found;
    }
    return null;
  }
}

/**
 * An error answer (or none in time) means "not here"; anything else (not connected) is no answer
 * at all and must not be remembered as "this server has no upload".
 */
function nullOnIqError(err: unknown): null {
  if (err instanceof IqError) return null;
  throw err;
}

/** Reads a disco#info result: an upload service when it has the XEP-0363 feature. */
export function uploadServiceOf(jid: string, answer: XmlElement): UploadService | null {
  const query = answer.getChild("query", NS.discoInfo);
  if (!query) return null;
  if (!query.getChildren("feature").some((f) => f.attrs.var === NS_UPLOAD)) return null;
  let maxFileSize: number | null = null;
  for (const x of query.getChildren("x", NS.data)) {
    const fields = x.getChildren("field");
    const formType = fields.find((f) => f.attrs.var === "FORM_TYPE")?.getChildText("value");
    if (formType !== NS_UPLOAD) continue;
    const max = fields.find((f) => f.attrs.var === "max-file-size")?.getChildText("value");
    if (max && /^\d{1,15}$/.test(max.trim())) maxFileSize = Number(max.trim());
  }
  return { jid, maxFileSize };
}

/** Asks the service for a slot; `from` is whose quota the file counts against. */
export async function requestSlot(
  iq: IqSender,
  service: UploadService,
  from: string,
  file: { fileName: string; size: number; mimeType: string },
): Promise<UploadSlot> {
  if (service.maxFileSize !== null && file.size > service.maxFileSize)
    throw new UploadError(
      `the server takes files up to ${formatSize(service.maxFileSize)} (${service.maxFileSize} bytes); ` +
        `this one has ${file.size}`,
      "too-large",
    );
  let answer: XmlElement;
  try {
    answer = await iq.iq(
      xml(
        "iq",
        { type: "get", from, to: service.jid },
        xml("request", {
          xmlns: NS_UPLOAD,
          filename: file.fileName,
          size: file.size,
          "content-type": file.mimeType,
        }),
      ),
    );
  } catch (err) {
    const tooLarge = err instanceof Error && /file-too-large|not-acceptable/.test(err.message);
    throw new UploadError(
      `the server's upload service refused the file (${err instanceof Error ? err.message : String(err)})`,
      tooLarge ? "too-large" : "refused",
    );
  }
  const slot = child(answer, "slot", NS_UPLOAD);
  const putUrl = slot?.getChild("put")?.attrs.url;
  const getUrl = slot?.getChild("get")?.attrs.url;
  if (!slot || !putUrl || !getUrl || !isHttpUrl(putUrl) || !isHttpUrl(getUrl))
    throw new UploadError("the server's upload service gave a malformed slot", "refused");
  const putHeaders: Record<string, string> = {};
  for (const h of slot.getChild("put")?.getChildren("header") ?? []) {
    const name = h.attrs.name ?? "";
    // Values with line breaks would smuggle extra headers into the request.
    const value = h.getText().replace(/[\r\n]+/g, " ");
    if (ALLOWED_PUT_HEADERS.has(name.toLowerCase())) putHeaders[name] = value;
  }
  return { putUrl, putHeaders, getUrl };
}

export function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === "http:" || u.protocol === "https:";
  } catch {
    return false;
  }
}

/** PUTs a file from disk to a slot, streamed; resolves when the service answered 2xx. */
export function putFile(
  slot: UploadSlot,
  file: { path: string; size: number; mimeType: string },
  timeoutMs = 10 * 60_000,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const url = new URL(slot.putUrl);
    const lib = url.protocol === "https:" ? https : http;
    const req = lib.request(url, {
      method: "PUT",
      headers: { ...slot.putHeaders, "Content-Length": String(file.size), "Content-Type": file.mimeType },
      timeout: timeoutMs,
    });
    const fail = (err: Error) => {
      req.destroy();
      reject(new UploadError(`upload to ${url.host} failed: ${err.message}`, "http"));
    };
    req.on("timeout", () => fail(new Error("timed out")));
    req.on("error", fail);
    req.on("response", (res) => {
      res.resume(); // the body is of no interest; drain it so the socket is freed
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) resolve();
      else reject(new UploadError(`upload to ${url.host} failed: HTTP ${status}`, "http"));
    });
    const source = createReadStream(file.path);
    source.on("error", fail);
    source.pipe(req);
  });
}

/** The whole upload: find the user's server's service, get a slot, PUT the file. Returns the GET URL. */
export async function uploadFile(
  services: UploadServices,
  iq: IqSender,
  serverDomain: string,
  from: string,
  file: { fileName: string; size: number; mimeType: string; path: string },
): Promise<string> {
  const service = await services.find(serverDomain);
  if (service === null)
    throw new UploadError(`${serverDomain} offers no HTTP file upload (XEP-0363)`, "no-service");
  const slot = await requestSlot(iq, service, from, file);
  await putFile(slot, file);
  return slot.getUrl;
}

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 10 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}
