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
  private readonly serve: boolean;
  private readonly serverOpts: Pick<OnionStackOptions, "clock" | "dht" | "sink" | "log">;
  private relayRole: OnionRelay | null = null;
  private announceRole: OnionAnnounceServer | null = null;

  constructor(opts: OnionStackOptions) {
    const { clock, dht, sink, log } = opts;
    this.serve = opts.serve ?? true;
    this.serverOpts = { clock, dht, sink, ...(log ? { log } : {}) };
    const { serve: _serve, ...clientOpts } = opts;
    this.client = new OnionClient(clientOpts);
  }

  /**
   * The relay role, created on first use: most hosted identities never relay anything (in
   * shared routing nobody builds paths through them), and thousands of idle relays with their
   * keys and caches add up.
   */
  get relay(): OnionRelay | null {
    if (!this.serve) return null;
    this.relayRole ??= new OnionRelay(this.serverOpts);
    return this.relayRole;
  }

  /** The announce-node role, created on first use (see `relay`). */
  get announce(): OnionAnnounceServer | null {
    if (!this.serve) return null;
    this.announceRole ??= new OnionAnnounceServer(this.serverOpts);
    return this.announceRole;
  }

  /** Returns false for ids that are not onion packets. Never throws on input. */
  handlePacket(from: IpPort, data: Uint8Array): boolean {
    const id = data[0];
    if (id === NET_PACKET_ANNOUNCE_RESPONSE_OLD || id === NET_PACKET_ANNOUNCE_RESPONSE) {
      return this.client.handlePacket(from, data);
    }
    if (id === NET_PACKET_ONION_DATA_RESPONSE) return this.client.handlePacket(from, data);
    if (
      id === NET_PACKET_ANNOUNCE_REQUEST_OLD ||
      id === NET_PACKET_ANNOUNCE_REQUEST ||
      id === NET_PACKET_ONION_DATA_REQUEST
    ) {
      return this.announce?.handlePacket(from, data) ?? false;
    }
    return this.relay?.handlePacket(from, data) ?? false;
  }

  tick(): void {
    this.client.tick();
  }

  nextTickIn(): number {
    return this.client.nextTickIn();
  }
}
