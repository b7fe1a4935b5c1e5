/**
 * Message stanzas: reading what a user sends to a contact (body, XEP-0085 chat state, XEP-0184
 * receipt request, XEP-0308 correction, XEP-0424 retraction, XEP-0172 nick) and building what the
 * gateway sends. Tox has plain text only, so corrections and retractions become readable text.
 * Pure.
 */
import { NS } from "./namespaces.js";
import { child, childNs, type XmlElement, xml } from "./xml.js";

export type MessageType = "chat" | "normal" | "groupchat" | "headline" | "error";
export type ChatState = "active" | "composing" | "paused" | "inactive" | "gone";
const CHAT_STATES = new Set<string>(["active", "composing", "paused", "inactive", "gone"]);
const TYPES = new Set<string>(["chat", "normal", "groupchat", "headline", "error"]);

export interface ParsedMessage {
  type: MessageType;
  id: string | undefined;
  body: string | undefined;
  chatState: ChatState | undefined;
  receiptRequested: boolean;
  /** XEP-0308: the id of the message this one corrects. */
  replaces: string | undefined;
  /** XEP-0424 (v0 via fastening, or v1): the id of the retracted message. */
  retracts: string | undefined;
  nick: string | undefined;
}

/** Bodies longer than this are refused (policy-violation) rather than split into hundreds of Tox messages. */
export const MAX_BODY_LENGTH = 64 * 1024;

/** Reads a message stanza; null when its type is unknown (a malformed stanza). */
export function parseMessage(el: XmlElement): ParsedMessage | null {
  const type = el.attrs.type ?? "normal";
  if (!TYPES.has(type)) return null;
  const bodyEl = el.getChildren("body").find((b) => b.attrs["xml:lang"] === undefined) ?? el.getChild("body");
  const stateEl = el
    .getChildElements()
    .find((c) => c.attrs.xmlns === NS.chatStates && CHAT_STATES.has(c.name));
  const fastening = child(el, "apply-to", NS.fasten);
  const retracts =
    child(el, "retract", NS.retract1)?.attrs.id ??
    (fastening && child(fastening, "retract", NS.retract0) ? fastening.attrs.id : undefined);
  return {
    type: type as MessageType,
    id: el.attrs.id,
    body: bodyEl?.getText(),
    chatState: stateEl?.name as ChatState | undefined,
    receiptRequested: child(el, "request", NS.receipts) !== undefined,
    replaces: child(el, "replace", NS.correct)?.attrs.id,
    retracts,
    nick: childNs(el, NS.nick)?.getText(),
  };
}

export interface ToxText {
  text: string;
  kind: "normal" | "action";
}

export const CORRECTION_PREFIX = "Correction: ";
export const RETRACTION_TEXT = "(retracted an earlier message)";

/**
 * The Tox message for a parsed message, or null when it carries no text (a bare chat state).
 * `/me ` becomes a Tox action, as Tox clients show it.
 */
export function toxTextOf(m: ParsedMessage): ToxText | null {
  if (m.retracts !== undefined) return { text: RETRACTION_TEXT, kind: "normal" };
  const body = m.body?.replace(/\r\n?/g, "\n");
  if (body === undefined || body.trim().length === 0) return null;
  if (body.startsWith("/me ") && body.length > 4) {
    return { text: (m.replaces !== undefined ? CORRECTION_PREFIX : "") + body.slice(4), kind: "action" };
  }
  return { text: (m.replaces !== undefined ? CORRECTION_PREFIX : "") + body, kind: "normal" };
}

export interface OutboundText {
  from: string;
  to: string;
  id: string;
  text: string;
  kind: "normal" | "action";
}

/** A chat message from a contact: `store` hint so the server archives it for offline devices. */
export function chatMessage(m: OutboundText): XmlElement {
  return xml(
    "message",
    { type: "chat", from: m.from, to: m.to, id: m.id },
    xml("body", {}, m.kind === "action" ? `/me ${m.text}` : m.text),
    xml("active", { xmlns: NS.chatStates }),
    xml("store", { xmlns: NS.hints }),
  );
}

export function chatStateMessage(from: string, to: string, state: ChatState): XmlElement {
  return xml(
    "message",
    { type: "chat", from, to },
    xml(state, { xmlns: NS.chatStates }),
    xml("no-store", { xmlns: NS.hints }),
  );
}

/** XEP-0184 receipt for a message the user sent (`id` is that message's stanza id). */
export function receiptMessage(from: string, to: string, id: string): XmlElement {
  return xml("message", { type: "chat", from, to }, xml("received", { xmlns: NS.receipts, id }));
}

export function textMessage(from: string, to: string, text: string, id?: string): XmlElement {
  return xml("message", { type: "chat", from, to, id }, xml("body", {}, text));
}
