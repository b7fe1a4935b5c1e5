/**
 * Onion paths shared by a group of identities of a ToxNode in shared routing mode.
 *
 * An onion path is 3 relays plus the keys to wrap a packet for them; nothing in it names the
 * sender, and each relay answers to whatever address the layer came from. So one set of paths
 * (built from the backbone DHT's nodes, first-hop key = the backbone's DHT key) can carry the
 * announces and searches of many identities, each sending from its own socket so the replies
 * come back to it. This saves the per-identity path node upkeep and the 3 key precomputations
 * per path (the bulk of an idle identity's CPU in separate mode).
 *
 * The price (documented in the README): the relays of these paths see the same paths used from
 * many sockets of one IP address, which links the identities hosted by this node. Groups are
 * small (Backbone.PATH_GROUP_SIZE) so that no relay carries the traffic of thousands, as it would
 * if all identities of a node used the same 6 paths.
 */
import type { Clock } from "../clock.js";
import type { KeyPair } from "../crypto.js";
import type { NodeInfo } from "../wire/ipport.js";
import { OnionPathSet } from "./paths.js";

/** Where shared paths get their nodes and first-hop key: the backbone DHT. */
export interface SharedPathsDht {
  dhtKeys(): KeyPair;
  randomNodes(n: number): NodeInfo[];
}

/** Path nodes taken from the DHT per refresh (c-toxcore: MAX_ONION_CLIENTS each second). */
const REFRESH_NODES = 8;
const REFRESH_MS = 1000;
/**
 * An admitted client still not announced after this long gives its place up (and waits for a
 * new one), so clients that cannot announce do not keep others from starting.
 */
const START_TIMEOUT_MS = 30_000;
/** Default admission rate (clients per second starting to announce). */
export const DEFAULT_STARTS_PER_SECOND = 16;

/**
 * Who may work on getting announced (shared by all path groups of a node): a token bucket of
 * `startsPerSecond`, and at most four times that many at once.
 */
export class AnnounceAdmission {
  private readonly startsPerSecond: number;
  /** Clients admitted and not yet announced, with when they were admitted. */
  private readonly starting = new Map<object, number>();
  private tokens: number;
  private tokensAt: number;
  private lastExpiry = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly clock: Clock,
    startsPerSecond = DEFAULT_STARTS_PER_SECOND,
  ) {
    this.startsPerSecond = Math.max(1, startsPerSecond);
    this.tokens = this.startsPerSecond;
    this.tokensAt = clock.now();
  }

  /** Whether `client`, not announced yet, may work now (asked once a second until it is announced). */
  admit(client: object): boolean {
    const now = this.clock.now();
    if (now - this.lastExpiry >= REFRESH_MS) {
      this.lastExpiry = now;
      for (const [c, at] of this.starting) if (now - at > START_TIMEOUT_MS) this.starting.delete(c);
    }
    if (this.starting.has(client)) return true;
    this.tokens = Math.min(
      this.startsPerSecond,
      this.tokens + ((now - this.tokensAt) / 1000) * this.startsPerSecond,
    );
    this.tokensAt = now;
    if (this.tokens < 1 || this.starting.size >= this.startsPerSecond * 4) return false;
    this.tokens--;
    this.starting.set(client, now);
    return true;
  }

  /** `client` is announced: it no longer counts as starting. */
  settled(client: object): void {
    this.starting.delete(client);
  }

  get startingCount(): number {
    return this.starting.size;
  }
}

export interface SharedOnionPathsOptions {
  /**
   * How many clients may start announcing per second, and (four times that) how many that were
   * never announced may work at once. A client that is not announced sends 6 requests a second
   * to random nodes until its list half fills (c-toxcore's populate step), and every request
   * crosses a few shared paths: thousands of them at once would swamp those relays, and more
   * losses would keep more of them unannounced.
   */
  startsPerSecond?: number;
  /** Admission shared with other path groups (then `startsPerSecond` is ignored). */
  admission?: AnnounceAdmission;
}

export class SharedOnionPaths {
  /** Paths for self-announces (c-toxcore `onion_paths_self`). */
  readonly self: OnionPathSet;
  /** Paths for friend searches and onion data (`onion_paths_friends`). */
  readonly friends: OnionPathSet;
  /** Nodes to build paths from (a ring of 32, `path_nodes`), fed by every identity's replies. */
  readonly nodes: NodeInfo[] = [];
  /** Bootstrap nodes, used while no path node is known (`path_nodes_bs`). */
  readonly bootstrapNodes: NodeInfo[] = [];
  private lastRefresh = Number.NEGATIVE_INFINITY;
  private readonly admission: AnnounceAdmission;

  constructor(
    private readonly clock: Clock,
    private readonly dht: SharedPathsDht,
    opts: SharedOnionPathsOptions = {},
  ) {
    this.self = new OnionPathSet(clock);
    this.friends = new OnionPathSet(clock);
    this.admission = opts.admission ?? new AnnounceAdmission(clock, opts.startsPerSecond);
  }

  /** Whether `client`, not announced yet, may work now (see `AnnounceAdmission`). */
  admit(client: object): boolean {
    return this.admission.admit(client);
  }

  /** `client` is announced: it no longer counts as starting. */
  settled(client: object): void {
    this.admission.settled(client);
  }

  /** Clients admitted and still starting (diagnostics). */
  get startingCount(): number {
    return this.admission.startingCount;
  }

  dhtKeys(): KeyPair {
    return this.dht.dhtKeys();
  }

  /**
   * Nodes from the DHT for new paths, at most once a second however many identities ask
   * (each client calls this on its own once-a-second run).
   */
  refresh(add: (list: NodeInfo[], node: NodeInfo) => void): void {
    const now = this.clock.now();
    if (now - this.lastRefresh < REFRESH_MS) return;
    this.lastRefresh = now;
    for (const n of this.dht.randomNodes(REFRESH_NODES)) add(this.nodes, n);
  }
}
