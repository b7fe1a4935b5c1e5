/**
 * Rooms of the homeserver double: current state, a linear timeline, and the authorisation rules a
 * bridge runs into in practice (membership transitions, power levels for state, kicks, redactions).
 * One process-local server, so there is no DAG: the timeline order is the stream order.
 */
import { randomBytes } from "node:crypto";
import { MatrixErrors } from "./errors.js";

export type JsonObject = Record<string, unknown>;

/** An event in the Client-Server "ClientEvent" format, as /sync and AS transactions carry it. */
export interface RoomEvent {
  event_id: string;
  room_id: string;
  sender: string;
  type: string;
  content: JsonObject;
  state_key?: string;
  origin_server_ts: number;
  redacts?: string;
  unsigned?: JsonObject;
}

export type Membership = "join" | "invite" | "leave" | "ban" | "knock";

// A random prefix per process and a counter: unique, unguessable enough for tests, and cheap.
const eventIdPrefix = randomBytes(9).toString("base64url");
let eventCounter = 0;

export function newEventId(): string {
  return `$${eventIdPrefix}${(eventCounter++).toString(36)}`;
}

function stateKeyOf(type: string, stateKey: string): string {
  return `${type}\u0000${stateKey}`;
}

/** Content keys that survive redaction (room version 11 rules, the subset that matters here). */
const KEPT_ON_REDACTION: Record<string, string[]> = {
  "m.room.member": ["membership", "join_authorised_via_users_server"],
  "m.room.create": [],
  "m.room.join_rules": ["join_rule", "allow"],
  "m.room.power_levels": [
    "ban",
    "events",
    "events_default",
    "invite",
    "kick",
    "redact",
    "state_default",
    "users",
    "users_default",
  ],
  "m.room.history_visibility": ["history_visibility"],
  "m.room.redaction": ["redacts"],
};

export class Room {
  readonly timeline: RoomEvent[] = [];
  private readonly state = new Map<string, RoomEvent>();
  readonly aliases = new Set<string>();

  constructor(
    readonly roomId: string,
    readonly creator: string,
  ) {}

  getState(type: string, stateKey = ""): RoomEvent | undefined {
    return this.state.get(stateKeyOf(type, stateKey));
  }

  allState(): RoomEvent[] {
    return [...this.state.values()];
  }

  membership(userId: string): Membership | undefined {
    const m = this.getState("m.room.member", userId)?.content.membership;
    return typeof m === "string" ? (m as Membership) : undefined;
  }

  members(membership: Membership = "join"): string[] {
    const out: string[] = [];
    for (const ev of this.state.values()) {
      if (ev.type === "m.room.member" && ev.content.membership === membership && ev.state_key !== undefined) {
        out.push(ev.state_key);
      }
    }
    return out;
  }

  event(eventId: string): RoomEvent | undefined {
    return this.timeline.find((e) => e.event_id === eventId);
  }

  powerLevels(): JsonObject {
    return this.getState("m.room.power_levels")?.content ?? {};
  }

  /** The user's power level, from m.room.power_levels or (before it exists) creator = 100. */
  userLevel(userId: string): number {
    const pl = this.getState("m.room.power_levels");
    if (!pl) return userId === this.creator ? 100 : 0;
    const users = (pl.content.users ?? {}) as Record<string, unknown>;
    const level = users[userId] ?? pl.content.users_default ?? 0;
    return typeof level === "number" ? level : Number(level) || 0;
  }

  private levelFor(key: string, fallback: number): number {
    const v = this.powerLevels()[key];
    return typeof v === "number" ? v : fallback;
  }

  /** Level needed to send an event of this type (state or not). */
  requiredLevel(type: string, isState: boolean): number {
    const events = (this.powerLevels().events ?? {}) as Record<string, unknown>;
    const specific = events[type];
    if (typeof specific === "number") return specific;
    if (!this.getState("m.room.power_levels")) return 0;
    return isState ? this.levelFor("state_default", 50) : this.levelFor("events_default", 0);
  }

  /** Appends an already-authorised event; updates current state for state events. */
  append(ev: Omit<RoomEvent, "event_id" | "room_id" | "origin_server_ts"> & { origin_server_ts?: number }) {
    const full: RoomEvent = {
      event_id: newEventId(),
      room_id: this.roomId,
      origin_server_ts: ev.origin_server_ts ?? Date.now(),
      ...ev,
    } as RoomEvent;
    this.timeline.push(full);
    if (full.state_key !== undefined) {
      const prev = this.state.get(stateKeyOf(full.type, full.state_key));
      if (prev)
        full.unsigned = { ...full.unsigned, prev_content: prev.content, replaces_state: prev.event_id };
      this.state.set(stateKeyOf(full.type, full.state_key), full);
    }
    return full;
  }

