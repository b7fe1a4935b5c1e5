/**
 * Typed access to xmpp.js's XML elements (ltx) and the XEP-0114 component connection, which ship
 * without TypeScript types. Loaded through `createRequire` anchored at `@xmpp/component` (our
 * dependency), so its own dependencies resolve even where they are not hoisted.
 */
import { createRequire } from "node:module";

/** The part of ltx's Element this project uses. */
export interface XmlElement {
  name: string;
  attrs: Record<string, string | undefined>;
  children: (XmlElement | string)[];
  parent: XmlElement | null;
  is(name: string, xmlns?: string): boolean;
  getNS(): string | undefined;
  getChild(name: string, xmlns?: string): XmlElement | undefined;
  getChildren(name: string, xmlns?: string): XmlElement[];
  getChildElements(): XmlElement[];
  getChildText(name: string, xmlns?: string): string | null;
  getText(): string;
  append(...nodes: (XmlElement | string)[]): XmlElement;
  toString(): string;
}

export type XmlChild = XmlElement | string | null | undefined | false | XmlChild[];

interface XmlModule {
  (
    name: string,
    attrs?: Record<string, string | number | undefined> | null,
    ...children: XmlChild[]
  ): XmlElement;
  Element: new (name: string, attrs?: Record<string, string>) => XmlElement;
}

/** The `Component` class of @xmpp/component-core (a @xmpp/connection-tcp subclass). */
export interface ComponentConnection {
  status: string;
  jid: unknown;
  timeout: number;
  options: { service: string; domain: string };
  /** The TCP socket while connected. */
  socket: { setNoDelay?(noDelay: boolean): unknown } | null;
  on(event: "stanza" | "nonza" | "element", listener: (el: XmlElement) => void): void;
  on(event: "open", listener: (el: XmlElement) => void): void;
  on(event: "status", listener: (status: string, ...args: unknown[]) => void): void;
  on(event: "error", listener: (err: Error) => void): void;
  on(event: "online" | "offline" | "disconnect", listener: (...args: unknown[]) => void): void;
  removeAllListeners(event?: string): void;
  connect(service: string): Promise<void>;
  open(options: { domain: string; lang?: string }): Promise<XmlElement>;
  authenticate(id: string, password: string): Promise<void>;
  send(el: XmlElement): Promise<void>;
  stop(): Promise<unknown>;
  disconnect(timeout?: number): Promise<void>;
}

const requireFromHere = createRequire(import.meta.url);
const requireFromComponent = createRequire(requireFromHere.resolve("@xmpp/component"));

const xmlModule = requireFromComponent("@xmpp/xml") as XmlModule;
const componentCore = requireFromComponent("@xmpp/component-core") as {
  Component: new (options: { service: string; domain: string }) => ComponentConnection;
};

/** Builds an element: `xml("message", {to}, xml("body", {}, text))`; null/false children are skipped. */
export function xml(
  name: string,
  attrs?: Record<string, string | number | undefined> | null,
  ...children: XmlChild[]
): XmlElement {
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrs ?? {})) if (v !== undefined) clean[k] = String(v);
  const flat: (XmlElement | string)[] = [];
  const walk = (c: XmlChild) => {
    if (c === null || c === undefined || c === false) return;
    if (Array.isArray(c)) for (const x of c) walk(x);
    else flat.push(c);
  };
  for (const c of children) walk(c);
  return xmlModule(name, clean, ...flat);
}

export function isElement(x: unknown): x is XmlElement {
  return x instanceof xmlModule.Element;
}

export function newComponentConnection(service: string, domain: string): ComponentConnection {
  return new componentCore.Component({ service, domain });
}

/** The first child element with this name and namespace (namespace from the child's own xmlns). */
export function child(el: XmlElement, name: string, xmlns: string): XmlElement | undefined {
  return el.getChildElements().find((c) => c.name === name && c.attrs.xmlns === xmlns);
}

/** The first child element in this namespace, whatever its name. */
export function childNs(el: XmlElement, xmlns: string): XmlElement | undefined {
  return el.getChildElements().find((c) => c.attrs.xmlns === xmlns);
}
