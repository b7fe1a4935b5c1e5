/**
 * Shared routing at the DHT level: a leaf DHT (one hosted identity's key on its own socket)
 * routed by a backbone DHT, in the in-memory mesh. The friend is a plain node of the mesh that
 * behaves as c-toxcore does after a DHT-PK announcement: it asks each listed node for our key.
 */
import { describe, expect, it } from "vitest";
import type { Dht } from "../../../src/tox/dht/dht.js";
import { onionDhtView } from "../../../src/tox/onion/dht-view.js";
import { parseNodesResponse } from "../../../src/tox/wire/dht.js";
import { type IpPort, ipPort, ipPortEqual } from "../../../src/tox/wire/ipport.js";
import { Mesh } from "./mesh.js";

const BACKBONE = ipPort("198.19.0.1", 33445);
const LEAF = ipPort("198.19.0.1", 33500);

function network(size = 24) {
  const mesh = new Mesh();
  for (let i = 0; i < size; i++) mesh.add();
  for (let i = 1; i < size; i++) mesh.bootstrap(i, 0);
  const backbone = mesh.add(BACKBONE.ip, BACKBONE.port, {
    localAddress: BACKBONE,
    maxFriendLocks: Number.POSITIVE_INFINITY,
  });
  mesh.bootstrap(size, 0);
  const leaf = mesh.add(LEAF.ip, LEAF.port, { backbone, localAddress: LEAF });
  mesh.run(30_000);
  return { mesh, backbone, leaf, friend: mesh.nodes[5]! as Dht, friendAddr: mesh.addrs[5]! };
}

function sentFrom(mesh: Mesh, addr: IpPort) {
  return mesh.log.filter((p) => ipPortEqual(p.from, addr));
}

