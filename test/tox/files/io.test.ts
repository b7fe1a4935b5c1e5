import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BytesSink, BytesSource, DiskFileSink, DiskFileSource } from "../../../src/tox/files/io.js";

const dir = mkdtempSync(join(tmpdir(), "toxfiles-io-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("file sources and sinks", () => {
  it("DiskFileSource reads at offsets and returns a short read only at the end", async () => {
    const path = join(dir, "src.bin");
    const data = Uint8Array.from({ length: 10_000 }, (_, i) => i & 0xff);
    writeFileSync(path, data);
    const src = await DiskFileSource.open(path);
    expect(src.size).toBe(10_000);
    expect([...(await src.read(1000, 5))]).toEqual([...data.subarray(1000, 1005)]);
    expect((await src.read(9_990, 100)).length).toBe(10);
    expect((await src.read(10_000, 100)).length).toBe(0);
    await src.close();
  });

  it("DiskFileSink writes at offsets and keeps earlier bytes when reopened (resume)", async () => {
    const path = join(dir, "dst.bin");
    const first = await DiskFileSink.open(path);
    await first.write(0, Uint8Array.of(1, 2, 3, 4));
    await first.close();
    const again = await DiskFileSink.open(path);
    await again.write(4, Uint8Array.of(5, 6));
    await again.write(2, Uint8Array.of(9));
    await again.close();
    expect([...readFileSync(path)]).toEqual([1, 2, 9, 4, 5, 6]);
    const t = await DiskFileSink.open(path);
    await t.truncate(3);
    await t.close();
    expect([...readFileSync(path)]).toEqual([1, 2, 9]);
  });

  it("in-memory source and sink", async () => {
    const sink = new BytesSink();
    await sink.write(3, Uint8Array.of(7));
    await sink.write(0, Uint8Array.of(1, 2, 3));
    expect([...sink.bytes]).toEqual([1, 2, 3, 7]);
    expect([...(await new BytesSource(sink.bytes).read(2, 10))]).toEqual([3, 7]);
  });
});
