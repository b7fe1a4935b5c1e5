/**
 * Turns the configured `tox.bootstrap_nodes` / `tox.tcp_relays` (host names allowed) into the
 * addresses the Tox layer bootstraps from. Resolution happens once at start; a host that does not
 * resolve is reported and skipped, because public node lists always contain a few dead entries
 * and one of them must not keep the bridge from starting.
 */
import { lookup as dnsLookup } from "node:dns/promises";
import { fromHex } from "../tox/bytes.js";
import { type IpPort, ipPort } from "../tox/wire/ipport.js";

export interface ConfiguredToxNode {
  host: string;
  port: number;
  public_key: string;
}

export interface ResolvedToxNode {
  /** As written in the config, for log lines. */
  host: string;
  ipPort: IpPort;
  publicKey: Uint8Array;
}

export type HostLookup = (host: string) => Promise<Array<{ address: string; family: number }>>;

export interface ResolveOptions {
  /** Keep IPv6 addresses (the Tox node must have an IPv6 socket). Default false. */
  ipv6?: boolean;
  /** Injected in tests; defaults to the system resolver (getaddrinfo). */
  lookup?: HostLookup;
}

const systemLookup: HostLookup = (host) => dnsLookup(host, { all: true });

export async function resolveToxNodes(
  nodes: readonly ConfiguredToxNode[],
  opts: ResolveOptions = {},
): Promise<{ resolved: ResolvedToxNode[]; failed: Array<{ host: string; reason: string }> }> {
  const lookup = opts.lookup ?? systemLookup;
  const results = await Promise.all(
    nodes.map(async (node) => {
      try {
        const addresses = await lookup(node.host);
        const usable = addresses.filter((a) => a.family === 4 || (opts.ipv6 && a.family === 6));
        if (usable.length === 0) {
          return { ok: false as const, host: node.host, reason: "no usable address (IPv6 is off)" };
        }
        const publicKey = fromHex(node.public_key, "bootstrap node public key");
        return {
          ok: true as const,
          nodes: usable.map((a) => ({ host: node.host, ipPort: ipPort(a.address, node.port), publicKey })),
        };
      } catch (err) {
        return { ok: false as const, host: node.host, reason: (err as Error).message };
      }
    }),
  );
  const resolved: ResolvedToxNode[] = [];
  const failed: Array<{ host: string; reason: string }> = [];
  for (const r of results) {
    if (r.ok) resolved.push(...r.nodes);
    else failed.push({ host: r.host, reason: r.reason });
  }
  return { resolved, failed };
}
