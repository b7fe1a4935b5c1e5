/**
 * File transfers and avatars between bridged users and their Tox friends. Every file goes
 * through a spool directory on the bridge's disk, never whole into memory, with a row in
 * `file_transfers` saying how far it got:
 *
 * - Inbound: a friend's offer is accepted when it is within the size limit (else cancelled, and
 *   the user told the limit) and streamed to `<spool>/in/`. When the network runs ahead of the
 *   disk the transfer is paused until writes catch up. A complete file is handed to the frontend
 *   (`deliverFile`) with retries like the inbox, and deleted once taken. After a disconnect or a
 *   bridge restart the friend offers the same file id again and we resume from the bytes on disk.
 * - Outbound (`send`): the file moves into `<spool>/out/` with a row, is offered when the friend
 *   is online, offered again with the same file id after a disconnect or restart (the friend's
 *   client seeks to where it stopped), and deleted once the friend has every byte.
 * - Avatars: a friend's avatar (file kind 1, id = its SHA-256) is kept in `<spool>/avatars/` and
 *   given to the frontend; an offer whose hash we already have is cancelled, as clients do. Our
 *   user's avatar is offered to each friend when it comes online, unless it already has it.
 */
import { createHash, randomBytes as nodeRandomBytes } from "node:crypto";
import {
  copyFile,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  unlink,
  writeFile,
} from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Store } from "../store/index.js";
import type { FileTransfer, FileTransfersRepo } from "../store/repos/files.js";
import {
  BytesSource,
  type Clock,
  DiskFileSink,
  DiskFileSource,
  type FileSink,
  fromHex,
} from "../tox/index.js";
import { CoreError, type CoreLogger, errorText } from "./errors.js";
import type { AccountRef, AvatarFile, SendFileRequest, SendResult } from "./frontend.js";
import type { FrontendHub } from "./frontends.js";
import { hex } from "./keys.js";
import { Lanes } from "./lanes.js";
import type { CoreMetrics } from "./metrics.js";
import { extensionFor, guessMimeType, MIME_SNIFF_BYTES } from "./mime.js";
import type { GatewayFileEvent, ToxGateway } from "./tox-gateway.js";

export interface FileServiceOptions {
  /** Where files wait on disk (created when missing). */
  spoolDir: string;
  /** Largest file bridged either way, in bytes. */
  maxFileSize: number;
  /** Wait before the n-th delivery retry (n from 1). Default 1 s doubling up to 5 min. */
  retryDelayMs?: (attempts: number) => number;
  /** Pause a download when the network is this many bytes ahead of the disk (default 8 MiB). */
  lagPauseBytes?: number;
  /** ...and resume it once the disk is within this many bytes (default 2 MiB). */
  lagResumeBytes?: number;
  /** A partial download not resumed for this long is dropped (default 7 days). */
  partialMaxAgeMs?: number;
  /** A file the friend has not taken within this long is given up, with a notice (default 7 days). */
  sendMaxAgeMs?: number;
  /** Files offered to one friend at once (default 4; the rest wait their turn). */
  parallelSends?: number;
}

/** Avatars are small pictures; anything larger is refused (qTox keeps them under 64 KiB). */
export const MAX_AVATAR_SIZE = 1024 * 1024;

const defaultRetryDelay = (attempts: number) => Math.min(1000 * 2 ** (attempts - 1), 5 * 60_000);
const DAY_MS = 24 * 60 * 60_000;

/** A transfer in progress on the Tox side, by `${identity}:${friend}:${direction}:${fileNumber}`. */
interface Active {
  account: AccountRef;
  friend: string;
  kind: "data" | "avatar";
  /** The file_transfers row (data files). */
  rowId?: number;
  /** Avatar being received: where it is written. */
  partPath?: string;
  /** Our avatar being sent: its hash ("" = the "no avatar" offer). */
  avatarHash?: string;
  sink?: SpoolSink;
  pausedForDisk: boolean;
}

export class FileService {
  readonly maxFileSize: number;
  private readonly spool: string;
  private readonly lanes: Lanes;
  private readonly active = new ActiveTransfers();
  private readonly retryDelayMs: (attempts: number) => number;
  private readonly lagPause: number;
  private readonly lagResume: number;
  private readonly partialMaxAge: number;
  private readonly sendMaxAge: number;
  private readonly parallelSends: number;
  private ready: Promise<void> | undefined;

