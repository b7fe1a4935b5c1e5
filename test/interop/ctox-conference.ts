/**
 * Conference getters for CToxPeer that the shared harness does not bind (title, peer names and
 * keys), kept here so ctoxcore.ts stays untouched. Reads the peer's `Tox *` from the instance.
 */
import { CToxError, type CToxPeer } from "./ctoxcore.js";
import { lib } from "./libtoxcore.js";

type Fn = (...args: unknown[]) => unknown;
const f = (decl: string): Fn => lib.func(decl) as Fn;

const c = {
  titleSize: f("size_t tox_conference_get_title_size(void *tox, uint32_t conference, _Out_ int *error)"),
  title: f(
    "bool tox_conference_get_title(void *tox, uint32_t conference, _Out_ uint8_t *title, _Out_ int *error)",
  ),
  peerNameSize: f(
    "size_t tox_conference_peer_get_name_size(void *tox, uint32_t conference, uint32_t peer, _Out_ int *error)",
  ),
  peerName: f(
    "bool tox_conference_peer_get_name(void *tox, uint32_t conference, uint32_t peer, _Out_ uint8_t *name, _Out_ int *error)",
  ),
  peerPk: f(
    "bool tox_conference_peer_get_public_key(void *tox, uint32_t conference, uint32_t peer, _Out_ uint8_t *pk, _Out_ int *error)",
  ),
};

const decoder = new TextDecoder();

function ptr(peer: CToxPeer): unknown {
  const p = (peer as unknown as { ptr: unknown }).ptr;
  if (!p) throw new CToxError("conference getter", 0, `${peer.label} is dead`);
  return p;
}

export function conferenceTitle(peer: CToxPeer, conference: number): string {
  const err = [0];
  const size = Number(c.titleSize(ptr(peer), conference, err));
  if (err[0] !== 0) return "";
  const out = new Uint8Array(Math.max(1, size));
  c.title(ptr(peer), conference, out, err);
  return decoder.decode(out.subarray(0, size));
}

/** Names of the conference's current peers (by peer index). */
export function conferencePeerNames(peer: CToxPeer, conference: number): string[] {
  const names: string[] = [];
  const count = peer.conferencePeerCount(conference);
  for (let i = 0; i < count; i++) {
    const err = [0];
    const size = Number(c.peerNameSize(ptr(peer), conference, i, err));
    const out = new Uint8Array(Math.max(1, size));
    c.peerName(ptr(peer), conference, i, out, err);
    names.push(decoder.decode(out.subarray(0, size)));
  }
  return names;
}

export function conferencePeerKeys(peer: CToxPeer, conference: number): Uint8Array[] {
  const keys: Uint8Array[] = [];
  const count = peer.conferencePeerCount(conference);
  for (let i = 0; i < count; i++) {
    const out = new Uint8Array(32);
    c.peerPk(ptr(peer), conference, i, out, [0]);
    keys.push(out);
  }
  return keys;
}
