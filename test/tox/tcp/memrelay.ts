/**
 * In-memory wiring of our TCP relay clients to our relay server state machine: bytes are queued
 * and delivered by `pump()`, so tests control interleaving and nothing re-enters a handler.
 */
import type { Clock } from "../../../src/tox/clock.js";
import { type KeyPair, newKeyPair } from "../../../src/tox/crypto.js";
import { TcpClientConnection, type TcpClientEvents } from "../../../src/tox/tcp/client.js";
import { type ServerConnection, TcpRelayServer } from "../../../src/tox/tcp/server.js";
import type { TcpRelayAddress, TcpTransportFactory } from "../../../src/tox/tcp/socket.js";

export interface MemLink {
  client: TcpClientConnection;
  serverSide: ServerConnection;
  /** Drops the "socket" (both ends notice). */
  cut(): void;
  /** Bytes written by the client are lost while true (to simulate a stalled relay). */
  blackhole: boolean;
}

export class MemRelay {
  readonly server: TcpRelayServer;
  private readonly queue: Array<() => void> = [];

  constructor(
    readonly clock: Clock,
    readonly keys: KeyPair = newKeyPair(),
  ) {
    this.server = new TcpRelayServer({ clock, keys });
  }

  /** Opens a client connection (socket "connects" immediately; handshake needs pump()). */
  connect(keys: KeyPair, events: TcpClientEvents): MemLink {
    let alive = true;
    const link = { blackhole: false } as MemLink;
    const serverSide = this.server.accept({
      write: (b) => {
        const copy = Uint8Array.from(b);
        this.queue.push(() => alive && link.client.receive(copy));
      },
      close: () => {
        if (!alive) return;
        alive = false;
        this.queue.push(() => link.client.socketClosed("closed by relay"));
      },
    });
    const client = new TcpClientConnection({
      clock: this.clock,
      relayPk: this.keys.publicKey,
      keys,
      events,
      write: (b) => {
        if (link.blackhole) return;
        const copy = Uint8Array.from(b);
        this.queue.push(() => alive && serverSide.receive(copy));
      },
    });
    link.client = client;
    link.serverSide = serverSide;
    link.cut = () => {
      if (!alive) return;
      alive = false;
      serverSide.closed();
      client.socketClosed("cut");
    };
    client.start();
    return link;
  }

  /** This relay as an address for a pool (host/port are labels only). */
  address(port = 1): TcpRelayAddress {
    return { host: "10.9.9.9", port, publicKey: this.keys.publicKey };
  }

  /** Live server-side connections (for cutting them). */
  readonly cuts = new Set<() => void>();
  /** When true, new transports fail to connect (relay unreachable). */
  down = false;

  /** A transport factory for TcpRelayPool: "sockets" into this relay's server, via the queue. */
  readonly transport: TcpTransportFactory = (_addr, sink) => {
    let alive = true;
    if (this.down) {
      this.queue.push(() => sink.closed("connection refused"));
      return { write: () => {}, close: () => {} };
    }
    const serverSide = this.server.accept({
      write: (b) => {
        const copy = Uint8Array.from(b);
        this.queue.push(() => alive && sink.received(copy));
      },
      close: () => {
        if (!alive) return;
        alive = false;
        this.queue.push(() => sink.closed("closed by relay"));
      },
    });
    const cut = () => {
      if (!alive) return;
      alive = false;
      this.cuts.delete(cut);
      serverSide.closed();
      this.queue.push(() => sink.closed("cut"));
    };
    this.cuts.add(cut);
    this.queue.push(() => alive && sink.connected());
    return {
      write: (b) => {
        const copy = Uint8Array.from(b);
        this.queue.push(() => alive && serverSide.receive(copy));
      },
      close: () => {
        if (!alive) return;
        alive = false;
        this.cuts.delete(cut);
        serverSide.closed();
      },
    };
  };

  /** Cuts every live transport connection. */
  cutAll(): void {
    for (const c of [...this.cuts]) c();
  }

  /** Delivers queued bytes until nothing is left (bounded). */
  pump(limit = 100_000): number {
    let n = 0;
    while (this.queue.length > 0 && n < limit) {
      this.queue.shift()!();
      n++;
    }
    return n;
  }
}
