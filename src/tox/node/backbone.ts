/**
 * The routing backbone of a ToxNode in shared routing mode: ONE DHT node (its own key pair and
 * UDP socket) that does the DHT work for every hosted identity (bootstrap, close list, pings,
 * nodes requests, searching the friends' DHT keys, answering others, routing 0x20 packets),
 * plays the onion relay and announce-node roles once, and owns the onion paths the identities
 * share (in groups of PATH_GROUP_SIZE). Identities keep their own socket, DHT key and net_crypto; their DHT is a leaf
 * (`DhtOptions.backbone`) and their onion client uses `paths` (`OnionClientOptions.sharedPaths`).
 *
 * A state machine like the rest: the ToxNode feeds datagrams and calls `tick()`.
 */
import type { Clock } from "../clock.js";
import { Dht, type DhtLogger } from "../dht/dht.js";
import { OnionAnnounceServer } from "../onion/announce-server.js";
import { onionDhtView } from "../onion/dht-view.js";
import { OnionStack } from "../onion/onion-stack.js";
import { OnionRelay } from "../onion/relay.js";
import { AnnounceAdmission, SharedOnionPaths } from "../onion/shared-paths.js";
import { PacketRouter } from "../transport/router.js";
import type { PacketSink } from "../transport/types.js";
import type { IpPort, NodeInfo } from "../wire/ipport.js";

/**
 * Identities per shared set of onion paths. One set for all would put every announce of a node
 * through the same 18 relays (thousands of requests a second at start); one per identity would
 * cost what separate routing costs. 32 cuts path upkeep 32-fold and keeps each relay's share
 * of our traffic near what a few ordinary clients send.
 */
export const PATH_GROUP_SIZE = 32;

/** Packet ids of the DHT (ping, nodes, crypto request, LAN discovery, bootstrap info). */
const DHT_PACKET_IDS = [0x00, 0x01, 0x02, 0x04, 0x20, 0x21, 0xf0] as const;

export interface BackboneOptions {
  clock: Clock;
  sink: PacketSink;
  /** The backbone socket's local address. */
  localAddress: IpPort;
  log?: DhtLogger;
  /** Identities starting to announce per second (AnnounceAdmission). */
  startsPerSecond?: number;
  /** Announcements the announce-node role stores (default 160, as c-toxcore; test networks). */
  announceCapacity?: number;
}

export class Backbone {
  readonly dht: Dht;
  /** Admission of starting identities, across all path groups. */
  readonly admission: AnnounceAdmission;
  /** Path groups, created as identities arrive. */
  private readonly groups: SharedOnionPaths[] = [];
  private readonly bootstrapNodes: NodeInfo[] = [];
  private readonly clock: Clock;
  readonly relay: OnionRelay;
  readonly announce: OnionAnnounceServer;
  private readonly router: PacketRouter;

  constructor(opts: BackboneOptions) {
    const { clock, sink, log } = opts;
    this.dht = new Dht({
      clock,
      sink,
      localAddress: opts.localAddress,
      // One lock per identity that has the key as a friend: no small cap here.
      maxFriendLocks: Number.POSITIVE_INFINITY,
      ...(log ? { log } : {}),
    });
    const view = onionDhtView(this.dht);
    this.clock = clock;
    this.admission = new AnnounceAdmission(clock, opts.startsPerSecond);
    this.relay = new OnionRelay({ clock, dht: view, sink, ...(log ? { log } : {}) });
    this.announce = new OnionAnnounceServer({
      clock,
      dht: view,
      sink,
      ...(opts.announceCapacity !== undefined
        ? { maxEntries: opts.announceCapacity, keyCacheSize: Math.max(512, opts.announceCapacity * 2) }
        : {}),
      ...(log ? { log } : {}),
    });
    this.router = new PacketRouter((e) =>
      log?.debug({ id: e.packetId, err: String(e.error) }, "backbone: handler threw"),
    );
    for (const id of DHT_PACKET_IDS)
      this.router.register(id, (from, data) => this.dht.handlePacket(from, data));
    for (const id of OnionStack.packetIds) {
      this.router.register(id, (from, data) => {
        if (!this.relay.handlePacket(from, data)) this.announce.handlePacket(from, data);
      });
    }
  }

  /** A datagram for the backbone socket (never throws). */
  handleDatagram(from: IpPort, data: Uint8Array): void {
    this.router.handle(from, data);
  }

  /** The shared paths for the `n`th identity of the node (groups of PATH_GROUP_SIZE). */
  pathsFor(n: number): SharedOnionPaths {
    const g = Math.floor(n / PATH_GROUP_SIZE);
    while (this.groups.length <= g) {
      const paths = new SharedOnionPaths(this.clock, onionDhtView(this.dht), { admission: this.admission });
      paths.bootstrapNodes.push(...this.bootstrapNodes);
      this.groups.push(paths);
    }
    return this.groups[g]!;
  }

  /** Path groups so far (diagnostics). */
  get pathGroups(): readonly SharedOnionPaths[] {
    return this.groups;
  }

  /** Joins the DHT through this node; it also becomes a path node until the DHT knows better. */
  bootstrap(node: NodeInfo): void {
    this.dht.bootstrap(node);
    if (this.bootstrapNodes.some((n) => n.ipPort.ip === node.ipPort.ip && n.ipPort.port === node.ipPort.port))
      return;
    const entry: NodeInfo = {
      protocol: "udp",
      ipPort: node.ipPort,
      publicKey: Uint8Array.from(node.publicKey),
    };
    this.bootstrapNodes.push(entry);
    for (const g of this.groups) g.bootstrapNodes.push(entry);
  }

  tick(): void {
    this.dht.tick();
  }

  nextTickIn(): number {
    return this.dht.nextTickIn();
  }
}
