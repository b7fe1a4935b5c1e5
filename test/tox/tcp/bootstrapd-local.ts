/**
 * Starts a real `tox-bootstrapd` (c-toxcore 0.2.18) with a TCP relay on loopback for interop
 * tests. Stop-gap until the shared harness (test/interop/bootstrapd.ts) lands.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromHex } from "../../../src/tox/bytes.js";

export interface LocalBootstrapd {
  udpPort: number;
  tcpPort: number;
  publicKey: Uint8Array;
  publicKeyHex: string;
  /** Everything the daemon printed so far. */
  output(): string;
  stop(): Promise<void>;
}

export async function startBootstrapd(opts: {
  udpPort: number;
  tcpPort: number;
  bootstrapTo?: Array<{ port: number; publicKeyHex: string }>;
  timeoutMs?: number;
}): Promise<LocalBootstrapd> {
  const dir = mkdtempSync(join(tmpdir(), "toxbridge-bsd-"));
  const nodes = (opts.bootstrapTo ?? [])
    .map((n) => `{ address = "127.0.0.1"; port = ${n.port}; public_key = "${n.publicKeyHex}"; }`)
    .join(",\n");
  writeFileSync(
    join(dir, "bsd.conf"),
    `port = ${opts.udpPort}
keys_file_path = "${dir}/keys"
pid_file_path = "${dir}/bsd.pid"
enable_ipv6 = false
enable_ipv4_fallback = true
enable_lan_discovery = false
enable_tcp_relay = true
tcp_relay_ports = [${opts.tcpPort}]
enable_motd = true
motd = "toxbridge-test"
bootstrap_nodes = (${nodes})
`,
  );
  const child: ChildProcess = spawn(
    "tox-bootstrapd",
    ["--config", join(dir, "bsd.conf"), "--foreground", "--log-backend", "stdout"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const key = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`tox-bootstrapd did not start:\n${out}`)),
      opts.timeoutMs ?? 5000,
    );
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /Public Key: ([0-9A-F]{64})/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`tox-bootstrapd exited (${code}):\n${out}`));
    });
  });
  // The TCP listener is up once the key is printed ("Initialized Tox TCP server" comes first).
  return {
    udpPort: opts.udpPort,
    tcpPort: opts.tcpPort,
    publicKey: fromHex(key),
    publicKeyHex: key,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 2000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
