/**
 * Files between Matrix and Tox, for the Matrix frontend:
 * - a complete file from a Tox friend is uploaded to the homeserver (streamed from the core's
 *   spool, as the friend's ghost) and posted once in the DM portal as m.image/m.video/m.audio/
 *   m.file; what was uploaded and posted is remembered per file, so a redelivery posts nothing;
 * - a media message in a portal is checked against the size limit, downloaded (streamed, limit
 *   enforced while reading) into a temporary file and queued with `sendFile`, which resolves once
 *   the core holds it durably; only then may the transaction be acknowledged;
 * - a file sent to the bot becomes a command file (a .tox profile for `import`), and files in a
 *   command's reply (a QR code, an exported profile) are uploaded and posted by the bot.
 *
 * Results the user must hear about come back as `{ ok: false, notice }`; transient failures
 * (homeserver or network down) throw, so the caller can have the work retried.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Intent } from "matrix-appservice-bridge";
import { CoreError } from "../core/errors.js";
import type {
  AccountRef,
  Attachment,
  CommandFile,
  CoreApi,
  CoreFilesApi,
  InboundFile,
  Owner,
} from "../core/frontend.js";
import type { Logger } from "../logger.js";
import type { Store } from "../store/index.js";
import { IMAGE_HEAD_BYTES, imageSize } from "./image-size.js";
import { MediaClient, MediaError } from "./media-client.js";
import {
  humanSize,
  type MediaEvent,
  mediaMessageContent,
  parseMediaEvent,
  safeFileName,
} from "./media-content.js";

export type MediaOutcome = { ok: true } | { ok: false; notice: string };

export interface MatrixMediaOptions {
  core: CoreApi & Partial<CoreFilesApi>;
  store: Store;
  log: Logger;
  /** Directory for files on their way in (downloads waiting to be handed to the core). */
  spoolDir: string;
  botId: string;
  intent: (userId?: string) => Intent;
}

/** A .tox profile is a few kB per friend: anything bigger than this is not one. */
export const MAX_COMMAND_FILE_BYTES = 16 * 1024 * 1024;
/** Temporary downloads older than this are leftovers of a crash. */
const STALE_TEMP_MS = 24 * 3600 * 1000;

const sentKey = (account: number, file: number) => `matrix.file:${account}:${file}`;
const MEDIA_PREFIX = "matrix.media:";

/** What became of a friend's file: uploaded as `mxc`, posted as `eventId` (kept so neither repeats). */
interface SentRecord {
  mxc?: string;
  eventId?: string;
  /** Why the homeserver would not take it (then a notice is posted instead). */
  refused?: string;
}

export class MatrixMedia {
  private mediaClient: MediaClient | undefined;
  private tempReady: Promise<string> | undefined;
  /** Portal media being downloaded and handed to the core, by event id. */
  private readonly inFlight = new Map<string, Promise<MediaOutcome>>();

  constructor(private readonly opts: MatrixMediaOptions) {}

  /** The core's files API, or null when the core has none (files then degrade to a text line). */
  files(): CoreFilesApi | null {
    const c = this.opts.core;
    return typeof c.sendFile === "function" && typeof c.maxFileSize === "number" ? (c as CoreFilesApi) : null;
  }

  /** The media client, made from the bridge's own homeserver URL and token on first use. */
  client(): MediaClient {
    if (this.mediaClient === undefined) {
      const mc = this.opts.intent().matrixClient;
      this.mediaClient = new MediaClient({ homeserverUrl: mc.homeserverUrl, asToken: mc.accessToken });
    }
    return this.mediaClient;
  }

  // ---------------------------------------------------------------------------------------------
  // Tox -> Matrix