describe("leaf DHT routed by a backbone", () => {
  it("keeps no lists and sends nothing on its own; the backbone is connected for it", () => {
    const { mesh, leaf, backbone } = network();
    mesh.keepLog = true;
    mesh.run(300_000);
    expect(sentFrom(mesh, LEAF)).toHaveLength(0);
    expect(leaf.nextTickIn()).toBe(Number.POSITIVE_INFINITY);
    expect(backbone.isConnected()).toBe(true);
    expect(leaf.isConnected()).toBe(true);
    expect(leaf.closeNodes().length).toBe(backbone.closeNodes().length);
    // Nobody has the leaf in a list: it never introduced itself.
    for (const n of mesh.nodes)
      if (n !== leaf) expect(n.closeNodes().some((x) => ipPortEqual(x.ipPort, LEAF))).toBe(false);
  });

  it("a friend that asks the leaf for its key (as after a DHT-PK) finds its address", () => {
    const { mesh, leaf, friend, backbone } = network();
    const found: IpPort[] = [];
    friend.addFriend(leaf.publicKey, (at) => found.push(at));
    mesh.keepLog = true;
    friend.requestNodes({ ipPort: LEAF, publicKey: leaf.publicKey }, leaf.publicKey);
    mesh.deliverAll();
    expect(found.some((a) => ipPortEqual(a, LEAF))).toBe(true);
    // The answer carried nodes (c-toxcore drops empty ones), from the backbone's lists, and the
    // leaf did not ping the friend back (it keeps no lists).
    const replies = sentFrom(mesh, LEAF);
    expect(replies).toHaveLength(1);
    const parsed = parseNodesResponse(replies[0]!.data, leaf.sharedKey(friend.publicKey));
    expect(parsed.ok && parsed.value.nodes.length).toBeGreaterThan(0);
    expect(backbone.isSearching(leaf.publicKey)).toBe(false);
  });

  it("answers with the backbone itself while the backbone knows no node", () => {
    const mesh = new Mesh();
    const friend = mesh.add();
    const backbone = mesh.add(BACKBONE.ip, BACKBONE.port, { localAddress: BACKBONE });
    const leaf = mesh.add(LEAF.ip, LEAF.port, { backbone, localAddress: LEAF });
    const found: IpPort[] = [];
    friend.addFriend(leaf.publicKey, (at) => found.push(at));
    mesh.keepLog = true;
    friend.requestNodes({ ipPort: LEAF, publicKey: leaf.publicKey }, leaf.publicKey);
    mesh.deliverAll();
    const reply = sentFrom(mesh, LEAF)[0]!;
    const parsed = parseNodesResponse(reply.data, leaf.sharedKey(friend.publicKey));
    expect(parsed.ok && parsed.value.nodes.map((n) => n.ipPort)).toEqual([BACKBONE]);
    expect(found).toEqual([LEAF]);
  });

  it("hands its friend searches to the backbone, which reports the friend's address", () => {
    const { mesh, leaf, friend, friendAddr, backbone } = network();
    const found: IpPort[] = [];
    const lock = leaf.addFriend(friend.publicKey, (at) => found.push(at));
    expect(backbone.isSearching(friend.publicKey)).toBe(true);
    mesh.run(20_000);
    expect(found.some((a) => ipPortEqual(a, friendAddr))).toBe(true);
    expect(leaf.getFriendAddress(friend.publicKey)).toEqual(friendAddr);
    expect(leaf.removeFriend(friend.publicKey, lock)).toBe(true);
    expect(backbone.isSearching(friend.publicKey)).toBe(false);
  });

  it("boxes 0x20 packets with its own key and sends them from its own socket", () => {
    const { mesh, leaf, friend, friendAddr } = network();
    leaf.addFriend(friend.publicKey);
    mesh.run(20_000);
    const got: { from: IpPort; sender: Uint8Array; data: Uint8Array }[] = [];
    friend.onCryptoPacket(0x9c, (from, sender, data) => got.push({ from, sender, data }));
    expect(leaf.sendCryptoPacket(friend.publicKey, 0x9c, Uint8Array.of(1, 2, 3))).toBe(1);
    mesh.deliverAll();
    expect(got).toHaveLength(1);
    expect(got[0]!.from).toEqual(LEAF);
    expect(got[0]!.sender).toEqual(leaf.publicKey);
    expect([...got[0]!.data]).toEqual([1, 2, 3]);
    expect(friendAddr).toBeDefined();
  });

  it("lists itself first in what its DHT-PK announces, and others' nodes for other keys", () => {
    const { leaf, friend } = network();
    const view = onionDhtView(leaf);
    const own = view.closeNodes(leaf.publicKey, 4, true);
    expect(own[0]).toEqual({ protocol: "udp", ipPort: LEAF, publicKey: leaf.publicKey });
    expect(own.length).toBe(4);
    const other = view.closeNodes(friend.publicKey, 4, true);
    expect(other.some((n) => ipPortEqual(n.ipPort, LEAF))).toBe(false);
  });

  it("a leaf bound to 0.0.0.0 lists itself at the IP the DHT reports for the backbone", () => {
    const mesh = new Mesh();
    for (let i = 0; i < 12; i++) mesh.add();
    for (let i = 1; i < 12; i++) mesh.bootstrap(i, 0);
    const backbone = mesh.add(BACKBONE.ip, BACKBONE.port, { localAddress: ipPort("0.0.0.0", BACKBONE.port) });
    mesh.bootstrap(12, 0);
    const leaf = mesh.add(LEAF.ip, LEAF.port, { backbone, localAddress: ipPort("0.0.0.0", LEAF.port) });
    expect(leaf.selfNode()).toBeUndefined();
    mesh.run(130_000);
    expect(backbone.externalIp()).toBe(BACKBONE.ip);
    expect(leaf.selfNode()?.ipPort).toEqual(LEAF);
  });

  it("the backbone takes any number of locks on one key; the same bootstrap node is queued once", () => {
    const { backbone, leaf, friend, mesh } = network();
    const locks = Array.from({ length: 100 }, () => leaf.addFriend(friend.publicKey));
    expect(new Set(locks).size).toBe(100);
    for (const l of locks.slice(0, 99)) leaf.removeFriend(friend.publicKey, l);
    expect(backbone.isSearching(friend.publicKey)).toBe(true);
    mesh.keepLog = true;
    const node = { ipPort: mesh.addrs[7]!, publicKey: mesh.nodes[7]!.publicKey };
    for (let i = 0; i < 200; i++) leaf.bootstrap(node);
    mesh.run(3_000);
    const asked = mesh.log.filter((p) => ipPortEqual(p.from, BACKBONE) && ipPortEqual(p.to, node.ipPort));
    expect(asked.length).toBeLessThan(10);
  });
});
