/* Helpers shared by the live-benchmark C programs (gen.c, fwd.c, sink.c): argument parsing, CPU pinning,
 * AF_PACKET sockets and RFC 1071/1624 checksums. Header-only so each program is one `cc -O2` call. */
#ifndef UVS_BENCH_COMMON_H
#define UVS_BENCH_COMMON_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline void die(const char *what) {
  fprintf(stderr, "%s: %s\n", what, strerror(errno));
  exit(1);
}

static inline void usage_die(const char *prog, const char *msg) {
  fprintf(stderr, "%s: %s\n", prog, msg);
  exit(2);
}

static inline double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void pin_cpu(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity");
}

static inline int parse_mac(const char *text, uint8_t mac[6]) {
  unsigned v[6];
  if (sscanf(text, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) return -1;
  for (int i = 0; i < 6; i++) {
    if (v[i] > 255) return -1;
    mac[i] = (uint8_t)v[i];
  }
  return 0;
}

/* An IPv4 address in network order, or exits. */
static inline uint32_t parse_ip(const char *prog, const char *text) {
  struct in_addr a;
  if (inet_pton(AF_INET, text, &a) != 1) usage_die(prog, "bad IPv4 address");
  return a.s_addr;
}

/* An AF_PACKET raw socket bound to `ifname`; protocol 0 receives nothing (send-only). */
static inline int packet_socket(const char *ifname, uint16_t protocol, int *ifindex_out) {
  int fd = socket(AF_PACKET, SOCK_RAW, htons(protocol));
  if (fd < 0) die("socket(AF_PACKET)");
  int ifindex = (int)if_nametoindex(ifname);
  if (ifindex == 0) die(ifname);
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(protocol);
  sll.sll_ifindex = ifindex;
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) != 0) die("bind(AF_PACKET)");
  /* Skip the qdisc as a NIC driver's own generator would; the veth has no queue worth measuring. */
  int one = 1;
  setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
  if (ifindex_out) *ifindex_out = ifindex;
  return fd;
}

static inline void interface_mac(int fd, const char *ifname, uint8_t mac[6]) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) != 0) die("SIOCGIFHWADDR");
  memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
}

/* RFC 1071 one's-complement sum of `len` bytes (big-endian 16-bit words), not folded. */
static inline uint32_t sum16(const uint8_t *p, size_t len, uint32_t sum) {
  for (size_t i = 0; i + 1 < len; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (len & 1) sum += (uint32_t)p[len - 1] << 8;
  return sum;
}

static inline uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') for a 32-bit field changing from `from` to `to` (host order). */
static inline uint16_t csum_replace32(uint16_t check, uint32_t from, uint32_t to) {
  uint32_t sum = (uint16_t)~check;
  sum += (uint16_t)~(from >> 16) + (uint16_t)~(from & 0xffff);
  sum += (to >> 16) + (to & 0xffff);
  return (uint16_t)~fold(sum);
}

#endif
