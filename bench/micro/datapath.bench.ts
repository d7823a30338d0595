// The datapath's cost per packet (Datapath.processBatch, src/datapath/datapath.ts) for steady NAT, DR and TUN
// traffic and for a mix of everything, plus the garbage it leaves per packet. The hot-path rule is that a
// packet allocates nothing; the garbage figure is there to keep it so.
//
// Each scenario is one prebuilt batch of 64 frames, replayed: mostly data segments of established
// connections (and, for NAT, the real servers' replies), plus a few flows that are opened and reset in every
// batch, so that each batch also schedules new connections: a SYN finding its flow's entry in CLOSE is
// scheduled anew (conn_reuse_mode 1), the way a SYN with no entry is. processBatch copies every rx frame into
// tx before rewriting it, so rx stays pristine and the only thing to restore between batches is tx.count
// (checked once at setup: the rx bytes are compared after a run).
//
// UVS_BENCH_BASELINE=/path/to/datapath.bench.js (another version's compiled copy of this file, e.g. the last
// commit built into a temporary directory with its own bench/tsconfig.json) adds that version's cases beside
// these, in the same run and process, so that whatever else loads the machine weighs on both: old and new are
// compared side by side (docs/performance.md).

import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { parseConfig } from '../../src/config/director.js';
import { TcpFlag } from '../../src/conn/tcp-state.js';
import { IpProto } from '../../src/constants.js';
import { FrameCopier } from '../../src/datapath/copy.js';
import { Datapath } from '../../src/datapath/datapath.js';
import { FrameBatch } from '../../src/io/batch.js';
import { IpvsCore } from '../../src/ipvs/core.js';
import { parseRules } from '../../src/model/save-format.js';
import { parseIpv4Address, parseMac } from '../../src/wire/addr.js';
import { ArpOp } from '../../src/wire/arp.js';
import { buildFrame, ipv4Fields } from '../../src/wire/frame.js';
import { IcmpType } from '../../src/wire/icmp.js';
import type { BenchGroup, BenchModule, CaseResult } from '../types.js';

const ip = (text: string): number => parseIpv4Address(text)!;
const mac = (text: string): number => parseMac(text)!;

//   clients 203.0.113.0/24 (behind gateway 192.168.1.1), on-link client 192.168.1.100
//              |  eth0: 192.168.1.231 (NAT VIP), .232 (DR VIP), .233 (TUN VIP)
//         [ director ]
//              |  eth1: 192.168.2.1/24
//   RS1 192.168.2.11, RS2 192.168.2.12
// Every address is above 2^31, as most real ones are: such numbers are not small integers to V8.
const CONFIG = `interfaces:
  - name: eth0
    mac: "02:00:00:00:00:01"
    mtu: 1500
    addresses: [192.168.1.231/24, 192.168.1.232/24, 192.168.1.233/24]
  - { name: eth1, mac: "02:00:00:00:00:02", mtu: 1500, addresses: [192.168.2.1/24] }
neighbours:
  - { ip: 192.168.1.1, mac: "02:00:00:00:01:01" }
  - { ip: 192.168.2.11, mac: "02:00:00:00:02:11" }
  - { ip: 192.168.2.12, mac: "02:00:00:00:02:12" }
routes:
  - { to: default, via: 192.168.1.1 }
`;
const RULES = `-A -t 192.168.1.231:80 -s rr
-a -t 192.168.1.231:80 -r 192.168.2.11:8080 -m -w 1
-a -t 192.168.1.231:80 -r 192.168.2.12:8080 -m -w 1
-A -t 192.168.1.232:80 -s wrr
-a -t 192.168.1.232:80 -r 192.168.2.11:80 -g -w 1
-a -t 192.168.1.232:80 -r 192.168.2.12:80 -g -w 2
-A -t 192.168.1.233:80 -s wlc
-a -t 192.168.1.233:80 -r 192.168.2.11:80 -i -w 1
-a -t 192.168.1.233:80 -r 192.168.2.12:80 -i -w 1
`;

