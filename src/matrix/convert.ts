/**
 * Matrix event -> Tox text. Tox carries plain UTF-8 text (normal or action) and nothing else, so
 * every Matrix feature is either translated to readable text or dropped. Pure: no I/O, total on
 * any input (events come from the network and may be missing any field).
 *
 * What happens to rich features is the operator's choice (`bridge.degrade_rich_messages`): when on,
 * edits, reactions and redactions become short text lines ("* corrected text"), so the Tox friend
 * sees that something happened; when off they are not bridged at all. Replies are always sent, as
 * the reply text with the quoted original in front, because the reply is a real message either way.
 */
import type { MessageKind } from "../core/frontend.js";

export interface ToxText {
  text: string;
  kind: MessageKind;
}

export interface ConvertOptions {
  /** Render edits, reactions and redactions as text (true) or drop them (false). */
  degradeRich: boolean;
}

type Json = Record<string, unknown>;

const asObject = (v: unknown): Json | undefined =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
const asString = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/** Message types whose `body` is text meant for people. */
const TEXT_MSGTYPES = new Set(["m.text", "m.notice", "m.emote"]);
/** Media: Tox has file transfer, but the bridge does not bridge files yet; send a readable line. */
const MEDIA_MSGTYPES = new Set(["m.image", "m.file", "m.audio", "m.video"]);

/**
 * Strips the reply fallback a client puts in front of a reply (`> <@alice:x> original` lines
 * and one blank line, from before MSC2781 removed it), returning the quoted text and the reply.
 */
export function splitReplyFallback(body: string): { quoted: string[]; reply: string } {
  const lines = body.split("\n");
  let i = 0;
  const quoted: string[] = [];
  while (i < lines.length && lines[i]!.startsWith("> ")) {
    // The first quoted line starts with the original sender: `> <@alice:example.org> text`.
    quoted.push(lines[i]!.slice(2).replace(/^<[^>]+>\s?/, ""));
    i++;
  }
  if (quoted.length === 0) return { quoted, reply: body };
  if (lines[i] === "") i++;
  return { quoted, reply: lines.slice(i).join("\n") };
}

/** A Matrix `formatted_body` (HTML) as plain text: used only when `body` is missing or empty. */
export function htmlToPlain(html: string): string {
  return html
    .replace(/<mx-reply>[\s\S]*?<\/mx-reply>/gi, "")
    .replace(/<br\s*\/?>/gi, "\n")
    .replace(/<\/(p|div|li|h[1-6]|blockquote|pre)>/gi, "\n")
    .replace(/<li[^>]*>/gi, "• ")
    .replace(/<[^>]*>/g, "")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&nbsp;/g, " ")
    .replace(/&amp;/g, "&")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}

function plainBody(content: Json): string {
  const body = asString(content.body) ?? "";
  if (body.trim() !== "") return body;
  const formatted = asString(content.formatted_body);
  return formatted === undefined ? "" : htmlToPlain(formatted);
}

/**
 * The Tox message for a Matrix room event, or null when nothing should reach Tox. `type` and
 * `content` are the event's; unknown types and malformed content give null.
 */
export function matrixEventToTox(type: string, content: unknown, opts: ConvertOptions): ToxText | null {
  const c = asObject(content);
  if (c === undefined) return null;
  if (type === "m.room.redaction")
    return opts.degradeRich ? { text: "[deleted a message]", kind: "action" } : null;
  if (type === "m.reaction") {
    const rel = asObject(c["m.relates_to"]);
    const key = asString(rel?.key);
    if (!opts.degradeRich || rel?.rel_type !== "m.annotation" || key === undefined || key === "") return null;
    return { text: `reacted ${key}`, kind: "action" };
  }
  if (type !== "m.room.message") return null;

  const rel = asObject(c["m.relates_to"]);
  if (rel?.rel_type === "m.replace") {
    if (!opts.degradeRich) return null;
    const replacement = asObject(c["m.new_content"]) ?? c;
    const text = plainBody(replacement).replace(/^\s*\*\s+/, "");
    return text === "" ? null : { text: `* ${text}`, kind: "normal" };
  }

  const msgtype = asString(c.msgtype) ?? "";
  if (MEDIA_MSGTYPES.has(msgtype)) {
    const name = asString(c.filename) ?? asString(c.body) ?? "a file";
    return { text: `[sent ${msgtype.slice(2)}: ${name}]`, kind: "normal" };
  }
  if (!TEXT_MSGTYPES.has(msgtype)) return null;
  let text = plainBody(c);
  if (asObject(rel?.["m.in_reply_to"]) !== undefined) {
    const { quoted, reply } = splitReplyFallback(text);
    text = quoted.length === 0 ? reply : `${quoted.map((q) => `> ${q}`).join("\n")}\n${reply}`;
  }
  if (text.trim() === "") return null;
  return { text, kind: msgtype === "m.emote" ? "action" : "normal" };
}

/** The Matrix content for a Tox message (plain text; actions become emotes). */
export function toxToMatrixContent(kind: MessageKind, text: string): Json {
  return { msgtype: kind === "action" ? "m.emote" : "m.text", body: text };
}
