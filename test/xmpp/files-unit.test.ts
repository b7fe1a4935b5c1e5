/**
 * The XMPP file, profile and avatar pieces without a server: link detection, what happens when
 * the user's server has no upload service or the connection is down, retries that must not
 * upload twice (across a restart too, with the delivery records in a real PGlite store), profile
 * import through registration and ad-hoc forms, contact vCards, and
 * subscriptions to a bare public key (issue 6 leftovers). The fake sink answers iqs itself; a
 * loopback HTTP server stands in for the upload service's PUT URL.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { formatAddress } from "../../src/tox/address.js";
import { fromHex, toHex } from "../../src/tox/bytes.js";
import { newKeyPair } from "../../src/tox/crypto.js";
import { parseSaveData } from "../../src/tox/state/savefile.js";
import { photoHashOf, vcardPhoto } from "../../src/xmpp/avatars.js";
import { IqError } from "../../src/xmpp/component.js";
import {
  type FileDeliveryState,
  fileLinkOf,
  XmppFiles,
  type XmppFilesOptions,
} from "../../src/xmpp/files.js";
import { downloadToFile, fileNameOf, isPrivateAddress } from "../../src/xmpp/http-download.js";
import { NS } from "../../src/xmpp/namespaces.js";
import { decodeBase64, profileFromSecretKey } from "../../src/xmpp/profiles.js";
import { GatewayRouter, silentXmppLogger } from "../../src/xmpp/router.js";
import { NS_UPLOAD, uploadServiceOf } from "../../src/xmpp/upload.js";
import { type XmlElement, xml } from "../../src/xmpp/xml.js";
import { pickPorts } from "../helpers/prosody/index.js";
import { openTestStore } from "../store/backends.js";
import { friendView } from "./fake-core.js";
import { FilesFakeCore } from "./files-core.js";
import { parseXml } from "./parse-xml.js";

const GW = "tox.localhost";
const ALICE = "alice@localhost";
const FRIEND = "ab".repeat(32);

function errorCondition(el: XmlElement | undefined): string | undefined {
  const err = el?.getChild("error");
  return err?.getChildElements().find((c) => c.attrs.xmlns === NS.stanzas && c.name !== "text")?.name;
}

describe("fileLinkOf", () => {
  const own = (u: URL) => u.hostname === "upload.localhost";
  const msg = (inner: string) => parseXml(`<message type="chat">${inner}</message>`);

  it("takes the OOB URL; a body repeating it is no caption, other text is", () => {
    const url = "https://upload.localhost/a/b.jpg";
    expect(fileLinkOf(msg(`<body>${url}</body><x xmlns="${NS.oob}"><url>${url}</url></x>`), own)).toEqual({
      kind: "url",
      url,
      oob: true,
      text: null,
    });
    expect(
      fileLinkOf(msg(`<body>look!</body><x xmlns="${NS.oob}"><url>http://web.example/x</url></x>`), own),
    ).toMatchObject({ kind: "url", url: "http://web.example/x", text: "look!" });
  });

  it("takes a bare body link only on the user's upload host, and marks OMEMO links", () => {
    expect(fileLinkOf(msg("<body>https://upload.localhost/f/x.png</body>"), own)).toMatchObject({
      kind: "url",
      oob: false,
    });
    expect(fileLinkOf(msg("<body>https://example.org/page</body>"), own)).toBeNull();
    expect(fileLinkOf(msg("<body>see https://upload.localhost/f/x.png</body>"), own)).toBeNull();
    expect(fileLinkOf(msg("<body>aesgcm://upload.localhost/f/x.png#0011</body>"), own)).toEqual({
      kind: "encrypted",
      url: "aesgcm://upload.localhost/f/x.png#0011",
    });
    expect(fileLinkOf(msg("<body>hello</body>"), own)).toBeNull();
  });
});

describe("small parsers", () => {
  it("reads the XEP-0363 service and its limit from disco#info", () => {
    const answer = parseXml(
      `<iq type="result"><query xmlns="${NS.discoInfo}"><feature var="${NS_UPLOAD}"/>` +
        `<x xmlns="${NS.data}" type="result"><field var="FORM_TYPE"><value>${NS_UPLOAD}</value></field>` +
        `<field var="max-file-size"><value>1048576</value></field></x></query></iq>`,
    );
    expect(uploadServiceOf("upload.example", answer)).toEqual({
      jid: "upload.example",
      maxFileSize: 1048576,
    });
    expect(
      uploadServiceOf("x", parseXml(`<iq type="result"><query xmlns="${NS.discoInfo}"/></iq>`)),
    ).toBeNull();
  });

  it("file names from URLs cannot climb paths or carry control characters", () => {
    expect(fileNameOf(new URL("http://h/a/%2E%2E%2Fetc%2Fpasswd"))).toBe(".._etc_passwd");
    expect(fileNameOf(new URL("http://h/a/b%0Ac.txt"))).toBe("b_c.txt");
    expect(fileNameOf(new URL("http://h/"))).toBe("file");
    expect(fileNameOf(new URL("http://h/%2E%2E"))).toBe("file");
  });

  it("base64 is strict, and a secret key becomes a profile with that key", () => {
    expect(decodeBase64("not base64!")).toBeNull();
    expect(decodeBase64("")).toBeNull();
    expect(decodeBase64("aGVs\nbG8=")).toEqual(new TextEncoder().encode("hello"));
    const kp = newKeyPair();
    const parsed = parseSaveData(profileFromSecretKey(toHex(kp.secretKey)));
    expect(parsed.ok && toHex(parsed.value.publicKey)).toBe(toHex(kp.publicKey));
  });

  it("reads XEP-0153 hashes and vCard photos, refusing junk", () => {
    const p = (inner: string) => parseXml(`<presence>${inner}</presence>`);
    expect(photoHashOf(p(""))).toBeUndefined();
    expect(photoHashOf(p(`<x xmlns="vcard-temp:x:update"><photo/></x>`))).toBe("");
    expect(photoHashOf(p(`<x xmlns="vcard-temp:x:update"><photo>${"A".repeat(40)}</photo></x>`))).toBe(
      "a".repeat(40),
    );
    const v = (inner: string) => parseXml(`<iq><vCard xmlns="vcard-temp">${inner}</vCard></iq>`);
    expect(vcardPhoto(v("<PHOTO><BINVAL>!!!</BINVAL></PHOTO>"))).toBeNull();
    expect(vcardPhoto(v("<PHOTO><TYPE>text/html</TYPE><BINVAL>aGk=</BINVAL></PHOTO>"))?.mimeType).toBe(
      "image/png",
    );
  });
});

describe("XmppFiles without a server", () => {
  let dir: string;
  let putServer: http.Server;
  let putUrl: string;
  let puts = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "toxbridge-xmpp-unit-"));
    const [port] = await pickPorts(1, 37360, 10);
    putServer = http.createServer((req, res) => {
      if (req.url?.startsWith("/redirect/")) {
        const n = Number(req.url.slice("/redirect/".length));
        res.writeHead(302, { Location: `/redirect/${n + 1}` });
        res.end();
        return;
      }
      if (req.method === "PUT") puts++;
      req.resume();
      req.on("end", () => {
        res.writeHead(201);
        res.end();
      });
    });
    await new Promise<void>((r) => putServer.listen(port, "127.0.0.1", r));
    putUrl = `http://127.0.0.1:${port}/slot/file.bin`;
  });

  afterAll(async () => {
    await new Promise((r) => putServer?.close(r));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A sink whose server has (or lacks) an upload service; `online` false = not connected. */
  function fakeSink(opts: { upload: boolean }) {
    const sent: XmlElement[] = [];
    const state = { online: true, confirmFails: false };
    const sink = {
      sent,
      state,
      async send(el: XmlElement) {
        if (!state.online) throw new Error("not connected");
        sent.push(el);
      },
      async sendConfirmed(el: XmlElement) {
        if (!state.online || state.confirmFails) throw new Error("not confirmed");
        sent.push(el);
      },
      async iq(el: XmlElement): Promise<XmlElement> {
        if (!state.online) throw new Error("not connected");
        const q = el.getChildElements()[0];
        const to = el.attrs.to;
        const result = (...children: XmlElement[]) => xml("iq", { type: "result", from: to }, ...children);
        if (q?.attrs.xmlns === NS.discoItems)
          return result(
            xml("query", { xmlns: NS.discoItems }, opts.upload && xml("item", { jid: "upload.localhost" })),
          );
        if (q?.attrs.xmlns === NS.discoInfo)
          return result(
            xml(
              "query",
              { xmlns: NS.discoInfo },
              to === "upload.localhost" && xml("feature", { var: NS_UPLOAD }),
            ),
          );
        if (q?.name === "request")
          return result(
            xml(
              "slot",
              { xmlns: NS_UPLOAD },
              xml("put", { url: putUrl }, xml("header", { name: "Authorization" }, "Bearer x\r\nX-Evil: 1")),
              xml("get", { url: putUrl }),
            ),
          );
        throw new IqError("no", "service-unavailable");
      },
    };
    return sink;
  }

  async function setup(upload: boolean, deliveries?: FileDeliveryState) {
    const core = new FilesFakeCore();
    const account = core.createAccount(ALICE);
    account.friends.set(FRIEND, friendView(FRIEND, "accepted"));
    const sink = fakeSink({ upload });
    const files = new XmppFiles({
      domain: GW,
      core,
      sink,
      workDir: dir,
      log: silentXmppLogger,
      ...(deliveries === undefined ? {} : { deliveries }),
    });
    const path = join(dir, `in-${Math.random()}`);
    await writeFile(path, "twelve bytes");
    const file = {
      id: 7,
      friend: FRIEND,
      fileName: "notes.txt",
      size: 12,
      mimeType: "text/plain",
      path,
      receivedAt: new Date(),
    };
    return { core, ref: account.ref, sink, files, file };
  }

  it("without an upload service the user gets a clear message with name and size, once", async () => {
    const { ref, sink, files, file } = await setup(false);
    await files.deliverFile(ref, file);
    await files.deliverFile(ref, file);
    expect(sink.sent).toHaveLength(1);
    const body = sink.sent[0]?.getChildText("body") ?? "";
    expect(body).toContain('"notes.txt" (12 B)');
    expect(body).toMatch(/offers no HTTP file upload \(XEP-0363\).*enable HTTP file upload/);
    expect(sink.sent[0]?.attrs).toMatchObject({ from: `${FRIEND}@${GW}`, to: ALICE, id: "tox-file-7" });
  });

  it("rejects while disconnected (the core retries), and that is not remembered as 'no service'", async () => {
    const { ref, sink, files, file } = await setup(true);
    sink.state.online = false;
    await expect(files.deliverFile(ref, file)).rejects.toThrow(/not connected/);
    sink.state.online = true;
    await files.deliverFile(ref, file);
    expect(sink.sent.map((m) => m.getChild("x", NS.oob)?.getChildText("url"))).toEqual([putUrl]);
  });

  it("an upload whose announcement was not confirmed is announced again without uploading again", async () => {
    const { ref, sink, files, file } = await setup(true);
    const before = puts;
    sink.state.confirmFails = true;
    await expect(files.deliverFile(ref, file)).rejects.toThrow(/not confirmed/);
    sink.state.confirmFails = false;
    await files.deliverFile(ref, file);
    expect(puts - before).toBe(1);
    expect(sink.sent).toHaveLength(1);
  });

  describe("across a bridge restart (delivery records in the store's bridge state)", () => {
    let store: Awaited<ReturnType<typeof openTestStore>>;
    beforeAll(async () => {
      store = await openTestStore();
    });
    afterAll(async () => {
      await store?.close();
    });

    /** The gateway's file side after a restart: a new XmppFiles (empty memory) over the same store. */
    function restarted(sink: XmppFilesOptions["sink"], core: FilesFakeCore) {
      return new XmppFiles({
        domain: GW,
        core,
        sink,
        workDir: dir,
        log: silentXmppLogger,
        deliveries: store.store.bridgeState,
      });
    }

    it("a file announced before the restart is neither uploaded nor announced again when redelivered", async () => {
      const { core, ref, sink, files, file } = await setup(true, store.store.bridgeState);
      const before = puts;
      await files.deliverFile(ref, file);
      expect(sink.sent).toHaveLength(1);
      // The core did not hear back before it stopped: after the restart it delivers the file again.
      await restarted(sink, core).deliverFile(ref, file);
      expect(puts - before).toBe(1);
      expect(sink.sent).toHaveLength(1);
    });

    it("an upload whose announcement was lost is announced after the restart with the same link, not uploaded again", async () => {
      const { core, ref, sink, files, file } = await setup(true, store.store.bridgeState);
      const f = { ...file, id: file.id + 1 };
      const before = puts;
      sink.state.confirmFails = true;
      await expect(files.deliverFile(ref, f)).rejects.toThrow(/not confirmed/);
      sink.state.confirmFails = false;
      await restarted(sink, core).deliverFile(ref, f);
      expect(puts - before).toBe(1);
      expect(sink.sent.map((m) => [m.attrs.id, m.getChild("x", NS.oob)?.getChildText("url")])).toEqual([
        ["tox-file-8", putUrl],
      ]);
    });

    it("a 'cannot be passed on' notice is not repeated after the restart either", async () => {
      const { core, ref, sink, files, file } = await setup(false, store.store.bridgeState);
      const f = { ...file, id: file.id + 2 };
      await files.deliverFile(ref, f);
      await restarted(sink, core).deliverFile(ref, f);
      expect(sink.sent).toHaveLength(1);
    });

    it("without a store (memory), a restart would upload and announce again: the records are what prevents it", async () => {
      const { core, ref, sink, files, file } = await setup(true);
      const f = { ...file, id: file.id + 3 };
      const before = puts;
      await files.deliverFile(ref, f);
      await new XmppFiles({ domain: GW, core, sink, workDir: dir, log: silentXmppLogger }).deliverFile(
        ref,
        f,
      );
      expect(puts - before).toBe(2);
      expect(sink.sent).toHaveLength(2);
    });
  });

  it("refuses private addresses unless allowed: literal IPs, names that resolve to them, redirects", async () => {
    const noPrivate = { maxBytes: 100, allowAddress: (a: string) => !isPrivateAddress(a) };
    await expect(downloadToFile(putUrl, join(dir, "p1"), noPrivate)).rejects.toThrow(
      /127\.0\.0\.1.*private address/,
    );
    await expect(
      downloadToFile(putUrl.replace("127.0.0.1", "localhost"), join(dir, "p2"), noPrivate),
    ).rejects.toThrow(/localhost resolves to .*private address/);
    expect(
      ["10.1.2.3", "172.20.0.1", "192.168.1.1", "169.254.1.1", "::1", "fd00::1", "::ffff:127.0.0.1"].filter(
        (a) => !isPrivateAddress(a),
      ),
    ).toEqual([]);
    expect(["8.8.8.8", "2001:db8::1", "172.32.0.1"].filter(isPrivateAddress)).toEqual([]);
  });

  it("a user's link to a private address is refused; one to the user's own server is not", async () => {
    const core = new FilesFakeCore();
    const account = core.createAccount("bob@example.org");
    account.friends.set(FRIEND, friendView(FRIEND, "accepted"));
    const sink = fakeSink({ upload: true });
    const files = new XmppFiles({ domain: GW, core, sink, workDir: dir, log: silentXmppLogger });
    const owner = account.ref.owner;
    files.fromUser(owner, FRIEND, { kind: "url", url: putUrl, oob: true, text: null }, "p-1");
    await files.idle();
    expect(core.sentFiles).toEqual([]);
    expect(sink.sent.at(-1)?.getChildText("body")).toMatch(/Not sent to Tox.*private address/);
    // alice is on "localhost": a link there is her own server's, wherever it resolves.
    const alice = core.createAccount("alice@localhost");
    alice.friends.set(FRIEND, friendView(FRIEND, "accepted"));
    files.fromUser(
      alice.ref.owner,
      FRIEND,
      { kind: "url", url: putUrl.replace("127.0.0.1", "localhost"), oob: true, text: null },
      "p-2",
    );
    await files.idle();
    expect(core.sentFiles.map((f) => f.sourceEventId)).toEqual(["p-2"]);
  });

  it("gives up after a few redirects", async () => {
    await expect(
      downloadToFile(putUrl.replace("/slot/file.bin", "/redirect/0"), join(dir, "r"), { maxBytes: 10 }),
    ).rejects.toThrow(/too many redirects/);
  });
});

