/**
 * Contracts between the protocol state machines and the network edge. State machines never own
 * sockets: they receive `(from, bytes)` and emit packets through a PacketSink.
 */
import type { IpPort } from "../wire/ipport.js";

/** Where a state machine sends raw datagrams (one UDP socket per identity, in practice). */
export interface PacketSink {
  send(to: IpPort, data: Uint8Array): void;
}

export type PacketHandler = (from: IpPort, data: Uint8Array) => void;
