/*
 * One idle c-toxcore instance, driven by bench/ctox-idle.ts over stdin/stdout (one line each).
 *
 * The bench runs one of these processes per identity ("one c-toxcore instance per identity" is the
 * anchor issue 4 compares against) and reads memory and CPU from /proc; what /proc cannot say per
 * process is UDP traffic, so this program counts it: it defines sendto/recvfrom (and send/recv,
 * which 0.2.18 uses only on TCP relay sockets) itself and forwards each call to the C library's
 * definition found with dlsym(RTLD_NEXT). The executable is linked with -rdynamic, so libtoxcore's
 * calls bind to these definitions (the executable comes first in the global symbol scope);
 * `--check` verifies that.
 *
 * Usage:
 *   idle --check                   prints CHECK ok|failed (are the socket calls interposed?)
 *   idle --bare                    stops before tox_new: prints BARE, waits for stdin to close;
 *                                  its RSS is the process without Tox (libraries, stack, stdio)
 *   idle --port P --bootstrap HOST:PORT:DHTKEYHEX [--bootstrap ...]
 *                                  one Tox instance on 127.0.0.1:P, UDP on, IPv6 and LAN discovery
 *                                  off (loopback), no TCP server, no friends, no savedata
 * Output: READY version=X.Y.Z port=P dht=HEX pk=HEX | SELF none|tcp|udp | FRIEND n=N none|tcp|udp |
 *         FRIEND_ADDED n=N | STATS k=v ... | ERROR text
 * Input:  stats | friend PKHEX (tox_friend_add_norequest) | quit. End of stdin also quits, so an
 *         instance never outlives the bench that started it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <tox/tox.h>
#include <unistd.h>

/* ---- socket call counters ------------------------------------------------------------------ */

struct traffic {
  uint64_t packets;
  uint64_t bytes;
};

static struct traffic udp_sent, udp_received, tcp_sent, tcp_received;

typedef ssize_t (*sendto_fn)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
typedef ssize_t (*recvfrom_fn)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
typedef ssize_t (*send_fn)(int, const void *, size_t, int);
typedef ssize_t (*recv_fn)(int, void *, size_t, int);

/* Looked up on first use: the C library's own definition, the next one after ours. */
static void *next_definition(const char *name) {
  void *f = dlsym(RTLD_NEXT, name);
  if (f == NULL) {
    fprintf(stderr, "idle: dlsym(RTLD_NEXT, %s) failed: %s\n", name, dlerror());
    abort();
  }
  return f;
}

static void count(struct traffic *t, ssize_t n) {
  /* Only datagrams that went out or came in: EAGAIN (c-toxcore drains its socket until the
   * receive call fails) and send errors are not traffic. */
  if (n >= 0) {
    t->packets++;
    t->bytes += (uint64_t)n;
  }
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to, socklen_t tolen) {
  static sendto_fn real;
  if (real == NULL) real = (sendto_fn)next_definition("sendto");
  const ssize_t n = real(fd, buf, len, flags, to, tolen);
  count(&udp_sent, n);
  return n;
}

ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from, socklen_t *fromlen) {
  static recvfrom_fn real;
  if (real == NULL) real = (recvfrom_fn)next_definition("recvfrom");
  const ssize_t n = real(fd, buf, len, flags, from, fromlen);
  count(&udp_received, n);
  return n;
}

ssize_t send(int fd, const void *buf, size_t len, int flags) {
  static send_fn real;
  if (real == NULL) real = (send_fn)next_definition("send");
  const ssize_t n = real(fd, buf, len, flags);
  count(&tcp_sent, n);
  return n;
}

ssize_t recv(int fd, void *buf, size_t len, int flags) {
  static recv_fn real;
  if (real == NULL) real = (recv_fn)next_definition("recv");
  const ssize_t n = real(fd, buf, len, flags);
  /* A TCP read of 0 bytes is the peer closing, not data. */
  if (n > 0) count(&tcp_received, n);
  return n;
}

/* ---- helpers ------------------------------------------------------------------------------- */

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void print_hex(const uint8_t *bytes, size_t len) {
  for (size_t i = 0; i < len; i++) printf("%02x", bytes[i]);
}

static bool parse_hex(const char *text, uint8_t *out, size_t len) {
  if (strlen(text) != 2 * len) return false;
  for (size_t i = 0; i < len; i++) {
    unsigned int byte;
    if (sscanf(text + 2 * i, "%2x", &byte) != 1) return false;
    out[i] = (uint8_t)byte;
  }
  return true;
}

