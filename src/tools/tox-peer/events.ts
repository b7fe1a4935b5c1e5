/**
 * The lines tox-peer prints on stdout: one event per line, `TAG key=value ...`, values without
 * spaces except the free-text field, which is always last and escaped (see escape.ts).
 */
import { escapeText, unescapeText } from "./escape.js";

export type ConnectionKind = "none" | "udp" | "tcp";
export type MessageType = "normal" | "action";

/** A field value that is a single token (hex, number, keyword): never contains spaces. */
type Token = string | number;

/** Builds `TAG k=v k=v text=escaped`; `text` is the free-text field, emitted last. */
export function formatLine(
  tag: string,
  fields: Array<[string, Token]> = [],
  text?: [string, string],
): string {
  const parts = [tag];
  for (const [k, v] of fields) parts.push(`${k}=${v}`);
  if (text !== undefined) parts.push(`${text[0]}=${escapeText(text[1])}`);
  return parts.join(" ");
}

export const fmt = {
  ready: (toxId: string, dht: string, port: number) =>
    formatLine("READY", [
      ["toxid", toxId],
      ["dht", dht],
      ["port", port],
    ]),
  id: (toxId: string, pk: string, dht: string, port: number) =>
    formatLine("ID", [
      ["toxid", toxId],
      ["pk", pk],
      ["dht", dht],
      ["port", port],
    ]),
  selfConnection: (status: ConnectionKind) => `SELF_CONNECTION ${status}`,
  friendRequest: (pk: string, message: string) =>
    formatLine("FRIEND_REQUEST", [["pk", pk]], ["msg", message]),
  friendAdded: (n: number, pk: string) =>
    formatLine("FRIEND_ADDED", [
      ["n", n],
      ["pk", pk],
    ]),
  friendConnection: (n: number, status: ConnectionKind) => `FRIEND_CONNECTION n=${n} ${status}`,
  friendMessage: (n: number, type: MessageType, text: string) =>
    formatLine(
      "FRIEND_MESSAGE",
      [
        ["n", n],
        ["type", type],
      ],
      ["text", text],
    ),
  readReceipt: (n: number, id: number) =>
    formatLine("READ_RECEIPT", [
      ["n", n],
      ["id", id],
    ]),
  friendName: (n: number, name: string) => formatLine("FRIEND_NAME", [["n", n]], ["name", name]),
  sent: (n: number, id: number) =>
    formatLine("SENT", [
      ["n", n],
      ["id", id],
    ]),
  friend: (n: number, pk: string, connection: ConnectionKind, name: string) =>
    formatLine(
      "FRIEND",
      [
        ["n", n],
        ["pk", pk],
        ["connection", connection],
      ],
      ["name", name],
    ),
  friendsEnd: (count: number) => formatLine("FRIENDS", [["count", count]]),
  saved: (bytes: number, file: string) => formatLine("SAVED", [["bytes", bytes]], ["file", file]),
  ok: (command: string) => `OK ${command}`,
  error: (message: string) => `ERROR ${escapeText(message)}`,
};

/**
 * Splits an event line back into tag, fields and (unescaped) free text: for tests and for programs
 * driving tox-peer.
 */
export interface ParsedEvent {
  tag: string;
  fields: Record<string, string>;
  /** Bare words after the tag (e.g. the status in `SELF_CONNECTION udp`). */
  words: string[];
}

/** Name of the free-text field per tag: everything after `name=` is that field's value. */
const TEXT_FIELD: Record<string, string> = {
  FRIEND_REQUEST: "msg",
  FRIEND_MESSAGE: "text",
  FRIEND_NAME: "name",
  FRIEND: "name",
  SAVED: "file",
};

export function parseEventLine(line: string): ParsedEvent {
  const space = line.indexOf(" ");
  const tag = space < 0 ? line : line.slice(0, space);
  let rest = space < 0 ? "" : line.slice(space + 1);
  const fields: Record<string, string> = {};
  const words: string[] = [];
  if (tag === "ERROR") {
    fields.message = unescapeText(rest);
    return { tag, fields, words };
  }
  const textField = Object.hasOwn(TEXT_FIELD, tag) ? TEXT_FIELD[tag] : undefined;
  while (rest.length > 0) {
    if (textField !== undefined && rest.startsWith(`${textField}=`)) {
      fields[textField] = unescapeText(rest.slice(textField.length + 1));
      break;
    }
    const next = rest.indexOf(" ");
    const token = next < 0 ? rest : rest.slice(0, next);
    rest = next < 0 ? "" : rest.slice(next + 1);
    const eq = token.indexOf("=");
    if (eq < 0) words.push(token);
    else fields[token.slice(0, eq)] = token.slice(eq + 1);
  }
  return { tag, fields, words };
}
