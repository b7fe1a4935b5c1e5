/**
 * DHT timers and sizes, as c-toxcore 0.2.18 (DHT.h, DHT.c, ping.c) so C nodes see the
 * behaviour they expect. Times are in milliseconds of the injected Clock.
 */

/** `LCLIENT_LENGTH`: close-list buckets, indexed by common prefix bits with our key. */
export const LCLIENT_LENGTH = 128;
/** `LCLIENT_NODES`: entries per bucket. */
export const LCLIENT_NODES = 8;
export const LCLIENT_LIST = LCLIENT_LENGTH * LCLIENT_NODES;
/** `MAX_FRIEND_CLIENTS`: nodes kept per searched ("friend") key. */
export const MAX_FRIEND_CLIENTS = 8;
/** `DHT_FRIEND_MAX_LOCKS`. */
export const DHT_FRIEND_MAX_LOCKS = 32;
/** `MAX_CLOSE_TO_BOOTSTRAP_NODES`: new close-list candidates queued per round. */
export const MAX_CLOSE_TO_BOOTSTRAP_NODES = 8;
/** `DHT_FAKE_FRIEND_NUMBER`: random keys searched so onion paths get nodes all over the key space. */
export const DHT_FAKE_FRIEND_NUMBER = 2;

/** `PING_TIMEOUT`: a ping id (ping or nodes request) is valid this long. */
export const PING_TIMEOUT_MS = 5_000;
/** `DHT_PING_ARRAY_SIZE` / `PING_NUM_MAX`. */
export const PING_ARRAY_SIZE = 512;
/** `PING_INTERVAL`: every listed node gets a nodes request this often (liveness check). */
export const PING_INTERVAL_MS = 60_000;
/** `BAD_NODE_TIMEOUT` = 60 + 1·(60 + 2) s: not returned to others, slot replaceable. */
export const BAD_NODE_TIMEOUT_MS = 122_000;
/** `KILL_NODE_TIMEOUT`: stop pinging. */
export const KILL_NODE_TIMEOUT_MS = BAD_NODE_TIMEOUT_MS + PING_INTERVAL_MS;
/** `GET_NODE_INTERVAL`: a nodes request to a random good node of each list. */
export const GET_NODE_INTERVAL_MS = 20_000;
/** `MAX_BOOTSTRAP_TIMES`: the first few random nodes requests go out every round. */
export const MAX_BOOTSTRAP_TIMES = 5;
/** `MAX_TO_PING` / `TIME_TO_PING`: newly heard-of nodes are pinged in batches (anti-amplification). */
export const MAX_TO_PING = 32;
export const TIME_TO_PING_MS = 2_000;

/** NAT traversal (DHT.c): `PUNCH_INTERVAL`, `PUNCH_RESET_TIME`, ports and tries. */
export const PUNCH_INTERVAL_MS = 3_000;
export const PUNCH_RESET_TIME_MS = 40_000;
export const MAX_PUNCHING_PORTS = 48;
export const MAX_NORMAL_PUNCHING_TRIES = 5;

/** How often the DHT wants `tick()` (c-toxcore's DHT clock has one-second resolution). */
export const DHT_TICK_MS = 1_000;
/** Our own pacing of `bootstrap()` calls: at most this many nodes requests per tick. */
export const BOOTSTRAP_PER_TICK = 8;
/** While not connected, bootstrap nodes are asked again this often (ours, not c-toxcore's). */
export const BOOTSTRAP_RETRY_MS = 5_000;
export const MAX_REMEMBERED_BOOTSTRAP_NODES = 32;
/** LAN discovery interval (friend_connection.c `LAN_DISCOVERY_INTERVAL`). */
export const LAN_DISCOVERY_INTERVAL_MS = 10_000;