static const char *connection_name(TOX_CONNECTION c) {
  switch (c) {
    case TOX_CONNECTION_UDP:
      return "udp";
    case TOX_CONNECTION_TCP:
      return "tcp";
    default:
      return "none";
  }
}

/* ---- Tox callbacks ------------------------------------------------------------------------- */

static void on_self_connection(Tox *tox, TOX_CONNECTION status, void *user_data) {
  (void)tox;
  (void)user_data;
  printf("SELF %s\n", connection_name(status));
  fflush(stdout);
}

static void on_friend_connection(Tox *tox, uint32_t friend_number, TOX_CONNECTION status, void *user_data) {
  (void)tox;
  (void)user_data;
  printf("FRIEND n=%u %s\n", friend_number, connection_name(status));
  fflush(stdout);
}

/* ---- commands ------------------------------------------------------------------------------ */

static uint64_t iterations;

static void print_stats(void) {
  printf("STATS udp_out_pkts=%llu udp_out_bytes=%llu udp_in_pkts=%llu udp_in_bytes=%llu "
         "tcp_out_calls=%llu tcp_out_bytes=%llu tcp_in_calls=%llu tcp_in_bytes=%llu iterations=%llu\n",
         (unsigned long long)udp_sent.packets, (unsigned long long)udp_sent.bytes,
         (unsigned long long)udp_received.packets, (unsigned long long)udp_received.bytes,
         (unsigned long long)tcp_sent.packets, (unsigned long long)tcp_sent.bytes,
         (unsigned long long)tcp_received.packets, (unsigned long long)tcp_received.bytes,
         (unsigned long long)iterations);
  fflush(stdout);
}

/* Returns false on `quit`. */
static bool run_command(Tox *tox, char *line) {
  if (strcmp(line, "quit") == 0) return false;
  if (strcmp(line, "stats") == 0) {
    print_stats();
  } else if (strncmp(line, "friend ", 7) == 0) {
    uint8_t pk[TOX_PUBLIC_KEY_SIZE];
    Tox_Err_Friend_Add err;
    if (!parse_hex(line + 7, pk, sizeof pk)) {
      printf("ERROR friend: want %d hex digits\n", 2 * TOX_PUBLIC_KEY_SIZE);
    } else {
      const uint32_t n = tox_friend_add_norequest(tox, pk, &err);
      if (err == TOX_ERR_FRIEND_ADD_OK)
        printf("FRIEND_ADDED n=%u\n", n);
      else
        printf("ERROR tox_friend_add_norequest: %d\n", (int)err);
    }
    fflush(stdout);
  } else {
    printf("ERROR unknown command: %s\n", line);
    fflush(stdout);
  }
  return true;
}

/* Reads what stdin has and runs each complete line. Returns false on quit or end of input. */
static bool read_commands(Tox *tox) {
  static char buf[512];
  static size_t used;
  const ssize_t n = read(STDIN_FILENO, buf + used, sizeof buf - 1 - used);
  if (n <= 0) return n < 0 && errno == EINTR;
  used += (size_t)n;
  char *start = buf;
  char *newline;
  while ((newline = memchr(start, '\n', used - (size_t)(start - buf))) != NULL) {
    *newline = '\0';
    if (!run_command(tox, start)) return false;
    start = newline + 1;
  }
  used -= (size_t)(start - buf);
  memmove(buf, start, used);
  if (used == sizeof buf - 1) used = 0; /* an overlong line: drop it rather than stall */
  return true;
}

/* ---- modes --------------------------------------------------------------------------------- */

static int check_interposed(void) {
  /* The lookup libtoxcore's calls go through: the global scope, where the executable is first. */
  const bool ok = dlsym(RTLD_DEFAULT, "sendto") == (void *)sendto &&
                  dlsym(RTLD_DEFAULT, "recvfrom") == (void *)recvfrom &&
                  dlsym(RTLD_DEFAULT, "send") == (void *)send && dlsym(RTLD_DEFAULT, "recv") == (void *)recv;
  printf("CHECK %s\n", ok ? "ok" : "failed");
  return ok ? 0 : 1;
}