  constructor(
    private readonly deps: {
      repo: FileTransfersRepo;
      store: Store;
      tox: ToxGateway;
      frontends: FrontendHub;
      metrics: CoreMetrics;
      clock: Clock;
      log: CoreLogger;
    },
    opts: FileServiceOptions,
  ) {
    this.spool = resolve(opts.spoolDir);
    this.maxFileSize = opts.maxFileSize;
    this.lanes = new Lanes(deps.log, "files");
    this.retryDelayMs = opts.retryDelayMs ?? defaultRetryDelay;
    this.lagPause = opts.lagPauseBytes ?? 8 * 1024 * 1024;
    this.lagResume = opts.lagResumeBytes ?? 2 * 1024 * 1024;
    this.partialMaxAge = opts.partialMaxAgeMs ?? 7 * DAY_MS;
    this.sendMaxAge = opts.sendMaxAgeMs ?? 7 * DAY_MS;
    this.parallelSends = opts.parallelSends ?? 4;
  }

  get spoolDir(): string {
    return this.spool;
  }

  /** Crash recovery: nothing is on the wire after a restart, so every send is queued again. */
  async recover(): Promise<void> {
    const n = await this.deps.repo.requeueSending();
    if (n > 0) this.deps.log.info({ files: n }, "core: file sends queued again after restart");
    await this.sweep();
  }

