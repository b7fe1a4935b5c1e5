import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseCommand } from "../../../src/tools/tox-peer/commands.js";
import { escapeText } from "../../../src/tools/tox-peer/escape.js";

const TOXID = "A1".repeat(38);
const PK = "Cd".repeat(32);

function cmd(line: string) {
  const r = parseCommand(line);
  if (!r.ok) throw new Error(r.error);
  return r.command;
}
function err(line: string) {
  const r = parseCommand(line);
  if (r.ok) throw new Error(`"${line}" parsed`);
  return r.error;
}

describe("stdin commands", () => {
  it("parses every command", () => {
    expect(cmd("id")).toEqual({ kind: "id" });
    expect(cmd("friends")).toEqual({ kind: "friends" });
    expect(cmd("save")).toEqual({ kind: "save" });
    expect(cmd("quit\r")).toEqual({ kind: "quit" });
    expect(cmd(`add tox:${TOXID.toLowerCase()} hello  there`)).toEqual({
      kind: "add",
      toxId: TOXID,
      message: "hello  there",
    });
    expect(cmd(`accept ${PK}`)).toEqual({ kind: "accept", publicKey: PK.toLowerCase() });
    expect(cmd("autoaccept on")).toEqual({ kind: "autoaccept", on: true });
    expect(cmd("autoaccept off")).toEqual({ kind: "autoaccept", on: false });
    expect(cmd("msg 3  two spaces\\nand a line")).toEqual({
      kind: "msg",
      friend: 3,
      type: "normal",
      text: " two spaces\nand a line",
    });
    expect(cmd("action 0 waves")).toEqual({ kind: "msg", friend: 0, type: "action", text: "waves" });
    expect(cmd("name Alice B")).toEqual({ kind: "name", text: "Alice B" });
    expect(cmd("status")).toEqual({ kind: "status", text: "" });
    expect(cmd("")).toBeNull();
    expect(cmd("   # a comment")).toBeNull();
  });

  it("rejects bad input with a message naming the command", () => {
    expect(err("frob")).toContain('unknown command "frob"');
    expect(err("id now")).toBe("id: takes no arguments");
    expect(err("add")).toContain("usage: add TOXID MSG");
    expect(err("add 1234 hi")).toContain("76 hex characters");
    expect(err(`add ${TOXID}`)).toContain("needs a message");
    expect(err("accept xyz")).toContain("64 hex characters");
    expect(err(`accept ${PK} extra`)).toContain("usage");
    expect(err("autoaccept maybe")).toContain("on|off");
    expect(err("msg x hi")).toContain("non-negative integer");
    expect(err("msg -1 hi")).toContain("non-negative integer");
    expect(err("msg 1")).toContain("empty message");
  });

  it("is total and carries any text through escaping unchanged", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), (line) => {
        parseCommand(line); // never throws
      }),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", minLength: 1 }), fc.nat(1000), (text, n) => {
        expect(cmd(`msg ${n} ${escapeText(text)}`)).toEqual({ kind: "msg", friend: n, type: "normal", text });
        expect(cmd(`name ${escapeText(text)}`)).toEqual({ kind: "name", text });
      }),
      { numRuns: 500 },
    );
  });
});
