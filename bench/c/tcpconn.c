/* The live benchmark's TCP client, run in the generator namespace: keeps C connections in flight for S
 * seconds, each a new TCP connection that sends a 1-byte request and waits for the 1-byte answer, then reads
 * to the server's FIN and closes (so neither side's close leaves TIME_WAIT on the client). wrk is not used:
 * it keeps connections alive and times requests, not connections.
 *
 * tcpconn --dst IP --port P [--concurrency C] [--seconds S] [--timeout-ms T] [--cpu N]
 * Latency of one connection = from just before connect() to the answer's arrival (handshake, request and
 * answer: two round trips through the director). A connection that fails or takes longer than T ms (default
 * 2000, enough for one SYN retransmission at 1 s) is counted as failed by kind and left out of the
 * percentiles. Prints one JSON line:
 * {"completed":N,"seconds":S,"cps":R,"p50Us":..,"p90Us":..,"p99Us":..,"maxUs":..,"meanUs":..,
 *  "refused":N,"reset":N,"timeout":N,"other":N,"cpu":SECONDS}
 * cps = completed / seconds, where seconds runs from the first connect to the last connection's end. */
#include "common.h"

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>

#define MAX_CONCURRENCY 1024
/* Latencies kept for the percentiles (4 bytes each); a run that reaches it stops opening connections. */
#define MAX_SAMPLES (1u << 22)
/* A socket()/connect() that fails at once (ephemeral ports exhausted, say) is retried after this. */
#define RETRY_NS 1000000ull

enum { IDLE, CONNECTING, WAITING, DRAINING };

struct slot {
  int fd;
  int state;
  uint64_t start_ns;
  uint64_t retry_at_ns;
};

static uint32_t samples[MAX_SAMPLES];
static unsigned n_samples;
static unsigned long long refused, reset, timed_out, other;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of the sorted samples, in microseconds. */
static double percentile_us(double q) {
  if (n_samples == 0) return 0;
  unsigned rank = (unsigned)(q * n_samples + 0.999999);
  if (rank < 1) rank = 1;
  if (rank > n_samples) rank = n_samples;
  return samples[rank - 1] / 1000.0;
}

static void count_error(int err) {
  if (err == ECONNREFUSED) refused++;
  else if (err == ECONNRESET || err == EPIPE) reset++;
  else if (err == ETIMEDOUT) timed_out++;
  else other++;
}

static void finish(int ep, struct slot *s) {
  epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
  close(s->fd);
  s->fd = -1;
  s->state = IDLE;
  s->retry_at_ns = 0;
}

static void fail(int ep, struct slot *s, int err, uint64_t now) {
  count_error(err);
  finish(ep, s);
  s->retry_at_ns = now + RETRY_NS;
}

static void open_conn(int ep, struct slot *s, unsigned idx, const struct sockaddr_in *dst) {
  uint64_t t = now_ns();
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    count_error(errno);
    s->retry_at_ns = t + RETRY_NS;
    return;
  }
  s->fd = fd;
  s->start_ns = t;
  int rc = connect(fd, (const struct sockaddr *)dst, sizeof *dst);
  if (rc != 0 && errno != EINPROGRESS) {
    fail(ep, s, errno, t);
    return;
  }
  s->state = CONNECTING;
  struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = idx};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) fail(ep, s, errno, t);
}

