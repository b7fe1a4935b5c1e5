/**
 * Appservice namespace matching, as the AS API defines it: a user, alias or room is in a namespace
 * when one of the registration's regexes matches the whole identifier (Synapse anchors the regexes
 * the same way).
 */
import type { Registration } from "../../../src/config/registration.js";

export interface Namespace {
  exclusive: boolean;
  regex: RegExp;
}

export interface AppserviceNamespaces {
  users: Namespace[];
  aliases: Namespace[];
  rooms: Namespace[];
  /** `@<sender_localpart>:<domain>`: always the appservice's own, whatever the regexes say. */
  botUserId: string;
}

function compile(list: Array<{ exclusive: boolean; regex: string }>): Namespace[] {
  return list.map((n) => ({ exclusive: n.exclusive, regex: new RegExp(`^(?:${n.regex})$`) }));
}

export function compileNamespaces(reg: Registration, domain: string): AppserviceNamespaces {
  return {
    users: compile(reg.namespaces.users),
    aliases: compile(reg.namespaces.aliases),
    rooms: compile(reg.namespaces.rooms),
    botUserId: `@${reg.sender_localpart}:${domain}`,
  };
}

function matches(list: Namespace[], id: string, exclusiveOnly: boolean): boolean {
  return list.some((n) => (!exclusiveOnly || n.exclusive) && n.regex.test(id));
}

/** The appservice may register, masquerade as, and is told about this user. */
export function ownsUser(ns: AppserviceNamespaces, userId: string): boolean {
  return userId === ns.botUserId || matches(ns.users, userId, false);
}

/** Nobody but the appservice may register this user. */
export function claimsUserExclusively(ns: AppserviceNamespaces, userId: string): boolean {
  return userId === ns.botUserId || matches(ns.users, userId, true);
}

export function ownsAlias(ns: AppserviceNamespaces, alias: string): boolean {
  return matches(ns.aliases, alias, false);
}

export function ownsRoom(ns: AppserviceNamespaces, roomId: string): boolean {
  return matches(ns.rooms, roomId, false);
}
