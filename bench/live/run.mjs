#!/usr/bin/env node
// `npm run bench:live`: measures, in one run on one namespace topology with one generator and one sink, how
// many 64-byte UDP frames per second each contender delivers and what each costs in CPU per packet:
//   uvs NAT, DR and TUN (`uvs daemon`; NAT also through the AF_XDP backend), the kernel's own NAT load
//   balancer (nftables numgen DNAT with
//   ip_forward=1), and the minimal C AF_PACKET forwarder in bench/c/fwd.c (the ceiling of the I/O method);
// then, with the same contender still running, TCP connections per second and connection latency (p50/p99)
// from bench/c/tcpconn.c in the generator namespace to bench/c/tcpserve.c in the sink namespace, against a
// baseline through plain kernel forwarding (added latency = contender - baseline). The C forwarder does only
// UDP DNAT and has no TCP row.
// Then it rewrites the live block of BENCHMARKS.md (between the bench:live markers; bench/run.mjs keeps it).
// The method follows docs/design.md, "Measuring on a small VM"; the figures it writes say how they were taken.
//
// Usage: node bench/live/run.mjs [--quick] [--no-write] [--seconds=S] [--rates=50000,100000,...]
//        [--cpu-rate=PPS] [--rx=ring|mmsg] [--wake=poll|busy|coalesce|adaptive] [--batch=N] [--only=NAME,...]
//        [--no-tcp] [--tcp-seconds=S] [--tcp-concurrency=N] [--nice]
// --only=NAME,... runs those contenders, in that order; it also reaches the extra rows below (uvs NAT with fixed
// rx/wake settings), which a run without --only leaves out.
// Needs root (network namespaces), cc, nft and ethtool. The TCP client is ours (bench/c/tcpconn.c), not wrk:
// wrk keeps connections alive and times requests, where this measures whole connections. Every step is bounded; namespaces are removed on
// exit, on failure and on SIGINT/SIGTERM.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs as parseCliArgs } from 'node:util';
import { stringify } from 'yaml';
import { renderLiveSection, replaceLiveBlock } from './report.mjs';
import {
  ADDR,
  buildBenchTopology,
  directorKernelForward,
  directorKernelNat,
  directorOutOfTheWay,
  kernelNatRuleset,
  threadsNamed,
  uvsConfig,
  uvsRules,
} from './topology.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const binDir = join(root, 'dist', 'bench-live');

const GEN_CPU = 0;
const FORWARDER_CPU = 1;
const SOURCE_PORTS = 1024;
/** After the generator stops: queues in the veths, the forwarder and the sink drain within this. */
const SETTLE_MS = 300;
/** Bound on starting a contender (the uvs daemon compiles and opens its rings within a few seconds). */
const START_TIMEOUT_MS = 20_000;
/** Bound on one child beyond its own duration. */
const CHILD_SLACK_MS = 10_000;

/** The TCP client's per-connection bound: one SYN retransmission (1 s) still completes within it. */
const TCP_TIMEOUT_MS = 2_000;
/** The TCP warm-up before each contender's TCP phases: proves the path and fills the director's tables. */
const TCP_WARMUP_S = 0.3;

/** `udp`/`tcp`: which parts a contender takes. The baseline (plain forwarding to a RIP) is TCP only. */
const CONTENDERS = [
  {
    name: 'baseline',
    kind: 'forward',
    label: 'baseline: kernel forwarding to a RIP, no NAT',
    udp: false,
    tcp: true,
  },
  { name: 'uvs-nat', kind: 'uvs', flag: '-m', label: 'uvs NAT (-m)', udp: true, tcp: true },
  // The same NAT service through the AF_XDP backend (src/io/afxdp.ts): an XDP program on both director
  // veths redirects every frame into uvs's AF_XDP sockets, ahead of the netdev ingress drop.
  {
    name: 'uvs-nat-xdp',
    kind: 'uvs',
    flag: '-m',
    backend: 'afxdp',
    label: 'uvs NAT (AF_XDP)',
    udp: true,
    tcp: true,
  },
  { name: 'uvs-dr', kind: 'uvs', flag: '-g', label: 'uvs DR (-g)', udp: true, tcp: true },
  { name: 'uvs-tun', kind: 'uvs', flag: '-i', label: 'uvs TUN (-i)', udp: true, tcp: true },
  { name: 'kernel-nat', kind: 'kernel', label: 'kernel nftables DNAT', udp: true, tcp: true },
  { name: 'c-fwd', kind: 'c', label: 'C AF_PACKET forwarder', udp: true, tcp: false },
  // Extra rows, run only when named in --only: uvs NAT with its receive and wake-up settings fixed here
  // instead of taken from --rx/--wake, so that one run compares them (ratios within a run; docs/performance.md).
  // `uvs-nat-default` sets neither: what the daemon does when the config says nothing.
  { name: 'uvs-nat-default', kind: 'uvs', flag: '-m', io: {}, label: 'uvs NAT, daemon defaults', extra: true },
  ...['poll', 'busy', 'coalesce', 'adaptive'].map((wake) => ({
    name: `uvs-nat-mmsg-${wake}`,
    kind: 'uvs',
    flag: '-m',
    io: { rx: 'mmsg', wake },
    label: `uvs NAT, rx mmsg, wake ${wake}`,
    extra: true,
  })),
].map((c) => ({ udp: true, tcp: true, ...c }));

