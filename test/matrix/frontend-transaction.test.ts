/**
 * onTransaction's contract, with stand-ins for the core and the store: events of a room in order,
 * rooms independent, and a failure to persist fails the transaction (so the homeserver retries)
 * only after the other rooms' events are in.
 */
import { describe, expect, it } from "vitest";
import type { CoreApi, SendRequest } from "../../src/core/frontend.js";
import { silentLogger } from "../../src/logger.js";
import { MatrixFrontend } from "../../src/matrix/frontend.js";
import type { Portal, Store } from "../../src/store/index.js";

const friendA = "a".repeat(64);
const friendB = "b".repeat(64);

function portal(id: number, remoteId: string, friend: string): Portal {
  return {
    id,
    accountId: 1,
    kind: "friend",
    targetKey: Buffer.from(friend, "hex"),
    network: "matrix",
    remoteId,
    createdAt: new Date(),
  };
}

function setup(failFor: string | null) {
  const portals = new Map([
    ["!a:x", portal(1, "!a:x", friendA)],
    ["!b:x", portal(2, "!b:x", friendB)],
  ]);
  const store = {
    portals: { getByRemote: async (_n: string, room: string) => portals.get(room) ?? null },
    accounts: { get: async () => ({ ownerId: "@alice:x" }) },
  } as unknown as Store;
  const sent: SendRequest[] = [];
  const core = {
    send: async (r: SendRequest) => {
      await new Promise((res) => setTimeout(res, r.friend === friendA ? 5 : 1));
      if (r.friend === failFor) throw new Error("database unavailable");
      sent.push(r);
      return { created: true, parts: 1 };
    },
  } as unknown as CoreApi;
  const frontend = new MatrixFrontend({
    core,
    store,
    names: { domain: "x", botLocalpart: "toxbot", userPrefix: "_tox_" },
    permissions: { x: "user" },
    degradeRich: true,
    log: silentLogger(),
  });
  const msg = (room: string, id: string, body: string) => ({
    type: "m.room.message",
    room_id: room,
    sender: "@alice:x",
    event_id: id,
    content: { msgtype: "m.text", body },
  });
  const events = [
    msg("!a:x", "$1", "a1"),
    msg("!b:x", "$2", "b1"),
    msg("!a:x", "$3", "a2"),
    msg("!b:x", "$4", "b2"),
  ];
  return { frontend, sent, events };
}

describe("MatrixFrontend.onTransaction", () => {
  it("keeps each room's order while rooms run side by side", async () => {
    const { frontend, sent, events } = setup(null);
    await frontend.onTransaction({ txnId: "t1", events, ephemeral: [] });
    expect(sent.filter((r) => r.friend === friendA).map((r) => r.text)).toEqual(["a1", "a2"]);
    expect(sent.filter((r) => r.friend === friendB).map((r) => r.text)).toEqual(["b1", "b2"]);
    // Room b's slower neighbour did not hold it up.
    expect(sent.map((r) => r.text).indexOf("b2")).toBeLessThan(sent.map((r) => r.text).indexOf("a2"));
  });

  it("fails the transaction when a message cannot be persisted, after the other rooms are done", async () => {
    const { frontend, sent, events } = setup(friendB);
    await expect(frontend.onTransaction({ txnId: "t1", events, ephemeral: [] })).rejects.toThrow(
      "database unavailable",
    );
    expect(sent.map((r) => r.text)).toEqual(["a1", "a2"]);
  });
});
