/**
 * A minimal koffi binding to libtoxcore.so.2 (0.2.18) for the net_crypto interop test: one C
 * peer, friend add without request, messages and the three friend callbacks. Stop-gap until the
 * shared harness (test/interop/ctoxcore.ts) lands; it mirrors that harness's surface.
 */
import { EventEmitter } from "node:events";
import koffi, { type TypeObject } from "koffi";
import { toHex } from "../../../src/tox/bytes.js";

const lib = koffi.load("libtoxcore.so.2");
const optionsNew = lib.func("void *tox_options_new(_Out_ int *error)");
const optionsFree = lib.func("void tox_options_free(void *options)");
const setIpv6 = lib.func("void tox_options_set_ipv6_enabled(void *options, bool enabled)");
const setUdp = lib.func("void tox_options_set_udp_enabled(void *options, bool enabled)");
const setLocalDiscovery = lib.func(
  "void tox_options_set_local_discovery_enabled(void *options, bool enabled)",
);
const setStartPort = lib.func("void tox_options_set_start_port(void *options, uint16_t port)");
const setEndPort = lib.func("void tox_options_set_end_port(void *options, uint16_t port)");
const toxNew = lib.func("void *tox_new(void *options, _Out_ int *error)");
const toxKill = lib.func("void tox_kill(void *tox)");
const toxIterate = lib.func("void tox_iterate(void *tox, void *user_data)");
const iterationInterval = lib.func("uint32_t tox_iteration_interval(void *tox)");
const selfPk = lib.func("void tox_self_get_public_key(void *tox, _Out_ uint8_t *pk)");
const selfDhtId = lib.func("void tox_self_get_dht_id(void *tox, _Out_ uint8_t *pk)");
const selfUdpPort = lib.func("uint16_t tox_self_get_udp_port(void *tox, _Out_ int *error)");
const friendAddNoRequest = lib.func(
  "uint32_t tox_friend_add_norequest(void *tox, const uint8_t *pk, _Out_ int *error)",
);
const friendSendMessage = lib.func(
  "uint32_t tox_friend_send_message(void *tox, uint32_t friend_number, int type, const uint8_t *message, size_t length, _Out_ int *error)",
);

const connectionStatusCb = koffi.proto(
  "void ctoxmin_conn_cb(void *tox, uint32_t friend_number, int status, void *user_data)",
);
const messageCb = koffi.proto(
  "void ctoxmin_msg_cb(void *tox, uint32_t friend_number, int type, void *message, size_t length, void *user_data)",
);
const receiptCb = koffi.proto(
  "void ctoxmin_receipt_cb(void *tox, uint32_t friend_number, uint32_t message_id, void *user_data)",
);
const callbackConnectionStatus = lib.func(
  "void tox_callback_friend_connection_status(void *tox, ctoxmin_conn_cb *cb)",
);
const callbackMessage = lib.func("void tox_callback_friend_message(void *tox, ctoxmin_msg_cb *cb)");
const callbackReceipt = lib.func("void tox_callback_friend_read_receipt(void *tox, ctoxmin_receipt_cb *cb)");

export interface CToxPeerEvents {
  friendConnectionStatus: [friend: number, status: number];
  friendMessage: [friend: number, type: number, message: string];
  friendReadReceipt: [friend: number, messageId: number];
}

export class CToxPeer extends EventEmitter<CToxPeerEvents> {
  private tox: unknown;
  private timer: NodeJS.Timeout | undefined;
  private readonly registered: unknown[] = [];
  readonly publicKey: Uint8Array;
  readonly dhtId: Uint8Array;
  readonly udpPort: number;

  private constructor(tox: unknown) {
    super();
    this.tox = tox;
    this.publicKey = new Uint8Array(32);
    selfPk(tox, this.publicKey);
    this.dhtId = new Uint8Array(32);
    selfDhtId(tox, this.dhtId);
    this.udpPort = selfUdpPort(tox, [0]) as number;
    const reg = (fn: (...a: never[]) => void, proto: TypeObject) => {
      const p = koffi.register(fn as (...a: unknown[]) => void, koffi.pointer(proto));
      this.registered.push(p);
      return p;
    };
    callbackConnectionStatus(
      tox,
      reg(
        (_t: unknown, f: number, s: number) => this.emit("friendConnectionStatus", f, s),
        connectionStatusCb,
      ),
    );
    callbackMessage(
      tox,
      reg((_t: unknown, f: number, type: number, msg: unknown, len: number) => {
        const bytes = new Uint8Array(koffi.decode(msg, koffi.array("uint8_t", Number(len))) as number[]);
        this.emit("friendMessage", f, type, new TextDecoder().decode(bytes));
      }, messageCb),
    );
    callbackReceipt(
      tox,
      reg((_t: unknown, f: number, id: number) => this.emit("friendReadReceipt", f, id), receiptCb),
    );
  }

  /** A UDP-only, IPv4, no-LAN-discovery instance on 127.0.0.1 ports 33445–33545, iterating itself. */
  static create(): CToxPeer {
    const err = [0];
    const opts = optionsNew(err);
    setIpv6(opts, false);
    setUdp(opts, true);
    setLocalDiscovery(opts, false);
    setStartPort(opts, 33445);
    setEndPort(opts, 33545);
    const tox = toxNew(opts, err);
    optionsFree(opts);
    if (!tox) throw new Error(`tox_new failed: error ${err[0]}`);
    const peer = new CToxPeer(tox);
    peer.schedule();
    return peer;
  }

  private schedule(): void {
    if (!this.tox) return;
    toxIterate(this.tox, null);
    const wait = Math.max(1, Math.min(50, iterationInterval(this.tox) as number));
    this.timer = setTimeout(() => this.schedule(), wait);
  }

  get publicKeyHex(): string {
    return toHex(this.publicKey);
  }

  friendAddNoRequest(pk: Uint8Array): number {
    const err = [0];
    const n = friendAddNoRequest(this.tox, pk, err) as number;
    if (err[0] !== 0) throw new Error(`tox_friend_add_norequest failed: ${err[0]}`);
    return n;
  }

  sendMessage(friend: number, text: string): number {
    const bytes = new TextEncoder().encode(text);
    const err = [0];
    const id = friendSendMessage(this.tox, friend, 0, bytes, bytes.length, err) as number;
    if (err[0] !== 0) throw new Error(`tox_friend_send_message failed: ${err[0]}`);
    return id;
  }

  kill(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.tox) toxKill(this.tox);
    this.tox = null;
    for (const p of this.registered) koffi.unregister(p as bigint);
  }
}
