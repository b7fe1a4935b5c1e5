/**
 * XMPP stanza errors (RFC 6120 §8.3): a typed error the gateway throws while handling a stanza,
 * and the error reply built from it. Errors are never answered with errors (no loops).
 */
import { isCoreError } from "./core-port.js";
import { NS } from "./namespaces.js";
import type { XmppLogger } from "./router.js";
import { type XmlElement, xml } from "./xml.js";

export type ErrorType = "auth" | "cancel" | "continue" | "modify" | "wait";

export type ErrorCondition =
  | "bad-request"
  | "conflict"
  | "feature-not-implemented"
  | "forbidden"
  | "internal-server-error"
  | "item-not-found"
  | "jid-malformed"
  | "not-acceptable"
  | "not-allowed"
  | "policy-violation"
  | "recipient-unavailable"
  | "registration-required"
  | "resource-constraint"
  | "service-unavailable"
  | "undefined-condition";

/** The type RFC 6120 §8.3.3 suggests for each condition. */
const DEFAULT_TYPE: Record<ErrorCondition, ErrorType> = {
  "bad-request": "modify",
  conflict: "cancel",
  "feature-not-implemented": "cancel",
  forbidden: "auth",
  "internal-server-error": "cancel",
  "item-not-found": "cancel",
  "jid-malformed": "modify",
  "not-acceptable": "modify",
  "not-allowed": "cancel",
  "policy-violation": "modify",
  "recipient-unavailable": "wait",
  "registration-required": "auth",
  "resource-constraint": "wait",
  "service-unavailable": "cancel",
  "undefined-condition": "cancel",
};

/** A failure to handle one stanza, reported to its sender as an XMPP error. */
export class StanzaError extends Error {
  override readonly name = "StanzaError";
  readonly type: ErrorType;
  /** Human-readable explanation sent in the error's <text/>. */
  readonly text: string | undefined;
  constructor(
    readonly condition: ErrorCondition,
    text?: string,
    type?: ErrorType,
  ) {
    super(text ?? condition);
    this.type = type ?? DEFAULT_TYPE[condition];
    this.text = text;
  }
}

/** Core error codes (src/core/errors.ts) as XMPP conditions; the core's message becomes the text. */
const CORE_CONDITIONS: Record<string, ErrorCondition> = {
  "no-account": "registration-required",
  "account-exists": "conflict",
  "bad-tox-id": "bad-request",
  "own-tox-id": "not-acceptable",
  "already-friend": "conflict",
  "unknown-friend": "item-not-found",
  "ambiguous-friend": "bad-request",
  "not-permitted": "forbidden",
  "bad-argument": "bad-request",
  "empty-message": "not-acceptable",
};

/** Any error as a StanzaError: core errors keep their message, anything else is internal. */
export function toStanzaError(err: unknown): StanzaError {
  if (err instanceof StanzaError) return err;
  if (isCoreError(err))
    return new StanzaError(CORE_CONDITIONS[err.code] ?? "undefined-condition", err.message);
  return new StanzaError("internal-server-error");
}

export function errorElement(err: StanzaError): XmlElement {
  return xml(
    "error",
    { type: err.type },
    xml(err.condition, { xmlns: NS.stanzas }),
    err.text !== undefined && xml("text", { xmlns: NS.stanzas, "xml:lang": "en" }, err.text),
  );
}

/**
 * The error reply to `stanza` (same kind and id, addresses swapped), or null when the stanza is
 * itself an error or an iq result, which must never be answered.
 */
export function errorReply(stanza: XmlElement, err: StanzaError): XmlElement | null {
  const type = stanza.attrs.type;
  if (type === "error" || (stanza.name === "iq" && type === "result")) return null;
  return xml(
    stanza.name,
    { type: "error", id: stanza.attrs.id, from: stanza.attrs.to, to: stanza.attrs.from },
    errorElement(err),
  );
}

/**
 * What a stanza handler answers when handling `stanza` threw: the error is logged (internal
 * failures as errors, refusals at debug level) and turned into the error reply, if one is owed.
 */
export function failureReply(
  stanza: XmlElement,
  err: unknown,
  log: XmppLogger,
  what: string,
): XmlElement | null {
  const error = toStanzaError(err);
  const context = {
    from: stanza.attrs.from,
    to: stanza.attrs.to,
    kind: stanza.name,
    id: stanza.attrs.id,
    condition: error.condition,
  };
  if (error.condition === "internal-server-error")
    log.error(
      { ...context, err: err instanceof Error ? err.message : String(err) },
      `${what}: stanza failed`,
    );
  else log.debug({ ...context, text: error.text }, `${what}: stanza refused`);
  return errorReply(stanza, error);
}
