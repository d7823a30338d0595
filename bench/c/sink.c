/* The live benchmark's sink: counts what the real server's stack accepts, not what its interface received
 * (a forwarder with a wrong checksum update looks perfect by rx_packets and delivers nothing).
 *
 * UDP: a socket on --port with an accept-all classic BPF filter. With a filter attached, the kernel completes
 * the UDP checksum before queueing (udp_queue_rcv_one_skb), so a datagram that fails it is counted in
 * Udp InCsumErrors and never reaches the queue; datagrams that pass it are either read here or, when this
 * reader falls behind, counted in Udp RcvbufErrors (the runner adds those from /proc/net/snmp).
 * TUN (--ipip): the kernel here has no ipip module, so a raw IPPROTO_IPIP socket reads the tunnel packets and
 * this program checks the inner IPv4 header and UDP checksum itself; only valid inner datagrams count.
 *
 * sink --port P [--ipip] [--cpu C] [--seconds S]
 * Prints {"event":"ready"}, then on each SIGUSR1 one line {"udp":N,"ipip":N,"ipipBad":N,"ipipOverflow":N}
 * with cumulative counts. Ends on SIGTERM or after S seconds (default 900). */

#include "common.h"

#include <linux/filter.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>

#define BATCH 64
#define SNAP 2048

static volatile sig_atomic_t stop, report;

static void on_stop(int sig) {
  (void)sig;
  stop = 1;
}

static void on_report(int sig) {
  (void)sig;
  report = 1;
}

/* Valid inner IPv4/UDP datagram inside an IPIP payload starting at `ip` (the inner header), or 0. */
static int inner_udp_valid(const uint8_t *ip, unsigned len) {
  if (len < 28 || (ip[0] >> 4) != 4) return 0;
  unsigned ihl = (ip[0] & 15u) * 4;
  unsigned tot = (unsigned)(ip[2] << 8 | ip[3]);
  if (ihl < 20 || tot > len || tot < ihl + 8 || ip[9] != IPPROTO_UDP) return 0;
  if (fold(sum16(ip, ihl, 0)) != 0xffff) return 0;
  const uint8_t *udp = ip + ihl;
  unsigned ulen = (unsigned)(udp[4] << 8 | udp[5]);
  if (ulen < 8 || ulen > tot - ihl) return 0;
  if (udp[6] == 0 && udp[7] == 0) return 1;
  uint32_t sum = sum16(ip + 12, 8, 0) + IPPROTO_UDP + ulen;
  return fold(sum16(udp, ulen, sum)) == 0xffff;
}

int main(int argc, char **argv) {
  const char *prog = "sink";
  unsigned port = 0, seconds = 900;
  int ipip = 0, cpu = -1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--ipip")) {
      ipip = 1;
      continue;
    }
    if (i + 1 >= argc) usage_die(prog, "option without a value");
    const char *v = argv[++i];
    if (!strcmp(a, "--port")) port = (unsigned)strtoul(v, NULL, 10);
    else if (!strcmp(a, "--cpu")) cpu = atoi(v);
    else if (!strcmp(a, "--seconds")) seconds = (unsigned)strtoul(v, NULL, 10);
    else usage_die(prog, "unknown option");
  }
  if (port == 0 || port > 65535) usage_die(prog, "--port is required");
  pin_cpu(cpu);

  int fds[2];
  int nfds = 0;
  int big = 32 << 20;
  int udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (udp < 0) die("socket(UDP)");
  setsockopt(udp, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  struct sock_filter accept_all[] = {BPF_STMT(BPF_RET | BPF_K, 0xffff)};
  struct sock_fprog prog_filter = {1, accept_all};
  if (setsockopt(udp, SOL_SOCKET, SO_ATTACH_FILTER, &prog_filter, sizeof prog_filter) != 0) die("SO_ATTACH_FILTER");
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons((uint16_t)port);
  if (bind(udp, (struct sockaddr *)&sin, sizeof sin) != 0) die("bind(UDP)");
  fds[nfds++] = udp;
  int raw = -1;
  if (ipip) {
    raw = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_IPIP);
    if (raw < 0) die("socket(raw IPIP)");
    setsockopt(raw, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
    int one = 1;
    setsockopt(raw, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
    fds[nfds++] = raw;
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGALRM, &sa, NULL);
  sa.sa_handler = on_report;
  sigaction(SIGUSR1, &sa, NULL);
  alarm(seconds);
  printf("{\"event\":\"ready\"}\n");
  fflush(stdout);

  static uint8_t bufs[BATCH][SNAP];
  static char ctrl[BATCH][64];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  unsigned long long n_udp = 0, n_ipip = 0, n_bad = 0, overflow = 0;
  struct pollfd pfd[2];
  for (int i = 0; i < nfds; i++) pfd[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
  while (!stop) {
    if (report) {
      report = 0;
      printf("{\"udp\":%llu,\"ipip\":%llu,\"ipipBad\":%llu,\"ipipOverflow\":%llu}\n", n_udp, n_ipip, n_bad, overflow);
      fflush(stdout);
    }
    if (poll(pfd, (nfds_t)nfds, 50) <= 0) continue;
    for (int s = 0; s < nfds; s++) {
      if (!(pfd[s].revents & POLLIN)) continue;
      for (int round = 0; round < 64; round++) {
        for (int k = 0; k < BATCH; k++) {
          iov[k].iov_base = bufs[k];
          iov[k].iov_len = SNAP;
          memset(&msgs[k].msg_hdr, 0, sizeof msgs[k].msg_hdr);
          msgs[k].msg_hdr.msg_iov = &iov[k];
          msgs[k].msg_hdr.msg_iovlen = 1;
          msgs[k].msg_hdr.msg_control = ctrl[k];
          msgs[k].msg_hdr.msg_controllen = sizeof ctrl[k];
        }
        int n = recvmmsg(fds[s], msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0) break;
        if (fds[s] == udp) {
          n_udp += (unsigned)n;
          continue;
        }
        for (int k = 0; k < n; k++) {
          const uint8_t *outer = bufs[k];
          unsigned len = msgs[k].msg_len;
          unsigned ohl = (outer[0] & 15u) * 4;
          if (len > ohl && inner_udp_valid(outer + ohl, len - ohl)) n_ipip++;
          else n_bad++;
          for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[k].msg_hdr); c; c = CMSG_NXTHDR(&msgs[k].msg_hdr, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
              uint32_t drops;
              memcpy(&drops, CMSG_DATA(c), 4);
              overflow = drops;
            }
          }
        }
      }
    }
  }
  printf("{\"udp\":%llu,\"ipip\":%llu,\"ipipBad\":%llu,\"ipipOverflow\":%llu}\n", n_udp, n_ipip, n_bad, overflow);
  return 0;
}
