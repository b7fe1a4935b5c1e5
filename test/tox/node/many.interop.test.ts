/**
 * One ToxNode hosting 200 identities at once on a loopback Tox network (3 tox-bootstrapd 0.2.18
 * daemons), each befriending a c-toxcore peer by Tox ID and exchanging a message with it.
 * c-toxcore instances cost ~80 MiB each, so 10 C peers each befriend 20 of our identities
 * (c-toxcore's own limits are per friend, not per peer, so this covers the same paths).
 * Typically ~75 s on an idle 2-core machine (identities announce in 15-25 s; the C peers accept
 * and every friend is online by ~70 s); the generous timeouts are for a loaded machine.
 * Ports: daemons 35740-35745, C peers 35880-35899, our 200 sockets ephemeral (port 0), since 200
 * fixed ports do not fit our range.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toHex } from "../../../src/tox/bytes.js";
import { newKeyPair } from "../../../src/tox/crypto.js";
import { type Identity, ToxNode } from "../../../src/tox/index.js";
import { type Bootstrapd, startBootstrapNetwork } from "../../interop/bootstrapd.js";
import { CToxPeer, waitUntil } from "../../interop/ctoxcore.js";

const C_PEERS = 10;
const PER_PEER = 20;

describe("ToxNode hosting 200 identities, each befriending a c-toxcore peer", () => {
  let daemons: Bootstrapd[] = [];
  let node: ToxNode;
  const peers: CToxPeer[] = [];

  beforeAll(async () => {
    daemons = await startBootstrapNetwork(3, 35740);
  }, 30_000);

  afterAll(async () => {
    for (const p of peers) p.kill();
    await node?.close();
    await Promise.all(daemons.map((d) => d.stop()));
  });

  it("200 identities: request, accept, online, one message each way's first leg", async () => {
    const t0 = Date.now();
    node = await ToxNode.create({
      host: "127.0.0.1",
      portRange: [0, 0],
      bootstrapNodes: daemons.map((d) => ({ host: d.host, port: d.port, publicKey: d.publicKeyHex })),
      // Spread over ~4 s: the daemons take 32 new nodes per 2 s each; the rest learn of us later.
      bootstrapIdentitiesPerSecond: 50,
    });
    const online = new Set<string>(); // `${identity}:${friend}`
    const received = new Set<string>();
    node.on("friendConnection", (e) => {
      if (e.status !== "none") online.add(`${e.identity}:${e.friend}`);
      else online.delete(`${e.identity}:${e.friend}`);
    });
    node.on("friendMessage", (e) => received.add(`${e.identity}:${e.friend}:${e.text}`));

    for (let i = 0; i < C_PEERS; i++) {
      const c = await CToxPeer.create({ startPort: 35880 + 2 * i, endPort: 35881 + 2 * i, label: `c${i}` });
      peers.push(c);
      for (const d of daemons) c.bootstrap(d.host, d.port, d.publicKey);
      c.on("friendRequest", (pk) => c.friendAddNoRequest(pk));
    }
    // The C peers are on the network first (as friends of bridge users usually are).
    await waitUntil(() => peers.every((c) => c.selfConnectionStatus() !== "none"), 30_000, "C peers online");
    const identities: Identity[] = [];
    for (let i = 0; i < C_PEERS * PER_PEER; i++)
      identities.push(await node.addIdentity({ secretKey: newKeyPair().secretKey, name: `id${i}` }));
    const pairs = identities.map((identity, i) => ({ identity, c: peers[Math.floor(i / PER_PEER)]! }));

    const cpu0 = process.cpuUsage();
    const progress = setInterval(() => {
      const cpu = process.cpuUsage(cpu0);
      console.log(
        `t=${Date.now() - t0} announced=${identities.filter((x) => x.selfConnection() !== "none").length} online=${online.size} cFriends=${peers.map((c) => c.friendList().length).join(",")} cSelf=${peers.map((c) => c.selfConnectionStatus()[0]).join("")} cpu=${Math.round((cpu.user + cpu.system) / 1000)}ms`,
      );
    }, 10_000);
    // Requests are queued at once: each goes out as soon as its identity is announced and has
    // found the C peer's announce nodes.
    for (const { identity, c } of pairs)
      await identity.addFriend(c.addressHex, `hi from ${identity.publicKey}`);
    let tAnnounced = 0;
    const allOnline = () => {
      if (tAnnounced === 0 && identities.every((x) => x.selfConnection() !== "none"))
        tAnnounced = Date.now() - t0;
      return pairs.every(({ identity, c }) => online.has(`${identity.publicKey}:${c.publicKeyHex}`));
    };
    await waitUntil(allOnline, 110_000, "all 200 friend connections")
      .catch((err) => {
        throw new Error(`${String(err)}; online ${online.size}/200`);
      })
      .finally(() => clearInterval(progress));
    const tOnline = Date.now() - t0;
    for (const { c } of pairs.filter((_, i) => i % PER_PEER === 0))
      expect(c.friendList().length).toBe(PER_PEER);

    // One message from each C peer to each of its 20 friends.
    for (const { identity, c } of pairs) {
      const f = c.friendByPublicKey(identity.publicKeyBytes)!;
      await waitUntil(() => c.friendConnectionStatus(f) !== "none", 10_000, "C sees the identity online");
      c.sendMessage(f, `to ${identity.publicKey.slice(0, 8)}`);
    }
    await waitUntil(
      () =>
        pairs.every(({ identity, c }) =>
          received.has(`${identity.publicKey}:${c.publicKeyHex}:to ${identity.publicKey.slice(0, 8)}`),
        ),
      20_000,
      "all 200 messages",
    );
    console.log(
      `200 identities, ${C_PEERS} C peers: all announced ${tAnnounced} ms, all friends online ${tOnline} ms, messages ${Date.now() - t0} ms; RSS ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB (incl. C peers)`,
    );
    expect(toHex(identities[0]!.publicKeyBytes)).toBe(identities[0]!.publicKey);
  }, 180_000);
});
