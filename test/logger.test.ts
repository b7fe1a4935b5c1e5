import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../src/logger.js";

function sink() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...chunk.toString().trim().split("\n"));
      cb();
    },
  });
  return { lines, stream };
}

describe("createLogger", () => {
  it("writes JSON lines at the configured level", () => {
    const { lines, stream } = sink();
    const log = createLogger({ level: "info", destination: stream });
    log.debug("hidden");
    log.info({ peer: "abc" }, "hello");
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 30, name: "toxbridge", peer: "abc", msg: "hello" });
  });

  it("redacts secrets wherever they appear in a logged object", () => {
    const { lines, stream } = sink();
    const log = createLogger({ level: "info", destination: stream });
    log.info({ as_token: "t1", appservice: { hs_token: "t2" }, bridge: { encryption_key: "k" } }, "config");
    const text = lines.join("\n");
    for (const secret of ['"t1"', '"t2"', '"k"']) expect(text).not.toContain(secret);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      as_token: "[redacted]",
      appservice: { hs_token: "[redacted]" },
    });
  });
});
