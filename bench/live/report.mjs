// Turns the live benchmark's results into the live block of BENCHMARKS.md. The block sits between two
// markers so that bench/run.mjs (the microbenchmarks, which rewrite the rest of the file) can keep it, and so
// that this script replaces only its own block.

export const LIVE_BEGIN = '<!-- bench:live:begin -->';
export const LIVE_END = '<!-- bench:live:end -->';

/** `current` with its live block replaced by `section` (appended when there is none yet). */
export function replaceLiveBlock(current, section) {
  const block = `${LIVE_BEGIN}\n${section.trimEnd()}\n${LIVE_END}\n`;
  const start = current.indexOf(LIVE_BEGIN);
  const end = current.indexOf(LIVE_END);
  if (start >= 0 && end > start) return current.slice(0, start) + block + current.slice(end + LIVE_END.length + 1);
  return `${current.trimEnd()}\n\n${block}`;
}

const kpps = (pps) => (pps === undefined ? '—' : `${(pps / 1000).toFixed(1)}k`);
const ratio = (a, b) => (a === undefined || b === undefined || b === 0 ? '—' : `${(a / b).toFixed(2)}x`);
const pct = (x) => `${Math.round(x * 100)}%`;
const ms = (us) => (us === undefined ? '—' : us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${Math.round(us)} µs`);
/** A latency difference with its sign: noise can make a contender look faster than the baseline. */
const plusMs = (us) => (us === undefined ? '—' : `${us < 0 ? '−' : '+'}${ms(Math.abs(us))}`);
const diff = (a, b) => (a === undefined || b === undefined ? undefined : a - b);

/** A contender's TCP figures, or undefined when it took no TCP part or its TCP part failed. */
function tcpOf(result) {
  const t = result.tcp;
  if (!t || t.error !== undefined || !t.latency || !t.rate) return undefined;
  return t;
}

/** The TCP table: connections per second and connection latency, each against the baseline's. */
function renderTcpSection(report) {
  const { meta } = report;
  const { opts } = meta;
  const withTcp = report.results.filter((r) => r.tcp !== undefined);
  if (withTcp.length === 0) return [];
  const base = tcpOf(report.results.find((r) => r.name === 'baseline') ?? { tcp: undefined });
  const kernel = tcpOf(report.results.find((r) => r.name === 'kernel-nat') ?? { tcp: undefined });
  const n = opts.tcpConcurrency;
  const lines = [
    '',
    '### TCP connections per second and added latency',
    '',
    `Real TCP connections from the generator namespace to a server in the sink namespace, through each contender. One connection = connect, a 1-byte request, the 1-byte answer, then the server closes. Latency = from connect() to the answer (the handshake and the request: two round trips). Latency phase: one connection at a time for ${opts.tcpSeconds / 2} s (the path's own delay); rate phase: ${n} connections in flight for ${opts.tcpSeconds} s (the most connections per second, and latency under that load). Added = contender minus the baseline (the same connections to a RIP through the director's kernel forwarding, no NAT, no conntrack); a negative figure is noise. At c=${n} the latency is mostly queueing behind the busiest core, so its added figure is noisier than the c=1 one. Percentiles leave out failed connections, which are counted apart. The C forwarder has no row: it does UDP DNAT only.`,
    '',
    `| Contender | conn/s (c=${n}) | vs kernel | p50 / p99 (c=1) | added p50 / p99 (c=1) | p50 / p99 (c=${n}) | added p50 / p99 (c=${n}) | failed | other work |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of withTcp) {
    const t = tcpOf(r);
    if (!t) {
      lines.push(`| ${r.label} | **broken** | — | — | — | — | — | — | — |`);
      continue;
    }
    const isUvs = r.name.startsWith('uvs-');
    const isBase = r.name === 'baseline';
    const pair = (a, b) => `${ms(a)} / ${ms(b)}`;
    const added = (phase) =>
      isBase || !base
        ? '—'
        : `${plusMs(diff(t[phase].p50Us, base[phase].p50Us))} / ${plusMs(diff(t[phase].p99Us, base[phase].p99Us))}`;
    lines.push(
      `| ${r.label} | **${Math.round(t.rate.cps)}** | ${isUvs && kernel ? ratio(t.rate.cps, kernel.rate.cps) : ''} | ${pair(
        t.latency.p50Us,
        t.latency.p99Us,
      )} | ${added('latency')} | ${pair(t.rate.p50Us, t.rate.p99Us)} | ${added('rate')} | ${
        t.latency.failed + t.rate.failed
      } | ${((t.latency.otherCores + t.rate.otherCores) / 2).toFixed(2)} |`,
    );
  }
  if (!base) lines.push('', '- The baseline did not run, so no added latency can be given.');
  return lines;
}

