/**
 * Records every ToxNode event into per-event arrays, for tests that assert on what a node
 * reported. The literal lists every event, so a new event in ToxNodeEvents fails to typecheck
 * here until it is recorded too.
 */
import type { ToxNode } from "../../../src/tox/index.js";
import type { ToxNodeEvents } from "../../../src/tox/node/events.js";

export type EventLog = { [K in keyof ToxNodeEvents]: ToxNodeEvents[K][0][] };

export function recordEvents(node: ToxNode): EventLog {
  const log: EventLog = {
    friendRequest: [],
    selfConnection: [],
    friendConnection: [],
    friendMessage: [],
    readReceipt: [],
    friendName: [],
    friendStatusMessage: [],
    friendStatus: [],
    friendTyping: [],
    conferenceInvite: [],
    conferenceConnected: [],
    conferenceMessage: [],
    conferenceTitle: [],
    conferencePeerName: [],
    conferencePeerList: [],
    conferencePeerLeft: [],
    fileOffer: [],
    fileControl: [],
    fileComplete: [],
    fileEnded: [],
    error: [],
  };
  for (const k of Object.keys(log) as (keyof ToxNodeEvents)[])
    (node.on as (e: string, l: (x: unknown) => void) => void)(k, (e) => (log[k] as unknown[]).push(e));
  return log;
}
