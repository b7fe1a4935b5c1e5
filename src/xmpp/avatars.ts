/**
 * Avatars between Tox and XMPP, the vCard way every client understands (XEP-0054 vCard-temp +
 * XEP-0153 photo hash in presence):
 * - a friend's Tox avatar is the PHOTO of the vCard its contact JID answers with, and its SHA-1
 *   rides in the friend's presence so clients know when to fetch it again;
 * - the user's own avatar is read from their vCard (an iq to their bare JID, answered by their
 *   server) when their presence shows a photo hash we have not applied yet, or once after the
 *   gateway starts, and offered to their Tox friends through `setAvatar`.
 * What is known about friend avatars lives in memory: the core tells us again after a restart.
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { IqError } from "./component.js";
import type { AccountRef, AvatarFile, CoreFilesApi, Owner } from "./core-port.js";
import type { XmppLogger } from "./router.js";
import type { IqSender } from "./upload.js";
import { child, type XmlElement, xml } from "./xml.js";

export const NS_VCARD = "vcard-temp";
export const NS_VCARD_UPDATE = "vcard-temp:x:update";

/** Larger images are not put in a vCard (Tox avatars are at most 64 KiB anyway). */
export const MAX_AVATAR_BYTES = 1024 * 1024;

interface KnownAvatar {
  path: string;
  mimeType: string;
  /** XEP-0153: SHA-1 of the image bytes, hex. */
  sha1: string;
}

export function sha1Hex(data: Uint8Array): string {
  return createHash("sha1").update(data).digest("hex");
}

/** The XEP-0153 element for presence: the photo hash, or an empty photo for "no avatar". */
export function photoUpdate(sha1: string | null): XmlElement {
  return xml("x", { xmlns: NS_VCARD_UPDATE }, xml("photo", {}, sha1 ?? undefined));
}

/**
 * The photo hash a presence advertises: a hex hash, "" for "no avatar", undefined when the
 * presence says nothing (the client is not ready to tell, XEP-0153 §4.1).
 */
export function photoHashOf(presence: XmlElement): string | undefined {
  const x = child(presence, "x", NS_VCARD_UPDATE);
  const photo = x?.getChild("photo");
  if (photo === undefined) return undefined;
  const text = photo.getText().trim().toLowerCase();
  return /^[0-9a-f]{40}$/.test(text) ? text : "";
}

export interface VcardPhoto {
  mimeType: string;
  data: Uint8Array;
}

/** The PHOTO of a vCard-temp answer, or null when it has none (or a malformed one). */
export function vcardPhoto(answer: XmlElement): VcardPhoto | null {
  const vcard = answer.getChild("vCard", NS_VCARD);
  const photo = vcard?.getChild("PHOTO");
  const binval = photo?.getChildText("BINVAL")?.replace(/\s+/g, "");
  if (!binval || !/^[A-Za-z0-9+/]+={0,2}$/.test(binval)) return null;
  const data = new Uint8Array(Buffer.from(binval, "base64"));
  if (data.length === 0 || data.length > MAX_AVATAR_BYTES) return null;
  const type = photo?.getChildText("TYPE")?.trim().toLowerCase();
  return { mimeType: type && /^image\/[a-z0-9.+-]+$/.test(type) ? type : "image/png", data };
}

export function vcardOf(name: string, photo: VcardPhoto | null): XmlElement {
  return xml(
    "vCard",
    { xmlns: NS_VCARD },
    name && xml("FN", {}, name),
    name && xml("NICKNAME", {}, name),
    photo &&
      xml(
        "PHOTO",
        {},
        xml("TYPE", {}, photo.mimeType),
        xml("BINVAL", {}, Buffer.from(photo.data).toString("base64")),
      ),
  );
}

export interface XmppAvatarsOptions {
  domain: string;
  sink: IqSender;
  /** The core's file API, or null when it has none (then the user's avatar is not read). */
  files: CoreFilesApi | null;
  /** Where the user's avatars are written for the core. */
  workDir: string;
  log: XmppLogger;
}

export class XmppAvatars {
  /** Friend avatars by `owner friend`; null = the friend has none. */
  private readonly friends = new Map<string, KnownAvatar | null>();
  /** The SHA-1 of the avatar we last gave the core per user ("" = none). */
  private readonly applied = new Map<string, string>();
  /** Users whose vCard is being read, so a burst of presences reads it once. */
  private readonly reading = new Map<string, Promise<void>>();

  constructor(private readonly opts: XmppAvatarsOptions) {}

