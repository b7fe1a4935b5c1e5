import { describe, expect, it } from "vitest";
import { isAdmin, permissionFor } from "../../src/config/permissions.js";

describe("permissionFor", () => {
  const perms = {
    "*": "user",
    "example.org": "user",
    "@root:example.org": "admin",
    "boss@xmpp.example.net": "admin",
    "closed.example": "user",
  } as const;

  it("prefers the exact account, then the domain, then *", () => {
    expect(permissionFor(perms, "@root:example.org")).toBe("admin");
    expect(permissionFor(perms, "@alice:example.org")).toBe("user");
    expect(permissionFor(perms, "@eve:elsewhere.net")).toBe("user");
    expect(permissionFor(perms, "boss@xmpp.example.net")).toBe("admin");
    expect(permissionFor(perms, "worker@xmpp.example.net")).toBe("user");
  });

  it("lets a specific entry lower a broad one", () => {
    const p = { "*": "admin", "@bob:example.org": "user" } as const;
    expect(permissionFor(p, "@bob:example.org")).toBe("user");
    expect(permissionFor(p, "@carol:example.org")).toBe("admin");
  });

  it("returns null when nothing matches or the id is malformed", () => {
    const p = { "example.org": "user" } as const;
    expect(permissionFor(p, "@alice:other.org")).toBeNull();
    expect(permissionFor(p, "not-an-id")).toBeNull();
    expect(permissionFor(p, "@:example.org")).toBeNull();
    expect(permissionFor(p, "alice@example.org/phone")).toBeNull();
    expect(permissionFor({}, "@alice:example.org")).toBeNull();
  });

  it("compares JIDs and domains case-insensitively but Matrix ids exactly", () => {
    expect(permissionFor({ "Example.ORG": "user" }, "@a:example.org")).toBe("user");
    expect(permissionFor({ "Boss@Example.org": "admin" }, "boss@EXAMPLE.org")).toBe("admin");
    expect(permissionFor({ "@Root:example.org": "admin" }, "@root:example.org")).toBeNull();
  });

  it("isAdmin", () => {
    expect(isAdmin(perms, "@root:example.org")).toBe(true);
    expect(isAdmin(perms, "@alice:example.org")).toBe(false);
  });
});
