import { describe, expect, it } from "vitest";
import { parseNodeSpec, parseToxPeerArgs } from "../../../src/tools/tox-peer/args.js";

const KEY = "0F".repeat(32);

describe("tox-peer options", () => {
  it("defaults", () => {
    expect(parseToxPeerArgs([])).toEqual({
      ok: true,
      options: { bootstrap: [], tcpRelays: [], udp: true, help: false },
    });
  });

  it("parses every option, bootstrap and relays repeatable", () => {
    const r = parseToxPeerArgs([
      "--save",
      "me.tox",
      "--port",
      "36001",
      "--bootstrap",
      `127.0.0.1:36000:${KEY}`,
      "--bootstrap",
      `[::1]:33445:${KEY}`,
      "--tcp-relay",
      `relay.example.org:443:${KEY}`,
      "--udp",
      "off",
    ]);
    expect(r).toEqual({
      ok: true,
      options: {
        save: "me.tox",
        port: 36001,
        bootstrap: [
          { host: "127.0.0.1", port: 36000, publicKeyHex: KEY.toLowerCase() },
          { host: "::1", port: 33445, publicKeyHex: KEY.toLowerCase() },
        ],
        tcpRelays: [{ host: "relay.example.org", port: 443, publicKeyHex: KEY.toLowerCase() }],
        udp: false,
        help: false,
      },
    });
    expect(parseToxPeerArgs(["-h"])).toMatchObject({ ok: true, options: { help: true } });
  });

  it("reports every problem at once", () => {
    const r = parseToxPeerArgs(["--port", "70000", "--bootstrap", "localhost:1", "--udp", "maybe"]);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toEqual([
      '--port: must be 1-65535, got "70000"',
      '--bootstrap: "localhost:1" is not HOST:PORT:KEYHEX',
      '--udp: must be "on" or "off", got "maybe"',
    ]);
    const u = parseToxPeerArgs(["--bogus"]);
    expect(u.ok ? [] : u.errors[0]).toContain("--bogus");
    const p = parseToxPeerArgs(["stray"]);
    expect(p.ok).toBe(false);
  });

  it("node specs: port range and key length", () => {
    expect(parseNodeSpec(`h:0:${KEY}`)).toMatchObject({
      ok: false,
      error: expect.stringContaining("1-65535"),
    });
    expect(parseNodeSpec("h:1:abcd")).toMatchObject({ ok: false, error: expect.stringContaining("64 hex") });
    expect(parseNodeSpec(`h:1:${KEY}`)).toMatchObject({ ok: true, node: { host: "h", port: 1 } });
  });
});
