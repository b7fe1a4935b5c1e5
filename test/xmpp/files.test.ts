/**
 * Files, profiles and avatars through the XMPP gateway against a real Prosody 0.12 with its
 * XEP-0363 service (mod_http_file_share) on loopback, a real @xmpp/client user, and the fake core
 * with the file API (files-core.ts). A small HTTP server plays the web for links that misbehave.
 * Ports: Prosody 37300-37349, the web 37350-37359 (files-unit: 37360-37369; the end-to-end
 * file: Tox 37370-37399).
 */
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClientElement } from "@xmpp/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromHex } from "../../src/tox/bytes.js";
import { newKeyPair } from "../../src/tox/crypto.js";
import { passDecrypt, passEncrypt } from "../../src/tox/state/encryptsave.js";
import { parseSaveData, serializeSaveData } from "../../src/tox/state/savefile.js";
import { sha1Hex } from "../../src/xmpp/avatars.js";
import { type FileDeliveryState, fileDeliveryKey } from "../../src/xmpp/files.js";
import type { XmppGateway } from "../../src/xmpp/gateway.js";
import { NS } from "../../src/xmpp/namespaces.js";
import { pickPorts } from "../helpers/prosody/index.js";
import { waitUntil } from "../helpers/wait.js";
import { friendView } from "./fake-core.js";
import { FilesFakeCore } from "./files-core.js";
import {
  adhocExport,
  base64Lines,
  GW,
  photoVcard,
  registrationForm,
  startXmppServer,
  uploadAsUser,
  type XmppServer,
} from "./harness.js";
import { type TestUser, xml } from "./user.js";

const PORT_BASE = 37300;
const FRIEND = "cd".repeat(32);
const FRIEND_JID = `${FRIEND}@${GW}`;
const MAX = 64 * 1024;

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

