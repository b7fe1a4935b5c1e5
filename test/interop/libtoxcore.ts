/**
 * Raw koffi bindings to the Debian libtoxcore.so.2 (c-toxcore 0.2.18), as declared in
 * /usr/include/tox/tox.h. Only what the test harness (ctoxcore.ts) uses; enums travel as int,
 * `Tox *` and `Tox_Options *` as opaque `void *`. Out-parameter error codes are `_Out_ int *`:
 * pass a one-element array and read index 0 afterwards.
 */
import koffi from "koffi";

export const lib = koffi.load("libtoxcore.so.2");

/** A koffi external pointer to a C object (`Tox *`, `Tox_Options *`). */
export type CPointer = unknown;

type Fn = (...args: unknown[]) => unknown;
const f = (decl: string): Fn => lib.func(decl) as Fn;

export const tox = {
  versionMajor: f("uint32_t tox_version_major(void)"),
  versionMinor: f("uint32_t tox_version_minor(void)"),
  versionPatch: f("uint32_t tox_version_patch(void)"),

  optionsNew: f("void *tox_options_new(_Out_ int *error)"),
  optionsFree: f("void tox_options_free(void *options)"),
  optionsSetIpv6: f("void tox_options_set_ipv6_enabled(void *options, bool enabled)"),
  optionsSetUdp: f("void tox_options_set_udp_enabled(void *options, bool enabled)"),
  optionsSetLocalDiscovery: f("void tox_options_set_local_discovery_enabled(void *options, bool enabled)"),
  optionsSetHolePunching: f("void tox_options_set_hole_punching_enabled(void *options, bool enabled)"),
  optionsSetStartPort: f("void tox_options_set_start_port(void *options, uint16_t port)"),
  optionsSetEndPort: f("void tox_options_set_end_port(void *options, uint16_t port)"),
  optionsSetTcpPort: f("void tox_options_set_tcp_port(void *options, uint16_t port)"),
  optionsSetSavedataType: f("void tox_options_set_savedata_type(void *options, int type)"),
  optionsSetSavedataData: f(
    "void tox_options_set_savedata_data(void *options, const uint8_t *data, size_t length)",
  ),
  optionsSetLogCallback: f("void tox_options_set_log_callback(void *options, void *callback)"),

  new: f("void *tox_new(void *options, _Out_ int *error)"),
  kill: f("void tox_kill(void *tox)"),
  iterate: f("void tox_iterate(void *tox, void *user_data)"),
  iterationInterval: f("uint32_t tox_iteration_interval(void *tox)"),
  getSavedataSize: f("size_t tox_get_savedata_size(void *tox)"),
  getSavedata: f("void tox_get_savedata(void *tox, _Out_ uint8_t *savedata)"),

  bootstrap: f(
    "bool tox_bootstrap(void *tox, const char *host, uint16_t port, const uint8_t *pk, _Out_ int *error)",
  ),
  addTcpRelay: f(
    "bool tox_add_tcp_relay(void *tox, const char *host, uint16_t port, const uint8_t *pk, _Out_ int *error)",
  ),
  selfGetConnectionStatus: f("int tox_self_get_connection_status(void *tox)"),
  selfGetAddress: f("void tox_self_get_address(void *tox, _Out_ uint8_t *address)"),
  selfGetPublicKey: f("void tox_self_get_public_key(void *tox, _Out_ uint8_t *pk)"),
  selfGetSecretKey: f("void tox_self_get_secret_key(void *tox, _Out_ uint8_t *sk)"),
  selfGetDhtId: f("void tox_self_get_dht_id(void *tox, _Out_ uint8_t *pk)"),
  selfGetUdpPort: f("uint16_t tox_self_get_udp_port(void *tox, _Out_ int *error)"),
  selfGetTcpPort: f("uint16_t tox_self_get_tcp_port(void *tox, _Out_ int *error)"),
  selfGetNospam: f("uint32_t tox_self_get_nospam(void *tox)"),
  selfSetNospam: f("void tox_self_set_nospam(void *tox, uint32_t nospam)"),
  selfSetName: f("bool tox_self_set_name(void *tox, const uint8_t *name, size_t length, _Out_ int *error)"),
  selfSetStatusMessage: f(
    "bool tox_self_set_status_message(void *tox, const uint8_t *msg, size_t length, _Out_ int *error)",
  ),
  selfSetStatus: f("void tox_self_set_status(void *tox, int status)"),
  selfSetTyping: f(
    "bool tox_self_set_typing(void *tox, uint32_t friend_number, bool typing, _Out_ int *error)",
  ),

  friendAdd: f(
    "uint32_t tox_friend_add(void *tox, const uint8_t *address, const uint8_t *message, size_t length, _Out_ int *error)",
  ),
  friendAddNorequest: f("uint32_t tox_friend_add_norequest(void *tox, const uint8_t *pk, _Out_ int *error)"),
  friendDelete: f("bool tox_friend_delete(void *tox, uint32_t friend_number, _Out_ int *error)"),
  friendByPublicKey: f("uint32_t tox_friend_by_public_key(void *tox, const uint8_t *pk, _Out_ int *error)"),
  friendExists: f("bool tox_friend_exists(void *tox, uint32_t friend_number)"),
  selfGetFriendListSize: f("size_t tox_self_get_friend_list_size(void *tox)"),
  selfGetFriendList: f("void tox_self_get_friend_list(void *tox, _Out_ uint32_t *list)"),
  friendGetPublicKey: f(
    "bool tox_friend_get_public_key(void *tox, uint32_t friend_number, _Out_ uint8_t *pk, _Out_ int *error)",
  ),
  friendGetConnectionStatus: f(
    "int tox_friend_get_connection_status(void *tox, uint32_t friend_number, _Out_ int *error)",
  ),
  friendGetNameSize: f(
    "size_t tox_friend_get_name_size(void *tox, uint32_t friend_number, _Out_ int *error)",
  ),
  friendGetName: f(
    "bool tox_friend_get_name(void *tox, uint32_t friend_number, _Out_ uint8_t *name, _Out_ int *error)",
  ),
  friendSendMessage: f(
    "uint32_t tox_friend_send_message(void *tox, uint32_t friend_number, int type, const uint8_t *message, size_t length, _Out_ int *error)",
  ),
  friendSendLossless: f(
    "bool tox_friend_send_lossless_packet(void *tox, uint32_t friend_number, const uint8_t *data, size_t length, _Out_ int *error)",
  ),
  friendSendLossy: f(
    "bool tox_friend_send_lossy_packet(void *tox, uint32_t friend_number, const uint8_t *data, size_t length, _Out_ int *error)",
  ),

  fileSend: f(
    "uint32_t tox_file_send(void *tox, uint32_t friend_number, uint32_t kind, uint64_t file_size, const uint8_t *file_id, const uint8_t *filename, size_t filename_length, _Out_ int *error)",
  ),
  fileSendChunk: f(
    "bool tox_file_send_chunk(void *tox, uint32_t friend_number, uint32_t file_number, uint64_t position, const uint8_t *data, size_t length, _Out_ int *error)",
  ),
  fileControl: f(
    "bool tox_file_control(void *tox, uint32_t friend_number, uint32_t file_number, int control, _Out_ int *error)",
  ),
  fileSeek: f(
    "bool tox_file_seek(void *tox, uint32_t friend_number, uint32_t file_number, uint64_t position, _Out_ int *error)",
  ),
  fileGetFileId: f(
    "bool tox_file_get_file_id(void *tox, uint32_t friend_number, uint32_t file_number, _Out_ uint8_t *file_id, _Out_ int *error)",
  ),

  conferenceNew: f("uint32_t tox_conference_new(void *tox, _Out_ int *error)"),
  conferenceDelete: f("bool tox_conference_delete(void *tox, uint32_t conference_number, _Out_ int *error)"),
  conferenceInvite: f(
    "bool tox_conference_invite(void *tox, uint32_t friend_number, uint32_t conference_number, _Out_ int *error)",
  ),
  conferenceJoin: f(
    "uint32_t tox_conference_join(void *tox, uint32_t friend_number, const uint8_t *cookie, size_t length, _Out_ int *error)",
  ),
  conferenceSendMessage: f(
    "bool tox_conference_send_message(void *tox, uint32_t conference_number, int type, const uint8_t *message, size_t length, _Out_ int *error)",
  ),
  conferencePeerCount: f(
    "uint32_t tox_conference_peer_count(void *tox, uint32_t conference_number, _Out_ int *error)",
  ),
  conferenceSetTitle: f(
    "bool tox_conference_set_title(void *tox, uint32_t conference_number, const uint8_t *title, size_t length, _Out_ int *error)",
  ),
  conferenceGetId: f("bool tox_conference_get_id(void *tox, uint32_t conference_number, _Out_ uint8_t *id)"),
};

