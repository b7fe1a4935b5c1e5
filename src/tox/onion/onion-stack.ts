/**
 * The onion layer of one node, assembled: the relay and announce-node roles every good node
 * plays, plus the client of the identity that owns the socket. `packetIds` lists what to route
 * here (c-toxcore registers the same ids in onion.c, onion_announce.c and onion_client.c).
 *
 * Wiring (per identity / UDP socket):
 *   const onion = new OnionStack({ clock, realKeys, dht: onionDhtView(dht), sink: udp, events });
 *   for (const id of OnionStack.packetIds) router.register(id, (from, d) => onion.handlePacket(from, d));
 *   routeDhtPkFromDht(dht, onion.client);
 *   tick: onion.tick() (about once a second; nextTickIn() says when).
 */
import type { IpPort } from "../wire/ipport.js";
import {
  NET_PACKET_ANNOUNCE_REQUEST,
  NET_PACKET_ANNOUNCE_REQUEST_OLD,
  NET_PACKET_ANNOUNCE_RESPONSE,
  NET_PACKET_ANNOUNCE_RESPONSE_OLD,
  NET_PACKET_ONION_DATA_REQUEST,
  NET_PACKET_ONION_DATA_RESPONSE,
  NET_PACKET_ONION_RECV_1,
  NET_PACKET_ONION_RECV_2,
  NET_PACKET_ONION_RECV_3,
  NET_PACKET_ONION_SEND_1,
  NET_PACKET_ONION_SEND_2,
  NET_PACKET_ONION_SEND_INITIAL,
} from "../wire/onion.js";
import { OnionAnnounceServer } from "./announce-server.js";
import { OnionClient, type OnionClientOptions } from "./client.js";
import { OnionRelay } from "./relay.js";

/** The client's options (passed through whole, so a new client option needs no change here). */
export interface OnionStackOptions extends OnionClientOptions {
  /** Serve as relay and announce node (default true; c-toxcore always does). */
  serve?: boolean;
}

export class OnionStack {
  static readonly packetIds: readonly number[] = [
    NET_PACKET_ONION_SEND_INITIAL,
    NET_PACKET_ONION_SEND_1,
    NET_PACKET_ONION_SEND_2,
    NET_PACKET_ANNOUNCE_REQUEST_OLD,
    NET_PACKET_ANNOUNCE_RESPONSE_OLD,
    NET_PACKET_ONION_DATA_REQUEST,
    NET_PACKET_ONION_DATA_RESPONSE,
    NET_PACKET_ANNOUNCE_REQUEST,
    NET_PACKET_ANNOUNCE_RESPONSE,
    NET_PACKET_ONION_RECV_3,
    NET_PACKET_ONION_RECV_2,
    NET_PACKET_ONION_RECV_1,
  ];

  readonly client: OnionClient;
  readonly relay: OnionRelay | null;
  readonly announce: OnionAnnounceServer | null;

  constructor(opts: OnionStackOptions) {
    const { clock, dht, sink, log } = opts;
    const serve = opts.serve ?? true;
    this.relay = serve ? new OnionRelay({ clock, dht, sink, ...(log ? { log } : {}) }) : null;
    this.announce = serve ? new OnionAnnounceServer({ clock, dht, sink, ...(log ? { log } : {}) }) : null;
    const { serve: _serve, ...clientOpts } = opts;
    this.client = new OnionClient(clientOpts);
  }

  /** Returns false for ids that are not onion packets. Never throws on input. */
  handlePacket(from: IpPort, data: Uint8Array): boolean {
    if (this.relay?.handlePacket(from, data)) return true;
    if (this.announce?.handlePacket(from, data)) return true;
    return this.client.handlePacket(from, data);
  }

  tick(): void {
    this.client.tick();
  }

  nextTickIn(): number {
    return this.client.nextTickIn();
  }
}