  private key(owner: string, friend: string): string {
    return `${owner} ${friend}`;
  }

  /** Frontend.friendAvatar: remembers it; returns the photo update to put in the friend's presence. */
  async friendAvatar(account: AccountRef, friend: string, avatar: AvatarFile | null): Promise<XmlElement> {
    const key = this.key(account.owner.id, friend);
    if (avatar === null) {
      this.friends.set(key, null);
      return photoUpdate(null);
    }
    // Tox avatars are small; anything larger is not read into memory (shown as no avatar).
    if ((await stat(avatar.path)).size > MAX_AVATAR_BYTES) {
      this.friends.set(key, null);
      return photoUpdate(null);
    }
    const data = await readFile(avatar.path);
    const known = { path: avatar.path, mimeType: avatar.mimeType || "image/png", sha1: sha1Hex(data) };
    this.friends.set(key, known);
    return photoUpdate(known.sha1);
  }

  /** The XEP-0153 element for a friend's presence, or null while we know nothing of its avatar. */
  presenceUpdate(owner: string, friend: string): XmlElement | null {
    const known = this.friends.get(this.key(owner, friend));
    if (known === undefined) return null;
    return photoUpdate(known?.sha1 ?? null);
  }

  /** The vCard a friend's contact JID answers with: its Tox name and avatar. */
  async friendVcard(owner: string, friend: string, name: string): Promise<XmlElement> {
    const known = this.friends.get(this.key(owner, friend));
    let photo: VcardPhoto | null = null;
    if (known) {
      try {
        const size = (await stat(known.path)).size;
        if (size <= MAX_AVATAR_BYTES)
          photo = { mimeType: known.mimeType, data: new Uint8Array(await readFile(known.path)) };
      } catch (err) {
        // Replaced by a newer avatar between the change and this read: answer without a photo.
        this.opts.log.debug({ owner, friend, err: String(err) }, "xmpp: friend avatar unreadable");
      }
    }
    return vcardOf(name, photo);
  }

  /**
   * The user's presence advertised `hash` (see photoHashOf): read their vCard and hand the photo
   * to the core when it is new. Never rejects; runs at most once at a time per user.
   */
  userPresence(owner: Owner, hash: string | undefined): Promise<void> {
    const files = this.opts.files;
    if (files === null) return Promise.resolve();
    const applied = this.applied.get(owner.id);
    // Unknown hash: read once after start; a known one: only when it changed.
    if (hash === undefined ? applied !== undefined : hash === applied) return Promise.resolve();
    const running = this.reading.get(owner.id);
    if (running) return running;
    const work = this.syncUser(owner, files)
      .catch((err: unknown) => {
        this.opts.log.info(
          { owner: owner.id, err: err instanceof Error ? err.message : String(err) },
          "xmpp: user avatar not read",
        );
      })
      .finally(() => this.reading.delete(owner.id));
    this.reading.set(owner.id, work);
    return work;
  }

  /** Reads the user's vCard now and applies its photo (registration, tests). */
  async syncUser(owner: Owner, files = this.opts.files): Promise<void> {
    if (files === null) return;
    let photo: VcardPhoto | null;
    try {
      const answer = await this.opts.sink.iq(
        xml("iq", { type: "get", from: this.opts.domain, to: owner.id }, xml("vCard", { xmlns: NS_VCARD })),
      );
      photo = vcardPhoto(answer);
    } catch (err) {
      // Servers answer item-not-found for a user who never set a vCard: that is "no avatar".
      if (!(err instanceof IqError && err.condition === "item-not-found")) throw err;
      photo = null;
    }
    const sha1 = photo ? sha1Hex(photo.data) : "";
    if (this.applied.get(owner.id) === sha1) return;
    if (photo === null) {
      await files.setAvatar(owner, null);
    } else {
      await mkdir(this.opts.workDir, { recursive: true });
      const path = join(
        this.opts.workDir,
        `avatar-${createHash("sha256").update(owner.id).digest("hex").slice(0, 32)}`,
      );
      await writeFile(path, photo.data);
      await files.setAvatar(owner, { path, mimeType: photo.mimeType });
    }
    this.applied.set(owner.id, sha1);
    this.opts.log.debug({ owner: owner.id, sha1 }, "xmpp: user avatar applied");
  }

  /** Forget a user (unregistered). */
  forget(owner: string): void {
    this.applied.delete(owner);
    for (const key of [...this.friends.keys()]) if (key.startsWith(`${owner} `)) this.friends.delete(key);
  }
}
