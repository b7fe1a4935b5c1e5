/**
 * `import` and `export` through the shared command set (and BridgeCore's structured calls), over
 * PGlite and the fake Tox gateway: plain and encrypted profiles, the staged encrypted upload,
 * replace, and bad files (truncated, corrupt, wrong passphrase) that must change nothing.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { BridgeCore } from "../../src/core/bridge-core.js";
import type { CommandFile } from "../../src/core/frontend.js";
import { hex } from "../../src/core/keys.js";
import { newKeyPair } from "../../src/tox/crypto.js";
import {
  formatAddress,
  ipPort,
  isEncryptedSave,
  ManualClock,
  parseSaveData,
  passDecrypt,
  passEncrypt,
  type SaveData,
  serializeSaveData,
} from "../../src/tox/index.js";
import { alice, bob, makeCore, TestDb } from "./helpers.js";

const t = new TestDb();
beforeAll(() => t.setup());
afterAll(() => t.teardown());
const cores: BridgeCore[] = [];
beforeEach(async () => {
  for (const c of cores.splice(0)) await c.stop();
  await t.reset();
});
async function core(clock = new ManualClock(Date.now())) {
  const c = await makeCore(t, { clock });
  cores.push(c.core);
  return c;
}

const utf8 = new TextEncoder();

/** A profile as qTox would save it: two confirmed friends with names, one request pending. */
function profile() {
  const keys = newKeyPair();
  const friends = [newKeyPair(), newKeyPair(), newKeyPair()].map((k) => k.publicKey);
  const save: SaveData = {
    secretKey: keys.secretKey,
    publicKey: keys.publicKey,
    nospam: Uint8Array.of(0xca, 0xfe, 0xba, 0xbe),
    name: utf8.encode("Alice on qTox"),
    statusMessage: utf8.encode("out for lunch"),
    userStatus: 2,
    friends: friends.map((pk, i) => ({
      status: i < 2 ? 3 : 2,
      publicKey: pk,
      requestMessage: i < 2 ? new Uint8Array(0) : utf8.encode("hi, it's alice"),
      requestNospam: Uint8Array.of(0, 0, 0, 9),
      name: utf8.encode(i < 2 ? `friend ${i}` : ""),
      statusMessage: utf8.encode(i === 0 ? "busy" : ""),
      userStatus: 0,
      lastSeen: 1_700_000_000n,
    })),
    dhtNodes: [{ protocol: "udp", ipPort: ipPort("192.0.2.1", 33445), publicKey: newKeyPair().publicKey }],
    tcpRelays: [{ protocol: "tcp", ipPort: ipPort("192.0.2.2", 3389), publicKey: newKeyPair().publicKey }],
    pathNodes: [],
    conferences: [],
    unknownSections: [],
  };
  return {
    save,
    bytes: serializeSaveData(save),
    toxId: formatAddress({ publicKey: keys.publicKey, nospam: save.nospam }),
    friends: friends.map(hex),
  };
}

const file = (data: Uint8Array, fileName = "alice.tox"): CommandFile[] => [
  { fileName, mimeType: "application/octet-stream", data },
];

