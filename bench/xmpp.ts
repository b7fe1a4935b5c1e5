/**
 * The XMPP gateway: what it costs per stanza, and what it adds to a real Prosody (Debian 0.12)
 * on loopback, against the anchor of the same Prosody relaying client-to-client messages.
 * - router only: GatewayRouter.handle on parsed stanzas, fake core (no I/O);
 * - Prosody c2s -> c2s: alice -> bob directly (the anchor: the server's own cost);
 * - user -> gateway -> core.send: alice -> Prosody -> component -> router -> (fake) core;
 * - core -> user: XmppFrontend.deliverMessage (each confirmed by a barrier ping) -> Prosody -> alice;
 * - iq ping round trip: alice -> Prosody -> gateway -> Prosody -> alice.
 *
 * Run: npx tsx bench/xmpp.ts [N]   (or `npm run bench`). Ports from test/helpers/prosody.
 */
import { XmppComponent } from "../src/xmpp/component.js";
import { XmppFrontend } from "../src/xmpp/frontend.js";
import { NS } from "../src/xmpp/namespaces.js";
import { GatewayRouter } from "../src/xmpp/router.js";
import { startProsody } from "../test/helpers/prosody/index.js";
import { FakeCore, friendView } from "../test/xmpp/fake-core.js";
import { parseXml } from "../test/xmpp/parse-xml.js";
import { connectUser, xml } from "../test/xmpp/user.js";
import { runIfMain } from "./lib/runner.js";
import { ratePerSecond, summarize } from "./lib/stats.js";
import { printTable } from "./lib/table.js";
import { nowMs, until } from "./lib/timing.js";

const GW = "tox.localhost";

export default async function main(): Promise<void> {
  const n = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 2000);
  const core = new FakeCore();
  const account = core.createAccount("alice@localhost");
  const pk = "ab".repeat(32);
  account.friends.set(pk, friendView(pk, "accepted", { online: true }));
  const router = new GatewayRouter({ domain: GW, core, permissions: () => ({ localhost: "user" }) });

  const rows: (string | number)[][] = [];
  const routerRuns = 10 * n;
  const chats = Array.from({ length: routerRuns }, (_, i) =>
    parseXml(
      `<message type="chat" id="b${i}" from="alice@localhost/r" to="${pk}@${GW}"><body>hello ${i}</body></message>`,
    ),
  );
  let t0 = nowMs();
  for (const s of chats) await router.handle(s);
  rows.push(["router: chat to contact", routerRuns, ratePerSecond(routerRuns, nowMs() - t0)]);
  const disco = parseXml(
    `<iq type="get" id="d" from="alice@localhost/r" to="${GW}"><query xmlns="${NS.discoInfo}"/></iq>`,
  );
  t0 = nowMs();
  for (let i = 0; i < routerRuns; i++) await router.handle(disco);
  rows.push(["router: disco#info", routerRuns, ratePerSecond(routerRuns, nowMs() - t0)]);

  t0 = nowMs();
  const prosody = await startProsody({
    components: [{ domain: GW, secret: "bench" }],
    users: [
      { username: "alice", password: "pw" },
      { username: "bob", password: "pw" },
    ],
  });
  const prosodyStartMs = nowMs() - t0;
  const component = new XmppComponent({
    service: prosody.componentService,
    domain: GW,
    secret: "bench",
    router,
  });
  const frontend = new XmppFrontend(GW, component);
  try {
    await component.start();
    const user = (username: string) =>
      connectUser({ service: prosody.c2sService, domain: "localhost", username, password: "pw" });
    const [alice, bob] = await Promise.all([user("alice"), user("bob")]);

    // Anchor: Prosody relaying alice -> bob.
    let got = 0;
    bob.xmpp.on("stanza", (el) => {
      if (el.name === "message" && el.getChildText("body") !== null) got++;
    });
    t0 = nowMs();
    for (let i = 0; i < n; i++)
      await alice.xmpp.send(xml("message", { to: "bob@localhost", type: "chat" }, xml("body", {}, `m ${i}`)));
    await until(() => got >= n, 60_000, "bob's messages");
    rows.push(["Prosody c2s -> c2s (anchor)", n, ratePerSecond(n, nowMs() - t0)]);

    core.sent.length = 0;
    t0 = nowMs();
    for (let i = 0; i < n; i++)
      await alice.xmpp.send(
        xml("message", { to: `${pk}@${GW}`, type: "chat", id: `m${i}` }, xml("body", {}, `msg ${i}`)),
      );
    await until(() => core.sent.length >= n, 60_000, "core sends");
    rows.push(["user -> gateway -> core.send", n, ratePerSecond(n, nowMs() - t0)]);

    let delivered = 0;
    alice.xmpp.on("stanza", (el) => {
      if (el.name === "message" && el.attrs.from === `${pk}@${GW}` && el.getChildText("body") !== null)
        delivered++;
    });
    t0 = nowMs();
    for (let i = 0; i < n; i++)
      await frontend.deliverMessage(account.ref, {
        friend: pk,
        kind: "normal",
        text: `in ${i}`,
        receivedAt: new Date(),
        id: i,
      });
    await until(() => delivered >= n, 60_000, "alice's messages");
    rows.push(["core -> user (confirmed, sequential)", n, ratePerSecond(n, nowMs() - t0)]);

    const rtts: number[] = [];
    for (let i = 0; i < 500; i++) {
      const s = nowMs();
      await alice.xmpp.iqCaller.get(xml("ping", { xmlns: NS.ping }), GW);
      rtts.push(nowMs() - s);
    }
    const rtt = summarize(rtts);
    printTable(
      ["path", "count", "per second"],
      rows,
      `XMPP gateway (Prosody start ${prosodyStartMs.toFixed(0)} ms)`,
    );
    printTable(
      ["round trip", "p50 ms", "p90 ms", "p99 ms"],
      [["iq ping alice -> gateway -> alice", rtt.p50, rtt.p90, rtt.p99]],
    );
    await Promise.all([alice.stop(), bob.stop()]);
  } finally {
    await component.stop();
    await prosody.stop();
  }
}

runIfMain(import.meta.url, main);
