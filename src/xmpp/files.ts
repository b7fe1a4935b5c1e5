/**
 * Files between Tox and XMPP.
 *
 * Tox -> XMPP: a file the core received completely is uploaded to the user's own server
 * (XEP-0363, in the friend's name) and announced from the friend's JID with the link as body and
 * an XEP-0066 OOB element, which Conversations, Gajim, Dino and Monal show inline. Idempotent per
 * InboundFile.id: a redelivery after a lost confirmation re-sends the same message id, and an
 * upload that succeeded is not repeated. What became of each file is kept in the store's bridge
 * state when the gateway has one, so that holds across a bridge restart too (the core redelivers
 * a file whose delivery it did not hear about before it stopped).
 *
 * XMPP -> Tox: a message to a friend carrying a file link (OOB, or a bare link to the user's own
 * upload service) is downloaded in the background (limit checked first, enforced while
 * streaming) and queued with `sendFile`. Downloads do not hold up the user's other stanzas;
 * every failure is explained in that conversation and nothing is sent.
 */
import { randomUUID } from "node:crypto";
import { mkdir, readFile, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type {
  AccountRef,
  CommandFile,
  CommandReply,
  CoreApi,
  CoreFilesApi,
  InboundFile,
  Owner,
  PermissionLevel,
} from "./core-port.js";
import type { StanzaSink } from "./frontend.js";
import { DownloadError, downloadToFile, isPrivateAddress } from "./http-download.js";
import { contactJid, parseJid } from "./jid.js";
import { NS } from "./namespaces.js";
import { MAX_PROFILE_BYTES } from "./profiles.js";
import type { XmppLogger } from "./router.js";
import { formatSize, type IqSender, UploadError, UploadServices, uploadFile } from "./upload.js";
import { type XmlElement, xml } from "./xml.js";

/** The core's file API when it has one (BridgeCore implements CoreApi and CoreFilesApi). */
export function filesApiOf(core: unknown): CoreFilesApi | null {
  const c = core as Partial<CoreFilesApi> | null;
  return c && typeof c.sendFile === "function" && typeof c.setAvatar === "function"
    ? (c as CoreFilesApi)
    : null;
}

/** A file link found in a message. */
export type FileLink =
  | { kind: "url"; url: string; oob: boolean; text: string | null }
  | { kind: "encrypted"; url: string };

/**
 * The file link of a message: its XEP-0066 OOB URL, or a body that is nothing but a link for
 * which `isUploadUrl` says yes. `text` is the body left to send as a message (null when the
 * body is just the link again, as clients write it). `aesgcm://` (OMEMO media) links are marked:
 * their key is end-to-end encrypted, the bridge cannot open them.
 */
export function fileLinkOf(message: XmlElement, isUploadUrl: (url: URL) => boolean): FileLink | null {
  const body = (message.getChildText("body") ?? "").trim();
  const oob = message.getChildren("x", NS.oob)[0]?.getChildText("url")?.trim();
  if (oob) {
    if (/^aesgcm:/i.test(oob)) return { kind: "encrypted", url: oob };
    const text = body === "" || body === oob ? null : body;
    return { kind: "url", url: oob, oob: true, text };
  }
  if (/^aesgcm:\/\/\S+$/i.test(body)) return { kind: "encrypted", url: body };
  if (!/^https?:\/\/\S+$/i.test(body)) return null;
  let url: URL;
  try {
    url = new URL(body);
  } catch {
    return null;
  }
  return isUploadUrl(url) ? { kind: "url", url: body, oob: false, text: null } : null;
}

/** The message announcing an uploaded file: the link as body plus XEP-0066 OOB. */
export function fileMessage(from: string, to: string, url: string, id: string): XmlElement {
  return xml(
    "message",
    { type: "chat", from, to, id },
    xml("body", {}, url),
    xml("x", { xmlns: NS.oob }, xml("url", {}, url)),
    xml("store", { xmlns: NS.hints }),
  );
}

/**
 * What became of a friend's file on its way to the user: uploaded to `url`, then `sent` (the
 * announcement, or the notice why it could not be passed on, confirmed by the server).
 */
export interface FileDeliveryRecord {
  url?: string;
  sent?: boolean;
}

/** Where delivery records are kept: the store's bridge state (durable) or memory. */
export interface FileDeliveryState {
  get<T>(key: string): Promise<T | null>;
  set(key: string, value: unknown): Promise<void>;
}

/** Bridge state key of a file's delivery record (next to Matrix's `matrix.file:` records). */
export const fileDeliveryKey = (account: number, file: number) => `xmpp.file:${account}:${file}`;

export interface XmppFilesOptions {
  domain: string;
  core: CoreApi;
  sink: StanzaSink & IqSender;
  /** Where downloads and exported profiles are written before they move on (created if missing). */
  workDir: string;
  log: XmppLogger;
  /** Override of the core's `maxFileSize` (tests). */
  maxFileSize?: number;
  /**
   * Fetch links from private and loopback addresses too (default: only from the user's own
   * server's hosts). Off, a user cannot make the bridge read its own network and send that on.
   */
  allowPrivateAddresses?: boolean;
  /**
   * Where delivery records are kept (the store's `bridgeState`): then a file delivered before a
   * restart is neither uploaded nor announced again when the core redelivers it. Default: memory.
   */
  deliveries?: FileDeliveryState;
}

/** Remembered ids (delivered files, handled stanzas): enough for any redelivery window. */
const REMEMBERED = 4096;

function remember<K>(collection: Set<K> | Map<K, unknown>, key: K, value?: unknown): void {
  if (collection instanceof Set) collection.add(key);
  else collection.set(key, value);
  if (collection.size > REMEMBERED) {
    const oldest = collection.keys().next().value;
    if (oldest !== undefined) collection.delete(oldest);
  }
}

/** Delivery records in memory, bounded: survives a reconnection, not a restart. */
function memoryDeliveries(): FileDeliveryState {
  const records = new Map<string, unknown>();
  return {
    get: async <T>(key: string) => (records.get(key) as T | undefined) ?? null,
    set: async (key, value) => remember(records, key, value),
  };
}

export class XmppFiles {
  readonly uploads: UploadServices;
  private readonly files: CoreFilesApi | null;
  private readonly deliveries: FileDeliveryState;
  private readonly handled = new Set<string>();
  /** Hosts our uploads landed on, by server domain: a bare link there is a file, not a web page. */
  private readonly uploadHosts = new Map<string, Set<string>>();
  private readonly running = new Set<Promise<void>>();
  /** Aborted by `stop()`: downloads in progress end at once (the user is told it failed). */
  private readonly stopping = new AbortController();

  constructor(private readonly opts: XmppFilesOptions) {
    this.files = filesApiOf(opts.core);
    this.deliveries = opts.deliveries ?? memoryDeliveries();
    this.uploads = new UploadServices(opts.sink, opts.domain);
  }

  get enabled(): boolean {
    return this.files !== null;
  }

  get maxFileSize(): number {
    return this.opts.maxFileSize ?? this.files?.maxFileSize ?? 0;
  }

  /** Ends downloads in progress and waits for them to settle. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.idle();
  }

  /** Resolves when background downloads have settled (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  private contact(friend: string): string {
    return contactJid(friend, this.opts.domain);
  }

  private say(from: string, to: string, text: string): Promise<void> {
    return this.opts.sink.send(xml("message", { type: "chat", from, to }, xml("body", {}, text)));
  }

  private async upload(
    serverDomain: string,
    from: string,
    file: { fileName: string; size: number; mimeType: string; path: string },
  ): Promise<string> {
    const url = await uploadFile(this.uploads, this.opts.sink, serverDomain, from, file);
    try {
      const host = new URL(url).host;
      const hosts = this.uploadHosts.get(serverDomain) ?? new Set<string>();
      hosts.add(host);
      this.uploadHosts.set(serverDomain, hosts);
    } catch {
      // uploadFile checked the URL already
    }
    return url;
  }

  /** A bare link counts as a shared file when it points at the user's server (or its upload host). */
  isUploadUrl(owner: Owner, url: URL): boolean {
    const domain = parseJid(owner.id)?.domain;
    if (domain === undefined) return false;
    const host = url.hostname.toLowerCase();
    return (
      host === domain ||
      host.endsWith(`.${domain}`) ||
      (this.uploadHosts.get(domain)?.has(url.host.toLowerCase()) ?? false)
    );
  }

  /** Which addresses a download of `url` for `owner` may connect to (see allowPrivateAddresses). */
  private addressPolicy(owner: Owner, url: string): ((address: string) => boolean) | undefined {
    if (this.opts.allowPrivateAddresses) return undefined;
    try {
      // The user's own server (its domain, sub-domains and our upload hosts) may be on a LAN.
      if (this.isUploadUrl(owner, new URL(url))) return undefined;
    } catch {
      // downloadToFile reports the malformed URL
    }
    return (address) => !isPrivateAddress(address);
  }

  // ---- Tox -> XMPP ----

  /** Frontend.deliverFile: rejects (the core retries) only when it may work later. */
  async deliverFile(account: AccountRef, file: InboundFile): Promise<void> {
    const key = fileDeliveryKey(account.id, file.id);
    const record = (await this.deliveries.get<FileDeliveryRecord>(key)) ?? {};
    if (record.sent) return; // announced before; the core did not hear back
    const user = account.owner.id;
    const from = this.contact(file.friend);
    const serverDomain = parseJid(user)?.domain ?? user;
    let url = record.url;
    if (url === undefined) {
      try {
        url = await this.upload(serverDomain, from, file);
      } catch (err) {
        if (!(err instanceof UploadError) || err.reason === "http") throw err;
        // Retrying cannot help (no service, too big, refused): tell the user what they missed.
        await this.opts.sink.sendConfirmed(
          xml(
            "message",
            { type: "chat", from, to: user, id: `tox-file-${file.id}` },
            xml(
              "body",
              {},
              `📎 Sent you a file over Tox: "${file.fileName}" (${formatSize(file.size)}), but it cannot ` +
                `be passed on: ${err.message}.` +
                (err.reason === "no-service"
                  ? " Ask your server's admin to enable HTTP file upload (XEP-0363)."
                  : ""),
            ),
          ),
        );
        await this.deliveries.set(key, { sent: true } satisfies FileDeliveryRecord);
        this.opts.log.info(
          { user, friend: file.friend, file: file.id, why: err.message },
          "xmpp: file not passed on",
        );
        return;
      }
      // Kept before announcing: a lost confirmation (or a restart) announces this URL again.
      await this.deliveries.set(key, { url } satisfies FileDeliveryRecord);
    }
    await this.opts.sink.sendConfirmed(fileMessage(from, user, url, `tox-file-${file.id}`));
    await this.deliveries.set(key, { url, sent: true } satisfies FileDeliveryRecord);
  }

  // ---- XMPP -> Tox ----

  /**
   * A file link the user sent to a friend: downloaded and queued in the background. Resolves at
   * once; the outcome shows in the conversation when it fails.
   */
  fromUser(owner: Owner, friend: string, link: FileLink, stanzaId: string | undefined): void {
    const from = this.contact(friend);
    if (link.kind === "encrypted") {
      void this.say(
        from,
        owner.id,
        "⚠ Not sent to Tox: this file is end-to-end encrypted (OMEMO), and the bridge cannot open it. " +
          "Send it without encryption to share it with your Tox friend.",
      ).catch(() => undefined);
      return;
    }
    const files = this.files;
    if (files === null) {
      void this.say(from, owner.id, "⚠ Not sent to Tox: this bridge does not pass files on.").catch(
        () => undefined,
      );
      return;
    }
    if (stanzaId !== undefined) {
      const key = `${owner.id} ${stanzaId}`;
      if (this.handled.has(key)) return;
      remember(this.handled, key);
    }
    const work = this.sendToTox(files, owner, friend, link.url, stanzaId).catch(async (err: unknown) => {
      const why = err instanceof DownloadError || err instanceof Error ? err.message : String(err);
      this.opts.log.info({ owner: owner.id, friend, url: link.url, why }, "xmpp: file not sent");
      await this.say(from, owner.id, `⚠ Not sent to Tox: ${describeLink(link.url)}: ${why}.`).catch(
        () => undefined,
      );
    });
    this.running.add(work);
    void work.finally(() => this.running.delete(work));
  }

  private async sendToTox(
    files: CoreFilesApi,
    owner: Owner,
    friend: string,
    url: string,
    stanzaId: string | undefined,
  ): Promise<void> {
    await mkdir(this.opts.workDir, { recursive: true });
    const path = join(this.opts.workDir, `xmpp-in-${randomUUID()}`);
    const got = await downloadToFile(url, path, {
      maxBytes: this.maxFileSize,
      signal: this.stopping.signal,
      allowAddress: this.addressPolicy(owner, url),
    });
    try {
      const sent = await files.sendFile({
        owner,
        friend,
        fileName: got.fileName,
        size: got.size,
        mimeType: got.contentType ?? "application/octet-stream",
        path,
        sourceEventId: stanzaId,
      });
      // Already queued before (a redelivered stanza): the core kept its own copy.
      if (!sent.created) await unlink(path).catch(() => undefined);
    } catch (err) {
      await unlink(path).catch(() => undefined);
      throw err;
    }
  }

  // ---- profiles ----

  /** Downloads a .tox someone linked (chat `import`, ad-hoc URL field) into memory. */
  async fetchProfile(owner: Owner, url: string): Promise<CommandFile> {
    await mkdir(this.opts.workDir, { recursive: true });
    const path = join(this.opts.workDir, `profile-${randomUUID()}`);
    try {
      const got = await downloadToFile(url, path, {
        maxBytes: MAX_PROFILE_BYTES,
        timeoutMs: 60_000,
        signal: this.stopping.signal,
        allowAddress: this.addressPolicy(owner, url),
      });
      const data = new Uint8Array(await readFile(path));
      return { fileName: got.fileName, mimeType: "application/octet-stream", data };
    } finally {
      await unlink(path).catch(() => undefined);
    }
  }

  /**
   * Runs `export [passphrase]` and uploads the profile it returns to the user's server (as the
   * gateway). `url` is null when there was nothing to upload or the server has no upload service.
   */
  async exportProfile(
    owner: Owner,
    permission: PermissionLevel | null,
    text: string,
  ): Promise<{
    reply: CommandReply;
    file: { fileName: string; data: Uint8Array } | null;
    url: string | null;
    uploadProblem?: string;
  }> {
    const reply = await this.opts.core.command(owner, text, permission);
    const file = reply.attachments?.find((a) => a.kind === "file") ?? null;
    if (!reply.ok || file === null) return { reply, file: null, url: null };
    await mkdir(this.opts.workDir, { recursive: true });
    const path = join(this.opts.workDir, `export-${randomUUID()}`);
    try {
      await writeFile(path, file.data, { mode: 0o600 });
      const serverDomain = parseJid(owner.id)?.domain ?? owner.id;
      const url = await this.upload(serverDomain, this.opts.domain, {
        fileName: file.fileName,
        size: file.data.length,
        mimeType: file.mimeType || "application/octet-stream",
        path,
      });
      return { reply, file, url };
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      return { reply, file, url: null, uploadProblem: why };
    } finally {
      await unlink(path).catch(() => undefined);
    }
  }
}

/** A link as the user knows it: the file name at its end, else the host. */
function describeLink(url: string): string {
  try {
    const u = new URL(url);
    const last = decodeURIComponent(u.pathname.split("/").filter(Boolean).pop() ?? "");
    return last ? `"${last}"` : u.host;
  } catch {
    return "the link";
  }
}
