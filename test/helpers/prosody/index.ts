/**
 * Starts a real Prosody (Debian `prosody` 0.12) on loopback for tests: a temp dir with its own
 * config and data, run in the foreground (`-F`) with its log on stdout. One VirtualHost (default
 * `localhost`) with plain-text auth over an unencrypted c2s port, offline messages, carbons and MAM;
 * one XEP-0114 component per entry in `components`; an XEP-0363 upload service (mod_http_file_share,
 * `upload.<host>`) on the loopback HTTP port.
 *
 * Prosody 0.12 refuses to start as root (mod_posix: "Danger, Will Robinson!") unless the config sets
 * `run_as_root = true`, which we do: tests in CI containers run as root. `prosodyctl register` would
 * try to switch to the `prosody` user and touch /etc/prosody, so users are written straight into
 * the data dir in the format of mod_auth_internal_plain + mod_storage_internal instead.
 *
 * Ports come from 35200-35299 (part of this helper's range), picked at runtime among those that bind.
 */
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSupervised, tcpAccepts } from "../supervised.js";

export const PROSODY_PATH = "/usr/bin/prosody";
const PORT_FIRST = Number(process.env.PROSODY_TEST_PORT_BASE ?? 35200);
// 35300-35399 is left for the Tox ports of the XMPP end-to-end tests.
const PORT_COUNT = 100;

export interface ProsodyComponent {
  domain: string;
  secret: string;
}

export interface ProsodyOptions {
  /** The user host (default `localhost`). */
  host?: string;
  /** XEP-0114 components (default: `tox.localhost` with a random secret). */
  components?: ProsodyComponent[];
  /** Accounts on `host` created before start. */
  users?: { username: string; password: string }[];
  /** Extra lines for the global section (e.g. `"log = ..."`). */
  extraConfig?: string[];
  /** Fixed ports (e.g. to restart on the same ones); default: free ones from 35200-35299. */
  ports?: { c2s: number; component: number; http: number };
  /** First of the ports to pick from instead of 35200 (each test area has its own range). */
  portBase?: number;
  /** How many ports from `portBase` Prosody may use (default 100), leaving the rest to the test. */
  portCount?: number;
  /** `http_file_share_size_limit` of the `upload.<host>` XEP-0363 service (default 10 MiB). */
  uploadSizeLimit?: number;
  startTimeoutMs?: number;
}

