import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fmt, parseEventLine } from "../../../src/tools/tox-peer/events.js";

const PK = "ab".repeat(32);

describe("event lines", () => {
  it("formats every event as the spec says", () => {
    expect(fmt.ready("TOXID", "dd", 33445)).toBe("READY toxid=TOXID dht=dd port=33445");
    expect(fmt.selfConnection("udp")).toBe("SELF_CONNECTION udp");
    expect(fmt.friendRequest(PK, "hi\nthere")).toBe(`FRIEND_REQUEST pk=${PK} msg=hi\\nthere`);
    expect(fmt.friendConnection(3, "tcp")).toBe("FRIEND_CONNECTION n=3 tcp");
    expect(fmt.friendMessage(0, "action", "waves")).toBe("FRIEND_MESSAGE n=0 type=action text=waves");
    expect(fmt.readReceipt(1, 7)).toBe("READ_RECEIPT n=1 id=7");
    expect(fmt.friendName(2, "A B")).toBe("FRIEND_NAME n=2 name=A B");
    expect(fmt.error("msg: bad\\thing\n")).toBe("ERROR msg: bad\\\\thing\\n");
    expect(fmt.sent(0, 1)).toBe("SENT n=0 id=1");
    expect(fmt.friend(0, PK, "none", "")).toBe(`FRIEND n=0 pk=${PK} connection=none name=`);
  });

  it("parses lines back, free text last and unescaped", () => {
    expect(parseEventLine("SELF_CONNECTION udp")).toEqual({
      tag: "SELF_CONNECTION",
      fields: {},
      words: ["udp"],
    });
    expect(parseEventLine("FRIEND_CONNECTION n=3 none")).toEqual({
      tag: "FRIEND_CONNECTION",
      fields: { n: "3" },
      words: ["none"],
    });
    const m = parseEventLine("FRIEND_MESSAGE n=0 type=normal text=a b=c text=d\\n");
    expect(m.fields).toEqual({ n: "0", type: "normal", text: "a b=c text=d\n" });
    expect(parseEventLine("ERROR x: y\\\\z").fields.message).toBe("x: y\\z");
  });

  it("round-trips any free text through format and parse", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), fc.nat(), (text, n) => {
        for (const line of [
          fmt.friendMessage(n, "normal", text),
          fmt.friendRequest(PK, text),
          fmt.friendName(n, text),
          fmt.friend(n, PK, "udp", text),
        ]) {
          expect(line).not.toMatch(/[\n\r]/);
          const p = parseEventLine(line);
          expect(p.fields.text ?? p.fields.msg ?? p.fields.name).toBe(text);
        }
        expect(parseEventLine(fmt.error(text)).fields.message).toBe(text);
      }),
      { numRuns: 500 },
    );
  });
});