/* What an instance costs before Tox: the same executable and libraries, loaded, waiting. */
static int run_bare(void) {
  struct Tox_Options *options = tox_options_new(NULL);
  tox_options_free(options);
  printf("BARE pid=%d\n", (int)getpid());
  fflush(stdout);
  char buf[256];
  while (read(STDIN_FILENO, buf, sizeof buf) > 0) {
  }
  return 0;
}

struct bootstrap_node {
  char host[64];
  uint16_t port;
  uint8_t key[TOX_PUBLIC_KEY_SIZE];
};

static bool parse_bootstrap(const char *arg, struct bootstrap_node *node) {
  const char *first = strchr(arg, ':');
  const char *second = first ? strchr(first + 1, ':') : NULL;
  if (second == NULL || (size_t)(first - arg) >= sizeof node->host) return false;
  memcpy(node->host, arg, (size_t)(first - arg));
  node->host[first - arg] = '\0';
  const long port = strtol(first + 1, NULL, 10);
  if (port <= 0 || port > 65535) return false;
  node->port = (uint16_t)port;
  return parse_hex(second + 1, node->key, sizeof node->key);
}

static int run_instance(uint16_t port, const struct bootstrap_node *nodes, int node_count) {
  struct Tox_Options *options = tox_options_new(NULL);
  tox_options_set_ipv6_enabled(options, false);
  tox_options_set_udp_enabled(options, true);
  /* LAN discovery broadcasts never reach loopback; they would only add traffic to other hosts. */
  tox_options_set_local_discovery_enabled(options, false);
  tox_options_set_start_port(options, port);
  tox_options_set_end_port(options, port);
  tox_options_set_tcp_port(options, 0);
  Tox_Err_New err_new;
  Tox *tox = tox_new(options, &err_new);
  tox_options_free(options);
  if (tox == NULL) {
    printf("ERROR tox_new: %d (port %u)\n", (int)err_new, (unsigned)port);
    return 1;
  }
  tox_callback_self_connection_status(tox, on_self_connection);
  tox_callback_friend_connection_status(tox, on_friend_connection);
  for (int i = 0; i < node_count; i++) {
    Tox_Err_Bootstrap err;
    if (!tox_bootstrap(tox, nodes[i].host, nodes[i].port, nodes[i].key, &err))
      printf("ERROR tox_bootstrap %s:%u: %d\n", nodes[i].host, (unsigned)nodes[i].port, (int)err);
  }

  uint8_t dht[TOX_PUBLIC_KEY_SIZE];
  uint8_t pk[TOX_PUBLIC_KEY_SIZE];
  tox_self_get_dht_id(tox, dht);
  tox_self_get_public_key(tox, pk);
  printf("READY version=%u.%u.%u port=%u dht=", tox_version_major(), tox_version_minor(), tox_version_patch(),
         (unsigned)tox_self_get_udp_port(tox, NULL));
  print_hex(dht, sizeof dht);
  printf(" pk=");
  print_hex(pk, sizeof pk);
  printf("\n");
  fflush(stdout);

  /* Iterate when tox_iteration_interval says; wait for stdin in between (a client's usleep). */
  uint64_t next = now_ms();
  for (;;) {
    const uint64_t now = now_ms();
    struct pollfd in = {.fd = STDIN_FILENO, .events = POLLIN};
    const int ready = poll(&in, 1, next > now ? (int)(next - now) : 0);
    if (ready > 0 && !read_commands(tox)) break;
    if (now_ms() >= next) {
      tox_iterate(tox, NULL);
      iterations++;
      next = now_ms() + tox_iteration_interval(tox);
    }
  }
  tox_kill(tox);
  return 0;
}

int main(int argc, char **argv) {
  struct bootstrap_node nodes[8];
  int node_count = 0;
  long port = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--check") == 0) return check_interposed();
    if (strcmp(argv[i], "--bare") == 0) return run_bare();
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = strtol(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--bootstrap") == 0 && i + 1 < argc && node_count < 8) {
      if (!parse_bootstrap(argv[++i], &nodes[node_count])) {
        fprintf(stderr, "idle: bad --bootstrap %s (want HOST:PORT:DHTKEYHEX)\n", argv[i]);
        return 2;
      }
      node_count++;
    } else {
      fprintf(stderr, "idle: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  if (port <= 0 || port > 65535) {
    fprintf(stderr, "idle: --port 1..65535 is required\n");
    return 2;
  }
  return run_instance((uint16_t)port, nodes, node_count);
}
