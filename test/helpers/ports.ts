/**
 * Which loopback ports each test file binds, and which lane vitest runs it in.
 *
 * vitest.config.ts runs the suite in two lanes, one after the other:
 * - two files at a time: the "parallel" files (no c-toxcore; any fixed loopback ports registered
 *   in PARALLEL_CLAIMS) and the "paired" interop files (real c-toxcore and tox-bootstrapd, all
 *   their ports in PAIRED_CLAIMS) that spend their time waiting on protocol timers (onion
 *   announces and searches, session timeouts) or finish well inside their timeouts on a busy
 *   machine. The config's sequencer interleaves the two kinds, so an interop file that waits
 *   mostly runs beside a unit file that computes.
 * - one file at a time ("serial"): every other `*.interop.test.ts` (today only the 200-identity
 *   load test, which needs both cores), plus SERIAL_FILES.
 *
 * test/helpers/ports.test.ts fails loudly when two files of the two-at-a-time lane claim
 * overlapping ports, or when such a file mentions a port literal of the test range (34000-39999)
 * that is not inside its own claim: a new file that binds fixed ports must be registered here
 * (or run serial) before it can run beside others.
 */

export type Lane = "parallel" | "paired" | "serial";

/** A port range a file binds. `searched`: the code tries the next port when one is taken. */
export interface PortClaim {
  first: number;
  last: number;
  /** `fixed`: the exact ports must be free. `searched`: a taken port is skipped (ToxNode's portRange, probe-and-retry helpers). */
  how: "fixed" | "searched";
  /** Why the file needs them; shows in overlap errors. */
  what: string;
}

export interface FileClaims {
  claims: PortClaim[];
  /**
   * Numbers in the test port range that the file uses as addresses only (in-memory networks,
   * wire encodings, parsed arguments): nothing binds them. Excluded from the literal scan.
   */
  addressesOnly?: number[];
}

/** Files (relative to the repository root) that run one at a time though not named `*.interop.test.ts`. */
export const SERIAL_FILES: readonly string[] = [];

/** Port pools of shared helpers: every file that starts one probes for free ports and retries. */
export const HELPER_POOLS: Record<string, PortClaim> = {
  // Its default pool only (pickPorts: 100 ports from 35200); files with their own portBase claim that range.
  "test/helpers/prosody/index.ts": { first: 35200, last: 35299, how: "searched", what: "Prosody (probe)" },
  "test/helpers/postgres.ts": { first: 55400, last: 55499, how: "searched", what: "PostgreSQL (probe)" },
};

const fixed = (first: number, last: number, what: string): PortClaim => ({ first, last, how: "fixed", what });
const searched = (first: number, last: number, what: string): PortClaim => ({
  first,
  last,
  how: "searched",
  what,
});

/** Fixed-port claims of the parallel lane's files (serial files keep their own ranges in their headers). */
export const PARALLEL_CLAIMS: Record<string, FileClaims> = {
  "test/core/tox-adapter.test.ts": { claims: [searched(35000, 35049, "ToxNode")] },
  "test/matrix/component.test.ts": { claims: [searched(35420, 35439, "ToxNode of the bridge")] },
  "test/xmpp/bridge-component.test.ts": {
    // Shared with xmpp/e2e.interop's ToxNode: each skips a port the other holds.
    claims: [searched(35300, 35339, "ToxNode of the bridge")],
  },
  "test/xmpp/files.test.ts": {
    claims: [fixed(37300, 37349, "Prosody"), fixed(37350, 37359, "web server")],
    // Documented neighbours' ranges in its header.
    addressesOnly: [37360, 37369, 37370, 37399],
  },
  "test/xmpp/files-unit.test.ts": { claims: [searched(37360, 37369, "upload PUT server (probe)")] },
  "test/xmpp/muc-prosody.test.ts": { claims: [searched(37400, 37499, "Prosody (probe)")] },
  "test/tox/node/tox-node.test.ts": {
    claims: [searched(34400, 34499, "ToxNode")],
    addressesOnly: [34599], // its header's range
  },
  "test/tox/node/friend-requests.test.ts": { claims: [searched(35680, 35699, "ToxNode")] },
  "test/tox/node/shared-routing.test.ts": { claims: [searched(37060, 37099, "two ToxNodes")] },
  "test/tox/node/saved-relays.test.ts": {
    claims: [searched(37195, 37199, "ToxNode"), fixed(37194, 37194, "a TCP relay address nobody listens on")],
  },
  "test/tox/transport/udp.test.ts": { claims: [fixed(34260, 34273, "UdpTransport")] },
  "test/tools/tox-peer/process.test.ts": { claims: [fixed(36140, 36149, "tox-peer processes")] },
  "test/tools/tox-peer/args.test.ts": { claims: [], addressesOnly: [36000, 36001] },
  "test/tools/tox-peer/engine.test.ts": { claims: [], addressesOnly: [36099] },
  "test/tools/tox-peer/run.test.ts": { claims: [], addressesOnly: [36099] },
  "test/tox/dht/helpers.test.ts": { claims: [], addressesOnly: [39997] },
  "test/tox/onion/announce-server.test.ts": { claims: [], addressesOnly: [34970, 34971, 34972, 34973] },
  "test/tox/onion/client.test.ts": { claims: [], addressesOnly: [34990] },
  "test/tox/onion/relay.test.ts": { claims: [], addressesOnly: [34950, 34951, 34952, 34960] },
  "test/tox/onion/shared-paths.test.ts": { claims: [], addressesOnly: [36000, 36100] },
  "test/tox/wire/onion.test.ts": { claims: [], addressesOnly: [34800, 34850, 34851, 34900, 34999] },
  // The registry's own test scans sample text.
  "test/helpers/ports.test.ts": { claims: [], addressesOnly: [34400, 34449, 35000, 36099, 36100, 37001] },
};

