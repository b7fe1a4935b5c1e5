import dgram from "node:dgram";
import { afterEach, describe, expect, it } from "vitest";
import { seededRandom, UdpTransport } from "../../../src/tox/transport/udp.js";
import { type IpPort, ipPort } from "../../../src/tox/wire/ipport.js";
import { waitUntil } from "../../helpers/wait.js";

// Ports 34260-34273 (registered in test/helpers/ports.ts: this file runs beside others).
const open: UdpTransport[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

async function make(
  port: number | [number, number],
  extra: Partial<Parameters<typeof UdpTransport.open>[0]> = {},
) {
  const got: Array<{ from: IpPort; data: Uint8Array }> = [];
  const t = await UdpTransport.open({
    host: "127.0.0.1",
    port,
    onPacket: (from, data) => got.push({ from, data }),
    ...extra,
  });
  open.push(t);
  return { t, got };
}

const until = (pred: () => boolean, what: string): Promise<number> => waitUntil(pred, 2000, what);

describe("UdpTransport", () => {
  it("sends and receives on loopback, reporting the sender address and counting", async () => {
    const a = await make(34260);
    const b = await make(34261);
    a.t.send(b.t.local, Uint8Array.of(1, 2, 3));
    await until(() => b.got.length === 1, "the datagram at b");
    expect(b.got[0]!.from).toEqual(ipPort("127.0.0.1", 34260));
    expect([...b.got[0]!.data]).toEqual([1, 2, 3]);
    expect(a.t.counters.packetsOut).toBe(1);
    expect(a.t.counters.bytesOut).toBe(3);
    expect(b.t.counters.packetsIn).toBe(1);
    expect(b.t.counters.bytesIn).toBe(3);
  });

  it("takes the first free port of a range", async () => {
    const a = await make([34262, 34265]);
    const b = await make([34262, 34265]);
    expect(a.t.local.port).toBe(34262);
    expect(b.t.local.port).toBe(34263);
    await expect(make([34262, 34263])).rejects.toThrow(/no free UDP port/);
  });

  it("drops a seeded fraction of packets, reproducibly", async () => {
    const runOnce = async (base: number) => {
      const a = await make(base, { lossRate: 0.3, lossSeed: 42 });
      const b = await make(base + 1);
      for (let i = 0; i < 500; i++) a.t.send(b.t.local, Uint8Array.of(i & 0xff));
      expect(a.t.counters.packetsOut + a.t.counters.droppedOut).toBe(500);
      await until(() => b.got.length > 0, "a datagram at b");
      return a.t.counters.droppedOut;
    };
    const d1 = await runOnce(34266);
    const d2 = await runOnce(34268);
    expect(d1).toBe(d2);
    expect(d1).toBeGreaterThan(100);
    expect(d1).toBeLessThan(200);
  });

  it("ignores empty and oversized datagrams and survives sending to a bad address", async () => {
    const b = await make(34270);
    const raw = dgram.createSocket("udp4");
    await new Promise<void>((r) => raw.send(Buffer.alloc(0), 34270, "127.0.0.1", () => r()));
    await new Promise<void>((r) => raw.send(Buffer.alloc(3000), 34270, "127.0.0.1", () => r()));
    await new Promise<void>((r) => raw.send(Buffer.alloc(10, 7), 34270, "127.0.0.1", () => r()));
    await until(() => b.got.length === 1, "the datagram at b");
    expect(b.t.counters.droppedIn).toBe(2);
    raw.close();
    b.t.send({ family: 6, ip: "::1", port: 1 }, Uint8Array.of(1));
    await until(() => b.t.counters.sendErrors === 1, "the send error to be counted");
  });

  it("a dual-stack socket talks to IPv4 peers and reports them as IPv4", async () => {
    let dual: Awaited<ReturnType<typeof make>>;
    try {
      dual = await make(34272, { host: "::" });
    } catch {
      return; // no IPv6 in this environment
    }
    const v4 = await make(34273);
    dual.t.send(v4.t.local, Uint8Array.of(9));
    await until(() => v4.got.length === 1, "the datagram at the IPv4 socket");
    v4.t.send(v4.got[0]!.from, Uint8Array.of(8));
    await until(() => dual.got.length === 1, "the datagram at the dual-stack socket");
    expect(dual.got[0]!.from).toEqual(ipPort("127.0.0.1", 34273));
  });

  it("seededRandom is deterministic and uniform enough", () => {
    const r1 = seededRandom(7);
    const r2 = seededRandom(7);
    let sum = 0;
    for (let i = 0; i < 10_000; i++) {
      const x = r1();
      expect(x).toBe(r2());
      sum += x;
    }
    expect(sum / 10_000).toBeGreaterThan(0.45);
    expect(sum / 10_000).toBeLessThan(0.55);
  });
});
