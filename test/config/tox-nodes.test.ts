import { describe, expect, it } from "vitest";
import { PUBLIC_BOOTSTRAP_NODES } from "../../src/config/example.js";
import { type HostLookup, resolveToxNodes } from "../../src/config/tox-nodes.js";
import { toHex } from "../../src/tox/bytes.js";

const KEY = "7E5668E0EE09E19F320AD47902419331FFEE147BB3606769CFBE921A2A2FD34C";

const fakeDns: HostLookup = async (host) => {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(host)) return [{ address: host, family: 4 }];
  if (host === "dual.example") {
    return [
      { address: "192.0.2.7", family: 4 },
      { address: "2001:db8::7", family: 6 },
    ];
  }
  if (host === "v6only.example") return [{ address: "2001:db8::8", family: 6 }];
  throw new Error(`getaddrinfo ENOTFOUND ${host}`);
};

describe("resolveToxNodes", () => {
  it("resolves IP literals and host names into IpPort + key bytes", async () => {
    const { resolved, failed } = await resolveToxNodes(
      [
        { host: "144.217.167.73", port: 33445, public_key: KEY },
        { host: "dual.example", port: 443, public_key: KEY },
      ],
      { lookup: fakeDns },
    );
    expect(failed).toEqual([]);
    expect(resolved.map((n) => [n.host, n.ipPort])).toEqual([
      ["144.217.167.73", { family: 4, ip: "144.217.167.73", port: 33445 }],
      ["dual.example", { family: 4, ip: "192.0.2.7", port: 443 }],
    ]);
    expect(toHex(resolved[0]!.publicKey).toUpperCase()).toBe(KEY);
  });

  it("keeps IPv6 addresses only when asked", async () => {
    const nodes = [{ host: "dual.example", port: 1, public_key: KEY }];
    const { resolved } = await resolveToxNodes(nodes, { lookup: fakeDns, ipv6: true });
    expect(resolved.map((n) => n.ipPort.family)).toEqual([4, 6]);
  });

  it("skips hosts that do not resolve or have no usable address, saying why", async () => {
    const { resolved, failed } = await resolveToxNodes(
      [
        { host: "gone.example", port: 1, public_key: KEY },
        { host: "v6only.example", port: 1, public_key: KEY },
        { host: "192.0.2.1", port: 1, public_key: KEY },
      ],
      { lookup: fakeDns },
    );
    expect(resolved).toHaveLength(1);
    expect(failed).toEqual([
      { host: "gone.example", reason: "getaddrinfo ENOTFOUND gone.example" },
      { host: "v6only.example", reason: "no usable address (IPv6 is off)" },
    ]);
  });

  it("accepts every node of the example config", async () => {
    const literalsOnly = PUBLIC_BOOTSTRAP_NODES.filter((n) => /^\d/.test(n.host));
    const { resolved, failed } = await resolveToxNodes(literalsOnly, { lookup: fakeDns });
    expect(failed).toEqual([]);
    expect(resolved).toHaveLength(literalsOnly.length);
  });
});
