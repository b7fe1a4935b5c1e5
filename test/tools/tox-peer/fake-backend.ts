/** An in-memory PeerBackend for engine and runner tests. */
import type { PeerBackend, PeerFriendInfo } from "../../../src/tools/tox-peer/engine.js";
import type { MessageType } from "../../../src/tools/tox-peer/events.js";

export class FakeBackend implements PeerBackend {
  readonly toxId = "AA".repeat(38);
  readonly publicKey = "aa".repeat(32);
  readonly port = 36099;
  friends = new Map<string, PeerFriendInfo>();
  pending = new Set<string>();
  sent: Array<{ pk: string; text: string; type: MessageType }> = [];
  nextId = 1;
  name = "";
  statusMessage = "";
  saves = 0;

  dhtPublicKey(): string {
    return "dd".repeat(32);
  }
  async friendKeys(): Promise<string[]> {
    return [...this.friends.keys()];
  }
  async addFriend(toxId: string, _message: string): Promise<string> {
    const pk = toxId.slice(0, 64).toLowerCase();
    if (this.friends.has(pk)) throw new Error("already a friend");
    this.friends.set(pk, { connection: "none", name: "" });
    return pk;
  }
  async acceptFriendRequest(pk: string): Promise<void> {
    if (!this.pending.delete(pk)) throw new Error(`no pending friend request from ${pk}`);
    this.friends.set(pk, { connection: "none", name: "" });
  }
  async sendMessage(pk: string, text: string, type: MessageType): Promise<number[]> {
    if (!this.friends.has(pk)) throw new Error("not a friend");
    this.sent.push({ pk, text, type });
    // Split like the messenger does, at a (small, for the test) piece size.
    const pieces = Math.max(1, Math.ceil(text.length / 10));
    return Array.from({ length: pieces }, () => this.nextId++);
  }
  async setName(name: string): Promise<void> {
    this.name = name;
  }
  async setStatusMessage(text: string): Promise<void> {
    this.statusMessage = text;
  }
  async friendInfo(pk: string): Promise<PeerFriendInfo | undefined> {
    return this.friends.get(pk);
  }
  async savedata(): Promise<Uint8Array> {
    this.saves++;
    return new Uint8Array([1, 2, 3]);
  }
}
