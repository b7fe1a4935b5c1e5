/**
 * Public surface of the Tox library. The bridge imports from here only; everything else under
 * src/tox is internal and may change.
 *
 *   const node = await ToxNode.create({ bootstrapNodes: [{ host, port, publicKey }], udp: true });
 *   node.on("friendMessage", ({ identity, friend, kind, text }) => ...);
 *   node.on("readReceipt", ({ identity, friend, messageId }) => ...);
 *   node.on("friendRequest", ({ identity, publicKey, message }) => ...);
 *   node.on("selfConnection", ({ identity, status }) => ...); // "none" | "udp" | "tcp"
 *   const alice = await node.addIdentity({ secretKey, name: "Alice" }); // or { savedata }
 *   await alice.addFriend(theirToxId, "hi, it's Alice"); // friend request through the onion
 *   await alice.acceptFriendRequest(requesterPk);
 *   await alice.addTcpRelay(host, port, relayKeyHex); // reach peers behind UDP-blocking NATs
 *   const ids = await alice.sendMessage(friendPk, longText); // split at 1372 bytes
 *
 * Keys in events are lower-case hex; Tox IDs are upper-case hex (as clients show them).
 */
export { formatAddress, parseAddress, type ToxAddress } from "./address.js";
export { fromHex, toHex } from "./bytes.js";
export { type Clock, ManualClock, systemClock } from "./clock.js";
export { type KeyPair, newKeyPair } from "./crypto.js";
export { ToxProtocolError, WireError } from "./errors.js";
export {
  avatarFileId,
  BytesSink,
  BytesSource,
  DiskFileSink,
  DiskFileSource,
  FILE_ID_LENGTH,
  FILE_KIND_AVATAR,
  FILE_KIND_DATA,
  type FileDirection,
  type FileSink,
  type FileSource,
  MAX_CONCURRENT_FILES,
  MAX_FILENAME_LENGTH,
  type ResumeRecord,
  type TransferInfo,
  toxFileNumber,
} from "./files/index.js";
export {
  MAX_MESSAGE_LENGTH,
  MAX_NAME_LENGTH,
  MAX_STATUSMESSAGE_LENGTH,
  type MessageKind,
  type UserStatus,
} from "./messenger/packets.js";
export { splitMessage } from "./messenger/split.js";
export type {
  ConferenceEventBase,
  ConferenceInviteEvent,
  ConferenceMessageEvent,
  ConferencePeerEvent,
  ConferencePeerNameEvent,
  ConferencePeerRef,
  ConferenceTitleEvent,
  FileControlEvent,
  FileEndedEvent,
  FileEndReason,
  FileEvent,
  FileTransferView,
  FriendConnectionEvent,
  FriendConnectionStatus,
  FriendMessageEvent,
  FriendNameEvent,
  FriendRequestEvent,
  FriendStatusEvent,
  FriendStatusMessageEvent,
  FriendTypingEvent,
  ReadReceiptEvent,
  SelfConnectionEvent,
  SelfConnectionStatus,
  ToxNodeEvents,
} from "./node/events.js";
export type {
  FriendInfo,
  Identity,
  IdentityOptions,
  PendingFriendRequest,
  PublicKeyInput,
} from "./node/identity.js";
export {
  DEFAULT_BOOTSTRAP_IDENTITIES_PER_SECOND,
  DEFAULT_PORT_RANGE,
  ToxNode,
  type ToxNodeAddress,
  type ToxNodeLogger,
  type ToxNodeOptions,
  type ToxRouting,
} from "./node/tox-node.js";
export {
  isEncryptedSave,
  PassDecryptError,
  passDecrypt,
  passEncrypt,
} from "./state/encryptsave.js";
export {
  parseSaveData,
  type SaveData,
  type SavedFriend,
  serializeSaveData,
} from "./state/savefile.js";
export { type IpPort, ipPort } from "./wire/ipport.js";