  /**
   * Posts a friend's file in its portal, as the friend's ghost. Resolves once posted (or once the
   * user was told why it cannot be); rejects on transient failures so the core retries.
   */
  async deliverFile(account: AccountRef, file: InboundFile, roomId: string, ghostId: string): Promise<void> {
    const key = sentKey(account.id, file.id);
    const record = (await this.opts.store.bridgeState.get<SentRecord>(key)) ?? {};
    if (record.eventId !== undefined) return; // posted before; the core did not hear back
    const fileName = safeFileName(file.fileName);
    if (record.mxc === undefined) {
      const uploaded = await this.uploadInbound(account, file, fileName, ghostId);
      if ("mxc" in uploaded) {
        record.mxc = uploaded.mxc;
        await this.opts.store.bridgeState.set(key, record);
      } else {
        record.refused = uploaded.refused;
      }
    }
    const content =
      record.mxc === undefined
        ? {
            msgtype: "m.notice",
            body: `[sent a file, ${fileName} (${humanSize(file.size)}), that cannot be shown here: ${record.refused}]`,
          }
        : mediaMessageContent({
            url: record.mxc,
            fileName,
            mimeType: file.mimeType,
            size: file.size,
            dimensions: file.mimeType.startsWith("image/") ? imageSize(await readHead(file.path)) : null,
          });
    // A transaction id derived from the file: a retry after a lost answer is not posted twice.
    const txnId = `toxfile.${account.id}.${file.id}`;
    const sent = (await this.opts
      .intent(ghostId)
      .matrixClient.doRequest(
        "PUT",
        `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${encodeURIComponent(txnId)}`,
        null,
        content,
      )) as { event_id?: unknown };
    record.eventId = typeof sent.event_id === "string" ? sent.event_id : "";
    await this.opts.store.bridgeState.set(key, record);
  }

  /**
   * Uploads a friend's file as its ghost. A refusal retrying cannot fix (too large, malformed)
   * comes back as the reason; transient failures throw.
   */
  private async uploadInbound(
    account: AccountRef,
    file: InboundFile,
    fileName: string,
    ghostId: string,
  ): Promise<{ mxc: string } | { refused: string }> {
    try {
      return {
        mxc: await this.client().upload(
          ghostId,
          { path: file.path },
          { contentType: file.mimeType, fileName },
        ),
      };
    } catch (err) {
      if (!(err instanceof MediaError) || (err.kind !== "too-large" && err.kind !== "invalid")) throw err;
      this.opts.log.info(
        { account: account.id, file: file.id, size: file.size, err: err.message },
        "Matrix: homeserver refused a file from Tox",
      );
      return {
        refused: err.kind === "too-large" ? "the homeserver does not accept files this large" : err.message,
      };
    }
  }

