/**
 * Onion paths shared by every identity of a ToxNode in shared routing mode.
 *
 * An onion path is 3 relays plus the keys to wrap a packet for them; nothing in it names the
 * sender, and each relay answers to whatever address the layer came from. So one set of paths
 * (built from the backbone DHT's nodes, first-hop key = the backbone's DHT key) can carry the
 * announces and searches of many identities, each sending from its own socket so the replies
 * come back to it. This saves the per-identity path node upkeep and the 3 key precomputations
 * per path (the bulk of an idle identity's CPU in separate mode).
 *
 * The price (documented in the README): the relays of these paths see the same paths used from
 * many sockets of one IP address, which links the identities hosted by this node.
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

  constructor(
    private readonly clock: Clock,
    private readonly dht: SharedPathsDht,
  ) {
    this.self = new OnionPathSet(clock);
    this.friends = new OnionPathSet(clock);
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
