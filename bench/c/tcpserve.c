/* The live benchmark's TCP server, run in the sink namespace behind every contender. It does as little as a
 * TCP server can, so that the figures measure the path through the director and not the server: accept, read
 * the 1-byte request, write a 1-byte answer, close (the server closes first, as HTTP/1.0 does, so TIME_WAIT
 * stays here and the client's ephemeral ports are free again at once). One epoll thread, non-blocking
 * sockets; a request already queued when accept() returns is answered without another epoll round.
 *
 * tcpserve --port P [--cpu C] [--seconds S]
 * Binds 0.0.0.0:P (so the RIPs and the VIP, whichever the contender delivers to), prints {"event":"ready"},
 * and on SIGTERM or after S seconds (default 1800) prints {"served":N,"dropped":N}. */
#include "common.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>

#define MAX_EVENTS 256
#define LISTEN_BACKLOG 4096

static volatile sig_atomic_t stop;

static void on_stop(int sig) {
  (void)sig;
  stop = 1;
}

static unsigned long long served, dropped;

/* Reads the request and answers it; 0 when the connection is finished (answered or failed), 1 to wait. */
static int serve(int fd) {
  uint8_t buf[64];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 1;
  if (n > 0 && write(fd, "y", 1) == 1) served++;
  else dropped++;
  close(fd);
  return 0;
}

int main(int argc, char **argv) {
  const char *prog = "tcpserve";
  unsigned port = 0, seconds = 1800;
  int cpu = -1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) usage_die(prog, "option without a value");
    const char *v = argv[++i];
    if (!strcmp(a, "--port")) port = (unsigned)strtoul(v, NULL, 10);
    else if (!strcmp(a, "--cpu")) cpu = atoi(v);
    else if (!strcmp(a, "--seconds")) seconds = (unsigned)strtoul(v, NULL, 10);
    else usage_die(prog, "unknown option");
  }
  if (port == 0 || port > 65535) usage_die(prog, "--port is required");
  pin_cpu(cpu);

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (lfd < 0) die("socket(TCP)");
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons((uint16_t)port);
  if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) != 0) die("bind(TCP)");
  if (listen(lfd, LISTEN_BACKLOG) != 0) die("listen");
  int ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) != 0) die("epoll_ctl");

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGALRM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  alarm(seconds);
  printf("{\"event\":\"ready\"}\n");
  fflush(stdout);

  struct epoll_event events[MAX_EVENTS];
  while (!stop) {
    int n = epoll_wait(ep, events, MAX_EVENTS, 100);
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      if (fd != lfd) {
        serve(fd); /* when it closes the socket, close() also takes it out of the epoll set */
        continue;
      }
      for (;;) {
        int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
        if (cfd < 0) break;
        if (serve(cfd) == 0) continue;
        struct epoll_event cev = {.events = EPOLLIN, .data.fd = cfd};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev) != 0) {
          dropped++;
          close(cfd);
        }
      }
    }
  }
  printf("{\"served\":%llu,\"dropped\":%llu}\n", served, dropped);
  return 0;
}
