/**
 * The socket edge of the TCP relay code: binds `net.Socket`s to the clock-driven state machines
 * in client.ts / server.ts and owns the only timers. Nothing here knows the protocol.
 */
import net from "node:net";
import { type Clock, systemClock } from "../clock.js";
import type { KeyPair } from "../crypto.js";
import { TcpClientConnection, type TcpClientEvents, type TcpClientLogger } from "./client.js";
import type { TcpRelayServer } from "./server.js";

/** Where a relay listens and who it is. */
export interface TcpRelayAddress {
  host: string;
  port: number;
  /** The relay's public (DHT) key. */
  publicKey: Uint8Array;
}

/** How the pool (or a test) opens a transport for a client state machine. */
export interface TcpTransport {
  write(bytes: Uint8Array): void;
  close(): void;
}

/** Callbacks a transport must drive on its client state machine. */
export interface TcpTransportSink {
  connected(): void;
  received(bytes: Uint8Array): void;
  closed(reason: string): void;
}

export type TcpTransportFactory = (relay: TcpRelayAddress, sink: TcpTransportSink) => TcpTransport;

/** Opens a real TCP socket. Writes before the socket is up are queued by node itself. */
export const netTransport: TcpTransportFactory = (relay, sink) => {
  const socket = net.connect({ host: relay.host, port: relay.port });
  socket.setNoDelay(true);
  let done = false;
  const closed = (reason: string) => {
    if (done) return;
    done = true;
    sink.closed(reason);
  };
  socket.on("connect", () => sink.connected());
  socket.on("data", (chunk: Buffer) =>
    sink.received(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length)),
  );
  socket.on("error", (err) => closed(`socket error: ${err.message}`));
  socket.on("close", () => closed("socket closed"));
  return {
    write: (bytes) => {
      if (!socket.destroyed) socket.write(bytes);
    },
    close: () => {
      done = true;
      socket.destroy();
    },
  };
};

/** A client state machine joined to a transport, with its own tick timer. */
export interface TcpRelaySocket {
  readonly client: TcpClientConnection;
  close(): void;
}

/**
 * Connects one relay client over a real socket and drives its timers. For a single connection
 * (tests, tools); identities use {@link TcpRelayPool}, which drives many from one timer.
 */
export function openTcpRelaySocket(opts: {
  relay: TcpRelayAddress;
  keys: KeyPair;
  events: TcpClientEvents;
  clock?: Clock;
  log?: TcpClientLogger;
  transport?: TcpTransportFactory;
}): TcpRelaySocket {
  const clock = opts.clock ?? systemClock;
  let timer: NodeJS.Timeout | undefined;
  let transport: TcpTransport | undefined;
  const stop = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    transport?.close();
  };
  const client = new TcpClientConnection({
    clock,
    relayPk: opts.relay.publicKey,
    keys: opts.keys,
    write: (b) => transport?.write(b),
    log: opts.log,
    label: `${opts.relay.host}:${opts.relay.port}`,
    events: {
      ...opts.events,
      onDisconnected: (reason) => {
        stop();
        opts.events.onDisconnected?.(reason);
      },
    },
  });
  transport = (opts.transport ?? netTransport)(opts.relay, {
    connected: () => client.start(),
    received: (b) => client.receive(b),
    closed: (reason) => client.socketClosed(reason),
  });
  const schedule = () => {
    if (client.status === "disconnected") return;
    timer = setTimeout(
      () => {
        client.tick();
        schedule();
      },
      Math.max(20, Math.min(1000, client.nextTickIn())),
    );
    timer.unref?.();
  };
  schedule();
  return {
    client,
    close: () => {
      client.close();
      stop();
    },
  };
}

/** Serves a relay state machine on a TCP port. Resolves once listening. */
export async function listenTcpRelay(
  server: TcpRelayServer,
  opts: { host?: string; port: number },
): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    const conn = server.accept({
      write: (b) => {
        if (!socket.destroyed) socket.write(b);
      },
      close: () => socket.destroy(),
      buffered: () => socket.writableLength,
    });
    socket.on("data", (chunk: Buffer) =>
      conn.receive(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length)),
    );
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      sockets.delete(socket);
      conn.closed();
    });
  });
  const timer = setInterval(() => server.tick(), 1000);
  timer.unref?.();
  await new Promise<void>((resolve, reject) => {
    srv.once("error", reject);
    srv.listen(opts.port, opts.host ?? "127.0.0.1", () => resolve());
  });
  const addr = srv.address();
  return {
    port: typeof addr === "object" && addr !== null ? addr.port : opts.port,
    close: async () => {
      clearInterval(timer);
      server.closeAll();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    },
  };
}
