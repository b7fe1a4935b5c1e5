/**
 * PGlite runs inside this process, so nothing stops a second process (or a second store in this
 * one) from opening the same data directory, which would corrupt it. A lock file with our pid
 * refuses that; a lock left by a process that no longer exists is taken over.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { StoreError } from "./errors.js";

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function acquireDirLock(lockPath: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lockPath, `${process.pid}\n`, { flag: "wx" });
      let released = false;
      return () => {
        if (released) return;
        released = true;
        rmSync(lockPath, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = Number.parseInt(readFileSync(lockPath, "utf8"), 10);
      if (Number.isInteger(holder) && holder > 0 && processAlive(holder))
        throw new StoreError(
          `the embedded database ${lockPath.replace(/\.lock$/, "")} is in use by process ${holder}` +
            (holder === process.pid ? " (this one: is the store opened twice?)" : ""),
          { lockPath, holder },
        );
      rmSync(lockPath, { force: true }); // stale: its process is gone
    }
  }
  throw new StoreError(`could not take the database lock ${lockPath}`, { lockPath });
}
