/**
 * XEP-0100 `jabber:iq:gateway`: the prompt ("Tox ID") and turning what the user typed into the
 * contact JID `<public key>@<gateway>`. Pure.
 */
import { parseAddress, type ToxAddress } from "../tox/address.js";
import { toHex } from "../tox/bytes.js";
import { StanzaError } from "./errors.js";
import { contactJid } from "./jid.js";
import { NS } from "./namespaces.js";
import { type XmlElement, xml } from "./xml.js";

export const PROMPT = "Tox ID";
export const PROMPT_DESC = "Enter the Tox ID of your friend (76 hex characters, or a tox: URI).";

export function gatewayPrompt(): XmlElement {
  return xml("query", { xmlns: NS.gateway }, xml("desc", {}, PROMPT_DESC), xml("prompt", {}, PROMPT));
}

const MAX_PROMPT = 256;

/** The friend's address and JID for a submitted prompt; StanzaError for a bad Tox ID or checksum. */
export function resolvePrompt(
  query: XmlElement,
  gatewayDomain: string,
): { address: ToxAddress; jid: string } {
  const text = query.getChildText("prompt");
  if (text === null || text.trim().length === 0) throw new StanzaError("bad-request", "empty prompt");
  if (text.length > MAX_PROMPT) throw new StanzaError("bad-request", "prompt too long");
  const parsed = parseAddress(text);
  if (!parsed.ok) throw new StanzaError("not-acceptable", `not a Tox ID: ${parsed.error.message}`);
  return { address: parsed.value, jid: contactJid(toHex(parsed.value.publicKey), gatewayDomain) };
}

export function gatewayAnswer(jid: string): XmlElement {
  // XEP-0100 §6.3 answers with <jid/>; older clients read <prompt/>, so give both.
  return xml("query", { xmlns: NS.gateway }, xml("jid", {}, jid), xml("prompt", {}, jid));
}
