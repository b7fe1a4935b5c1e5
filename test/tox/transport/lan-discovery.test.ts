import { describe, expect, it } from "vitest";
import { ManualClock } from "../../../src/tox/clock.js";
import { ipv4BroadcastAddresses, LanDiscovery } from "../../../src/tox/transport/lan-discovery.js";
import type { IpPort } from "../../../src/tox/wire/ipport.js";

describe("LanDiscovery", () => {
  it("every 10 s sends to each broadcast address on 33445 plus the next 10 ports, cycling the range", () => {
    const clock = new ManualClock();
    const sent: IpPort[] = [];
    const lan = new LanDiscovery({
      clock,
      sink: { send: (to) => sent.push(to) },
      packet: () => Uint8Array.of(0x21, ...new Uint8Array(32)),
      addresses: () => ["192.168.1.255", "255.255.255.255"],
    });
    expect(lan.tick()).toBe(22);
    expect(sent.filter((s) => s.ip === "192.168.1.255").map((s) => s.port)).toEqual([
      33445, 33446, 33447, 33448, 33449, 33450, 33451, 33452, 33453, 33454, 33455,
    ]);
    expect(lan.tick()).toBe(0);
    expect(lan.nextTickIn()).toBe(10_000);
    const rounds: number[][] = [];
    for (let i = 0; i < 11; i++) {
      clock.advance(10_000);
      sent.length = 0;
      lan.tick();
      rounds.push(sent.filter((s) => s.ip === "255.255.255.255").map((s) => s.port));
    }
    expect(rounds[0]!.slice(1, 3)).toEqual([33456, 33457]);
    // 33446..33545 in steps of 10, then back to 33446.
    expect(rounds[8]).toEqual([33445, 33536, 33537, 33538, 33539, 33540, 33541, 33542, 33543, 33544]);
    expect(rounds[9]!.slice(0, 2)).toEqual([33445, 33446]);
  });

  it("computes broadcast addresses from interface address and netmask", () => {
    const addrs = ipv4BroadcastAddresses({
      eth0: [
        {
          address: "192.168.1.20",
          netmask: "255.255.255.0",
          family: "IPv4",
          mac: "00:00:00:00:00:00",
          internal: false,
          cidr: "192.168.1.20/24",
        },
      ],
      lo: [
        {
          address: "127.0.0.1",
          netmask: "255.0.0.0",
          family: "IPv4",
          mac: "00:00:00:00:00:00",
          internal: true,
          cidr: "127.0.0.1/8",
        },
      ],
    });
    expect(addrs).toEqual(["192.168.1.255", "255.255.255.255"]);
  });
});
