import { describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/tox/clock.js";
import { type KeyPair, newKeyPair, randomBytes, randomNonce } from "../../../src/tox/crypto.js";
import type {
  FriendConnectionEvents,
  FriendConnectionsOptions,
} from "../../../src/tox/friend-connection/friend-connections.js";
import { NetCrypto } from "../../../src/tox/netcrypto/netcrypto.js";
import type { OnionClientEvents, OnionClientOptions } from "../../../src/tox/onion/client.js";
import { IdentityTcpRelays } from "../../../src/tox/tcp/identity-relays.js";
import { relayToNode } from "../../../src/tox/tcp/pool.js";
import type { TcpTransportFactory } from "../../../src/tox/tcp/socket.js";
import { ipPort } from "../../../src/tox/wire/ipport.js";
import { MemRelay } from "./memrelay.js";

class Id {
  readonly realKeys: KeyPair = newKeyPair();
  readonly dhtKeys: KeyPair = newKeyPair();
  readonly relays: IdentityTcpRelays;
  readonly nc: NetCrypto;
  readonly got: Uint8Array[] = [];
  constructor(clock: ManualClock, transport: TcpTransportFactory) {
    const udp = { send: () => {} };
    this.relays = new IdentityTcpRelays({ clock, dhtKeys: () => this.dhtKeys, udp, transport });
    this.nc = new NetCrypto({
      clock,
      realKeys: this.realKeys,
      dhtKeys: () => this.dhtKeys,
      sink: udp,
      ...this.relays.netCryptoOptions,
      events: {
        onStatus: () => {},
        onLossless: (_c, d) => this.got.push(d),
        onLossy: () => {},
        onAcked: () => {},
        shouldAccept: () => true,
      },
    });
    this.relays.attach(this.nc);
  }
}

describe("IdentityTcpRelays", () => {
  it("reaches a friend on the relay its DHT-PK named, and exposes the hooks other layers take", () => {
    const clock = new ManualClock();
    const r1 = new MemRelay(clock);
    const r2 = new MemRelay(clock);
    const transport: TcpTransportFactory = (addr, sink) => (addr.port === 1 ? r1 : r2).transport(addr, sink);
    const a = new Id(clock, transport);
    const b = new Id(clock, transport);
    a.relays.addRelay(r1.address(1));
    b.relays.addRelay(r2.address(2));
    const run = (ms: number, until: () => boolean = () => false) => {
      for (let t = 0; t < ms && !until(); t += 10) {
        for (const r of [r1, r2]) r.pump();
        for (const id of [a, b]) {
          id.nc.tick();
          id.relays.tick();
        }
        for (const r of [r1, r2]) {
          r.server.tick();
          r.pump();
        }
        clock.advance(10);
      }
      return until();
    };
    run(100);
    // B's DHT-PK as the onion delivers it: close DHT nodes and its TCP relays, mixed.
    const udpNode = {
      protocol: "udp" as const,
      ipPort: ipPort("10.1.1.1", 33445),
      publicKey: randomBytes(32),
    };
    expect(b.relays.onionAdvertisedRelays()).toEqual([relayToNode(r2.address(2))]);
    a.relays.onFriendDhtPk(b.realKeys.publicKey, b.dhtKeys.publicKey, [
      udpNode,
      ...b.relays.onionAdvertisedRelays(),
    ]);
    const conn = a.nc.connect(b.realKeys.publicKey, b.dhtKeys.publicKey);
    expect(run(5_000, () => a.nc.state(conn) === "established")).toBe(true);
    a.nc.sendLossless(conn, new Uint8Array([64, 1]));
    expect(run(1_000, () => b.got.length === 1)).toBe(true);

    // Share-relays from B reach A's pool through the session (real key -> DHT key).
    a.relays.onFriendRelays(b.realKeys.publicKey, b.relays.relaysToShare());
    expect(a.relays.pool.hasPeer(b.dhtKeys.publicKey)).toBe(true);
    // Onion first hop: our connected relays, and sending through them.
    expect(a.relays.onionFirstHop.relays().map((n) => n.ipPort.port)).toEqual([1]);
    const first = a.relays.onionFirstHop.relays()[0]!;
    expect(a.relays.onionFirstHop.send(first, randomNonce(), randomBytes(200))).toBe(true);
    expect(a.relays.nextTickIn()).toBeGreaterThan(0);
    // The hooks fit the other layers' option types (compile-time check).
    const hooks: {
      fc: Pick<FriendConnectionsOptions, "relaysToShare">;
      fcEvents: Pick<FriendConnectionEvents, "onRelays">;
      onion: Pick<OnionClientOptions, "tcp" | "tcpRelays">;
      onionEvents: Pick<OnionClientEvents, "onDhtPk">;
    } = {
      fc: { relaysToShare: a.relays.relaysToShare },
      fcEvents: { onRelays: a.relays.onFriendRelays },
      onion: { tcp: a.relays.onionFirstHop, tcpRelays: a.relays.onionAdvertisedRelays },
      onionEvents: { onDhtPk: a.relays.onFriendDhtPk },
    };
    expect(hooks.fc.relaysToShare).toBeTypeOf("function");
    a.relays.close();
    b.relays.close();
  });
});
