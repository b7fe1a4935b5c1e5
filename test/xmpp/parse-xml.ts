/** Parses an XML string into an xmpp.js (ltx) element, for writing test stanzas as text. */
import { createRequire } from "node:module";
import type { XmlElement } from "../../src/xmpp/xml.js";

const req = createRequire(createRequire(import.meta.url).resolve("@xmpp/component"));
const xmlReq = createRequire(req.resolve("@xmpp/xml"));
const ltxParse = xmlReq("ltx/lib/parse.js") as (s: string) => XmlElement;

export function parseXml(s: string): XmlElement {
  return ltxParse(s);
}