/** Interop files of the two-at-a-time lane and every port they bind (daemons, our nodes, C peers). */
export const PAIRED_CLAIMS: Record<string, FileClaims> = {
  "test/tox/node/network.interop.test.ts": {
    claims: [
      fixed(35600, 35605, "tox-bootstrapd"),
      searched(35620, 35679, "ToxNode"),
      fixed(35700, 35739, "C peers"),
    ],
  },
  "test/tox/node/outage.interop.test.ts": {
    claims: [
      fixed(35750, 35755, "tox-bootstrapd"),
      searched(35760, 35769, "ToxNode"),
      fixed(35770, 35774, "C peer"),
    ],
  },
  "test/tools/tox-peer/tox-peer.interop.test.ts": {
    claims: [
      fixed(36100, 36105, "tox-bootstrapd"),
      fixed(36110, 36119, "tox-peer processes"),
      fixed(36120, 36139, "C peers"),
    ],
  },
  "test/tox/node/shared-routing.interop.test.ts": {
    claims: [
      fixed(37000, 37005, "tox-bootstrapd"),
      searched(37010, 37029, "ToxNode"),
      fixed(37040, 37059, "C peers"),
    ],
  },
  "test/tox/node/tcp.interop.test.ts": {
    claims: [
      fixed(35800, 35805, "tox-bootstrapd"),
      searched(35820, 35859, "ToxNodes"),
      fixed(35860, 35879, "C peers"),
    ],
  },
  "test/tox/tcp/first-contact.interop.test.ts": {
    claims: [fixed(34760, 34765, "tox-bootstrapd"), fixed(34770, 34779, "C peer")],
  },
  "test/tox/onion/onion-client.interop.test.ts": {
    claims: [
      fixed(34800, 34805, "tox-bootstrapd"),
      fixed(34810, 34819, "C peers"),
      fixed(34830, 34830, "ours"),
    ],
    addressesOnly: [34999], // its header names the onion tests' whole range
  },
  "test/tox/onion/onion-server.interop.test.ts": {
    claims: [fixed(34850, 34853, "ours"), fixed(34860, 34869, "C peers")],
  },
  "test/tox/onion/onion-stack.interop.test.ts": {
    claims: [
      fixed(34900, 34905, "tox-bootstrapd"),
      fixed(34910, 34919, "C peers"),
      fixed(34920, 34920, "ours"),
    ],
  },
  "test/tox/onion/onion-tcp-client.interop.test.ts": {
    claims: [fixed(34940, 34945, "tox-bootstrapd"), fixed(34950, 34959, "C peers")],
  },
  "test/tox/dht/dht.interop.test.ts": {
    claims: [fixed(34200, 34249, "our DHT nodes and C peers"), fixed(34300, 34399, "tox-bootstrapd")],
  },
  "test/tox/conference/conferences-dht.interop.test.ts": {
    claims: [
      searched(36500, 36519, "ToxNode"),
      fixed(36520, 36523, "tox-bootstrapd"),
      fixed(36530, 36599, "C peers"),
    ],
  },
  // The c-toxcore harness's own test (not named .interop): real C peers and daemons.
  "test/interop/ctoxcore.test.ts": {
    claims: [fixed(34000, 34039, "C peers"), fixed(34100, 34119, "tox-bootstrapd")],
  },
  "test/core/conferences-restart.interop.test.ts": {
    claims: [searched(37500, 37519, "ToxNode"), fixed(37540, 37599, "C peers")],
  },
  // CPU-bound (file data through c-toxcore), not timer-bound, but with timeouts many times their
  // duration.
  "test/tox/files/files.interop.test.ts": {
    claims: [searched(36200, 36249, "ToxNode"), fixed(36250, 36299, "C peers")],
  },
  "test/core/files.interop.test.ts": {
    claims: [searched(37120, 37139, "ToxNode of the bridge"), fixed(37140, 37179, "C peers")],
  },
  // Short ones (1-6 s each).
  "test/tox/netcrypto/netcrypto.interop.test.ts": {
    claims: [fixed(34050, 34069, "C peer")],
    addressesOnly: [34000, 34199], // a comment naming the harness range
  },
  "test/tox/node/files.interop.test.ts": {
    claims: [searched(37100, 37109, "ToxNode"), fixed(37110, 37119, "C peer")],
  },
  "test/tox/conference/conferences.interop.test.ts": {
    claims: [searched(36400, 36419, "ToxNode"), fixed(36420, 36479, "C peers")],
  },
  "test/tox/node/conference.interop.test.ts": {
    claims: [searched(36480, 36489, "ToxNode"), fixed(36490, 36499, "C peers")],
  },
  "test/tox/state/encryptsave.interop.test.ts": { claims: [] },
  "test/tox/node/messenger.interop.test.ts": {
    claims: [searched(37600, 37699, "ToxNode"), fixed(37700, 37799, "C peers")],
  },
  "test/tox/tcp/client.interop.test.ts": {
    claims: [fixed(34600, 34601, "tox-bootstrapd")],
    addressesOnly: [34619], // its header's range; it binds only the daemon's two ports
  },
  "test/tox/tcp/netcrypto-relay.interop.test.ts": {
    claims: [fixed(34610, 34612, "tox-bootstrapd and our relay"), fixed(34620, 34639, "C peers")],
  },
  "test/tox/tcp/onion-tcp.interop.test.ts": { claims: [fixed(34640, 34645, "tox-bootstrapd")] },
  "test/tox/tcp/server-onion.interop.test.ts": {
    claims: [fixed(34650, 34655, "tox-bootstrapd"), fixed(34656, 34657, "our relay (TCP) and UDP socket")],
  },
  // End-to-end files with one bridge and a few C peers on direct UDP (no DHT); the homeserver
  // double and the appservice listen on port 0, the stores are PGlite or probed PostgreSQL.
  "test/matrix/e2e.interop.test.ts": {
    claims: [searched(35400, 35419, "ToxNode of the bridge"), fixed(35500, 35539, "C peer")],
  },
  "test/matrix/media.interop.test.ts": {
    claims: [searched(37200, 37219, "ToxNode of the bridge"), fixed(37220, 37259, "C peers")],
  },
  "test/matrix/restart.interop.test.ts": {
    // The bridge runs in a child process (tsx), started twice; its ToxNode searches 10 ports.
    claims: [searched(35440, 35449, "ToxNode of the child bridge"), fixed(35560, 35599, "C peer")],
  },
  "test/xmpp/e2e.interop.test.ts": {
    // Prosody comes from the helper's default pool (HELPER_POOLS), named in the header.
    claims: [searched(35300, 35339, "ToxNode of the bridge"), fixed(35340, 35399, "C peer")],
    addressesOnly: [35200, 35299],
  },
  // Conference and file end-to-end files: three C peers (Carol, Dan, Erin) or one, and a Prosody
  // from its own probe range (portBase/portCount), each in its own 100 of 39000-39399.
  "test/matrix/conferences.interop.test.ts": {
    claims: [searched(39000, 39019, "ToxNode of the bridge"), fixed(39040, 39099, "C peers")],
  },
  "test/xmpp/muc-mixed.interop.test.ts": {
    claims: [
      searched(39100, 39109, "Prosody (probe)"),
      searched(39110, 39129, "ToxNode of the bridge"),
      fixed(39130, 39189, "C peers"),
    ],
  },
  "test/xmpp/muc-e2e.interop.test.ts": {
    claims: [
      searched(39200, 39219, "Prosody (probe)"),
      searched(39220, 39239, "ToxNode of the bridge"),
      fixed(39240, 39299, "C peers"),
    ],
  },
  "test/xmpp/files-e2e.interop.test.ts": {
    claims: [
      searched(39300, 39349, "Prosody (probe)"),
      searched(39370, 39384, "ToxNode of the bridge"),
      fixed(39385, 39399, "C peer"),
    ],
  },
};

