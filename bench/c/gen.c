/* The live benchmark's traffic generator: prebuilt 64-byte Ethernet/IPv4/UDP frames with correct checksums
 * (one frame per source port, cycled), sent with sendmmsg on an AF_PACKET socket at a target rate. trafgen
 * 0.6.8 was not usable on the VM this was measured on (docs/design.md, "Measuring on a small VM").
 *
 * gen --if DEV --src-mac M --dst-mac M --src-ip A --dst-ip A --dst-port P [--ports N] [--rate PPS]
 *     [--seconds S] [--count N] [--cpu C] [--bad-csum]
 * --rate 0 sends flat out. Stops after S seconds or N frames, whichever comes first, and prints one JSON line:
 * {"sent":N,"seconds":S,"pps":R,"errors":E,"cpu":SECONDS}. --bad-csum corrupts every UDP checksum, to check that the sink
 * counts only what its UDP stack accepts. */
#include "common.h"

#include <sys/resource.h>

#define FRAME_LEN 64
#define MAX_PORTS 4096
#define MAX_BATCH 64
/* Aim for one sendmmsg per ~100 us at low rates: sleeping between single frames would cost more than the
 * frames, and a burst of 64 at 50 kpps would fill small queues for no reason. */
#define BATCH_PERIOD_S 100e-6

static uint8_t frames[MAX_PORTS][FRAME_LEN];

static void build_frame(uint8_t *f, const uint8_t src_mac[6], const uint8_t dst_mac[6], uint32_t src_ip,
                        uint32_t dst_ip, uint16_t src_port, uint16_t dst_port, int bad_csum) {
  memset(f, 0, FRAME_LEN);
  memcpy(f, dst_mac, 6);
  memcpy(f + 6, src_mac, 6);
  f[12] = 0x08;
  f[13] = 0x00;
  uint8_t *ip = f + 14;
  uint16_t ip_len = FRAME_LEN - 14;
  ip[0] = 0x45;
  ip[2] = (uint8_t)(ip_len >> 8);
  ip[3] = (uint8_t)ip_len;
  ip[6] = 0x40; /* DF */
  ip[8] = 64;
  ip[9] = IPPROTO_UDP;
  memcpy(ip + 12, &src_ip, 4);
  memcpy(ip + 16, &dst_ip, 4);
  uint16_t hc = (uint16_t)~fold(sum16(ip, 20, 0));
  ip[10] = (uint8_t)(hc >> 8);
  ip[11] = (uint8_t)hc;
  uint8_t *udp = ip + 20;
  uint16_t udp_len = ip_len - 20;
  udp[0] = (uint8_t)(src_port >> 8);
  udp[1] = (uint8_t)src_port;
  udp[2] = (uint8_t)(dst_port >> 8);
  udp[3] = (uint8_t)dst_port;
  udp[4] = (uint8_t)(udp_len >> 8);
  udp[5] = (uint8_t)udp_len;
  for (int i = 8; i < udp_len; i++) udp[i] = (uint8_t)('a' + i % 26);
  /* RFC 768 pseudo-header: addresses, protocol, UDP length. */
  uint32_t sum = sum16(ip + 12, 8, 0) + IPPROTO_UDP + udp_len;
  uint16_t uc = (uint16_t)~fold(sum16(udp, udp_len, sum));
  if (uc == 0) uc = 0xffff;
  if (bad_csum) uc ^= 0x5a5a;
  udp[6] = (uint8_t)(uc >> 8);
  udp[7] = (uint8_t)uc;
}