export interface Prosody {
  host: string;
  c2sPort: number;
  componentPort: number;
  httpPort: number;
  components: ProsodyComponent[];
  /** `xmpp://127.0.0.1:<c2sPort>` for @xmpp/client. */
  c2sService: string;
  /** `xmpp://127.0.0.1:<componentPort>` for @xmpp/component. */
  componentService: string;
  dataDir: string;
  /** Creates (or overwrites) an account; Prosody reads it from disk at the next login. */
  addUser(username: string, password: string): Promise<void>;
  /** Prosody's log so far (for failure messages). */
  output(): string;
  /** SIGTERM, then SIGKILL after 2 s; removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** mod_storage_internal's file-name encoding (util/datamanager: every non-alphanumeric byte as %xx). */
export function storageEncode(s: string): string {
  return Array.from(Buffer.from(s, "utf8"))
    .map((b) => {
      const c = String.fromCharCode(b);
      return /[A-Za-z0-9]/.test(c) ? c : `%${b.toString(16).padStart(2, "0")}`;
    })
    .join("");
}

function luaString(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen({ host: "127.0.0.1", port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** `count` distinct free ports from this helper's range (or `base`+`span`), starting at a random offset. */
export async function pickPorts(count: number, base = PORT_FIRST, span = PORT_COUNT): Promise<number[]> {
  const picked: number[] = [];
  const start = Math.floor(Math.random() * span);
  for (let i = 0; i < span && picked.length < count; i++) {
    const port = base + ((start + i) % span);
    if (await portFree(port)) picked.push(port);
  }
  if (picked.length < count) throw new Error(`prosody: no ${count} free ports in ${base}+${span}`);
  return picked;
}

interface Layout {
  dir: string;
  host: string;
  c2sPort: number;
  componentPort: number;
  httpPort: number;
  components: ProsodyComponent[];
  extra: string[];
  uploadSizeLimit: number;
}

function configText(l: Layout): string {
  const lines = [
    "run_as_root = true",
    "daemonize = false",
    `pidfile = ${luaString(join(l.dir, "prosody.pid"))}`,
    `data_path = ${luaString(join(l.dir, "data"))}`,
    `certificates = ${luaString(join(l.dir, "certs"))}`,
    'log = { debug = "*console" }',
    'interfaces = { "127.0.0.1" }',
    'c2s_interfaces = { "127.0.0.1" }',
    'local_interfaces = { "127.0.0.1" }',
    `c2s_ports = { ${l.c2sPort} }`,
    "c2s_direct_tls_ports = { }",
    "legacy_ssl_ports = { }",
    "s2s_ports = { }",
    `component_ports = { ${l.componentPort} }`,
    'component_interfaces = { "127.0.0.1" }',
    `http_ports = { ${l.httpPort} }`,
    'http_interfaces = { "127.0.0.1" }',
    "https_ports = { }",
    `http_external_url = "http://127.0.0.1:${l.httpPort}/"`,
    // Requests name the server 127.0.0.1 (as in the external URL), which is no host of ours:
    // route them to the upload service, or every PUT and GET of XEP-0363 ends in a 404.
    `http_default_host = ${luaString(`upload.${l.host}`)}`,
    'authentication = "internal_plain"',
    'storage = "internal"',
    "c2s_require_encryption = false",
    "s2s_require_encryption = false",
    "allow_unencrypted_plain_auth = true",
    "allow_registration = false",
    // Tests log in and out quickly; Prosody's default limits would throttle them.
    "limits = { }",
    "modules_enabled = {",
    '  "roster"; "saslauth"; "disco"; "carbons"; "mam"; "offline"; "ping"; "posix";',
    '  "private"; "vcard_legacy"; "version"; "time"; "uptime"; "blocklist"; "pep";',
    "}",
    'modules_disabled = { "s2s"; "tls" }',
    'archive_expires_after = "1d"',
    ...l.extra,
    "",
    `VirtualHost ${luaString(l.host)}`,
    "",
    ...l.components.flatMap((c) => [
      `Component ${luaString(c.domain)}`,
      `  component_secret = ${luaString(c.secret)}`,
      "",
    ]),
    `Component ${luaString(`upload.${l.host}`)} "http_file_share"`,
    `  http_file_share_size_limit = ${l.uploadSizeLimit}`,
    "",
  ];
  return lines.join("\n");
}

async function writeUser(dataDir: string, host: string, username: string, password: string): Promise<void> {
  const dir = join(dataDir, storageEncode(host), "accounts");
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, `${storageEncode(username.toLowerCase())}.dat`),
    `return {\n\t["password"] = ${luaString(password)};\n};\n`,
  );
}

async function startOnce(opts: ProsodyOptions, deadline: number): Promise<Prosody> {
  const host = opts.host ?? "localhost";
  const components = opts.components ?? [
    { domain: `tox.${host}`, secret: Math.random().toString(36).slice(2) },
  ];
  const [c2sPort, componentPort, httpPort] = opts.ports
    ? [opts.ports.c2s, opts.ports.component, opts.ports.http]
    : ((await pickPorts(3, opts.portBase, opts.portCount)) as [number, number, number]);
  const dir = await mkdtemp(join(tmpdir(), "toxbridge-prosody-"));
  const dataDir = join(dir, "data");
  await mkdir(join(dir, "certs"), { recursive: true });
  await mkdir(dataDir, { recursive: true });
  for (const u of opts.users ?? []) await writeUser(dataDir, host, u.username, u.password);
  const configPath = join(dir, "prosody.cfg.lua");
  await writeFile(
    configPath,
    configText({
      dir,
      host,
      c2sPort,
      componentPort,
      httpPort,
      components,
      extra: opts.extraConfig ?? [],
      uploadSizeLimit: opts.uploadSizeLimit ?? 10 * 1024 * 1024,
    }),
  );

  const daemon = spawnSupervised(PROSODY_PATH, ["-F", "--config", configPath], dir);
  const stop = daemon.stop;
  const fail = async (why: string): Promise<never> => {
    await stop();
    throw new Error(
      `prosody (c2s ${c2sPort}, component ${componentPort}): ${why}\n--- output ---\n${daemon.output()}`,
    );
  };

  for (;;) {
    if (daemon.exitStatus() !== null) return fail(`exited early (${daemon.exitStatus()})`);
    if (Date.now() > deadline) return fail("not ready in time");
    if (daemon.output().includes("Failed to open server port")) return fail("Failed to open server port");
    if (
      daemon.output().includes("Activated service 'component'") &&
      daemon.output().includes("Activated service 'c2s'") &&
      (await tcpAccepts(c2sPort)) &&
      (await tcpAccepts(componentPort))
    )
      break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host,
    c2sPort,
    componentPort,
    httpPort,
    components,
    c2sService: `xmpp://127.0.0.1:${c2sPort}`,
    componentService: `xmpp://127.0.0.1:${componentPort}`,
    dataDir,
    addUser: (username, password) => writeUser(dataDir, host, username, password),
    output: daemon.output,
    stop,
  };
}

/**
 * Starts Prosody and resolves once its c2s and component ports accept connections. Retries (with
 * fresh ports) when another process took a port between our probe and Prosody's bind.
 */
export async function startProsody(opts: ProsodyOptions = {}): Promise<Prosody> {
  const deadline = Date.now() + (opts.startTimeoutMs ?? 15_000);
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(opts, deadline);
    } catch (err) {
      lastError = err;
      const text = String(err);
      const retryable = /Failed to open server port|Address already in use/.test(text);
      if (!retryable || opts.ports !== undefined || Date.now() > deadline) throw err;
    }
  }
  throw lastError;
}
