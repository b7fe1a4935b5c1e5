/**
 * MediaClient against a scripted HTTP server on loopback: uploads stream with a Content-Length,
 * downloads stop at the size limit even without one (and leave no file), the authenticated media
 * endpoints fall back to the legacy ones only when the server does not know them, redirects do
 * not carry the token elsewhere, and failures come back as typed MediaErrors.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MediaClient, MediaError } from "../../src/matrix/media-client.js";

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

interface Scripted {
  url: string;
  seen: Array<{ method: string; url: string; headers: IncomingMessage["headers"]; bytes: number }>;
  close(): Promise<void>;
}

const servers: Scripted[] = [];
async function serve(handler: Handler): Promise<Scripted> {
  const seen: Scripted["seen"] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, bytes: body.length });
      handler(req, res, body);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const s: Scripted = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  servers.push(s);
  return s;
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(body));
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "toxbridge-media-client-"));
});
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const mxc = { serverName: "hs.test", mediaId: "abc" };
const client = (url: string, idleTimeoutMs?: number) =>
  new MediaClient({ homeserverUrl: url, asToken: "as-secret", ...(idleTimeoutMs ? { idleTimeoutMs } : {}) });

async function expectMediaError(p: Promise<unknown>, kind: MediaError["kind"]): Promise<MediaError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MediaError);
  expect((err as MediaError).kind).toBe(kind);
  return err as MediaError;
}

describe("MediaClient", () => {
  it("uploads a file streamed with Content-Length, as the asserted user, with its name", async () => {
    const s = await serve((req, res) => {
      if (req.url?.includes("/config")) return json(res, 200, { "m.upload.size": 10_000_000 });
      json(res, 200, { content_uri: "mxc://hs.test/new" });
    });
    const path = join(dir, "up.bin");
    const data = Buffer.alloc(3_000_000);
    for (let i = 0; i < data.length; i += 4096) data[i] = i & 0xff;
    await writeFile(path, data);
    const uri = await client(s.url).upload(
      "@_tox_ab:hs.test",
      { path },
      { contentType: "application/pdf", fileName: "a b.pdf" },
    );
    expect(uri).toBe("mxc://hs.test/new");
    const up = s.seen.find((q) => q.method === "POST")!;
    expect(up.bytes).toBe(data.length);
    expect(up.headers["content-length"]).toBe(String(data.length));
    expect(up.headers["transfer-encoding"]).toBeUndefined();
    expect(up.headers["content-type"]).toBe("application/pdf");
    expect(up.headers.authorization).toBe("Bearer as-secret");
    const q = new URL(up.url, s.url).searchParams;
    expect(q.get("filename")).toBe("a b.pdf");
    expect(q.get("user_id")).toBe("@_tox_ab:hs.test");
    // Over the stated limit: refused without sending; a 413 is too-large as well.
    const small = await serve((req, res) => {
      if (req.url?.includes("/config")) return json(res, 200, { "m.upload.size": 1000 });
      json(res, 413, { errcode: "M_TOO_LARGE", error: "no" });
    });
    await expectMediaError(
      client(small.url).upload("@u:hs.test", { path }, { contentType: "x/y" }),
      "too-large",
    );
    expect(small.seen.filter((r) => r.method === "POST")).toEqual([]);
    await expectMediaError(
      client(small.url).upload("@u:hs.test", { data: Buffer.alloc(10) }, { contentType: "x/y" }),
      "too-large",
    );
  });

  it("downloads stop at the limit while streaming (no Content-Length) and leave no file", async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { "Content-Type": "application/octet-stream" });
      let n = 0;
      const more = () => {
        if (n++ >= 5) return res.end();
        res.write(Buffer.alloc(100_000, n), () => setTimeout(more, 1));
      };
      more();
    });
    const dest = join(dir, "limited");
    await expectMediaError(
      client(s.url).download("@bot:hs.test", mxc, { dest, maxBytes: 150_000 }),
      "too-large",
    );
    expect(existsSync(dest)).toBe(false);
    const ok = await client(s.url).download("@bot:hs.test", mxc, { dest, maxBytes: 500_000 });
    expect(ok).toEqual({ size: 500_000, contentType: "application/octet-stream" });
    expect((await readFile(dest)).length).toBe(500_000);
  });

  it("falls back to legacy media only when the authenticated endpoint is unknown, then stays there", async () => {
    const body = Buffer.from("hello");
    const s = await serve((req, res) => {
      if (req.url?.startsWith("/_matrix/client/v1/")) {
        res.writeHead(404, { "Content-Type": "text/html" });
        return res.end("<h1>Not Found</h1>");
      }
      res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8", "Content-Length": body.length });
      res.end(body);
    });
    const c = client(s.url);
    const dest = join(dir, "legacy");
    expect(await c.download("@bot:hs.test", mxc, { dest, maxBytes: 100 })).toEqual({
      size: 5,
      contentType: "text/plain",
    });
    await c.download("@bot:hs.test", mxc, { dest, maxBytes: 100 });
    expect(s.seen.map((q) => q.url.split("?")[0])).toEqual([
      "/_matrix/client/v1/media/download/hs.test/abc",
      "/_matrix/media/v3/download/hs.test/abc",
      "/_matrix/media/v3/download/hs.test/abc",
    ]);
    // M_NOT_FOUND from the authenticated endpoint is about the media: no fallback.
    const gone = await serve((_req, res) => json(res, 404, { errcode: "M_NOT_FOUND", error: "gone" }));
    const err = await expectMediaError(
      client(gone.url).download("@bot:hs.test", mxc, { dest, maxBytes: 100 }),
      "not-found",
    );
    expect(err.message).toMatch(/gone/);
    expect(gone.seen).toHaveLength(1);
  });

  it("follows a redirect without the token to another host; a Content-Length over the limit is refused unread", async () => {
    const cdn = await serve((_req, res) => {
      res.writeHead(200, { "Content-Type": "image/png", "Content-Length": 3 });
      res.end("png");
    });
    const s = await serve((_req, res) => {
      res.writeHead(307, { Location: `${cdn.url}/blob/1` });
      res.end();
    });
    const dest = join(dir, "redirected");
    expect(await client(s.url).download("@bot:hs.test", mxc, { dest, maxBytes: 10 })).toEqual({
      size: 3,
      contentType: "image/png",
    });
    expect(s.seen[0]?.headers.authorization).toBe("Bearer as-secret");
    expect(cdn.seen[0]?.headers.authorization).toBeUndefined();
    await expectMediaError(client(cdn.url).download("@bot:hs.test", mxc, { dest, maxBytes: 2 }), "too-large");
  });

  it("5xx, refused connections and stalls are `unavailable` (retry later)", async () => {
    const dest = join(dir, "fail");
    const broken = await serve((_req, res) => json(res, 502, { errcode: "M_UNKNOWN", error: "upstream" }));
    await expectMediaError(
      client(broken.url).download("@bot:hs.test", mxc, { dest, maxBytes: 10 }),
      "unavailable",
    );
    const closed = await serve(() => {});
    const url = closed.url;
    await closed.close();
    await expectMediaError(client(url).download("@bot:hs.test", mxc, { dest, maxBytes: 10 }), "unavailable");
    const stall = await serve((_req, res) => {
      res.writeHead(200, { "Content-Type": "application/octet-stream" });
      res.write("x"); // and then nothing
    });
    await expectMediaError(
      client(stall.url, 200).download("@bot:hs.test", mxc, { dest, maxBytes: 10 }),
      "unavailable",
    );
    expect(existsSync(dest)).toBe(false);
  });

  it("thumbnails ask for a scaled size", async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { "Content-Type": "image/jpeg" });
      res.end(Buffer.alloc(7));
    });
    const dest = join(dir, "thumb");
    await client(s.url).download("@bot:hs.test", mxc, {
      dest,
      maxBytes: 100,
      thumbnail: { width: 96, height: 64 },
    });
    const u = new URL(s.seen[0]!.url, s.url);
    expect(u.pathname).toBe("/_matrix/client/v1/media/thumbnail/hs.test/abc");
    expect(Object.fromEntries(u.searchParams)).toMatchObject({ width: "96", height: "64", method: "scale" });
    expect(
      createHash("sha256")
        .update(await readFile(dest))
        .digest("hex"),
    ).toBe(createHash("sha256").update(Buffer.alloc(7)).digest("hex"));
  });
});
