/**
 * tox-peer's stdin commands, one per line. The command word and its fixed arguments are separated
 * by single spaces (runs of spaces/tabs are accepted); a free-text argument (MSG, TEXT) is the
 * rest of the line after its preceding arguments, taken verbatim (leading/inner spaces kept) and
 * unescaped (`\n`, `\r`, `\\`), so a message may span lines.
 * Blank lines and lines starting with `#` are ignored, so scripts can carry comments.
 */
import { unescapeText } from "./escape.js";

export type Command =
  | { kind: "id" }
  | { kind: "add"; toxId: string; message: string }
  | { kind: "accept"; publicKey: string }
  | { kind: "autoaccept"; on: boolean }
  | { kind: "msg"; friend: number; type: "normal" | "action"; text: string }
  | { kind: "name"; text: string }
  | { kind: "status"; text: string }
  | { kind: "friends" }
  | { kind: "save" }
  | { kind: "quit" }
  | { kind: "help" };

export type CommandParse = { ok: true; command: Command | null } | { ok: false; error: string };

export const COMMAND_SUMMARY = [
  "id                  print this identity (ID toxid=.. pk=.. dht=.. port=..)",
  "add TOXID MSG       send a friend request (FRIEND_ADDED n=.. pk=..)",
  "accept PUBKEY       accept a pending friend request (FRIEND_ADDED n=.. pk=..)",
  "autoaccept on|off   accept every friend request as it arrives (default off)",
  "msg N TEXT          send a message to friend N (SENT n=.. id=.., one per 1372-byte piece)",
  "action N TEXT       send an action (/me) message",
  "name TEXT           set our name",
  "status TEXT         set our status message",
  "friends             list friends (FRIEND n=.. pk=.. connection=.. name=.., then FRIENDS count=..)",
  "save                write the --save file now (SAVED bytes=.. file=..)",
  "quit                save (with --save) and exit; end of input does the same",
  "help                list the commands",
];

const KEY_HEX = /^[0-9a-fA-F]{64}$/;

/** Splits off `count` space-separated words; the remainder is the rest of the line, verbatim. */
function words(line: string, count: number): { words: string[]; rest: string } {
  const out: string[] = [];
  let rest = line;
  for (let i = 0; i < count; i++) {
    rest = rest.replace(/^[ \t]+/, "");
    const m = /^[^ \t]+/.exec(rest);
    if (m === null) break;
    out.push(m[0]);
    rest = rest.slice(m[0].length);
  }
  // One separator belongs to the syntax; anything beyond it is part of the free text.
  return { words: out, rest: rest.replace(/^[ \t]/, "") };
}

function fail(error: string): CommandParse {
  return { ok: false, error };
}

function ok(command: Command | null): CommandParse {
  return { ok: true, command };
}

/** Parses one input line (without its line terminator). Never throws. */
export function parseCommand(rawLine: string): CommandParse {
  const line = rawLine.replace(/\r$/, "");
  if (line.trim() === "" || line.trimStart().startsWith("#")) return ok(null);
  const head = words(line, 1);
  const name = head.words[0]!;
  const noArgs = (command: Command): CommandParse =>
    head.rest.trim() === "" ? ok(command) : fail(`${name}: takes no arguments`);
  switch (name) {
    case "id":
    case "friends":
    case "save":
    case "quit":
    case "help":
      return noArgs({ kind: name });
    case "add": {
      const { words: w, rest } = words(head.rest, 1);
      const toxId = w[0];
      if (toxId === undefined) return fail("add: usage: add TOXID MSG");
      if (!/^(tox:)?[0-9a-fA-F]{76}$/i.test(toxId))
        return fail(`add: a Tox ID is 76 hex characters, got "${toxId}"`);
      if (rest === "") return fail("add: a friend request needs a message: add TOXID MSG");
      return ok({
        kind: "add",
        toxId: toxId.replace(/^tox:/i, "").toUpperCase(),
        message: unescapeText(rest),
      });
    }
    case "accept": {
      const { words: w, rest } = words(head.rest, 1);
      const pk = w[0];
      if (pk === undefined || rest.trim() !== "") return fail("accept: usage: accept PUBKEY");
      if (!KEY_HEX.test(pk)) return fail(`accept: a public key is 64 hex characters, got "${pk}"`);
      return ok({ kind: "accept", publicKey: pk.toLowerCase() });
    }
    case "autoaccept": {
      const arg = head.rest.trim();
      if (arg !== "on" && arg !== "off") return fail("autoaccept: usage: autoaccept on|off");
      return ok({ kind: "autoaccept", on: arg === "on" });
    }
    case "msg":
    case "action": {
      const { words: w, rest } = words(head.rest, 1);
      const n = w[0];
      if (n === undefined) return fail(`${name}: usage: ${name} N TEXT`);
      if (!/^\d{1,9}$/.test(n))
        return fail(`${name}: friend number must be a non-negative integer, got "${n}"`);
      if (rest === "") return fail(`${name}: empty message`);
      return ok({
        kind: "msg",
        friend: Number(n),
        type: name === "msg" ? "normal" : "action",
        text: unescapeText(rest),
      });
    }
    case "name":
    case "status":
      // An empty name/status message is allowed (it clears it).
      return ok({ kind: name, text: unescapeText(head.rest) });
    default:
      return fail(`unknown command "${name}" (try "help")`);
  }
}
