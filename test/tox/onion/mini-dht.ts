/**
 * Test-only stand-in for the DHT, just enough for c-toxcore peers to list our onion nodes as
 * DHT nodes: answer pings (0x00) and nodes requests (0x02) from a shared registry of known nodes,
 * and remember who asked. No lists, no timers, no routing. Replace with the real Dht (src/tox/dht)
 * once it is wired; the onion server roles only need `OnionDhtView`.
 */
import { bytesEqual } from "../../../src/tox/bytes.js";
import type { KeyPair } from "../../../src/tox/crypto.js";
import { compareDistance } from "../../../src/tox/onion/distance.js";
import { SharedKeyCache } from "../../../src/tox/onion/shared-keys.js";
import type { OnionDhtView } from "../../../src/tox/onion/types.js";
import type { PacketSink } from "../../../src/tox/transport/types.js";
import {
  MAX_SENT_NODES,
  NET_PACKET_NODES_REQUEST,
  NET_PACKET_PING_REQUEST,
  NET_PACKET_PING_RESPONSE,
  parseNodesRequest,
  parsePing,
  serializeNodesResponse,
  serializePing,
  splitDhtEnvelope,
} from "../../../src/tox/wire/dht.js";
import { type IpPort, ipPortEqual, type NodeInfo } from "../../../src/tox/wire/ipport.js";

/** Every node any of our mini DHT nodes has heard of (ours and the peers that contacted us). */
export class NodeRegistry {
  readonly nodes: NodeInfo[] = [];
  add(node: NodeInfo): void {
    if (this.nodes.some((n) => bytesEqual(n.publicKey, node.publicKey) && ipPortEqual(n.ipPort, node.ipPort)))
      return;
    this.nodes.push(node);
  }
  closest(pk: Uint8Array, n: number, except?: Uint8Array): NodeInfo[] {
    return this.nodes
      .filter((x) => except === undefined || !bytesEqual(x.publicKey, except))
      .sort((a, b) => compareDistance(pk, a.publicKey, b.publicKey))
      .slice(0, n);
  }
}

export class MiniDht {
  private readonly keys = new SharedKeyCache();
  answered = 0;

  constructor(
    readonly keyPair: KeyPair,
    private readonly registry: NodeRegistry,
    private readonly sink: PacketSink,
  ) {}

  view(): OnionDhtView {
    return {
      dhtKeys: () => this.keyPair,
      closeNodes: (pk, n) => this.registry.closest(pk, n, this.keyPair.publicKey),
      randomNodes: (n) => this.registry.closest(this.keyPair.publicKey, n, this.keyPair.publicKey),
    };
  }

  /** Handles 0x00 and 0x02; false for anything else. */
  handlePacket(from: IpPort, data: Uint8Array): boolean {
    const id = data[0];
    if (id !== NET_PACKET_PING_REQUEST && id !== NET_PACKET_NODES_REQUEST) return false;
    const env = splitDhtEnvelope(data);
    if (!env.ok) return true;
    const shared = this.keys.get(env.value.senderPk, this.keyPair.secretKey);
    if (id === NET_PACKET_PING_REQUEST) {
      const ping = parsePing(data, shared);
      if (!ping.ok) return true;
      this.sink.send(
        from,
        serializePing(
          { type: NET_PACKET_PING_RESPONSE, pingId: ping.value.pingId },
          this.keyPair.publicKey,
          shared,
        ),
      );
    } else {
      const req = parseNodesRequest(data, shared);
      if (!req.ok) return true;
      const nodes = this.registry.closest(req.value.searchedPk, MAX_SENT_NODES, env.value.senderPk);
      this.sink.send(
        from,
        serializeNodesResponse({ nodes, pingId: req.value.pingId }, this.keyPair.publicKey, shared),
      );
    }
    this.registry.add({ protocol: "udp", ipPort: from, publicKey: env.value.senderPk });
    this.answered++;
    return true;
  }
}
