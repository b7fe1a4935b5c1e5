/**
 * Turns zod issues into one operator-facing line each:
 *   config.yaml: appservice.port: expected an integer between 0 and 65535 (...), got "abc"
 * Secrets are never echoed (only their type and length), and unknown keys get a "did you mean".
 */
import type * as z from "zod";

/** Settings whose values must not appear in error output (database.url may hold a password). */
const SECRET_PATHS = new Set([
  "appservice.as_token",
  "appservice.hs_token",
  "xmpp.secret",
  "bridge.encryption_key",
  "database.url",
]);

export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out;
}

function describeValue(value: unknown, secret: boolean): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (secret) {
    return typeof value === "string" ? `a ${value.length}-character value (not shown)` : `a ${typeof value}`;
  }
  const json = JSON.stringify(value) ?? String(value);
  return json.length > 60 ? `${json.slice(0, 57)}...` : json;
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/** Unwraps default/optional/pipe wrappers down to the schema that actually has a shape. */
function unwrapSchema(schema: z.core.$ZodType): z.core.$ZodType {
  let s = schema;
  for (let i = 0; i < 16; i++) {
    const def = s._zod.def as { type: string; innerType?: z.core.$ZodType; in?: z.core.$ZodType };
    if (def.innerType) s = def.innerType;
    else if (def.type === "pipe" && def.in) s = def.in;
    else break;
  }
  return s;
}

/** The keys a strict object at `path` accepts, for "did you mean" suggestions. */
export function knownKeysAt(schema: z.core.$ZodType, path: readonly PropertyKey[]): string[] {
  let s = unwrapSchema(schema);
  for (const part of path) {
    const def = s._zod.def as {
      type: string;
      shape?: Record<string, z.core.$ZodType>;
      element?: z.core.$ZodType;
    };
    if (def.type === "object" && def.shape && typeof part === "string" && def.shape[part]) {
      s = unwrapSchema(def.shape[part]);
    } else if (def.type === "array" && def.element && typeof part === "number") {
      s = unwrapSchema(def.element);
    } else {
      return [];
    }
  }
  const def = s._zod.def as { type: string; shape?: Record<string, z.core.$ZodType> };
  return def.type === "object" && def.shape ? Object.keys(def.shape) : [];
}

/** Formats every issue as `<file>: <path>: <problem>`; one line per problem, stable order. */
export function formatIssues(
  issues: readonly z.core.$ZodIssue[],
  opts: { fileLabel: string; schema: z.core.$ZodType; envSources?: ReadonlyMap<string, string> },
): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    const path = formatPath(issue.path);
    const where = (p: string) => `${opts.fileLabel}: ${p === "" ? "(top level)" : p}`;
    if (issue.code === "unrecognized_keys") {
      const known = knownKeysAt(opts.schema, issue.path);
      for (const key of issue.keys) {
        const keyPath = formatPath([...issue.path, key]);
        const guess = closest(key, known);
        const hint = guess
          ? ` (did you mean "${guess}"?)`
          : known.length
            ? ` (known keys: ${known.join(", ")})`
            : "";
        lines.push(`${where(keyPath)}: unknown key${hint}`);
      }
      continue;
    }
    const secret = SECRET_PATHS.has(path);
    const input = (issue as { input?: unknown }).input;
    const env = opts.envSources?.get(path);
    const source = env ? ` (from environment variable ${env})` : "";
    if (input === undefined && issue.code === "invalid_type") {
      lines.push(`${where(path)}: missing; ${issue.message}`);
    } else if (issue.code === "custom" && (input === undefined || typeof input === "object")) {
      // Cross-field rules report on a whole section; echoing the section would be noise.
      lines.push(`${where(path)}: ${issue.message}${source}`);
    } else {
      lines.push(`${where(path)}: ${issue.message}, got ${describeValue(input, secret)}${source}`);
    }
  }
  return lines;
}
