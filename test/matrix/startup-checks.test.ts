/**
 * Start-up checks against the homeserver double: wrong URL, unknown as_token, wrong bot id, and the
 * homeserver -> appservice ping (ok, unreachable appservice, homeserver without the endpoint).
 */
import type { AddressInfo } from "node:net";
import express from "express";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../src/logger.js";
import { startMatrixAppservice } from "../../src/matrix/appservice.js";
import { checkHomeserver, MatrixStartupError, pingFromHomeserver } from "../../src/matrix/startup-checks.js";
import { type HomeserverDouble, startHomeserver } from "../helpers/homeserver/index.js";
import {
  type BridgeOnDouble,
  type LogLine,
  startBridgeOnDouble,
  testRegistration,
} from "./bridge-harness.js";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function double(): Promise<HomeserverDouble> {
  const hs = await startHomeserver({ registration: testRegistration() });
  cleanups.push(() => hs.close());
  return hs;
}

async function bridgeOnDouble(...args: Parameters<typeof startBridgeOnDouble>): Promise<BridgeOnDouble> {
  const h = await startBridgeOnDouble(...args);
  cleanups.push(() => h.stop());
  return h;
}

async function startupError(p: Promise<unknown>): Promise<MatrixStartupError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MatrixStartupError);
  return err as MatrixStartupError;
}

describe("checkHomeserver", () => {
  it("passes when the homeserver knows the as_token as our bot", async () => {
    const hs = await double();
    const ok = await checkHomeserver({
      homeserverUrl: hs.url,
      asToken: "test-as-token",
      botUserId: hs.botUserId,
    });
    expect(ok.versions).toContain("v1.11");
  });

  it("explains an unknown as_token, a wrong bot id, a dead URL and a non-homeserver", async () => {
    const hs = await double();
    const unknown = await startupError(
      checkHomeserver({ homeserverUrl: hs.url, asToken: "nope", botUserId: hs.botUserId }),
    );
    expect(unknown.context.errcode).toBe("M_UNKNOWN_TOKEN");
    expect(unknown.message).toMatch(/app_service_config_files/);

    const wrongBot = await startupError(
      checkHomeserver({ homeserverUrl: hs.url, asToken: "test-as-token", botUserId: "@other:localhost" }),
    );
    expect(wrongBot.message).toMatch(/@toxbot:localhost, expected @other:localhost/);

    const other = express();
    const server = other.listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    const otherUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const notMatrix = await startupError(
      checkHomeserver({ homeserverUrl: otherUrl, asToken: "x", botUserId: hs.botUserId }),
    );
    expect(notMatrix.message).toMatch(/does not look like a Matrix homeserver/);

    const deadUrl = hs.url;
    await hs.close();
    const dead = await startupError(
      checkHomeserver({ homeserverUrl: deadUrl, asToken: "x", botUserId: "@a:b" }),
    );
    expect(dead.message).toMatch(/Cannot reach the homeserver/);
  });

  it("stops startMatrixAppservice before it listens", async () => {
    const hs = await double();
    const err = await startupError(
      startMatrixAppservice({
        registration: testRegistration({ as_token: "not-the-one" }),
        homeserverUrl: hs.url,
        domain: "localhost",
        log: createLogger({ level: "silent" }),
        listen: { port: 0 },
        controller: { onEvent: () => {} },
      }),
    );
    expect(err.context.errcode).toBe("M_UNKNOWN_TOKEN");
  });
});

describe("pingFromHomeserver", () => {
  it("reports success at start-up, and an unreachable appservice later", async () => {
    const h = await bridgeOnDouble();
    expect(h.bridge.ping).toMatchObject({ ok: true });
    await h.bridge.stop();
    const ping = await pingFromHomeserver({
      homeserverUrl: h.hs.url,
      asToken: "test-as-token",
      appserviceId: "toxbridge-test",
    });
    expect(ping).toMatchObject({
      ok: false,
      unsupported: false,
      reason: expect.stringMatching(/cannot connect/),
    });
  });

  it("treats a homeserver without the endpoint as unknown, not as failure", async () => {
    const hs = await double();
    hs.failNext(1, { status: 404, errcode: "M_UNRECOGNIZED", match: (r) => r.path.endsWith("/ping") });
    const ping = await pingFromHomeserver({
      homeserverUrl: hs.url,
      asToken: "test-as-token",
      appserviceId: "toxbridge-test",
    });
    expect(ping).toMatchObject({ ok: false, unsupported: true });
  });

  it("warns once in the log when the homeserver cannot reach the bridge at start-up", async () => {
    const registration = testRegistration();
    const hs = await double();
    const lines: LogLine[] = [];
    const running = await startMatrixAppservice({
      registration, // its url points at a closed port, as a mistyped registration would
      homeserverUrl: hs.url,
      domain: "localhost",
      log: createLogger({ level: "debug", destination: { write: (l: string) => lines.push(JSON.parse(l)) } }),
      listen: { port: 0 },
      controller: { onEvent: () => {} },
    });
    cleanups.push(() => running.stop());
    expect(running.ping).toMatchObject({ ok: false, unsupported: false });
    const warnings = lines.filter((l) => l.msg === "the homeserver cannot reach the appservice");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 40, url: registration.url });
  });
});
