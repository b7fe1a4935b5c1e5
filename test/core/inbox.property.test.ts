/**
 * The inbox under random interleavings of Tox messages, frontend refusals, a frontend going away
 * and coming back, clock/tick rounds and restarts: in the end every message reached the
 * frontend exactly once and in arrival order.
 */
import fc from "fast-check";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { BridgeCore } from "../../src/core/bridge-core.js";
import { FakeTox } from "./fake-tox.js";
import { makeCore, type RecordingFrontend, TestDb, withFriend } from "./helpers.js";

const t = new TestDb();
beforeAll(() => t.setup());
afterAll(() => t.teardown());

type Op =
  | { op: "message" }
  | { op: "refuse"; on: boolean }
  | { op: "unregister" }
  | { op: "register"; thenMessage: boolean }
  | { op: "tick"; ms: number }
  | { op: "restart"; crash: boolean };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.constant({ op: "message" as const }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("refuse" as const), on: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ op: "unregister" as const }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("register" as const), thenMessage: fc.boolean() }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant("tick" as const), ms: fc.integer({ min: 0, max: 5000 }) }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("restart" as const), crash: fc.boolean() }) },
);

it("delivers every Tox message to the frontend once, in order, whatever the frontend does", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 30 }), async (ops) => {
      await t.reset();
      const owner = { kind: "matrix" as const, id: "@ina:example.org" };
      let { core, tox, frontend, clock } = await makeCore(t, { inbox: { retryDelayMs: () => 1000 } });
      const { ref, friend } = await withFriend(core, tox, owner);
      const cores: BridgeCore[] = [core];
      const frontends: RecordingFrontend[] = [frontend];
      let refusing: Error | undefined;
      let registered = true;
      let sent = 0;
      for (const o of ops) {
        switch (o.op) {
          case "message":
            tox.message(ref.publicKey, friend, `msg ${sent++}`);
            break;
          case "refuse":
            refusing = o.on ? new Error("homeserver down") : undefined;
            frontend.refuse = refusing;
            break;
          case "unregister":
            core.unregisterFrontend("matrix");
            registered = false;
            break;
          case "register":
            core.registerFrontend(frontend);
            registered = true;
            // A message right behind the registration races the flush of what waited.
            if (o.thenMessage) tox.message(ref.publicKey, friend, `msg ${sent++}`);
            break;
          case "tick":
            clock.advance(o.ms);
            await core.tick();
            break;
          case "restart": {
            await core.idle();
            if (!o.crash) await core.stop();
            ({ core, tox, frontend, clock } = await makeCore(t, {
              tox: new FakeTox(),
              clock,
              inbox: { retryDelayMs: () => 1000 },
            }));
            frontend.refuse = refusing;
            registered = true;
            cores.push(core);
            frontends.push(frontend);
            break;
          }
        }
        await core.idle();
      }
      // The frontend recovers for good.
      frontend.refuse = undefined;
      if (!registered) core.registerFrontend(frontend);
      for (let round = 0; round < 5; round++) {
        clock.advance(1001);
        await core.tick();
        await core.idle();
      }
      const delivered = frontends.flatMap((f) => f.delivered.map((d) => d.message.text));
      expect(delivered).toEqual(Array.from({ length: sent }, (_, i) => `msg ${i}`));
      expect((await core.gauges()).inboxWaiting).toBe(0);
      for (const c of cores) await c.stop();
    }),
    { numRuns: 40 },
  );
}, 120_000);
