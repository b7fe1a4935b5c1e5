/**
 * An in-memory network of Conferences instances for unit tests: friend sessions are up while
 * both sides are friends and the link is not cut; a non-friend session comes up only when both
 * sides asked for it (openConnection), as friend_connection accepts handshakes only from keys it
 * has an entry for. Delivery is queued and pumped, so handlers never re-enter each other.
 */
import { toHex } from "../../../src/tox/bytes.js";
import { ManualClock } from "../../../src/tox/clock.js";
import {
  type ConferenceMessageKind,
  type ConferencePeer,
  Conferences,
} from "../../../src/tox/conference/conferences.js";
import { newKeyPair } from "../../../src/tox/crypto.js";

export interface Received {
  conference: number;
  from: string;
  self: boolean;
  kind: ConferenceMessageKind;
  text: string;
}

export class FakeNode {
  readonly pk: Uint8Array;
  readonly hex: string;
  dhtPk: Uint8Array;
  name: string;
  conf!: Conferences;
  readonly invites: Array<{ from: Uint8Array; cookie: Uint8Array }> = [];
  readonly messages: Received[] = [];
  readonly titles: Array<{ conference: number; title: string; by: string | undefined }> = [];
  readonly names: Array<{ conference: number; peer: string; name: string }> = [];
  readonly left: Array<{ conference: number; peer: ConferencePeer }> = [];
  readonly lossy: Array<{ from: string; type: number; data: number[] }> = [];
  connected: number[] = [];
  readonly wants = new Set<string>();
  sent = 0;

  constructor(
    readonly net: FakeNet,
    name: string,
  ) {
    this.pk = newKeyPair().publicKey;
    this.hex = toHex(this.pk);
    this.dhtPk = newKeyPair().publicKey;
    this.name = name;
    this.restart();
  }

  /** A fresh Conferences instance (as after a process restart); sessions drop and come back. */
  restart(): void {
    this.dhtPk = newKeyPair().publicKey;
    this.wants.clear();
    const net = this.net;
    this.conf = new Conferences({
      clock: net.clock,
      selfPk: this.pk,
      selfDhtPk: () => this.dhtPk,
      selfName: () => this.name,
      transport: {
        sendLossless: (pk, data) => {
          const to = net.node(pk);
          if (!net.isUp(this, to)) return -1;
          net.enqueue(() => to.conf.handlePacket(this.pk, data));
          return this.sent++;
        },
        sendLossy: (pk, data) => {
          const to = net.node(pk);
          if (!net.isUp(this, to)) return false;
          net.enqueue(() => to.conf.handlePacket(this.pk, data));
          return true;
        },
        sendToFriend: (pk, data) => {
          const to = net.node(pk);
          if (!net.areFriends(this, to) || !net.isUp(this, to)) return false;
          net.enqueue(() => to.conf.handleFriendPacket(this.pk, data));
          return true;
        },
        isConnected: (pk) => net.isUp(this, net.node(pk)),
        dhtKeyOf: (pk) => net.node(pk).dhtPk,
        openConnection: (pk) => {
          this.wants.add(toHex(pk));
          net.enqueue(() => net.updateLinks());
        },
        closeConnection: (pk) => {
          this.wants.delete(toHex(pk));
          net.enqueue(() => net.updateLinks());
        },
      },
      events: {
        onInvite: (from, _type, cookie) => this.invites.push({ from, cookie }),
        onConnected: (c) => this.connected.push(c),
        onMessage: (conference, peer, kind, text) =>
          this.messages.push({ conference, from: toHex(peer.publicKey), self: peer.self, kind, text }),
        onTitle: (conference, peer, title) =>
          this.titles.push({ conference, title, by: peer && toHex(peer.publicKey) }),
        onPeerName: (conference, peer, name) =>
          this.names.push({ conference, peer: toHex(peer.publicKey), name }),
        onPeerLeft: (conference, peer) => this.left.push({ conference, peer }),
        onLossy: (_c, peer, type, data) =>
          this.lossy.push({ from: toHex(peer.publicKey), type, data: [...data] }),
      },
    });
  }

  texts(): string[] {
    return this.messages.filter((m) => !m.self).map((m) => m.text);
  }
}

export class FakeNet {
  readonly clock = new ManualClock();
  private readonly nodes = new Map<string, FakeNode>();
  private readonly friendships = new Set<string>();
  private readonly cut = new Set<string>();
  private readonly up = new Set<string>();
  private queue: Array<() => void> = [];
  /** Nodes whose tick() is skipped (a hung peer). */
  readonly paused = new Set<FakeNode>();

  add(name: string): FakeNode {
    const n = new FakeNode(this, name);
    this.nodes.set(n.hex, n);
    return n;
  }

  node(pk: Uint8Array): FakeNode {
    const n = this.nodes.get(toHex(pk));
    if (n === undefined) throw new Error("unknown node");
    return n;
  }

  befriend(a: FakeNode, b: FakeNode): void {
    this.friendships.add(pair(a, b));
    this.updateLinks();
    this.pump();
  }

  areFriends(a: FakeNode, b: FakeNode): boolean {
    return this.friendships.has(pair(a, b));
  }

  isUp(a: FakeNode, b: FakeNode): boolean {
    return this.up.has(pair(a, b));
  }

  setCut(a: FakeNode, b: FakeNode, cut: boolean): void {
    if (cut) this.cut.add(pair(a, b));
    else this.cut.delete(pair(a, b));
    this.updateLinks();
    this.pump();
  }

  /**
   * Restarts `n`: its sessions drop (the others notice), it gets a fresh Conferences instance,
   * `whileDown` runs (restore the saved state there), then sessions come back.
   */
  restart(n: FakeNode, whileDown: () => void): void {
    const others = [...this.nodes.values()].filter((o) => o !== n);
    for (const o of others) this.cut.add(pair(n, o));
    this.updateLinks();
    this.pump();
    n.restart();
    whileDown();
    for (const o of others) this.cut.delete(pair(n, o));
    this.updateLinks();
    this.pump();
  }

  updateLinks(): void {
    const all = [...this.nodes.values()];
    for (let i = 0; i < all.length; i++)
      for (let j = i + 1; j < all.length; j++) {
        const a = all[i]!;
        const b = all[j]!;
        const want =
          !this.cut.has(pair(a, b)) &&
          (this.friendships.has(pair(a, b)) || (a.wants.has(b.hex) && b.wants.has(a.hex)));
        this.setLink(a, b, want);
      }
  }

  private setLink(a: FakeNode, b: FakeNode, want: boolean): void {
    const key = pair(a, b);
    if (want === this.up.has(key)) return;
    if (want) this.up.add(key);
    else this.up.delete(key);
    this.enqueue(() => a.conf.handleConnection(b.pk, want));
    this.enqueue(() => b.conf.handleConnection(a.pk, want));
  }

  enqueue(f: () => void): void {
    this.queue.push(f);
  }

  pump(limit = 100_000): void {
    for (let i = 0; i < limit && this.queue.length > 0; i++) this.queue.shift()!();
    if (this.queue.length > 0) throw new Error("fake net did not settle");
  }

  /** Ticks everyone (and delivers) every `stepMs` for `ms`. */
  run(ms: number, stepMs = 500): void {
    for (let t = 0; t <= ms; t += stepMs) {
      for (const n of this.nodes.values()) if (!this.paused.has(n)) n.conf.tick();
      this.pump();
      this.clock.advance(stepMs);
    }
  }
}

function pair(a: FakeNode, b: FakeNode): string {
  return a.hex < b.hex ? `${a.hex}|${b.hex}` : `${b.hex}|${a.hex}`;
}
