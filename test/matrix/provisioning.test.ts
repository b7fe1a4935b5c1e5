/**
 * The provisioning API over real HTTP on a bare express app, over the bridge core (PGlite, the
 * in-memory Tox gateway): auth, permissions, status/create/friends/add and their error answers.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BridgeCore, coreRepos } from "../../src/core/bridge-core.js";
import { silentLogger } from "../../src/logger.js";
import { PROVISIONING_PREFIX, provisioningRouter } from "../../src/matrix/provisioning.js";
import { FakeTox } from "../core/fake-tox.js";
import { stranger } from "../core/helpers.js";
import { openTestStore } from "../store/backends.js";

const SECRET = "provisioning-secret-for-tests";
let server: Server;
let base: string;
let core: BridgeCore;
let close: () => Promise<void>;

beforeAll(async () => {
  const opened = await openTestStore();
  core = new BridgeCore({ store: opened.store, repos: coreRepos(opened.db), tox: new FakeTox(), tickMs: 0 });
  await core.start();
  const app = express();
  app.use(
    provisioningRouter({
      core,
      secret: SECRET,
      permissions: { "example.org": "user", "@boss:example.org": "admin" },
      log: silentLogger(),
    }),
  );
  server = app.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}${PROVISIONING_PREFIX}`;
  close = async () => {
    await core.stop();
    await new Promise((r) => server.close(r));
    await opened.close();
  };
});
afterAll(() => close());

const call = async (method: string, path: string, body?: unknown, secret: string | null = SECRET) => {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (secret !== null) headers.Authorization = `Bearer ${secret}`;
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

describe("provisioning API", () => {
  it("needs the bearer secret", async () => {
    expect((await call("GET", "/status?user_id=@alice:example.org", undefined, null)).status).toBe(401);
    expect((await call("GET", "/status?user_id=@alice:example.org", undefined, "wrong-secret")).status).toBe(
      403,
    );
  });

  it("checks the user id and its permission", async () => {
    expect((await call("GET", "/status")).status).toBe(400);
    const r = await call("GET", "/status?user_id=@eve:elsewhere.org");
    expect(r).toMatchObject({ status: 403, body: { errcode: "M_FORBIDDEN" } });
  });

  it("status, create, friends, add friend, with clear errors", async () => {
    const alice = "user_id=@alice:example.org";
    expect(await call("GET", `/status?${alice}`)).toEqual({
      status: 200,
      body: { user_id: "@alice:example.org", permission: "user", account: null },
    });
    expect((await call("GET", `/friends?${alice}`)).status).toBe(404);
    const created = await call("POST", `/create?${alice}`);
    expect(created.status).toBe(201);
    expect((created.body.account as { tox_id: string }).tox_id).toMatch(/^[0-9A-F]{76}$/);
    expect((await call("POST", `/create?${alice}`)).status).toBe(409);
    const s = stranger();
    const added = await call("POST", `/friends?${alice}`, { tox_id: s.toxId, message: "hi" });
    expect(added).toMatchObject({
      status: 201,
      body: { friend: { public_key: s.publicKey, state: "pending_out" } },
    });
    expect((await call("GET", `/friends?${alice}`)).body.friends).toHaveLength(1);
    expect(await call("POST", `/friends?${alice}`, { tox_id: "nope" })).toMatchObject({
      status: 400,
      body: { errcode: "TOX_BAD_TOX_ID" },
    });
    expect((await call("POST", `/friends?${alice}`, "{not json")).status).toBe(400);
    expect((await call("POST", `/friends?${alice}`, {})).status).toBe(400);
    expect((await call("GET", `/nothing-here?${alice}`)).status).toBe(404);
  });
});