/** Parses `--key=value` options with node:util parseArgs; unknown or malformed options throw. */
function parseArgs(argv) {
  const { values } = parseCliArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      quick: { type: 'boolean' },
      'no-write': { type: 'boolean' },
      seconds: { type: 'string' },
      rates: { type: 'string' },
      'cpu-rate': { type: 'string' },
      rx: { type: 'string' },
      wake: { type: 'string' },
      batch: { type: 'string' },
      only: { type: 'string' },
      'no-tcp': { type: 'boolean' },
      'tcp-seconds': { type: 'string' },
      'tcp-concurrency': { type: 'string' },
      nice: { type: 'boolean' },
    },
  });
  const choice = (name, value, allowed, fallback) => {
    if (value === undefined) return fallback;
    if (!allowed.includes(value)) throw new Error(`bench:live: --${name} must be one of ${allowed.join(', ')}`);
    return value;
  };
  const num = (v) => (v === undefined ? undefined : Number(v));
  const opts = {
    quick: values.quick === true,
    write: values['no-write'] !== true,
    seconds: num(values.seconds),
    rates: values.rates?.split(',').map(Number),
    cpuRate: num(values['cpu-rate']) ?? 100_000,
    rx: choice('rx', values.rx, ['ring', 'mmsg'], 'ring'),
    wake: choice('wake', values.wake, ['poll', 'busy', 'coalesce', 'adaptive'], 'poll'),
    batch: num(values.batch) ?? 64,
    only: values.only?.split(','),
    tcp: values['no-tcp'] !== true,
    tcpSeconds: num(values['tcp-seconds']),
    tcpConcurrency: num(values['tcp-concurrency']) ?? 16,
    nice: values.nice === true,
  };
  opts.seconds ??= opts.quick ? 1.5 : 3;
  opts.rates ??= opts.quick ? [100_000, 300_000, 600_000] : [50_000, 100_000, 200_000, 300_000, 400_000, 600_000];
  if (!opts.rates.includes(opts.cpuRate)) opts.rates = [...opts.rates, opts.cpuRate].sort((a, b) => a - b);
  if (!(opts.seconds > 0 && opts.seconds <= 30)) throw new Error('bench:live: --seconds must be in (0, 30]');
  if (opts.rates.some((r) => !(r > 0 && r <= 5_000_000))) throw new Error('bench:live: bad --rates');
  // The latency phase (concurrency 1) runs for half as long as the rate phase: it needs fewer samples.
  opts.tcpSeconds ??= opts.quick ? 1.5 : 4;
  if (!(opts.tcpSeconds > 0 && opts.tcpSeconds <= 30)) throw new Error('bench:live: --tcp-seconds must be in (0, 30]');
  if (!(Number.isInteger(opts.tcpConcurrency) && opts.tcpConcurrency >= 1 && opts.tcpConcurrency <= 1024)) {
    throw new Error('bench:live: --tcp-concurrency must be an integer in 1..1024');
  }
  return opts;
}

const out = (line) => console.log(line);

function sh(cmd, args, options = {}) {
  const res = spawnSync(cmd, args, { encoding: 'utf8', timeout: options.timeout ?? 120_000, cwd: root });
  if (res.status !== 0 && !options.allowFail) {
    throw new Error(`bench:live: \`${cmd} ${args.join(' ')}\` failed:\n${(res.stderr || res.stdout || '').trim()}`);
  }
  return res;
}

function preflight() {
  if (process.getuid?.() !== 0) throw new Error('bench:live: needs root (network namespaces, AF_PACKET)');
  // Each command with the Debian package that has it.
  for (const [cmd, arg, pkg] of [
    ['cc', '--version', 'gcc'],
    ['nft', '--version', 'nftables'],
    ['ethtool', '--version', 'ethtool'],
    ['taskset', '--version', 'util-linux'],
  ]) {
    if (spawnSync(cmd, [arg], { stdio: 'ignore', timeout: 5_000 }).status !== 0) {
      throw new Error(`bench:live: ${cmd} is not installed (apt-get install ${pkg})`);
    }
  }
  if (os.cpus().length < 2) throw new Error('bench:live: needs two CPUs (generator on cpu0, forwarder on cpu1)');
}