const ETH0_MAC = mac('02:00:00:00:00:01');
const ETH1_MAC = mac('02:00:00:00:00:02');
const GATEWAY_MAC = mac('02:00:00:00:01:01');
const ONLINK_CLIENT_MAC = mac('02:00:00:00:01:64');
const ONLINK_CLIENT = ip('192.168.1.100');
const NAT_VIP = ip('192.168.1.231');
const DR_VIP = ip('192.168.1.232');
const TUN_VIP = ip('192.168.1.233');
const RS_MAC = [mac('02:00:00:00:02:11'), mac('02:00:00:00:02:12')] as const;
const RS = [ip('192.168.2.11'), ip('192.168.2.12')] as const;
const CLIENT_NET = ip('203.0.113.0');
const BATCH = 64;
/** Batches per call of a timed case. */
const REPS = 16;
/** Bytes of TCP payload in a data segment. */
const DATA_LEN = 64;
/** Time between two batches, in ms (the datapath's ticks): about what 64 packets take to arrive. */
const BATCH_INTERVAL_MS = 0.031;

const ETH_IFINDEX = 1;
const DIP_IFINDEX = 2;

/** One flow: a client port toward a VIP. */
interface Flow {
  vip: number;
  client: number;
  port: number;
}

interface Frame {
  bytes: Uint8Array;
  ifindex: number;
}

function tcp(srcMac: number, dstMac: number, src: number, dst: number, sport: number, dport: number, flags: number) {
  const payload = new Uint8Array(flags & TcpFlag.syn || flags & TcpFlag.rst ? 0 : DATA_LEN);
  for (let k = 0; k < payload.length; k++) payload[k] = (k * 7 + 3) & 0xff;
  return buildFrame({
    eth: { dst: dstMac, src: srcMac, etherType: 0x0800 },
    ipv4: ipv4Fields(src, dst, { ttl: 64, id: sport, dontFrag: true }),
    tcp: { srcPort: sport, dstPort: dport, seq: 1000, ack: 1, flags, window: 64240, urgent: 0, payload },
  });
}

const fromClient = (f: Flow, flags: number): Frame => ({
  bytes: tcp(GATEWAY_MAC, ETH0_MAC, f.client, f.vip, f.port, 80, flags),
  ifindex: ETH_IFINDEX,
});

/** A NAT reply from real server `rs` (index into RS). */
const fromServer = (f: Flow, rs: number, flags: number): Frame => ({
  bytes: tcp(RS_MAC[rs]!, ETH1_MAC, RS[rs]!, f.client, 8080, f.port, flags),
  ifindex: DIP_IFINDEX,
});

/** The real server the datapath gave a flow, as an index into RS. */
function serverOf(core: IpvsCore, f: Flow): number {
  const slot = core.conns.lookupIn(IpProto.tcp, f.client, f.port, f.vip, 80, 0);
  if (slot < 0) throw new Error('datapath bench: a flow was not scheduled');
  return RS.indexOf(core.conns.daddrOf(slot) as (typeof RS)[number]);
}

let flowCounter = 0;
function flows(vip: number, n: number): Flow[] {
  const out: Flow[] = [];
  for (let k = 0; k < n; k++) {
    const c = flowCounter++;
    out.push({ vip, client: (CLIENT_NET + 1 + (c % 250)) >>> 0, port: 10000 + c });
  }
  return out;
}

/** 'NAT-hit' is NAT with no new flows: only connection hits, the case issue 5's 150 ns target is about. */
export type Mode = 'NAT' | 'NAT-hit' | 'DR' | 'TUN' | 'mix';

/** A datapath with established flows, and the batch that replays its traffic. */
export interface Scenario {
  mode: Mode;
  dp: Datapath;
  rx: FrameBatch;
  tx: FrameBatch;
  /** What one batch holds, for the notes. */
  contents: string;
  now: number;
}

function loadBatch(batch: FrameBatch, frames: readonly Frame[]): void {
  batch.clear();
  frames.forEach((f, i) => {
    batch.setFrame(i, f.bytes);
    batch.ifindex[i] = f.ifindex;
  });
  batch.count = frames.length;
}

/**
 * Builds the scenario: the flows are opened (SYN; for NAT the server's SYN-ACK; the client's ACK) through the
 * datapath itself, then the batch is run once and checked: every frame forwarded, rx unchanged.
 */
