/**
 * PGlite runs inside this process, so nothing stops a second process (or a second store in this
 * one) from opening the same data directory, which would corrupt it. A lock file names the
 * holder; a lock whose holder is gone is taken over.
 *
 * "Gone" must survive pid reuse: in a container the bridge is pid 1 on every start, so a lock left
 * by a killed bridge would name a live pid forever. The lock therefore also records the kernel
 * boot id and the holder's start time (Linux /proc); a live pid with another start time is a
 * different process.
 */
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { StoreError } from "./errors.js";

interface LockOwner {
  pid: number;
  bootId?: string;
  startTime?: string;
}

/** Locks held by this process, to tell "opened twice" from a stale lock of an earlier run. */
const heldHere = new Set<string>();

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/pid/stat), if known. */
function startTimeOf(pid: number): string | undefined {
  const stat = readProc(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return fields[19];
}

function currentOwner(): LockOwner {
  return {
    pid: process.pid,
    bootId: readProc("/proc/sys/kernel/random/boot_id")?.trim(),
    startTime: startTimeOf(process.pid),
  };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(text) as LockOwner;
    return Number.isInteger(owner.pid) && owner.pid > 0 ? owner : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the recorded holder is still running (same process, not just the same pid). */
function holderAlive(owner: LockOwner): boolean {
  if (!processAlive(owner.pid)) return false;
  const me = currentOwner();
  if (owner.bootId && me.bootId && owner.bootId !== me.bootId) return false;
  const start = startTimeOf(owner.pid);
  if (owner.startTime && start && owner.startTime !== start) return false;
  return true;
}

const UNREADABLE_GRACE_MS = 5000;

function youngerThan(path: string, ms: number): boolean {
  try {
    return Date.now() - statSync(path).mtimeMs < ms;
  } catch {
    return false;
  }
}

/** Takes the lock or throws StoreError naming the holder. Returns the release function. */
export function acquireDirLock(lockPath: string): () => void {
  if (heldHere.has(lockPath))
    throw new StoreError(
      `the embedded database lock ${lockPath} is already held by this process (store opened twice?)`,
      {
        lockPath,
      },
    );
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lockPath, `${JSON.stringify(currentOwner())}\n`, { flag: "wx" });
      heldHere.add(lockPath);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        heldHere.delete(lockPath);
        rmSync(lockPath, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const owner = parseOwner(readProc(lockPath) ?? "");
      if (!owner && youngerThan(lockPath, UNREADABLE_GRACE_MS))
        // Probably another process between creating the file and writing it: not ours to take.
        throw new StoreError(
          `the embedded database ${lockPath.replace(/\.lock$/, "")} is being opened by another process`,
          {
            lockPath,
          },
        );
      if (owner && owner.pid !== process.pid && holderAlive(owner))
        throw new StoreError(
          `the embedded database ${lockPath.replace(/\.lock$/, "")} is in use by process ${owner.pid}`,
          {
            lockPath,
            holder: owner.pid,
          },
        );
      // Stale: its process is gone, or it is an earlier run that had our pid (container restart).
      rmSync(lockPath, { force: true });
    }
  }
  throw new StoreError(`could not take the database lock ${lockPath}`, { lockPath });
}
