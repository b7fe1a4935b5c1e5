/**
 * Room nicknames for Tox conference peers. A MUC nick must be unique in its room, and Tox names
 * are not (two peers may both be "Tox User", or have no name at all), so each peer gets its name
 * when free and the name plus a short key prefix otherwise. Assignments are sticky: a peer keeps
 * its nick while its name stays the same, so a newcomer with the same name never renames an
 * occupant clients already show. Pure.
 */

/** Longest nick we produce, in characters (servers commonly allow 1023 bytes; clients show less). */
const MAX_NICK = 48;

/** A peer's name made fit for a JID resource: no control characters, one line, not too long. */
export function cleanNick(name: string): string {
  const oneLine = name
    .replace(/\p{Cc}+/gu, " ")
    .replace(/\s+/g, " ")
    .trim();
  return [...oneLine].slice(0, MAX_NICK).join("").trim();
}

/** What a peer would be called if nobody else had its name. */
export function baseNick(name: string, publicKey: string): string {
  return cleanNick(name) || `Tox ${publicKey.slice(0, 8).toUpperCase()}`;
}

function candidates(base: string, publicKey: string): string[] {
  const key = publicKey.toUpperCase();
  return [base, `${base} [${key.slice(0, 6)}]`, `${base} [${key.slice(0, 16)}]`, `${base} [${key}]`];
}

export interface NickPeer {
  publicKey: string;
  name: string;
}

/**
 * Nicks for `peers` (by public key). `previous` is the last assignment (kept where still valid);
 * `reserved` are nicks no peer may take (the user's own nick in the room).
 */
export function assignNicks(
  peers: readonly NickPeer[],
  previous: ReadonlyMap<string, string>,
  reserved: ReadonlySet<string>,
): Map<string, string> {
  const taken = new Set(reserved);
  const out = new Map<string, string>();
  const rest: NickPeer[] = [];
  for (const p of peers) {
    const old = previous.get(p.publicKey);
    if (
      old !== undefined &&
      candidates(baseNick(p.name, p.publicKey), p.publicKey).includes(old) &&
      !taken.has(old)
    ) {
      out.set(p.publicKey, old);
      taken.add(old);
    } else {
      rest.push(p);
    }
  }
  // Newcomers and renamed peers in key order, so the outcome does not depend on list order.
  rest.sort((a, b) => (a.publicKey < b.publicKey ? -1 : a.publicKey > b.publicKey ? 1 : 0));
  for (const p of rest) {
    const nick =
      candidates(baseNick(p.name, p.publicKey), p.publicKey).find((c) => !taken.has(c)) ??
      p.publicKey.toUpperCase();
    out.set(p.publicKey, nick);
    taken.add(nick);
  }
  return out;
}
