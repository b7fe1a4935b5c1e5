/**
 * Matrix media over real HTTP: homeserver double <-> matrix-appservice-bridge <-> frontend <->
 * BridgeCore (PGlite, FakeTox) with the files API played by FilesDouble. Proves files both ways
 * with equal bytes, once per file and per event, size limits with notices, malformed media events
 * refused with a notice, import/export through the bot, and avatars both ways.
 */
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { InboundFile } from "../../src/core/frontend.js";
import { ghostUserId } from "../../src/matrix/ids.js";
import type { FakeTox } from "../core/fake-tox.js";
import { stranger } from "../core/helpers.js";
import type { RoomEvent, TestClient } from "../helpers/homeserver/index.js";
import { waitUntil } from "../helpers/wait.js";
import {
  type FrontendRig,
  friendWithPortal,
  type RigOptions,
  startFrontendRig,
  userWithAccount,
} from "./frontend-harness.js";
import { FilesDouble, pngOf, sha256, withFiles } from "./media-rig.js";

const names = { domain: "localhost", botLocalpart: "toxbot", userPrefix: "_tox_" };

let dir: string;
let fileNo = 1000;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "toxbridge-media-test-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface MediaRig {
  r: FrontendRig;
  files: FilesDouble;
  spoolDir: string;
}

async function startMediaRig(opts: RigOptions<FakeTox> = {}, maxFileSize = 1_000_000): Promise<MediaRig> {
  const files = new FilesDouble(maxFileSize);
  const spoolDir = await mkdtemp(join(dir, "spool-"));
  const r = await startFrontendRig({ ...opts, spoolDir, frontendCore: (core) => withFiles(core, files) });
  return { r, files, spoolDir };
}

async function inboundFile(
  friend: string,
  name: string,
  data: Buffer,
  mimeType: string,
): Promise<InboundFile> {
  const id = fileNo++;
  const path = join(dir, `in-${id}`);
  await writeFile(path, data);
  return { id, friend, fileName: name, size: data.length, mimeType, path, receivedAt: new Date() };
}

const uploads = (r: FrontendRig) =>
  r.hs.requests.filter((q) => q.method === "POST" && q.path === "/_matrix/media/v3/upload").length;
