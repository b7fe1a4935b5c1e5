/**
 * Onion layer costs, in process (no sockets): how many onion requests a node relays per second
 * (one hop each, the per-packet work of a good DHT node), how many announce requests an announce
 * node answers per second, and the full 3-hop request + response round trip built by a client.
 * No c-toxcore anchor here: c-toxcore's relay path is the same crypto (one box open + one
 * secretbox seal per hop), so these figures are mostly libsodium-wrappers (WASM) speed.
 */
import { ManualClock } from "../src/tox/clock.js";
import { newKeyPair, precompute, randomBytes, randomNonce } from "../src/tox/crypto.js";
import { OnionAnnounceServer } from "../src/tox/onion/announce-server.js";
import { createPathKeys } from "../src/tox/onion/paths.js";
import { OnionRelay } from "../src/tox/onion/relay.js";
import type { IpPort, NodeInfo } from "../src/tox/wire/ipport.js";
import { ipPort } from "../src/tox/wire/ipport.js";
import { createAnnounceRequest, createOnionRequest } from "../src/tox/wire/onion.js";
import { runIfMain } from "./lib/runner.js";
import { printTable } from "./lib/table.js";

function rate(n: number, run: (i: number) => void): number {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) run(i);
  return n / ((performance.now() - t0) / 1000);
}

export default async function main(): Promise<void> {
  const clock = new ManualClock();
  const relayKeys = [newKeyPair(), newKeyPair(), newKeyPair()];
  const nodes = relayKeys.map((k, i) => ({
    protocol: "udp" as const,
    ipPort: ipPort("127.0.0.1", 40000 + i),
    publicKey: k.publicKey,
  })) as [NodeInfo, NodeInfo, NodeInfo];
  const outbox: { to: IpPort; data: Uint8Array }[] = [];
  const sink = { send: (to: IpPort, data: Uint8Array) => outbox.push({ to, data }) };
  const relays = relayKeys.map((k) => new OnionRelay({ clock, dht: { dhtKeys: () => k }, sink }));
  const me = newKeyPair();
  const path = createPathKeys(nodes, me);
  const dest = { protocol: "udp" as const, ipPort: ipPort("127.0.0.1", 40010) };
  const payload = new Uint8Array(177).fill(1);
  payload[0] = 0x83;
  const from = ipPort("127.0.0.1", 40020);

  // One hop: the first relay peels layer 0 (shared key cached after the first packet).
  const packets = Array.from({ length: 2000 }, () => createOnionRequest(path, dest, payload, randomNonce()));
  const hopRate = rate(packets.length, (i) => {
    relays[0]!.handlePacket(from, packets[i]!);
    outbox.length = 0;
  });

  // Full request path: build + 3 hops.
  const fullRate = rate(2000, () => {
    let data = createOnionRequest(path, dest, payload, randomNonce());
    let src = from;
    for (let h = 0; h < 3; h++) {
      relays[h]!.handlePacket(src, data);
      const out = outbox.pop()!;
      outbox.length = 0;
      src = nodes[h]!.ipPort;
      data = out.data;
    }
  });

  // Announce node: requests from 2000 distinct senders (a fresh shared key each: the expensive case).
  const server = newKeyPair();
  const announce = new OnionAnnounceServer({
    clock,
    dht: { dhtKeys: () => server, closeNodes: () => nodes.slice() },
    sink,
  });
  const requests = Array.from({ length: 2000 }, () => {
    const k = newKeyPair();
    const req = createAnnounceRequest(
      "old",
      precompute(server.publicKey, k.secretKey),
      k.publicKey,
      randomNonce(),
      {
        pingId: new Uint8Array(32),
        searchedPk: k.publicKey,
        dataPk: randomBytes(32),
        sendback: randomBytes(8),
        extra: new Uint8Array(0),
      },
    );
    return Uint8Array.from([...req, ...randomBytes(177)]);
  });
  const announceRate = rate(requests.length, (i) => {
    announce.handlePacket(from, requests[i]!);
    outbox.length = 0;
  });

  printTable(
    ["operation", "per second", "µs each"],
    [
      ["relay one onion hop (cached key)", Math.round(hopRate), (1e6 / hopRate).toFixed(1)],
      ["build request + 3 relay hops", Math.round(fullRate), (1e6 / fullRate).toFixed(1)],
      ["answer announce (new sender each)", Math.round(announceRate), (1e6 / announceRate).toFixed(1)],
    ],
    "=== onion (in process, one core) ===",
  );
}

runIfMain(import.meta.url, main);