/** Builds src/ (the daemon runs from dist/) and the C programs; no binary is kept in the tree. */
function build() {
  const tsc = join(root, 'node_modules', '.bin', 'tsc');
  const res = sh(tsc, ['-p', join(root, 'tsconfig.json')], { allowFail: true, timeout: 300_000 });
  if (res.status !== 0) {
    if (!existsSync(join(root, 'dist', 'cli', 'uvs.js'))) {
      throw new Error(`bench:live: building src/ failed and there is no dist/:\n${res.stdout}${res.stderr}`);
    }
    out('warning: `tsc -p tsconfig.json` failed; measuring the dist/ already built (see `npm run build`)');
  }
  mkdirSync(binDir, { recursive: true });
  const bins = {};
  for (const name of ['gen', 'fwd', 'sink', 'tcpserve', 'tcpconn']) {
    bins[name] = join(binDir, name);
    sh('cc', ['-O2', '-Wall', '-o', bins[name], join(root, 'bench', 'c', `${name}.c`)]);
  }
  return bins;
}

/**
 * With --nice, every program of the rig and every contender runs at nice -20 (and the veths' NAPI threads are
 * reniced so): on a machine shared with other work, they then get their cores when they need them, and the
 * figures measure the contenders rather than the queue for the CPU. Every contender gets the same treatment.
 */
let nicePrefix = [];

/** A child inside a namespace, with a hard time limit, its stdout split into lines. */
class Child {
  constructor(ns, argv, timeoutMs) {
    this.stdout = '';
    this.stderr = '';
    this.lines = [];
    this.waiters = [];
    this.proc = spawn('ip', ['netns', 'exec', ns, ...nicePrefix, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    let pending = '';
    this.proc.stdout.setEncoding('utf8').on('data', (chunk) => {
      this.stdout += chunk;
      pending += chunk;
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        this.lines.push(line);
        for (const w of [...this.waiters]) w(line);
      }
    });
    this.proc.stderr.setEncoding('utf8').on('data', (chunk) => {
      this.stderr += chunk;
    });
    this.timer = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    this.done = new Promise((resolve) => {
      this.proc.on('close', (code, signal) => {
        clearTimeout(this.timer);
        this.exited = true;
        resolve({ code, signal });
        for (const w of [...this.waiters]) w(null);
      });
    });
    children.add(this);
    this.done.then(() => children.delete(this));
  }

  /** The next stdout line (from now on) that matches, or an error after `timeoutMs` or when the child ends. */
  nextLine(match, timeoutMs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`no expected output within ${timeoutMs} ms`)), timeoutMs);
      const waiter = (line) => {
        if (line === null) finish(new Error(`it ended: ${this.stderr.trim() || this.stdout.trim()}`));
        else if (match(line)) finish(undefined, line);
      };
      const finish = (err, line) => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        if (err) reject(err);
        else resolve(line);
      };
      if (this.exited) finish(new Error(`it had ended: ${this.stderr.trim()}`));
      else this.waiters.push(waiter);
    });
  }

  async stop(graceMs = 3_000) {
    if (this.exited) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.done;
    clearTimeout(t);
  }
}

const children = new Set();

/**
 * Sum of busy and total jiffies of each CPU, and its idle time (idle + iowait), from /proc/stat (global,
 * whatever namespace). The busy columns are sampled at the tick; idle is not: on a NO_HZ kernel /proc/stat
 * reports the measured idle sleep (get_cpu_idle_time_us()), so wall time minus idle is a CPU's exact busy
 * time, softirqs and IPIs handled while it was otherwise idle included, to the 10 ms unit of the file.
 */
function cpuTimes() {
  const lines = readFileSync('/proc/stat', 'utf8').split('\n');
  const cpus = [];
  for (const line of lines) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const v = m[2].trim().split(/\s+/).map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    cpus[Number(m[1])] = { busy: total - idle, total, idle, at: performance.now() };
  }
  return cpus;
}

function cpuBusyCores(before, after) {
  const perCpu = after.map((a, i) => {
    const b = before[i];
    const total = a.total - b.total;
    return total > 0 ? (a.busy - b.busy) / total : 0;
  });
  return { perCpu, cores: perCpu.reduce((x, y) => x + y, 0) };
}

/**
 * Nanoseconds on CPU of every thread of `pids`, from /proc/PID/task/TID/schedstat: the scheduler's exact run
 * time. /proc/stat samples at the tick, and on this NO_HZ kernel it misses short bursts of work entirely.
 */
