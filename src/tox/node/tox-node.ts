/**
 * ToxNode: hosts many Tox identities in one process (the bridge keeps one per user).
 *
 * Each identity has its own UDP socket and protocol state; the node has exactly one timer.
 * Identities sit in a deadline heap keyed by when they next need `tick()`; the loop pops the
 * due ones and sleeps until the earliest deadline, so thousands of identities cost one timer.
 */

import { lookup } from "node:dns/promises";
import { EventEmitter } from "node:events";
import { isIP } from "node:net";
import { toHex } from "../bytes.js";
import { type Clock, systemClock } from "../clock.js";
import { keyPairFromSecret } from "../crypto.js";
import { ToxProtocolError, unwrap } from "../errors.js";
import type { NetCryptoLogger } from "../netcrypto/netcrypto.js";
import { parseSaveData } from "../state/savefile.js";
import type { TcpTransportFactory } from "../tcp/socket.js";
import { UdpTransport } from "../transport/udp.js";
import { ipPort, type NodeInfo } from "../wire/ipport.js";
import { Backbone } from "./backbone.js";
import { DeadlineQueue } from "./deadline-queue.js";
import type { ToxNodeEvents } from "./events.js";
import { Identity, type IdentityOptions, type PublicKeyInput, toKey } from "./identity.js";

/** Default like c-toxcore's: the first free port of 33445–33545. */
export const DEFAULT_PORT_RANGE: [number, number] = [33445, 33545];
/** Upper bound of one sleep: state machines ask for ≤1 s anyway. */
const MAX_SLEEP_MS = 1000;
/**
 * Deadlines at least TICK_GRID_MIN_MS away are rounded up to a multiple of TICK_GRID_MS.
 * Identities started at different moments each want their once-a-second tick at a different
 * millisecond, so the timer woke about once per identity per second, and each wake-up (timer,
 * loop, one identity's cold state) cost more than the tick's own work (99 idle identities
 * started 10 ms apart: 183 -> 39 wake-ups/s, 1.33% -> 0.89% of a core). Never earlier than
 * asked (a tick that comes early finds nothing to do), at most one step later; short deadlines
 * (net_crypto's 20-50 ms) are kept exactly.
 */
const TICK_GRID_MIN_MS = 500;
const TICK_GRID_MS = 50;

/** @internal When a tick `wait` ms from `now` runs (exported for tests). */
export function onTickGrid(now: number, wait: number): number {
  const at = now + wait;
  if (wait < TICK_GRID_MIN_MS || !Number.isFinite(at)) return at;
  return Math.ceil(at / TICK_GRID_MS) * TICK_GRID_MS;
}
/**
 * Identities that start bootstrapping per second. A c-toxcore node takes at most 32 new nodes
 * into its lists every 2 s (ping.c MAX_TO_PING / TIME_TO_PING), and every identity is a new node
 * to it: starting thousands at once would only get most of them ignored.
 */
export const DEFAULT_BOOTSTRAP_IDENTITIES_PER_SECOND = 16;

/** A bootstrap node or TCP relay: host (name or IP), port, public key (64 hex or bytes). */
export interface ToxNodeAddress {
  host: string;
  port: number;
  publicKey: string | Uint8Array;
}

export interface ToxNodeLogger extends NetCryptoLogger {
  warn?(obj: Record<string, unknown>, msg: string): void;
}

