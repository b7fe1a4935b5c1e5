/**
 * The core's view of XMPP: turns core events (messages from Tox friends, presence, typing,
 * requests, receipts, notices) into stanzas from contact JIDs to the user's bare JID. Messages go
 * to the bare JID so the server stores them while the user is offline (mod_offline/MAM) and
 * delivers them to every device.
 */
import type { AccountRef, FriendView, Frontend, InboundMessage, Notice } from "./core-port.js";
import { contactJid } from "./jid.js";
import { chatMessage, chatStateMessage, receiptMessage, textMessage } from "./message.js";
import { friendPresence, presenceOfType, subscribeRequest } from "./presence.js";
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
  /** Contacts currently shown online, by `from to`, so stopping can take them offline. */
  private readonly shownOnline = new Map<string, { from: string; to: string }>();

  constructor(
    private readonly domain: string,
    private readonly sink: StanzaSink,
  ) {}

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
    if (friend.state !== "accepted") return;
    const from = this.contact(friend.publicKey);
    const key = `${account.id}:${friend.publicKey}`;
    if (!this.confirmed.has(key)) {
      await this.sink.send(presenceOfType(from, account.owner.id, "subscribed"));
      this.confirmed.add(key);
    }
    await this.sink.send(friendPresence(from, account.owner.id, friend));
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

  async friendTyping(account: AccountRef, friend: string, typing: boolean): Promise<void> {
    await this.sink.send(
      chatStateMessage(this.contact(friend), account.owner.id, typing ? "composing" : "paused"),
    );
  }

  async friendRequest(account: AccountRef, request: { friend: string; message: string }): Promise<void> {
    await this.sink.send(subscribeRequest(this.contact(request.friend), account.owner.id, request.message));
  }

  async friendRemoved(account: AccountRef, friend: string): Promise<void> {
    this.confirmed.delete(`${account.id}:${friend}`);
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