  /** Uploads and posts a command reply's attachments, as the bot. */
  async sendAttachments(roomId: string, attachments: readonly Attachment[]): Promise<void> {
    const bot = this.opts.intent();
    for (const a of attachments) {
      const fileName = safeFileName(a.fileName);
      const url = await this.client().upload(
        this.opts.botId,
        { data: a.data },
        { contentType: a.mimeType, fileName },
      );
      const image = a.kind === "image";
      await bot.sendMessage(
        roomId,
        mediaMessageContent({
          url,
          fileName,
          mimeType: a.mimeType,
          size: a.data.byteLength,
          dimensions: image ? imageSize(a.data) : null,
          msgtype: image ? "m.image" : "m.file",
          body: image ? a.alt : fileName,
        }),
      );
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Matrix -> Tox

  /**
   * A media message the owner sent in a friend's portal. Resolves once the core has the file (or
   * the user must be told why not); rejects on transient failures (the transaction is retried).
   */
  sendToFriend(owner: Owner, friend: string, content: unknown, eventId: string): Promise<MediaOutcome> {
    // A homeserver that stopped waiting for a long download sends the transaction again: the
    // redelivery joins the download in progress (the first one tells the user of any problem).
    const running = this.inFlight.get(eventId);
    if (running !== undefined) return running.then(() => ({ ok: true }));
    const work = this.sendToFriendOnce(owner, friend, content, eventId).finally(() =>
      this.inFlight.delete(eventId),
    );
    this.inFlight.set(eventId, work);
    return work;
  }

  private async sendToFriendOnce(
    owner: Owner,
    friend: string,
    content: unknown,
    eventId: string,
  ): Promise<MediaOutcome> {
    const files = this.files();
    if (files === null) return { ok: false, notice: "This bridge cannot send files to Tox." };
    const parsed = parseMediaEvent(content);
    if (!parsed.ok) return { ok: false, notice: `Your file was not sent to Tox: ${parsed.problem}.` };
    const media = parsed.media;
    const limit = files.maxFileSize;
    if (media.declaredSize !== undefined && media.declaredSize > limit)
      return { ok: false, notice: tooBig(media.fileName, media.declaredSize, limit) };
    if (await this.opts.store.processedEvents.has("matrix", MEDIA_PREFIX + eventId)) return { ok: true };

    const dest = await this.tempFile();
    const got = await this.fetchInto(media, dest, limit);
    if (!got.ok) return got;
    try {
      const result = await files.sendFile({
        owner,
        friend,
        fileName: media.fileName,
        size: got.size,
        mimeType: media.mimeType !== "application/octet-stream" ? media.mimeType : got.contentType,
        path: dest,
        sourceEventId: eventId,
      });
      // Already queued by an earlier delivery of this event: our copy is not needed.
      if (!result.created) await unlink(dest).catch(() => {});
    } catch (err) {
      await unlink(dest).catch(() => {});
      if (err instanceof CoreError)
        return { ok: false, notice: `Your file was not sent to Tox: ${err.message}` };
      throw err;
    }
    if (media.caption !== undefined)
      await this.opts.core.send({ owner, friend, text: media.caption, sourceEventId: `${eventId}#caption` });
    await this.opts.store.processedEvents.markProcessed("matrix", MEDIA_PREFIX + eventId);
    return { ok: true };
  }

  /** A file sent to the bot, read into memory for a command (`import`). */
  async commandFile(
    content: unknown,
  ): Promise<{ ok: true; file: CommandFile; caption: string | undefined } | { ok: false; notice: string }> {
    const parsed = parseMediaEvent(content);
    if (!parsed.ok) return { ok: false, notice: `I could not read that file: ${parsed.problem}.` };
    const media = parsed.media;
    const limit = Math.min(MAX_COMMAND_FILE_BYTES, this.files()?.maxFileSize ?? MAX_COMMAND_FILE_BYTES);
    if (media.declaredSize !== undefined && media.declaredSize > limit)
      return {
        ok: false,
        notice: `That file is too large for a Tox profile (${humanSize(media.declaredSize)}).`,
      };
    const dest = await this.tempFile();
    const got = await this.fetchInto(media, dest, limit);
    if (!got.ok) return got;
    try {
      const data = await readFile(dest);
      const file = { fileName: media.fileName, mimeType: media.mimeType, data };
      return { ok: true, file, caption: media.caption };
    } finally {
      await unlink(dest).catch(() => {});
    }
  }

  /**
   * Downloads into `dest` (as the bot: media is readable by any local user). Permanent problems
   * come back as a notice; transient ones throw.
   */
  async fetchInto(
    media: Pick<MediaEvent, "mxc" | "fileName">,
    dest: string,
    limit: number,
    thumbnail?: { width: number; height: number },
  ): Promise<{ ok: true; size: number; contentType: string } | { ok: false; notice: string }> {
    try {
      const res = await this.client().download(this.opts.botId, media.mxc, {
        dest,
        maxBytes: limit,
        ...(thumbnail === undefined ? {} : { thumbnail }),
      });
      return { ok: true, ...res };
    } catch (err) {
      await unlink(dest).catch(() => {});
      if (!(err instanceof MediaError) || err.kind === "unavailable") throw err;
      const notice =
        err.kind === "too-large"
          ? tooBig(media.fileName, undefined, limit)
          : `Your file ${media.fileName} was not sent to Tox: ${err.message}.`;
      return { ok: false, notice };
    }
  }

  /** A fresh path in the spool for one download. */
  async tempFile(): Promise<string> {
    this.tempReady ??= this.prepareTemp();
    const dir = await this.tempReady;
    return join(dir, `${Date.now()}-${randomBytes(6).toString("hex")}.part`);
  }

  private async prepareTemp(): Promise<string> {
    const dir = join(this.opts.spoolDir, "matrix-in");
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // Leftovers of a crash mid-download: nothing refers to them.
    const now = Date.now();
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (!name.endsWith(".part")) continue;
      const path = join(dir, name);
      const s = await stat(path).catch(() => null);
      if (s !== null && now - s.mtimeMs > STALE_TEMP_MS) await unlink(path).catch(() => {});
    }
    return dir;
  }
}

function tooBig(fileName: string, size: number | undefined, limit: number): string {
  const what = size === undefined ? `Your file ${fileName}` : `Your file ${fileName} (${humanSize(size)})`;
  return `${what} was not sent to Tox: files up to ${humanSize(limit)} can be sent.`;
}

/** The first bytes of a file (enough for an image header). */
async function readHead(path: string): Promise<Uint8Array> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(IMAGE_HEAD_BYTES);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
