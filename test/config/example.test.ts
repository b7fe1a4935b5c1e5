import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  configExampleFile,
  exampleConfigYaml,
  PUBLIC_BOOTSTRAP_NODES,
  randomSecrets,
} from "../../src/config/example.js";
import { parseConfigText } from "../../src/config/load.js";
import { parseByteSize } from "../../src/config/size.js";

describe("example config", () => {
  it("is valid as generated, with fresh random secrets each time", () => {
    const a = exampleConfigYaml();
    const b = exampleConfigYaml();
    const ra = parseConfigText(a);
    const rb = parseConfigText(b);
    if (!ra.ok || !rb.ok) throw new Error("example config did not validate");
    expect(ra.config.appservice.as_token).not.toBe(rb.config.appservice.as_token);
    expect(ra.config.appservice.as_token).not.toBe(ra.config.appservice.hs_token);
    expect(ra.config.bridge.encryption_key).not.toBe(rb.config.bridge.encryption_key);
    expect(ra.config.bridge.encryption_key.length).toBeGreaterThanOrEqual(32);
  });

  it("is commented: every top-level section is explained", () => {
    const text = exampleConfigYaml();
    const lines = text.split("\n");
    for (const section of Object.keys(parse(text) as object)) {
      const at = lines.indexOf(`${section}:`);
      expect(at, section).toBeGreaterThan(0);
      expect(lines[at + 1]?.trimStart().startsWith("#") || lines[at - 1]?.startsWith("#"), section).toBe(
        true,
      );
    }
  });

  it("lists bootstrap nodes with well-formed keys", () => {
    const secrets = randomSecrets();
    const result = parseConfigText(exampleConfigYaml(secrets));
    if (!result.ok) throw new Error(result.errors.join("\n"));
    expect(result.config.tox.bootstrap_nodes).toEqual(PUBLIC_BOOTSTRAP_NODES);
    expect(new Set(PUBLIC_BOOTSTRAP_NODES.map((n) => n.public_key)).size).toBe(PUBLIC_BOOTSTRAP_NODES.length);
  });
});

describe("parseByteSize", () => {
  it("reads bytes and decimal/binary units", () => {
    expect(parseByteSize(1024)).toBe(1024);
    expect(parseByteSize("1024")).toBe(1024);
    expect(parseByteSize("50 MiB")).toBe(50 * 1024 * 1024);
    expect(parseByteSize("50MB")).toBe(50_000_000);
    expect(parseByteSize("1.5 GiB")).toBe(1.5 * 1024 ** 3);
    expect(parseByteSize("10k")).toBe(10240);
  });

  it("rejects negatives, fractions of a byte and unknown units", () => {
    expect(parseByteSize(-1)).toBeNull();
    expect(parseByteSize(1.5)).toBeNull();
    expect(parseByteSize("-1 MB")).toBeNull();
    expect(parseByteSize("5 parsecs")).toBeNull();
    expect(parseByteSize("")).toBeNull();
  });
});

describe("committed config.example.yaml", () => {
  it("is the generator's output (regenerate: npx tsx scripts/write-config-example.ts)", async () => {
    const committed = await readFile(new URL("../../config.example.yaml", import.meta.url), "utf8");
    expect(committed).toBe(configExampleFile());
  });

  it("fails exactly on its placeholder secrets, and works once they come from the environment", () => {
    const text = configExampleFile();
    const bad = parseConfigText(text);
    expect(bad.ok ? [] : bad.errors.map((e) => e.split(":")[1]?.trim())).toEqual([
      "appservice.as_token",
      "appservice.hs_token",
      "bridge.encryption_key",
    ]);
    const env = {
      TOXBRIDGE_AS_TOKEN: randomSecrets().asToken,
      TOXBRIDGE_HS_TOKEN: randomSecrets().hsToken,
      TOXBRIDGE_ENCRYPTION_KEY: randomSecrets().encryptionKey,
    };
    expect(parseConfigText(text, { env }).ok).toBe(true);
  });
});
