/**
 * The gateway router with conference rooms on top: stanzas to `conf-...@gateway` go to the MUC
 * service, a XEP-0249 invitation the user sends to a contact invites that friend, and the
 * gateway's own disco answers gain the MUC service (identity conference/text, and the user's rooms
 * in disco#items, which is how clients browse them). Everything else is the plain router's.
 * A layer rather than branches inside router.ts, so the rooms stay in the muc* files.
 */
import { permissionFor } from "../config/permissions.js";
import { errorReply, toStanzaError } from "./errors.js";
import { bareJid, parseJid, publicKeyOfJid } from "./jid.js";
import type { MucService } from "./muc.js";
import { MUC_NS } from "./muc-stanzas.js";
import { NS } from "./namespaces.js";
import { GatewayRouter, type RouterOptions } from "./router.js";
import { child, type XmlElement, xml } from "./xml.js";

export class MucGatewayRouter extends GatewayRouter {
  constructor(
    private readonly routerOpts: RouterOptions,
    readonly muc: MucService,
  ) {
    super(routerOpts);
  }

  override async handle(stanza: XmlElement): Promise<XmlElement[]> {
    if (this.muc.isRoomStanza(stanza)) return this.muc.handle(stanza);
    const invited = await this.directInvite(stanza);
    if (invited !== null) return invited;
    const replies = await super.handle(stanza);
    return this.withRooms(stanza, replies);
  }

  /** A XEP-0249 invitation from the user to a contact JID: that friend is invited (null: not one). */
  private async directInvite(stanza: XmlElement): Promise<XmlElement[] | null> {
    if (stanza.name !== "message" || stanza.attrs.type === "error") return null;
    if (child(stanza, "x", MUC_NS.conference) === undefined) return null;
    const from = parseJid(stanza.attrs.from);
    const to = parseJid(stanza.attrs.to);
    const friend = to && publicKeyOfJid(to, this.domain);
    if (from === null || from.local === "" || !friend) return null;
    const owner = { kind: "xmpp" as const, id: bareJid(from) };
    if (permissionFor(this.routerOpts.permissions(), owner.id) === null) return null; // the router refuses it
    try {
      return (await this.muc.directInvite(owner, friend, stanza)) ? [] : null;
    } catch (err) {
      const reply = errorReply(stanza, toStanzaError(err));
      return reply ? [reply] : [];
    }
  }

  /** Adds the MUC service to the gateway's disco#info and the user's rooms to its disco#items. */
  private async withRooms(stanza: XmlElement, replies: XmlElement[]): Promise<XmlElement[]> {
    if (stanza.name !== "iq" || stanza.attrs.type !== "get") return replies;
    const to = parseJid(stanza.attrs.to);
    if (to === null || to.local !== "" || to.domain !== this.domain) return replies;
    const query = stanza.getChildElements()[0];
    if (query === undefined || query.name !== "query" || query.attrs.node !== undefined) return replies;
    const answer = replies.find(
      (r) => r.name === "iq" && r.attrs.type === "result" && r.attrs.id === stanza.attrs.id,
    );
    const answerQuery = answer?.getChild("query");
    if (answerQuery === undefined) return replies;
    if (query.attrs.xmlns === NS.discoInfo) {
      // Order inside a disco#info answer carries no meaning (XEP-0030), so appending is enough.
      answerQuery.append(
        xml("identity", { category: "conference", type: "text", name: "Tox conferences" }),
        xml("feature", { var: MUC_NS.muc }),
      );
    } else if (query.attrs.xmlns === NS.discoItems) {
      const from = parseJid(stanza.attrs.from);
      if (from === null || from.local === "") return replies;
      const owner = { kind: "xmpp" as const, id: bareJid(from) };
      const items = await this.muc
        .roomItems(owner, permissionFor(this.routerOpts.permissions(), owner.id))
        .catch(() => []);
      for (const item of items) answerQuery.append(xml("item", { jid: item.jid, name: item.name }));
    }
    return replies;
  }
}
