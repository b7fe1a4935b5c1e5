import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { exampleConfigYaml } from "../../src/config/example.js";
import { type ConfigLoadResult, loadConfigFile, parseConfigText } from "../../src/config/load.js";

const SECRETS = { asToken: "a".repeat(43), hsToken: "h".repeat(43), encryptionKey: "k".repeat(43) };

// biome-ignore lint/suspicious/noExplicitAny: tests deliberately poke wrongly typed values into the YAML tree
type LooseTree = Record<string, any>;

/** The example config as a plain object, edited by `mutate`, rendered back to YAML. */
function configWith(mutate: (c: LooseTree) => void): string {
  const c = parse(exampleConfigYaml(SECRETS)) as LooseTree;
  mutate(c);
  return stringify(c);
}

function errorsOf(result: ConfigLoadResult): string[] {
  if (result.ok) throw new Error("expected the config to be rejected");
  return result.errors;
}

function expectOnly(text: string, expected: string, env: NodeJS.ProcessEnv = {}): void {
  expect(errorsOf(parseConfigText(text, { env }))).toEqual([expected]);
}

describe("config validation", () => {
  it("accepts the generated example and applies defaults", () => {
    const result = parseConfigText(exampleConfigYaml(SECRETS));
    if (!result.ok) throw new Error(result.errors.join("\n"));
    const c = result.config;
    expect(c.appservice.port).toBe(29333);
    expect(c.appservice.bot_username).toBe("toxbot");
    expect(c.appservice.user_prefix).toBe("_tox_");
    expect(c.bridge.max_file_size).toBeUndefined();
    expect(c.files.max_size).toBe(100 * 1024 * 1024);
    expect(c.files.spool_dir).toBeUndefined();
    expect(c.database.url).toBeUndefined();
    expect(c.tox.bootstrap_nodes.length).toBeGreaterThanOrEqual(4);
    expect(c.xmpp.enabled).toBe(false);
    expect(result.warnings).toEqual([]);
  });

  it("fills in defaults for omitted optional sections and derives the address", () => {
    const text = stringify({
      homeserver: { url: "https://matrix.example.org", domain: "example.org" },
      appservice: { as_token: SECRETS.asToken, hs_token: SECRETS.hsToken, port: 9999 },
      bridge: { encryption_key: SECRETS.encryptionKey },
    });
    const result = parseConfigText(text);
    if (!result.ok) throw new Error(result.errors.join("\n"));
    expect(result.config.appservice.address).toBe("http://127.0.0.1:9999");
    expect(result.config.logging).toEqual({ level: "info", pretty: false });
    expect(result.config.metrics.enabled).toBe(true);
    expect(result.config.database).toEqual({ data_dir: "./data", pool_size: 10 });
    expect(result.config.tox.port_range).toEqual({ start: 33445, end: 33545 });
    expect(result.warnings.some((w) => w.includes("bridge.permissions is empty"))).toBe(true);
    expect(result.warnings.some((w) => w.includes("tox.bootstrap_nodes is empty"))).toBe(true);
  });

  it("names a non-numeric port with what was found", () => {
    expectOnly(
      configWith((c) => {
        c.appservice.port = "abc";
      }),
      'config.yaml: appservice.port: expected an integer between 0 and 65535 (0 picks a free port), got "abc"',
    );
  });

  it("rejects out-of-range and fractional ports", () => {
    expectOnly(
      configWith((c) => {
        c.xmpp.server_port = 70000;
      }),
      "config.yaml: xmpp.server_port: expected an integer between 1 and 65535, got 70000",
    );
    expectOnly(
      configWith((c) => {
        c.tox.bootstrap_nodes[1].port = 1.5;
      }),
      "config.yaml: tox.bootstrap_nodes[1].port: expected an integer between 1 and 65535, got 1.5",
    );
  });

  it("reports a missing required key", () => {
    expectOnly(
      configWith((c) => {
        delete c.homeserver.domain;
      }),
      "config.yaml: homeserver.domain: missing; expected a server name such as example.org (no scheme, no path)",
    );
  });

  it("reports a missing required section", () => {
    expectOnly(
      configWith((c) => {
        delete c.bridge;
      }),
      "config.yaml: bridge: missing; expected a mapping of settings",
    );
  });

  it("names unknown keys and suggests the likely intended one", () => {
    expectOnly(
      configWith((c) => {
        c.appservice.prot = 1;
      }),
      'config.yaml: appservice.prot: unknown key (did you mean "port"?)',
    );
    expectOnly(
      configWith((c) => {
        c.colour = "blue";
      }),
      "config.yaml: colour: unknown key (known keys: homeserver, appservice, matrix, xmpp, database, bridge, files, tox, logging, metrics)",
    );
  });

  it("rejects a non-http homeserver URL", () => {
    expectOnly(
      configWith((c) => {
        c.homeserver.url = "ftp://example.org";
      }),
      'config.yaml: homeserver.url: expected an http(s) URL such as http://localhost:8008, got "ftp://example.org"',
    );
  });

  it("rejects wrong types for sections and booleans", () => {
    expectOnly(
      configWith((c) => {
        c.logging = "loud";
      }),
      'config.yaml: logging: expected a mapping of settings, got "loud"',
    );
    expectOnly(
      configWith((c) => {
        c.metrics.enabled = "yes";
      }),
      'config.yaml: metrics.enabled: expected true or false (serve Prometheus metrics on /metrics), got "yes"',
    );
  });

  it("rejects an unknown log level and permission level", () => {
    expectOnly(
      configWith((c) => {
        c.logging.level = "loud";
      }),
      'config.yaml: logging.level: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    );
    expectOnly(
      configWith((c) => {
        c.bridge.permissions["example.org"] = "boss";
      }),
      'config.yaml: bridge.permissions.example.org: expected "user" or "admin", got "boss"',
    );
  });

  it("rejects a permission subject that is neither *, a domain, an MXID nor a JID", () => {
    expectOnly(
      configWith((c) => {
        c.bridge.permissions["not a user"] = "user";
      }),
      'config.yaml: bridge.permissions.not a user: expected * , a domain (example.org), a Matrix user (@alice:example.org) or a JID, got "not a user"',
    );
  });

  it("never echoes secrets, only their length", () => {
    const errors = errorsOf(
      parseConfigText(
        configWith((c) => {
          c.appservice.hs_token = "tiny";
          c.database.url = "mysql://root:hunter2@db/x";
        }),
      ),
    );
    expect(errors).toEqual([
      "config.yaml: appservice.hs_token: expected a random token of at least 16 characters without spaces (or set TOXBRIDGE_HS_TOKEN), got a 4-character value (not shown)",
      "config.yaml: database.url: expected a postgres:// or postgresql:// URL (or set TOXBRIDGE_DATABASE_URL), got a 25-character value (not shown)",
    ]);
    expect(errors.join("\n")).not.toContain("hunter2");
  });

  it("reads the deprecated bridge.max_file_size as files.max_size when that is unset, with one warning", () => {
    const result = parseConfigText(
      configWith((c) => {
        delete c.files.max_size;
        c.bridge.max_file_size = "20 MiB";
      }),
    );
    if (!result.ok) throw new Error(result.errors.join("\n"));
    expect(result.config.files.max_size).toBe(20 * 1024 * 1024);
    expect(result.warnings).toEqual([
      "config.yaml: bridge.max_file_size is deprecated: its value is used as files.max_size; rename it to files.max_size",
    ]);
  });

  it("ignores the deprecated bridge.max_file_size when files.max_size is set, and says so", () => {
    const result = parseConfigText(
      configWith((c) => {
        c.files.max_size = "5 MiB";
        c.bridge.max_file_size = "20 MiB";
      }),
    );
    if (!result.ok) throw new Error(result.errors.join("\n"));
    expect(result.config.files.max_size).toBe(5 * 1024 * 1024);
    expect(result.warnings).toEqual([
      "config.yaml: bridge.max_file_size is deprecated and ignored, since files.max_size is set; remove it",
    ]);
  });

  it("defaults files.max_size to 100 MiB when neither key is set", () => {
    const result = parseConfigText(configWith((c) => delete c.files.max_size));
    if (!result.ok) throw new Error(result.errors.join("\n"));
    expect(result.config.files.max_size).toBe(100 * 1024 * 1024);
    expect(result.warnings).toEqual([]);
  });

  it("rejects a bad Tox public key and a bad file size", () => {
    const errors = errorsOf(
      parseConfigText(
        configWith((c) => {
          c.tox.bootstrap_nodes[0].public_key = "ABCD";
          c.bridge.max_file_size = "50 parsecs";
        }),
      ),
    );
    expect(errors).toEqual([
      'config.yaml: bridge.max_file_size: expected a size in bytes or with a unit, e.g. 52428800 or "50 MiB", got "50 parsecs"',
      'config.yaml: tox.bootstrap_nodes[0].public_key: expected a 64-character hex public key, got "ABCD"',
    ]);
  });

  it("checks cross-field rules: port range order, XMPP secret, TCP-only relays", () => {
    expectOnly(
      configWith((c) => {
        c.tox.port_range = { start: 40000, end: 30000 };
      }),
      "config.yaml: tox.port_range.end: expected a port not below port_range.start (40000), got 30000",
    );
    expectOnly(
      configWith((c) => {
        c.xmpp.enabled = true;
      }),
      "config.yaml: xmpp.secret: required when xmpp.enabled is true (or set TOXBRIDGE_XMPP_SECRET)",
    );
    expectOnly(
      configWith((c) => {
        c.tox.udp_enabled = false;
      }),
      "config.yaml: tox.tcp_relays: expected at least one TCP relay when udp_enabled is false",
    );
  });

  it("reports every problem, one line each", () => {
    const errors = errorsOf(
      parseConfigText(
        configWith((c) => {
          c.appservice.port = -1;
          c.homeserver.domain = "https://example.org/";
          c.logging.pretty = 3;
        }),
      ),
    );
    expect(errors).toHaveLength(3);
    for (const line of errors) expect(line.split("\n")).toHaveLength(1);
  });

  it("reports YAML syntax errors with line and column", () => {
    expect(errorsOf(parseConfigText("homeserver:\n  url: x\n url2: y\n"))).toEqual([
      "config.yaml:3:1: invalid YAML: All mapping items must start at the same column",
    ]);
    expect(errorsOf(parseConfigText("a: 1\na: 2\n"))).toEqual([
      "config.yaml:2:1: invalid YAML: Map keys must be unique",
    ]);
  });

  it("rejects unresolved aliases and alias bombs instead of throwing", () => {
    expect(errorsOf(parseConfigText("a: *nowhere\n"))).toEqual([
      "config.yaml: invalid YAML: Unresolved alias (the anchor must be set before the alias): nowhere",
    ]);
    const bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 8; i++)
      bomb.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(", ")}]`,
      );
    const errors = errorsOf(parseConfigText(bomb.join("\n")));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^config\.yaml: invalid YAML: .*alias/i);
  });

  it("rejects empty files and non-mapping documents", () => {
    expect(errorsOf(parseConfigText(""))).toEqual([
      "config.yaml: the file is empty; expected a mapping of settings",
    ]);
    expect(errorsOf(parseConfigText("- 1\n- 2\n"))).toEqual([
      "config.yaml: expected a mapping of settings at the top level",
    ]);
  });
});

describe("environment overrides", () => {
  const bare = stringify({
    homeserver: { url: "http://localhost:8008", domain: "localhost" },
    appservice: {},
    bridge: {},
  });

  it("supply secrets missing from the file", () => {
    const env = {
      TOXBRIDGE_AS_TOKEN: "e".repeat(20),
      TOXBRIDGE_HS_TOKEN: "f".repeat(20),
      TOXBRIDGE_ENCRYPTION_KEY: "g".repeat(40),
      TOXBRIDGE_DATABASE_URL: "postgresql://u:p@localhost/toxbridge",
      TOXBRIDGE_XMPP_SECRET: "s3cret",
      TOXBRIDGE_LOG_LEVEL: "debug",
    };
    const result = parseConfigText(bare, { env });
    if (!result.ok) throw new Error(result.errors.join("\n"));
    expect(result.config.appservice.as_token).toBe(env.TOXBRIDGE_AS_TOKEN);
    expect(result.config.appservice.hs_token).toBe(env.TOXBRIDGE_HS_TOKEN);
    expect(result.config.bridge.encryption_key).toBe(env.TOXBRIDGE_ENCRYPTION_KEY);
    expect(result.config.database.url).toBe(env.TOXBRIDGE_DATABASE_URL);
    expect(result.config.xmpp.secret).toBe("s3cret");
    expect(result.config.logging.level).toBe("debug");
    expect(result.envApplied).toHaveLength(6);
  });

  it("win over values in the file; empty variables are ignored", () => {
    const text = exampleConfigYaml(SECRETS);
    const result = parseConfigText(text, {
      env: { TOXBRIDGE_AS_TOKEN: "z".repeat(30), TOXBRIDGE_HS_TOKEN: "" },
    });
    if (!result.ok) throw new Error(result.errors.join("\n"));
    expect(result.config.appservice.as_token).toBe("z".repeat(30));
    expect(result.config.appservice.hs_token).toBe(SECRETS.hsToken);
    expect(result.envApplied).toEqual(["TOXBRIDGE_AS_TOKEN"]);
  });

  it("name the variable when its value is invalid", () => {
    expectOnly(
      exampleConfigYaml(SECRETS),
      "config.yaml: bridge.encryption_key: expected a random secret of at least 32 characters without spaces (or set TOXBRIDGE_ENCRYPTION_KEY), got a 5-character value (not shown) (from environment variable TOXBRIDGE_ENCRYPTION_KEY)",
      { TOXBRIDGE_ENCRYPTION_KEY: "short" },
    );
  });
});

describe("loadConfigFile", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "toxbridge-config-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reports a missing file as notFound", async () => {
    const result = await loadConfigFile(join(dir, "config.yaml"), { fileLabel: "config.yaml" });
    expect(result).toEqual({ ok: false, notFound: true, errors: ["config.yaml: file not found"] });
  });

  it("resolves a relative data_dir against the config file's directory", async () => {
    await writeFile(join(dir, "config.yaml"), exampleConfigYaml(SECRETS));
    const result = await loadConfigFile(join(dir, "config.yaml"));
    if (!result.ok) throw new Error(result.errors.join("\n"));
    expect(result.config.database.data_dir).toBe(join(dir, "data"));
  });

  it("writes nothing, even for a bad config", async () => {
    await writeFile(
      join(dir, "config.yaml"),
      configWith((c) => {
        c.appservice.port = "abc";
      }),
    );
    const result = await loadConfigFile(join(dir, "config.yaml"), { fileLabel: "config.yaml" });
    expect(result.ok).toBe(false);
    expect(await readdir(dir)).toEqual(["config.yaml"]);
  });
});