export function buildScenario(mode: Mode, fastPath = true): Scenario {
  const core = new IpvsCore({ connCapacity: 1 << 14, ticksPerSecond: 1000, seed: 0x2545f491 });
  core.applyRules(parseRules(RULES));
  const dp = new Datapath(parseConfig(CONFIG), core, { fastPath });
  if (fastPath && !dp.fastPathEnabled) throw new Error('datapath bench: the native addon is not built');
  const rx = new FrameBatch(BATCH);
  const tx = new FrameBatch(BATCH * 2);
  const setup: Frame[] = [];
  const setupAfterSyn: Frame[] = [];
  const later: (() => void)[] = [];
  const steady: Frame[] = [];
  const churn: Frame[] = [];
  const extra: Frame[] = [];
  const nat = (established: number, replies: number, churning: number) => {
    const est = flows(NAT_VIP, established);
    for (const f of est) setup.push(fromClient(f, TcpFlag.syn));
    // The servers' SYN-ACKs, the clients' ACKs and the replies are built once the SYNs have been scheduled.
    later.push(() => {
      for (const f of est) setupAfterSyn.push(fromServer(f, serverOf(core, f), TcpFlag.syn | TcpFlag.ack));
      for (const f of est) setupAfterSyn.push(fromClient(f, TcpFlag.ack));
      est.forEach((f, k) => {
        steady.push(fromClient(f, TcpFlag.ack | 0x08));
        if (k < replies) steady.push(fromServer(f, serverOf(core, f), TcpFlag.ack | 0x08));
      });
    });
    for (const f of flows(NAT_VIP, churning)) churn.push(fromClient(f, TcpFlag.syn), fromClient(f, TcpFlag.rst));
  };
  const oneWay = (vip: number, established: number, churning: number) => {
    const est = flows(vip, established);
    for (const f of est) setup.push(fromClient(f, TcpFlag.syn));
    for (const f of est) setupAfterSyn.push(fromClient(f, TcpFlag.ack));
    for (const f of est) steady.push(fromClient(f, TcpFlag.ack | 0x08));
    for (const f of flows(vip, churning)) churn.push(fromClient(f, TcpFlag.syn), fromClient(f, TcpFlag.rst));
  };
  let contents: string;
  if (mode === 'NAT') {
    nat(30, 28, 3);
    contents = '30 client data segments, 28 server replies, 3 SYN + 3 RST (new flows)';
  } else if (mode === 'NAT-hit') {
    nat(32, 32, 0);
    contents = '32 client data segments and 32 server replies of established connections (hits only)';
  } else if (mode === 'DR') {
    oneWay(DR_VIP, 58, 3);
    contents = '58 client data segments, 3 SYN + 3 RST (new flows)';
  } else if (mode === 'TUN') {
    oneWay(TUN_VIP, 58, 3);
    contents = '58 client data segments, 3 SYN + 3 RST (new flows)';
  } else {
    nat(16, 14, 1);
    oneWay(DR_VIP, 14, 1);
    oneWay(TUN_VIP, 12, 1);
    // An ARP request for a VIP from an on-link host (answered; the host is learned) and a ping of a VIP.
    extra.push({
      bytes: buildFrame({
        eth: { dst: 0xffffffffffff, src: ONLINK_CLIENT_MAC, etherType: 0x0806 },
        arp: {
          op: ArpOp.request,
          senderMac: ONLINK_CLIENT_MAC,
          senderIp: ONLINK_CLIENT,
          targetMac: 0,
          targetIp: NAT_VIP,
        },
      }),
      ifindex: ETH_IFINDEX,
    });
    extra.push({
      bytes: buildFrame({
        eth: { dst: ETH0_MAC, src: GATEWAY_MAC, etherType: 0x0800 },
        ipv4: ipv4Fields((CLIENT_NET + 7) >>> 0, TUN_VIP),
        icmp: { type: IcmpType.echoRequest, code: 0, id: 0x1234, seq: 1, payload: new Uint8Array(56) },
      }),
      ifindex: ETH_IFINDEX,
    });
    contents =
      '16 NAT client data segments + 14 replies, 14 DR and 12 TUN data segments, 1 SYN + 1 RST per mode, ' +
      'an ARP request for a VIP and a ping';
  }
  const scenario: Scenario = { mode, dp, rx, tx, contents, now: 1000.25 };
  const play = (list: readonly Frame[]) => {
    for (let k = 0; k < list.length; k += BATCH) {
      loadBatch(rx, list.slice(k, k + BATCH));
      tx.count = 0;
      dp.processBatch(rx, tx, scenario.now);
    }
  };
  play(setup);
  for (const step of later) step();
  play(setupAfterSyn);
  const frames = [...steady, ...churn, ...extra];
  if (frames.length !== BATCH) throw new Error(`datapath bench: ${mode} batch holds ${frames.length} frames`);
  loadBatch(rx, frames);
  const pristine = rx.bytes.slice();
  const before = dp.counters.forwardedIn + dp.counters.forwardedOut + dp.counters.arpReplies + dp.counters.echoReplies;
  runBatches(scenario, 2);
  const handled =
    dp.counters.forwardedIn + dp.counters.forwardedOut + dp.counters.arpReplies + dp.counters.echoReplies - before;
  const dropped = Object.keys(dp.dropSummary());
  if (handled !== 2 * BATCH || dropped.length > 0) {
    throw new Error(`datapath bench: ${mode}: ${handled} of ${2 * BATCH} frames handled, drops: ${dropped.join()}`);
  }
  if (dp.counters.queued !== 0) throw new Error(`datapath bench: ${mode}: frames waited for ARP`);
  for (let k = 0; k < pristine.length; k++) {
    if (pristine[k] !== rx.bytes[k]) throw new Error(`datapath bench: ${mode}: processBatch changed rx`);
  }
  return scenario;
}

