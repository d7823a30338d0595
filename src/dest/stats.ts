// Per-service and per-destination traffic counters (struct ip_vs_kstats). "In" is client->server, "out" is
// server->client; out stays 0 for DR and TUN, whose replies bypass the director.
// Counters are plain numbers: exact to 2^53, far beyond what a process lifetime reaches.

export class Stats {
  conns = 0;
  inPkts = 0;
  outPkts = 0;
  inBytes = 0;
  outBytes = 0;
}
