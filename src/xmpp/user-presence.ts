/**
 * The user's XMPP presence as one Tox presence. A user may be online on several devices (each a
 * resource with its own show, status and priority); Tox has one status per identity. The
 * highest-priority available resource wins (the most recently updated among equals), as servers
 * pick the resource for a bare-JID message. When every resource goes offline nothing changes:
 * the bridge keeps the Tox identity online so friends can still send (stored) messages.
 */
import { presenceWordOf, type Show } from "./presence.js";

export interface ResourceState {
  show: Show | undefined;
  status: string | undefined;
  priority: number;
}

export interface ToxPresence {
  presence: "online" | "away" | "busy";
  status: string | undefined;
}

/** What to change on the Tox side after one presence update. */
export interface PresenceChange {
  presence?: "online" | "away" | "busy";
  status?: string;
}

/** Caps on what one user can make us hold (a client may invent resources). */
const MAX_RESOURCES = 64;
const MAX_USERS = 100_000;

export class UserPresenceTracker {
  private readonly users = new Map<string, Map<string, ResourceState>>();
  private readonly applied = new Map<string, ToxPresence>();

  /**
   * Records one resource's presence (`null` state = it went offline); returns what to apply to
   * Tox, or null when nothing changed.
   */
  update(user: string, resource: string, state: ResourceState | null): PresenceChange | null {
    let resources = this.users.get(user);
    if (state === null) {
      resources?.delete(resource);
      if (resources?.size === 0) this.users.delete(user);
      resources = this.users.get(user);
    } else {
      if (resources === undefined) {
        if (this.users.size >= MAX_USERS) return null;
        resources = new Map();
        this.users.set(user, resources);
      }
      resources.delete(resource); // re-insert: map order = update order
      if (resources.size >= MAX_RESOURCES) return null;
      resources.set(resource, state);
    }
    if (resources === undefined || resources.size === 0) return null;
    let best: ResourceState | undefined;
    for (const r of resources.values()) if (best === undefined || r.priority >= best.priority) best = r;
    if (best === undefined) return null;
    const next: ToxPresence = {
      presence: presenceWordOf(best.show),
      status: best.status?.trim() || undefined,
    };
    const prev = this.applied.get(user);
    const change: PresenceChange = {};
    if (prev?.presence !== next.presence) change.presence = next.presence;
    // Tox keeps the last status message; an XMPP presence without status does not clear it.
    if (next.status !== undefined && prev?.status !== next.status) change.status = next.status;
    this.applied.set(user, { presence: next.presence, status: next.status ?? prev?.status });
    return change.presence === undefined && change.status === undefined ? null : change;
  }

  /** Forget a user (unregistered). */
  forget(user: string): void {
    this.users.delete(user);
    this.applied.delete(user);
  }
}
