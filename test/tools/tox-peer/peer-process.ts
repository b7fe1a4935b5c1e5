/**
 * Drives a `tox-bridge tox-peer` child process (run from source under tsx, as the bin runs the
 * built CLI): write command lines, wait for event lines. Every wait is bounded.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { type ParsedEvent, parseEventLine } from "../../../src/tools/tox-peer/events.js";

const RUN_CLI = fileURLToPath(new URL("../../app/run-cli.ts", import.meta.url));

export interface PeerLine extends ParsedEvent {
  raw: string;
}

export class ToxPeerProcess {
  readonly lines: PeerLine[] = [];
  private stderr = "";
  private readonly child: ChildProcess;
  private readonly exited: Promise<number | null>;
  private waiters: Array<() => void> = [];
  private buffered = "";

  constructor(
    readonly label: string,
    args: string[],
  ) {
    this.child = spawn(process.execPath, ["--import", "tsx", RUN_CLI, "tox-peer", ...args], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.child.stdout!.setEncoding("utf8");
    this.child.stdout!.on("data", (chunk: string) => {
      this.buffered += chunk;
      let nl = this.buffered.indexOf("\n");
      while (nl >= 0) {
        const raw = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        this.lines.push({ raw, ...parseEventLine(raw) });
        nl = this.buffered.indexOf("\n");
      }
      for (const w of this.waiters.splice(0)) w();
    });
    this.child.stderr!.on("data", (d: Buffer) => {
      this.stderr += d.toString();
    });
    this.exited = new Promise((resolve) => this.child.once("exit", (code) => resolve(code)));
  }

  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  /**
   * Resolves with the first line at index >= `from` with `tag` for which `pred` holds; rejects
   * after `timeoutMs` with everything printed so far.
   */
  async waitFor(
    tag: string,
    pred: (l: PeerLine) => boolean = () => true,
    timeoutMs = 30_000,
    from = 0,
  ): Promise<PeerLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.lines.slice(from).find((l) => l.tag === tag && pred(l));
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0 || this.child.exitCode !== null)
        throw new Error(
          `${this.label}: no ${tag} within ${timeoutMs} ms\n--- stdout ---\n${this.lines
            .map((l) => l.raw)
            .join("\n")}\n--- stderr ---\n${this.stderr}`,
        );
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Sends a command and waits for its reply line (searching only lines printed after it). */
  async command(line: string, replyTag: string, timeoutMs = 10_000): Promise<PeerLine> {
    const from = this.lines.length;
    this.send(line);
    return this.waitFor(replyTag, () => true, timeoutMs, from);
  }

  /** `quit` and wait for the exit code (SIGKILL after `timeoutMs`). */
  async quit(timeoutMs = 10_000): Promise<number | null> {
    if (this.child.exitCode === null) this.child.stdin!.end("quit\n");
    const t = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    const code = await this.exited;
    clearTimeout(t);
    return code;
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill("SIGKILL");
  }

  get errors(): string {
    return this.stderr;
  }
}