function threadCpuNs(pids) {
  let total = 0;
  for (const pid of pids) {
    let tids;
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {}
    }
  }
  return total;
}

/** Udp counters of the sink's namespace (/proc/net/snmp shows the reading process's namespace). */
function sinkSnmp(topology) {
  const text = sh('ip', ['netns', 'exec', topology.ns.sink, 'cat', '/proc/net/snmp']).stdout;
  const lines = text.split('\n').filter((l) => l.startsWith('Udp:'));
  const keys = (lines[0] ?? '').split(/\s+/).slice(1);
  const vals = (lines[1] ?? '').split(/\s+/).slice(1).map(Number);
  const get = (k) => vals[keys.indexOf(k)] ?? 0;
  return { rcvbufErrors: get('RcvbufErrors'), csumErrors: get('InCsumErrors'), noPorts: get('NoPorts') };
}

class Bench {
  constructor(opts, bins, topology, sink, tcpServer) {
    this.opts = opts;
    this.bins = bins;
    this.topology = topology;
    this.sink = sink;
    this.tcpServer = tcpServer;
    /** `uvs rs tun` in the sink namespace while TUN's TCP phases run. */
    this.rsTunPid = undefined;
    this.stepNo = 0;
    this.totalSteps = 0;
    /** The running contender's process (uvs daemon, C forwarder), if it is one. */
    this.contenderPid = undefined;
    // Softirq work that does not run in a NAPI thread lands in ksoftirqd; count it for the director.
    this.softirqPids = threadsNamed('ksoftirqd/');
  }

  /** The sink's reader and its NAPI thread. */
  sinkPids() {
    return [
      this.sink.proc.pid,
      ...this.topology.napi.sink,
      ...(this.tcpServer ? [this.tcpServer.proc.pid] : []),
      ...(this.rsTunPid ? [this.rsTunPid] : []),
    ];
  }

  /** Threads doing the director's work: the contender, the director's ingress NAPI thread, ksoftirqd. */
  directorPids() {
    return [...(this.contenderPid ? [this.contenderPid] : []), ...this.topology.napi.dirIn, ...this.softirqPids];
  }

  async sinkCounts() {
    const line = this.sink.nextLine((l) => l.startsWith('{"udp"'), 5_000);
    this.sink.proc.kill('SIGUSR1');
    const counts = JSON.parse(await line);
    return { ...counts, ...sinkSnmp(this.topology) };
  }

  async generate(rate, seconds, extra = []) {
    const t = this.topology;
    const argv = [
      this.bins.gen,
      '--if',
      t.dev.gen,
      '--src-mac',
      t.mac.gen,
      '--dst-mac',
      t.mac.dirIn,
      '--src-ip',
      ADDR.gen,
      '--dst-ip',
      ADDR.vip,
      '--dst-port',
      String(ADDR.port),
      '--ports',
      String(SOURCE_PORTS),
      '--rate',
      String(rate),
      '--seconds',
      String(seconds),
      '--cpu',
      String(GEN_CPU),
      ...extra,
    ];
    const gen = new Child(t.ns.gen, argv, seconds * 1000 + CHILD_SLACK_MS);
    const { code } = await gen.done;
    if (code !== 0) throw new Error(`bench:live: the generator failed: ${gen.stderr.trim()}`);
    return JSON.parse(gen.stdout.trim().split('\n').pop());
  }

  /** One fixed-rate step: offered and delivered pps, busy CPU over the generator's run. */
  async step(contender, rate, seconds, tunnel) {
    const before = await this.sinkCounts();
    const cpu0 = cpuTimes();
    const dir0 = threadCpuNs(this.directorPids());
    const sink0 = threadCpuNs(this.sinkPids());
    const t0 = performance.now();
    const gen = await this.generate(rate, seconds);
    const dir1 = threadCpuNs(this.directorPids());
    const sink1 = threadCpuNs(this.sinkPids());
    const cpu1 = cpuTimes();
    await sleep(SETTLE_MS);
    const after = await this.sinkCounts();
    const wall = (performance.now() - t0) / 1000;
    const delivered = tunnel
      ? after.ipip - before.ipip
      : after.udp - before.udp + (after.rcvbufErrors - before.rcvbufErrors);
    const cpu = cpuBusyCores(cpu0, cpu1);
    const core0 = cpu0[FORWARDER_CPU];
    const core1 = cpu1[FORWARDER_CPU];
    const result = {
      rate,
      offeredPps: gen.sent / gen.seconds,
      sent: gen.sent,
      seconds: gen.seconds,
      delivered,
      deliveredPps: delivered / gen.seconds,
      csumErrors: after.csumErrors - before.csumErrors,
      rcvbufErrors: after.rcvbufErrors - before.rcvbufErrors,
      noPorts: after.noPorts - before.noPorts,
      ipipBad: after.ipipBad - before.ipipBad,
      cpuPerCpu: cpu.perCpu,
      cpuCores: cpu.cores,
      generatorCpuS: gen.cpu,
      directorCpuS: (dir1 - dir0) / 1e9,
      /**
       * Share of the director's core (cpu1: the contender, the ingress NAPI thread, and every softirq and IPI
       * that landed there) that was busy: wall time minus measured idle. Nothing else runs there.
       */
      directorCoreBusy:
        core0 && core1 ? Math.max(0, 1 - (core1.idle - core0.idle) / 100 / ((core1.at - core0.at) / 1000)) : undefined,
      /** Cores kept busy by the generator and the director's side (contender, ingress NAPI, ksoftirqd). */
      workCores: (gen.cpu + (dir1 - dir0) / 1e9) / gen.seconds,
      /**
       * Busy cores by /proc/stat minus every thread of ours: other work on the machine during the step, a
       * rough noise gauge (/proc/stat is tick-sampled, so it only means something when it is large).
       */
      otherCores: Math.max(0, cpu.cores - (gen.cpu + (dir1 - dir0) / 1e9 + (sink1 - sink0) / 1e9) / gen.seconds),
      wall,
    };
    this.progress(contender, result);
    return result;
  }