  /**
   * Deletes spooled files no row refers to (their account was deleted, which cascades the rows
   * but not the disk) and avatar folders of accounts that are gone. Run at start, before any
   * transfer, so nothing in flight is touched.
   */
  private async sweep(): Promise<void> {
    const { repo, store, log } = this.deps;
    const known = new Set(
      (await repo.inStates(["receiving", "received", "queued", "sending"])).map((t) => resolve(t.path)),
    );
    let removed = 0;
    for (const sub of ["in", "out"]) {
      const dir = join(this.spool, sub);
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        const path = join(dir, name);
        if (known.has(path)) continue;
        await removeQuietly(path);
        removed++;
      }
    }
    const accounts = new Set((await store.accounts.list()).map((a) => String(a.id)));
    const avatars = join(this.spool, "avatars");
    for (const name of await readdir(avatars).catch(() => [] as string[])) {
      if (accounts.has(name)) {
        // Avatar downloads a stop cut short (avatars are small: never resumed).
        for (const f of await readdir(join(avatars, name)).catch(() => [] as string[]))
          if (f.endsWith(".part")) {
            await removeQuietly(join(avatars, name, f));
            removed++;
          }
        continue;
      }
      await rm(join(avatars, name), { recursive: true, force: true }).catch(() => {});
      removed++;
    }
    if (removed > 0) log.info({ removed }, "core: stale spool files removed");
  }

  idle(): Promise<void> {
    return this.lanes.idle();
  }

  /** The account is being deleted: its spooled files and avatars go (the rows cascade). */
  async forgetAccount(account: AccountRef): Promise<void> {
    for (const row of await this.deps.repo.inStates(["receiving", "received", "queued", "sending"]))
      if (row.accountId === account.id) await removeQuietly(row.path);
    await rm(join(this.spool, "avatars", String(account.id)), { recursive: true, force: true }).catch(
      () => {},
    );
  }

  // -------------------------------------------------------------------------------------------
  // Outbound

  async send(account: AccountRef, request: SendFileRequest): Promise<SendResult> {
    const friend = request.friend.toLowerCase();
    const friendPk = fromHex(friend);
    const known = await this.deps.store.friends.get(account.id, friendPk);
    if (known === null || known.requestState !== "accepted")
      throw new CoreError(
        "unknown-friend",
        "That Tox contact is not your friend (yet): the file was not sent.",
        {
          friend,
        },
      );
    // A redelivered frontend event: its file was taken the first time.
    if (
      request.sourceEventId !== undefined &&
      (await this.deps.repo.bySource(account.id, account.owner.kind, request.sourceEventId)) !== null
    )
      return { created: false, parts: 1 };
    const size = (await stat(request.path)).size;
    if (size > this.maxFileSize)
      throw new CoreError(
        "bad-argument",
        `"${request.fileName}" is ${formatSize(size)}; the bridge sends files up to ${formatSize(this.maxFileSize)}.`,
        { size, max: this.maxFileSize },
      );
    await this.dirs();
    const path = join(this.spool, "out", `${account.id}-${token()}`);
    const { transfer, created } = await this.deps.repo.add({
      accountId: account.id,
      friendPk,
      direction: "out",
      state: "queued",
      fileId: nodeRandomBytes(32),
      fileName: request.fileName,
      size,
      mimeType: request.mimeType,
      path,
      ...(request.sourceEventId !== undefined
        ? { source: { network: account.owner.kind, eventId: request.sourceEventId } }
        : {}),
    });
    if (!created) return { created: false, parts: 1 };
    try {
      await moveFile(request.path, path);
    } catch (err) {
      await this.deps.repo.remove(transfer.id);
      throw err;
    }
    void this.kick(account, friend);
    return { created: true, parts: 1 };
  }

  /** Offers queued files to the friend while it is online (a few at a time). */
  kick(account: AccountRef, friend: string): Promise<void> {
    return this.lanes.runOnce(laneKey(account.id, friend), "kick", () => this.pump(account, friend));
  }

  private async pump(account: AccountRef, friend: string): Promise<void> {
    const { repo, tox, log } = this.deps;
    if (!tox.friendPresence(account.publicKey, friend).online) return;
    const friendPk = fromHex(friend);
    const sending = await repo.forFriend(account.id, friendPk, "out", ["sending"]);
    const queued = await repo.forFriend(account.id, friendPk, "out", ["queued"]);
    for (const row of queued.slice(0, Math.max(0, this.parallelSends - sending.length))) {
      let source: DiskFileSource;
      try {
        source = await DiskFileSource.open(row.path);
      } catch (err) {
        await this.failSend(account, row, `the spooled file is gone (${errorText(err)})`);
        continue;
      }
      let fileNumber: number;
      try {
        fileNumber = await tox.sendFile(account.publicKey, friend, {
          kind: "data",
          size: row.size,
          name: row.fileName,
          fileId: row.fileId,
          source,
        });
      } catch (err) {
        await source.close();
        // Offline again, or too many transfers: it stays queued for the next chance.
        log.debug(
          { account: account.id, transfer: row.id, err: errorText(err) },
          "core: file offer not sent",
        );
        return;
      }
      this.active.add(activeKey(account.publicKey, friend, "send", fileNumber), {
        account,
        friend,
        kind: "data",
        rowId: row.id,
        pausedForDisk: false,
      });
      await repo.update(row.id, { state: "sending" }, this.now());
    }
  }

  private async failSend(account: AccountRef, row: FileTransfer, reason: string): Promise<void> {
    this.deps.metrics.filesFailed++;
    await this.deps.repo.remove(row.id);
    await removeQuietly(row.path);
    await this.deps.frontends.tell(account, "notice", (f) =>
      f.notice(account, {
        code: "delivery-failed",
        text: `Sending "${row.fileName}" to your Tox friend failed: ${reason}.`,
        friend: hex(row.friendPk),
        ...(row.sourceEventId !== null ? { sourceEventId: row.sourceEventId } : {}),
      }),
    );
  }

  // -------------------------------------------------------------------------------------------
  // Avatars we offer

  /** Sets (null: clears) the account's avatar and offers it to the friends online now. */
  async setAvatar(
    account: AccountRef,
    avatar: { path: string; mimeType: string } | null,
    onlineFriends: string[],
  ): Promise<void> {
    const { bridgeState } = this.deps.store;
    const previous = await bridgeState.get<AvatarFile>(selfAvatarKey(account.id));
    if (avatar === null) {
      await bridgeState.delete(selfAvatarKey(account.id));
    } else {
      const size = (await stat(avatar.path)).size;
      if (size > MAX_AVATAR_SIZE)
        throw new CoreError(
          "bad-argument",
          `That avatar is ${formatSize(size)}; Tox avatars can be up to ${formatSize(MAX_AVATAR_SIZE)}.`,
        );
      const data = await readFile(avatar.path);
      const hash = hex(sha256(data));
      await this.dirs();
      const dir = join(this.spool, "avatars", String(account.id));
      await mkdir(dir, { recursive: true });
      const path = join(dir, `self-${hash.slice(0, 16)}.${extensionFor(avatar.mimeType)}`);
      await writeFile(path, data);
      await bridgeState.set(selfAvatarKey(account.id), {
        path,
        mimeType: avatar.mimeType,
        hash,
        size,
      } satisfies AvatarFile);
    }
    if (
      previous !== null &&
      previous.path !== (await bridgeState.get<AvatarFile>(selfAvatarKey(account.id)))?.path
    )
      await removeQuietly(previous.path);
    for (const friend of onlineFriends) void this.offerAvatar(account, friend);
  }

  /** Offers our avatar (or "none") unless this friend already has the current one. */
  offerAvatar(account: AccountRef, friend: string): Promise<void> {
    return this.lanes.runOnce(laneKey(account.id, friend), "avatar", async () => {
      const { bridgeState } = this.deps.store;
      const mine = await bridgeState.get<AvatarFile>(selfAvatarKey(account.id));
      const hash = mine?.hash ?? "";
      const sent = (await bridgeState.get<string>(sentAvatarKey(account.id, friend))) ?? "";
      if (sent === hash) return;
      // An older avatar still going out is replaced.
      for (const [key, a] of this.active.entries())
        if (a.account.id === account.id && a.friend === friend && a.avatarHash !== undefined) {
          this.active.remove(key, a);
          const fileNumber = Number(key.split(":")[3]);
          await this.deps.tox.controlFile(account.publicKey, friend, "send", fileNumber, "cancel");
        }
      const data = mine === null ? new Uint8Array(0) : await readFile(mine.path).catch(() => null);
      if (data === null) return;
      try {
        const n = await this.deps.tox.sendFile(account.publicKey, friend, {
          kind: "avatar",
          size: data.length,
          name: "",
          fileId: sha256(data),
          source: new BytesSource(data),
        });
        this.active.add(activeKey(account.publicKey, friend, "send", n), {
          account,
          friend,
          kind: "avatar",
          avatarHash: hash,
          pausedForDisk: false,
        });
      } catch (err) {
        this.deps.log.debug({ account: account.id, err: errorText(err) }, "core: avatar not offered");
      }
    });
  }

  private async avatarSent(account: AccountRef, friend: string, hash: string): Promise<void> {
    await this.deps.store.bridgeState.set(sentAvatarKey(account.id, friend), hash);
  }

  // -------------------------------------------------------------------------------------------
  // Tox events

  onConnection(account: AccountRef, friend: string, online: boolean): Promise<void> {
    if (!online) return Promise.resolve();
    return Promise.all([this.kick(account, friend), this.offerAvatar(account, friend)]).then(() => {});
  }

  onOffer(account: AccountRef, e: GatewayFileEvent): Promise<void> {
    return this.lanes.run(laneKey(account.id, e.friend), () =>
      e.file.kind === "avatar" ? this.avatarOffer(account, e) : this.dataOffer(account, e),
    );
  }

  onControl(account: AccountRef, e: GatewayFileEvent & { control: string }): void {
    this.deps.log.debug(
      { account: account.id, file: e.file.fileNumber, direction: e.file.direction, control: e.control },
      "core: file control from friend",
    );
  }

  onComplete(account: AccountRef, e: GatewayFileEvent): Promise<void> {
    const key = activeKey(e.identity, e.friend, e.file.direction, e.file.fileNumber);
    const a = this.active.take(key);
    if (a === undefined) return Promise.resolve();
    return this.lanes.run(laneKey(account.id, e.friend), async () => {
      if (e.file.direction === "send") {
        if (a.avatarHash !== undefined) return this.avatarSent(account, e.friend, a.avatarHash);
        if (a.rowId !== undefined) await this.sent(a.rowId);
        void this.kick(account, e.friend);
        return;
      }
      if (a.kind === "avatar") return this.avatarReceived(account, e.friend, a);
      if (a.rowId !== undefined) await this.received(account, a.rowId);
    });
  }

  onEnded(account: AccountRef, e: GatewayFileEvent & { reason: string; offset: number }): Promise<void> {
    const key = activeKey(e.identity, e.friend, e.file.direction, e.file.fileNumber);
    const a = this.active.take(key);
    if (a === undefined) return Promise.resolve();
    return this.lanes.run(laneKey(account.id, e.friend), async () => {
      const { repo, frontends } = this.deps;
      if (a.kind === "avatar") {
        // A friend cancels our avatar when it has that hash already: as good as delivered.
        if (a.avatarHash !== undefined && e.reason === "cancelled-by-peer")
          await this.avatarSent(account, e.friend, a.avatarHash);
        if (a.partPath !== undefined) await removeQuietly(a.partPath);
        return;
      }
      const row = a.rowId === undefined ? null : await repo.get(a.rowId);
      if (row === null) return;
      if (e.reason === "disconnected") {
        // Kept: the same file id offered again (by them or by us) resumes it.
        await repo.update(
          row.id,
          { state: row.direction === "out" ? "queued" : "receiving", transferred: e.offset },
          this.now(),
        );
        if (row.direction === "out") void this.kick(account, e.friend);
        return;
      }
      await repo.remove(row.id);
      await removeQuietly(row.path);
      this.deps.metrics.filesFailed++;
      const what = `"${row.fileName}"`;
      const text =
        e.reason === "cancelled-by-peer"
          ? row.direction === "out"
            ? `Your Tox friend declined or cancelled the file ${what}.`
            : `Your Tox friend cancelled sending you ${what}.`
          : row.direction === "out"
            ? `Sending ${what} to your Tox friend failed (${e.reason}).`
            : `Receiving ${what} from your Tox friend failed (${e.reason}).`;
      await frontends.tell(account, "notice", (f) =>
        f.notice(account, {
          code: e.reason === "cancelled-by-peer" ? "info" : "delivery-failed",
          text,
          friend: e.friend,
          ...(row.sourceEventId !== null ? { sourceEventId: row.sourceEventId } : {}),
        }),
      );
    });
  }

  // -------------------------------------------------------------------------------------------
  // Inbound data files

  private async dataOffer(account: AccountRef, e: GatewayFileEvent): Promise<void> {
    const { repo, tox, frontends } = this.deps;
    const { file } = e;
    const name = safeFileName(file.name);
    const refuse = async (why: string) => {
      await tox.controlFile(e.identity, e.friend, "recv", file.fileNumber, "cancel");
      await frontends.tell(account, "notice", (f) =>
        f.notice(account, { code: "info", text: why, friend: e.friend }),
      );
    };
    if (file.size === undefined)
      return refuse(
        `Your Tox friend offered "${name}" as a stream of unknown size; the bridge only takes files.`,
      );
    if (file.size > this.maxFileSize)
      return refuse(
        `Your Tox friend offered "${name}" (${formatSize(file.size)}), which is over the bridge's limit of ` +
          `${formatSize(this.maxFileSize)}; it was declined.`,
      );
    const friendPk = fromHex(e.friend);
    const fileId = fromHex(file.fileId);
    let row = await repo.findReceiving(account.id, friendPk, fileId);
    let position = 0;
    if (row !== null && row.size === file.size) {
      position = await fileLength(row.path);
      // All there already, or something odd on disk: take it again from the start.
      if (position >= file.size) position = 0;
    } else {
      if (row !== null) await this.drop(row);
      await this.dirs();
      ({ transfer: row } = await repo.add({
        accountId: account.id,
        friendPk,
        direction: "in",
        state: "receiving",
        fileId,
        fileName: name,
        size: file.size,
        mimeType: guessMimeType(name),
        path: join(this.spool, "in", `${account.id}-${token()}`),
      }));
    }
    const a: Active = { account, friend: e.friend, kind: "data", rowId: row.id, pausedForDisk: false };
    const key = activeKey(e.identity, e.friend, "recv", file.fileNumber);
    const sink = await SpoolSink.open(row.path, position, () => this.checkLag(key, a));
    a.sink = sink;
    this.active.add(key, a);
    try {
      await tox.acceptFile(e.identity, e.friend, file.fileNumber, sink, position);
    } catch (err) {
      this.active.remove(key, a);
      await sink.close();
      throw err;
    }
    if (position > 0)
      this.deps.log.info(
        { account: account.id, transfer: row.id, position, size: file.size },
        "core: resuming a file from a friend",
      );
  }

  /** Complete on disk: sniff the type, then hand it to the frontend. */
  private async received(account: AccountRef, rowId: number): Promise<void> {
    const { repo, metrics } = this.deps;
    const row = await repo.get(rowId);
    if (row === null) return;
    metrics.filesFromTox++;
    metrics.fileBytesFromTox += row.size;
    const head = await readHead(row.path);
    const updated = await repo.update(
      row.id,
      { state: "received", transferred: row.size, mimeType: guessMimeType(row.fileName, head) },
      this.now(),
    );
    if (updated !== null) await this.deliver(account, updated);
  }

  /** Hands a received file to the frontend; on refusal it stays and is retried with backoff. */
  private async deliver(account: AccountRef, row: FileTransfer): Promise<boolean> {
    const { repo, frontends, log } = this.deps;
    const frontend = frontends.for(account);
    if (frontend === undefined) return false;
    const friend = hex(row.friendPk);
    if (frontend.deliverFile === undefined) {
      await frontends.tell(account, "notice", (f) =>
        f.notice(account, {
          code: "info",
          text: `Your Tox friend sent you "${row.fileName}" (${formatSize(row.size)}), but files cannot be bridged here.`,
          friend,
        }),
      );
      await this.drop(row);
      return true;
    }
    try {
      await frontend.deliverFile(account, {
        id: row.id,
        friend,
        fileName: row.fileName,
        size: row.size,
        mimeType: row.mimeType,
        path: row.path,
        receivedAt: row.updatedAt,
      });
    } catch (err) {
      const retryAt = new Date(this.deps.clock.now() + this.retryDelayMs(row.attempts + 1));
      await repo.markRetry(row.id, errorText(err), retryAt, this.now());
      log.warn(
        { account: account.id, transfer: row.id, attempts: row.attempts + 1, err: errorText(err) },
        "core: frontend refused a file; will retry",
      );
      return false;
    }
    await this.drop(row);
    return true;
  }

  private async sent(rowId: number): Promise<void> {
    const row = await this.deps.repo.get(rowId);
    if (row === null) return;
    this.deps.metrics.filesToTox++;
    this.deps.metrics.fileBytesToTox += row.size;
    await this.drop(row);
  }

  private async drop(row: FileTransfer): Promise<void> {
    await this.deps.repo.remove(row.id);
    await removeQuietly(row.path);
  }

  /** Pauses a download while the disk lags the network, resumes it when the disk caught up. */
  private async checkLag(key: string, a: Active): Promise<void> {
    // Only the newest transfer in a slot is the one the network is moving.
    if (a.sink === undefined || this.active.current(key) !== a) return;
    const [identity, friend, , n] = key.split(":") as [string, string, string, string];
    const progress = this.deps.tox.fileProgress(identity, friend, "recv", Number(n));
    if (progress === undefined) return;
    const lag = progress - a.sink.written;
    try {
      if (!a.pausedForDisk && lag > this.lagPause) {
        a.pausedForDisk = true;
        await this.deps.tox.controlFile(identity, friend, "recv", Number(n), "pause");
        this.deps.log.debug({ account: a.account.id, lag }, "core: file paused, the disk is behind");
      } else if (a.pausedForDisk && lag <= this.lagResume) {
        a.pausedForDisk = false;
        await this.deps.tox.controlFile(identity, friend, "recv", Number(n), "resume");
      }
    } catch (err) {
      this.deps.log.debug({ err: errorText(err) }, "core: file pause/resume failed");
    }
  }

  // -------------------------------------------------------------------------------------------
  // Inbound avatars

  private async avatarOffer(account: AccountRef, e: GatewayFileEvent): Promise<void> {
    const { tox, store, frontends } = this.deps;
    const { file } = e;
    const cancel = () => tox.controlFile(e.identity, e.friend, "recv", file.fileNumber, "cancel");
    const current = await store.bridgeState.get<AvatarFile>(friendAvatarKey(account.id, e.friend));
    if (file.size === 0) {
      // The friend has no avatar (any more).
      await cancel();
      if (current === null) return;
      await store.bridgeState.delete(friendAvatarKey(account.id, e.friend));
      await removeQuietly(current.path);
      await frontends.tell(account, "friendAvatar", (f) => f.friendAvatar?.(account, e.friend, null));
      return;
    }
    if (current?.hash === file.fileId) return cancel(); // we have this one
    if (file.size === undefined || file.size > MAX_AVATAR_SIZE) return cancel();
    await this.dirs();
    const dir = join(this.spool, "avatars", String(account.id));
    await mkdir(dir, { recursive: true });
    const partPath = join(dir, `${e.friend}-${token()}.part`);
    const sink = await SpoolSink.open(partPath, 0, async () => {});
    const key = activeKey(e.identity, e.friend, "recv", file.fileNumber);
    const a: Active = { account, friend: e.friend, kind: "avatar", partPath, sink, pausedForDisk: false };
    this.active.add(key, a);
    try {
      await tox.acceptFile(e.identity, e.friend, file.fileNumber, sink, 0);
    } catch (err) {
      this.active.remove(key, a);
      await sink.close();
      throw err;
    }
  }

  private async avatarReceived(account: AccountRef, friend: string, a: Active): Promise<void> {
    if (a.partPath === undefined) return;
    const { store, frontends } = this.deps;
    const data = await readFile(a.partPath);
    // The hash is what Tox clients compare; computed from the bytes, not trusted from the offer.
    const hash = hex(sha256(data));
    const mimeType = guessMimeType("", data.subarray(0, MIME_SNIFF_BYTES));
    const path = join(
      this.spool,
      "avatars",
      String(account.id),
      `${friend}-${hash.slice(0, 16)}.${extensionFor(mimeType)}`,
    );
    await rename(a.partPath, path);
    const previous = await store.bridgeState.get<AvatarFile>(friendAvatarKey(account.id, friend));
    const avatar: AvatarFile = { path, mimeType, hash, size: data.length };
    await store.bridgeState.set(friendAvatarKey(account.id, friend), avatar);
    if (previous !== null && previous.path !== path) await removeQuietly(previous.path);
    await frontends.tell(account, "friendAvatar", (f) => f.friendAvatar?.(account, friend, avatar));
  }

  /** The friend's avatar as last received, if any. */
  friendAvatar(account: AccountRef, friend: string): Promise<AvatarFile | null> {
    return this.deps.store.bridgeState.get<AvatarFile>(friendAvatarKey(account.id, friend));
  }

  // -------------------------------------------------------------------------------------------
  // Periodic work

  async tick(accountById: (id: number) => AccountRef | undefined): Promise<void> {
    const { repo, tox, clock } = this.deps;
    const now = clock.now();
    const kicked = new Set<string>();
    for (const row of await repo.inStates(["received", "queued", "receiving"])) {
      const account = accountById(row.accountId);
      const friend = hex(row.friendPk);
      if (row.state === "receiving") {
        const running = this.active.entries().some(([, a]) => a.rowId === row.id);
        if (!running && now - row.updatedAt.getTime() > this.partialMaxAge) await this.drop(row);
        continue;
      }
      if (account === undefined) continue;
      if (row.state === "queued") {
        const key = laneKey(account.id, friend);
        if (now - row.createdAt.getTime() > this.sendMaxAge) {
          void this.lanes.run(key, async () => {
            const fresh = await repo.get(row.id);
            if (fresh?.state === "queued")
              await this.failSend(
                account,
                fresh,
                `your friend was not online to take it for ${formatAge(this.sendMaxAge)}`,
              );
          });
          continue;
        }
        if (!kicked.has(key) && tox.friendPresence(account.publicKey, friend).online) {
          kicked.add(key);
          void this.kick(account, friend);
        }
        continue;
      }
      if (row.nextAttemptAt !== null && row.nextAttemptAt.getTime() > now) continue;
      void this.lanes.runOnce(laneKey(account.id, friend), `deliver:${row.id}`, async () => {
        const fresh = await repo.get(row.id);
        if (fresh?.state === "received") await this.deliver(account, fresh);
      });
    }
    for (const [key, a] of this.active.entries()) await this.checkLag(key, a);
  }

  // -------------------------------------------------------------------------------------------

  private dirs(): Promise<void> {
    this.ready ??= (async () => {
      for (const d of ["in", "out", "avatars"]) await mkdir(join(this.spool, d), { recursive: true });
    })().catch((err: unknown) => {
      this.ready = undefined;
      throw err;
    });
    return this.ready;
  }

  private now(): Date {
    return new Date(this.deps.clock.now());
  }
}

