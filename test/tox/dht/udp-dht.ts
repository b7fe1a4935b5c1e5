/**
 * Runs one of our Dht nodes on a real UDP socket for interop tests: UdpTransport -> PacketRouter
 * -> Dht, ticked by a timer. (The production wiring belongs to ToxNode; this is the test edge.)
 */
import { systemClock } from "../../../src/tox/clock.js";
import { Dht, type DhtOptions } from "../../../src/tox/dht/dht.js";
import { PacketRouter } from "../../../src/tox/transport/router.js";
import { UdpTransport } from "../../../src/tox/transport/udp.js";

export interface UdpDht {
  dht: Dht;
  udp: UdpTransport;
  router: PacketRouter;
  stop(): Promise<void>;
}

export async function startUdpDht(
  port: number | [number, number],
  opts: Partial<DhtOptions> = {},
): Promise<UdpDht> {
  const router = new PacketRouter();
  const udp = await UdpTransport.open({ host: "127.0.0.1", port, onPacket: router.handle });
  const dht = new Dht({ clock: systemClock, sink: udp, ...opts });
  for (const id of [0x00, 0x01, 0x02, 0x04, 0x20, 0x21, 0xf0])
    router.register(id, (from, data) => dht.handlePacket(from, data));
  const timer = setInterval(() => dht.tick(), 50);
  dht.tick();
  return {
    dht,
    udp,
    router,
    stop: async () => {
      clearInterval(timer);
      await udp.close();
    },
  };
}
