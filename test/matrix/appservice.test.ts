/**
 * The appservice HTTP side of startMatrixAppservice: hs_token rules, legacy paths, the stable
 * ephemeral key, the acknowledge-after-store hook, the AS ping, and log forwarding.
 */
import type { AddressInfo } from "node:net";
import express from "express";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../src/logger.js";
import {
  checkHomeserverToken,
  normaliseEphemeralKeys,
  type RunningMatrixAppservice,
  startMatrixAppservice,
} from "../../src/matrix/appservice.js";
import { forwardLibraryLine } from "../../src/matrix/library-logging.js";
import { startHomeserver } from "../helpers/homeserver/index.js";
import { type BridgeOnDouble, startBridgeOnDouble, testRegistration } from "./bridge-harness.js";

let h: BridgeOnDouble | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

describe("checkHomeserverToken", () => {
  it("wants the token in the header or the query, and both to match when both are given", () => {
    expect(checkHomeserverToken("hs", "Bearer hs", undefined)).toEqual({ ok: true });
    expect(checkHomeserverToken("hs", undefined, "hs")).toEqual({ ok: true });
    expect(checkHomeserverToken("hs", "Bearer hs", "hs")).toEqual({ ok: true });
    expect(checkHomeserverToken("hs", undefined, undefined)).toMatchObject({ ok: false, status: 401 });
    expect(checkHomeserverToken("hs", "Bearer nope", undefined)).toMatchObject({ ok: false, status: 403 });
    expect(checkHomeserverToken("hs", "Bearer hs", "nope")).toMatchObject({ ok: false, status: 403 });
    expect(checkHomeserverToken("hs", "Basic aHM=", undefined)).toMatchObject({ ok: false, status: 401 });
    expect(checkHomeserverToken("hs", undefined, ["hs", "hs"])).toMatchObject({ ok: false, status: 401 });
  });
});

describe("normaliseEphemeralKeys", () => {
  it("copies the stable key to the unstable one the library reads, and never overwrites", () => {
    const stable = { events: [], ephemeral: [{ type: "m.typing" }] };
    normaliseEphemeralKeys(stable);
    expect(stable).toMatchObject({ "de.sorunome.msc2409.ephemeral": [{ type: "m.typing" }] });
    const both = { ephemeral: [1], "de.sorunome.msc2409.ephemeral": [2] };
    normaliseEphemeralKeys(both);
    expect(both["de.sorunome.msc2409.ephemeral"]).toEqual([2]);
    normaliseEphemeralKeys(null);
    normaliseEphemeralKeys("text");
  });
});

describe("forwardLibraryLine", () => {
  it("maps the library's levels onto pino and keeps module and error", () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: "trace" }, { write: (l: string) => lines.push(JSON.parse(l)) });
    forwardLibraryLine(
      log,
      JSON.stringify({ level: "WARN", module: "Bridge", message: "careful", error: "boom" }),
    );
    forwardLibraryLine(log, JSON.stringify({ level: "VERBOSE", module: "Intent", message: "chatty" }));
    forwardLibraryLine(log, "not json");
    forwardLibraryLine(log, "");
    expect(lines).toMatchObject([
      { level: 40, module: "Bridge", msg: "careful", error: "boom" },
      { level: 20, module: "Intent", msg: "chatty" },
      { level: 30, module: "matrix-lib", msg: "not json" },
    ]);
  });
});