const downloads = (r: FrontendRig) => r.hs.requests.filter((q) => /\/media\/(v3\/)?download\//.test(q.path));

/** Sends a media event as `user`, after uploading `data` (unless the content is given whole). */
async function sendMedia(user: TestClient, room: string, content: Record<string, unknown>): Promise<string> {
  return user.sendEvent(room, "m.room.message", content);
}

async function uploadFile(user: TestClient, data: Buffer, mimeType: string, name: string) {
  return user.upload(data, mimeType, name);
}

describe("Matrix media: one rig", () => {
  let m: MediaRig;
  beforeAll(async () => {
    m = await startMediaRig();
  });
  afterAll(async () => {
    await m.r.stop();
  });

  it("a file from a friend becomes one m.image with the same bytes, also when delivered again", async () => {
    const { r } = m;
    const { user, account } = await userWithAccount(r, "alice");
    const f = stranger();
    await r.core.contacts.add({ kind: "matrix", id: user.userId }, f.toxId);
    const image = pngOf(640, 480, 300_000);
    const file = await inboundFile(f.publicKey, "holiday.png", image, "image/png");
    const before = uploads(r);
    await r.frontend.deliverFile(account, file);
    const ghost = ghostUserId(names, f.publicKey);
    const posted = await r.hs.waitForMessage({ sender: ghost, msgtype: "m.image" });
    expect(posted.content).toMatchObject({
      body: "holiday.png",
      filename: "holiday.png",
      info: { mimetype: "image/png", size: image.length, w: 640, h: 480 },
    });
    // The ghost made the portal and invited the user, as for a first message.
    expect(r.hs.room(posted.room_id).membership(user.userId)).toBe("invite");
    const got = await user.download(String(posted.content.url));
    expect(sha256(got.data)).toBe(sha256(image));
    expect(got.contentType).toBe("image/png");
    expect(r.hs.state.mediaOf(String(posted.content.url))?.filename).toBe("holiday.png");

    // Redelivered (the core did not hear back): nothing new is uploaded or posted.
    await r.frontend.deliverFile(account, file);
    // A failed send is retried with the same upload and posts once.
    const zip = Buffer.alloc(5000, 7);
    const other = await inboundFile(f.publicKey, "notes.zip", zip, "application/zip");
    r.hs.failNext(1, {
      match: (q) => q.method === "PUT" && q.path.includes("/send/m.room.message/toxfile."),
    });
    await expect(r.frontend.deliverFile(account, other)).rejects.toThrow();
    await r.frontend.deliverFile(account, other);
    await r.frontend.deliverFile(account, other);
    const media = r.hs.messages(posted.room_id).filter((e) => e.sender === ghost);
    expect(media.map((e) => e.msgtype)).toEqual(["m.image", "m.file"]);
    expect(uploads(r) - before).toBe(2);
    const zipEvent = r.hs.events(posted.room_id, "m.room.message").at(-1)!;
    expect(zipEvent.content).toMatchObject({
      msgtype: "m.file",
      info: { mimetype: "application/zip", size: 5000 },
    });
    expect(zipEvent.content.info).not.toHaveProperty("w");
  });

  it("a Matrix file reaches sendFile with its name, size, type and bytes, once per event", async () => {
    const { r, files, spoolDir } = m;
    const { user, account } = await userWithAccount(r, "bob");
    const { friend, room } = await friendWithPortal(r, user, account);
    const data = Buffer.alloc(200_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
    const url = await uploadFile(user, data, "application/pdf", "paper.pdf");
    const eventId = await sendMedia(user, room, {
      msgtype: "m.file",
      body: "paper.pdf",
      filename: "paper.pdf",
      url,
      info: { size: data.length, mimetype: "application/pdf" },
    });
    await waitUntil(() => files.sent.some((s) => s.request.sourceEventId === eventId), 20_000, "sendFile");
    const got = files.sent.find((s) => s.request.sourceEventId === eventId)!;
    expect(got.request).toMatchObject({
      owner: { kind: "matrix", id: user.userId },
      friend,
      fileName: "paper.pdf",
      size: data.length,
      mimeType: "application/pdf",
    });
    expect(got.sha256).toBe(sha256(data));
    // Downloaded through authenticated media, as the bot.
    expect(downloads(r).at(-1)?.path).toMatch(/^\/_matrix\/client\/v1\/media\/download\//);

    // The same event in a new transaction: not downloaded, not sent again.
    await r.hs.pushIdle();
    const ev = r.hs.events(room, "m.room.message").find((e) => e.event_id === eventId)!;
    const before = downloads(r).length;
    const res = await fetch(`http://127.0.0.1:${r.appservice.port}/_matrix/app/v1/transactions/again-media`, {
      method: "PUT",
      headers: { Authorization: "Bearer test-hs-token", "Content-Type": "application/json" },
      body: JSON.stringify({ events: [ev] }),
    });
    expect(res.status).toBe(200);
    expect(downloads(r).length).toBe(before);
    expect(files.sent.filter((s) => s.request.sourceEventId === eventId)).toHaveLength(1);

    // An image with a caption (MSC2530): the file, then the caption as a message.
    const png = pngOf(10, 10, 50);
    const pngUrl = await uploadFile(user, png, "image/png", "dot.png");
    const captioned = await sendMedia(user, room, {
      msgtype: "m.image",
      body: "look at this",
      filename: "dot.png",
      url: pngUrl,
      info: { size: png.length, mimetype: "image/png", w: 10, h: 10 },
    });
    await waitUntil(
      () => files.sent.some((s) => s.request.sourceEventId === captioned),
      20_000,
      "captioned image",
    );
    await waitUntil(
      () => r.tox.sentTo(account.publicKey, friend).some((x) => x.text === "look at this"),
      20_000,
      "caption",
    );
    expect(files.sent.find((s) => s.request.sourceEventId === captioned)?.request.fileName).toBe("dot.png");
    // Editing the caption repeats the url: it is an edit (text), not a second file.
    const sentFiles = files.sent.length;
    const newContent = { msgtype: "m.image", body: "look at this!", filename: "dot.png", url: pngUrl };
    await sendMedia(user, room, {
      ...newContent,
      body: "* look at this!",
      "m.new_content": newContent,
      "m.relates_to": { rel_type: "m.replace", event_id: captioned },
    });
    await waitUntil(
      () => r.tox.sentTo(account.publicKey, friend).some((x) => x.text === "* look at this!"),
      20_000,
      "edit",
    );
    expect(files.sent.length).toBe(sentFiles);
    // Nothing is left behind in the spool.
    expect(await readdir(join(spoolDir, "matrix-in"))).toEqual([]);
  });

  it("the transaction is acknowledged only after sendFile resolved", async () => {
    const { r, files } = m;
    const { user, account } = await userWithAccount(r, "carol");
    const { room } = await friendWithPortal(r, user, account);
    await r.hs.pushIdle();
    const data = Buffer.alloc(3000, 1);
    const url = await uploadFile(user, data, "text/plain", "a.txt");
    files.failSends = 1;
    const attempts = r.hs.transactions.length;
    const eventId = await sendMedia(user, room, {
      msgtype: "m.file",
      body: "a.txt",
      url,
      info: { size: 3000 },
    });
    await waitUntil(
      () => files.sent.some((s) => s.request.sourceEventId === eventId),
      20_000,
      "sendFile after retry",
    );
    await r.hs.pushIdle();
    const statuses = r.hs.transactions.slice(attempts).map((t) => t.status);
    expect(statuses).toContain(500);
    expect(statuses.at(-1)).toBe(200);
    expect(files.sent.filter((s) => s.request.sourceEventId === eventId)).toHaveLength(1);
  });

  it("a redelivery while the first delivery is still at work joins it: one download, one send", async () => {
    const { r, files } = m;
    const { user, account } = await userWithAccount(r, "chuck");
    const { room } = await friendWithPortal(r, user, account);
    await r.hs.pushIdle();
    let open = () => {};
    files.gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const calls = files.calls;
    const downloadsBefore = downloads(r).length;
    const url = await uploadFile(user, Buffer.alloc(9000, 4), "application/zip", "slow.zip");
    const eventId = await sendMedia(user, room, { msgtype: "m.file", body: "slow.zip", url });
    await waitUntil(() => files.calls === calls + 1, 20_000, "first delivery in sendFile");
    const ev = r.hs.events(room, "m.room.message").find((e) => e.event_id === eventId)!;
    const again = fetch(`http://127.0.0.1:${r.appservice.port}/_matrix/app/v1/transactions/again-slow`, {
      method: "PUT",
      headers: { Authorization: "Bearer test-hs-token", "Content-Type": "application/json" },
      body: JSON.stringify({ events: [ev] }),
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    files.gate = undefined;
    open();
    expect((await again).status).toBe(200);
    await r.hs.pushIdle();
    expect(files.calls).toBe(calls + 1);
    expect(downloads(r).length).toBe(downloadsBefore + 1);
    expect(files.sent.filter((x) => x.request.sourceEventId === eventId)).toHaveLength(1);
  });

  it("too big: a notice, no download and nothing sent; a file bigger than it said stops mid-download", async () => {
    const { r, files, spoolDir } = m;
    const { user, botRoom, account } = await userWithAccount(r, "dave");
    const { room } = await friendWithPortal(r, user, account);
    const sentBefore = files.sent.length;
    const before = downloads(r).length;
    const url = await uploadFile(user, Buffer.alloc(10, 1), "video/mp4", "clip.mp4");
    await sendMedia(user, room, {
      msgtype: "m.video",
      body: "clip.mp4",
      url,
      info: { size: 5_000_000, mimetype: "video/mp4" },
    });
    const notice = await r.hs.waitForMessage({ roomId: botRoom, sender: r.hs.botUserId, body: /clip\.mp4/ });
    expect(String(notice.content.body)).toMatch(/clip\.mp4 \(5 MB\) was not sent to Tox: files up to 1 MB/);
    expect(downloads(r).length).toBe(before);

    // It claims 100 bytes but has 1.2 MB: refused while streaming, nothing left on disk.
    const big = Buffer.alloc(1_200_000, 2);
    const bigUrl = await uploadFile(user, big, "application/octet-stream", "liar.bin");
    await sendMedia(user, room, { msgtype: "m.file", body: "liar.bin", url: bigUrl, info: { size: 100 } });
    await r.hs.waitForMessage({ roomId: botRoom, sender: r.hs.botUserId, body: /liar\.bin was not sent/ });
    expect(files.sent.length).toBe(sentBefore);
    expect(await readdir(join(spoolDir, "matrix-in"))).toEqual([]);
  });

  it("malformed media events get a clear notice and change nothing", async () => {
    const { r, files } = m;
    const { user, botRoom, account } = await userWithAccount(r, "erin");
    const { room, friend } = await friendWithPortal(r, user, account);
    const sentBefore = files.sent.length;
    const url = await uploadFile(user, Buffer.alloc(10, 1), "text/plain", "ok.txt");
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ msgtype: "m.file", body: "x" }, /has no file URL/],
      [{ msgtype: "m.file", body: "x", url: "https://example.org/x" }, /not a valid mxc/],
      [{ msgtype: "m.file", body: "x", url: "mxc://localhost/../../etc" }, /not a valid mxc/],
      [{ msgtype: "m.image", body: "x", url, info: "big" }, /`info` is not an object/],
      [{ msgtype: "m.image", body: "x", url, info: { size: "10" } }, /`info.size` is not a size/],
      [{ msgtype: "m.file", body: "x", file: { url, key: {} } }, /end-to-end encrypted/],
      [{ msgtype: "m.file", body: "x", url: "mxc://localhost/doesnotexist" }, /no such media/],
    ];
    for (const [content, reason] of cases) {
      await sendMedia(user, room, content);
      await r.hs.waitForMessage({ roomId: botRoom, sender: r.hs.botUserId, body: reason });
    }
    expect(files.sent.length).toBe(sentBefore);
    expect(r.tox.sentTo(account.publicKey, friend)).toEqual([]);
  });

  it("a file sent to the bot is `import` with that file (its caption may carry the passphrase)", async () => {
    const { r, files } = m;
    const { user, botRoom } = await userWithAccount(r, "frank");
    files.reply = (text, fs) =>
      fs.length > 0 ? { ok: true, text: `imported ${fs[0]!.fileName} with "${text}"` } : undefined;
    const profile = Buffer.alloc(4000, 9);
    const url = await uploadFile(user, profile, "application/octet-stream", "me.tox");
    await sendMedia(user, botRoom, {
      msgtype: "m.file",
      body: "me.tox",
      url,
      info: { size: profile.length },
    });
    await r.hs.waitForMessage({
      roomId: botRoom,
      sender: r.hs.botUserId,
      body: 'imported me.tox with "import"',
    });
    await sendMedia(user, botRoom, {
      msgtype: "m.file",
      body: "import hunter2",
      filename: "me.tox",
      url,
      info: { size: profile.length },
    });
    await r.hs.waitForMessage({
      roomId: botRoom,
      sender: r.hs.botUserId,
      body: 'imported me.tox with "import hunter2"',
    });
    // A client that labels the profile an image: still a command file, so the user gets an answer.
    await sendMedia(user, botRoom, {
      msgtype: "m.image",
      body: "me.tox",
      url,
      info: { size: profile.length },
    });
    const imported = () => r.hs.messages(botRoom).filter((x) => x.body === 'imported me.tox with "import"');
    await waitUntil(() => imported().length === 2, 20_000, "answer to the image");
    // The homeserver fails the download: the user hears of it (the command ran once and is done).
    r.hs.failNext(1, { status: 502, match: (q) => q.path.includes("/media/download/") });
    await sendMedia(user, botRoom, {
      msgtype: "m.file",
      body: "me.tox",
      url,
      info: { size: profile.length },
    });
    await r.hs.waitForMessage({
      roomId: botRoom,
      sender: r.hs.botUserId,
      body: /could not download that file/,
    });
    const withFile = files.commands.filter((c) => c.files.length > 0);
    expect(withFile.map((c) => sha256(c.files[0]!.data))).toEqual([
      sha256(profile),
      sha256(profile),
      sha256(profile),
    ]);
    files.reply = undefined;

    await user.sendMessage(botRoom, "help import");
    const help = await r.hs.waitForMessage({
      roomId: botRoom,
      sender: r.hs.botUserId,
      body: /not end-to-end/,
    });
    expect(String(help.content.body)).toMatch(/import/);
  });

  it("export: a reply's file attachment is posted as an m.file with the same bytes", async () => {
    const { r, files } = m;
    const { user, botRoom } = await userWithAccount(r, "grace");
    const save = Buffer.alloc(2402, 3);
    files.reply = (text) =>
      text.startsWith("export")
        ? {
            ok: true,
            text: "Your profile:",
            attachments: [
              {
                kind: "file",
                mimeType: "application/octet-stream",
                fileName: "grace.tox",
                data: save,
                alt: "profile",
              },
            ],
          }
        : undefined;
    await user.sendMessage(botRoom, "export");
    const ev = await r.hs.waitForMessage({ roomId: botRoom, sender: r.hs.botUserId, msgtype: "m.file" });
    files.reply = undefined;
    expect(ev.content).toMatchObject({ body: "grace.tox", filename: "grace.tox", info: { size: 2402 } });
    expect(sha256((await user.download(String(ev.content.url))).data)).toBe(sha256(save));
  });

  it("avatars: a friend's avatar on its ghost (once per hash, cleared with null)", async () => {
    const { r } = m;
    const { user, account } = await userWithAccount(r, "heidi");
    const f = stranger();
    await r.core.contacts.add({ kind: "matrix", id: user.userId }, f.toxId);
    const ghost = ghostUserId(names, f.publicKey);
    const png = pngOf(64, 64, 100);
    const path = join(dir, "friend-avatar.png");
    await writeFile(path, png);
    const avatar = { path, mimeType: "image/png", hash: sha256(png), size: png.length };
    const before = uploads(r);
    await r.frontend.friendAvatar(account, f.publicKey, avatar);
    const url = r.hs.state.account(ghost).avatar_url;
    expect(url).toMatch(/^mxc:\/\//);
    expect(sha256((await user.download(url!)).data)).toBe(avatar.hash);
    await r.frontend.friendAvatar(account, f.publicKey, avatar);
    expect(uploads(r) - before).toBe(1);
    await r.frontend.friendAvatar(account, f.publicKey, null);
    expect(r.hs.state.account(ghost).avatar_url ?? "").toBe("");
  });

  it("avatars: the user's Matrix avatar is offered to Tox (on create, on change, once per change, at start-up)", async () => {
    const { r, files } = m;
    const user = r.hs.asUser(r.hs.createUser("ivan"));
    const first = pngOf(32, 32, 10);
    const firstUrl = await user.upload(first, "image/png", "me.png");
    await user.request("PUT", `/_matrix/client/v3/profile/${encodeURIComponent(user.userId)}/avatar_url`, {
      avatar_url: firstUrl,
    });
    const botRoom = await user.createDirectRoom(r.hs.botUserId);
    await r.hs.waitForMessage({ roomId: botRoom, sender: r.hs.botUserId, body: /send `create`/i });
    await user.sendMessage(botRoom, "create");
    const owner = (a: (typeof files.avatars)[number]) => a.owner.id === user.userId;
    await waitUntil(() => files.avatars.some(owner), 20_000, "avatar after create");
    expect(files.avatars.filter(owner).map((a) => a.avatar?.sha256)).toEqual([sha256(first)]);

    // Two portals: a profile change arrives in both, and is bridged once.
    const account = (await r.core.account({ kind: "matrix", id: user.userId }))!;
    const p1 = await friendWithPortal(r, user, account);
    const p2 = await friendWithPortal(r, user, account);
    // A large avatar: fetched as the homeserver's thumbnail instead.
    const second = pngOf(1024, 1024, 200_000);
    const secondUrl = await user.upload(second, "image/png", "big.png");
    const thumb = pngOf(256, 256, 2000);
    r.hs.state.setThumbnail(secondUrl, thumb, "image/png");
    await user.request("PUT", `/_matrix/client/v3/profile/${encodeURIComponent(user.userId)}/avatar_url`, {
      avatar_url: secondUrl,
    });
    await waitUntil(() => files.avatars.filter(owner).length === 2, 20_000, "avatar after change");
    await r.hs.pushIdle();
    const mine = files.avatars.filter(owner);
    expect(mine.map((a) => a.avatar?.sha256)).toEqual([sha256(first), sha256(thumb)]);
    expect([p1.room, p2.room].every((room) => r.hs.room(room).membership(user.userId) === "join")).toBe(true);

    // Removed: Tox friends are told there is none.
    await user.request("PUT", `/_matrix/client/v3/profile/${encodeURIComponent(user.userId)}/avatar_url`, {
      avatar_url: null,
    });
    await waitUntil(() => files.avatars.filter(owner).length === 3, 20_000, "avatar removed");
    await r.hs.pushIdle();
    expect(files.avatars.filter(owner).at(-1)?.avatar).toBeNull();
    expect(files.avatars.filter(owner)).toHaveLength(3);

    // A new identity (logout, create) gets the avatar although the Matrix avatar did not change.
    await user.request("PUT", `/_matrix/client/v3/profile/${encodeURIComponent(user.userId)}/avatar_url`, {
      avatar_url: firstUrl,
    });
    await waitUntil(() => files.avatars.filter(owner).length === 4, 20_000, "avatar back");
    await user.sendMessage(botRoom, "logout");
    await user.sendMessage(botRoom, "logout confirm");
    await r.hs.waitForMessage({ roomId: botRoom, sender: r.hs.botUserId, body: /was deleted/ });
    await user.sendMessage(botRoom, "create");
    await waitUntil(() => files.avatars.filter(owner).length === 5, 20_000, "avatar of the new identity");
    expect(files.avatars.filter(owner).at(-1)?.avatar?.sha256).toBe(sha256(first));

    // Changed while the bridge was not listening (no member event): read again at start-up.
    const third = pngOf(16, 16, 5);
    r.hs.state.account(user.userId).avatar_url = await user.upload(third, "image/png", "third.png");
    await r.frontend.syncUserAvatars();
    expect(
      files.avatars
        .filter(owner)
        .map((a) => a.avatar?.sha256)
        .at(-1),
    ).toBe(sha256(third));
    expect(files.avatars.filter(owner)).toHaveLength(6);
  });
});

describe("Matrix media: an older, stricter homeserver (no authenticated media, 100 kB uploads)", () => {
  let rig: MediaRig;
  beforeAll(async () => {
    rig = await startMediaRig({ homeserver: { authenticatedMedia: false, uploadLimit: 100_000 } });
  });
  afterAll(async () => {
    await rig.r.stop();
  });

  it("a homeserver without authenticated media: downloads fall back to /_matrix/media/v3", async () => {
    const { r, files } = rig;
    const { user, account } = await userWithAccount(r, "judy");
    const { room } = await friendWithPortal(r, user, account);
    const data = Buffer.alloc(7000, 5);
    const url = await uploadFile(user, data, "audio/ogg", "voice.ogg");
    const eventId = await sendMedia(user, room, {
      msgtype: "m.audio",
      body: "voice.ogg",
      url,
      info: { size: data.length, mimetype: "audio/ogg" },
    });
    await waitUntil(() => files.sent.some((s) => s.request.sourceEventId === eventId), 20_000, "sendFile");
    expect(files.sent[0]).toMatchObject({ sha256: sha256(data), request: { mimeType: "audio/ogg" } });
    // The first authenticated media request (the upload limit, for the QR code) taught the client.
    const v1 = r.hs.requests.filter((q) => q.path.startsWith("/_matrix/client/v1/media/"));
    expect(v1.length).toBeGreaterThan(0);
    expect(v1.every((q) => q.status === 404)).toBe(true);
    expect(downloads(r).map((q) => q.path.split("/").slice(0, 5).join("/"))).toEqual([
      "/_matrix/media/v3/download",
    ]);
  });

  it("a Tox file over the homeserver's upload limit becomes a notice in the portal, posted once", async () => {
    const { r } = rig;
    const { user, account } = await userWithAccount(r, "mallory");
    const f = stranger();
    await r.core.contacts.add({ kind: "matrix", id: user.userId }, f.toxId);
    const file = await inboundFile(f.publicKey, "movie.mkv", Buffer.alloc(150_000, 1), "video/x-matroska");
    await r.frontend.deliverFile(account, file);
    await r.frontend.deliverFile(account, file);
    const ghost = ghostUserId(names, f.publicKey);
    const ev: RoomEvent = await r.hs.waitForMessage({ sender: ghost, msgtype: "m.notice" });
    expect(String(ev.content.body)).toMatch(/movie\.mkv \(150 kB\).*does not accept files this large/);
    expect(r.hs.messages(ev.room_id).filter((e) => e.sender === ghost)).toHaveLength(1);
    // Refused from the homeserver's stated limit, before sending: the ghost uploaded nothing.
    expect(r.hs.requests.filter((q) => q.path === "/_matrix/media/v3/upload" && q.userId === ghost)).toEqual(
      [],
    );
  });
});
