import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { acquireDirLock } from "../../src/store/pglite-lock.js";

const root = mkdtempSync(join(tmpdir(), "toxbridge-lock-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const lockPath = () => join(root, `db${++n}.lock`);

function startTimeOf(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]!;
}

describe("embedded database lock", () => {
  it("is exclusive within a process and released on demand", () => {
    const path = lockPath();
    const release = acquireDirLock(path);
    expect(JSON.parse(readFileSync(path, "utf8"))).toMatchObject({ pid: process.pid });
    expect(() => acquireDirLock(path)).toThrow(/already held by this process/);
    release();
    release(); // idempotent
    acquireDirLock(path)();
  });

  it("refuses while another live process holds it", () => {
    const path = lockPath();
    const parent = process.ppid;
    writeFileSync(path, JSON.stringify({ pid: parent, startTime: startTimeOf(parent) }));
    expect(() => acquireDirLock(path)).toThrow(new RegExp(`in use by process ${parent}`));
  });

  it("takes over a lock whose process is gone", () => {
    const path = lockPath();
    writeFileSync(path, JSON.stringify({ pid: 4194305 }));
    acquireDirLock(path)();
  });

  it("takes over a lock of an earlier process that had the same pid (container restart)", () => {
    const path = lockPath();
    writeFileSync(path, JSON.stringify({ pid: process.pid, startTime: "1" }));
    acquireDirLock(path)();
    const parent = process.ppid;
    writeFileSync(path, JSON.stringify({ pid: parent, startTime: "1" })); // pid reused by another process
    acquireDirLock(path)();
  });

  it("waits out an unreadable lock that may be half written, then takes it over", () => {
    const path = lockPath();
    writeFileSync(path, "");
    expect(() => acquireDirLock(path)).toThrow(/being opened by another process/);
    const old = new Date(Date.now() - 60_000);
    utimesSync(path, old, old);
    acquireDirLock(path)();
  });
});
