/**
 * The UDP edge: one Node dgram socket per identity (c-toxcore matches sessions by source
 * IP:port, so every packet of an identity must leave from the same socket).
 *
 * Binds the first free port of a range, like c-toxcore's start/end port. Optional loss
 * injection uses a seeded RNG so lossy tests are reproducible; counters feed tests, benchmarks
 * and metrics. Received IPv4-mapped IPv6 sources are normalised to IPv4 (trap 10).
 */
import dgram from "node:dgram";
import { type IpPort, ipPort } from "../wire/ipport.js";
import type { PacketHandler, PacketSink } from "./types.js";

/** c-toxcore's MAX_UDP_PACKET_SIZE: larger datagrams are dropped on receive. */
export const MAX_UDP_PACKET_SIZE = 2048;

export interface UdpTransportOptions {
  /** Local address to bind: "127.0.0.1", "0.0.0.0", "::" (dual stack) ... */
  host: string;
  /** A port, or an inclusive range whose first free port is used. 0 = any. */
  port: number | [number, number];
  onPacket?: PacketHandler;
  onError?(err: Error): void;
  /** Drop probability in [0, 1) applied to both directions (tests only). */
  lossRate?: number;
  /** Seed for the loss RNG (default 1). */
  lossSeed?: number;
  /**
   * SO_RCVBUF/SO_SNDBUF in bytes (default 2 MiB, as c-toxcore's network.c sets): with the OS
   * default (~200 KiB) a burst of messages overflows the receive buffer and turns into resends.
   */
  socketBufferBytes?: number;
}

export const DEFAULT_SOCKET_BUFFER_BYTES = 2 * 1024 * 1024;

export interface UdpCounters {
  packetsIn: number;
  bytesIn: number;
  packetsOut: number;
  bytesOut: number;
  droppedIn: number;
  droppedOut: number;
  /** Datagrams the OS refused to send (unreachable family, buffer full...). */
  sendErrors: number;
}

/**
 * Counts every datagram by local port, direction and packet id (benchmarks and diagnostics).
 * Off unless set: one module-level load per datagram when unset, nothing kept per socket.
 */
export type PacketCensus = (localPort: number, outgoing: boolean, data: Uint8Array) => void;

let census: PacketCensus | undefined;

/** Installs (or removes, with undefined) the process-wide packet census. */
export function setPacketCensus(fn: PacketCensus | undefined): void {
  census = fn;
}

/** mulberry32: tiny, seedable, good enough for loss injection. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class UdpTransport implements PacketSink {
  readonly counters: UdpCounters = {
    packetsIn: 0,
    bytesIn: 0,
    packetsOut: 0,
    bytesOut: 0,
    droppedIn: 0,
    droppedOut: 0,
    sendErrors: 0,
  };
  lossRate: number;
  private handler: PacketHandler | undefined;
  private closed = false;
  private readonly random: () => number;

  private constructor(
    private readonly socket: dgram.Socket,
    /** The bound address (with the actual port). */
    readonly local: IpPort,
    opts: UdpTransportOptions,
    /** A dual-stack IPv6 socket reaches IPv4 peers at their IPv4-mapped address. */
    private readonly ipv6Socket = false,
  ) {
    this.handler = opts.onPacket;
    this.lossRate = opts.lossRate ?? 0;
    this.random = seededRandom(opts.lossSeed ?? 1);
    socket.on("message", (msg, rinfo) => this.receive(msg, rinfo));
    socket.on("error", (err) => opts.onError?.(err));
  }

  static async open(opts: UdpTransportOptions): Promise<UdpTransport> {
    const [start, end] = typeof opts.port === "number" ? [opts.port, opts.port] : opts.port;
    const type = opts.host.includes(":") ? "udp6" : "udp4";
    let lastError: unknown;
    for (let port = start; port <= end; port++) {
      const buffer = opts.socketBufferBytes ?? DEFAULT_SOCKET_BUFFER_BYTES;
      const socket = dgram.createSocket({
        type,
        reuseAddr: false,
        recvBufferSize: buffer,
        sendBufferSize: buffer,
      });
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once("error", reject);
          socket.bind(port, opts.host, () => {
            socket.off("error", reject);
            resolve();
          });
        });
      } catch (err) {
        lastError = err;
        socket.close();
        continue;
      }
      const bound = socket.address();
      const localIp = opts.host === "0.0.0.0" ? "127.0.0.1" : opts.host === "::" ? "::1" : opts.host;
      return new UdpTransport(socket, ipPort(localIp, bound.port), opts, type === "udp6");
    }
    throw new Error(`no free UDP port on ${opts.host} in ${start}-${end}: ${String(lastError)}`);
  }

  /** Allows sending to broadcast addresses (LAN discovery). */
  setBroadcast(on: boolean): void {
    this.socket.setBroadcast(on);
  }

  /** Replaces the packet handler (usually a PacketRouter's `handle`). */
  setHandler(handler: PacketHandler): void {
    this.handler = handler;
  }

  send(to: IpPort, data: Uint8Array): void {
    if (this.closed) return;
    if (this.lossRate > 0 && this.random() < this.lossRate) {
      this.counters.droppedOut++;
      return;
    }
    this.counters.packetsOut++;
    this.counters.bytesOut += data.length;
    census?.(this.local.port, true, data);
    try {
      const ip = this.ipv6Socket && to.family === 4 ? `::ffff:${to.ip}` : to.ip;
      this.socket.send(data, to.port, ip, (err) => {
        if (err) this.counters.sendErrors++;
      });
    } catch {
      // Synchronous throws (bad address family for this socket): count, never propagate into
      // protocol code, which treats UDP as lossy anyway.
      this.counters.sendErrors++;
    }
  }

  private receive(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (msg.length === 0 || msg.length > MAX_UDP_PACKET_SIZE) {
      this.counters.droppedIn++;
      return;
    }
    if (this.lossRate > 0 && this.random() < this.lossRate) {
      this.counters.droppedIn++;
      return;
    }
    this.counters.packetsIn++;
    this.counters.bytesIn += msg.length;
    census?.(this.local.port, false, msg);
    let from: IpPort;
    try {
      from = ipPort(rinfo.address.replace(/%.*$/, ""), rinfo.port);
    } catch {
      this.counters.droppedIn++;
      return;
    }
    // Copy: the protocol layers may keep references, and Node may pool Buffers.
    this.handler?.(from, new Uint8Array(msg));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}
