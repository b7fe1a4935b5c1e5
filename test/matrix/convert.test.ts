import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  htmlToPlain,
  matrixEventToTox,
  splitReplyFallback,
  toxToMatrixContent,
} from "../../src/matrix/convert.js";

const on = { degradeRich: true };
const off = { degradeRich: false };

describe("matrixEventToTox", () => {
  it("texts, notices and emotes", () => {
    expect(matrixEventToTox("m.room.message", { msgtype: "m.text", body: "hi" }, on)).toEqual({
      text: "hi",
      kind: "normal",
    });
    expect(matrixEventToTox("m.room.message", { msgtype: "m.notice", body: "n" }, on)).toEqual({
      text: "n",
      kind: "normal",
    });
    expect(matrixEventToTox("m.room.message", { msgtype: "m.emote", body: "waves" }, on)).toEqual({
      text: "waves",
      kind: "action",
    });
  });

  it("falls back to the formatted body as plain text", () => {
    const c = {
      msgtype: "m.text",
      body: "",
      format: "org.matrix.custom.html",
      formatted_body: "<b>bold</b> &amp; <i>it</i><br>next",
    };
    expect(matrixEventToTox("m.room.message", c, on)?.text).toBe("bold & it\nnext");
    expect(htmlToPlain("<mx-reply><blockquote>old</blockquote></mx-reply>new")).toBe("new");
  });

  it("replies keep the quoted original in front; the sender tag is dropped", () => {
    const c = {
      msgtype: "m.text",
      body: "> <@bob:x> original\n> line 2\n\nmy answer",
      "m.relates_to": { "m.in_reply_to": { event_id: "$1" } },
    };
    expect(matrixEventToTox("m.room.message", c, off)?.text).toBe("> original\n> line 2\nmy answer");
    expect(splitReplyFallback("no quote")).toEqual({ quoted: [], reply: "no quote" });
  });

  it("edits, reactions and redactions: readable text when degrading, nothing otherwise", () => {
    const edit = {
      msgtype: "m.text",
      body: "* fixed",
      "m.new_content": { msgtype: "m.text", body: "fixed" },
      "m.relates_to": { rel_type: "m.replace", event_id: "$1" },
    };
    const reaction = { "m.relates_to": { rel_type: "m.annotation", event_id: "$1", key: "👍" } };
    expect(matrixEventToTox("m.room.message", edit, on)).toEqual({ text: "* fixed", kind: "normal" });
    expect(matrixEventToTox("m.reaction", reaction, on)).toEqual({ text: "reacted 👍", kind: "action" });
    expect(matrixEventToTox("m.room.redaction", { redacts: "$1" }, on)).toEqual({
      text: "[deleted a message]",
      kind: "action",
    });
    expect(matrixEventToTox("m.room.message", edit, off)).toBeNull();
    expect(matrixEventToTox("m.reaction", reaction, off)).toBeNull();
    expect(matrixEventToTox("m.room.redaction", {}, off)).toBeNull();
  });

  it("media become a readable line; unknown types and empty bodies nothing", () => {
    expect(matrixEventToTox("m.room.message", { msgtype: "m.image", body: "cat.png" }, on)?.text).toBe(
      "[sent image: cat.png]",
    );
    expect(matrixEventToTox("m.room.message", { msgtype: "m.text", body: "  " }, on)).toBeNull();
    expect(matrixEventToTox("m.room.topic", { topic: "x" }, on)).toBeNull();
    expect(matrixEventToTox("m.room.message", "nonsense", on)).toBeNull();
  });

  it("is total: any JSON content gives null or a non-empty text", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("m.room.message", "m.reaction", "m.room.redaction", "x"),
        fc.jsonValue(),
        fc.boolean(),
        (type, content, degradeRich) => {
          const out = matrixEventToTox(type, content, { degradeRich });
          if (out !== null) expect(out.text.trim()).not.toBe("");
        },
      ),
    );
  });
});

describe("toxToMatrixContent", () => {
  it("actions become emotes", () => {
    expect(toxToMatrixContent("action", "a")).toEqual({ msgtype: "m.emote", body: "a" });
    expect(toxToMatrixContent("normal", "b")).toEqual({ msgtype: "m.text", body: "b" });
  });
});