/** Runs `n` batches; returns the last tx.count so the work cannot be dropped as dead code. */
export function runBatches(s: Scenario, n: number): number {
  const { dp, rx, tx } = s;
  let now = s.now;
  let sent = 0;
  for (let r = 0; r < n; r++) {
    tx.count = 0;
    now += BATCH_INTERVAL_MS;
    sent = dp.processBatch(rx, tx, now);
  }
  s.now = now;
  return sent;
}

/** A full collection on demand, without --expose-gc on the command line; null if V8 refuses. */
function gcFunction(): (() => void) | null {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (typeof exposed === 'function') return exposed;
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as () => void) : null;
  } catch {
    return null;
  }
}

/**
 * Bytes left on the heap per packet: after a full collection, `batches` batches are run and the growth of
 * heapUsed divided by the packets (young garbage stays counted in heapUsed until a scavenge, and one window
 * allocates far less than the young generation holds). The growth of an empty window is subtracted, and the
 * median of several windows is kept. NaN when no collection can be forced.
 */
export function garbagePerPacket(s: Scenario, batches = 64, windows = 9): number {
  const gc = gcFunction();
  if (gc === null) return Number.NaN;
  // Long enough for V8 to finish optimizing: code and feedback it makes count in heapUsed too, and with a
  // short warm-up they showed up as tens of bytes per packet in the first scenario measured.
  runBatches(s, 4096);
  const empty: number[] = [];
  const full: number[] = [];
  for (let w = 0; w < windows; w++) {
    gc();
    let h0 = process.memoryUsage().heapUsed;
    empty.push(process.memoryUsage().heapUsed - h0);
    gc();
    h0 = process.memoryUsage().heapUsed;
    runBatches(s, batches);
    full.push(process.memoryUsage().heapUsed - h0);
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!;
  return Math.max(0, median(full) - median(empty)) / (batches * BATCH);
}

/**
 * Garbage collections while `packets` packets of `mode` run through the datapath, counted in a fresh child
 * process under `--trace-gc` (one line per scavenge or mark-compact), so that neither the count nor its 10M
 * packets disturb the timed cases in this process. A hot path that allocates nothing per packet triggers a
 * handful (the harness's per-batch timestamp, new connections); ~100 bytes per packet would trigger hundreds.
 */
export function gcEventsOver(mode: Mode, packets = GC_COUNT_PACKETS): { events: number; seconds: number } | null {
  const here = dirname(fileURLToPath(import.meta.url));
  const code = [
    "const m = await import('./datapath.bench.js');",
    `const s = m.buildScenario(${JSON.stringify(mode)});`,
    'm.runBatches(s, 256);',
    "console.log('GC-COUNT-START');",
    'const t0 = performance.now();',
    `m.runBatches(s, ${Math.ceil(packets / BATCH)});`,
    "console.log('GC-COUNT-END ' + (performance.now() - t0));",
  ].join('\n');
  const run = spawnSync(process.execPath, ['--trace-gc', '--input-type=module', '-e', code], {
    cwd: here,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, UVS_BENCH_BASELINE: '' },
  });
  const out = run.stdout ?? '';
  const start = out.indexOf('GC-COUNT-START');
  const end = out.indexOf('GC-COUNT-END');
  if (run.status !== 0 || start < 0 || end < 0) return null;
  const events = out
    .slice(start, end)
    .split('\n')
    .filter((l) => /Scavenge|Mark-Compact|Minor/.test(l)).length;
  const ms = Number.parseFloat(out.slice(end + 'GC-COUNT-END'.length));
  return { events, seconds: ms / 1000 };
}

