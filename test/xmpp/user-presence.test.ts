import { describe, expect, it } from "vitest";
import { parsePriority } from "../../src/xmpp/presence.js";
import { UserPresenceTracker } from "../../src/xmpp/user-presence.js";

describe("UserPresenceTracker", () => {
  it("applies the highest-priority resource and only reports changes", () => {
    const t = new UserPresenceTracker();
    expect(t.update("u@h", "phone", { show: "away", status: "on the go", priority: 0 })).toEqual({
      presence: "away",
      status: "on the go",
    });
    expect(t.update("u@h", "phone", { show: "away", status: "on the go", priority: 0 })).toBeNull();
    // The desktop has higher priority: it wins.
    expect(t.update("u@h", "desktop", { show: undefined, status: "working", priority: 5 })).toEqual({
      presence: "online",
      status: "working",
    });
    // The phone changing does not matter while the desktop is there.
    expect(t.update("u@h", "phone", { show: "dnd", status: "x", priority: 0 })).toBeNull();
    // Desktop goes offline: back to the phone.
    expect(t.update("u@h", "desktop", null)).toEqual({ presence: "busy", status: "x" });
    // Everything offline: nothing changes (the Tox identity stays as it was).
    expect(t.update("u@h", "phone", null)).toBeNull();
  });

  it("keeps the status message when a presence has none", () => {
    const t = new UserPresenceTracker();
    t.update("u@h", "a", { show: undefined, status: "hello", priority: 0 });
    expect(t.update("u@h", "a", { show: "xa", status: undefined, priority: 0 })).toEqual({
      presence: "away",
    });
  });

  it("reads priorities", () => {
    expect(parsePriority(null)).toBe(0);
    expect(parsePriority(" -5 ")).toBe(-5);
    expect(parsePriority("128")).toBeNull();
    expect(parsePriority("1e2")).toBeNull();
  });
});