export interface ToxNodeOptions {
  /** Time source for protocol timers (the loop itself uses real timers). */
  clock?: Clock;
  /** Address to bind every identity's UDP socket to (e.g. "0.0.0.0", "127.0.0.1"). */
  host?: string;
  portRange?: [number, number];
  /** Test hook: drop this fraction of datagrams in both directions. */
  lossRate?: number;
  logger?: ToxNodeLogger;
  /** false = TCP relays only for every identity (nothing sent over UDP). Default true. */
  udp?: boolean;
  /** DHT bootstrap nodes for every identity (also added with `bootstrap()`). */
  bootstrapNodes?: ToxNodeAddress[];
  /** TCP relays for every identity (also added with `addTcpRelay()`). */
  tcpRelays?: ToxNodeAddress[];
  /** How many identities start bootstrapping (separate routing) or announcing (shared) per second. */
  bootstrapIdentitiesPerSecond?: number;
  /** TCP sockets for relays (tests); default real sockets. */
  tcpTransport?: TcpTransportFactory;
  /**
   * "separate" (default): every identity is a full Tox node (own DHT close list, onion paths):
   * identities cannot be linked by their DHT traffic, but each costs what a c-toxcore instance
   * costs. "shared": one backbone DHT node does the routing for all identities and they share
   * onion paths; each identity keeps its own socket, DHT key and net_crypto. About N-fold less
   * traffic and CPU, but an observer of the backbone or the paths can link the identities of
   * this node. Needs UDP (with `udp: false` the node stays separate).
   */
  routing?: ToxRouting;
}

export type ToxRouting = "separate" | "shared";

export class ToxNode extends EventEmitter<ToxNodeEvents> {
  private readonly clock: Clock;
  private readonly host: string;
  private readonly portRange: [number, number];
  private readonly lossRate: number;
  private readonly logger: ToxNodeLogger | undefined;
  private readonly udp: boolean;
  private readonly tcpTransport: TcpTransportFactory | undefined;
  private readonly bootstrapPerSecond: number;
  /** Resolved bootstrap nodes and relays every identity gets (config + `bootstrap`/`addTcpRelay`). */
  private readonly bootstrapList: NodeInfo[] = [];
  private readonly relayList: NodeInfo[] = [];
  /** Identities waiting for their turn to bootstrap (staggered), with what they still need. */
  private readonly bootstrapWaiting = new Map<Identity, NodeInfo[]>();
  private bootstrapBudgetAt = 0;
  private bootstrapBudget = 0;
  private readonly hosted = new Map<string, Identity>();
  /** Identities whose socket is still being bound (so a concurrent add of the same key waits). */
  private readonly adding = new Map<string, Promise<Identity>>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private closed = false;
  private inLoop = false;
  private readonly queue = new DeadlineQueue<Identity>();
  /** Identities whose deadline must be recomputed (input arrived or an API call was made). */
  private readonly dirty = new Set<Identity>();
  /** Shared routing: the one DHT node and onion paths of all identities, with its own socket. */
  private backbone: Backbone | undefined;
  private backboneSocket: UdpTransport | undefined;
  private backboneDueAt = 0;
  /** Where the next port search starts (see `openSocket`). */
  private nextPort = 0;
  /** Identities started so far (shared routing assigns path groups in this order). */
  private identitiesStarted = 0;

  private constructor(opts: ToxNodeOptions) {
    super();
    this.clock = opts.clock ?? systemClock;
    this.host = opts.host ?? "0.0.0.0";
    this.portRange = opts.portRange ?? DEFAULT_PORT_RANGE;
    this.lossRate = opts.lossRate ?? 0;
    this.logger = opts.logger;
    this.udp = opts.udp ?? true;
    this.tcpTransport = opts.tcpTransport;
    this.bootstrapPerSecond = opts.bootstrapIdentitiesPerSecond ?? DEFAULT_BOOTSTRAP_IDENTITIES_PER_SECOND;
  }

  static async create(opts: ToxNodeOptions = {}): Promise<ToxNode> {
    const node = new ToxNode(opts);
    if (opts.routing === "shared" && node.udp) await node.startBackbone();
    for (const b of opts.bootstrapNodes ?? []) await node.bootstrap(b.host, b.port, b.publicKey);
    for (const r of opts.tcpRelays ?? []) await node.addTcpRelay(r.host, r.port, r.publicKey);
    return node;
  }

  /** The routing mode in use ("shared" only when a backbone runs). */
  get routing(): ToxRouting {
    return this.backbone === undefined ? "separate" : "shared";
  }

  /** Shared routing: the backbone's DHT key and UDP port (diagnostics, tests). */
  backboneInfo(): { dhtPublicKey: string; port: number; closeNodes: number; connected: boolean } | undefined {
    if (this.backbone === undefined || this.backboneSocket === undefined) return undefined;
    return {
      dhtPublicKey: toHex(this.backbone.dht.publicKey),
      port: this.backboneSocket.local.port,
      closeNodes: this.backbone.dht.closeNodes().length,
      connected: this.backbone.dht.isConnected(),
    };
  }

