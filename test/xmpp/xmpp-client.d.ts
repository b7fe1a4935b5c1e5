/** The part of @xmpp/client (shipped without types) the tests use. */
declare module "@xmpp/client" {
  export interface ClientElement {
    name: string;
    attrs: Record<string, string | undefined>;
    children: (ClientElement | string)[];
    is(name: string, xmlns?: string): boolean;
    getChild(name: string, xmlns?: string): ClientElement | undefined;
    getChildren(name: string, xmlns?: string): ClientElement[];
    getChildElements(): ClientElement[];
    getChildText(name: string, xmlns?: string): string | null;
    getText(): string;
    toString(): string;
  }
  type Child = ClientElement | string | null | undefined | Child[];
  export function xml(
    name: string,
    attrs?: Record<string, string | undefined> | null,
    ...children: Child[]
  ): ClientElement;
  export interface XmppClient {
    status: string;
    on(event: "stanza", listener: (el: ClientElement) => void): void;
    on(event: "online", listener: (jid: unknown) => void): void;
    on(event: "error", listener: (err: Error) => void): void;
    on(event: string, listener: (...args: unknown[]) => void): void;
    start(): Promise<unknown>;
    stop(): Promise<unknown>;
    send(el: ClientElement): Promise<void>;
    write(s: string): Promise<void>;
    reconnect: { stop(): void };
    iqCaller: {
      request(iq: ClientElement, timeout?: number): Promise<ClientElement>;
      get(el: ClientElement, to?: string, timeout?: number): Promise<ClientElement>;
      set(el: ClientElement, to?: string, timeout?: number): Promise<ClientElement>;
    };
  }
  export function client(options: {
    service: string;
    domain: string;
    username: string;
    password: string;
    resource?: string;
    credentials?: (
      authenticate: (creds: { username: string; password: string }, mechanism: string) => Promise<void>,
      mechanisms: string[],
    ) => Promise<void>;
  }): XmppClient;
}
