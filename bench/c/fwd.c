/* The live benchmark's reference forwarder: the least a user-space NAT load balancer on AF_PACKET can do per
 * frame, in C, so that it is the ceiling of the I/O method uvs uses. recvmmsg a batch on the ingress
 * interface, DNAT each IPv4 UDP/TCP frame for the VIP to the next real server round robin (RFC 1624
 * incremental updates of the IP and L4 checksums), rewrite the MACs, sendmmsg the batch on the egress
 * interface. No connection table, no replies: it is a ceiling, not a load balancer.
 *
 * fwd --in DEV --out DEV --vip A --rip A [--rip A ...] --dst-mac M [--batch N] [--cpu C] [--seconds S]
 * Runs until SIGTERM/SIGINT or S seconds (default 600), then prints {"rx":N,"tx":N,"dropped":N}. */

#include "common.h"

#include <signal.h>

#define MAX_BATCH 256
#define MAX_RIPS 16
#define SNAP 2048

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

int main(int argc, char **argv) {
  const char *prog = "fwd";
  const char *in_if = NULL, *out_if = NULL;
  uint32_t vip = 0, rips[MAX_RIPS];
  unsigned nrips = 0, batch = 64;
  uint8_t dst_mac[6], src_mac[6];
  int have_dst_mac = 0, cpu = -1;
  unsigned seconds = 600;
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *a = argv[i], *v = argv[i + 1];
    if (!strcmp(a, "--in")) in_if = v;
    else if (!strcmp(a, "--out")) out_if = v;
    else if (!strcmp(a, "--vip")) vip = parse_ip(prog, v);
    else if (!strcmp(a, "--rip")) {
      if (nrips == MAX_RIPS) usage_die(prog, "too many --rip");
      rips[nrips++] = parse_ip(prog, v);
    } else if (!strcmp(a, "--dst-mac")) have_dst_mac = parse_mac(v, dst_mac) == 0;
    else if (!strcmp(a, "--batch")) batch = (unsigned)strtoul(v, NULL, 10);
    else if (!strcmp(a, "--cpu")) cpu = atoi(v);
    else if (!strcmp(a, "--seconds")) seconds = (unsigned)strtoul(v, NULL, 10);
    else usage_die(prog, "unknown option");
  }
  if (!in_if || !out_if || !vip || nrips == 0 || !have_dst_mac)
    usage_die(prog, "--in, --out, --vip, --rip and --dst-mac are required");
  if (batch < 1 || batch > MAX_BATCH) usage_die(prog, "--batch must be 1..256");
  pin_cpu(cpu);

  /* ETH_P_ALL: those taps run before the netdev ingress hook that keeps the kernel out of the way. */
  int rx = packet_socket(in_if, ETH_P_ALL, NULL);
  int tx = packet_socket(out_if, 0, NULL);
  interface_mac(tx, out_if, src_mac);
  int rcvbuf = 8 << 20;
  setsockopt(rx, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGALRM, &sa, NULL);
  alarm(seconds);
  printf("{\"event\":\"ready\"}\n");
  fflush(stdout);

  static uint8_t bufs[MAX_BATCH][SNAP];
  struct mmsghdr in[MAX_BATCH], out[MAX_BATCH];
  struct iovec in_iov[MAX_BATCH], out_iov[MAX_BATCH];
  for (unsigned k = 0; k < batch; k++) {
    in_iov[k].iov_base = bufs[k];
    in_iov[k].iov_len = SNAP;
    memset(&in[k], 0, sizeof in[k]);
    in[k].msg_hdr.msg_iov = &in_iov[k];
    in[k].msg_hdr.msg_iovlen = 1;
    memset(&out[k], 0, sizeof out[k]);
    out[k].msg_hdr.msg_iov = &out_iov[k];
    out[k].msg_hdr.msg_iovlen = 1;
  }

  unsigned long long nrx = 0, ntx = 0, dropped = 0;
  unsigned next = 0;
  while (!stop) {
    int n = recvmmsg(rx, in, batch, MSG_WAITFORONE, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("recvmmsg");
    }
    nrx += (unsigned)n;
    unsigned m = 0;
    for (int k = 0; k < n; k++) {
      uint8_t *f = bufs[k];
      unsigned len = in[k].msg_len;
      if (len < 14 + 20 + 8 || f[12] != 0x08 || f[13] != 0x00 || f[14] != 0x45) {
        dropped++;
        continue;
      }
      uint8_t *ip = f + 14;
      uint32_t daddr;
      memcpy(&daddr, ip + 16, 4);
      uint8_t proto = ip[9];
      if (daddr != vip || (proto != IPPROTO_UDP && proto != IPPROTO_TCP)) {
        dropped++;
        continue;
      }
      uint32_t rip = rips[next];
      if (++next == nrips) next = 0;
      uint32_t from = ntohl(daddr), to = ntohl(rip);
      uint16_t hc = (uint16_t)(ip[10] << 8 | ip[11]);
      hc = csum_replace32(hc, from, to);
      ip[10] = (uint8_t)(hc >> 8);
      ip[11] = (uint8_t)hc;
      uint8_t *l4 = ip + 20;
      unsigned off = proto == IPPROTO_UDP ? 6 : 16;
      uint16_t lc = (uint16_t)(l4[off] << 8 | l4[off + 1]);
      /* RFC 768: a zero UDP checksum means none was computed; it stays zero. */
      if (proto == IPPROTO_TCP || lc != 0) {
        lc = csum_replace32(lc, from, to);
        if (proto == IPPROTO_UDP && lc == 0) lc = 0xffff;
        l4[off] = (uint8_t)(lc >> 8);
        l4[off + 1] = (uint8_t)lc;
      }
      memcpy(ip + 16, &rip, 4);
      memcpy(f, dst_mac, 6);
      memcpy(f + 6, src_mac, 6);
      out_iov[m].iov_base = f;
      out_iov[m].iov_len = len;
      m++;
    }
    unsigned done = 0;
    while (done < m) {
      int r = sendmmsg(tx, out + done, m - done, 0);
      if (r <= 0) {
        if (r < 0 && errno == EINTR) continue;
        dropped += m - done;
        break;
      }
      done += (unsigned)r;
    }
    ntx += done;
  }
  printf("{\"rx\":%llu,\"tx\":%llu,\"dropped\":%llu}\n", nrx, ntx, dropped);
  return 0;
}
