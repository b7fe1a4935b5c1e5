/**
 * One UDP socket for one identity (every packet of an identity must leave from the same
 * IP:port: c-toxcore matches sessions by source address). Stop-gap until the shared transport
 * (src/tox/transport/udp.ts + router.ts) lands; keep this file small so the swap is easy.
 *
 * `lossRate` drops datagrams in both directions at random: the test hook for "survives 10% loss".
 */
import dgram from "node:dgram";
import type { PacketSink } from "../transport/types.js";
import { type IpPort, ipPort } from "../wire/ipport.js";

/** c-toxcore sets SO_RCVBUF/SO_SNDBUF to 2 MiB. */
export const SOCKET_BUFFER_BYTES = 2 * 1024 * 1024;

export interface UdpSocketOptions {
  host: string;
  /** Inclusive range; the first free port is used (as c-toxcore's start/end port). */
  portRange: [number, number];
  lossRate?: number;
  onPacket(from: IpPort, data: Uint8Array): void;
  onError?(err: Error): void;
}

export class UdpSocket implements PacketSink {
  private closed = false;
  sentDatagrams = 0;
  receivedDatagrams = 0;
  droppedDatagrams = 0;

  private constructor(
    private readonly socket: dgram.Socket,
    readonly local: IpPort,
    private readonly lossRate: number,
  ) {}

  static async open(opts: UdpSocketOptions): Promise<UdpSocket> {
    const [start, end] = opts.portRange;
    const type = opts.host.includes(":") ? "udp6" : "udp4";
    let lastError: unknown;
    for (let port = start; port <= end; port++) {
      // 2 MiB buffers like c-toxcore (network.c): a burst of messages must not overflow the
      // default ~200 KiB and turn into retransmissions.
      const socket = dgram.createSocket({
        type,
        reuseAddr: false,
        recvBufferSize: SOCKET_BUFFER_BYTES,
        sendBufferSize: SOCKET_BUFFER_BYTES,
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
      const udp = new UdpSocket(socket, ipPort(opts.host, socket.address().port), opts.lossRate ?? 0);
      socket.on("error", (err) => opts.onError?.(err));
      socket.on("message", (msg, rinfo) => {
        if (udp.lossRate > 0 && Math.random() < udp.lossRate) {
          udp.droppedDatagrams++;
          return;
        }
        udp.receivedDatagrams++;
        const address = rinfo.address.startsWith("::ffff:") ? rinfo.address.slice(7) : rinfo.address;
        opts.onPacket(ipPort(address, rinfo.port), new Uint8Array(msg.buffer, msg.byteOffset, msg.length));
      });
      return udp;
    }
    throw new Error(`no free UDP port on ${opts.host} in ${start}-${end}: ${String(lastError)}`);
  }

  send(to: IpPort, data: Uint8Array): void {
    if (this.closed) return;
    if (this.lossRate > 0 && Math.random() < this.lossRate) {
      this.droppedDatagrams++;
      return;
    }
    this.sentDatagrams++;
    this.socket.send(data, to.port, to.ip);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // dgram resolves the destination on a later tick: let last words (KILL packets) go out.
    await new Promise<void>((resolve) => setImmediate(resolve));
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}