/**
 * Callback setters, keyed by the event they feed. Every `tox_callback_*` takes the callback as a
 * plain pointer here so the harness can pass either a registered trampoline or null.
 */
export const setCallback = {
  selfConnectionStatus: f("void tox_callback_self_connection_status(void *tox, void *cb)"),
  friendRequest: f("void tox_callback_friend_request(void *tox, void *cb)"),
  friendConnectionStatus: f("void tox_callback_friend_connection_status(void *tox, void *cb)"),
  friendMessage: f("void tox_callback_friend_message(void *tox, void *cb)"),
  friendReadReceipt: f("void tox_callback_friend_read_receipt(void *tox, void *cb)"),
  friendName: f("void tox_callback_friend_name(void *tox, void *cb)"),
  friendStatusMessage: f("void tox_callback_friend_status_message(void *tox, void *cb)"),
  friendStatus: f("void tox_callback_friend_status(void *tox, void *cb)"),
  friendTyping: f("void tox_callback_friend_typing(void *tox, void *cb)"),
  friendLosslessPacket: f("void tox_callback_friend_lossless_packet(void *tox, void *cb)"),
  friendLossyPacket: f("void tox_callback_friend_lossy_packet(void *tox, void *cb)"),
  fileRecv: f("void tox_callback_file_recv(void *tox, void *cb)"),
  fileRecvChunk: f("void tox_callback_file_recv_chunk(void *tox, void *cb)"),
  fileChunkRequest: f("void tox_callback_file_chunk_request(void *tox, void *cb)"),
  fileRecvControl: f("void tox_callback_file_recv_control(void *tox, void *cb)"),
  conferenceInvite: f("void tox_callback_conference_invite(void *tox, void *cb)"),
  conferenceConnected: f("void tox_callback_conference_connected(void *tox, void *cb)"),
  conferenceMessage: f("void tox_callback_conference_message(void *tox, void *cb)"),
  conferencePeerListChanged: f("void tox_callback_conference_peer_list_changed(void *tox, void *cb)"),
} as const;

