/**
 * Dispatches datagrams by their first byte (c-toxcore network.c `networking_registerhandler`)
 * to the layer that owns that packet id: DHT 0x00-0x04/0x20/0x21/0xF0, net_crypto 0x18-0x1b,
 * onion 0x80-0x8f... A handler that throws is caught and counted with the packet id and source,
 * so one malformed packet can never take the socket down.
 */
import type { IpPort } from "../wire/ipport.js";
import { ipPortKey } from "../wire/ipport.js";
import type { PacketHandler } from "./types.js";

export interface RouterError {
  packetId: number;
  from: IpPort;
  error: unknown;
}

export interface RouterStats {
  dispatched: number;
  /** Packets whose id had no handler. */
  unhandled: number;
  /** Handler exceptions (caught). */
  handlerErrors: number;
  /** Per packet id: packets received. */
  byId: Map<number, number>;
}

export class PacketRouter {
  /** A map, not a 256-slot array: a node hosts thousands of routers using ~25 ids each. */
  private readonly handlers = new Map<number, PacketHandler>();
  readonly stats: RouterStats = { dispatched: 0, unhandled: 0, handlerErrors: 0, byId: new Map() };

  constructor(private readonly onHandlerError?: (e: RouterError) => void) {}

  /** Registers `handler` for one id or an inclusive range of ids; returns an unregister function. */
  register(ids: number | [number, number], handler: PacketHandler): () => void {
    const [lo, hi] = typeof ids === "number" ? [ids, ids] : ids;
    if (lo < 0 || hi > 255 || lo > hi) throw new RangeError(`bad packet id range ${lo}..${hi}`);
    for (let id = lo; id <= hi; id++) this.handlers.set(id, handler);
    return () => {
      for (let id = lo; id <= hi; id++) if (this.handlers.get(id) === handler) this.handlers.delete(id);
    };
  }

  /** The PacketHandler to give the transport. */
  readonly handle = (from: IpPort, data: Uint8Array): void => {
    if (data.length === 0) {
      this.stats.unhandled++;
      return;
    }
    const id = data[0]!;
    this.stats.byId.set(id, (this.stats.byId.get(id) ?? 0) + 1);
    const handler = this.handlers.get(id);
    if (!handler) {
      this.stats.unhandled++;
      return;
    }
    this.stats.dispatched++;
    try {
      handler(from, data);
    } catch (error) {
      this.stats.handlerErrors++;
      this.onHandlerError?.({ packetId: id, from, error });
    }
  };
}

/** Log-friendly one-liner for a RouterError. */
export function describeRouterError(e: RouterError): string {
  const msg = e.error instanceof Error ? e.error.message : String(e.error);
  return `handler for packet 0x${e.packetId.toString(16).padStart(2, "0")} from ${ipPortKey(e.from)} threw: ${msg}`;
}