int main(int argc, char **argv) {
  const char *prog = "gen";
  const char *ifname = NULL;
  uint8_t src_mac[6], dst_mac[6];
  int have_src_mac = 0, have_dst_mac = 0;
  uint32_t src_ip = 0, dst_ip = 0;
  unsigned dst_port = 0, ports = 1024, bad_csum = 0;
  double rate = 0, seconds = 1;
  unsigned long long max_count = 0;
  int cpu = -1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--bad-csum")) {
      bad_csum = 1;
      continue;
    }
    if (!v) usage_die(prog, "option without a value");
    i++;
    if (!strcmp(a, "--if")) ifname = v;
    else if (!strcmp(a, "--src-mac")) have_src_mac = parse_mac(v, src_mac) == 0;
    else if (!strcmp(a, "--dst-mac")) have_dst_mac = parse_mac(v, dst_mac) == 0;
    else if (!strcmp(a, "--src-ip")) src_ip = parse_ip(prog, v);
    else if (!strcmp(a, "--dst-ip")) dst_ip = parse_ip(prog, v);
    else if (!strcmp(a, "--dst-port")) dst_port = (unsigned)strtoul(v, NULL, 10);
    else if (!strcmp(a, "--ports")) ports = (unsigned)strtoul(v, NULL, 10);
    else if (!strcmp(a, "--rate")) rate = strtod(v, NULL);
    else if (!strcmp(a, "--seconds")) seconds = strtod(v, NULL);
    else if (!strcmp(a, "--count")) max_count = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--cpu")) cpu = atoi(v);
    else usage_die(prog, "unknown option");
  }
  if (!ifname || !have_src_mac || !have_dst_mac || !src_ip || !dst_ip || dst_port == 0 || dst_port > 65535)
    usage_die(prog, "--if, --src-mac, --dst-mac, --src-ip, --dst-ip and --dst-port are required");
  if (ports < 1 || ports > MAX_PORTS) usage_die(prog, "--ports must be 1..4096");
  if (seconds <= 0 || seconds > 600) usage_die(prog, "--seconds must be in (0, 600]");
  if (rate < 0) usage_die(prog, "--rate must be >= 0");
  pin_cpu(cpu);

  for (unsigned p = 0; p < ports; p++)
    build_frame(frames[p], src_mac, dst_mac, src_ip, dst_ip, (uint16_t)(10000 + p), (uint16_t)dst_port, bad_csum);
  int fd = packet_socket(ifname, 0, NULL);

  unsigned batch = MAX_BATCH;
  if (rate > 0) {
    double b = rate * BATCH_PERIOD_S;
    batch = b < 1 ? 1 : b > MAX_BATCH ? MAX_BATCH : (unsigned)b;
  }
  struct mmsghdr msgs[MAX_BATCH];
  struct iovec iov[MAX_BATCH];

  unsigned long long sent = 0, errors = 0;
  unsigned next_port = 0;
  double start = now_s(), end = start + seconds, t = start;
  while (t < end && (max_count == 0 || sent < max_count)) {
    unsigned n = batch;
    if (max_count && sent + n > max_count) n = (unsigned)(max_count - sent);
    for (unsigned k = 0; k < n; k++) {
      iov[k].iov_base = frames[next_port];
      iov[k].iov_len = FRAME_LEN;
      memset(&msgs[k].msg_hdr, 0, sizeof msgs[k].msg_hdr);
      msgs[k].msg_hdr.msg_iov = &iov[k];
      msgs[k].msg_hdr.msg_iovlen = 1;
      if (++next_port == ports) next_port = 0;
    }
    int r = sendmmsg(fd, msgs, n, 0);
    if (r < 0) {
      if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR) die("sendmmsg");
      errors++;
    } else {
      sent += (unsigned)r;
    }
    if (rate > 0) {
      double due = start + (double)sent / rate;
      t = now_s();
      if (due > t) {
        if (due > end) due = end;
        struct timespec ts = {(time_t)due, (long)((due - (double)(time_t)due) * 1e9)};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
      }
    }
    t = now_s();
  }
  double elapsed = now_s() - start;
  /* The scheduler's exact run time (getrusage splits it into user and system); /proc/stat samples at the tick
   * and misses the short bursts of a rate-limited sender on a NO_HZ kernel. */
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
               (double)ru.ru_stime.tv_usec * 1e-6;
  printf("{\"sent\":%llu,\"seconds\":%.4f,\"pps\":%.0f,\"errors\":%llu,\"cpu\":%.6f}\n", sent, elapsed,
         sent / elapsed, errors, cpu_s);
  return 0;
}
