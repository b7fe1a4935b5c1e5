/**
 * JIDs as the gateway needs them: split, compare bare JIDs, and map Tox public keys to contact
 * JIDs (`<64 hex>@<gateway domain>`) and back. Pure; no stringprep beyond lower-casing the local
 * part and domain (the server in front of us has already applied the full profiles).
 */

export interface Jid {
  local: string;
  domain: string;
  resource: string;
}

const MAX_PART = 1023;

/** Splits `local@domain/resource`; null when it is not a well-formed JID. */
export function parseJid(s: string | undefined): Jid | null {
  if (s === undefined || s.length === 0 || s.length > 3 * MAX_PART + 2) return null;
  const slash = s.indexOf("/");
  const bare = slash === -1 ? s : s.slice(0, slash);
  const resource = slash === -1 ? "" : s.slice(slash + 1);
  if (slash !== -1 && resource.length === 0) return null;
  const at = bare.indexOf("@");
  const local = at === -1 ? "" : bare.slice(0, at);
  const domain = (at === -1 ? bare : bare.slice(at + 1)).toLowerCase().replace(/\.$/, "");
  if (at !== -1 && local.length === 0) return null;
  if (domain.length === 0 || domain.includes("@") || /[\s<>"'&/]/.test(domain)) return null;
  // Empty labels ("a..b", ".a", "a.." once the one allowed trailing dot is gone) name no host.
  if (domain.startsWith(".") || domain.endsWith(".") || domain.includes("..")) return null;
  if (local.length > MAX_PART || domain.length > MAX_PART || resource.length > MAX_PART) return null;
  if (/[\s"&'/:<>@]/.test(local)) return null;
  return { local: local.toLowerCase(), domain, resource };
}

export function bareJid(j: Jid): string {
  return j.local ? `${j.local}@${j.domain}` : j.domain;
}

export function formatJid(j: Jid): string {
  return j.resource ? `${bareJid(j)}/${j.resource}` : bareJid(j);
}

const PK_HEX = /^[0-9a-f]{64}$/;

/** The JID of a Tox friend: its public key (lower-case hex) at the gateway domain. */
export function contactJid(publicKeyHex: string, gatewayDomain: string): string {
  return `${publicKeyHex.toLowerCase()}@${gatewayDomain}`;
}

/** The friend public key (lower-case hex) a JID at the gateway names, or null. */
export function publicKeyOfJid(j: Jid, gatewayDomain: string): string | null {
  if (j.domain !== gatewayDomain.toLowerCase()) return null;
  const local = j.local.toLowerCase();
  return PK_HEX.test(local) ? local : null;
}
