/** The DHT layer's public surface (see dht.ts for behaviour). */
export { DHT_TICK_MS, MAX_FRIEND_CLIENTS } from "./constants.js";
export { type CryptoPacketHandler, Dht, type DhtLogger, type DhtOptions, type DhtStats } from "./dht.js";
export { commonPrefixBits, compareDistance } from "./distance.js";
