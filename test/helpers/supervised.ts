/**
 * A daemon started by a test, that cannot outlive it. The daemon runs under a tiny shell
 * watchdog that holds our stdin pipe: when we close it, or when this process dies by any means
 * (even SIGKILL from a test runner), the pipe reaches EOF and the watchdog stops the daemon
 * (SIGTERM, then SIGKILL after 2 s) and removes its temp dir, so nothing is left holding ports.
 * Used for tox-bootstrapd and Prosody.
 */
import { spawn } from "node:child_process";
import { rm } from "node:fs/promises";
import net from "node:net";

/** `$0 "$@"` is the daemon command line; `$SUPERVISED_DIR` the temp dir to remove. */
const WATCHDOG = [
  "exec 3<&0",
  '"$0" "$@" </dev/null &',
  "pid=$!",
  '( cat <&3 >/dev/null; kill $pid 2>/dev/null; sleep 2; kill -9 $pid 2>/dev/null; rm -rf "$SUPERVISED_DIR" ) &',
  "exec 3<&-",
  "wait $pid",
].join("\n");

/** Output kept for failure messages: the tail only, so debug logging of a long test stays bounded. */
const OUTPUT_LIMIT = 2_000_000;

export interface SupervisedProcess {
  /** stdout and stderr so far. */
  output(): string;
  /** Exit code or signal once the daemon has exited, else null. */
  exitStatus(): number | string | null;
  /** Stops the daemon and removes `dir`; idempotent. */
  stop(): Promise<void>;
}

/** Runs `command args...` under the watchdog; `dir` (the daemon's temp dir) goes with it. */
export function spawnSupervised(command: string, args: readonly string[], dir: string): SupervisedProcess {
  const child = spawn("/bin/sh", ["-c", WATCHDOG, command, ...args], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, SUPERVISED_DIR: dir },
  });
  let out = "";
  const collect = (d: Buffer) => {
    out += d.toString();
    if (out.length > OUTPUT_LIMIT) out = out.slice(-OUTPUT_LIMIT / 2);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  let exited: number | string | null = null;
  child.once("exit", (code, signal) => {
    exited = code ?? signal ?? "?";
  });
  let stopped = false;
  return {
    output: () => out,
    exitStatus: () => exited,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (exited === null) {
        const gone = new Promise<void>((r) => child.once("exit", () => r()));
        child.stdin?.end(); // the watchdog sends SIGTERM, then SIGKILL after 2 s
        const t = setTimeout(() => child.kill("SIGKILL"), 4000);
        await gone;
        clearTimeout(t);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export function tcpAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}
