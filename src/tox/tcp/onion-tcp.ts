/**
 * Onion requests whose first hop is a TCP relay (c-toxcore `create_onion_packet_tcp`), for
 * clients that cannot send UDP. The relay stands in for onion hop A: it needs no layer of its
 * own (the TCP link is already encrypted and authenticated), so the packet starts at hop B's
 * layer. The relay sends the final response back as a TCP onion-response packet whose data is
 * the response itself (e.g. an announce response 0x84).
 */
import { concatBytes } from "../bytes.js";
import { encryptSymmetric, randomNonce } from "../crypto.js";
import { encodeOnionLayerPlain, type OnionDest, type OnionPathKeys } from "../wire/onion.js";

export interface TcpOnionRequest {
  nonce: Uint8Array;
  /** `ip_port B 19 | temp pk B | box(B)(ip_port C | temp pk C | box(C)(dest | payload))`. */
  payload: Uint8Array;
}

/**
 * Wraps `data` for `dest` through hops B and C of `path` (`path.nodes[0]` is the TCP relay and
 * its key slot is unused). One nonce for both layers, as for UDP onion packets. Send the result
 * with `TcpRelayPool.sendOnionRequest` / `TcpClientConnection.sendOnionRequest`.
 */
export function createTcpOnionRequest(
  path: OnionPathKeys,
  dest: OnionDest,
  data: Uint8Array,
  nonce: Uint8Array = randomNonce(),
): TcpOnionRequest {
  const [, b, c] = path.nodes;
  const forC = encryptSymmetric(path.sharedKeys[2], nonce, encodeOnionLayerPlain({ dest, inner: data }));
  const forB = encryptSymmetric(
    path.sharedKeys[1],
    nonce,
    encodeOnionLayerPlain({
      dest: { protocol: "udp", ipPort: c.ipPort },
      inner: concatBytes(path.publicKeys[2], forC),
    }),
  );
  const payload = encodeOnionLayerPlain({
    dest: { protocol: "udp", ipPort: b.ipPort },
    inner: concatBytes(path.publicKeys[1], forB),
  });
  return { nonce, payload };
}
