/**
 * friend_connection packets (friend_connection.h 0.2.18), lossless ids inside net_crypto:
 * ALIVE (keepalive, empty), SHARE_RELAYS (up to 3 packed TCP relay nodes) and FRIEND_REQUESTS
 * (a friend request sent over an existing session instead of the onion).
 */
import { ByteReader } from "../bytes.js";
import { type ParseResult, tryParse, WireError } from "../errors.js";
import { type NodeInfo, packNodes, readNode } from "../wire/ipport.js";

export const PACKET_ID_ALIVE = 16;
export const PACKET_ID_SHARE_RELAYS = 17;
export const PACKET_ID_FRIEND_REQUESTS = 18;

/** `MAX_SHARED_RELAYS` (= RECOMMENDED_FRIEND_TCP_CONNECTIONS). */
export const MAX_SHARED_RELAYS = 3;

export type FriendConnPacket =
  | { type: "alive" }
  | { type: "shareRelays"; relays: NodeInfo[] }
  | { type: "friendRequest"; nospam: Uint8Array; message: Uint8Array };

const what = "friend_connection packet";

/**
 * Parses ids 16–18; anything else is not ours (`ok: true, value: undefined` would be ambiguous,
 * so callers check `isFriendConnPacket` first). SHARE_RELAYS follows `unpack_nodes` with a limit
 * of 3: at most three nodes are read and any bytes after them are ignored, as c-toxcore does.
 */
export function parseFriendConnPacket(packet: Uint8Array): ParseResult<FriendConnPacket> {
  return tryParse(() => {
    const id = packet[0];
    switch (id) {
      case PACKET_ID_ALIVE:
        // c-toxcore accepts ALIVE with trailing bytes; so do we.
        return { type: "alive" };
      case PACKET_ID_SHARE_RELAYS: {
        const r = new ByteReader(packet.subarray(1), "share relays");
        const relays: NodeInfo[] = [];
        while (relays.length < MAX_SHARED_RELAYS && r.remaining > 0) relays.push(readNode(r));
        return { type: "shareRelays", relays };
      }
      case PACKET_ID_FRIEND_REQUESTS: {
        const r = new ByteReader(packet.subarray(1), "friend request packet");
        const nospam = r.bytesN(4, "nospam");
        return { type: "friendRequest", nospam, message: r.rest() };
      }
      default:
        throw new WireError("not a friend_connection packet", { what, id });
    }
  });
}

export function isFriendConnPacket(packet: Uint8Array): boolean {
  const id = packet[0];
  return id === PACKET_ID_ALIVE || id === PACKET_ID_SHARE_RELAYS || id === PACKET_ID_FRIEND_REQUESTS;
}

export function serializeFriendConnPacket(p: FriendConnPacket): Uint8Array {
  switch (p.type) {
    case "alive":
      return Uint8Array.of(PACKET_ID_ALIVE);
    case "shareRelays": {
      if (p.relays.length > MAX_SHARED_RELAYS)
        throw new RangeError(`at most ${MAX_SHARED_RELAYS} relays per SHARE_RELAYS packet`);
      const nodes = packNodes(p.relays);
      const out = new Uint8Array(1 + nodes.length);
      out[0] = PACKET_ID_SHARE_RELAYS;
      out.set(nodes, 1);
      return out;
    }
    case "friendRequest": {
      if (p.nospam.length !== 4) throw new RangeError("nospam is 4 bytes");
      const out = new Uint8Array(5 + p.message.length);
      out[0] = PACKET_ID_FRIEND_REQUESTS;
      out.set(p.nospam, 1);
      out.set(p.message, 5);
      return out;
    }
  }
}