describe("appservice HTTP", () => {
  const txn = (id: string) => `/_matrix/app/v1/transactions/${id}`;

  it("refuses missing (401) and wrong (403) tokens and malformed transactions, and changes nothing", async () => {
    h = await startBridgeOnDouble();
    const put = (path: string, headers: Record<string, string>, body: string) =>
      fetch(`${h!.asUrl}${path}`, {
        method: "PUT",
        headers: { "Content-Type": "application/json", ...headers },
        body,
      });
    const event = JSON.stringify({
      events: [
        {
          type: "m.room.message",
          event_id: "$x",
          room_id: "!r:localhost",
          sender: "@a:localhost",
          content: {},
        },
      ],
    });
    const bearer = { Authorization: `Bearer ${h.registration.hs_token}` };

    const missing = await put(txn("a"), {}, event);
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ errcode: "M_UNAUTHORIZED" });
    const wrong = await put(txn("b"), { Authorization: "Bearer wrong" }, event);
    expect(wrong.status).toBe(403);
    expect(await wrong.json()).toMatchObject({ errcode: "M_FORBIDDEN" });
    const mismatch = await put(`${txn("c")}?access_token=wrong`, bearer, event);
    expect(mismatch.status).toBe(403);
    const notJson = await put(txn("d"), bearer, "{oops");
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toMatchObject({ errcode: "M_NOT_JSON" });
    const noEvents = await put(txn("e"), bearer, JSON.stringify({ events: "nope" }));
    expect(noEvents.status).toBe(400);
    expect(await noEvents.json()).toMatchObject({ errcode: "M_BAD_JSON" });
    const users = await fetch(`${h.asUrl}/_matrix/app/v1/users/%40_tox_x%3Alocalhost`);
    expect(users.status).toBe(401);
    expect(h.events).toEqual([]);
  });

  it("serves the legacy transaction path (token in the query) as old homeservers use it", async () => {
    h = await startBridgeOnDouble({ homeserver: { transactionPath: "legacy" } });
    const alice = h.hs.asUser(h.hs.createUser("alice"));
    const room = await alice.createRoom({ invite: [h.hs.botUserId] });
    await h.hs.pushIdle();
    expect(h.hs.transactions.every((t) => t.url.includes("/transactions/") && t.status === 200)).toBe(true);
    expect(h.hs.transactions[0]!.url).not.toContain("/_matrix/app/");
    expect(h.events.map((e) => [e.type, e.state_key])).toEqual([["m.room.member", h.hs.botUserId]]);
    expect(h.events[0]!.room_id).toBe(room);
  });

  it("falls back to the legacy path only when v1 fails, per transaction", async () => {
    h = await startBridgeOnDouble({ homeserver: { transactionPath: "v1-then-legacy" } });
    const alice = h.hs.asUser(h.hs.createUser("alice"));
    await alice.createRoom({ invite: [h.hs.botUserId] });
    await h.hs.pushIdle();
    expect(h.hs.transactions.map((t) => t.status)).toEqual([200]);
    expect(h.events).toHaveLength(1);
  });

  it("acknowledges a transaction only after onTransaction succeeds; the bridge sees its events once", async () => {
    const seen: Array<{ txnId: string; events: number }> = [];
    let failures = 2;
    h = await startBridgeOnDouble({
      homeserver: { backoffMs: { initial: 5, max: 20 } },
      onTransaction: async (t) => {
        seen.push({ txnId: t.txnId, events: t.events.length });
        if (failures-- > 0) throw new Error("store unavailable");
      },
    });
    const alice = h.hs.asUser(h.hs.createUser("alice"));
    await alice.createRoom({ invite: [h.hs.botUserId] });
    await h.hs.pushIdle();
    expect(h.hs.transactions.map((t) => t.status)).toEqual([500, 500, 200]);
    expect(seen).toEqual([
      { txnId: "1", events: 1 },
      { txnId: "1", events: 1 },
      { txnId: "1", events: 1 },
    ]);
    expect(h.events).toHaveLength(1);
  });

  it("hands EDUs sent under the stable key to onTransaction and to the library", async () => {
    const edus: string[] = [];
    const libEdus: string[] = [];
    h = await startBridgeOnDouble({
      homeserver: { ephemeralKeys: ["ephemeral"] },
      onTransaction: async (t) => {
        for (const e of t.ephemeral) edus.push(String(e.type));
      },
      onEphemeralEvent: (req) => {
        libEdus.push(req.getData().type);
      },
      onEvent: async (ev, bridge) => {
        if (ev.type === "m.room.member" && ev.content.membership === "invite") {
          await bridge.bridge.getIntent().join(ev.room_id);
        }
      },
    });
    const alice = h.hs.asUser(h.hs.createUser("alice"));
    const room = await alice.createRoom({ invite: [h.hs.botUserId] });
    await h.hs.waitForMembership(room, h.hs.botUserId, "join");
    const ev = await alice.sendMessage(room, "hi");
    await alice.setTyping(room, true);
    await alice.sendReceipt(room, ev);
    await h.hs.pushIdle();
    expect(edus).toEqual(["m.typing", "m.receipt"]);
    expect(libEdus).toEqual(["m.typing", "m.receipt"]);
  });

  it("answers the AS API ping through the homeserver, and the homeserver reports a dead appservice", async () => {
    h = await startBridgeOnDouble();
    const as = h.hs.asAppservice();
    const path = `/_matrix/client/v1/appservice/${h.registration.id}/ping`;
    expect(await as.request("POST", path, { transaction_id: "p1" })).toMatchObject({
      duration_ms: expect.any(Number),
    });
    await expect(as.request("POST", "/_matrix/client/v1/appservice/other/ping", {})).rejects.toMatchObject({
      status: 403,
      errcode: "M_FORBIDDEN",
    });
    await h.bridge.stop();
    await expect(as.request("POST", path, {})).rejects.toMatchObject({
      status: 502,
      errcode: "M_CONNECTION_FAILED",
    });
  });

  it("can be served by an existing express app (external mode)", async () => {
    const shared = express();
    shared.get("/health", (_req, res) => {
      res.json({ ok: true });
    });
    const server = shared.listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const registration = testRegistration({ url });
    const hs = await startHomeserver({ registration });
    const events: string[] = [];
    let running: RunningMatrixAppservice | undefined;
    try {
      running = await startMatrixAppservice({
        registration,
        homeserverUrl: hs.url,
        domain: "localhost",
        log: createLogger({ level: "silent" }),
        listen: { external: true },
        onListening: (_port, router) => {
          shared.use(router);
        },
        controller: {
          onEvent: (req) => {
            events.push(req.getData().type);
          },
        },
      });
      expect(running.port).toBeUndefined();
      expect(running.ping).toMatchObject({ ok: true });
      const alice = hs.asUser(hs.createUser("alice"));
      await alice.createRoom({ invite: [hs.botUserId] });
      await hs.pushIdle();
      expect(events).toEqual(["m.room.member"]);
      expect(await (await fetch(`${url}/health`)).json()).toEqual({ ok: true });
    } finally {
      await running?.stop();
      await hs.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it("logs a failing onEvent with the event instead of leaving an unhandled rejection", async () => {
    h = await startBridgeOnDouble({
      onEvent: async (ev, b) => {
        if (ev.type === "m.room.member" && ev.content.membership === "invite") {
          await b.bridge.getIntent().join(ev.room_id);
          throw new Error("portal store down");
        }
      },
      onEphemeralEvent: async () => {
        throw new Error("typing relay down");
      },
    });
    const alice = h.hs.asUser(h.hs.createUser("alice"));
    const room = await alice.createRoom({ invite: [h.hs.botUserId] });
    await h.hs.waitForMembership(room, h.hs.botUserId, "join");
    await alice.setTyping(room, true);
    await h.hs.pushIdle();
    await new Promise((r) => setTimeout(r, 20));
    const failures = h.logLines.filter((l) => l.msg === "handling a Matrix event failed");
    expect(failures).toHaveLength(1);
    expect(h.logLines.filter((l) => l.msg === "handling a Matrix ephemeral event failed")).toHaveLength(1);
    expect(failures[0]).toMatchObject({
      level: 50,
      roomId: room,
      type: "m.room.member",
      err: { message: "portal store down" },
    });
  });
});