  private async startBackbone(): Promise<void> {
    let backbone: Backbone | undefined;
    const socket = await this.openSocket({
      lossRate: this.lossRate,
      onPacket: (from, data) => {
        backbone?.handleDatagram(from, data);
        // Backbone input may have told identities a friend's address (they wake themselves).
        this.armSoon();
      },
      onError: (err) => this.fail(err),
    });
    backbone = new Backbone({
      clock: this.clock,
      sink: socket,
      localAddress: socket.local,
      // The same pace as separate routing's staggered bootstrap, for the same reason.
      startsPerSecond: this.bootstrapPerSecond,
      ...(this.logger ? { log: this.logger } : {}),
    });
    this.backbone = backbone;
    this.backboneSocket = socket;
  }

  /**
   * Bootstraps every hosted identity (and every one added later) from this node. Identities are
   * started a few per second (`bootstrapIdentitiesPerSecond`); each DHT paces its own requests.
   */
  async bootstrap(host: string, port: number, publicKey: string | Uint8Array): Promise<void> {
    const node: NodeInfo = {
      protocol: "udp",
      ipPort: ipPort(await resolve(host), port),
      publicKey: toKey(publicKey, "bootstrap node key"),
    };
    this.bootstrapList.push(node);
    if (this.backbone !== undefined) {
      // Shared routing: only the backbone joins the DHT (identities' DHTs are its leaves).
      this.backbone.bootstrap(node);
      this.backboneDueAt = this.clock.now();
    } else {
      for (const identity of this.hosted.values()) this.queueBootstrap(identity, [node]);
    }
    this.armSoon();
  }

  /** Adds a TCP relay for every hosted identity (and every one added later). */
  async addTcpRelay(host: string, port: number, publicKey: string | Uint8Array): Promise<void> {
    const relay: NodeInfo = {
      protocol: "tcp",
      ipPort: ipPort(await resolve(host), port),
      publicKey: toKey(publicKey, "TCP relay key"),
    };
    this.relayList.push(relay);
    for (const identity of this.hosted.values()) identity.addRelayNode(relay);
  }

  /** Starts hosting an identity; resolves once its UDP socket is bound. */
  async addIdentity(opts: IdentityOptions): Promise<Identity> {
    if (this.closed) throw new ToxProtocolError("ToxNode is closed", { code: "closed" });
    const secretKey =
      opts.secretKey ??
      (opts.savedata instanceof Uint8Array ? unwrap(parseSaveData(opts.savedata)) : opts.savedata)?.secretKey;
    if (secretKey === undefined) throw new ToxProtocolError("an identity needs a secret key or a save file");
    const pkHex = toHex(keyPairFromSecret(secretKey).publicKey);
    const existing = this.hosted.get(pkHex) ?? this.adding.get(pkHex);
    if (existing !== undefined) return existing;
    const adding = this.startIdentity(opts);
    this.adding.set(pkHex, adding);
    try {
      return await adding;
    } finally {
      this.adding.delete(pkHex);
    }
  }

  /**
   * Binds a socket in the port range, searching from just after the last port bound (and then
   * from the start): hosting thousands of identities, a search from the start every time would
   * try thousands of taken ports per new identity.
   */
  private async openSocket(
    opts: Omit<Parameters<typeof UdpTransport.open>[0], "host" | "port">,
  ): Promise<UdpTransport> {
    const [start, end] = this.portRange;
    const from = this.nextPort >= start && this.nextPort <= end && start !== 0 ? this.nextPort : start;
    let socket: UdpTransport;
    try {
      socket = await UdpTransport.open({ ...opts, host: this.host, port: [from, end] });
    } catch (err) {
      if (from === start) throw err;
      socket = await UdpTransport.open({ ...opts, host: this.host, port: [start, from - 1] });
    }
    this.nextPort = socket.local.port + 1;
    return socket;
  }