  /** Checks that `sender` may send an event of this type; throws M_FORBIDDEN with the reason. */
  authoriseEvent(sender: string, type: string, stateKey: string | undefined): void {
    if (this.membership(sender) !== "join") {
      throw MatrixErrors.forbidden(`${sender} is not in room ${this.roomId}`);
    }
    const needed = this.requiredLevel(type, stateKey !== undefined);
    if (this.userLevel(sender) < needed) {
      throw MatrixErrors.forbidden(
        `${sender} has power level ${this.userLevel(sender)}, ${type} in ${this.roomId} needs ${needed}`,
      );
    }
    if (stateKey?.startsWith("@") && stateKey !== sender && type !== "m.room.member") {
      throw MatrixErrors.forbidden(`${sender} cannot set state keyed by another user (${stateKey})`);
    }
  }

  /**
   * Checks a membership change of `target` by `sender` (join, invite, leave, kick, ban) following
   * the room version 1+ auth rules, simplified: no knocking, restricted joins or third-party invites.
   */
  authoriseMembership(sender: string, target: string, next: Membership): void {
    const current = this.membership(target);
    const senderMembership = this.membership(sender);
    const joinRule = this.getState("m.room.join_rules")?.content.join_rule ?? "invite";
    switch (next) {
      case "join":
        if (sender !== target) throw MatrixErrors.forbidden("Cannot force another user to join");
        if (current === "ban") throw MatrixErrors.forbidden(`${target} is banned from ${this.roomId}`);
        if (current === "join" || current === "invite" || joinRule === "public") return;
        throw MatrixErrors.forbidden(`${target} is not invited to ${this.roomId}`);
      case "invite":
        if (senderMembership !== "join") throw MatrixErrors.forbidden(`${sender} is not in ${this.roomId}`);
        if (current === "join") throw MatrixErrors.forbidden(`${target} is already in the room.`);
        if (current === "ban") throw MatrixErrors.forbidden(`${target} is banned from the room`);
        if (this.userLevel(sender) < this.levelFor("invite", 0)) {
          throw MatrixErrors.forbidden(`${sender} does not have permission to invite`);
        }
        return;
      case "leave":
        if (sender === target) {
          if (current === "join" || current === "invite" || current === "knock") return;
          throw MatrixErrors.forbidden(`${target} is not in ${this.roomId}`);
        }
        // A kick: the sender must outrank the target and reach the kick level.
        if (senderMembership !== "join") throw MatrixErrors.forbidden(`${sender} is not in ${this.roomId}`);
        if (current !== "join" && current !== "invite") {
          throw MatrixErrors.forbidden(`${target} is not in ${this.roomId}`);
        }
        if (
          this.userLevel(sender) < this.levelFor("kick", 50) ||
          this.userLevel(sender) <= this.userLevel(target)
        ) {
          throw MatrixErrors.forbidden(`${sender} does not have permission to kick ${target}`);
        }
        return;
      case "ban":
        if (senderMembership !== "join") throw MatrixErrors.forbidden(`${sender} is not in ${this.roomId}`);
        if (
          this.userLevel(sender) < this.levelFor("ban", 50) ||
          this.userLevel(sender) <= this.userLevel(target)
        ) {
          throw MatrixErrors.forbidden(`${sender} does not have permission to ban ${target}`);
        }
        return;
      default:
        throw MatrixErrors.forbidden(`Membership ${next} is not supported by this homeserver`);
    }
  }

  /** Checks that `sender` may redact `target`: own events always, others' with the redact level. */
  authoriseRedaction(sender: string, target: RoomEvent): void {
    if (this.membership(sender) !== "join")
      throw MatrixErrors.forbidden(`${sender} is not in ${this.roomId}`);
    if (target.sender === sender) return;
    if (this.userLevel(sender) < this.levelFor("redact", 50)) {
      throw MatrixErrors.forbidden(`${sender} may not redact events of ${target.sender}`);
    }
  }

  /** Strips the target's content as the redaction algorithm does and links the redaction. */
  applyRedaction(target: RoomEvent, redaction: RoomEvent): void {
    const keep = KEPT_ON_REDACTION[target.type] ?? [];
    const content: JsonObject = {};
    for (const k of keep) if (k in target.content) content[k] = target.content[k];
    target.content = content;
    target.unsigned = { ...target.unsigned, redacted_because: redaction };
  }
}
