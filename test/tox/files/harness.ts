/**
 * Two Messengers with FileTransfers over NetCrypto sessions on the lossy in-memory link of the
 * net_crypto harness, one ManualClock. Steps yield to the event loop so async sources/sinks run.
 */
import { ManualClock } from "../../../src/tox/clock.js";
import { type KeyPair, newKeyPair } from "../../../src/tox/crypto.js";
import type { FileSink } from "../../../src/tox/files/io.js";
import {
  type EndReason,
  FileTransfers,
  type ResumeRecord,
  type TransferInfo,
} from "../../../src/tox/files/transfers.js";
import { Messenger } from "../../../src/tox/messenger/messenger.js";
import { NetCrypto } from "../../../src/tox/netcrypto/netcrypto.js";
import type { ConnectionId } from "../../../src/tox/netcrypto/types.js";
import { type IpPort, ipPort, ipPortKey } from "../../../src/tox/wire/ipport.js";
import { Link, type LinkOptions } from "../netcrypto/harness.js";

export class FilePeer {
  readonly realKeys: KeyPair = newKeyPair();
  readonly dhtKeys: KeyPair = newKeyPair();
  readonly nc: NetCrypto;
  readonly messenger: Messenger;
  readonly files: FileTransfers;
  readonly offers: TransferInfo[] = [];
  readonly completed: TransferInfo[] = [];
  readonly ended: Array<{ info: TransferInfo; reason: EndReason; record: ResumeRecord }> = [];
  readonly controls: Array<[number, string]> = [];
  /** Set to answer offers automatically. */
  onOffer: ((o: TransferInfo) => void) | undefined;
  private readonly pkByConn = new Map<ConnectionId, Uint8Array>();
  other: FilePeer | undefined;

  constructor(
    readonly link: Link,
    readonly addr: IpPort,
  ) {
    const clock = link.clock;
    this.nc = new NetCrypto({
      clock,
      realKeys: this.realKeys,
      dhtKeys: () => this.dhtKeys,
      sink: { send: (to, data) => link.send(addr, to, data) },
      events: {
        onStatus: (c, s) => {
          const pk = this.pkByConn.get(c);
          if (pk === undefined) return;
          if (s === "established") this.messenger.handleConnection(pk, true);
          if (s === "killed") {
            this.pkByConn.delete(c);
            this.messenger.handleConnection(pk, false);
          }
        },
        onLossless: (c, d) => {
          const pk = this.pkByConn.get(c);
          if (pk) this.messenger.handlePacket(pk, d);
        },
        onLossy: () => {},
        onAcked: (c, n) => {
          const pk = this.pkByConn.get(c);
          if (pk) this.messenger.handleAcked(pk, n);
        },
        shouldAccept: (realPk) => {
          queueMicrotask(() => {
            const c = this.nc.connectionFor(realPk);
            if (c !== undefined) this.pkByConn.set(c, realPk);
          });
          return true;
        },
      },
    });
    const conn = (pk: Uint8Array) => this.nc.connectionFor(pk);
    this.messenger = new Messenger({
      clock,
      transport: {
        sendLossless: (pk, d, cc) => {
          const c = conn(pk);
          return c === undefined ? -1 : this.nc.sendLossless(c, d, cc);
        },
        windowFree: (pk) => {
          const c = conn(pk);
          return c === undefined ? 0 : this.nc.sendWindowFree(c);
        },
      },
      events: {
        onConnection: () => {},
        onMessage: () => {},
        onReadReceipt: () => {},
        onName: () => {},
        onStatusMessage: () => {},
        onStatus: () => {},
        onTyping: () => {},
      },
    });
    this.files = new FileTransfers({
      clock,
      transport: this.messenger,
      events: {
        onOffer: (o) => {
          this.offers.push(o);
          this.onOffer?.(o);
        },
        onControl: (i, c) => this.controls.push([i.fileNumber, c]),
        onComplete: (i) => this.completed.push(i),
        onEnded: (info, reason, record) => this.ended.push({ info, reason, record }),
      },
    });
    this.messenger.attach(this.files);
    link.endpoints.set(ipPortKey(addr), (from, data) => this.nc.handlePacket(from, data));
  }

  get pk(): Uint8Array {
    return this.realKeys.publicKey;
  }

  connectTo(other: FilePeer): void {
    this.messenger.addFriend(other.pk);
    other.messenger.addFriend(this.pk);
    const c = this.nc.connect(other.realKeys.publicKey, other.dhtKeys.publicKey);
    this.pkByConn.set(c, other.pk);
    this.nc.setDirectAddress(c, other.addr);
  }

  /** Local kill: like a dropped session on our side (the peer gets KILL). */
  drop(other: FilePeer): void {
    const c = this.nc.connectionFor(other.pk);
    if (c === undefined) return;
    this.nc.kill(c);
    this.pkByConn.delete(c);
    this.messenger.handleConnection(other.pk, false);
  }

  tick(): void {
    this.nc.tick();
    this.messenger.tick();
  }
}

export function makeFilePair(opts: LinkOptions = {}) {
  const clock = new ManualClock();
  const link = new Link(clock, { delay: 2, jitter: 0, ...opts });
  const a = new FilePeer(link, ipPort("10.0.0.1", 33445));
  const b = new FilePeer(link, ipPort("10.0.0.2", 33446));
  return { clock, link, a, b };
}

const yieldLoop = () => new Promise<void>((r) => setImmediate(r));

/** Steps the simulation until `until()` or `maxMs` of simulated time; true if reached. */
export async function runUntil(
  clock: ManualClock,
  link: Link,
  peers: FilePeer[],
  until: () => boolean,
  maxMs = 60_000,
  step = 2,
): Promise<boolean> {
  const end = clock.now() + maxMs;
  while (clock.now() < end) {
    link.deliver();
    for (const p of peers) p.tick();
    await yieldLoop();
    if (until()) return true;
    clock.advance(step);
  }
  return until();
}

/** A sink that records writes in memory and can be made to fail. */
export class MemorySink implements FileSink {
  bytes = new Uint8Array(0);
  writes = 0;
  fail = false;
  closed = false;
  async write(position: number, data: Uint8Array): Promise<void> {
    if (this.fail) throw new Error("disk full");
    this.writes++;
    if (position + data.length > this.bytes.length) {
      const next = new Uint8Array(position + data.length);
      next.set(this.bytes);
      this.bytes = next;
    }
    this.bytes.set(data, position);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}
