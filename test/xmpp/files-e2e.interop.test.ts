/**
 * Files and profiles end to end: a real Prosody with its XEP-0363 service, alice on @xmpp/client,
 * the real BridgeCore on a real ToxNode, and c-toxcore 0.2.18 peers.
 * - alice registers by importing a profile c-toxcore wrote (Carol already among its friends):
 *   she keeps that Tox ID, and Carol is her friend without any request;
 * - Carol sends a file: it reaches alice as an OOB link whose download has the same sha256;
 * - alice shares a file (her own HTTP upload + OOB) with Carol: Carol receives the same bytes;
 * - ad-hoc export (encrypted) loads in c-toxcore with the same key and Carol as friend;
 * - avatars both ways: Carol's as her contact's vCard photo, alice's vCard photo to Carol.
 * Our identity reaches Carol directly over loopback UDP (no DHT/onion). Ports: Prosody
 * 39300-39349, our node 39370-39384, c-toxcore 39385-39399.
 */
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClientElement } from "@xmpp/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BridgeCore } from "../../src/core/bridge-core.js";
import { ipPort, type ToxNode } from "../../src/tox/index.js";
import { passDecrypt } from "../../src/tox/state/encryptsave.js";
import type { XmppGateway } from "../../src/xmpp/gateway.js";
import { NS } from "../../src/xmpp/namespaces.js";
import { TestDb } from "../core/helpers.js";
import { nodeOf, startWholeBridge } from "../helpers/whole-bridge.js";
import { CToxPeer, FILE_KIND_AVATAR, FILE_KIND_DATA, waitUntil } from "../interop/ctoxcore.js";
import {
  adhocExport,
  base64Lines,
  GW,
  photoVcard,
  registrationForm,
  startXmppServer,
  uploadAsUser,
} from "./harness.js";
import { type TestUser, xml } from "./user.js";

const owner = { kind: "xmpp" as const, id: "alice@localhost" };
const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