async function httpGet(url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** The web for links: sizes that lie, redirects elsewhere, errors and cut-off bodies. */
function startWeb(port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = req.url ?? "/";
    if (path === "/ok/notes.txt") {
      res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": "5" });
      res.end(req.method === "HEAD" ? undefined : "notes");
    } else if (path === "/big.bin") {
      res.writeHead(200, { "Content-Length": String(MAX + 1) });
      if (req.method === "HEAD") res.end();
      else res.end(Buffer.alloc(MAX + 1));
    } else if (path === "/endless.bin") {
      // No length, no HEAD: only counting while streaming finds out.
      if (req.method === "HEAD") {
        res.writeHead(405);
        res.end();
        return;
      }
      res.writeHead(200, { "Content-Type": "application/octet-stream" });
      let sent = 0;
      const pump = () => {
        while (sent < 4 * MAX) {
          sent += 4096;
          if (!res.write(Buffer.alloc(4096))) return void res.once("drain", pump);
        }
        res.end();
      };
      res.on("close", () => {
        sent = Number.POSITIVE_INFINITY;
      });
      pump();
    } else if (path === "/to-ftp") {
      res.writeHead(302, { Location: "ftp://127.0.0.1/secret" });
      res.end();
    } else if (path === "/cut.bin") {
      res.writeHead(200, { "Content-Length": "1000" });
      if (req.method === "HEAD") return void res.end();
      res.write(Buffer.alloc(100));
      setTimeout(() => res.destroy(), 20);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

describe("XMPP gateway: files, profiles and avatars (real Prosody + XEP-0363)", () => {
  let server: XmppServer;
  let web: http.Server;
  let webBase: string;
  let workDir: string;
  let core: FilesFakeCore;
  let gateway: XmppGateway;
  let alice: TestUser;

  /** Delivery records that outlive a gateway, as the store's bridge state does (files-unit tests that). */
  const records = new Map<string, unknown>();
  const fileDeliveries: FileDeliveryState = {
    get: async <T>(key: string) => (records.get(key) as T | undefined) ?? null,
    set: async (key, value) => {
      records.set(key, value);
    },
  };

  const startGateway = () =>
    server.startGateway(core, {
      workDir,
      fileDeliveries,
      initialRetryMs: 50,
      // Everything here is on loopback, the test web server included (files-unit tests the refusal).
      allowPrivateAddresses: true,
    });

  /** Sends a stanza, then pings the gateway: it handles one sender in order, so the pong means done. */
  async function sendAndSettle(user: TestUser, el: ClientElement) {
    await user.xmpp.send(el);
    await user.xmpp.iqCaller.get(xml("ping", { xmlns: NS.ping }), GW, 5000);
  }

  const fromFriend = (el: ClientElement) => el.name === "message" && el.attrs.from === FRIEND_JID;
  const bodyOf = (el: ClientElement) => el.getChildText("body") ?? "";

  beforeAll(async () => {
    server = await startXmppServer({
      portBase: PORT_BASE,
      portCount: 50,
      secret: "files-secret",
      users: ["alice", "carol", "dave"],
    });
    const [webPort] = await pickPorts(1, PORT_BASE + 50, 10);
    web = await startWeb(webPort as number);
    webBase = `http://127.0.0.1:${webPort}`;
    workDir = await mkdtemp(join(tmpdir(), "toxbridge-xmpp-files-"));
    core = new FilesFakeCore();
    core.maxFileSize = MAX;
    const account = core.createAccount("alice@localhost");
    account.friends.set(FRIEND, friendView(FRIEND, "accepted", { name: "Bob", online: true }));
    gateway = await startGateway();
    alice = await server.connect("alice");
  }, 30_000);

  afterAll(async () => {
    await alice?.stop();
    await gateway?.stop();
    await new Promise((r) => web?.close(r));
    await server?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  describe("Tox -> XMPP", () => {
    it("a file from a friend arrives as an OOB message whose URL downloads the same bytes, once", async () => {
      const data = new Uint8Array(20_000).map((_, i) => (i * 7) & 0xff);
      const path = join(workDir, "from-bob.bin");
      await writeFile(path, data);
      const ref = (await core.account({ kind: "xmpp", id: "alice@localhost" }))!;
      const file = {
        id: 41,
        friend: FRIEND,
        fileName: "holiday photo.jpg",
        size: data.length,
        mimeType: "image/jpeg",
        path,
        receivedAt: new Date(),
      };
      await gateway.frontend.deliverFile(ref, file);
      const msg = await alice.waitFor(
        (el) => fromFriend(el) && el.attrs.id === "tox-file-41",
        "file message",
      );
      const url = msg.getChild("x", NS.oob)?.getChildText("url") ?? "";
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/.+holiday%20photo\.jpg$/);
      expect(bodyOf(msg)).toBe(url);
      expect(sha256(await httpGet(url))).toBe(sha256(data));
      // A redelivery (the core did not see the confirmation) sends nothing new.
      await gateway.frontend.deliverFile(ref, file);
      await alice.xmpp.iqCaller.get(xml("ping", { xmlns: NS.ping }), GW, 5000);
      expect(alice.received.filter((el) => el.attrs.id === "tox-file-41")).toHaveLength(1);
    });

    it("a file larger than the server's upload limit becomes a clear message with its name and size", async () => {
      const g = gateway;
      const ref = (await core.account({ kind: "xmpp", id: "alice@localhost" }))!;
      const path = join(workDir, "huge.iso");
      // 10 MiB + 1: the test Prosody's http_file_share_size_limit is 10 MiB.
      await writeFile(path, Buffer.alloc(10 * 1024 * 1024 + 1));
      await g.frontend.deliverFile(ref, {
        id: 42,
        friend: FRIEND,
        fileName: "huge.iso",
        size: 10 * 1024 * 1024 + 1,
        mimeType: "application/octet-stream",
        path,
        receivedAt: new Date(),
      });
      const msg = await alice.waitFor((el) => el.attrs.id === "tox-file-42", "too-large notice");
      expect(bodyOf(msg)).toMatch(
        /"huge\.iso" \(10 MiB\).*takes files up to 10 MiB \(10485760 bytes\); this one has 10485761/,
      );
      expect(msg.getChild("x", NS.oob)).toBeUndefined();
    });
  });

  describe("XMPP -> Tox", () => {
    it("an OOB link from the user's own upload reaches sendFile with the right name, size and bytes", async () => {
      const data = new Uint8Array(30_000).map((_, i) => (i * 13) & 0xff);
      const url = await uploadAsUser(alice, "report.pdf", data, "application/pdf");
      await sendAndSettle(
        alice,
        xml(
          "message",
          { type: "chat", to: FRIEND_JID, id: "oob-1" },
          xml("body", {}, url),
          xml("x", { xmlns: NS.oob }, xml("url", {}, url)),
        ),
      );
      await gateway.files.idle();
      expect(core.sentFiles).toHaveLength(1);
      expect(core.sentFiles[0]).toMatchObject({
        friend: FRIEND,
        fileName: "report.pdf",
        size: data.length,
        mimeType: "application/pdf",
        sourceEventId: "oob-1",
        sha256: sha256(data),
      });
      // The same stanza again (a client resending after a reconnect) is not sent twice.
      await sendAndSettle(
        alice,
        xml(
          "message",
          { type: "chat", to: FRIEND_JID, id: "oob-1" },
          xml("body", {}, url),
          xml("x", { xmlns: NS.oob }, xml("url", {}, url)),
        ),
      );
      await gateway.files.idle();
      expect(core.sentFiles).toHaveLength(1);
      expect(core.sent.filter((m) => m.sourceEventId?.startsWith("oob-1"))).toEqual([]);
    });

    it("a body that is only a link to the user's upload host is a file; other links stay text", async () => {
      const data = new TextEncoder().encode("plain link share");
      const url = await uploadAsUser(alice, "note.txt", data, "text/plain");
      await sendAndSettle(
        alice,
        xml("message", { type: "chat", to: FRIEND_JID, id: "bare-1" }, xml("body", {}, url)),
      );
      await gateway.files.idle();
      expect(core.sentFiles.at(-1)).toMatchObject({
        fileName: "note.txt",
        size: data.length,
        sourceEventId: "bare-1",
      });
      await sendAndSettle(
        alice,
        xml(
          "message",
          { type: "chat", to: FRIEND_JID, id: "web-1" },
          xml("body", {}, "https://example.org/page"),
        ),
      );
      expect(core.sent.at(-1)).toMatchObject({ text: "https://example.org/page", sourceEventId: "web-1" });
    });

    it.each([
      ["too big by its Content-Length", () => `${webBase}/big.bin`, /at most 64 KiB/],
      ["too big while streaming (no length)", () => `${webBase}/endless.bin`, /at most 64 KiB/],
      ["not http", () => "ftp://127.0.0.1/file.bin", /only http and https/],
      ["redirected to another scheme", () => `${webBase}/to-ftp`, /redirected to a ftp: URL/],
      ["broken (404)", () => `${webBase}/missing.bin`, /HTTP 404/],
      ["cut off", () => `${webBase}/cut.bin`, /broke off/],
      ["OMEMO (aesgcm)", () => "aesgcm://127.0.0.1/x.jpg#abcdef", /end-to-end encrypted/],
    ])("a link that is %s gives a clear message and sends nothing", async (_what, link, why) => {
      const before = core.sentFiles.length;
      const sentBefore = core.sent.length;
      const id = `bad-${Math.random().toString(36).slice(2)}`;
      const url = link();
      await sendAndSettle(
        alice,
        xml(
          "message",
          { type: "chat", to: FRIEND_JID, id },
          xml("body", {}, url),
          xml("x", { xmlns: NS.oob }, xml("url", {}, url)),
        ),
      );
      await gateway.files.idle();
      const notice = await alice.waitFor(
        (el) => fromFriend(el) && bodyOf(el).startsWith("⚠ Not sent to Tox") && why.test(bodyOf(el)),
        `notice matching ${why}`,
      );
      expect(bodyOf(notice)).toMatch(why);
      expect(core.sentFiles.length).toBe(before);
      expect(core.sent.length).toBe(sentBefore);
    });

    it("a link to an ordinary web server works too (OOB)", async () => {
      await sendAndSettle(
        alice,
        xml(
          "message",
          { type: "chat", to: FRIEND_JID, id: "web-ok" },
          xml("body", {}, `${webBase}/ok/notes.txt`),
          xml("x", { xmlns: NS.oob }, xml("url", {}, `${webBase}/ok/notes.txt`)),
        ),
      );
      await gateway.files.idle();
      expect(core.sentFiles.at(-1)).toMatchObject({
        fileName: "notes.txt",
        size: 5,
        mimeType: "text/plain",
        sha256: sha256(new TextEncoder().encode("notes")),
      });
    });
  });

  describe("profiles", () => {
    function saveFile() {
      const kp = newKeyPair();
      return {
        kp,
        data: serializeSaveData({
          secretKey: kp.secretKey,
          publicKey: kp.publicKey,
          nospam: fromHex("11223344"),
          name: new TextEncoder().encode("Carol"),
          statusMessage: new Uint8Array(0),
          userStatus: 0,
          friends: [],
          dhtNodes: [],
          tcpRelays: [],
          pathNodes: [],
          conferences: [],
          unknownSections: [],
        }),
      };
    }

    it("registration imports an encrypted .tox given as base64 with its passphrase", async () => {
      const carol = await server.connect("carol");
      try {
        const { kp, data } = saveFile();
        const encrypted = await passEncrypt(data, "correct horse");
        const form = (passphrase: string) =>
          registrationForm({ action: "import", profile: base64Lines(encrypted), passphrase });
        await expect(carol.xmpp.iqCaller.set(form("wrong"), GW, 5000)).rejects.toThrow(/not-acceptable/);
        expect(core.accounts.has("carol@localhost")).toBe(false);
        await carol.xmpp.iqCaller.set(form("correct horse"), GW, 5000);
        const account = core.accounts.get("carol@localhost");
        expect(account?.ref.publicKey).toBe(Buffer.from(kp.publicKey).toString("hex"));
        expect(Buffer.from(account?.nospam ?? []).toString("hex")).toBe("11223344");
        expect(core.commandFiles.at(-1)?.text).toBe("import correct horse");
      } finally {
        await carol.stop();
      }
    });

    it("export (ad-hoc) round-trips: base64 and upload link both hold the profile, encrypted", async () => {
      const { start, done, field: value } = await adhocExport(alice, "s3cret");
      expect(start.attrs.status).toBe("executing");
      expect(done.attrs.status).toBe("completed");
      const fromForm = new Uint8Array(Buffer.from(value("profile") ?? "", "base64"));
      const fromUrl = await httpGet(value("url") ?? "");
      expect(sha256(fromUrl)).toBe(sha256(fromForm));
      const plain = await passDecrypt(fromForm, "s3cret");
      const parsed = parseSaveData(plain);
      expect(parsed.ok && Buffer.from(parsed.value.publicKey).toString("hex")).toBe(
        core.accounts.get("alice@localhost")?.ref.publicKey,
      );
    });

    it("chat: `export` gives an upload link; sending that .tox to the gateway imports the same Tox ID", async () => {
      await sendAndSettle(
        alice,
        xml("message", { type: "chat", to: GW, id: "exp-1" }, xml("body", {}, "export")),
      );
      const linked = await alice.waitFor(
        (el) => el.attrs.from === GW && el.getChild("x", NS.oob) !== undefined,
        "export link",
      );
      const url = linked.getChild("x", NS.oob)?.getChildText("url") ?? "";
      const dave = await server.connect("dave");
      try {
        // dave shares the file (as Conversations does: body = link, plus OOB) with the gateway.
        const data = await httpGet(url);
        const own = await uploadAsUser(dave, "alice.tox", data);
        await sendAndSettle(
          dave,
          xml(
            "message",
            { type: "chat", to: GW, id: "imp-1" },
            xml("body", {}, own),
            xml("x", { xmlns: NS.oob }, xml("url", {}, own)),
          ),
        );
        const reply = await dave.waitFor(
          (el) => el.attrs.from === GW && /Imported/.test(bodyOf(el)),
          "import reply",
        );
        const aliceAccount = core.accounts.get("alice@localhost");
        expect(bodyOf(reply)).toContain(core.toxId(aliceAccount!));
        expect(core.accounts.get("dave@localhost")?.ref.publicKey).toBe(aliceAccount?.ref.publicKey);
      } finally {
        await dave.stop();
      }
    });
  });

  describe("avatars", () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 4, 5, 6, 7, 8]);

    it("a friend's avatar: XEP-0153 hash in its presence, the image in its vCard", async () => {
      const ref = (await core.account({ kind: "xmpp", id: "alice@localhost" }))!;
      const path = join(workDir, "bob-avatar.png");
      await writeFile(path, png);
      // The frontend re-sends the friend's presence as it last showed it.
      await gateway.frontend.friendUpdated(
        ref,
        friendView(FRIEND, "accepted", { name: "Bob", online: true }),
      );
      await gateway.frontend.friendAvatar(ref, FRIEND, {
        path,
        mimeType: "image/png",
        hash: sha256(png),
        size: png.length,
      });
      const presence = await alice.waitFor(
        (el) =>
          el.name === "presence" &&
          el.attrs.from === FRIEND_JID &&
          el.getChild("x", "vcard-temp:x:update")?.getChildText("photo") === sha1Hex(png),
        "presence with photo hash",
      );
      expect(presence.attrs.type).toBeUndefined();
      const vcard = await alice.xmpp.iqCaller.get(xml("vCard", { xmlns: "vcard-temp" }), FRIEND_JID, 5000);
      expect(vcard.getChildText("FN")).toBe("Bob");
      const photo = vcard.getChild("PHOTO");
      expect(photo?.getChildText("TYPE")).toBe("image/png");
      expect(Buffer.from(photo?.getChildText("BINVAL") ?? "", "base64")).toEqual(Buffer.from(png));
    });

    it("the user's vCard photo becomes their Tox avatar when their presence shows it", async () => {
      await alice.xmpp.iqCaller.set(photoVcard("image/png", png), undefined, 5000);
      // Prosody's mod_vcard_legacy adds the XEP-0153 hash to alice's presence on its own.
      await sendAndSettle(alice, xml("presence", { to: GW }));
      await waitUntil(() => core.avatars.some((a) => a.sha256 === sha256(png)), 5000, "setAvatar");
      expect(core.avatars.at(-1)).toMatchObject({ owner: "alice@localhost", mimeType: "image/png" });
      // The same hash again: the vCard is not fetched and applied again.
      const count = core.avatars.length;
      await sendAndSettle(alice, xml("presence", { to: GW }, xml("status", {}, "still here")));
      await new Promise((r) => setTimeout(r, 100));
      expect(core.avatars.length).toBe(count);
    });
  });

  describe("restart", () => {
    it("after a crash, the gateway and every online friend are announced again without probes", async () => {
      // A crash: the connection drops without the goodbye presences.
      await gateway.component.stop();
      const mark = alice.received.length;
      const avatarsBefore = core.avatars.length;
      gateway = await startGateway();
      const fresh = () => alice.received.slice(mark);
      await waitUntil(
        () =>
          fresh().some((el) => el.name === "presence" && el.attrs.from === GW) &&
          fresh().some(
            (el) => el.name === "presence" && el.attrs.from === FRIEND_JID && el.attrs.type === undefined,
          ),
        5000,
        "re-announced presences",
      );
      // The new gateway also reads each user's vCard photo once at startup.
      await waitUntil(() => core.avatars.length > avatarsBefore, 5000, "avatar read at startup");
    });

    it("a file delivered before the crash, redelivered by the core, is not uploaded or sent again", async () => {
      // The new gateway kept nothing in memory: only the delivery records (fileDeliveries) know.
      const ref = (await core.account({ kind: "xmpp", id: "alice@localhost" }))!;
      const path = join(workDir, "gone-by-now.bin"); // never read: the record says it was sent
      await gateway.frontend.deliverFile(ref, {
        id: 41,
        friend: FRIEND,
        fileName: "holiday photo.jpg",
        size: 20_000,
        mimeType: "image/jpeg",
        path,
        receivedAt: new Date(),
      });
      await alice.xmpp.iqCaller.get(xml("ping", { xmlns: NS.ping }), GW, 5000);
      expect(alice.received.filter((el) => el.attrs.id === "tox-file-41")).toHaveLength(1);
      expect(records.get(fileDeliveryKey(ref.id, 41))).toMatchObject({ sent: true });
    });
  });
});