/**
 * Transfers the core follows, by `${identity}:${friend}:${direction}:${fileNumber}`. A slot can
 * hold two for a moment: Tox reports a transfer's end only after its file is flushed, and the
 * friend may reuse the number (or offer the same file again after a reconnect) before that. The
 * end events come in order, so each one belongs to the oldest transfer of its slot.
 */
class ActiveTransfers {
  private readonly slots = new Map<string, Active[]>();

  add(key: string, a: Active): void {
    const list = this.slots.get(key);
    if (list === undefined) this.slots.set(key, [a]);
    else list.push(a);
  }

  /** The oldest transfer of the slot, removed (its end or completion was reported). */
  take(key: string): Active | undefined {
    const list = this.slots.get(key);
    const a = list?.shift();
    if (list !== undefined && list.length === 0) this.slots.delete(key);
    return a;
  }

  remove(key: string, a: Active): void {
    const list = this.slots.get(key);
    if (list === undefined) return;
    const at = list.indexOf(a);
    if (at >= 0) list.splice(at, 1);
    if (list.length === 0) this.slots.delete(key);
  }

  /** The newest transfer of the slot: the one the network is moving now. */
  current(key: string): Active | undefined {
    return this.slots.get(key)?.at(-1);
  }

  entries(): [string, Active][] {
    return [...this.slots].flatMap(([key, list]) => list.map((a): [string, Active] => [key, a]));
  }
}