/** Best delivered rate over the fixed-rate sweep, the flat-out step, and CPU per packet at the CPU rate. */
export function summarize(result, baseline, cpuRate) {
  if (result.error !== undefined || result.steps.length === 0) return { name: result.name, broken: true };
  const fixed = result.steps.filter((s) => s.rate > 0);
  const best = fixed.reduce((a, b) => (b.deliveredPps > a.deliveredPps ? b : a));
  const flat = result.steps.find((s) => s.rate === 0);
  const atCpu = fixed.find((s) => s.rate === cpuRate);
  let cpuNs;
  let coreNs;
  let cpuSaturated = false;
  if (atCpu && atCpu.deliveredPps > 0) {
    cpuNs = ((atCpu.workCores - baseline.cpuRate.workCores) / atCpu.deliveredPps) * 1e9;
    if (atCpu.directorCoreBusy !== undefined) coreNs = (atCpu.directorCoreBusy / atCpu.deliveredPps) * 1e9;
    cpuSaturated = atCpu.deliveredPps < 0.95 * atCpu.offeredPps;
  }
  return {
    name: result.name,
    broken: false,
    best: best.deliveredPps,
    bestOffered: best.rate,
    flat: flat?.deliveredPps,
    flatOffered: flat?.offeredPps,
    cpuNs,
    coreNs,
    cpuSaturated,
    csumErrors: result.steps.reduce((a, s) => a + s.csumErrors + s.ipipBad, 0),
    otherCores: result.steps.reduce((a, s) => a + s.otherCores, 0) / result.steps.length,
  };
}