describe("import", () => {
  it("imports a plain profile: same Tox ID, name, status message and friends (names kept)", async () => {
    const { core: c, tox } = await core();
    const p = profile();
    const reply = await c.command(alice, "import", "user", file(p.bytes));
    expect(reply.ok).toBe(true);
    expect(reply.text).toContain(p.toxId);
    expect(reply.text).toContain("3 friends");
    const prof = await c.profile(alice);
    expect(prof).toMatchObject({
      toxId: p.toxId,
      name: "Alice on qTox",
      statusMessage: "out for lunch",
      presence: "busy",
    });
    const friends = await c.friends(alice);
    expect(friends.map((f) => [f.publicKey, f.state, f.name]).sort()).toEqual(
      [
        [p.friends[0], "accepted", "friend 0"],
        [p.friends[1], "accepted", "friend 1"],
        [p.friends[2], "pending_out", ""],
      ].sort(),
    );
    // Online with its friends, the pending request sent again, and the saved nodes as extras.
    const id = tox.identities.get(hex(p.save.publicKey))!;
    expect([...id.friends].sort()).toEqual([...p.friends].sort());
    expect(id.requestsSent).toEqual([{ friend: p.friends[2], message: "hi, it's alice" }]);
    expect(id.spec.extraNodes?.map((n) => `${n.protocol}:${n.host}:${n.port}`).sort()).toEqual([
      "tcp:192.0.2.2:3389",
      "udp:192.0.2.1:33445",
    ]);
  });

  it("refuses to overwrite an account unless `import replace` is used", async () => {
    const { core: c, tox } = await core();
    await c.command(alice, "create", "user");
    const before = await c.profile(alice);
    const p = profile();
    const refused = await c.command(alice, "import", "user", file(p.bytes));
    expect(refused.ok).toBe(false);
    expect(refused.text).toMatch(/already have a Tox account.*import replace/s);
    expect((await c.profile(alice)).toxId).toBe(before.toxId);
    const replaced = await c.command(alice, "import replace", "user", file(p.bytes));
    expect(replaced.ok).toBe(true);
    expect(replaced.text).toMatch(/replacing your previous identity/);
    expect((await c.profile(alice)).toxId).toBe(p.toxId);
    expect(tox.isOnline(before.publicKey)).toBe(false);
    expect(tox.isOnline(hex(p.save.publicKey))).toBe(true);
    // Someone else cannot take the same identity.
    const other = await c.command(bob, "import", "user", file(p.bytes));
    expect(other.ok).toBe(false);
    expect(other.text).toMatch(/already in use/);
    expect(await c.account(bob)).toBeNull();
  });

  it("stages an encrypted profile for 10 minutes until `import <passphrase>`; a wrong one changes nothing", async () => {
    const clock = new ManualClock(Date.now());
    const { core: c } = await core(clock);
    const p = profile();
    const enc = await passEncrypt(p.bytes, "correct horse");
    const staged = await c.command(alice, "import", "user", file(enc));
    expect(staged.ok).toBe(true);
    expect(staged.text).toMatch(/encrypted.*`import <passphrase>`.*10 minutes/s);
    expect(await c.account(alice)).toBeNull();
    const wrong = await c.command(alice, "import wrong horse", "user");
    expect(wrong.ok).toBe(false);
    expect(wrong.text).toMatch(/wrong passphrase/);
    expect(await c.account(alice)).toBeNull();
    const right = await c.command(alice, "import correct horse", "user");
    expect(right.ok).toBe(true);
    expect((await c.profile(alice)).toxId).toBe(p.toxId);
    // Staged data is gone once used, and expires after 10 minutes.
    const none = await c.command(bob, "import correct horse", "user");
    expect(none.ok).toBe(false);
    await c.command(bob, "import", "user", file(enc));
    clock.advance(10 * 60_000 + 1);
    expect((await c.command(bob, "import correct horse", "user")).ok).toBe(false);
  });

  it("rejects truncated, corrupt and non-profile files with a clear message and changes nothing", async () => {
    const { core: c } = await core();
    await c.command(alice, "create", "user");
    const before = await c.profile(alice);
    const p = profile();
    const corrupt = Uint8Array.from(p.bytes);
    corrupt[4] = (corrupt[4] ?? 0) ^ 0xff; // the state cookie
    const encTruncated = (await passEncrypt(p.bytes, "pw")).subarray(0, 200);
    for (const [data, why] of [
      [p.bytes.subarray(0, 90), /not a valid \.tox profile.*truncated or damaged.*Nothing was imported/s],
      [corrupt, /not a valid \.tox profile/],
      [utf8.encode("just some text"), /not a valid \.tox profile/],
      [new Uint8Array(0), /not a valid \.tox profile/],
    ] as const) {
      const reply = await c.command(alice, "import replace", "user", file(data));
      expect(reply.ok).toBe(false);
      expect(reply.text).toMatch(why);
    }
    const reply = await c.command(alice, "import replace pw", "user", file(encTruncated));
    expect(reply).toMatchObject({ ok: false });
    expect(reply.text).toMatch(/wrong passphrase, or the file is damaged/);
    expect(await c.profile(alice)).toEqual(before);
    expect(await c.friends(alice)).toEqual([]);
    const nothing = await c.command(alice, "import", "user");
    expect(nothing.text).toMatch(/Send your \.tox profile/);
  });
});

describe("export", () => {
  it("gives the profile back as a .tox file (plain with a warning, or encrypted) that imports again", async () => {
    const { core: c, tox } = await core();
    const p = profile();
    await c.command(alice, "import", "user", file(p.bytes));
    const plain = await c.command(alice, "export", "user");
    expect(plain.ok).toBe(true);
    expect(plain.text).toMatch(/secret key unencrypted/);
    const a = plain.attachments?.[0];
    expect(a).toMatchObject({ kind: "file", fileName: "Alice_on_qTox.tox" });
    const parsed = parseSaveData(a!.data);
    if (!parsed.ok) throw parsed.error;
    expect(hex(parsed.value.secretKey)).toBe(hex(p.save.secretKey));
    expect(hex(parsed.value.nospam)).toBe(hex(p.save.nospam));
    expect(parsed.value.friends.map((f) => hex(f.publicKey)).sort()).toEqual(
      p.friends.slice(0, 2).concat(p.friends[2]!).sort(),
    );
    // The fake identity has no nodes of its own: the remembered ones go into the export.
    expect(parsed.value.tcpRelays.map((n) => n.ipPort.ip)).toEqual(["192.0.2.2"]);
    const enc = await c.exportProfile(alice, "s3cret pass");
    expect(enc.encrypted).toBe(true);
    expect(isEncryptedSave(enc.attachment.data)).toBe(true);
    const back = parseSaveData(await passDecrypt(enc.attachment.data, "s3cret pass"));
    expect(back.ok && hex(back.value.publicKey)).toBe(hex(p.save.publicKey));
    const viaCommand = await c.command(alice, "export s3cret pass", "user");
    expect(viaCommand.text).toMatch(/encrypted with your passphrase/);
    // Round trip: bob imports alice's export elsewhere (after alice logs out).
    await c.command(alice, "logout confirm", "user");
    expect(tox.isOnline(hex(p.save.publicKey))).toBe(false);
    const again = await c.command(bob, "import s3cret pass", "user", file(viaCommand.attachments![0]!.data));
    expect(again.ok).toBe(true);
    expect((await c.profile(bob)).toxId).toBe(p.toxId);
  });

  it("explains when there is no account", async () => {
    const { core: c } = await core();
    const reply = await c.command(alice, "export", "user");
    expect(reply).toMatchObject({ ok: false });
    expect(reply.text).toMatch(/no Tox account/);
  });
});