int main(int argc, char **argv) {
  const char *prog = "tcpconn";
  const char *dst_text = NULL;
  unsigned port = 0, concurrency = 1, timeout_ms = 2000;
  double seconds = 1;
  int cpu = -1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) usage_die(prog, "option without a value");
    const char *v = argv[++i];
    if (!strcmp(a, "--dst")) dst_text = v;
    else if (!strcmp(a, "--port")) port = (unsigned)strtoul(v, NULL, 10);
    else if (!strcmp(a, "--concurrency")) concurrency = (unsigned)strtoul(v, NULL, 10);
    else if (!strcmp(a, "--seconds")) seconds = atof(v);
    else if (!strcmp(a, "--timeout-ms")) timeout_ms = (unsigned)strtoul(v, NULL, 10);
    else if (!strcmp(a, "--cpu")) cpu = atoi(v);
    else usage_die(prog, "unknown option");
  }
  if (!dst_text || port == 0 || port > 65535) usage_die(prog, "--dst and --port are required");
  if (concurrency < 1 || concurrency > MAX_CONCURRENCY) usage_die(prog, "--concurrency must be in 1..1024");
  if (!(seconds > 0 && seconds <= 60)) usage_die(prog, "--seconds must be in (0, 60]");
  if (timeout_ms < 10 || timeout_ms > 10000) usage_die(prog, "--timeout-ms must be in 10..10000");
  pin_cpu(cpu);

  struct sockaddr_in dst;
  memset(&dst, 0, sizeof dst);
  dst.sin_family = AF_INET;
  dst.sin_port = htons((uint16_t)port);
  dst.sin_addr.s_addr = parse_ip(prog, dst_text);

  int ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  static struct slot slots[MAX_CONCURRENCY];
  for (unsigned i = 0; i < concurrency; i++) slots[i] = (struct slot){.fd = -1, .state = IDLE};

  const uint64_t timeout_ns = (uint64_t)timeout_ms * 1000000ull;
  const uint64_t t0 = now_ns();
  const uint64_t open_until = t0 + (uint64_t)(seconds * 1e9);
  uint64_t last_end = t0;
  unsigned long long completed = 0;
  double latency_sum_ns = 0;
  struct epoll_event events[MAX_CONCURRENCY];
  uint8_t buf[64];

  for (;;) {
    uint64_t now = now_ns();
    int opening = now < open_until && n_samples < MAX_SAMPLES;
    unsigned busy = 0;
    for (unsigned i = 0; i < concurrency; i++) {
      struct slot *s = &slots[i];
      if (s->state == IDLE) {
        if (opening && now >= s->retry_at_ns) open_conn(ep, s, i, &dst);
      } else if (now - s->start_ns > timeout_ns) {
        /* Answered but the server's FIN never came: the connection counts; only its slot is reclaimed. */
        if (s->state != DRAINING) timed_out++;
        finish(ep, s);
        last_end = now;
      }
      if (s->state != IDLE) busy++;
    }
    if (!opening && busy == 0) break;
    int n = epoll_wait(ep, events, MAX_CONCURRENCY, 1);
    for (int e = 0; e < n; e++) {
      struct slot *s = &slots[events[e].data.u32];
      if (s->state == IDLE) continue;
      uint64_t t = now_ns();
      if (s->state == CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          fail(ep, s, err, t);
          last_end = t;
          continue;
        }
        if (write(s->fd, "x", 1) != 1) {
          fail(ep, s, errno, t);
          last_end = t;
          continue;
        }
        s->state = WAITING;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = events[e].data.u32};
        epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
        continue;
      }
      for (;;) {
        ssize_t r = read(s->fd, buf, sizeof buf);
        if (r > 0) {
          if (s->state == WAITING) {
            uint64_t lat = t - s->start_ns;
            if (n_samples < MAX_SAMPLES) samples[n_samples++] = lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat;
            latency_sum_ns += (double)lat;
            completed++;
            s->state = DRAINING;
          }
          continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        /* EOF or an error: the connection is over. Before the answer, it failed. */
        if (s->state == WAITING) fail(ep, s, r == 0 ? ECONNRESET : errno, t);
        else finish(ep, s);
        last_end = t;
        break;
      }
    }
  }

  qsort(samples, n_samples, sizeof samples[0], cmp_u32);
  double elapsed = (double)(last_end - t0) * 1e-9;
  if (elapsed < seconds) elapsed = seconds;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
                 (double)ru.ru_stime.tv_usec * 1e-6;
  printf("{\"completed\":%llu,\"seconds\":%.4f,\"cps\":%.1f,\"p50Us\":%.1f,\"p90Us\":%.1f,\"p99Us\":%.1f,"
         "\"maxUs\":%.1f,\"meanUs\":%.1f,\"refused\":%llu,\"reset\":%llu,\"timeout\":%llu,\"other\":%llu,"
         "\"cpu\":%.6f}\n",
         completed, elapsed, completed / elapsed, percentile_us(0.50), percentile_us(0.90), percentile_us(0.99),
         n_samples ? samples[n_samples - 1] / 1000.0 : 0.0, completed ? latency_sum_ns / completed / 1000.0 : 0.0,
         refused, reset, timed_out, other, cpu_s);
  return 0;
}