/** The lane of a test file given relative to the repository root (forward slashes). */
export function laneOf(file: string): Lane {
  if (file in PAIRED_CLAIMS) return "paired";
  if (file.endsWith(".interop.test.ts") || SERIAL_FILES.includes(file)) return "serial";
  return "parallel";
}

/** vitest `include` globs of the paired lane. */
export const PAIRED_FILES: readonly string[] = Object.keys(PAIRED_CLAIMS);

/** vitest `include` globs of the serial lane (exclude PAIRED_FILES from them). */
export const SERIAL_GLOBS: readonly string[] = ["test/**/*.interop.test.ts", ...SERIAL_FILES];

/** Files the parallel lane must leave to the others. */
export const NOT_PARALLEL_GLOBS: readonly string[] = [...SERIAL_GLOBS, ...PAIRED_FILES];

function overlap(a: PortClaim, b: PortClaim): boolean {
  return a.first <= b.last && b.first <= a.last;
}

/**
 * Pairs of claims that may collide when their owners run at the same time. Two `searched`
 * claims may share ports (each side skips what the other holds); a `fixed` claim may share none.
 * Claims of one file never conflict with each other.
 */
export function claimConflicts(
  files: Record<string, FileClaims> = PARALLEL_CLAIMS,
  pools: Record<string, PortClaim> = HELPER_POOLS,
): string[] {
  const owners: { owner: string; claim: PortClaim }[] = [
    ...Object.entries(files).flatMap(([owner, f]) => f.claims.map((claim) => ({ owner, claim }))),
    ...Object.entries(pools).map(([owner, claim]) => ({ owner, claim })),
  ];
  const out: string[] = [];
  for (let i = 0; i < owners.length; i++) {
    for (let j = i + 1; j < owners.length; j++) {
      const a = owners[i]!;
      const b = owners[j]!;
      if (a.owner === b.owner || !overlap(a.claim, b.claim)) continue;
      if (a.claim.how === "searched" && b.claim.how === "searched") continue;
      out.push(
        `${a.owner} (${a.claim.what} ${a.claim.first}-${a.claim.last}, ${a.claim.how}) overlaps ` +
          `${b.owner} (${b.claim.what} ${b.claim.first}-${b.claim.last}, ${b.claim.how})`,
      );
    }
  }
  return out;
}

/** The test port range the literal scan watches (Tox's default 33445-33545 is used as a fake address everywhere). */
export const SCANNED_PORTS = { first: 34000, last: 39999 } as const;

/**
 * Port-like literals in `source` (a parallel-lane file's text) that are neither inside one of
 * its claims nor listed as addresses only.
 */
export function unclaimedLiterals(source: string, entry: FileClaims | undefined): number[] {
  const found = new Set<number>();
  // `ipPort("127.0.0.1", 36100 + i)` names an address (in-memory networks, expected senders);
  // what binds is a range, a port option or a call that the scan still sees.
  const text = source.replace(/ipPort\(\s*"[^"]*",\s*3[4-9]\d{3}\b/g, "ipPort(");
  for (const m of text.matchAll(/(?<![\w.])(3[4-9]\d{3})(?![\w.])/g)) {
    const n = Number(m[1]);
    if (n < SCANNED_PORTS.first || n > SCANNED_PORTS.last) continue;
    if (entry?.claims.some((c) => c.first <= n && n <= c.last)) continue;
    if (entry?.addressesOnly?.includes(n)) continue;
    found.add(n);
  }
  return [...found].sort((a, b) => a - b);
}
