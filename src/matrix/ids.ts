/** Matrix user ids of the bridge's own users: the bot and one ghost per Tox friend. */

export interface MatrixNames {
  domain: string;
  botLocalpart: string;
  /** Ghost localparts are this prefix followed by the friend's public key in lower-case hex. */
  userPrefix: string;
}

export function botUserId(n: MatrixNames): string {
  return `@${n.botLocalpart}:${n.domain}`;
}

export function ghostUserId(n: MatrixNames, friendKey: string): string {
  return `@${n.userPrefix}${friendKey.toLowerCase()}:${n.domain}`;
}

/** The friend key (lower-case hex) a ghost id stands for, or null for any other user id. */
export function friendKeyOfGhost(n: MatrixNames, userId: string): string | null {
  const prefix = `@${n.userPrefix}`;
  const suffix = `:${n.domain}`;
  if (!userId.startsWith(prefix) || !userId.endsWith(suffix)) return null;
  const key = userId.slice(prefix.length, userId.length - suffix.length);
  return /^[0-9a-f]{64}$/.test(key) ? key : null;
}

/** Users the bridge puppets itself: their events must never be bridged back. */
export function isBridgeUser(n: MatrixNames, userId: string): boolean {
  return userId === botUserId(n) || userId.startsWith(`@${n.userPrefix}`);
}