  private async startIdentity(opts: IdentityOptions): Promise<Identity> {
    let identity: Identity | undefined;
    const socket = await this.openSocket({
      lossRate: this.lossRate,
      lossSeed: this.hosted.size + 1,
      onPacket: (from, data) => {
        if (identity === undefined) return;
        try {
          identity.handleDatagram(from, data);
        } catch (err) {
          this.fail(err);
        }
        this.wake(identity);
      },
      onError: (err) => this.fail(err),
    });
    identity = new Identity(opts, {
      clock: this.clock,
      socket,
      emit: (event, ...args) => this.safeEmit(event, ...args),
      wake: (id) => this.wake(id),
      log: this.logger,
      udp: this.udp,
      ...(this.tcpTransport ? { tcpTransport: this.tcpTransport } : {}),
      ...(this.backbone
        ? { backbone: this.backbone.dht, sharedPaths: this.backbone.pathsFor(this.identitiesStarted++) }
        : {}),
    });
    sockets.set(identity, socket);
    this.hosted.set(identity.publicKey, identity);
    for (const relay of this.relayList) identity.addRelayNode(relay);
    if (this.bootstrapList.length > 0 && this.backbone === undefined)
      this.queueBootstrap(identity, this.bootstrapList);
    this.wake(identity);
    return identity;
  }

  /** Stops hosting an identity: its sessions are killed (peers see KILL) and its socket closed. */
  async removeIdentity(pk: PublicKeyInput): Promise<void> {
    const hex = toHex(toKey(pk));
    const identity = this.hosted.get(hex);
    if (identity === undefined) return;
    this.hosted.delete(hex);
    this.queue.remove(identity);
    this.dirty.delete(identity);
    this.bootstrapWaiting.delete(identity);
    identity.shutdown();
    // dgram resolves destinations on a later tick: let the KILL packets leave first.
    await new Promise<void>((resolve) => setImmediate(resolve));
    await sockets.get(identity)?.close();
    sockets.delete(identity);
  }

  /** Test hook: change the simulated loss of every identity's socket (1 = total outage). */
  setLossRate(rate: number): void {
    if (this.backboneSocket !== undefined) this.backboneSocket.lossRate = rate;
    for (const identity of this.hosted.values()) {
      const socket = sockets.get(identity);
      if (socket !== undefined) socket.lossRate = rate;
    }
  }

  /**
   * UDP traffic so far of every hosted identity's socket, plus the backbone's in shared routing
   * (for metrics and benchmarks; `backbone` repeats the backbone's part).
   */
  udpStats(): {
    identities: number;
    packetsIn: number;
    bytesIn: number;
    packetsOut: number;
    bytesOut: number;
    backbone?: { packetsIn: number; bytesIn: number; packetsOut: number; bytesOut: number };
  } {
    const b = this.backboneSocket?.counters;
    const total = {
      identities: this.hosted.size,
      packetsIn: b?.packetsIn ?? 0,
      bytesIn: b?.bytesIn ?? 0,
      packetsOut: b?.packetsOut ?? 0,
      bytesOut: b?.bytesOut ?? 0,
      ...(b
        ? {
            backbone: {
              packetsIn: b.packetsIn,
              bytesIn: b.bytesIn,
              packetsOut: b.packetsOut,
              bytesOut: b.bytesOut,
            },
          }
        : {}),
    };
    for (const identity of this.hosted.values()) {
      const c = sockets.get(identity)?.counters;
      if (c === undefined) continue;
      total.packetsIn += c.packetsIn;
      total.bytesIn += c.bytesIn;
      total.packetsOut += c.packetsOut;
      total.bytesOut += c.bytesOut;
    }
    return total;
  }

  identity(pk: PublicKeyInput): Identity | undefined {
    return this.hosted.get(toHex(toKey(pk)));
  }

  identities(): Identity[] {
    return [...this.hosted.values()];
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await Promise.all([...this.hosted.keys()].map((pk) => this.removeIdentity(pk)));
    const backboneSocket = this.backboneSocket;
    this.backbone = undefined;
    this.backboneSocket = undefined;
    await backboneSocket?.close();
  }

