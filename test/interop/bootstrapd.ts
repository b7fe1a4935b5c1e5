/**
 * Starts a real `tox-bootstrapd` (Debian toxcore-utils, c-toxcore 0.2.18) on loopback for tests:
 * a DHT bootstrap node plus a TCP relay, in a temp dir with a generated libconfig file, run in the
 * foreground with its log on stdout. Ready once it has written its key and answers a UDP
 * bootstrap-info request (packet 0xF0, 78 bytes; reply 0xF0 + version + MOTD).
 */
import dgram from "node:dgram";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toHex } from "../../src/tox/bytes.js";
import { spawnSupervised, tcpAccepts } from "../helpers/supervised.js";

export const BOOTSTRAPD_PATH = "/usr/bin/tox-bootstrapd";

const INFO_PACKET_ID = 0xf0;
const INFO_REQUEST_LENGTH = 78;
const KEY_SIZE = 32;

export interface BootstrapNodeRef {
  host: string;
  port: number;
  publicKeyHex: string;
}

export interface BootstrapdOptions {
  /** UDP DHT port (required: choose from your own range). */
  port: number;
  /** TCP relay port; default `port + 1`. */
  tcpPort?: number;
  /** Other nodes this daemon bootstraps from (build a multi-node DHT on loopback). */
  bootstrapNodes?: BootstrapNodeRef[];
  motd?: string;
  /** Give up waiting for readiness after this long (default 10 s). */
  startTimeoutMs?: number;
}

export interface Bootstrapd {
  host: string;
  port: number;
  tcpPort: number;
  publicKey: Uint8Array;
  publicKeyHex: string;
  /** Daemon stdout/stderr so far (for failure messages). */
  output(): string;
  /** SIGTERM, then SIGKILL after 2 s; removes the temp dir. Idempotent. The daemon also stops
   * by itself if this process dies. */
  stop(): Promise<void>;
}

function configText(dir: string, o: Required<Omit<BootstrapdOptions, "startTimeoutMs">>): string {
  const nodes = o.bootstrapNodes
    .map(
      (n) => `  { address = "${n.host}"; port = ${n.port}; public_key = "${n.publicKeyHex.toUpperCase()}"; }`,
    )
    .join(",\n");
  return [
    `port = ${o.port}`,
    `keys_file_path = "${join(dir, "keys")}"`,
    `pid_file_path = "${join(dir, "bootstrapd.pid")}"`,
    "enable_ipv6 = false",
    "enable_ipv4_fallback = true",
    "enable_lan_discovery = false",
    "enable_tcp_relay = true",
    `tcp_relay_ports = [${o.tcpPort}]`,
    "enable_motd = true",
    `motd = "${o.motd.replace(/["\\]/g, "")}"`,
    `bootstrap_nodes = (\n${nodes}\n)`,
    "",
  ].join("\n");
}

/** One UDP bootstrap-info round trip; resolves true if the daemon answered within `ms`. */
function infoRequest(port: number, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket("udp4");
    const done = (ok: boolean) => {
      clearTimeout(timer);
      sock.close();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), ms);
    sock.on("message", (msg) => {
      if (msg[0] === INFO_PACKET_ID) done(true);
    });
    sock.on("error", () => done(false));
    const req = Buffer.alloc(INFO_REQUEST_LENGTH);
    req[0] = INFO_PACKET_ID;
    sock.send(req, port, "127.0.0.1");
  });
}

export async function startBootstrapd(opts: BootstrapdOptions): Promise<Bootstrapd> {
  const o = {
    port: opts.port,
    tcpPort: opts.tcpPort ?? opts.port + 1,
    bootstrapNodes: opts.bootstrapNodes ?? [],
    motd: opts.motd ?? "toxbridge-test",
  };
  const dir = await mkdtemp(join(tmpdir(), "toxbridge-bootstrapd-"));
  const configPath = join(dir, "bootstrapd.conf");
  await writeFile(configPath, configText(dir, o));
  const daemon = spawnSupervised(
    BOOTSTRAPD_PATH,
    ["--config", configPath, "--foreground", "--log-backend", "stdout"],
    dir,
  );
  const stop = daemon.stop;
  const fail = async (why: string): Promise<never> => {
    await stop();
    throw new Error(
      `tox-bootstrapd on 127.0.0.1:${o.port}/${o.tcpPort}: ${why}\n--- output ---\n${daemon.output()}`,
    );
  };

  const deadline = Date.now() + (opts.startTimeoutMs ?? 10_000);
  let publicKey: Uint8Array | undefined;
  for (;;) {
    if (daemon.exitStatus() !== null) return fail(`exited early (${daemon.exitStatus()})`);
    if (Date.now() > deadline) return fail("not ready in time");
    if (!publicKey) {
      // The keys file is the raw public key followed by the secret key (64 bytes).
      const keys = await readFile(join(dir, "keys")).catch(() => undefined);
      if (keys?.length === 2 * KEY_SIZE) publicKey = new Uint8Array(keys.subarray(0, KEY_SIZE));
    }
    if (publicKey && (await infoRequest(o.port, 200)) && (await tcpAccepts(o.tcpPort))) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const publicKeyHex = toHex(publicKey);
  const logged = /Public Key: ([0-9A-Fa-f]{64})/.exec(daemon.output())?.[1];
  if (logged && logged.toLowerCase() !== publicKeyHex) {
    return fail(`keys file (${publicKeyHex}) disagrees with logged key (${logged})`);
  }
  return {
    host: "127.0.0.1",
    port: o.port,
    tcpPort: o.tcpPort,
    publicKey,
    publicKeyHex,
    output: daemon.output,
    stop,
  };
}

/**
 * `count` daemons on ports `basePort, basePort+2, ...` (TCP relay on the odd port after each),
 * each bootstrapping from the first: a small loopback DHT. TCP-only clients need at least three
 * nodes to build onion paths.
 */
export async function startBootstrapNetwork(count: number, basePort: number): Promise<Bootstrapd[]> {
  const nodes: Bootstrapd[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const first = nodes[0];
      nodes.push(
        await startBootstrapd({
          port: basePort + 2 * i,
          bootstrapNodes: first
            ? [{ host: first.host, port: first.port, publicKeyHex: first.publicKeyHex }]
            : [],
        }),
      );
    }
  } catch (e) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw e;
  }
  return nodes;
}
