/**
 * XEP-0030 service discovery answers for the gateway JID and for contact JIDs. Pure.
 */
import { NS } from "./namespaces.js";
import { type XmlElement, xml } from "./xml.js";

export interface Identity {
  category: string;
  type: string;
  name?: string;
}

export function discoInfo(identities: Identity[], features: string[], node?: string): XmlElement {
  return xml(
    "query",
    { xmlns: NS.discoInfo, node },
    identities.map((i) => xml("identity", { category: i.category, type: i.type, name: i.name })),
    [...new Set(features)].sort().map((f) => xml("feature", { var: f })),
  );
}

export function discoItems(
  items: { jid: string; node?: string; name?: string }[],
  node?: string,
): XmlElement {
  return xml(
    "query",
    { xmlns: NS.discoItems, node },
    items.map((i) => xml("item", { jid: i.jid, node: i.node, name: i.name })),
  );
}

/** What the gateway itself supports (XEP-0100 gateway/tox identity). */
export const GATEWAY_FEATURES = [
  NS.discoInfo,
  NS.discoItems,
  NS.register,
  NS.gateway,
  NS.commands,
  NS.data,
  NS.ping,
  NS.version,
];

/** What a Tox friend (as seen through the gateway) supports. */
export const CONTACT_FEATURES = [NS.discoInfo, NS.chatStates, NS.receipts, NS.nick, NS.ping];

export function gatewayInfo(name: string): XmlElement {
  return discoInfo([{ category: "gateway", type: "tox", name }], GATEWAY_FEATURES);
}

export function contactInfo(name: string | undefined): XmlElement {
  return discoInfo([{ category: "client", type: "pc", name: name || undefined }], CONTACT_FEATURES);
}
