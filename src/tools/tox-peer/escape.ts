/**
 * Escaping of free text in tox-peer's line protocol. Every stdout event and every stdin command
 * is one line, so a text field must not contain a line break. Free text is always the last field
 * of a line (it may contain spaces and "="), and carries these escapes:
 *
 *   backslash -> \\    line feed -> \n    carriage return -> \r
 *
 * \r is escaped too because line readers (Node's readline among them) also end lines at a bare CR.
 * Unescaping keeps an unknown escape (`\x`) and a trailing lone backslash as they are, so any typed
 * line means something and `unescapeText(escapeText(s)) === s` for every string.
 */

export function escapeText(text: string): string {
  return text.replace(/[\\\n\r]/g, (c) => (c === "\\" ? "\\\\" : c === "\n" ? "\\n" : "\\r"));
}

export function unescapeText(text: string): string {
  return text.replace(/\\([\\nr])/g, (_, c: string) => (c === "n" ? "\n" : c === "r" ? "\r" : "\\"));
}
