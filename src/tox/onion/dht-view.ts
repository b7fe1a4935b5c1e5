/**
 * Wiring between the DHT (src/tox/dht) and the onion layer, typed structurally so the onion does
 * not depend on the DHT module: `onionDhtView(dht)` gives relays, announce nodes and the client
 * what they need, and `routeDhtPkFromDht` delivers DHT-PK packets (0x20 with inner id 156)
 * arriving through the DHT to the onion client.
 */
import { bytesEqual } from "../bytes.js";
import type { KeyPair } from "../crypto.js";
import type { IpPort, NodeInfo } from "../wire/ipport.js";
import { ONION_DATA_DHTPK } from "../wire/onion.js";
import type { OnionDhtView } from "./types.js";

/** The subset of `Dht` the onion uses. */
export interface DhtForOnion {
  readonly keyPair: KeyPair;
  getCloseNodes(pk: Uint8Array, forLan: boolean, max?: number): NodeInfo[];
  randomGoodNodes(n: number): NodeInfo[];
  isConnected(): boolean;
  sendCryptoPacket(toDhtPk: Uint8Array, innerId: number, payload: Uint8Array): number;
  onCryptoPacket(
    id: number,
    handler: (from: IpPort, senderDhtPk: Uint8Array, data: Uint8Array) => void,
  ): () => void;
  /** A leaf of a shared-routing backbone (it keeps no close list of its own). */
  readonly isLeaf?: boolean;
  /** Our key at our reachable address (a leaf lists itself in its DHT-PK). */
  selfNode?(): NodeInfo | undefined;
}

/**
 * The onion's view of a DHT, as prototype methods over one field: every hosted identity has
 * one, and an object of closures cost each ~0.8 kB (closures, context, its own shape).
 */
export class DhtOnionView implements OnionDhtView {
  constructor(protected readonly dht: DhtForOnion) {}

  dhtKeys(): KeyPair {
    return this.dht.keyPair;
  }

  closeNodes(pk: Uint8Array, n: number, allowLan: boolean): NodeInfo[] {
    const dht = this.dht;
    const nodes = dht.getCloseNodes(pk, allowLan, n);
    if (dht.isLeaf !== true || !bytesEqual(pk, dht.keyPair.publicKey)) return nodes;
    // A leaf is in nobody's close list: a friend finds it only because our DHT-PK lists the
    // leaf itself (c-toxcore's handle_dhtpk_announce asks each listed node for our DHT key;
    // our answer makes its addto_lists report our address to its friend_connection).
    const self = dht.selfNode?.();
    return self === undefined ? nodes : [self, ...nodes].slice(0, n);
  }

  randomNodes(n: number): NodeInfo[] {
    return this.dht.randomGoodNodes(n);
  }

  isConnected(): boolean {
    return this.dht.isConnected();
  }

  routeDhtPk(friendDhtPk: Uint8Array, data: Uint8Array): boolean {
    return this.dht.sendCryptoPacket(friendDhtPk, ONION_DATA_DHTPK, data) > 0;
  }
}

export function onionDhtView(dht: DhtForOnion): OnionDhtView {
  return new DhtOnionView(dht);
}

/** Registers the DHT-PK (156) handler; returns the unregister function. */
export function routeDhtPkFromDht(
  dht: DhtForOnion,
  client: { handleDhtPkFromDht(senderDhtPk: Uint8Array, data: Uint8Array): boolean },
): () => void {
  return dht.onCryptoPacket(ONION_DATA_DHTPK, (_from, senderDhtPk, data) => {
    client.handleDhtPkFromDht(senderDhtPk, data);
  });
}
