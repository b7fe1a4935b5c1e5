/**
 * A conference line queued during a bridge restart reaches the c-toxcore members, although the
 * bridge's two identities in the conference (alice, xavier: both restarted, on one node) link up
 * with each other seconds before either finds Carol again. Sent as soon as the conference was
 * reachable through xavier alone, the line would flood to xavier only and be lost for Carol and
 * Dan (Tox conferences keep no history); the core waits for a member that did not restart.
 * Carol and Dan are c-toxcore 0.2.18; Dan is reached only through Carol. Ports: ours
 * 37500-37519, C 37540-37599.
 */
import { afterAll, describe, expect, it } from "vitest";
import { BridgeCore, coreRepos } from "../../src/core/bridge-core.js";
import type { AccountRef, InboundConferenceMessage, Owner } from "../../src/core/frontend.js";
import { ToxNodeGateway } from "../../src/core/tox-adapter.js";
import { ToxNode } from "../../src/tox/index.js";
import {
  conferencePeer,
  dialling,
  joinThroughCarol,
  QUICK_CONFERENCE_RETRIES,
} from "../helpers/conference-scenario.js";
import { type CToxPeer, waitUntil } from "../interop/ctoxcore.js";
import { RecordingFrontend, TestDb } from "./helpers.js";

const ALICE: Owner = { kind: "matrix", id: "@alice:example.org" };
const XAVIER: Owner = { kind: "matrix", id: "@xavier:example.org" };

class Frontend extends RecordingFrontend {
  readonly lines: { owner: string; text: string }[] = [];
  async deliverConferenceMessage(account: AccountRef, m: InboundConferenceMessage) {
    this.lines.push({ owner: account.owner.id, text: m.text });
  }
  conferenceUpdated() {}
}

describe("conference across an immediate bridge restart", () => {
  const db = new TestDb();
  const cleanup: (() => unknown)[] = [];
  afterAll(async () => {
    for (const f of cleanup.splice(0).reverse()) await Promise.resolve(f()).catch(() => {});
  });

  it("a line queued during the restart reaches Carol and Dan", async () => {
    await db.setup();
    cleanup.push(() => db.teardown());
    const start = async () => {
      const node = await ToxNode.create({ host: "127.0.0.1", portRange: [37500, 37519] });
      const core = new BridgeCore({
        store: db.store,
        repos: coreRepos(db.db),
        tox: new ToxNodeGateway(node),
        tickMs: 100,
        ...QUICK_CONFERENCE_RETRIES,
      });
      const fe = new Frontend("matrix");
      core.registerFrontend(fe);
      await core.start();
      let stopped = false;
      const stop = async () => {
        if (stopped) return;
        stopped = true;
        await core.stop();
        await node.close();
      };
      cleanup.push(stop);
      return { node, core, fe, stop };
    };
    let b = await start();
    const carol = await conferencePeer("Carol", 37540, cleanup);
    const dan = await conferencePeer("Dan", 37560, cleanup);
    await b.core.command(ALICE, "create", "user");
    await b.core.command(XAVIER, "create", "user");
    const alicePk = (await b.core.account(ALICE))!.publicKey;
    const xavierPk = (await b.core.account(XAVIER))!.publicKey;
    // Read b.node on each call: it changes with the restart.
    const dial = dialling(() => b.node);
    const dialCarol = () => dial.dialCarol(alicePk, carol);
    const dialEachOther = () => dial.dialEachOther(alicePk, xavierPk);
    expect((await b.core.command(ALICE, `add ${carol.addressHex} hi`, "user")).ok).toBe(true);
    const carolFriend = carol.friendAddNoRequest(dial.identity(alicePk).publicKeyBytes);
    await dialCarol();
    await waitUntil(() => carol.friendConnectionStatus(carolFriend) === "udp", 15_000, "Carol sees alice");
    const cc = carol.conferenceNew();
    carol.conferenceSetTitle(cc, "room");
    await waitUntil(
      async () => (await b.core.friend(ALICE, carol.publicKeyHex.toLowerCase()))?.state === "accepted",
      10_000,
      "accepted",
    );
    carol.conferenceInvite(carolFriend, cc);
    const conf = Buffer.from(carol.conferenceId(cc)).toString("hex");
    await waitUntil(
      async () => (await b.core.conferences(ALICE)).some((c) => c.id === conf && c.connected),
      15_000,
      "alice in",
    );
    await b.core.inviteToConference(ALICE, conf, XAVIER);
    await dialEachOther();
    await waitUntil(
      async () => (await b.core.conferences(XAVIER)).some((c) => c.id === conf && c.connected),
      20_000,
      "xavier in",
    );
    await joinThroughCarol(carol, cc, [dan]);
    await waitUntil(
      () => carol.conferencePeerCount(cc) === 4 && dan.conferencePeerCount(0) === 4,
      20_000,
      "4 peers",
    );
    const got = new Map<CToxPeer, string[]>([carol, dan].map((p) => [p, []]));
    for (const p of [carol, dan]) p.on("conferenceMessage", (_c, _peer, _t, text) => got.get(p)?.push(text));
    await b.core.sendConference({ owner: ALICE, conference: conf, text: "before" });
    await waitUntil(() => [carol, dan].every((p) => got.get(p)?.includes("before")), 15_000, "before");
    // Restart at once (Carol is not waited for), the line queued before anyone is back. alice and
    // xavier find each other first; Carol only after more than the settling time (3 s).
    await b.stop();
    b = await start();
    await b.core.sendConference({ owner: ALICE, conference: conf, text: "during restart" });
    await dialEachOther();
    await waitUntil(
      async () => (await b.core.conferences(ALICE)).some((c) => c.id === conf && c.connected),
      10_000,
      "the conference reachable through xavier",
    );
    const alone = (await b.core.conferences(ALICE)).find((c) => c.id === conf);
    await new Promise((r) => setTimeout(r, 4500));
    expect(got.get(carol)).not.toContain("during restart");
    await dialCarol();
    await waitUntil(
      () => [carol, dan].every((p) => got.get(p)?.includes("during restart")),
      20_000,
      "the line at Carol and Dan",
    );
    expect(got.get(carol)?.filter((x) => x === "during restart")).toHaveLength(1);
    expect(got.get(dan)?.filter((x) => x === "during restart")).toHaveLength(1);
    // xavier (the other bridged member) has it too, once.
    await waitUntil(
      () => b.fe.lines.some((l) => l.owner === XAVIER.id && l.text === "during restart"),
      10_000,
      "the line at xavier",
    );
    expect(alone?.peers.map((p) => p.publicKey).sort()).toEqual([alicePk, xavierPk].sort());
  }, 150_000);
});
