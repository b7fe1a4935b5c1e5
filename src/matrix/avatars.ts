/**
 * Avatars both ways:
 * - a Tox friend's avatar becomes its ghost's profile picture (uploaded as the ghost, then
 *   `avatar_url`); the last hash set per ghost is kept, so a friend announcing the same avatar on
 *   every reconnect costs nothing;
 * - a bridged user's Matrix avatar becomes the avatar their Tox identity offers to friends. It is
 *   read when the account appears, at start-up, and from the member events the user's profile
 *   changes produce in their portals. The last avatar_url applied is kept per user: a profile
 *   change arrives once per room the user is in, and is downloaded once.
 *
 * Tox clients keep avatars small (toxic and qTox refuse more than 64 KiB), so a larger Matrix
 * avatar is fetched as a server-side thumbnail instead.
 */
import { unlink } from "node:fs/promises";
import type { Intent } from "matrix-appservice-bridge";
import type { AvatarFile, CoreApi, CoreFilesApi, Owner } from "../core/frontend.js";
import type { Logger } from "../logger.js";
import type { Store } from "../store/index.js";
import type { MatrixMedia } from "./media.js";
import { parseMxc } from "./media-content.js";

/** The largest avatar Tox clients accept (toxic's and qTox's limit). */
export const TOX_AVATAR_MAX_BYTES = 64 * 1024;
const THUMBNAIL = { width: 256, height: 256 };

const ghostKey = (ghostId: string) => `matrix.ghostavatar:${ghostId}`;
const userKey = (userId: string) => `matrix.useravatar:${userId}`;

export interface MatrixAvatarsOptions {
  media: MatrixMedia;
  core: CoreApi & Partial<CoreFilesApi>;
  store: Store;
  log: Logger;
  intent: (userId?: string) => Intent;
}

export class MatrixAvatars {
  /** One avatar sync per user at a time (a profile change arrives once per joined room). */
  private readonly userChains = new Map<string, Promise<void>>();

  constructor(private readonly opts: MatrixAvatarsOptions) {}

  /** Sets the ghost's avatar to the friend's (null: removes it). The ghost must be registered. */
  async friendAvatar(ghostId: string, avatar: AvatarFile | null): Promise<void> {
    const known = await this.opts.store.bridgeState.get<{ hash: string; url: string }>(ghostKey(ghostId));
    const hash = avatar?.hash ?? "";
    if ((known?.hash ?? "") === hash) return;
    let url = "";
    if (avatar !== null) {
      url = await this.opts.media
        .client()
        .upload(
          ghostId,
          { path: avatar.path },
          { contentType: avatar.mimeType, fileName: `avatar${extensionOf(avatar.mimeType)}` },
        );
    }
    await this.opts.intent(ghostId).setAvatarUrl(url);
    await this.opts.store.bridgeState.set(ghostKey(ghostId), { hash, url });
  }

  /**
   * The user's Matrix avatar is `avatarUrl` (undefined or "": none). Offers it to their Tox
   * friends when it differs from the last one applied. Best effort: problems are logged.
   */
  syncUserAvatar(userId: string, avatarUrl: unknown): Promise<void> {
    const previous = this.userChains.get(userId) ?? Promise.resolve();
    const next = previous
      .then(() => this.applyUserAvatar(userId, typeof avatarUrl === "string" ? avatarUrl : ""))
      .catch((err: unknown) => this.opts.log.warn({ err, userId }, "Matrix: user avatar not bridged to Tox"));
    this.userChains.set(userId, next);
    void next.finally(() => {
      if (this.userChains.get(userId) === next) this.userChains.delete(userId);
    });
    return next;
  }

  /** Reads the current avatar of every Matrix account (start-up: changes made while we were down). */
  async syncAllUsers(): Promise<void> {
    if (this.setAvatarApi() === null) return;
    for (const account of await this.opts.store.accounts.list()) {
      if (account.ownerKind !== "matrix") continue;
      await this.syncFromProfile(account.ownerId);
    }
  }

  /** Reads one user's profile and syncs its avatar (after `create`/`import`, and at start-up). */
  async syncFromProfile(userId: string): Promise<void> {
    if (this.setAvatarApi() === null) return;
    let avatarUrl: unknown;
    try {
      const profile = (await this.opts.intent().matrixClient.getUserProfile(userId)) as {
        avatar_url?: unknown;
      };
      avatarUrl = profile.avatar_url;
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode;
      if (status !== 404) {
        this.opts.log.warn({ err, userId }, "Matrix: could not read a user's profile for their avatar");
        return;
      }
    }
    await this.syncUserAvatar(userId, avatarUrl);
  }

  private setAvatarApi(): CoreFilesApi["setAvatar"] | null {
    const c = this.opts.core;
    return typeof c.setAvatar === "function" ? c.setAvatar.bind(c) : null;
  }

  private async applyUserAvatar(userId: string, url: string): Promise<void> {
    const setAvatar = this.setAvatarApi();
    if (setAvatar === null) return;
    const owner: Owner = { kind: "matrix", id: userId };
    const account = await this.opts.core.account(owner);
    if (account === null) return;
    // What was applied, to which identity: an imported profile replacing the identity starts afresh.
    const known = await this.opts.store.bridgeState.get<AppliedAvatar>(userKey(userId));
    const fresh = known === null || known.identity !== account.publicKey;
    const applied: AppliedAvatar = { identity: account.publicKey, url };
    if (!fresh && known.url === url) return;
    if (fresh && url === "") {
      await this.opts.store.bridgeState.set(userKey(userId), applied); // a new identity has none
      return;
    }
    const mxc = url === "" ? null : parseMxc(url);
    if (mxc === null) {
      if (url !== "")
        this.opts.log.info({ userId, url: url.slice(0, 100) }, "Matrix: avatar URL is not mxc://");
      await setAvatar(owner, null);
    } else {
      const { media } = this.opts;
      const dest = await media.tempFile();
      const target = { mxc, fileName: "avatar" };
      let got = await media.fetchInto(target, dest, TOX_AVATAR_MAX_BYTES);
      if (!got.ok) got = await media.fetchInto(target, dest, TOX_AVATAR_MAX_BYTES, THUMBNAIL);
      if (!got.ok) {
        this.opts.log.info({ userId, why: got.notice }, "Matrix: avatar not usable on Tox");
      } else {
        try {
          await setAvatar(owner, { path: dest, mimeType: got.contentType });
        } finally {
          // The core keeps its own copy of the avatar it offers.
          await unlink(dest).catch(() => {});
        }
      }
    }
    await this.opts.store.bridgeState.set(userKey(userId), applied);
  }
}

interface AppliedAvatar {
  /** The Tox identity (public key) it was applied to. */
  identity: string;
  /** The Matrix avatar_url applied; "" for none. */
  url: string;
}

function extensionOf(mimeType: string): string {
  const sub = /^image\/([a-z0-9]{1,8})$/.exec(mimeType.toLowerCase())?.[1];
  if (sub === undefined) return "";
  return sub === "jpeg" ? ".jpg" : `.${sub}`;
}
