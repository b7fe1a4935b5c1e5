/**
 * The core over a real ToxNode (our Tox stack) through ToxNodeGateway: two bridged users, each
 * with an identity in one node, connected directly on loopback (no DHT/onion). Ports 35000–35049.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { BridgeCore, coreRepos } from "../../src/core/bridge-core.js";
import { ToxNodeGateway } from "../../src/core/tox-adapter.js";
import { ipPort, ToxNode } from "../../src/tox/index.js";
import { alice, bob, RecordingFrontend, TestDb } from "./helpers.js";

function waitFor(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const check = async () => {
      if (await cond()) return resolve();
      if (Date.now() > end) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(check, 10);
    };
    void check();
  });
}

describe("BridgeCore over a real ToxNode (loopback)", () => {
  const t = new TestDb();
  beforeAll(() => t.setup());
  beforeEach(() => t.reset());
  afterAll(() => t.teardown());
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  async function start() {
    const node = await ToxNode.create({ host: "127.0.0.1", portRange: [35000, 35049] });
    const core = new BridgeCore({
      store: t.store,
      repos: coreRepos(t.db),
      tox: new ToxNodeGateway(node),
      tickMs: 100,
    });
    const matrix = new RecordingFrontend("matrix");
    const xmpp = new RecordingFrontend("xmpp");
    core.registerFrontend(matrix);
    core.registerFrontend(xmpp);
    await core.start();
    cleanup.push(async () => {
      await core.stop();
      await node.close();
    });
    return { node, core, matrix, xmpp };
  }

  /** Makes the two accounts friends (in the store and in Tox); `connect` then links them. */
  async function befriend(node: ToxNode, core: BridgeCore) {
    const a = (await core.account(alice))!;
    const b = (await core.account(bob))!;
    const aToxId = (await core.accounts.profile(alice)).toxId;
    const bToxId = (await core.accounts.profile(bob)).toxId;
    // Alice's `add` goes to Tox (an onion search that finds nothing on this one-node network).
    expect(await core.command(alice, `add ${bToxId}`, "user")).toMatchObject({ ok: true });
    // Onion data needs a DHT with a few nodes; what arrives is the node's friendRequest event.
    node.emit("friendRequest", {
      identity: b.publicKey,
      publicKey: a.publicKey,
      friend: a.publicKey,
      message: "hi from alice",
    });
    await core.idle();
    expect((await core.command(bob, "requests", "user")).text).toContain(
      `1. ${a.publicKey} — "hi from alice"`,
    );
    expect(await core.command(bob, "accept 1", "user")).toMatchObject({ ok: true });
    expect(aToxId).not.toBe(bToxId);
    return { a, b };
  }

  function connect(node: ToxNode, from: string, to: string) {
    const target = node.identity(to)!;
    return node
      .identity(from)!
      .connectFriendDirect(to, target.dhtPublicKey, ipPort("127.0.0.1", target.udpPort));
  }

  it("queued while offline, delivered on connection, read receipt with the event id; messages both ways", async () => {
    const { node, core, matrix, xmpp } = await start();
    await core.command(alice, "create", "user");
    await core.command(bob, "create", "user");
    const { a, b } = await befriend(node, core);
    expect(xmpp.requests).toEqual([{ friend: a.publicKey, message: "hi from alice" }]);
    // Alice writes before Bob's identity is reachable: persisted, not sent.
    expect(
      await core.send({ owner: alice, friend: b.publicKey, text: "hello bob", sourceEventId: "$m1" }),
    ).toEqual({
      created: true,
      parts: 1,
    });
    await core.send({
      owner: alice,
      friend: b.publicKey,
      text: "waves",
      kind: "action",
      sourceEventId: "$m2",
    });
    expect((await t.store.outbox.depth(a.id)).queued).toBe(2);

    await connect(node, a.publicKey, b.publicKey);
    await waitFor(() => matrix.receipts.length === 2, 5000, "read receipts at Alice's frontend");
    expect(matrix.receipts).toEqual([
      { friend: b.publicKey, sourceEventId: "$m1" },
      { friend: b.publicKey, sourceEventId: "$m2" },
    ]);
    expect(xmpp.delivered.map((d) => [d.message.kind, d.message.text, d.message.friend])).toEqual([
      ["normal", "hello bob", a.publicKey],
      ["action", "waves", a.publicKey],
    ]);
    expect((await t.store.outbox.depth(a.id)).delivered).toBe(2);
    // Alice's request counts as accepted once the session is up; Bob's name reached her.
    await waitFor(async () => (await core.friend(alice, b.publicKey))?.name === "bob", 3000, "Bob's name");
    expect(await core.friend(alice, b.publicKey)).toMatchObject({ state: "accepted", online: true });

    await core.send({ owner: bob, friend: a.publicKey, text: "hi alice", sourceEventId: "stanza-1" });
    await waitFor(() => xmpp.receipts.length === 1, 5000, "Bob's receipt");
    expect(matrix.delivered.map((d) => d.message.text)).toEqual(["hi alice"]);
    expect(xmpp.receipts).toEqual([{ friend: a.publicKey, sourceEventId: "stanza-1" }]);
    expect(core.metrics.snapshot()).toMatchObject({
      messagesToTox: 3,
      messagesDelivered: 3,
      messagesFromTox: 3,
    });
    expect(await core.gauges()).toMatchObject({ accountsOnline: 2, friendsOnline: 2, outboxQueued: 0 });
  });

  it("after a restart (new node and core, same store) both identities come back and queued messages go out once", async () => {
    const first = await start();
    await first.core.command(alice, "create", "user");
    await first.core.command(bob, "create", "user");
    const { a, b } = await befriend(first.node, first.core);
    await first.core.send({
      owner: alice,
      friend: b.publicKey,
      text: "kept across restarts",
      sourceEventId: "$k",
    });
    await cleanup.pop()!();

    const second = await start();
    expect(second.node.identity(a.publicKey)).toBeDefined();
    expect(second.node.identity(b.publicKey)).toBeDefined();
    await second.core.send({
      owner: alice,
      friend: b.publicKey,
      text: "kept across restarts",
      sourceEventId: "$k",
    });
    await connect(second.node, a.publicKey, b.publicKey);
    await waitFor(() => second.matrix.receipts.length === 1, 5000, "receipt after restart");
    expect(second.xmpp.delivered.map((d) => d.message.text)).toEqual(["kept across restarts"]);
    expect(second.matrix.receipts).toEqual([{ friend: b.publicKey, sourceEventId: "$k" }]);
  });
});
