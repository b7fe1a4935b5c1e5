/**
 * One Tox conference as one bridged user sees it in a MUC room: the last conference view from the
 * core, the nick of every peer, the user's own nick, and which of the user's XMPP sessions (full
 * JIDs) have joined. Turns changes into the stanzas each joined session must get. No I/O: the
 * service (muc.ts) sends what these methods return.
 */
import { createHash } from "node:crypto";
import type { AccountRef, ConferencePeerView, ConferenceView } from "../core/frontend.js";
import { contactJid } from "./jid.js";
import { assignNicks, baseNick } from "./muc-nicks.js";
import { type OccupantItem, occupantJid, occupantPresence, roomJid, subjectMessage } from "./muc-stanzas.js";
import type { XmlElement } from "./xml.js";

/** XEP-0045 status codes used here. */
export const STATUS = {
  nonAnonymous: 100,
  self: 110,
  nickAssigned: 210,
  nickChanged: 303,
  shutdown: 332,
} as const;

export class MucRoom {
  readonly jid: string;
  view: ConferenceView;
  /** Nick of every peer but ourselves, by public key. */
  nicks = new Map<string, string>();
  /** The nick the user's sessions have in the room; null while none is joined. */
  userNick: string | null = null;
  /** Joined sessions (full JIDs). */
  readonly sessions = new Set<string>();

  constructor(
    readonly account: AccountRef,
    view: ConferenceView,
    private readonly domain: string,
  ) {
    this.jid = roomJid(view.id, domain);
    this.view = view;
    this.nicks = assignNicks(this.others(view), new Map(), new Set());
  }

  /** Everybody but ourselves; a nameless identity of another bridged user goes by its user id. */
  private others(view: ConferenceView): ConferencePeerView[] {
    return view.peers
      .filter((p) => !p.self && p.publicKey !== this.account.publicKey)
      .map((p) => (p.name.trim() === "" && p.bridgedOwner ? { ...p, name: p.bridgedOwner.id } : p));
  }

  /** The public key of the peer using this nick, if any. */
  peerByNick(nick: string): string | undefined {
    for (const [pk, n] of this.nicks) if (n === nick) return pk;
    return undefined;
  }

  /** XEP-0421 id: stable per room and person, opaque (a hash, not the key itself). */
  occupantId(publicKey: string): string {
    return createHash("sha256").update(`${this.view.id}:${publicKey}`).digest("base64url").slice(0, 22);
  }

  private peerItem(peer: ConferencePeerView): OccupantItem {
    // Another bridged XMPP user shows as themselves; Tox peers as their contact JID, which
    // clients can open a one-to-one chat with.
    const jid =
      peer.bridgedOwner?.kind === "xmpp" ? peer.bridgedOwner.id : contactJid(peer.publicKey, this.domain);
    return { affiliation: "member", role: "participant", jid };
  }

  /**
   * The user holds the "owner" affiliation: it is their membership, and owners may destroy a room,
   * which is how a client says "leave this conference for good". Moderator so clients offer the
   * subject change (every Tox member can set the title).
   */
  private userItem(fullJid: string, nick?: string): OccupantItem {
    return { affiliation: "owner", role: "moderator", jid: fullJid, nick };
  }

  private peerPresence(peer: ConferencePeerView, to: string): XmlElement {
    const nick = this.nicks.get(peer.publicKey) ?? baseNick(peer.name, peer.publicKey);
    const name = peer.name.trim();
    return occupantPresence({
      from: occupantJid(this.jid, nick),
      to,
      item: this.peerItem(peer),
      occupantId: this.occupantId(peer.publicKey),
      // The full Tox name where the nick had to be shortened or disambiguated.
      status: name && name !== nick ? name : undefined,
    });
  }

  /** Everything a session gets when it joins: occupants, then itself, then the subject (XEP-0045 §7.2). */
  join(fullJid: string, nickAssigned: boolean): XmlElement[] {
    this.sessions.add(fullJid);
    const out = this.others(this.view).map((p) => this.peerPresence(p, fullJid));
    out.push(this.selfPresence(fullJid, nickAssigned ? [STATUS.nickAssigned] : []));
    // No history: the contract keeps none. Messages that arrived while nobody was joined are
    // still in the core's inbox and follow shortly (with their original time as a delay stamp).
    out.push(subjectMessage(this.jid, fullJid, this.view.title));
    return out;
  }

  selfPresence(fullJid: string, extraCodes: number[] = []): XmlElement {
    return occupantPresence({
      from: occupantJid(this.jid, this.userNick ?? ""),
      to: fullJid,
      item: this.userItem(fullJid),
      codes: [STATUS.nonAnonymous, STATUS.self, ...extraCodes].sort((a, b) => a - b),
      occupantId: this.occupantId(this.account.publicKey),
    });
  }