describe("router: profiles, vCards, bare-key subscriptions", () => {
  let core: FilesFakeCore;
  let router: GatewayRouter;
  const handle = (s: string) => router.handle(parseXml(s));

  beforeEach(() => {
    core = new FilesFakeCore();
    router = new GatewayRouter({ domain: GW, core, permissions: () => ({ localhost: "user" }) });
  });

  it("the registration form offers profile and passphrase fields next to create", async () => {
    const [r] = await handle(
      `<iq type="get" id="g" from="${ALICE}/a" to="${GW}"><query xmlns="${NS.register}"/></iq>`,
    );
    const vars = r
      ?.getChild("query")
      ?.getChild("x", NS.data)
      ?.getChildren("field")
      .map((f) => f.attrs.var);
    expect(vars).toEqual(expect.arrayContaining(["action", "profile", "passphrase", "secret"]));
  });

  it("a secret key in the legacy password field imports that identity", async () => {
    const kp = newKeyPair();
    const replies = await handle(
      `<iq type="set" id="s" from="${ALICE}/a" to="${GW}"><query xmlns="${NS.register}">` +
        `<username>alice</username><password>${toHex(kp.secretKey)}</password></query></iq>`,
    );
    expect(replies[0]?.attrs.type).toBe("result");
    expect(core.accounts.get(ALICE)?.ref.publicKey).toBe(toHex(kp.publicKey));
  });

  it("a malformed profile is refused with bad-request and changes nothing", async () => {
    const [r] = await handle(
      `<iq type="set" id="s" from="${ALICE}/a" to="${GW}"><query xmlns="${NS.register}">` +
        `<x xmlns="${NS.data}" type="submit"><field var="profile"><value>%%%</value></field></x></query></iq>`,
    );
    expect(errorCondition(r)).toBe("bad-request");
    const [truncated] = await handle(
      `<iq type="set" id="t" from="${ALICE}/a" to="${GW}"><query xmlns="${NS.register}">` +
        `<x xmlns="${NS.data}" type="submit"><field var="profile"><value>AAAAAB8b7RU=</value></field></x></query></iq>`,
    );
    expect(errorCondition(truncated)).toBe("not-acceptable");
    expect(core.accounts.size).toBe(0);
  });

  it("ad-hoc import takes a base64 profile and keeps its Tox ID (nospam included)", async () => {
    const kp = newKeyPair();
    const profile = profileFromSecretKey(toHex(kp.secretKey));
    const parsed = parseSaveData(profile);
    const [form] = await handle(
      `<iq type="set" id="a1" from="${ALICE}/a" to="${GW}"><command xmlns="${NS.commands}" node="import" action="execute"/></iq>`,
    );
    const fields = form?.getChild("command")?.getChild("x", NS.data)?.getChildren("field") ?? [];
    expect(fields.map((f) => f.attrs.var)).toEqual(["profile", "passphrase", "url", "replace"]);
    const [done] = await handle(
      `<iq type="set" id="a2" from="${ALICE}/a" to="${GW}"><command xmlns="${NS.commands}" node="import">` +
        `<x xmlns="${NS.data}" type="submit"><field var="profile"><value>${Buffer.from(profile).toString("base64")}</value></field></x>` +
        "</command></iq>",
    );
    expect(done?.getChild("command")?.attrs.status).toBe("completed");
    const account = core.accounts.get(ALICE);
    expect(account?.ref.publicKey).toBe(toHex(kp.publicKey));
    expect(parsed.ok && toHex(account?.nospam ?? new Uint8Array())).toBe(
      parsed.ok && toHex(parsed.value.nospam),
    );
  });

  it("without a files module a shared link goes to Tox as text; with one, a stranger's is refused first", async () => {
    const account = core.createAccount(ALICE);
    account.friends.set(FRIEND, friendView(FRIEND, "accepted"));
    const oob = (to: string, id: string) =>
      `<message type="chat" id="${id}" from="${ALICE}/a" to="${to}@${GW}"><body>http://h/x.png</body>` +
      `<x xmlns="${NS.oob}"><url>http://h/x.png</url></x></message>`;
    await handle(oob(FRIEND, "t1"));
    expect(core.sent.at(-1)).toMatchObject({ text: "http://h/x.png", sourceEventId: "t1" });
    const sink = {
      send: async () => undefined,
      sendConfirmed: async () => undefined,
      iq: async (): Promise<XmlElement> => {
        throw new IqError("no", "service-unavailable");
      },
    };
    const files = new XmppFiles({ domain: GW, core, sink, workDir: tmpdir(), log: silentXmppLogger });
    router = new GatewayRouter({ domain: GW, core, permissions: () => ({ localhost: "user" }), files });
    const [refused] = await handle(oob("ef".repeat(32), "t2"));
    expect(errorCondition(refused)).toBe("item-not-found");
    await files.idle();
    expect(core.sentFiles).toEqual([]);
  });

  it("a contact's vCard: name for a friend, item-not-found for a stranger", async () => {
    const account = core.createAccount(ALICE);
    account.friends.set(FRIEND, friendView(FRIEND, "accepted", { name: "Bob" }));
    const [r] = await handle(
      `<iq type="get" id="v" from="${ALICE}/a" to="${FRIEND}@${GW}"><vCard xmlns="vcard-temp"/></iq>`,
    );
    expect(r?.getChild("vCard")?.getChildText("FN")).toBe("Bob");
    const [n] = await handle(
      `<iq type="get" id="v2" from="${ALICE}/a" to="${"ef".repeat(32)}@${GW}"><vCard xmlns="vcard-temp"/></iq>`,
    );
    expect(errorCondition(n)).toBe("item-not-found");
  });

  describe("subscribing to <public key>@gateway without a Tox ID lookup", () => {
    it("accepts the Tox friend request that peer already sent", async () => {
      const account = core.createAccount(ALICE);
      account.friends.set(FRIEND, friendView(FRIEND, "pending_in", { requestMessage: "hi" }));
      const replies = await handle(`<presence type="subscribe" from="${ALICE}" to="${FRIEND}@${GW}"/>`);
      expect(replies.map((r) => r.attrs.type)).toEqual(["subscribed", "unavailable", "subscribe"]);
      expect(account.friends.get(FRIEND)?.state).toBe("accepted");
    });

    it("confirms at once when the peer is already a friend", async () => {
      const account = core.createAccount(ALICE);
      account.friends.set(FRIEND, friendView(FRIEND, "accepted", { online: true }));
      const replies = await handle(`<presence type="subscribe" from="${ALICE}" to="${FRIEND}@${GW}"/>`);
      expect(replies.map((r) => r.attrs.type)).toEqual(["subscribed", undefined]);
      expect(core.commands).toEqual([]);
    });

    it("otherwise asks for the full Tox ID through jabber:iq:gateway, sending no request", async () => {
      core.createAccount(ALICE);
      const kp = newKeyPair();
      const pk = toHex(kp.publicKey);
      const replies = await handle(`<presence type="subscribe" from="${ALICE}" to="${pk}@${GW}"/>`);
      expect(replies[0]?.attrs.type).toBe("unsubscribed");
      expect(replies[1]?.getChildText("body")).toMatch(
        /full Tox ID \(76 hex.*jabber:iq:gateway.*add <Tox ID>/s,
      );
      expect(core.commands.filter((c) => c.text.startsWith("add"))).toEqual([]);
      // After the XEP-0100 lookup the same subscription sends the friend request.
      const toxId = formatAddress({ publicKey: kp.publicKey, nospam: fromHex("01020304") });
      await handle(
        `<iq type="set" id="p" from="${ALICE}/a" to="${GW}"><query xmlns="${NS.gateway}"><prompt>${toxId}</prompt></query></iq>`,
      );
      await handle(`<presence type="subscribe" from="${ALICE}" to="${pk}@${GW}"/>`);
      expect(core.commands.at(-1)?.text).toMatch(new RegExp(`^add ${toxId} `, "i"));
    });
  });
});
