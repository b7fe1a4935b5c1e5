/**
 * A real XMPP user for tests: an @xmpp/client session on the test Prosody that records every
 * stanza it receives, so tests can wait for the one they expect (bounded by a timeout).
 */
import { type ClientElement, client, type XmppClient, xml } from "@xmpp/client";

export { xml };

export interface TestUser {
  jid: string;
  xmpp: XmppClient;
  received: ClientElement[];
  /** Resolves with the first stanza (already received or arriving) matching `pred`. */
  waitFor(pred: (el: ClientElement) => boolean, what: string, timeoutMs?: number): Promise<ClientElement>;
  stop(): Promise<void>;
}

export async function connectUser(opts: {
  service: string;
  domain: string;
  username: string;
  password: string;
  resource?: string;
  /** Send initial presence (so the server delivers messages and offline storage flushes). */
  available?: boolean;
}): Promise<TestUser> {
  const xmpp = client({
    service: opts.service,
    domain: opts.domain,
    username: opts.username,
    password: opts.password,
    resource: opts.resource ?? "test",
    // xmpp.js avoids PLAIN without TLS and picks SCRAM, whose key stretching costs about a second
    // per login; on loopback PLAIN is fine (the test Prosody allows it) and instant.
    credentials: (authenticate) =>
      authenticate({ username: opts.username, password: opts.password }, "PLAIN"),
  });
  const received: ClientElement[] = [];
  const waiters: { pred: (el: ClientElement) => boolean; resolve: (el: ClientElement) => void }[] = [];
  xmpp.on("error", () => undefined); // surfaced through start() or the waits
  xmpp.on("stanza", (el) => {
    received.push(el);
    for (const w of [...waiters]) {
      if (w.pred(el)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(el);
      }
    }
  });
  await xmpp.start();
  xmpp.reconnect.stop();
  if (opts.available ?? true) await xmpp.send(xml("presence", {}));
  const jid = `${opts.username}@${opts.domain}`;
  return {
    jid,
    xmpp,
    received,
    waitFor(pred, what, timeoutMs = 5000) {
      const seen = received.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = {
          pred,
          resolve: (el: ClientElement) => {
            clearTimeout(timer);
            resolve(el);
          },
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(
            new Error(`${jid}: no ${what} within ${timeoutMs} ms; got:\n${received.map(String).join("\n")}`),
          );
        }, timeoutMs);
        waiters.push(w);
      });
    },
    async stop() {
      await xmpp.stop().catch(() => undefined);
    },
  };
}
