/**
 * Whatever an operator (or a broken deploy script) puts in config.yaml, validation must answer
 * with error lines, never throw, and every line must name the file.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { exampleConfigYaml } from "../../src/config/example.js";
import { parseConfigText } from "../../src/config/load.js";

const SECRETS = { asToken: "a".repeat(43), hsToken: "h".repeat(43), encryptionKey: "k".repeat(43) };
const base = parse(exampleConfigYaml(SECRETS)) as Record<string, Record<string, unknown>>;

function checkLines(text: string): void {
  const result = parseConfigText(text);
  if (result.ok) return;
  expect(result.errors.length).toBeGreaterThan(0);
  for (const line of result.errors) {
    expect(line.startsWith("config.yaml")).toBe(true);
    expect(line).not.toContain("\n");
  }
}

describe("config validation never throws", () => {
  it("on arbitrary text", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        checkLines(text);
      }),
      { numRuns: 300 },
    );
  });

  it("on arbitrary values at any key of the example", () => {
    const sections = Object.keys(base);
    fc.assert(
      fc.property(
        fc.constantFrom(...sections),
        fc.string({ maxLength: 12 }),
        fc.jsonValue({ maxDepth: 2 }),
        fc.boolean(),
        (section, newKey, value, replaceExisting) => {
          const tree = structuredClone(base);
          const target = tree[section]!;
          const keys = Object.keys(target);
          const key = replaceExisting && keys.length ? keys[newKey.length % keys.length]! : newKey || "x";
          target[key] = value;
          checkLines(stringify(tree));
        },
      ),
      { numRuns: 300 },
    );
  });
});