/** Packets for the GC-event count (issue 8: "counts GC events over 10M packets"). */
const GC_COUNT_PACKETS = 10_000_000;

const MODES: readonly Mode[] = ['NAT-hit', 'NAT', 'DR', 'TUN', 'mix'];
/** ns per packet of the JavaScript pipeline alone (fastPath: false), by mode, measured in the same run. */
const jsOnly = new Map<Mode, number>();
const garbage = new Map<Mode, number>();

export const sink = { value: 0 };

/** What this file exports that a baseline copy of it must export too. */
interface BaselineBench {
  buildScenario(mode: Mode): unknown;
  runBatches(s: unknown, n: number): number;
}
interface BaselineCopier {
  copy(src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number, len: number): void;
}

const baselinePath = process.env.UVS_BENCH_BASELINE;
// The baseline copy sees the same variable; importing itself would deadlock its top-level await, and the
// process would end silently with nothing run.
const baselineUrl =
  baselinePath && pathToFileURL(baselinePath).href !== import.meta.url ? pathToFileURL(baselinePath) : null;
const baseline = baselineUrl ? ((await import(baselineUrl.href)) as BaselineBench) : null;
const BaselineFrameCopier = baselineUrl
  ? (
      (await import(new URL('../../src/datapath/copy.js', baselineUrl).href)) as {
        FrameCopier: new () => BaselineCopier;
      }
    ).FrameCopier
  : null;

/** Alternating rounds for the side-by-side comparison, and batches per round (about 20 ms of work). */
const ROUNDS = 61;
const ROUND_BATCHES = 500;

interface MinMedian {
  min: number;
  median: number;
}
const sideBySide = new Map<Mode, { current: MinMedian; previous: MinMedian }>();

const fmtPair = (x: MinMedian) => `${x.min.toFixed(0)}/${x.median.toFixed(0)}`;

/**
 * This version and the baseline in short alternating rounds (which one goes first alternates too), each
 * round timed on its own: a burst of other work on the machine hits a round of each rather than all of one
 * case, as it can when tinybench runs the cases one after the other. ns per packet, min and median over rounds.
 */
function interleaved(s: Scenario, base: BaselineBench, old: unknown): { current: MinMedian; previous: MinMedian } {
  const current: number[] = [];
  const previous: number[] = [];
  const timeRound = (run: () => number) => {
    const t0 = process.hrtime.bigint();
    sink.value = run();
    return Number(process.hrtime.bigint() - t0) / (ROUND_BATCHES * BATCH);
  };
  const runCurrent = () => runBatches(s, ROUND_BATCHES);
  const runPrevious = () => base.runBatches(old, ROUND_BATCHES);
  runCurrent();
  runPrevious();
  for (let r = 0; r < ROUNDS; r++) {
    if (r % 2 === 0) {
      current.push(timeRound(runCurrent));
      previous.push(timeRound(runPrevious));
    } else {
      previous.push(timeRound(runPrevious));
      current.push(timeRound(runCurrent));
    }
  }
  const summary = (xs: number[]): MinMedian => {
    xs.sort((a, b) => a - b);
    return { min: xs[0]!, median: xs[xs.length >> 1]! };
  };
  return { current: summary(current), previous: summary(previous) };
}

