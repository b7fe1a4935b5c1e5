/**
 * Reads config.yaml, applies environment overrides for secrets, validates against the schema
 * and resolves relative paths. Pure with respect to the file system except for the one read:
 * loading never writes anything, so a bad config leaves no trace.
 */
import { readFile } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import { parseDocument } from "yaml";
import { formatIssues } from "./errors.js";
import { type Config, configSchema } from "./schema.js";

/** Environment variables that override a config key (secrets mostly, so files can be shared). */
export const ENV_OVERRIDES: ReadonlyArray<{ env: string; path: readonly [string, string] }> = [
  { env: "TOXBRIDGE_AS_TOKEN", path: ["appservice", "as_token"] },
  { env: "TOXBRIDGE_HS_TOKEN", path: ["appservice", "hs_token"] },
  { env: "TOXBRIDGE_DATABASE_URL", path: ["database", "url"] },
  { env: "TOXBRIDGE_ENCRYPTION_KEY", path: ["bridge", "encryption_key"] },
  { env: "TOXBRIDGE_XMPP_SECRET", path: ["xmpp", "secret"] },
  { env: "TOXBRIDGE_LOG_LEVEL", path: ["logging", "level"] },
];

export type ConfigLoadResult =
  | { ok: true; config: Config; warnings: string[]; envApplied: string[] }
  | { ok: false; notFound: boolean; errors: string[] };

export interface LoadOptions {
  /** Label used in messages, normally the path as the operator typed it. */
  fileLabel?: string;
  env?: NodeJS.ProcessEnv;
  /** Directory that relative paths (database.data_dir) are resolved against. */
  baseDir?: string;
}

/** Validates YAML text. Exposed separately so tests and tools need no file. */
export function parseConfigText(text: string, opts: LoadOptions = {}): ConfigLoadResult {
  const label = opts.fileLabel ?? "config.yaml";
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      notFound: false,
      errors: doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        const at = pos ? `${label}:${pos.line}:${pos.col}` : label;
        return `${at}: invalid YAML: ${(e.message.split("\n")[0] ?? "").replace(/ at line \d+, column \d+:?$/, "")}`;
      }),
    };
  }
  let raw: unknown;
  try {
    // Alias problems (unknown anchor, alias bombs) only surface while building the JS value.
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return {
      ok: false,
      notFound: false,
      errors: [`${label}: invalid YAML: ${(err as Error).message.split("\n")[0]}`],
    };
  }
  if (raw === null || raw === undefined) {
    return {
      ok: false,
      notFound: false,
      errors: [`${label}: the file is empty; expected a mapping of settings`],
    };
  }
  if (typeof raw !== "object" || Array.isArray(raw)) {
    return {
      ok: false,
      notFound: false,
      errors: [`${label}: expected a mapping of settings at the top level`],
    };
  }

  const envApplied: string[] = [];
  const envSources = new Map<string, string>();
  const env = opts.env ?? {};
  for (const { env: name, path } of ENV_OVERRIDES) {
    const value = env[name];
    if (value === undefined || value === "") continue;
    const [sectionKey, key] = path;
    const rec = raw as Record<string, unknown>;
    const current = rec[sectionKey];
    // Only fill in a mapping: overriding a malformed section would hide its real error.
    if (current === undefined || current === null) rec[sectionKey] = { [key]: value };
    else if (typeof current === "object" && !Array.isArray(current))
      (current as Record<string, unknown>)[key] = value;
    else continue;
    envApplied.push(name);
    envSources.set(`${sectionKey}.${key}`, name);
  }

  const parsed = configSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    return {
      ok: false,
      notFound: false,
      errors: formatIssues(parsed.error.issues, { fileLabel: label, schema: configSchema, envSources }),
    };
  }
  const config = parsed.data;
  if (opts.baseDir !== undefined && !isAbsolute(config.database.data_dir)) {
    config.database.data_dir = resolve(opts.baseDir, config.database.data_dir);
  }
  if (
    opts.baseDir !== undefined &&
    config.files.spool_dir !== undefined &&
    !isAbsolute(config.files.spool_dir)
  ) {
    config.files.spool_dir = resolve(opts.baseDir, config.files.spool_dir);
  }
  const warnings = [
    ...deprecationWarnings(raw as Record<string, unknown>, label),
    ...configWarnings(config, label),
  ];
  return { ok: true, config, warnings, envApplied };
}

/** The value at `section.key` of the raw (unvalidated) file, if the section is a mapping. */
function rawValue(raw: Record<string, unknown>, section: string, key: string): unknown {
  const s = raw[section];
  return s !== null && typeof s === "object" && !Array.isArray(s)
    ? (s as Record<string, unknown>)[key]
    : undefined;
}

/** Keys still read for older config files, each named with what replaces it (the schema maps the value). */
function deprecationWarnings(raw: Record<string, unknown>, label: string): string[] {
  if (rawValue(raw, "bridge", "max_file_size") === undefined) return [];
  return rawValue(raw, "files", "max_size") === undefined
    ? [
        `${label}: bridge.max_file_size is deprecated: its value is used as files.max_size; ` +
          "rename it to files.max_size",
      ]
    : [`${label}: bridge.max_file_size is deprecated and ignored, since files.max_size is set; remove it`];
}

/** Valid but probably unintended settings: reported at start, never fatal. */
function configWarnings(config: Config, label: string): string[] {
  const warnings: string[] = [];
  if (Object.keys(config.bridge.permissions).length === 0) {
    warnings.push(`${label}: bridge.permissions is empty, so nobody is allowed to use the bridge`);
  }
  if (config.tox.bootstrap_nodes.length === 0 && config.tox.tcp_relays.length === 0) {
    warnings.push(`${label}: tox.bootstrap_nodes is empty; Tox identities can only reach peers on this host`);
  }
  return warnings;
}

/** Reads and validates a config file. A missing file is reported with `notFound: true`. */
export async function loadConfigFile(
  path: string,
  opts: Omit<LoadOptions, "baseDir"> = {},
): Promise<ConfigLoadResult> {
  const label = opts.fileLabel ?? path;
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { ok: false, notFound: true, errors: [`${label}: file not found`] };
    return { ok: false, notFound: false, errors: [`${label}: cannot read: ${(err as Error).message}`] };
  }
  return parseConfigText(text, { ...opts, fileLabel: label, baseDir: dirname(resolve(path)) });
}
