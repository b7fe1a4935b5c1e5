/**
 * Interop: our ToxNode (net_crypto + friend_connection + Messenger) against the real c-toxcore
 * 0.2.18 over loopback UDP, connected directly (no DHT/onion): the C peer adds our key with
 * tox_friend_add_norequest and we start the session with its DHT key and port.
 * Ports: our identities 37600–37699, C peers 37700–37799.
 */
import dgram from "node:dgram";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { newKeyPair } from "../../../src/tox/crypto.js";
import {
  type FriendConnectionEvent,
  type FriendMessageEvent,
  type Identity,
  ipPort,
  type ReadReceiptEvent,
  ToxNode,
} from "../../../src/tox/index.js";
import { CToxPeer, SEND_MESSAGE_SENDQ, waitUntil } from "../../interop/ctoxcore.js";

const OUR_PORTS: [number, number] = [37600, 37699];
const C_PORTS = { startPort: 37700, endPort: 37799 };

interface Session {
  node: ToxNode;
  me: Identity;
  c: CToxPeer;
  /** Our identity's friend number inside the C peer. */
  friend: number;
  conn: FriendConnectionEvent[];
  msgs: FriendMessageEvent[];
  receipts: ReadReceiptEvent[];
  names: string[];
  statusMessages: string[];
  statuses: string[];
  typing: boolean[];
}