describe("XMPP files and profiles <-> c-toxcore through the real core", () => {
  const db = new TestDb();
  const cleanup: (() => unknown)[] = [];
  let node: ToxNode;
  let core: BridgeCore;
  let alice: TestUser;
  let carol: CToxPeer;
  /** Carol's friend number for alice's identity. */
  let carolsAlice = -1;
  let gateway: XmppGateway;
  let newGateway: () => Promise<XmppGateway>;
  /** What Carol is sending, by file number. */
  const outgoing = new Map<number, Uint8Array>();

  function sendFromCarol(data: Uint8Array, name: string, kind: number): void {
    const file = carol.fileSend(carolsAlice, data.length, name, kind);
    outgoing.set(file, data);
  }

  beforeAll(async () => {
    await db.setup();
    cleanup.push(() => db.teardown());
    const spool = await mkdtemp(join(tmpdir(), "toxbridge-xmpp-e2e-"));
    cleanup.push(() => rm(spool, { recursive: true, force: true }));
    const server = await startXmppServer({
      portBase: 39300,
      portCount: 50,
      secret: "files-e2e-secret",
      users: ["alice"],
    });
    cleanup.push(() => server.stop());
    const bridge = await startWholeBridge({
      store: db,
      tox: { ports: [39370, 39384] },
      core: { files: { spoolDir: join(spool, "core") } },
    });
    cleanup.push(() => bridge.stop());
    ({ core } = bridge);
    node = nodeOf(bridge);
    newGateway = () =>
      server.startGateway(core, {
        workDir: join(spool, "xmpp"),
        allowPrivateAddresses: true, // Prosody's upload service is on 127.0.0.1
      });
    gateway = await newGateway();
    cleanup.push(() => gateway.stop());
    alice = await server.connect("alice");
    carol = await CToxPeer.create({ startPort: 39385, endPort: 39399, name: "Carol", label: "carol" });
    cleanup.push(() => carol.kill());
    carol.on("fileChunkRequest", (friend, file, position, length) => {
      const data = outgoing.get(file);
      if (data && length > 0)
        carol.fileSendChunk(friend, file, position, data.subarray(position, position + length));
    });
  }, 60_000);

  afterAll(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  it("registration imports a c-toxcore profile: same Tox ID, Carol already a friend", async () => {
    // A native client's profile: c-toxcore wrote it, with Carol in its friend list.
    const native = await CToxPeer.create({
      startPort: 39385,
      endPort: 39399,
      name: "Alice",
      label: "native",
    });
    let profile: Uint8Array;
    let toxId: string;
    try {
      native.friendAddNoRequest(carol.publicKey);
      profile = native.getSavedata();
      toxId = native.addressHex.toUpperCase();
    } finally {
      native.kill();
    }
    await alice.xmpp.iqCaller.set(
      registrationForm({ action: "import", profile: base64Lines(profile) }),
      GW,
      10_000,
    );
    const account = await core.account(owner);
    expect(account?.publicKey.toUpperCase()).toBe(toxId.slice(0, 64));
    const id = await core.command(owner, "id", "user");
    expect(id.text.toUpperCase()).toContain(toxId);
    expect((await core.friend(owner, carol.publicKeyHex.toLowerCase()))?.state).toBe("accepted");

    // Carol knows alice's key already (a friend without request); our node dials her directly.
    const me = node.identity(account?.publicKey ?? "");
    if (!me) throw new Error("imported identity is not online");
    carolsAlice = carol.friendAddNoRequest(me.publicKeyBytes);
    await me.connectFriendDirect(carol.publicKey, carol.dhtId, ipPort("127.0.0.1", carol.udpPort));
    await waitUntil(() => carol.friendConnectionStatus(carolsAlice) === "udp", 15_000, "Carol sees alice");
  }, 30_000);

  it("a file from Carol arrives as an OOB link that downloads the same bytes", async () => {
    const data = new Uint8Array(300_000).map((_, i) => (i * 31 + 7) & 0xff);
    sendFromCarol(data, "from-carol.bin", FILE_KIND_DATA);
    const contact = `${carol.publicKeyHex.toLowerCase()}@${GW}`;
    const msg = await alice.waitFor(
      (el) => el.name === "message" && el.attrs.from === contact && el.getChild("x", NS.oob) !== undefined,
      "Carol's file link",
      30_000,
    );
    const url = msg.getChild("x", NS.oob)?.getChildText("url") ?? "";
    expect(url).toMatch(/from-carol\.bin$/);
    const res = await fetch(url);
    expect(sha256(new Uint8Array(await res.arrayBuffer()))).toBe(sha256(data));
  }, 45_000);

  it("a file alice shares with Carol (HTTP upload + OOB) reaches her with the same bytes", async () => {
    const data = new Uint8Array(200_000).map((_, i) => (i * 17 + 3) & 0xff);
    const url = await uploadAsUser(alice, "for-carol.bin", data);

    const received: { name: string; size: number; chunks: Map<number, Uint8Array> } = {
      name: "",
      size: -1,
      chunks: new Map(),
    };
    carol.on("fileRecv", (friend, file, kind, size, name) => {
      if (kind !== FILE_KIND_DATA) return;
      received.name = name;
      received.size = size;
      carol.fileControl(friend, file, "resume");
    });
    carol.on("fileRecvChunk", (_friend, _file, position, chunk) => {
      if (chunk.length > 0) received.chunks.set(position, chunk);
    });
    const contact = `${carol.publicKeyHex.toLowerCase()}@${GW}`;
    await alice.xmpp.send(
      xml(
        "message",
        { type: "chat", to: contact, id: "share-1" },
        xml("body", {}, url),
        xml("x", { xmlns: NS.oob }, xml("url", {}, url)),
      ),
    );
    const total = () => [...received.chunks.values()].reduce((n, c) => n + c.length, 0);
    await waitUntil(
      () => received.size === data.length && total() === data.length,
      30_000,
      "Carol has the file",
    );
    const whole = Buffer.concat([...received.chunks.entries()].sort((a, b) => a[0] - b[0]).map(([, c]) => c));
    expect(received.name).toBe("for-carol.bin");
    expect(sha256(whole)).toBe(sha256(data));
  }, 45_000);

  it("ad-hoc export gives the profile back (encrypted); c-toxcore loads it with the same Tox ID", async () => {
    const { field } = await adhocExport(alice, "pw 1", 10_000);
    const encrypted = new Uint8Array(Buffer.from(field("profile") ?? "", "base64"));
    // The upload link holds the same bytes.
    const linked = new Uint8Array(await (await fetch(field("url") ?? "")).arrayBuffer());
    expect(sha256(linked)).toBe(sha256(encrypted));
    const native = await CToxPeer.create({
      startPort: 39385,
      endPort: 39399,
      savedata: await passDecrypt(encrypted, "pw 1"),
      label: "reloaded",
    });
    try {
      const account = await core.account(owner);
      expect(native.publicKeyHex.toLowerCase()).toBe(account?.publicKey);
      expect(native.friendByPublicKey(carol.publicKey)).toBeDefined();
    } finally {
      native.kill();
    }
  }, 30_000);

  it("avatars: Carol's arrives as her contact's vCard photo (hash in presence); alice's vCard photo reaches Carol", async () => {
    const contact = `${carol.publicKeyHex.toLowerCase()}@${GW}`;
    const png = new Uint8Array(3000).map((_, i) => (i * 5) & 0xff);
    png.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    sendFromCarol(png, "", FILE_KIND_AVATAR);
    const sha1 = createHash("sha1").update(png).digest("hex");
    await alice.waitFor(
      (el) =>
        el.name === "presence" &&
        el.attrs.from === contact &&
        el.getChild("x", "vcard-temp:x:update")?.getChildText("photo") === sha1,
      "Carol's presence with her avatar hash",
      20_000,
    );
    const vcard = await alice.xmpp.iqCaller.get(xml("vCard", { xmlns: "vcard-temp" }), contact, 5000);
    expect(sha256(Buffer.from(vcard.getChild("PHOTO")?.getChildText("BINVAL") ?? "", "base64"))).toBe(
      sha256(png),
    );

    // alice's own avatar: her vCard photo, picked up from the hash in her next presence.
    const mine = new Uint8Array(2000).map((_, i) => (i * 11) & 0xff);
    mine.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const avatar: { size: number; chunks: Uint8Array[] } = { size: -1, chunks: [] };
    carol.on("fileRecv", (friend, file, kind, size) => {
      if (kind !== FILE_KIND_AVATAR) return;
      avatar.size = size;
      carol.fileControl(friend, file, "resume");
    });
    carol.on("fileRecvChunk", (_friend, _file, _position, chunk) => {
      if (avatar.size >= 0 && chunk.length > 0) avatar.chunks.push(chunk);
    });
    await alice.xmpp.iqCaller.set(photoVcard("image/png", mine), undefined, 5000);
    await alice.xmpp.send(xml("presence", { to: GW }));
    const total = () => avatar.chunks.reduce((n, c) => n + c.length, 0);
    await waitUntil(
      () => avatar.size === mine.length && total() === mine.length,
      20_000,
      "Carol has alice's avatar",
    );
    expect(sha256(Buffer.concat(avatar.chunks))).toBe(sha256(mine));
  }, 60_000);

  it("after a gateway crash, alice sees the gateway and Carol online again without probing", async () => {
    expect((await core.accountsOf("xmpp")).map((a) => a.owner.id)).toEqual([owner.id]);
    await gateway.component.stop(); // a crash: no goodbye presences
    const mark = alice.received.length;
    gateway = await newGateway();
    const contact = `${carol.publicKeyHex.toLowerCase()}@${GW}`;
    const fresh = (from: string) => (el: ClientElement) =>
      el.name === "presence" &&
      el.attrs.from === from &&
      el.attrs.type === undefined &&
      alice.received.indexOf(el) >= mark;
    await alice.waitFor(fresh(GW), "the gateway's presence", 10_000);
    await alice.waitFor(fresh(contact), "Carol's presence", 10_000);
  }, 30_000);
});