  /**
   * One TCP phase: `concurrency` connections in flight for `seconds` from the generator namespace to `dst`,
   * each connect + 1-byte request + 1-byte answer; the client is pinned with the generator (cpu0).
   */
  async tcpRun(contender, phase, dst, concurrency, seconds) {
    const t = this.topology;
    const argv = [
      this.bins.tcpconn,
      '--dst',
      dst,
      '--port',
      String(ADDR.port),
      '--concurrency',
      String(concurrency),
      '--seconds',
      String(seconds),
      '--timeout-ms',
      String(TCP_TIMEOUT_MS),
      '--cpu',
      String(GEN_CPU),
    ];
    const cpu0 = cpuTimes();
    const ours0 = threadCpuNs([...this.directorPids(), ...this.sinkPids()]);
    const client = new Child(t.ns.gen, argv, seconds * 1000 + TCP_TIMEOUT_MS + CHILD_SLACK_MS);
    const { code } = await client.done;
    const ours1 = threadCpuNs([...this.directorPids(), ...this.sinkPids()]);
    const cpu1 = cpuTimes();
    if (code !== 0) throw new Error(`the TCP client failed: ${client.stderr.trim() || `exit ${code}`}`);
    const r = JSON.parse(client.stdout.trim().split('\n').pop());
    const busy = cpuBusyCores(cpu0, cpu1).cores;
    const result = {
      phase,
      concurrency,
      dst,
      ...r,
      failed: r.refused + r.reset + r.timeout + r.other,
      // As for the UDP steps: busy cores by /proc/stat minus our threads' exact run time, a rough noise gauge.
      otherCores: Math.max(0, busy - (r.cpu + (ours1 - ours0) / 1e9) / r.seconds),
    };
    this.stepNo++;
    const n = String(this.totalSteps).length;
    const failed = result.failed > 0 ? `, ${result.failed} failed` : '';
    out(
      `[${String(this.stepNo).padStart(n)}/${this.totalSteps}] ${contender.padEnd(10)} TCP ${phase.padEnd(7)} c=${String(concurrency).padEnd(3)} ` +
        `${result.cps.toFixed(0).padStart(6)} conn/s  p50 ${usText(result.p50Us)} p99 ${usText(result.p99Us)}${failed}  other work ${pctOf(result.otherCores)}`,
    );
    return result;
  }

  progress(contender, r) {
    this.stepNo++;
    const n = String(this.totalSteps).length;
    const rate = r.rate === 0 ? 'flat out' : `${kpps(r.rate)}`;
    const cpus = `gen ${pctOf(r.generatorCpuS / r.seconds)} director ${pctOf(r.directorCpuS / r.seconds)} other work ${pctOf(r.otherCores)}`;
    const errs = r.csumErrors + r.ipipBad > 0 ? `, ${r.csumErrors + r.ipipBad} bad checksums` : '';
    out(
      `[${String(this.stepNo).padStart(n)}/${this.totalSteps}] ${contender.padEnd(10)} offered ${rate.padStart(8)} ` +
        `(sent ${kpps(r.offeredPps)}) -> delivered ${kpps(r.deliveredPps).padStart(7)}  ${cpus}${errs}`,
    );
  }
}