export function renderLiveSection(report) {
  const { meta, baseline, csumCheck } = report;
  // Contenders that took no UDP part (the TCP baseline) have no row in the UDP tables.
  const results = report.results.filter((r) => r.udp !== false);
  const { opts } = meta;
  const sums = new Map(results.map((r) => [r.name, summarize(r, baseline, opts.cpuRate)]));
  const kernel = sums.get('kernel-nat');
  const c = sums.get('c-fwd');
  const ok = (s) => s && !s.broken;
  const lines = [
    '## Live datapath: uvs against the kernel and a C forwarder',
    '',
    '<!-- Generated by bench/live/run.mjs (`npm run bench:live`). Do not edit: the next run replaces this block, and `npm run bench` keeps it. -->',
    '',
    '**Generated by `npm run bench:live` — do not edit by hand.** One run, one topology, one generator, one',
    'sink: each contender forwards 64-byte UDP frames, then real TCP connections, from a generator namespace',
    'through a director namespace to a sink namespace. How the figures are taken is under "Method" below.',
    '',
    '| | |',
    '|---|---|',
    `| CPU | ${meta.cpu} |`,
    `| Cores | ${meta.cores} |`,
    `| Kernel | ${meta.kernel} |`,
    `| Node | ${meta.node} |`,
    `| Date | ${meta.date} |`,
    `| Command | \`${meta.command}\` |`,
    `| Commit | ${meta.commit} |`,
    `| Duration | ${meta.minutes.toFixed(1)} min, ${opts.seconds} s per step |`,
    `| Load average (1/5/15 min) | ${meta.loadAverage.map((l) => l.toFixed(2)).join(' / ')} at start, ${meta.loadAverageEnd.map((l) => l.toFixed(2)).join(' / ')} at end |`,
    ...(opts.nice ? ['| Priority | the rig, the contenders and the NAPI threads at nice -20 (--nice) |'] : []),
    `| uvs io | AF_PACKET, rx ${opts.rx}, wake ${opts.wake}, batch ${opts.batch}; "uvs NAT (AF_XDP)": io.backend afxdp (native XDP on both veths, copy mode), wake ${opts.wake}${opts.rx === 'ring' ? ' with coalesced wake-ups (rx ring)' : ''}, batch ${opts.batch} |`,
    `| TCP | ${opts.tcp === false ? 'not measured (--no-tcp)' : `latency phase c=1 for ${opts.tcpSeconds / 2} s, rate phase c=${opts.tcpConcurrency} for ${opts.tcpSeconds} s`} |`,
    '',
    `> **Noise.** This is a 2-core VM shared with other work (the load average above was taken at the start${
      meta.loadAverage[0] > 0.5 ? ' and shows other work running' : ''
    }); anything else running takes CPU from the generator, the forwarder or the sink, so treat differences`,
    '> of 10–20% between runs as noise and compare contenders within one run.',
    '',
    '### Delivered pps by offered rate',
    '',
    `Delivered = datagrams the sink's stack accepted (checksums verified), per second of generator run time. Flat out: the generator sends as fast as it can (generator alone: ${kpps(baseline.flatOut.offeredPps)} pps offered).`,
    '',
    '"other work": cores kept busy during the steps by anything that is not this benchmark (/proc/stat busy time minus the run time of the generator, director and sink threads; mean over the steps). Above a few tenths of a core the row is disturbed.',
    '',
  ];
  const rates = opts.rates;
  lines.push(
    `| Contender | ${rates.map((r) => `${kpps(r)} offered`).join(' | ')} | flat out | best | flat out / best | other work |`,
    `|---|${rates.map(() => '---:').join('|')}|---:|---:|---:|---:|`,
  );
  for (const r of results) {
    const s = sums.get(r.name);
    if (s.broken) {
      lines.push(`| ${r.label} | ${rates.map(() => '—').join(' | ')} | — | **broken** | — | — |`);
      continue;
    }
    const cells = rates.map((rate) => kpps(r.steps.find((st) => st.rate === rate)?.deliveredPps));
    lines.push(
      `| ${r.label} | ${cells.join(' | ')} | ${kpps(s.flat)} (of ${kpps(s.flatOffered)}) | **${kpps(s.best)}** | ${
        s.flat === undefined ? '—' : pct(s.flat / s.best)
      } | ${s.otherCores.toFixed(2)} |`,
    );
  }
  lines.push(
    '',
    '### Side by side',
    '',
    `CPU per packet: CPU time of the generator and of the director's threads (the contender's process, the director's ingress NAPI thread, ksoftirqd) at ${kpps(opts.cpuRate)} pps offered, minus the same for the generator-only baseline at that rate (${(
      baseline.cpuRate.workCores * 100
    ).toFixed(
      0,
    )}% of one core), divided by the delivered rate, in nanoseconds. The sink's receive work is left out: it is the same for every contender. "(saturated)" marks a contender that delivered less than 95% of the offered rate there.`,
    '',
    `Director core per packet: how busy the director's core (cpu1) was at ${kpps(opts.cpuRate)} pps offered, as wall time minus the idle time /proc/stat measures (not samples) on this NO_HZ kernel, divided by the delivered rate; nothing is subtracted. It takes in everything the director's side costs, the kernel's receive work and the softirqs and IPIs that run while the core is otherwise idle (which no thread's run time shows: this kernel has no IRQ time accounting), and nothing of the generator, so it is the steadier of the two figures. Ratios are a uvs row over the kernel and C rows (pps: higher is better; CPU: lower is better).`,
    '',
    `| Contender | best delivered pps | flat out | CPU ns/packet at ${kpps(opts.cpuRate)} | director core ns/packet | pps vs kernel | pps vs C | CPU vs kernel | CPU vs C | core vs kernel | core vs C |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const r of results) {
    const s = sums.get(r.name);
    if (s.broken) {
      lines.push(`| ${r.label} | **broken** | — | — | — | — | — | — | — | — | — |`);
      continue;
    }
    const isUvs = r.name.startsWith('uvs-');
    const cpu = s.cpuNs === undefined ? '—' : `${Math.round(s.cpuNs)}${s.cpuSaturated ? ' (saturated)' : ''}`;
    const core = s.coreNs === undefined ? '—' : String(Math.round(s.coreNs));
    const vs = (other, key) => (isUvs && ok(other) ? ratio(s[key], other[key]) : '');
    lines.push(
      `| ${r.label} | ${kpps(s.best)} | ${kpps(s.flat)} | ${cpu} | ${core} | ${vs(kernel, 'best')} | ${vs(c, 'best')} | ${vs(
        kernel,
        'cpuNs',
      )} | ${vs(c, 'cpuNs')} | ${vs(kernel, 'coreNs')} | ${vs(c, 'coreNs')} |`,
    );
  }
  lines.push(...renderTcpSection(report));
  lines.push('', '### Targets (issue 8)', '');
  // Between runs on this shared VM the same contender moves by 10-20%; a margin below 10% decides nothing.
  const verdict = (met, a, b) =>
    a !== undefined && b !== undefined && Math.abs(a / b - 1) < 0.1
      ? `**${met ? 'met' : 'not met'}, within noise** (under 10% apart)`
      : met
        ? '**met**'
        : '**not met**';
  // The targets are judged for uvs NAT through each I/O backend that ran (AF_PACKET, the default, and AF_XDP).
  const natRows = [
    ['uvs-nat', 'AF_PACKET'],
    ['uvs-nat-xdp', 'AF_XDP'],
  ].filter(([name]) => sums.has(name));
  for (const [i, [name, io]] of natRows.entries()) {
    const nat = sums.get(name);
    if (natRows.length > 1) lines.push(...(i > 0 ? [''] : []), `uvs NAT over ${io}:`, '');
    if (!ok(nat)) {
      lines.push(`- uvs NAT over ${io} did not run; no target can be judged for it.`);
      continue;
    }
    if (ok(c)) {
      lines.push(
        `- Live NAT delivered pps >= the C reference forwarder's: ${verdict(nat.best >= c.best, nat.best, c.best)} (${kpps(nat.best)} vs ${kpps(c.best)}).`,
      );
    }
    if (ok(kernel)) {
      lines.push(
        `- Goal beyond: >= the kernel nftables DNAT path: ${verdict(nat.best >= kernel.best, nat.best, kernel.best)} (${kpps(nat.best)} vs ${kpps(kernel.best)}).`,
      );
      if (nat.cpuNs !== undefined && kernel.cpuNs !== undefined) {
        lines.push(
          `- CPU per packet for NAT <= 1.5x the kernel's: ${verdict(nat.cpuNs <= 1.5 * kernel.cpuNs, nat.cpuNs, 1.5 * kernel.cpuNs)} (${ratio(nat.cpuNs, kernel.cpuNs)}; goal <= 1.0x).`,
        );
      }
      if (nat.coreNs !== undefined && kernel.coreNs !== undefined) {
        lines.push(
          `- The same on the director's core (wall minus measured idle): ${verdict(nat.coreNs <= 1.5 * kernel.coreNs, nat.coreNs, 1.5 * kernel.coreNs)} (${ratio(nat.coreNs, kernel.coreNs)}; goal <= 1.0x).`,
        );
      }
    }
    if (nat.flat !== undefined) {
      lines.push(
        `- No collapse under overload (flat out >= 90% of own peak): ${verdict(nat.flat >= 0.9 * nat.best, nat.flat, 0.9 * nat.best)} (${pct(nat.flat / nat.best)}).`,
      );
    }
  }
  if (natRows.length === 0) lines.push('- uvs NAT did not run; no target can be judged.');
  const broken = report.results.filter((r) => r.error !== undefined || r.tcp?.error !== undefined);
  if (broken.length > 0) {
    lines.push('', '### Failures', '');
    for (const r of broken) lines.push(`- ${r.label}: ${(r.error ?? `TCP: ${r.tcp.error}`).split('\n')[0]}`);
  }
  const bad = [...sums.values()].filter((s) => !s.broken && s.csumErrors > 0);
  if (bad.length > 0) {
    lines.push('', '### Checksum errors seen at the sink', '');
    for (const s of bad)
      lines.push(`- ${s.name}: ${s.csumErrors} datagrams failed the sink's checksum check (not counted).`);
  }
  lines.push(
    '',
    '### Method',
    '',
    '- Topology (bench/live/topology.mjs): generator, director and sink namespaces joined by two veth pairs. Every contender runs in the director namespace on the same two interfaces; the sink holds both RIPs, and the VIP on lo with arp_ignore=1/arp_announce=2 for DR.',
    `- Generator (bench/c/gen.c): AF_PACKET sendmmsg of prebuilt 64-byte Ethernet/IPv4/UDP frames with correct checksums, ${1024} source ports in turn, at a fixed rate (sendmmsg batches of about 100 µs of traffic, absolute-time sleeps between them), pinned to cpu0.`,
    "- Forwarders are pinned to cpu1 with taskset; the threaded NAPI worker of the director's ingress veth is pinned to cpu1 too (it shares the forwarder's core, as a NIC queue would); the sink's NAPI worker and reader run on cpu0 with the generator, so cpu1 does the director's work only. Checksum/TSO/GSO offloads are off on every veth (GRO stays on where NAPI must run), rp_filter loose, static neighbours everywhere so ARP is never measured.",
    "- User-space contenders (uvs, C): the director's kernel is kept out of the way: no addresses on the datapath interfaces, ip_forward=0, an nftables netdev ingress drop on both (AF_PACKET ETH_P_ALL taps run before it).",
    `- Kernel contender: addresses on both interfaces, ip_forward=1, conntrack, and \`dnat to numgen inc mod ${2} map {...}\` (ruleset below).`,
    `- uvs: \`uvs daemon\` with a UDP and a TCP virtual service on the VIP, each over both RIPs, round robin, -m / -g / -i (rules below), AF_PACKET rx ${opts.rx}, wake ${opts.wake}, batch ${opts.batch}.`,
    "- uvs NAT (AF_XDP): the same daemon and rules with `io.backend: afxdp` (src/io/afxdp.ts): a 6-instruction XDP program on each director veth (native mode, attached through a bpf_link) redirects every frame into an AF_XDP socket (copy mode: veth has no zero-copy), ahead of the netdev ingress drop; uvs copies frames between the sockets' UMEM and its batches, one native call per batch each way, and sends with one sendto() kick per 32 frames. With rx ring (the default here) its wake-ups are coalesced: under load it drains on a 1 ms timer, as the TPACKET_V3 ring hands over blocks. The XDP program runs in the director's ingress NAPI thread (cpu1) and is counted with the director. XDP carries no checksum state, which is why the generator's frames (full checksums, offloads off) are exactly what it needs.",
    '- C reference (bench/c/fwd.c): recvmmsg a batch, DNAT round robin with RFC 1624 incremental checksum updates, MAC rewrite, sendmmsg; no connection table. The ceiling of the AF_PACKET socket method.',
    '- Sink (bench/c/sink.c, pinned to cpu0): a UDP socket with an accept-all socket filter, which makes the kernel verify the UDP checksum before queueing (udp_queue_rcv_one_skb). Delivered = datagrams read + Udp RcvbufErrors (verified, but the reader fell behind). A bad checksum counts as lost; the run starts by checking this with 1000 good and 1000 bad-checksum frames' +
      (csumCheck?.ok ? ' (passed).' : '.'),
    '- TUN: this kernel has no ipip module, so the sink cannot decapsulate in its stack. It reads the IPIP packets on a raw IPPROTO_IPIP socket and counts those whose inner IPv4 header and UDP checksum verify (done in the sink program, not the kernel).',
    "- CPU time is the scheduler's exact run time of each thread (/proc/PID/task/TID/schedstat; the generator's own getrusage). /proc/stat is not used for the figures: it samples at the tick, and on this NO_HZ kernel it misses the short bursts of a rate-limited path (it read 1% busy for a 100 kpps generator).",
    `- Each step: sink counters, CPU times, ${opts.seconds} s of generator, CPU times, ${300} ms to drain, sink counters. A 0.5 s warm-up at 20 kpps before each contender creates the connections and fails the run if nothing arrives. Best = the highest delivered rate over the fixed-rate sweep; flat out is reported beside it because user-space forwarders lose throughput when overloaded.`,
    "- TCP server (bench/c/tcpserve.c, sink namespace, pinned to cpu0): a C epoll loop on 0.0.0.0:5000 that accepts, reads the 1-byte request, writes 1 byte and closes; the least a TCP server can do, so that the figures measure the path and not the server. It closes first (TIME_WAIT stays on the server) so the client's ports are free at once.",
    `- TCP client (bench/c/tcpconn.c, generator namespace, pinned to cpu0 with the server): non-blocking connects kept at a fixed concurrency for a fixed time; each connection is timed from connect() to the answer and read to the server's FIN; one that fails or takes over 2 s (one SYN retransmission still fits) is counted as failed. wrk is not used: it keeps connections alive and times requests. A 0.3 s warm-up before each contender's TCP phases fails that contender's TCP part if no connection completes.`,
    "- TCP paths: uvs and the kernel get a TCP service on the same VIP:port (rules below); the baseline connects to a RIP through the director with ip_forward=1 and no nftables table (so no conntrack). NAT answers go back through the director; DR and TUN answers leave the sink from the VIP over a return link straight to the generator namespace (`ip rule from VIP`), as an LVS real server answers the client directly. The director's ingress work runs in its NAPI thread on cpu1; the kernel contenders' answer direction runs in the sink's transmit softirq on cpu0 (the director's inner veth has no NAPI thread), uvs's in its process on cpu1.",
    "- TCP through TUN: this kernel has no ipip module, so the sink runs `uvs rs tun --vip VIP` (src/rs/) for the TCP phases, pinned to cpu0: it decapsulates in user space into a TUN device holding the VIP. TUN's TCP figures therefore include a user-space hop on the real server that a kernel ipip tunnel would not add.",
    ...(opts.rx === 'ring'
      ? [
          '- uvs with rx ring: a TPACKET_V3 block reaches uvs when it is full or when its retire timeout (1 ms) fires, so at light load (the c=1 phase above) each pass of a packet through uvs can wait up to that long; `--rx=mmsg` (recvmmsg, woken per packet) shows the latency without it.',
        ]
      : []),
    '',
    '<details><summary>Kernel ruleset and uvs rules (NAT)</summary>',
    '',
    '```',
    meta.kernelRuleset.trimEnd(),
    '```',
    '',
    '```',
    meta.uvsRules.trimEnd(),
    '```',
    '',
    '</details>',
  );
  return lines.join('\n');
}
