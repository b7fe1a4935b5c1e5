import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { exampleConfigYaml } from "../../src/config/example.js";
import { parseConfigText } from "../../src/config/load.js";
import { buildRegistration, fillMissingTokens, registrationYaml } from "../../src/config/registration.js";

function config(text = exampleConfigYaml()) {
  const r = parseConfigText(text);
  if (!r.ok) throw new Error(r.errors.join("\n"));
  return r.config;
}

describe("appservice registration", () => {
  it("round-trips through YAML and carries the config's tokens and names", () => {
    const c = config();
    const reg = parse(registrationYaml(buildRegistration(c)));
    expect(reg).toEqual({
      id: "toxbridge",
      url: "http://localhost:29333",
      as_token: c.appservice.as_token,
      hs_token: c.appservice.hs_token,
      sender_localpart: "toxbot",
      rate_limited: false,
      namespaces: { users: [{ exclusive: true, regex: "@_tox_.*:localhost" }], aliases: [], rooms: [] },
      protocols: ["tox"],
      receive_ephemeral: true,
      "de.sorunome.msc2409.push_ephemeral": true,
    });
  });

  it("escapes the domain in the user namespace regex", () => {
    const c = config(exampleConfigYaml().replace("domain: localhost", "domain: matrix.example.org"));
    const regex = new RegExp(`^${buildRegistration(c).namespaces.users[0]!.regex}$`);
    expect(regex.test("@_tox_abc:matrix.example.org")).toBe(true);
    expect(regex.test("@_tox_abc:matrixxexample.org")).toBe(false);
    expect(regex.test("@alice:matrix.example.org")).toBe(false);
  });

  it("matches the committed example registration.yaml in shape", async () => {
    const committed = parse(await readFile(new URL("../../registration.yaml", import.meta.url), "utf8"));
    const generated = parse(registrationYaml(buildRegistration(config())));
    expect(Object.keys(committed).sort()).toEqual(Object.keys(generated).sort());
    expect(committed.namespaces).toEqual(generated.namespaces);
  });
});

describe("fillMissingTokens", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "toxbridge-reg-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("fills empty tokens in place and keeps comments", async () => {
    const path = join(dir, "config.yaml");
    const text = exampleConfigYaml()
      .replace(/as_token: \S+/, 'as_token: ""')
      .replace(/hs_token: \S+\n/, "");
    await writeFile(path, text);
    expect(await fillMissingTokens(path, {})).toEqual(["appservice.as_token", "appservice.hs_token"]);
    const after = await readFile(path, "utf8");
    expect(after).toContain("# Encrypts Tox secret keys at rest.");
    const c = config(after);
    expect(c.appservice.as_token.length).toBeGreaterThanOrEqual(32);
    expect(c.appservice.hs_token.length).toBeGreaterThanOrEqual(32);
  });

  it("leaves a complete config untouched and respects tokens from the environment", async () => {
    const path = join(dir, "config.yaml");
    const text = exampleConfigYaml();
    await writeFile(path, text);
    expect(await fillMissingTokens(path, {})).toEqual([]);
    const noHs = text.replace(/hs_token: \S+\n/, "");
    await writeFile(path, noHs);
    expect(await fillMissingTokens(path, { TOXBRIDGE_HS_TOKEN: "x".repeat(32) })).toEqual([]);
    expect(await readFile(path, "utf8")).toBe(noHs);
  });
});
