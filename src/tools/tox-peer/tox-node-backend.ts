/**
 * The real PeerBackend: one identity on a ToxNode of its own, bound on all IPv4 interfaces.
 * The node hosts only this identity, so every node event is ours and is forwarded unfiltered.
 */
import { DEFAULT_PORT_RANGE, newKeyPair, type SaveData, ToxNode } from "../../tox/index.js";
import type { ToxPeerOptions } from "./args.js";
import type { PeerBackend, PeerFriendInfo } from "./engine.js";
import type { MessageType } from "./events.js";
import type { OpenedBackend, PeerEventSink } from "./run.js";

export async function openToxNodeBackend(
  options: ToxPeerOptions,
  save: SaveData | undefined,
  events: PeerEventSink,
  warn: (text: string) => void,
): Promise<OpenedBackend> {
  const toAddress = (n: ToxPeerOptions["bootstrap"][number]) => ({
    host: n.host,
    port: n.port,
    publicKey: n.publicKeyHex,
  });
  const node = await ToxNode.create({
    host: "0.0.0.0",
    portRange: options.port === undefined ? DEFAULT_PORT_RANGE : [options.port, options.port],
    udp: options.udp,
    bootstrapNodes: options.bootstrap.map(toAddress),
    tcpRelays: options.tcpRelays.map(toAddress),
  });
  // Listen before the identity exists: its first events may come right after it is added.
  node.on("selfConnection", (e) => events.selfConnection(e.status));
  node.on("friendRequest", (e) => void events.friendRequest(e.publicKey, e.message));
  node.on("friendConnection", (e) => events.friendConnection(e.friend, e.status));
  node.on("friendMessage", (e) => events.friendMessage(e.friend, e.kind, e.text));
  node.on("readReceipt", (e) => events.readReceipt(e.friend, e.messageId));
  node.on("friendName", (e) => events.friendName(e.friend, e.name));
  node.on("error", (err) => warn(`tox-peer: ${err.message}\n`));

  let identity: Awaited<ReturnType<ToxNode["addIdentity"]>>;
  try {
    identity = await node.addIdentity(
      save === undefined ? { secretKey: newKeyPair().secretKey } : { savedata: save },
    );
  } catch (err) {
    await node.close();
    throw err;
  }
  const backend: PeerBackend = {
    toxId: identity.toxId,
    publicKey: identity.publicKey,
    port: identity.udpPort,
    dhtPublicKey: () => identity.dhtPublicKey,
    friendKeys: async () => (await identity.friends()).map((f) => f.publicKey),
    addFriend: async (toxId, message) => {
      await identity.addFriend(toxId, message);
      return toxId.slice(0, 64).toLowerCase();
    },
    acceptFriendRequest: (pk) => identity.acceptFriendRequest(pk),
    sendMessage: (pk, text, type: MessageType) => identity.sendMessage(pk, text, type),
    setName: (name) => identity.setName(name),
    setStatusMessage: (text) => identity.setStatusMessage(text),
    friendInfo: async (pk): Promise<PeerFriendInfo | undefined> => {
      const f = await identity.friend(pk);
      return f === undefined ? undefined : { connection: f.connection, name: f.name };
    },
    savedata: () => identity.getSavedata(),
  };
  return { backend, close: () => node.close() };
}
