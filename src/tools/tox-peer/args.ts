/**
 * Command-line options of `tox-bridge tox-peer`. Parsing never throws: it returns every problem,
 * one message each, so a wrong invocation is fixed in one go.
 */
import { parseArgs } from "node:util";

export interface NodeSpec {
  host: string;
  port: number;
  /** 64 lower-case hex characters. */
  publicKeyHex: string;
}

export interface ToxPeerOptions {
  save?: string;
  /** UDP port; absent = the first free one of 33445-33545, as c-toxcore. */
  port?: number;
  bootstrap: NodeSpec[];
  tcpRelays: NodeSpec[];
  udp: boolean;
  help: boolean;
}

export type ArgsResult = { ok: true; options: ToxPeerOptions } | { ok: false; errors: string[] };

/**
 * Parses `HOST:PORT:KEYHEX`. An IPv6 host goes in brackets (`[::1]:33445:KEY`); a DNS name is
 * accepted as is and resolved when used.
 */
export function parseNodeSpec(text: string): { ok: true; node: NodeSpec } | { ok: false; error: string } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):([^:]+):([^:]+)$/.exec(text);
  if (m === null) return { ok: false, error: `"${text}" is not HOST:PORT:KEYHEX` };
  const host = (m[1] ?? m[2])!;
  const portText = m[3]!;
  const key = m[4]!;
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535)
    return { ok: false, error: `"${text}": port must be 1-65535, got "${portText}"` };
  if (!/^[0-9a-fA-F]{64}$/.test(key))
    return { ok: false, error: `"${text}": key must be 64 hex characters, got ${key.length}` };
  return { ok: true, node: { host, port: Number(portText), publicKeyHex: key.toLowerCase() } };
}

export function parseToxPeerArgs(args: string[]): ArgsResult {
  let values: {
    save?: string;
    port?: string;
    bootstrap?: string[];
    "tcp-relay"?: string[];
    udp?: string;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args,
      allowPositionals: false,
      strict: true,
      options: {
        save: { type: "string" },
        port: { type: "string" },
        bootstrap: { type: "string", multiple: true },
        "tcp-relay": { type: "string", multiple: true },
        udp: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    return { ok: false, errors: [(err as Error).message] };
  }
  const errors: string[] = [];
  const options: ToxPeerOptions = {
    bootstrap: [],
    tcpRelays: [],
    udp: true,
    help: values.help ?? false,
  };
  if (values.save !== undefined) {
    if (values.save === "") errors.push("--save: needs a file name");
    else options.save = values.save;
  }
  if (values.port !== undefined) {
    const p = values.port;
    if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535)
      errors.push(`--port: must be 1-65535, got "${p}"`);
    else options.port = Number(p);
  }
  for (const [flag, list, into] of [
    ["--bootstrap", values.bootstrap, options.bootstrap],
    ["--tcp-relay", values["tcp-relay"], options.tcpRelays],
  ] as const) {
    for (const text of list ?? []) {
      const r = parseNodeSpec(text);
      if (r.ok) into.push(r.node);
      else errors.push(`${flag}: ${r.error}`);
    }
  }
  if (values.udp !== undefined) {
    if (values.udp === "on" || values.udp === "off") options.udp = values.udp === "on";
    else errors.push(`--udp: must be "on" or "off", got "${values.udp}"`);
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, options };
}

export const TOX_PEER_HELP = `Usage: tox-bridge tox-peer [options]

A headless Tox client with one identity, driven by commands on stdin and reporting events on
stdout, one per line (for operators and tests). Details: README, "tox-peer: a headless Tox client".

Options:
  --save FILE                    Profile (c-toxcore save format): loaded if it exists, written
                                 atomically by "save" and "quit". Without it the identity is new
                                 and lost at exit.
  --port N                       UDP port (default: first free of 33445-33545)
  --bootstrap HOST:PORT:DHTKEY   DHT bootstrap node (repeatable)
  --tcp-relay HOST:PORT:KEY      TCP relay (repeatable)
  --udp on|off                   UDP on (default) or TCP-only (needs --tcp-relay)
  -h, --help                     Show this help

Commands (stdin): id, add TOXID MSG, accept PUBKEY, autoaccept on|off, msg N TEXT,
  action N TEXT, name TEXT, status TEXT, friends, save, quit, help
Events (stdout): READY toxid=.. dht=.. port=..; SELF_CONNECTION udp|tcp|none;
  FRIEND_REQUEST pk=.. msg=..; FRIEND_CONNECTION n=.. udp|tcp|none;
  FRIEND_MESSAGE n=.. type=normal|action text=..; READ_RECEIPT n=.. id=..;
  FRIEND_NAME n=.. name=..; ERROR ..  (replies: ID, FRIEND_ADDED, SENT, FRIEND, FRIENDS, SAVED, OK)
Free text is the last field of a line, with \\n, \\r and \\\\ escaped (also in commands).

Exit codes: 0 after quit or end of input, 1 runtime failure (unreadable profile, port in use),
2 bad usage.
`;