/**
 * A spool file being written by a transfer: counts bytes confirmed on disk and calls `progress`
 * around every write (the service compares it with the network's progress to pause/resume).
 */
export class SpoolSink implements FileSink {
  private constructor(
    private readonly disk: DiskFileSink,
    public written: number,
    private readonly progress: () => Promise<void>,
  ) {}

  /** Opens `path` for writing from `position` (bytes past it are dropped). */
  static async open(path: string, position: number, progress: () => Promise<void>): Promise<SpoolSink> {
    const disk = await DiskFileSink.open(path);
    try {
      await disk.truncate(position);
    } catch (err) {
      await disk.close();
      throw err;
    }
    return new SpoolSink(disk, position, progress);
  }

  async write(position: number, data: Uint8Array): Promise<void> {
    void this.progress();
    await this.disk.write(position, data);
    this.written = Math.max(this.written, position + data.length);
    void this.progress();
  }

  async close(): Promise<void> {
    await this.disk.close();
  }
}

async function moveFile(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    // Another file system (a frontend's temp dir on tmpfs): copy, then remove the original.
    if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
    await copyFile(from, to);
    await unlink(from);
  }
}

async function removeQuietly(path: string): Promise<void> {
  await rm(path, { force: true }).catch(() => {});
}

async function fileLength(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

async function readHead(path: string): Promise<Uint8Array> {
  const handle = await open(path, "r").catch(() => null);
  if (handle === null) return new Uint8Array(0);
  try {
    const buf = new Uint8Array(MIME_SNIFF_BYTES);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * A friend's file name as frontends may use it (a download name, an upload name): no path
 * separators or control characters, at most 255 characters, never empty or a dot name.
 */
export function safeFileName(name: string): string {
  let clean = "";
  for (const ch of name) {
    const code = ch.codePointAt(0) ?? 0;
    clean += code < 0x20 || code === 0x7f || ch === "/" || ch === "\\" ? "_" : ch;
  }
  clean = clean.trim().slice(0, 255);
  return clean === "" || /^\.+$/.test(clean) ? "file" : clean;
}

function formatAge(ms: number): string {
  const days = ms / DAY_MS;
  if (days >= 1) return `${Math.round(days)} day${Math.round(days) === 1 ? "" : "s"}`;
  const hours = Math.max(1, Math.round(ms / 3_600_000));
  return `${hours} hour${hours === 1 ? "" : "s"}`;
}

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = bytes / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v >= 10 || Number.isInteger(v) ? Math.round(v) : v.toFixed(1)} ${units[u]}`;
}

const token = () => nodeRandomBytes(12).toString("hex");
const laneKey = (accountId: number, friend: string) => `${accountId}:${friend}`;
const activeKey = (identity: string, friend: string, direction: string, fileNumber: number) =>
  `${identity}:${friend}:${direction}:${fileNumber}`;
const selfAvatarKey = (accountId: number) => `core.files.avatar.self.${accountId}`;
const sentAvatarKey = (accountId: number, friend: string) => `core.files.avatar.sent.${accountId}.${friend}`;
const friendAvatarKey = (accountId: number, friend: string) =>
  `core.files.avatar.friend.${accountId}.${friend}`;

function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(data).digest());
}
