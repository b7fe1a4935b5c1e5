/**
 * Matrix media end to end with the real core and a real c-toxcore 0.2.18 peer: a Matrix user (on
 * the homeserver double, over real HTTP) gets a file from the C peer as one m.file with equal
 * bytes, sends one back through the portal, gets the C peer's avatar on its ghost (and the C peer
 * gets the user's Matrix avatar), exports their
 * profile as an m.file that c-toxcore loads with the same Tox ID, and imports an encrypted
 * c-toxcore profile by sending it to the bot and then its passphrase.
 * Direct UDP on loopback (no DHT/onion). Ports: ours 37200-37219, C 37220-37259.
 */
import { createHash } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import type { ToxNodeGateway } from "../../src/core/tox-adapter.js";
import { ghostUserId } from "../../src/matrix/ids.js";
import { passEncrypt } from "../../src/tox/state/encryptsave.js";
import { CToxPeer, waitUntil } from "../interop/ctoxcore.js";
import { befriendCPeerThroughBot, startFrontendRig, userWithAccount } from "./frontend-harness.js";

const names = { domain: "localhost", botLocalpart: "toxbot", userPrefix: "_tox_" };
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function pattern(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed + (i >> 10)) & 0xff;
  return out;
}

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

describe("Matrix media <-> c-toxcore through the bridge", () => {
  it("files both ways, avatars both ways, export loads in c-toxcore, encrypted import by file + passphrase", async () => {
    const rig = await startFrontendRig<ToxNodeGateway>({ tox: { ports: [37200, 37219] } });
    cleanup.push(() => rig.stop());
    const c = await CToxPeer.create({
      startPort: 37220,
      endPort: 37229,
      name: "Carol",
      label: "c",
      iterateEveryMs: 5,
    });
    cleanup.push(() => c.kill());
    const { hs } = rig;

    const who = await userWithAccount(rig, "alice");
    const { user: alice, botRoom, account } = who;
    const { friendNo: f, friend } = await befriendCPeerThroughBot(rig, who, c);
    const ghost = ghostUserId(names, friend);

    // c-toxcore -> Matrix: 1 MiB, one m.file with the same bytes.
    const inbound = pattern(1024 * 1024, 7);
    // What C is sending, by file number (numbers are reused once a transfer ends).
    const sending = new Map<number, Uint8Array>();
    c.on("fileChunkRequest", (_fr, file, pos, len) => {
      const data = sending.get(file);
      if (len > 0 && data !== undefined) c.fileSendChunk(f, file, pos, data.subarray(pos, pos + len));
      else if (len === 0) sending.delete(file);
    });
    sending.set(c.fileSend(f, inbound.length, "report.bin"), inbound);
    const posted = await hs.waitForMessage({ sender: ghost, msgtype: "m.file" }, { timeoutMs: 30_000 });
    expect(posted.content).toMatchObject({ body: "report.bin", info: { size: inbound.length } });
    expect(sha((await alice.download(String(posted.content.url))).data)).toBe(sha(inbound));
    const room = posted.room_id;
    await alice.join(room);

    // Matrix -> c-toxcore: 512 KiB through the portal.
    const outbound = Buffer.from(pattern(512 * 1024, 3));
    const got = new Uint8Array(outbound.length);
    let received = 0;
    let offeredName = "";
    c.on("fileRecv", (_fr, file, kind, _size, name) => {
      if (kind !== 0) return;
      offeredName = name;
      c.fileControl(f, file, "resume");
    });
    c.on("fileRecvChunk", (_fr, _file, pos, data) => {
      got.set(data, pos);
      received += data.length;
    });
    const url = await alice.upload(outbound, "application/octet-stream", "back.bin");
    await alice.sendEvent(room, "m.room.message", {
      msgtype: "m.file",
      body: "back.bin",
      url,
      info: { size: outbound.length },
    });
    await waitUntil(() => received === outbound.length, 30_000, "C receives the file");
    expect(offeredName).toBe("back.bin");
    expect(sha(got)).toBe(sha(outbound));

    // The friend's avatar (file kind 1, id = its sha256) becomes the ghost's.
    const avatar = pattern(3000, 9);
    sending.set(c.fileSend(f, avatar.length, "", 1, createHash("sha256").update(avatar).digest()), avatar);
    await waitUntil(() => hs.state.account(ghost).avatar_url !== undefined, 20_000, "ghost avatar");
    expect(sha((await alice.download(hs.state.account(ghost).avatar_url!)).data)).toBe(sha(avatar));

    // Alice's Matrix avatar reaches Carol as a Tox avatar (kind 1) with the same bytes.
    const mine = Buffer.from(pattern(2000, 5));
    const avatarGot: number[] = [];
    let avatarReceived = -1;
    c.on("fileRecv", (_fr, file, kind, size) => {
      if (kind !== 1) return;
      avatarReceived = size === 0 ? -1 : 0;
      c.fileControl(f, file, "resume");
    });
    c.on("fileRecvChunk", (_fr, _file, pos, data) => {
      if (avatarReceived < 0 || data.length === 0) return;
      avatarGot.splice(pos, data.length, ...data);
      avatarReceived += data.length;
    });
    const mineUrl = await alice.upload(mine, "image/png", "me.png");
    await alice.request("PUT", `/_matrix/client/v3/profile/${encodeURIComponent(alice.userId)}/avatar_url`, {
      avatar_url: mineUrl,
    });
    await waitUntil(() => avatarReceived === mine.length, 20_000, "C receives alice's avatar");
    expect(sha(Uint8Array.from(avatarGot))).toBe(sha(mine));

    // Export: an m.file that c-toxcore loads with alice's Tox ID.
    await alice.sendMessage(botRoom, "export");
    const exported = await hs.waitForMessage({ roomId: botRoom, sender: hs.botUserId, msgtype: "m.file" });
    const save = (await alice.download(String(exported.content.url))).data;
    const loaded = await CToxPeer.create({
      startPort: 37230,
      endPort: 37239,
      label: "exported",
      savedata: save,
    });
    cleanup.push(() => loaded.kill());
    expect(loaded.publicKeyHex.toLowerCase()).toBe(account.publicKey);

    // Import: bob sends an encrypted c-toxcore profile to the bot, then its passphrase.
    const source = await CToxPeer.create({ startPort: 37240, endPort: 37249, label: "source", name: "Dave" });
    cleanup.push(() => source.kill());
    const encrypted = Buffer.from(await passEncrypt(source.getSavedata(), "correct horse"));
    const bob = hs.asUser(hs.createUser("bob"));
    const bobRoom = await bob.createDirectRoom(hs.botUserId);
    await hs.waitForMembership(bobRoom, hs.botUserId, "join");
    const profileUrl = await bob.upload(encrypted, "application/octet-stream", "dave.tox");
    await bob.sendEvent(bobRoom, "m.room.message", {
      msgtype: "m.file",
      body: "dave.tox",
      url: profileUrl,
      info: { size: encrypted.length },
    });
    await hs.waitForMessage({ roomId: bobRoom, sender: hs.botUserId, body: /encrypted/i });
    await bob.sendMessage(bobRoom, "import correct horse");
    await waitUntil(
      async () =>
        (await rig.core.account({ kind: "matrix", id: bob.userId }))?.publicKey ===
        source.publicKeyHex.toLowerCase(),
      10_000,
      "bob's account has Dave's key",
    );
  }, 90_000);
});