  /** The session left the room (the Tox conference stays joined). */
  leave(fullJid: string): XmlElement | null {
    if (!this.sessions.delete(fullJid)) return null;
    const out = occupantPresence({
      from: occupantJid(this.jid, this.userNick ?? ""),
      to: fullJid,
      item: { affiliation: "owner", role: "none", jid: fullJid },
      unavailable: true,
      codes: [STATUS.self],
      occupantId: this.occupantId(this.account.publicKey),
    });
    if (this.sessions.size === 0) this.userNick = null;
    return out;
  }

  /** Drops a session without telling it (its client is gone: our stanzas bounced). */
  drop(fullJid: string): void {
    this.sessions.delete(fullJid);
    if (this.sessions.size === 0) this.userNick = null;
  }

  /** Whether `nick` is free for the user (no peer uses it). */
  nickFree(nick: string): boolean {
    return this.peerByNick(nick) === undefined;
  }

  /** The user's new nick, to every joined session: unavailable with 303, then available (§7.6). */
  renameUser(nick: string): XmlElement[] {
    const old = this.userNick ?? "";
    this.userNick = nick;
    const out: XmlElement[] = [];
    for (const s of this.sessions) {
      out.push(
        occupantPresence({
          from: occupantJid(this.jid, old),
          to: s,
          item: this.userItem(s, nick),
          unavailable: true,
          codes: [STATUS.self, STATUS.nickChanged],
          occupantId: this.occupantId(this.account.publicKey),
        }),
        this.selfPresence(s),
      );
    }
    return out;
  }

  /**
   * Takes a new view from the core: peers that came, went or were renamed become occupant
   * presence, a new title the subject. Returns what the joined sessions must get.
   */
  update(view: ConferenceView): XmlElement[] {
    const before = new Map(this.others(this.view).map((p) => [p.publicKey, p]));
    const oldNicks = this.nicks;
    const after = this.others(view);
    const reserved = new Set(this.userNick === null ? [] : [this.userNick]);
    const nicks = assignNicks(after, oldNicks, reserved);
    const titleChanged = view.title !== this.view.title;
    this.view = view;
    this.nicks = nicks;
    const out: XmlElement[] = [];
    for (const to of this.sessions) {
      const afterKeys = new Set(after.map((p) => p.publicKey));
      for (const [pk, peer] of before) {
        if (afterKeys.has(pk)) continue;
        out.push(
          occupantPresence({
            from: occupantJid(this.jid, oldNicks.get(pk) ?? baseNick(peer.name, pk)),
            to,
            item: { ...this.peerItem(peer), role: "none" },
            unavailable: true,
            occupantId: this.occupantId(pk),
          }),
        );
      }
      for (const peer of after) {
        const old = before.get(peer.publicKey);
        const oldNick = oldNicks.get(peer.publicKey);
        const nick = nicks.get(peer.publicKey);
        if (old === undefined || oldNick === undefined) {
          out.push(this.peerPresence(peer, to));
        } else if (oldNick !== nick) {
          out.push(
            occupantPresence({
              from: occupantJid(this.jid, oldNick),
              to,
              item: { ...this.peerItem(peer), nick },
              unavailable: true,
              codes: [STATUS.nickChanged],
              occupantId: this.occupantId(peer.publicKey),
            }),
            this.peerPresence(peer, to),
          );
        } else if (old.name !== peer.name) {
          // Same nick (e.g. a disambiguated one), new full name in the status.
          out.push(this.peerPresence(peer, to));
        }
      }
      if (titleChanged) out.push(subjectMessage(this.jid, to, view.title));
    }
    return out;
  }

  /** The room is gone (the user left the conference): every session is told it was destroyed. */
  destroy(reason: string): XmlElement[] {
    const out = [...this.sessions].map((s) =>
      occupantPresence({
        from: occupantJid(this.jid, this.userNick ?? ""),
        to: s,
        item: { affiliation: "none", role: "none", jid: s },
        unavailable: true,
        codes: [STATUS.self],
        destroyed: { reason },
      }),
    );
    this.sessions.clear();
    this.userNick = null;
    return out;
  }

  /** The gateway is stopping: every session is told so (332) and rejoins once it is back. */
  shutdown(): XmlElement[] {
    const out = [...this.sessions].map((s) =>
      occupantPresence({
        from: occupantJid(this.jid, this.userNick ?? ""),
        to: s,
        item: { affiliation: "owner", role: "none", jid: s },
        unavailable: true,
        codes: [STATUS.self, STATUS.shutdown],
      }),
    );
    this.sessions.clear();
    this.userNick = null;
    return out;
  }
}
