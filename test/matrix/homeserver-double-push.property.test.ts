/**
 * Property: whatever the appservice answers (200, 500, dropped connection) and however sends and
 * pushes interleave, the double delivers every interesting event exactly once, in stream order, and
 * a retried transaction carries exactly the events of its first attempt.
 */
import type { AddressInfo } from "node:net";
import express from "express";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { startHomeserver } from "../helpers/homeserver/index.js";
import { testRegistration } from "./bridge-harness.js";

type Answer = "ok" | "500" | "drop";

async function scriptedAppservice(script: Answer[]) {
  const attempts: Array<{ txnId: string; eventIds: string[] }> = [];
  const processed: string[] = [];
  const seenTxns = new Set<string>();
  let i = 0;
  const app = express();
  app.use(express.json());
  app.put("/_matrix/app/v1/transactions/:txnId", (req, res) => {
    const txnId = String(req.params.txnId);
    const eventIds = (req.body.events as Array<{ event_id: string }>).map((e) => e.event_id);
    attempts.push({ txnId, eventIds });
    const answer = script[i++] ?? "ok";
    if (answer === "drop") {
      req.socket.destroy();
      return;
    }
    if (answer === "500") {
      res.status(500).json({ errcode: "M_UNKNOWN" });
      return;
    }
    // An appservice processes a transaction id once (the AS API's idempotence rule).
    if (!seenTxns.has(txnId)) {
      seenTxns.add(txnId);
      processed.push(...eventIds);
    }
    res.json({});
  });
  const server = app.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    attempts,
    processed,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe("appservice push under faults", () => {
  it("delivers every event exactly once and in order", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom<Answer>("ok", "500", "drop"), { maxLength: 12 }),
        fc.integer({ min: 1, max: 12 }),
        fc.boolean(),
        async (script, messages, awaitEachPush) => {
          const as = await scriptedAppservice(script);
          const hs = await startHomeserver({
            registration: testRegistration({ url: as.url }),
            backoffMs: { initial: 1, max: 4 },
          });
          try {
            const alice = hs.asUser(hs.createUser("alice"));
            const room = await alice.createRoom({ invite: [hs.botUserId] });
            await hs.asAppservice().join(room);
            for (let n = 0; n < messages; n++) {
              await alice.sendMessage(room, `m${n}`);
              if (awaitEachPush) await hs.pushIdle();
            }
            await hs.pushIdle();
            const interesting = hs
              .events(room)
              .filter((e) => hs.state.interestedInEvent(e))
              .map((e) => e.event_id);
            // Interest is evaluated when an event happens: the invite is (state_key), events before it are not.
            expect(as.processed).toEqual(hs.deliveredToAppservice.map((e) => e.event_id));
            expect(new Set(as.processed).size).toBe(as.processed.length);
            expect(as.processed.slice(-messages - 1)).toEqual(interesting.slice(-messages - 1));
            const firstAttempt = new Map<string, string[]>();
            for (const a of as.attempts) {
              const first = firstAttempt.get(a.txnId);
              if (first) expect(a.eventIds).toEqual(first);
              else firstAttempt.set(a.txnId, a.eventIds);
            }
          } finally {
            await hs.close();
            await as.close();
          }
        },
      ),
      { numRuns: 25 },
    );
  });
});
