import { describe, expect, it } from "vitest";
import { describeRouterError, PacketRouter, type RouterError } from "../../../src/tox/transport/router.js";
import { ipPort } from "../../../src/tox/wire/ipport.js";

const from = ipPort("127.0.0.1", 1);

describe("PacketRouter", () => {
  it("dispatches by first byte, to single ids and ranges", () => {
    const r = new PacketRouter();
    const seen: string[] = [];
    r.register(0x02, (_f, d) => seen.push(`dht:${d.length}`));
    r.register([0x18, 0x1b], (_f, d) => seen.push(`crypto:${d[0]}`));
    r.handle(from, Uint8Array.of(0x02, 9));
    r.handle(from, Uint8Array.of(0x1a));
    r.handle(from, Uint8Array.of(0x80));
    r.handle(from, new Uint8Array(0));
    expect(seen).toEqual(["dht:2", "crypto:26"]);
    expect(r.stats.dispatched).toBe(2);
    expect(r.stats.unhandled).toBe(2);
    expect(r.stats.byId.get(0x1a)).toBe(1);
  });

  it("catches and counts handler exceptions so the socket keeps working", () => {
    const errors: RouterError[] = [];
    const r = new PacketRouter((e) => errors.push(e));
    r.register(0x20, () => {
      throw new Error("boom");
    });
    let ok = 0;
    r.register(0x00, () => ok++);
    expect(() => r.handle(from, Uint8Array.of(0x20))).not.toThrow();
    r.handle(from, Uint8Array.of(0x00));
    expect(ok).toBe(1);
    expect(r.stats.handlerErrors).toBe(1);
    expect(describeRouterError(errors[0]!)).toBe("handler for packet 0x20 from 127.0.0.1:1 threw: boom");
  });

  it("unregisters only its own handler", () => {
    const r = new PacketRouter();
    let a = 0;
    let b = 0;
    const offA = r.register(0x05, () => a++);
    r.register(0x05, () => b++);
    offA();
    r.handle(from, Uint8Array.of(0x05));
    expect([a, b]).toEqual([0, 1]);
    expect(() => r.register([3, 1], () => {})).toThrow(RangeError);
  });
});
