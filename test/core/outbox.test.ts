/**
 * Durable store-and-forward through the core, over PGlite and the fake Tox gateway: ordering,
 * idempotency, receipts, reconnects, give-up notices, restart recovery and inbound retries.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { BridgeCore } from "../../src/core/bridge-core.js";
import { CoreError } from "../../src/core/errors.js";
import { FakeTox } from "./fake-tox.js";
import { alice, makeCore, RecordingFrontend, stranger, TestDb, withFriend } from "./helpers.js";

const t = new TestDb();
beforeAll(() => t.setup());
afterAll(() => t.teardown());

const cores: BridgeCore[] = [];
async function core(opts: Parameters<typeof makeCore>[1] = {}) {
  const c = await makeCore(t, opts);
  cores.push(c.core);
  return c;
}
beforeEach(async () => {
  for (const c of cores.splice(0)) await c.stop();
  await t.reset();
});

const send = (c: BridgeCore, friend: string, text: string, sourceEventId?: string) =>
  c.send({ owner: alice, friend, text, ...(sourceEventId ? { sourceEventId } : {}) });

describe("outbound", () => {
  it("persists a message for an offline friend before resolving, and sends nothing yet", async () => {
    const { core: c, tox } = await core();
    const { account, friend } = await withFriend(c, tox);
    expect(await send(c, friend, "hello", "$ev1")).toEqual({ created: true, parts: 1 });
    await c.idle();
    expect(tox.sent).toEqual([]);
    const depth = await t.store.outbox.depth(account.id);
    expect(depth.queued).toBe(1);
    expect((await c.gauges()).outboxQueued).toBe(1);
  });

  it("delivers queued messages in order once the friend is online, then marks them delivered on receipts", async () => {
    const { core: c, tox, frontend } = await core();
    const { account, ref, friend } = await withFriend(c, tox);
    for (const [i, text] of ["one", "two", "three"].entries()) await send(c, friend, text, `$e${i}`);
    tox.setOnline(ref.publicKey, friend, true);
    await c.idle();
    expect(tox.sentTo(ref.publicKey, friend).map((m) => [m.text, m.id])).toEqual([
      ["one", 1],
      ["two", 2],
      ["three", 3],
    ]);
    expect((await t.store.outbox.depth(account.id)).sending).toBe(3);
    tox.receipt(ref.publicKey, friend, 2);
    tox.receipt(ref.publicKey, friend, 1);
    tox.receipt(ref.publicKey, friend, 3);
    tox.receipt(ref.publicKey, friend, 3); // duplicate receipt: nothing more
    await c.idle();
    expect(frontend.receipts).toEqual([
      { friend, sourceEventId: "$e1" },
      { friend, sourceEventId: "$e0" },
      { friend, sourceEventId: "$e2" },
    ]);
    expect((await t.store.outbox.depth(account.id)).delivered).toBe(3);
    expect(c.metrics.messagesDelivered).toBe(3);
    expect(c.metrics.messagesToTox).toBe(3);
  });

  it("is idempotent on the source event id: a redelivered event is queued and sent once", async () => {
    const { core: c, tox } = await core();
    const { account, ref, friend } = await withFriend(c, tox);
    expect((await send(c, friend, "hi", "$same")).created).toBe(true);
    expect((await send(c, friend, "hi", "$same")).created).toBe(false);
    tox.setOnline(ref.publicKey, friend, true);
    await c.idle();
    expect((await send(c, friend, "hi", "$same")).created).toBe(false);
    await c.idle();
    expect(tox.sentTo(ref.publicKey, friend)).toHaveLength(1);
    expect((await t.store.outbox.depth(account.id)).sending).toBe(1);
    expect(c.metrics.messagesQueued).toBe(1);
  });

  it("sends at once to an online friend; messages without an event id are never merged", async () => {
    const { core: c, tox } = await core();
    const { ref, friend } = await withFriend(c, tox);
    tox.setOnline(ref.publicKey, friend, true);
    await send(c, friend, "same text");
    await send(c, friend, "same text");
    await c.idle();
    expect(tox.sentTo(ref.publicKey, friend).map((m) => m.text)).toEqual(["same text", "same text"]);
  });

  it("requeues unreceipted messages when the friend drops and resends them in order on reconnect", async () => {
    const { core: c, tox, frontend } = await core();
    const { account, ref, friend } = await withFriend(c, tox);
    tox.setOnline(ref.publicKey, friend, true);
    await c.idle();
    await send(c, friend, "a", "$a");
    await send(c, friend, "b", "$b");
    await c.idle();
    tox.receipt(ref.publicKey, friend, 1); // "a" acknowledged, "b" not
    await c.idle();
    tox.setOnline(ref.publicKey, friend, false);
    await c.idle();
    await send(c, friend, "c", "$c");
    await c.idle();
    expect((await t.store.outbox.depth(account.id)).queued).toBe(2);
    expect(c.metrics.messagesRequeued).toBe(1);
    tox.setOnline(ref.publicKey, friend, true);
    await c.idle();
    expect(tox.sentTo(ref.publicKey, friend).map((m) => [m.text, m.id])).toEqual([
      ["a", 1],
      ["b", 2],
      ["b", 3],
      ["c", 4],
    ]);
    tox.receipt(ref.publicKey, friend, 2); // the old id of "b": its session is gone, so ignored
    tox.receipt(ref.publicKey, friend, 3);
    tox.receipt(ref.publicKey, friend, 4);
    await c.idle();
    expect(frontend.receipts.map((r) => r.sourceEventId)).toEqual(["$a", "$b", "$c"]);
    const depth = await t.store.outbox.depth(account.id);
    expect([depth.delivered, depth.queued, depth.sending]).toEqual([3, 0, 0]);
  });

  it("one friend's queue never blocks another's", async () => {
    const { core: c, tox } = await core();
    const { ref, friend: offline } = await withFriend(c, tox);
    const other = stranger();
    await c.contacts.add(alice, other.toxId);
    tox.setOnline(ref.publicKey, other.publicKey, true);
    await c.idle();
    for (let i = 0; i < 5; i++) await send(c, offline, `waiting ${i}`);
    await send(c, other.publicKey, "goes now");
    await c.idle();
    expect(tox.sent.map((m) => m.text)).toEqual(["goes now"]);
  });

  it("splits a long message and reports the read receipt only when every part is delivered", async () => {
    const { core: c, tox, frontend } = await core();
    const { ref, friend } = await withFriend(c, tox);
    tox.setOnline(ref.publicKey, friend, true);
    const long = `${"word ".repeat(600)}end`; // ~3000 bytes: three parts
    expect(await send(c, friend, long, "$long")).toEqual({ created: true, parts: 3 });
    await c.idle();
    const sent = tox.sentTo(ref.publicKey, friend);
    expect(sent.map((m) => m.text).join("")).toBe(long);
    tox.receipt(ref.publicKey, friend, 1);
    tox.receipt(ref.publicKey, friend, 2);
    await c.idle();
    expect(frontend.receipts).toEqual([]);
    tox.receipt(ref.publicKey, friend, 3);
    await c.idle();
    expect(frontend.receipts).toEqual([{ friend, sourceEventId: "$long" }]);
  });

  it("refuses a message to someone who is not a friend, and an empty one", async () => {
    const { core: c, tox } = await core();
    await withFriend(c, tox);
    await expect(send(c, stranger().publicKey, "hi")).rejects.toMatchObject({ code: "unknown-friend" });
    await expect(send(c, "not-a-key", "hi")).rejects.toBeInstanceOf(CoreError);
    await expect(send(c, (await c.friends(alice))[0]!.publicKey, "")).rejects.toMatchObject({
      code: "empty-message",
    });
    await expect(
      c.send({ owner: { kind: "matrix", id: "@nobody:x" }, friend: "00", text: "x" }),
    ).rejects.toMatchObject({
      code: "no-account",
    });
  });

  it("gives up after the age limit with one notice naming the event, and sends nothing", async () => {
    const { core: c, tox, clock, frontend } = await core({ outbox: { maxAgeMs: 60_000 } });
    const { account, ref, friend } = await withFriend(c, tox);
    await send(c, friend, "too late", "$old");
    clock.advance(61_000);
    await c.tick();
    await c.idle();
    expect(frontend.notices).toHaveLength(1);
    expect(frontend.notices[0]).toMatchObject({ code: "delivery-failed", friend, sourceEventId: "$old" });
    expect(frontend.notices[0]!.text).toMatch(/too late.*could not be delivered.*1 min/);
    expect((await t.store.outbox.depth(account.id)).failed).toBe(1);
    tox.setOnline(ref.publicKey, friend, true);
    await c.idle();
    expect(tox.sent).toEqual([]);
    expect(c.metrics.messagesFailed).toBe(1);
  });

  it("gives up after the attempt limit (handed over without a receipt each time)", async () => {
    const { core: c, tox, frontend } = await core({ outbox: { maxAttempts: 2 } });
    const { ref, friend } = await withFriend(c, tox);
    await send(c, friend, "flaky", "$f");
    for (let i = 0; i < 3; i++) {
      tox.setOnline(ref.publicKey, friend, true);
      await c.idle();
      tox.setOnline(ref.publicKey, friend, false);
      await c.idle();
    }
    expect(tox.sentTo(ref.publicKey, friend)).toHaveLength(2);
    expect(frontend.notices.map((n) => n.sourceEventId)).toEqual(["$f"]);
    expect(frontend.notices[0]!.text).toMatch(/after 2 attempts/);
  });

  it("retries after a delay when Tox refuses a message while the friend is online", async () => {
    const { core: c, tox, clock } = await core({ outbox: { retryDelayMs: () => 10_000 } });
    const { account, ref, friend } = await withFriend(c, tox);
    tox.setOnline(ref.publicKey, friend, true);
    tox.refuseSends = new Error("send window full");
    await send(c, friend, "later", "$l");
    await c.idle();
    expect((await t.store.outbox.get(1))?.lastError).toMatch(/send window full/);
    tox.refuseSends = undefined;
    await c.tick();
    await c.idle();
    expect(tox.sent).toHaveLength(0);
    clock.advance(10_001);
    await c.tick();
    await c.idle();
    expect(tox.sent.map((m) => m.text)).toEqual(["later"]);
    expect((await t.store.outbox.depth(account.id)).sending).toBe(1);
  });

  it("after a restart (new core, same store) delivers what was queued or in flight exactly once", async () => {
    const first = await core();
    const { ref, friend } = await withFriend(first.core, first.tox);
    first.tox.setOnline(ref.publicKey, friend, true);
    await first.core.idle();
    await send(first.core, friend, "in flight", "$1");
    await first.core.idle();
    first.tox.setOnline(ref.publicKey, friend, false);
    first.tox.setOnline(ref.publicKey, friend, true); // (no effect on the later check)
    first.tox.setOnline(ref.publicKey, friend, false);
    await first.core.idle();
    await send(first.core, friend, "queued", "$2");
    // "crash": the first core goes away without its identity ever seeing the friend again.
    await first.core.stop();
    cores.splice(cores.indexOf(first.core), 1);

    const second = await core({ tox: new FakeTox() });
    expect(second.tox.isOnline(ref.publicKey)).toBe(true);
    expect(second.tox.identities.get(ref.publicKey)?.friends.has(friend)).toBe(true);
    await send(second.core, friend, "queued", "$2"); // the frontend redelivers: still one
    second.tox.setOnline(ref.publicKey, friend, true);
    await second.core.idle();
    expect(second.tox.sentTo(ref.publicKey, friend).map((m) => m.text)).toEqual(["in flight", "queued"]);
    second.tox.ackAll(ref.publicKey, friend);
    await second.core.idle();
    expect(second.frontend.receipts.map((r) => r.sourceEventId)).toEqual(["$1", "$2"]);
    // A third start has nothing left to do.
    await second.core.stop();
    cores.splice(cores.indexOf(second.core), 1);
    const third = await core({ tox: new FakeTox() });
    third.tox.setOnline(ref.publicKey, friend, true);
    await third.core.idle();
    expect(third.tox.sent).toEqual([]);
  });

  it("recovers items left in 'sending' by a crash (requeued at startup)", async () => {
    const first = await core();
    const { ref, friend } = await withFriend(first.core, first.tox);
    first.tox.setOnline(ref.publicKey, friend, true);
    await send(first.core, friend, "x", "$x");
    await first.core.idle();
    expect((await t.store.outbox.depth()).sending).toBe(1);
    // Simulate SIGKILL: no stop(), the store rows stay as they are; a new core starts.
    cores.splice(cores.indexOf(first.core), 1);
    const second = await core({ tox: new FakeTox() });
    expect((await t.store.outbox.depth()).queued).toBe(1);
    second.tox.setOnline(ref.publicKey, friend, true);
    await second.core.idle();
    expect(second.tox.sent.map((m) => m.text)).toEqual(["x"]);
    await first.core.stop();
  });
});

describe("flow control and Tox's own send queue", () => {
  it("hands over no more while Tox holds messages back, and resumes on receipts", async () => {
    const { core: c, tox, frontend } = await core();
    const { ref, friend } = await withFriend(c, tox);
    tox.window = 2;
    tox.setOnline(ref.publicKey, friend, true);
    for (let i = 0; i < 6; i++) await send(c, friend, `m${i}`, `$${i}`);
    await c.idle();
    // Two on the wire, one held by Tox, the rest still in our queue.
    expect(tox.sent.map((m) => m.text)).toEqual(["m0", "m1"]);
    expect(await tox.sendQueueLength(ref.publicKey, friend)).toBe(1);
    expect((await t.store.outbox.depth()).queued).toBe(3);
    for (let round = 0; round < 10 && frontend.receipts.length < 6; round++) {
      tox.ackAll(
        ref.publicKey,
        friend,
        new Set(frontend.receipts.map((r) => Number(r.sourceEventId.slice(1)) + 1)),
      );
      await c.idle();
    }
    expect(tox.sent.map((m) => m.text)).toEqual(["m0", "m1", "m2", "m3", "m4", "m5"]);
    expect(frontend.receipts.map((r) => r.sourceEventId)).toEqual(["$0", "$1", "$2", "$3", "$4", "$5"]);
  });

  it("on a drop, resends what was on the wire but not what Tox still held (Tox sends that itself)", async () => {
    const { core: c, tox, frontend } = await core();
    const { ref, friend } = await withFriend(c, tox);
    tox.window = 1;
    tox.setOnline(ref.publicKey, friend, true);
    for (let i = 0; i < 3; i++) await send(c, friend, `m${i}`, `$${i}`);
    await c.idle();
    expect(tox.sent.map((m) => m.text)).toEqual(["m0"]); // m1 held by Tox, m2 queued here
    tox.setOnline(ref.publicKey, friend, false);
    await c.idle();
    expect(c.metrics.messagesRequeued).toBe(1); // m0 only
    tox.setOnline(ref.publicKey, friend, true);
    await c.idle();
    for (let round = 0; round < 10 && frontend.receipts.length < 3; round++) {
      for (const m of tox.sent) tox.receipt(ref.publicKey, friend, m.id);
      await c.idle();
    }
    const texts = tox.sent.map((m) => m.text);
    expect(texts.filter((x) => x === "m1")).toHaveLength(1);
    expect(texts.filter((x) => x === "m2")).toHaveLength(1);
    expect(texts.filter((x) => x === "m0")).toHaveLength(2); // it may have been lost on the wire
    expect([...frontend.receipts.map((r) => r.sourceEventId)].sort()).toEqual(["$0", "$1", "$2"]);
    expect((await t.store.outbox.depth()).delivered).toBe(3);
  });
});

describe("retention", () => {
  it("prunes finished rows after the retention period, keeping pending ones", async () => {
    const { core: c, tox, clock } = await core({ outbox: { retentionMs: 24 * 3600_000 } });
    const { account, ref, friend } = await withFriend(c, tox);
    tox.setOnline(ref.publicKey, friend, true);
    await send(c, friend, "done", "$done");
    await c.idle();
    tox.ackAll(ref.publicKey, friend);
    await c.idle();
    tox.setOnline(ref.publicKey, friend, false);
    await send(c, friend, "waiting", "$wait");
    clock.advance(2 * 24 * 3600_000);
    await c.tick();
    const depth = await t.store.outbox.depth(account.id);
    expect([depth.delivered, depth.queued]).toEqual([0, 1]);
  });
});

describe("outbound while the identity is not online", () => {
  it("queues for an account whose identity failed to come up, and sends once it is online", async () => {
    const { core: c, tox } = await core();
    const { ref, friend } = await withFriend(c, tox);
    await tox.takeOffline(ref.publicKey); // as if bringing it online had failed
    expect(await send(c, friend, "still queued", "$q")).toEqual({ created: true, parts: 1 });
    await c.idle();
    expect(tox.sent).toEqual([]);
    const account = (await t.store.accounts.get(ref.id))!;
    await c.accounts.bringOnline(account);
    tox.setOnline(ref.publicKey, friend, true);
    await c.idle();
    expect(tox.sent.map((m) => m.text)).toEqual(["still queued"]);
  });
});

describe("inbound", () => {
  it("hands a Tox message to the account's frontend and keeps nothing afterwards", async () => {
    const { core: c, tox, frontend, xmpp } = await core();
    const { ref, friend } = await withFriend(c, tox);
    tox.message(ref.publicKey, friend, "hi alice");
    tox.message(ref.publicKey, friend, "waves", "action");
    await c.idle();
    expect(frontend.delivered.map((d) => [d.message.kind, d.message.text, d.message.friend])).toEqual([
      ["normal", "hi alice", friend],
      ["action", "waves", friend],
    ]);
    expect(xmpp.delivered).toEqual([]);
    expect((await c.gauges()).inboxWaiting).toBe(0);
    expect(c.metrics.messagesFromTox).toBe(2);
  });

  it("retries with backoff while the frontend refuses, in order, without losing anything", async () => {
    const { core: c, tox, clock, frontend } = await core({ inbox: { retryDelayMs: (n) => n * 1000 } });
    const { ref, friend } = await withFriend(c, tox);
    frontend.refuse = new Error("homeserver down");
    tox.message(ref.publicKey, friend, "first");
    tox.message(ref.publicKey, friend, "second");
    await c.idle();
    expect(frontend.delivered).toEqual([]);
    expect((await c.gauges()).inboxWaiting).toBe(2);
    clock.advance(1001);
    await c.tick();
    await c.idle();
    expect(c.metrics.inboundRetries).toBe(2); // first attempt + one retry, both refused
    frontend.refuse = undefined;
    clock.advance(1000); // second retry waits 2 s
    await c.tick();
    await c.idle();
    expect(frontend.delivered).toEqual([]);
    clock.advance(1001);
    await c.tick();
    await c.idle();
    expect(frontend.delivered.map((d) => d.message.text)).toEqual(["first", "second"]);
    expect((await c.gauges()).inboxWaiting).toBe(0);
  });

  it("keeps messages while no frontend serves the account and delivers them after a restart", async () => {
    const first = await core();
    const { ref, friend } = await withFriend(first.core, first.tox, {
      kind: "xmpp",
      id: "carol@example.org",
    });
    first.core.unregisterFrontend("xmpp");
    first.tox.message(ref.publicKey, friend, "are you there?");
    await first.core.idle();
    await first.core.stop();
    cores.splice(cores.indexOf(first.core), 1);
    const second = await core({ tox: new FakeTox() });
    await second.core.idle();
    expect(second.xmpp.delivered.map((d) => d.message.text)).toEqual(["are you there?"]);
    expect(second.frontend.delivered).toEqual([]);
  });

  it("keeps order when a message arrives just as a frontend comes back", async () => {
    const { core: c, tox, xmpp } = await core();
    const { ref, friend } = await withFriend(c, tox, { kind: "xmpp", id: "erin@example.org" });
    tox.message(ref.publicKey, friend, "zero");
    await c.idle();
    c.unregisterFrontend("xmpp");
    tox.message(ref.publicKey, friend, "one");
    await c.idle();
    c.registerFrontend(xmpp);
    tox.message(ref.publicKey, friend, "two");
    await new Promise((r) => setTimeout(r, 50));
    await c.idle();
    expect(xmpp.delivered.map((d) => d.message.text)).toEqual(["zero", "one", "two"]);
  });

  it("a frontend registering late gets what waited for it", async () => {
    const { core: c, tox } = await core();
    const { ref, friend } = await withFriend(c, tox, { kind: "xmpp", id: "dave@example.org" });
    c.unregisterFrontend("xmpp");
    tox.message(ref.publicKey, friend, "hello?");
    await c.idle();
    const late = new RecordingFrontend("xmpp");
    c.registerFrontend(late);
    await new Promise((r) => setTimeout(r, 50));
    await c.idle();
    expect(late.delivered.map((d) => d.message.text)).toEqual(["hello?"]);
  });
});