function group(mode: Mode): BenchGroup {
  const s = buildScenario(mode);
  const js = buildScenario(mode, false);
  garbage.set(mode, garbagePerPacket(s));
  const cases = [
    {
      name: `processBatch, ${mode}`,
      reps: REPS,
      items: BATCH,
      fn: () => {
        sink.value = runBatches(s, REPS);
      },
    },
    {
      name: `processBatch, ${mode}, JavaScript only`,
      reps: REPS,
      items: BATCH,
      fn: () => {
        sink.value = runBatches(js, REPS);
      },
    },
  ];
  if (baseline !== null) {
    const old = baseline.buildScenario(mode);
    const { current, previous } = interleaved(s, baseline, old);
    sideBySide.set(mode, { current, previous });
    console.log(
      `Datapath | ${mode} interleaved with baseline: ${fmtPair(current)} ns/packet, baseline ${fmtPair(previous)} ns/packet (min/median of ${ROUNDS} alternating rounds)`,
    );
    cases.push({
      name: `baseline processBatch, ${mode}`,
      reps: REPS,
      items: BATCH,
      fn: () => {
        sink.value = baseline.runBatches(old, REPS);
      },
    });
  }
  return {
    title:
      mode === 'mix' ? 'Mixed traffic' : mode === 'NAT-hit' ? 'NAT traffic, connection hits only' : `${mode} traffic`,
    note:
      `One operation is one processBatch() of ${BATCH} frames: ${s.contents}. Between batches only tx.count ` +
      `is reset (processBatch never writes to rx), so there is no restore cost to subtract. ` +
      `"JavaScript only" is the same datapath with the native fast path off (fastPath: false).` +
      (baseline === null ? '' : ` "baseline" rows run the version in UVS_BENCH_BASELINE (${baselinePath}).`),
    cases,
  };
}

/** Frame sizes for the copy group: the NAT scenario's data segment, and a full 1500-byte-MTU frame. */
const COPY_SIZES = [14 + 20 + 20 + DATA_LEN, 1514] as const;

/**
 * processBatch copies every frame from rx into tx before rewriting it (src/datapath/copy.ts): its cost per
 * frame size, over the 64 slots of a batch.
 */
function copyGroup(): BenchGroup {
  const src = new FrameBatch(BATCH);
  const dst = new FrameBatch(BATCH);
  const copiers: [string, BaselineCopier][] = [['FrameCopier.copy', new FrameCopier()]];
  if (BaselineFrameCopier !== null) copiers.push(['baseline FrameCopier.copy', new BaselineFrameCopier()]);
  const cases = [];
  for (const len of COPY_SIZES) {
    for (const [label, copier] of copiers) {
      cases.push({
        name: `${label}, ${len} B`,
        reps: BATCH,
        fn: () => {
          for (let i = 0; i < BATCH; i++) copier.copy(src.bytes, src.offset[i]!, dst.bytes, dst.offset[i]!, len);
        },
      });
    }
  }
  return {
    title: 'Frame copy rx -> tx',
    note: 'One operation is one frame copied between the same slot of two batches (headroom-aligned offsets).',
    cases,
  };
}

const datapath: BenchModule = {
  title: 'Datapath',
  description:
    'Datapath.processBatch (src/datapath/datapath.ts, with the native fast path of native/fastpath.cc unless ' +
    'a row says "JavaScript only") with static neighbours (no ARP waits), on replayed ' +
    'batches of steady traffic of established connections plus a few new ones. "per item" is ns per ' +
    'packet. The summary gives the heap garbage per packet, measured as the growth of heapUsed over many ' +
    'batches between forced collections; the hot path is meant to allocate nothing.',
  groups: () => [...MODES.map(group), copyGroup()],
  summarize(results: CaseResult[]): string[] {
    const perPacket = (name: string) => {
      const r = results.find((x) => x.name === name);
      return r === undefined ? Number.NaN : r.medianNs / r.items;
    };
    return MODES.map((mode) => {
      const ns = perPacket(`processBatch, ${mode}`);
      const jsNs = perPacket(`processBatch, ${mode}, JavaScript only`);
      jsOnly.set(mode, jsNs);
      const bytes = garbage.get(mode) ?? Number.NaN;
      const pair = sideBySide.get(mode);
      const versus =
        pair === undefined
          ? ''
          : ` (interleaved with the baseline, min/median: ${fmtPair(pair.current)} vs ${fmtPair(pair.previous)} ns/packet)`;
      const gc = gcEventsOver(mode);
      const gcText =
        gc === null
          ? ''
          : `; ${gc.events} GC events over ${GC_COUNT_PACKETS / 1e6}M packets (${gc.seconds.toFixed(1)} s)`;
      return `${mode}: ${ns.toFixed(0)} ns/packet (JavaScript only: ${jsNs.toFixed(0)}, ${(jsNs / ns).toFixed(1)}x)${versus}, ${Number.isNaN(bytes) ? 'n/a' : bytes.toFixed(1)} bytes of garbage per packet${gcText}.`;
    });
  },
};

export default datapath;