export type CallbackName = keyof typeof setCallback;

/** C prototypes of the callbacks, one per `setCallback` entry (names unique within the process). */
export const callbackProto: Record<CallbackName, ReturnType<typeof koffi.proto>> = {
  selfConnectionStatus: koffi.proto("void ctoxh_self_conn_cb(void *tox, int status, void *ud)"),
  friendRequest: koffi.proto(
    "void ctoxh_friend_request_cb(void *tox, void *pk, void *msg, size_t length, void *ud)",
  ),
  friendConnectionStatus: koffi.proto(
    "void ctoxh_friend_conn_cb(void *tox, uint32_t friend_number, int status, void *ud)",
  ),
  friendMessage: koffi.proto(
    "void ctoxh_friend_message_cb(void *tox, uint32_t friend_number, int type, void *msg, size_t length, void *ud)",
  ),
  friendReadReceipt: koffi.proto(
    "void ctoxh_friend_receipt_cb(void *tox, uint32_t friend_number, uint32_t message_id, void *ud)",
  ),
  friendName: koffi.proto(
    "void ctoxh_friend_name_cb(void *tox, uint32_t friend_number, void *name, size_t length, void *ud)",
  ),
  friendStatusMessage: koffi.proto(
    "void ctoxh_friend_status_message_cb(void *tox, uint32_t friend_number, void *msg, size_t length, void *ud)",
  ),
  friendStatus: koffi.proto(
    "void ctoxh_friend_status_cb(void *tox, uint32_t friend_number, int status, void *ud)",
  ),
  friendTyping: koffi.proto(
    "void ctoxh_friend_typing_cb(void *tox, uint32_t friend_number, bool typing, void *ud)",
  ),
  friendLosslessPacket: koffi.proto(
    "void ctoxh_friend_lossless_cb(void *tox, uint32_t friend_number, void *data, size_t length, void *ud)",
  ),
  friendLossyPacket: koffi.proto(
    "void ctoxh_friend_lossy_cb(void *tox, uint32_t friend_number, void *data, size_t length, void *ud)",
  ),
  fileRecv: koffi.proto(
    "void ctoxh_file_recv_cb(void *tox, uint32_t friend_number, uint32_t file_number, uint32_t kind, uint64_t file_size, void *filename, size_t length, void *ud)",
  ),
  fileRecvChunk: koffi.proto(
    "void ctoxh_file_recv_chunk_cb(void *tox, uint32_t friend_number, uint32_t file_number, uint64_t position, void *data, size_t length, void *ud)",
  ),
  fileChunkRequest: koffi.proto(
    "void ctoxh_file_chunk_request_cb(void *tox, uint32_t friend_number, uint32_t file_number, uint64_t position, size_t length, void *ud)",
  ),
  fileRecvControl: koffi.proto(
    "void ctoxh_file_recv_control_cb(void *tox, uint32_t friend_number, uint32_t file_number, int control, void *ud)",
  ),
  conferenceInvite: koffi.proto(
    "void ctoxh_conf_invite_cb(void *tox, uint32_t friend_number, int type, void *cookie, size_t length, void *ud)",
  ),
  conferenceConnected: koffi.proto("void ctoxh_conf_connected_cb(void *tox, uint32_t conference, void *ud)"),
  conferenceMessage: koffi.proto(
    "void ctoxh_conf_message_cb(void *tox, uint32_t conference, uint32_t peer, int type, void *msg, size_t length, void *ud)",
  ),
  conferencePeerListChanged: koffi.proto(
    "void ctoxh_conf_peers_cb(void *tox, uint32_t conference, void *ud)",
  ),
};

export const logProto = koffi.proto(
  "void ctoxh_log_cb(void *tox, int level, const char *file, uint32_t line, const char *func, const char *message, void *ud)",
);

/** Copies `length` bytes out of C memory (callback arguments are only valid during the call). */
export function copyBytes(ptr: unknown, length: number | bigint): Uint8Array {
  const n = Number(length);
  if (n === 0 || ptr === null) return new Uint8Array(0);
  return new Uint8Array(koffi.view(ptr, n)).slice();
}

/** The address of a C pointer, used to route shared callbacks to the owning peer. */
export function addressOf(ptr: unknown): bigint {
  return koffi.address(ptr);
}

export { koffi };