  // -------------------------------------------------------------------------------------------
  // The loop

  /**
   * Marks an identity for a fresh deadline after input or an API call. The deadline itself is
   * computed once per event-loop turn in `loop()`: a burst of 5,000 sends or packets then costs
   * one `nextTickIn()` instead of 5,000.
   */
  private wake(identity: Identity): void {
    if (this.closed || !this.hosted.has(identity.publicKey)) return;
    this.dirty.add(identity);
    if (!this.inLoop) this.arm(this.clock.now());
  }

  /** Makes sure the timer fires no later than `at`. */
  private arm(at: number): void {
    if (this.closed || at === Number.POSITIVE_INFINITY) return;
    if (this.timer !== undefined && at >= this.timerAt) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.loop(), Math.max(0, Math.min(MAX_SLEEP_MS, at - this.clock.now())));
  }

  private loop(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    if (this.closed) return;
    this.inLoop = true;
    try {
      const now = this.clock.now();
      for (const identity of this.dirty) {
        // Never later than a deadline already set: input must not postpone work that is due.
        if (this.hosted.has(identity.publicKey))
          this.queue.scheduleNoLater(identity, onTickGrid(now, identity.nextTickIn()));
      }
      this.dirty.clear();
      this.releaseBootstraps(now);
      if (this.backbone !== undefined && now >= this.backboneDueAt) {
        try {
          this.backbone.tick();
        } catch (err) {
          this.fail(err);
        }
        this.backboneDueAt = this.clock.now() + this.backbone.nextTickIn();
      }
      for (const identity of this.queue.popDue(this.clock.now())) {
        try {
          identity.tick();
        } catch (err) {
          this.fail(err);
        }
        this.queue.schedule(identity, onTickGrid(this.clock.now(), identity.nextTickIn()));
      }
    } finally {
      this.inLoop = false;
    }
    // Anything woken by listeners during the loop is handled on the next turn.
    let next = this.dirty.size > 0 ? this.clock.now() : this.queue.peekTime();
    if (this.bootstrapWaiting.size > 0) next = Math.min(next, this.bootstrapBudgetAt + 1000);
    if (this.backbone !== undefined) next = Math.min(next, this.backboneDueAt);
    this.arm(next);
  }

  private queueBootstrap(identity: Identity, nodes: readonly NodeInfo[]): void {
    const waiting = this.bootstrapWaiting.get(identity);
    if (waiting !== undefined) waiting.push(...nodes);
    else this.bootstrapWaiting.set(identity, [...nodes]);
  }

  /** Lets the next few identities bootstrap (a budget refilled every second). */
  private releaseBootstraps(now: number): void {
    if (this.bootstrapWaiting.size === 0) return;
    if (now - this.bootstrapBudgetAt >= 1000) {
      this.bootstrapBudgetAt = now;
      this.bootstrapBudget = this.bootstrapPerSecond;
    }
    for (const [identity, nodes] of this.bootstrapWaiting) {
      if (this.bootstrapBudget <= 0) break;
      this.bootstrapBudget--;
      this.bootstrapWaiting.delete(identity);
      for (const n of nodes) identity.bootstrapNode(n);
    }
  }

  private armSoon(): void {
    if (!this.inLoop) this.arm(this.clock.now());
  }

  private safeEmit<K extends keyof ToxNodeEvents>(event: K, ...args: ToxNodeEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: ToxNodeEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      this.fail(err);
    }
  }

  private fail(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    this.logger?.warn?.({ err: error.message }, "tox node: error");
    if (this.listenerCount("error") > 0) this.emit("error", error);
  }
}

async function resolve(host: string): Promise<string> {
  if (isIP(host) !== 0) return host;
  try {
    return (await lookup(host, { family: 4 })).address;
  } catch (err) {
    throw new ToxProtocolError(`cannot resolve ${host}: ${String(err)}`, { code: "bad-host", host });
  }
}

/** Each identity's socket, kept out of the Identity's public surface. */
const sockets = new WeakMap<Identity, UdpTransport>();
