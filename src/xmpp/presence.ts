/**
 * Presence stanzas: reading the user's presence and subscription requests, and showing a Tox
 * friend's presence, status text and name (XEP-0172) as presence from its contact JID. Pure.
 */
import type { FriendView, UserStatus } from "./core-port.js";
import { NS } from "./namespaces.js";
import { childNs, type XmlElement, xml } from "./xml.js";

export type PresenceType =
  | "available"
  | "unavailable"
  | "subscribe"
  | "subscribed"
  | "unsubscribe"
  | "unsubscribed"
  | "probe"
  | "error";

const TYPES = new Set<string>([
  "unavailable",
  "subscribe",
  "subscribed",
  "unsubscribe",
  "unsubscribed",
  "probe",
  "error",
]);

export type Show = "away" | "chat" | "dnd" | "xa";
const SHOWS = new Set<string>(["away", "chat", "dnd", "xa"]);

export interface ParsedPresence {
  type: PresenceType;
  show: Show | undefined;
  status: string | undefined;
  priority: number;
  nick: string | undefined;
}

/** `<priority/>` as RFC 6121 §4.7.2.3 defines it (-128..127, default 0); null when malformed. */
export function parsePriority(text: string | null): number | null {
  if (text === null) return 0;
  const t = text.trim();
  if (!/^[+-]?\d{1,3}$/.test(t)) return null;
  const n = Number(t);
  return n >= -128 && n <= 127 ? n : null;
}

/** Reads a presence stanza; null when its type or show is not one RFC 6121 defines. */
export function parsePresence(el: XmlElement): ParsedPresence | null {
  const type = el.attrs.type;
  if (type !== undefined && !TYPES.has(type)) return null;
  const show = el.getChildText("show")?.trim();
  if (show !== undefined && show !== "" && !SHOWS.has(show)) return null;
  const priority = parsePriority(el.getChildText("priority"));
  if (priority === null) return null;
  return {
    type: (type ?? "available") as PresenceType,
    show: show ? (show as Show) : undefined,
    status: el.getChildText("status") ?? undefined,
    priority,
    nick: childNs(el, NS.nick)?.getText(),
  };
}

/** Tox status as XMPP show: "none" is plain available, Tox's busy is do-not-disturb. */
export function showOf(status: UserStatus): Show | undefined {
  return status === "away" ? "away" : status === "busy" ? "dnd" : undefined;
}

/** The user's show as Tox presence (core's `presence` command word). */
export function presenceWordOf(show: Show | undefined): "online" | "away" | "busy" {
  return show === "dnd" ? "busy" : show === "away" || show === "xa" ? "away" : "online";
}

function nickEl(name: string) {
  return name ? xml("nick", { xmlns: NS.nick }, name) : null;
}

/**
 * The presence a friend shows: available with show/status when online, else unavailable.
 * `extra`: more payload, e.g. the XEP-0153 avatar hash.
 */
export function friendPresence(
  from: string,
  to: string,
  f: FriendView,
  extra?: XmlElement | null,
): XmlElement {
  const status = f.statusMessage ? xml("status", {}, f.statusMessage) : null;
  if (!f.online) return xml("presence", { from, to, type: "unavailable" }, status, nickEl(f.name), extra);
  const show = showOf(f.status);
  return xml("presence", { from, to }, show && xml("show", {}, show), status, nickEl(f.name), extra);
}

/** An incoming Tox friend request as a subscription request, its message as status (RFC 6121 §3.1.1). */
export function subscribeRequest(from: string, to: string, message: string, name?: string): XmlElement {
  return xml(
    "presence",
    { from, to, type: "subscribe" },
    message && xml("status", {}, message),
    nickEl(name ?? ""),
  );
}

export function presenceOfType(
  from: string,
  to: string,
  type: Exclude<PresenceType, "available" | "error">,
): XmlElement {
  return xml("presence", { from, to, type });
}

export function gatewayPresence(from: string, to: string): XmlElement {
  return xml("presence", { from, to });
}
