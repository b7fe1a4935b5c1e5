/**
 * Who may use the bridge, from `bridge.permissions`. The most specific entry wins: the exact
 * account, then its domain, then `*`, so `"*": admin` with `"@bob:example.org": user` leaves Bob
 * an ordinary user. Matrix ids compare exactly (they are case-sensitive); JIDs and domains compare
 * case-insensitively, as XMPP and DNS do.
 */
export type PermissionLevel = "user" | "admin";

/** Splits `@alice:example.org` or `alice@example.org` into its lookup keys, most specific first. */
function lookupKeys(who: string): string[] | null {
  if (who.startsWith("@")) {
    const colon = who.indexOf(":");
    if (colon < 2 || colon === who.length - 1) return null;
    return [who, who.slice(colon + 1).toLowerCase()];
  }
  const at = who.lastIndexOf("@");
  if (at < 1 || at === who.length - 1 || who.includes("/")) return null; // full JIDs are not accounts
  return [who.toLowerCase(), who.slice(at + 1).toLowerCase()];
}

/** The level granted to a Matrix user id or bare JID, or null when the bridge is closed to them. */
export function permissionFor(
  permissions: Readonly<Record<string, PermissionLevel>>,
  who: string,
): PermissionLevel | null {
  const keys = lookupKeys(who);
  if (!keys) return null;
  const normalised = new Map<string, PermissionLevel>();
  for (const [key, level] of Object.entries(permissions)) {
    normalised.set(key.startsWith("@") ? key : key.toLowerCase(), level);
  }
  for (const key of keys) {
    const level = normalised.get(key);
    if (level) return level;
  }
  return normalised.get("*") ?? null;
}

export function isAdmin(permissions: Readonly<Record<string, PermissionLevel>>, who: string): boolean {
  return permissionFor(permissions, who) === "admin";
}
