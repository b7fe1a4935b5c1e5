/**
 * The core's view of XMPP: turns core events (messages from Tox friends, presence, typing,
 * requests, receipts, notices) into stanzas from contact JIDs to the user's bare JID. Messages go
 * to the bare JID so the server stores them while the user is offline (mod_offline/MAM) and
 * delivers them to every device.
 */
import type { XmppAvatars } from "./avatars.js";
import type {
  AccountRef,
  AvatarFile,
  CoreApi,
  FriendView,
  Frontend,
  InboundFile,
  InboundMessage,
  Notice,
} from "./core-port.js";
import type { XmppFiles } from "./files.js";
import { contactJid } from "./jid.js";
import { chatMessage, chatStateMessage, receiptMessage, textMessage } from "./message.js";
import { friendPresence, gatewayPresence, presenceOfType, subscribeRequest } from "./presence.js";
import type { XmlElement } from "./xml.js";

/** Where stanzas go: `send` resolves once written to the server, rejects when not connected. */
export interface StanzaSink {
  send(stanza: XmlElement): Promise<void>;
  /** Resolves once the server has processed the stanza (see XmppComponent.sendConfirmed). */
  sendConfirmed(stanza: XmlElement): Promise<void>;
}

export class XmppFrontend implements Frontend {
  readonly network = "xmpp" as const;
  /**
   * Friends whose subscription we confirmed since start. The first time a friend shows up as
   * accepted (e.g. it answered the request the user's subscription sent) the contact sends
   * `subscribed`, completing the user's pending subscription; servers ignore a repeat, so after a
   * restart sending it once more is harmless.
   */
  private readonly confirmed = new Set<string>();
  /**
   * The last view of each friend, by `account:friend`, so an avatar change can re-send the
   * friend's presence as it is. Bounded like the other per-contact state (one entry per friend).
   */
  private readonly lastView = new Map<string, FriendView>();
  /** Contacts currently shown online, by `from to`, so stopping can take them offline. */
  private readonly shownOnline = new Map<string, { from: string; to: string }>();

  constructor(
    private readonly domain: string,
    private readonly sink: StanzaSink,
    private readonly media: { files?: XmppFiles; avatars?: XmppAvatars } = {},
  ) {}

  /** The XEP-0153 avatar hash for a friend's presence, when its avatar is known. */
  private photo(account: AccountRef, friend: string) {
    return this.media.avatars?.presenceUpdate(account.owner.id, friend) ?? null;
  }

  private contact(friend: string): string {
    return contactJid(friend, this.domain);
  }

  async deliverMessage(account: AccountRef, message: InboundMessage): Promise<void> {
    // A stable id per inbox row lets clients drop a copy the core re-sent after a lost ack.
    // Confirmed, not just written: the core forgets the message once this resolves.
    await this.sink.sendConfirmed(
      chatMessage({
        from: this.contact(message.friend),
        to: account.owner.id,
        id: `tox-in-${message.id}`,
        text: message.text,
        kind: message.kind === "action" ? "action" : "normal",
      }),
    );
  }

  async friendUpdated(account: AccountRef, friend: FriendView): Promise<void> {
    this.rememberView(account, friend);
    if (friend.state !== "accepted") return;
    const from = this.contact(friend.publicKey);
    const key = `${account.id}:${friend.publicKey}`;
    if (!this.confirmed.has(key)) {
      await this.sink.send(presenceOfType(from, account.owner.id, "subscribed"));
      this.confirmed.add(key);
    }
    await this.sink.send(
      friendPresence(from, account.owner.id, friend, this.photo(account, friend.publicKey)),
    );
    const shown = `${from} ${account.owner.id}`;
    if (friend.online) this.shownOnline.set(shown, { from, to: account.owner.id });
    else this.shownOnline.delete(shown);
  }

  /**
   * Shows every contact we showed online as unavailable: called before the gateway disconnects,
   * so clients do not keep showing Tox friends online while nobody is bridging them. (After a
   * crash this does not happen; friends reappear as their Tox sessions come back.)
   */
  async goodbye(): Promise<void> {
    const all = [...this.shownOnline.values()];
    this.shownOnline.clear();
    for (const { from, to } of all) await this.sink.send(presenceOfType(from, to, "unavailable"));
  }

  /**
   * After a (re)connection, possibly after a crash that left clients showing stale presence:
   * the gateway's and every accepted friend's current presence to each account's owner, without
   * waiting for probes (servers send none to a component that comes back).
   */
  async announceAll(core: CoreApi, accounts: AccountRef[]): Promise<void> {
    for (const account of accounts) {
      const user = account.owner.id;
      await this.sink.send(gatewayPresence(this.domain, user));
      for (const f of await core.friends(account.owner)) {
        if (f.state !== "accepted") continue;
        await this.friendUpdated(account, f);
      }
    }
  }

  /** A complete file from a friend: uploaded to the user's server and linked (XmppFiles). */
  async deliverFile(account: AccountRef, file: InboundFile): Promise<void> {
    const files = this.media.files;
    if (files === undefined) {
      // Without file support the user still learns that something arrived.
      await this.sink.sendConfirmed(
        textMessage(
          this.contact(file.friend),
          account.owner.id,
          `📎 Sent you a file over Tox ("${file.fileName}", ${file.size} bytes), which this gateway cannot pass on.`,
          `tox-file-${file.id}`,
        ),
      );
      return;
    }
    await files.deliverFile(account, file);
  }

  /** A friend's avatar changed: its presence carries the new XEP-0153 hash, so clients refetch the vCard. */
  async friendAvatar(account: AccountRef, friend: string, avatar: AvatarFile | null): Promise<void> {
    const avatars = this.media.avatars;
    if (avatars === undefined) return;
    await avatars.friendAvatar(account, friend, avatar);
    const view = this.lastView.get(`${account.id}:${friend}`);
    if (view?.state === "accepted") await this.friendUpdated(account, view);
  }

  async friendTyping(account: AccountRef, friend: string, typing: boolean): Promise<void> {
    await this.sink.send(
      chatStateMessage(this.contact(friend), account.owner.id, typing ? "composing" : "paused"),
    );
  }

  async friendRequest(account: AccountRef, request: { friend: string; message: string }): Promise<void> {
    await this.sink.send(subscribeRequest(this.contact(request.friend), account.owner.id, request.message));
  }

  private rememberView(account: AccountRef, friend: FriendView): void {
    this.lastView.set(`${account.id}:${friend.publicKey}`, friend);
  }

  async friendRemoved(account: AccountRef, friend: string): Promise<void> {
    this.confirmed.delete(`${account.id}:${friend}`);
    this.lastView.delete(`${account.id}:${friend}`);
    const from = this.contact(friend);
    this.shownOnline.delete(`${from} ${account.owner.id}`);
    const to = account.owner.id;
    await this.sink.send(presenceOfType(from, to, "unavailable"));
    await this.sink.send(presenceOfType(from, to, "unsubscribed"));
    await this.sink.send(presenceOfType(from, to, "unsubscribe"));
  }

  async readReceipt(account: AccountRef, friend: string, sourceEventId: string): Promise<void> {
    await this.sink.send(receiptMessage(this.contact(friend), account.owner.id, sourceEventId));
  }

  async notice(account: AccountRef, notice: Notice): Promise<void> {
    // Notices about one friend show in that conversation; the rest come from the gateway.
    const from = notice.friend ? this.contact(notice.friend) : this.domain;
    const prefix = notice.code === "delivery-failed" ? "⚠ Not delivered: " : "";
    await this.sink.send(textMessage(from, account.owner.id, prefix + notice.text));
  }
}