describe("ToxNode <-> c-toxcore 0.2.18 (direct UDP, loopback)", () => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  async function startC(savedata?: Uint8Array, name = "ctox"): Promise<CToxPeer> {
    const c = await CToxPeer.create({ ...C_PORTS, name, statusMessage: "made in C", savedata, label: "c" });
    cleanup.push(() => c.kill());
    return c;
  }

  async function session(opts: { lossRate?: number } = {}): Promise<Session> {
    const node = await ToxNode.create({ host: "127.0.0.1", portRange: OUR_PORTS, lossRate: opts.lossRate });
    cleanup.push(() => node.close());
    const me = await node.addIdentity({
      secretKey: newKeyPair().secretKey,
      name: "ours",
      statusMessage: "bridging",
    });
    const s: Session = {
      node,
      me,
      c: await startC(),
      friend: 0,
      conn: [],
      msgs: [],
      receipts: [],
      names: [],
      statusMessages: [],
      statuses: [],
      typing: [],
    };
    node.on("friendName", (e) => s.names.push(e.name));
    node.on("friendStatusMessage", (e) => s.statusMessages.push(e.statusMessage));
    node.on("friendStatus", (e) => s.statuses.push(e.status));
    node.on("friendTyping", (e) => s.typing.push(e.typing));
    node.on("friendConnection", (e) => s.conn.push(e));
    node.on("friendMessage", (e) => s.msgs.push(e));
    node.on("readReceipt", (e) => s.receipts.push(e));
    s.friend = s.c.friendAddNoRequest(me.publicKeyBytes);
    await connect(s);
    return s;
  }

  async function connect(s: Session): Promise<void> {
    const onlineBefore = s.conn.filter((e) => e.status === "udp").length;
    await s.me.connectFriendDirect(s.c.publicKey, s.c.dhtId, ipPort("127.0.0.1", s.c.udpPort));
    await waitUntil(
      () =>
        s.conn.filter((e) => e.status === "udp").length > onlineBefore &&
        s.c.friendConnectionStatus(s.friend) === "udp",
      15_000,
      "both sides online",
    );
  }

  /** C sends as fast as its queue allows, retrying on SENDQ like a real client would. */
  async function cSendAll(c: CToxPeer, friend: number, texts: string[]): Promise<number[]> {
    const ids: number[] = [];
    let i = 0;
    const deadline = Date.now() + 30_000;
    while (i < texts.length) {
      const r = c.trySendMessage(friend, texts[i]!);
      if (r.ok) {
        ids.push(r.id);
        i++;
      } else if (r.code === SEND_MESSAGE_SENDQ) {
        if (Date.now() > deadline) throw new Error("c-toxcore send queue never drained");
        await new Promise((res) => setTimeout(res, 2));
      } else throw new Error(`tox_friend_send_message error ${r.code}`);
    }
    return ids;
  }

  it("connects and exchanges ONLINE, names, status messages, user status and typing", async () => {
    const s = await session();
    const { c, me, friend, names, statusMessages, statuses, typing } = s;
    const cNames: string[] = [];
    const cStatusMessages: string[] = [];
    const cStatuses: string[] = [];
    const cTyping: boolean[] = [];
    c.on("friendName", (_f, n) => cNames.push(n));
    c.on("friendStatusMessage", (_f, m) => cStatusMessages.push(m));
    c.on("friendStatus", (_f, st) => cStatuses.push(st));
    c.on("friendTyping", (_f, t) => cTyping.push(t));

    // c-toxcore sends its presence on every new session; the C side already saw ours while
    // connecting (its listeners came late), so we change ours to watch the updates arrive.
    await waitUntil(
      () => names.includes("ctox") && statusMessages.includes("made in C") && statuses.includes("none"),
      5000,
      "C presence",
    );
    // (the harness's friendName throws while the name is still empty)
    const cName = () => {
      try {
        return c.friendName(friend);
      } catch {
        return "";
      }
    };
    await waitUntil(() => cName() === "ours", 5000, "our name at C");
    await me.setName("ours, renamed");
    await me.setStatusMessage("still bridging");
    await me.setStatus("busy");
    await me.setTyping(c.publicKey, true);
    await waitUntil(
      () =>
        cNames.includes("ours, renamed") &&
        cStatusMessages.includes("still bridging") &&
        cStatuses.includes("busy") &&
        cTyping.includes(true),
      5000,
      "our presence at C",
    );
    c.setName("ctox 2");
    c.setStatus("away");
    c.setTyping(friend, true);
    await waitUntil(
      () => names.includes("ctox 2") && statuses.includes("away") && typing.includes(true),
      5000,
      "C presence updates",
    );
    expect(await me.friendConnection(c.publicKey)).toBe("udp");
    expect(await me.friend(c.publicKey)).toMatchObject({ name: "ctox 2", status: "away", typing: true });
  });

  it("1,000 messages each way arrive in order and every read receipt fires (ids as c-toxcore numbers them)", async () => {
    const s = await session();
    const { c, me, friend } = s;
    const cMsgs: string[] = [];
    const cReceipts: number[] = [];
    c.on("friendMessage", (_f, _t, m) => cMsgs.push(m));
    c.on("friendReadReceipt", (_f, id) => cReceipts.push(id));
    const n = 1000;
    const ourIds: number[] = [];
    for (let i = 0; i < n; i++) ourIds.push(...(await me.sendMessage(c.publicKey, `ours ${i}`)));
    const cIds = await cSendAll(
      c,
      friend,
      Array.from({ length: n }, (_, i) => `c ${i}`),
    );
    await waitUntil(
      () => cMsgs.length === n && s.msgs.length === n && s.receipts.length === n && cReceipts.length === n,
      20_000,
      "all messages and receipts",
    );
    expect(ourIds).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(cMsgs).toEqual(Array.from({ length: n }, (_, i) => `ours ${i}`));
    expect(s.msgs.map((m) => m.text)).toEqual(Array.from({ length: n }, (_, i) => `c ${i}`));
    expect(s.receipts.map((r) => r.messageId)).toEqual(ourIds);
    expect(cReceipts).toEqual(cIds);
  });

  it("a text over 1372 bytes arrives split, whole and in order; actions keep their kind", async () => {
    const s = await session();
    const { c, me } = s;
    const cMsgs: Array<[string, string]> = [];
    c.on("friendMessage", (_f, t, m) => cMsgs.push([t, m]));
    const text = `${"Grüße aus der Brücke, ".repeat(150)}\n${"🙂".repeat(400)}`;
    const ids = await me.sendMessage(c.publicKey, text);
    expect(ids.length).toBeGreaterThan(2);
    const act = await me.sendMessage(c.publicKey, "waves", "action");
    await waitUntil(() => cMsgs.length === ids.length + 1, 5000, "pieces");
    expect(
      cMsgs
        .slice(0, ids.length)
        .map(([, m]) => m)
        .join(""),
    ).toBe(text);
    expect(cMsgs.at(-1)).toEqual(["action", "waves"]);
    await waitUntil(() => s.receipts.length === ids.length + 1, 5000, "receipts");
    expect(s.receipts.map((r) => r.messageId)).toEqual([...ids, ...act]);
  });

  it("survives 10% packet loss (dropped in our socket layer, both directions)", async () => {
    const s = await session({ lossRate: 0.1 });
    const { c, me, friend } = s;
    const cMsgs: string[] = [];
    const cReceipts: number[] = [];
    c.on("friendMessage", (_f, _t, m) => cMsgs.push(m));
    c.on("friendReadReceipt", (_f, id) => cReceipts.push(id));
    const n = 500;
    const ourIds: number[] = [];
    for (let i = 0; i < n; i++) ourIds.push(...(await me.sendMessage(c.publicKey, `lossy ${i}`)));
    const cIds = await cSendAll(
      c,
      friend,
      Array.from({ length: n }, (_, i) => `c lossy ${i}`),
    );
    await waitUntil(
      () => cMsgs.length === n && s.msgs.length === n && s.receipts.length === n && cReceipts.length === n,
      30_000,
      "all messages and receipts at 10% loss",
    );
    expect(cMsgs).toEqual(Array.from({ length: n }, (_, i) => `lossy ${i}`));
    expect(s.msgs.map((m) => m.text)).toEqual(Array.from({ length: n }, (_, i) => `c lossy ${i}`));
    expect(s.receipts.map((r) => r.messageId)).toEqual(ourIds);
    expect(cReceipts).toEqual(cIds);
    expect(s.conn.filter((e) => e.status === "none")).toEqual([]);
  });

  it("rides out a 5 s total outage: messages sent meanwhile arrive afterwards, with receipts, no offline", async () => {
    const s = await session();
    const { c, me } = s;
    const cMsgs: string[] = [];
    c.on("friendMessage", (_f, _t, m) => cMsgs.push(m));
    s.node.setLossRate(1);
    const ids: number[] = [];
    for (let i = 0; i < 50; i++) ids.push(...(await me.sendMessage(c.publicKey, `during outage ${i}`)));
    await new Promise((r) => setTimeout(r, 5000));
    expect(cMsgs).toEqual([]);
    s.node.setLossRate(0);
    await waitUntil(
      () => cMsgs.length === 50 && s.receipts.length === 50,
      10_000,
      "delivery after the outage",
    );
    expect(cMsgs).toEqual(Array.from({ length: 50 }, (_, i) => `during outage ${i}`));
    expect(s.receipts.map((r) => r.messageId)).toEqual(ids);
    expect(s.conn.filter((e) => e.status === "none")).toEqual([]);
  }, 30_000);

  it("sees the peer go offline when it quits, and recovers after it restarts", async () => {
    const s = await session();
    const saved = s.c.getSavedata();
    s.c.kill(); // c-toxcore sends KILL on tox_kill
    await waitUntil(() => s.conn.some((e) => e.status === "none"), 5000, "offline after kill");
    await expect(s.me.sendMessage(s.c.publicKey, "anyone?")).rejects.toThrow(/not online/);

    const c2 = await startC(saved, "ctox reborn");
    expect(c2.publicKeyHex).toBe(s.c.publicKeyHex);
    const friend = c2.friendByPublicKey(s.me.publicKeyBytes);
    expect(friend).toBeDefined();
    s.c = c2;
    s.friend = friend!;
    // The restarted peer has a new DHT key (and maybe port): tell our node, as the DHT would.
    await connect(s);
    const got: string[] = [];
    c2.on("friendMessage", (_f, _t, m) => got.push(m));
    const [id] = await s.me.sendMessage(c2.publicKey, "welcome back");
    await waitUntil(
      () => got.includes("welcome back") && s.receipts.some((r) => r.messageId === id),
      5000,
      "msg",
    );
    // Message ids keep counting per friend across sessions.
    expect(id).toBe(1);
    c2.sendMessage(s.friend, "thanks");
    await waitUntil(() => s.msgs.some((m) => m.text === "thanks"), 5000, "reply");
  });

  it("save files move both ways: c-toxcore loads our profile, we load c-toxcore's", async () => {
    const s = await session();
    await waitUntil(() => s.names.includes("ctox"), 5000, "C name");
    // Ours -> c-toxcore: tox_new with our save file is us, with our friend and its name.
    const mine = await s.me.getSavedata();
    const cAsUs = await CToxPeer.create({ ...C_PORTS, savedata: mine, label: "c-as-us" });
    cleanup.push(() => cAsUs.kill());
    expect(cAsUs.publicKeyHex.toLowerCase()).toBe(s.me.publicKey);
    expect(cAsUs.addressHex.toUpperCase()).toBe(s.me.toxId);
    const f = cAsUs.friendByPublicKey(s.c.publicKey);
    expect(f).toBeDefined();
    expect(cAsUs.friendName(f!)).toBe("ctox");
    // c-toxcore -> ours: the C peer's profile becomes an identity with its keys and friend list.
    await waitUntil(
      () => {
        try {
          return s.c.friendName(s.friend) === "ours";
        } catch {
          return false;
        }
      },
      5000,
      "our name at C",
    );
    const theirs = s.c.getSavedata();
    const asC = await s.node.addIdentity({ savedata: theirs });
    expect(asC.publicKey).toBe(s.c.publicKeyHex.toLowerCase());
    expect(asC.toxId).toBe(s.c.addressHex.toUpperCase());
    expect(asC.name).toBe("ctox");
    const friends = await asC.friends();
    expect(friends.map((x) => [x.publicKey, x.name])).toEqual([[s.me.publicKey, "ours"]]);
  });

  it("notices the peer removing us (OFFLINE + KILL)", async () => {
    const s = await session();
    s.c.friendDelete(s.friend);
    await waitUntil(() => s.conn.some((e) => e.status === "none"), 5000, "offline after friend delete");
  });

  it("fuzzed datagrams at our socket never crash the node; the session keeps working", async () => {
    const s = await session();
    const { c, me, friend } = s;
    const errors: Error[] = [];
    s.node.on("error", (e) => errors.push(e));
    const sock = dgram.createSocket("udp4");
    await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
    cleanup.push(() => new Promise<void>((r) => sock.close(() => r())));
    const samples = fc.sample(
      fc.oneof(
        fc.uint8Array({ minLength: 1, maxLength: 1500 }),
        fc
          .tuple(fc.integer({ min: 0x18, max: 0x1b }), fc.uint8Array({ maxLength: 600 }))
          .map(([id, b]) => Uint8Array.of(id, ...b)),
        fc
          .tuple(fc.constantFrom(145, 161, 385), fc.integer({ min: 0x18, max: 0x1a }))
          .map(([len, id]) => Uint8Array.from({ length: len }, (_, i) => (i === 0 ? id : (i * 7) & 255))),
      ),
      { numRuns: 5000, seed: 42 },
    );
    for (let i = 0; i < samples.length; i++) {
      sock.send(samples[i]!, me.udpPort, "127.0.0.1");
      if (i % 200 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    const got: string[] = [];
    c.on("friendMessage", (_f, _t, m) => got.push(m));
    await me.sendMessage(c.publicKey, "still here");
    c.sendMessage(friend, "me too");
    await waitUntil(
      () => got.includes("still here") && s.msgs.some((m) => m.text === "me too"),
      5000,
      "after fuzz",
    );
    expect(errors).toEqual([]);
    expect(s.conn.filter((e) => e.status === "none")).toEqual([]);
  });
});