const usText = (us) => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${Math.round(us)} µs`);
const pctOf = (x) => `${Math.round(x * 100)}%`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const kpps = (pps) => `${(pps / 1000).toFixed(1)}k`;

function waitForSocket(path, child, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  return (async () => {
    for (;;) {
      if (child.exited) throw new Error(`the uvs daemon exited at start:\n${child.stderr.trim()}`);
      try {
        if (statSync(path).isSocket()) return;
      } catch {}
      if (Date.now() > deadline) throw new Error(`the uvs daemon did not open ${path} in time`);
      await sleep(100);
    }
  })();
}

/** Starts a contender in the director namespace; returns its stop function. */
async function startContender(c, bench, workDir) {
  const t = bench.topology;
  const lifetime = 30 * 60_000;
  if (c.kind === 'uvs') {
    directorOutOfTheWay(t);
    const dir = join(workDir, c.name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'rules.txt'), uvsRules(c.flag));
    // gro: keep, because the director's ingress veth runs NAPI (and its pinned thread) only while GRO is on:
    // with the daemon's default (off), the thread is gone for every contender after it, and the kernel's
    // forwarding lands on the generator's core. 64-byte UDP and 1-byte TCP exchanges give GRO nothing to merge.
    const io = {
      backend: c.backend ?? 'afpacket',
      ...(c.io ?? { rx: bench.opts.rx, wake: bench.opts.wake }),
      batch: bench.opts.batch,
      gro: 'keep',
    };
    writeFileSync(join(dir, 'uvs.yaml'), stringify(uvsConfig(t, dir, io)));
    const argv = [
      'taskset',
      '-c',
      String(FORWARDER_CPU),
      process.execPath,
      join(root, 'dist', 'cli', 'uvs.js'),
      'daemon',
      '--config',
      join(dir, 'uvs.yaml'),
      '--log-level',
      'warn',
    ];
    const child = new Child(t.ns.director, argv, lifetime);
    await waitForSocket(join(dir, 'uvs.sock'), child, START_TIMEOUT_MS);
    bench.contenderPid = child.proc.pid;
    return { stop: () => child.stop(), describe: () => child.stderr.trim().split('\n').slice(-3).join('\n') };
  }
  if (c.kind === 'kernel') {
    directorOutOfTheWay(t);
    directorKernelNat(t);
    return { stop: async () => directorOutOfTheWay(t), describe: () => '' };
  }
  if (c.kind === 'forward') {
    directorOutOfTheWay(t);
    directorKernelForward(t);
    return { stop: async () => directorOutOfTheWay(t), describe: () => '' };
  }
  directorOutOfTheWay(t);
  const argv = [
    bench.bins.fwd,
    '--in',
    t.dev.dirIn,
    '--out',
    t.dev.dirOut,
    '--vip',
    ADDR.vip,
    ...ADDR.rips.flatMap((r) => ['--rip', r]),
    '--dst-mac',
    t.mac.sink,
    '--cpu',
    String(FORWARDER_CPU),
  ];
  const child = new Child(t.ns.director, argv, lifetime);
  await child.nextLine((l) => l.includes('"ready"'), START_TIMEOUT_MS);
  bench.contenderPid = child.proc.pid;
  return { stop: () => child.stop(), describe: () => child.stderr.trim() };
}

async function measureContender(c, bench, workDir) {
  const { opts } = bench;
  const result = { name: c.name, label: c.label, udp: c.udp, steps: [], error: undefined, tcp: undefined };
  let running;
  try {
    running = await startContender(c, bench, workDir);
    if (c.udp) {
      // Warm-up: creates the connections (every source port) and proves the path works at all.
      const warm = await bench.step(c.name, 20_000, 0.5, c.flag === '-i');
      result.warmup = warm;
      if (warm.delivered === 0) {
        const why = warm.csumErrors + warm.ipipBad > 0 ? ' (every packet had a bad checksum)' : '';
        throw new Error(`delivered nothing at 20 kpps${why}; the setup is broken. ${running.describe()}`);
      }
      for (const rate of [...opts.rates, 0])
        result.steps.push(await bench.step(c.name, rate, opts.seconds, c.flag === '-i'));
    }
    // A TCP failure is recorded apart: it does not void the UDP figures taken above.
    if (c.tcp && opts.tcp) result.tcp = await measureTcp(c, bench, workDir, running);
  } catch (err) {
    result.error = err instanceof Error ? err.message : String(err);
    out(`  ${c.name}: FAILED: ${result.error}`);
  } finally {
    await running?.stop();
    bench.contenderPid = undefined;
  }
  return result;
}

/**
 * The TCP phases through a running contender: a short warm-up, then the latency phase (one connection at a
 * time: the path's own delay, without queueing) and the rate phase (`--tcp-concurrency` in flight: the most
 * connections per second, and latency under that load). TUN's real server needs `uvs rs tun` meanwhile.
 */
async function measureTcp(c, bench, workDir, running) {
  const { opts } = bench;
  const tcp = { warmup: undefined, latency: undefined, rate: undefined, error: undefined };
  const dst = c.kind === 'forward' ? ADDR.rips[0] : ADDR.vip;
  let decap;
  try {
    if (c.flag === '-i') decap = await startRsTun(bench, workDir);
    tcp.warmup = await bench.tcpRun(c.name, 'warm-up', dst, 1, TCP_WARMUP_S);
    if (tcp.warmup.completed === 0) {
      throw new Error(
        `no TCP connection completed (${tcp.warmup.refused} refused, ${tcp.warmup.reset} reset, ${tcp.warmup.timeout} timed out). ${running.describe()}`,
      );
    }
    tcp.latency = await bench.tcpRun(c.name, 'latency', dst, 1, opts.tcpSeconds / 2);
    tcp.rate = await bench.tcpRun(c.name, 'rate', dst, opts.tcpConcurrency, opts.tcpSeconds);
  } catch (err) {
    tcp.error = err instanceof Error ? err.message : String(err);
    out(`  ${c.name}: TCP FAILED: ${tcp.error}`);
  } finally {
    await decap?.stop();
    bench.rsTunPid = undefined;
  }
  return tcp;
}

/**
 * `uvs rs tun` in the sink namespace: this kernel has no ipip module, so the real server decapsulates in user
 * space (AF_PACKET in, a TUN device holding the VIP out) and its kernel answers from the VIP over the return
 * link. Pinned with the sink (cpu0), so that cpu1 still does only the director's work.
 */
async function startRsTun(bench, workDir) {
  const t = bench.topology;
  const stateDir = join(workDir, 'rs-tun');
  mkdirSync(stateDir, { recursive: true });
  const argv = [
    'taskset',
    '-c',
    String(GEN_CPU),
    process.execPath,
    join(root, 'dist', 'cli', 'uvs.js'),
    'rs',
    'tun',
    '--vip',
    ADDR.vip,
    '--dev',
    t.dev.sink,
    '--state-dir',
    stateDir,
  ];
  const child = new Child(t.ns.sink, argv, 30 * 60_000);
  try {
    await child.nextLine((l) => l.includes('decapsulating'), START_TIMEOUT_MS);
  } catch (err) {
    await child.stop();
    throw new Error(`uvs rs tun did not start: ${err instanceof Error ? err.message : err}`);
  }
  bench.rsTunPid = child.proc.pid;
  return child;
}

function git(args) {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  preflight();
  const load = os.loadavg();
  out(
    `bench:live: load average at start ${load.map((l) => l.toFixed(2)).join(' ')} (other work on this machine adds noise)`,
  );
  out('bench:live: building src/ and bench/c/ ...');
  const bins = build();

  // The TCP baseline runs whenever TCP does: every contender's added latency is measured against it.
  // With --only, in the order it names them (the baseline first), so that two runs can swap the order of
  // two contenders and take the drift of other work on the machine out of their comparison.
  const position = (c) => (c.name === 'baseline' ? -1 : (opts.only?.indexOf(c.name) ?? 0));
  const contenders = CONTENDERS.filter(
    (c) => (opts.only ? opts.only.includes(c.name) : !c.extra) || (c.name === 'baseline' && opts.tcp),
  )
    .filter((c) => c.udp || opts.tcp)
    .sort((a, b) => position(a) - position(b));
  const workDir = mkdtempSync(join(os.tmpdir(), 'uvs-bench-live-'));
  let topology;
  const cleanup = () => {
    for (const c of children) c.proc.kill('SIGKILL');
    topology?.teardown();
    rmSync(workDir, { recursive: true, force: true });
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => {
      cleanup();
      out(`bench:live: stopped by ${sig}; namespaces removed`);
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
  const started = new Date();
  try {
    topology = buildBenchTopology(out);
    if (opts.nice) {
      nicePrefix = ['nice', '-n', '-20'];
      for (const tid of [...topology.napi.dirIn, ...topology.napi.sink]) sh('renice', ['-n', '-20', '-p', String(tid)]);
      out('bench:live: --nice: the rig, the contenders and the NAPI threads run at nice -20');
    }
    const sink = new Child(
      topology.ns.sink,
      [bins.sink, '--port', String(ADDR.port), '--ipip', '--cpu', String(GEN_CPU), '--seconds', '1800'],
      1_800_000,
    );
    await sink.nextLine((l) => l.includes('"ready"'), START_TIMEOUT_MS);
    let tcpServer;
    if (opts.tcp) {
      tcpServer = new Child(
        topology.ns.sink,
        [bins.tcpserve, '--port', String(ADDR.port), '--cpu', String(GEN_CPU), '--seconds', '1800'],
        1_800_000,
      );
      await tcpServer.nextLine((l) => l.includes('"ready"'), START_TIMEOUT_MS);
    }
    const bench = new Bench(opts, bins, topology, sink, tcpServer);
    bench.totalSteps =
      3 +
      contenders.filter((c) => c.udp).length * (opts.rates.length + 2) +
      (opts.tcp ? contenders.filter((c) => c.tcp).length * 3 : 0);

    // Generator only: the director drops everything at ingress. Its CPU is what every contender's figure is
    // measured against; its flat-out rate is the most any contender can be offered. The bad-checksum step
    // proves that the sink counts only what its UDP stack accepts.
    directorOutOfTheWay(topology);
    const baseline = {
      cpuRate: await bench.step('generator', opts.cpuRate, opts.seconds, false),
      flatOut: await bench.step('generator', 0, opts.seconds, false),
    };
    const csumCheck = await checksumCheck(bench);

    const results = [];
    for (const c of contenders) results.push(await measureContender(c, bench, workDir));
    const finished = new Date();
    const meta = {
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores: os.cpus().length,
      kernel: `${os.type()} ${os.release()} ${os.arch()}`,
      node: process.version,
      date: started.toISOString(),
      minutes: (finished - started) / 60_000,
      command: commandLine(),
      commit: git(['describe', '--always', '--dirty']) ?? 'unknown',
      loadAverage: load,
      loadAverageEnd: os.loadavg(),
      opts,
      kernelRuleset: kernelNatRuleset(),
      uvsRules: uvsRules('-m'),
    };
    const report = { meta, baseline, csumCheck, results };
    writeFileSync(join(binDir, 'results.json'), JSON.stringify(report, null, 2));
    const section = renderLiveSection(report);
    if (opts.write) {
      const path = join(root, 'BENCHMARKS.md');
      const current = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n';
      writeFileSync(path, replaceLiveBlock(current, section));
      out('bench:live: wrote the live section of BENCHMARKS.md');
    } else {
      out(section);
    }
    const broken = results.filter((r) => r.error !== undefined || r.tcp?.error !== undefined);
    if (broken.length > 0) {
      throw new Error(`bench:live: ${broken.map((r) => `${r.name} (${r.error ?? `TCP: ${r.tcp.error}`})`).join('; ')}`);
    }
  } finally {
    await sleep(0);
    cleanup();
  }
}

/** Sends frames with corrupted UDP checksums through nothing but the sink's own stack: none may count. */
async function checksumCheck(bench) {
  // The generator talks to the director's MAC, which drops everything here; so this check goes straight to
  // the sink by giving the sink's own MAC and one of its RIPs from inside the director namespace.
  const t = bench.topology;
  const before = await bench.sinkCounts();
  const argv = [
    bench.bins.gen,
    '--if',
    t.dev.dirOut,
    '--src-mac',
    t.mac.dirOut,
    '--dst-mac',
    t.mac.sink,
    '--src-ip',
    ADDR.gen,
    '--dst-ip',
    ADDR.rips[0],
    '--dst-port',
    String(ADDR.port),
    '--ports',
    '16',
    '--count',
    '1000',
    '--rate',
    '50000',
    '--seconds',
    '2',
  ];
  const good = new Child(t.ns.director, argv, 10_000);
  await good.done;
  const bad = new Child(t.ns.director, [...argv, '--bad-csum'], 10_000);
  await bad.done;
  await sleep(SETTLE_MS);
  const after = await bench.sinkCounts();
  const r = {
    goodSent: 1000,
    badSent: 1000,
    counted: after.udp - before.udp + (after.rcvbufErrors - before.rcvbufErrors),
    csumErrors: after.csumErrors - before.csumErrors,
  };
  r.ok = r.counted === r.goodSent && r.csumErrors === r.badSent;
  bench.stepNo++;
  out(
    `[${String(bench.stepNo).padStart(String(bench.totalSteps).length)}/${bench.totalSteps}] sink check: 1000 good + 1000 bad-checksum frames -> counted ${r.counted}, ` +
      `InCsumErrors +${r.csumErrors} ${r.ok ? '(ok)' : '(UNEXPECTED: the sink does not count what it should)'}`,
  );
  if (!r.ok) throw new Error('bench:live: the sink does not count only valid datagrams; figures would be wrong');
  return r;
}

function commandLine() {
  const args = process.argv.slice(2);
  return process.env.npm_lifecycle_event === 'bench:live'
    ? `npm run bench:live${args.length ? ` -- ${args.join(' ')}` : ''}`
    : `node bench/live/run.mjs${args.length ? ` ${args.join(' ')}` : ''}`;
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
