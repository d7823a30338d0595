// A SYN flood from spoofed sources against a NAT service, run in memory through the whole datapath, beside a
// legitimate client that opens one connection every simulated second. Each legitimate handshake counts as a
// success only when all three of its packets cross the director as NAT must carry them: the SYN to the real
// server (daddr and dport rewritten), the server's SYN-ACK back to the client (saddr and sport rewritten to
// the VIP), and the client's ACK to the real server again. Used by test/datapath/synflood.test.ts (a small
// table) and by bench/flood/run.mjs (1M sources against a 1M-entry table).
//
// Time is simulated: the flood's SYNs are spread evenly over each second, and the legitimate handshake takes
// `rttMs` between its packets, during which the flood goes on. No real time passes between packets, so the
// figures say what the connection table does, not how fast the machine is (the run's wall time is reported
// separately).
import { parseConfig } from '../../src/config/director.js';
import { TcpFlag } from '../../src/conn/tcp-state.js';
import { Datapath } from '../../src/datapath/datapath.js';
import { dropNames } from '../../src/datapath/reasons.js';
import { FrameBatch } from '../../src/io/batch.js';
import { IpvsCore } from '../../src/ipvs/core.js';
import type { DefenseSettings } from '../../src/ipvs/defense.js';
import { parseRules } from '../../src/model/save-format.js';
import { parseIpv4Address, parseMac } from '../../src/wire/addr.js';
import { read16, read32, write16, write32 } from '../../src/wire/bytes.js';
import { csumReplace16, csumReplace32 } from '../../src/wire/checksum.js';
import { buildFrame, ipv4Fields, parseFrame } from '../../src/wire/frame.js';

const ip = (text: string): number => parseIpv4Address(text)!;
const mac = (text: string): number => parseMac(text)!;

const CONFIG = `interfaces:
  - { name: eth0, mac: "02:00:00:00:00:01", mtu: 1500, addresses: [192.168.1.231/24] }
  - { name: eth1, mac: "02:00:00:00:00:02", mtu: 1500, addresses: [192.168.2.1/24] }
neighbours:
  - { ip: 192.168.1.100, mac: "02:00:00:00:01:64" }
  - { ip: 192.168.1.1, mac: "02:00:00:00:01:01" }
  - { ip: 192.168.2.11, mac: "02:00:00:00:02:11" }
routes:
  - { to: default, via: 192.168.1.1 }
`;
const RULES = `-A -t 192.168.1.231:80 -s rr
-a -t 192.168.1.231:80 -r 192.168.2.11:8080 -m -w 1
`;
const VIP = ip('192.168.1.231');
const VPORT = 80;
const RIP = ip('192.168.2.11');
const RPORT = 8080;
const CLIENT = ip('192.168.1.100');
const ETH0_MAC = mac('02:00:00:00:00:01');
const ETH1_MAC = mac('02:00:00:00:00:02');
const CLIENT_MAC = mac('02:00:00:00:01:64');
const GATEWAY_MAC = mac('02:00:00:00:01:01');
const RS_MAC = mac('02:00:00:00:02:11');
/** Spoofed sources are 10.0.0.1, 10.0.0.2, ...: off-link, behind the default gateway. */
const FLOOD_BASE = ip('10.0.0.1');
const ETH_LEN = 14;
const IP_SRC = ETH_LEN + 12;
const IP_CHECK = ETH_LEN + 10;
const TCP_SPORT = ETH_LEN + 20;
const TCP_CHECK = ETH_LEN + 20 + 16;

export interface SynFloodOptions {
  /** Connection table capacity. */
  capacity: number;
  /** Distinct spoofed source addresses; the flood cycles through them, a new source port each round. */
  sources: number;
  /** Flood SYNs per simulated second. */
  floodPerSecond: number;
  /** Simulated seconds; the legitimate client connects once in each. */
  seconds: number;
  /** Simulated time between the legitimate client's SYN, the server's SYN-ACK and the client's ACK. */
  rttMs: number;
  /** Defense settings for the director; omitted: the defaults. */
  defense?: DefenseSettings;
  /** Native fast path for connection hits (default: when the addon is built). */
  fastPath?: boolean;
}

export interface SynFloodResult {
  attempts: number;
  /** Handshakes whose SYN, SYN-ACK and ACK all crossed the director, rewritten as NAT must. */
  succeeded: number;
  /** Of the attempts, those whose SYN arrived with every slot of the table in use, and how many succeeded. */
  attemptsWhileFull: number;
  succeededWhileFull: number;
  /** Per failed attempt: which packet failed and why (a drop reason, or what was wrong with the frame). */
  failures: string[];
  floodSyns: number;
  tableSize: number;
  overflows: number;
  reclaimed: number;
  droppedByDropEntry: number;
  droppedByDropPacket: number;
  untracked: number;
  /** Final defense levels, as the kernel's sysctls would read. */
  levels: { dropEntry: number; dropPacket: number; secureTcp: number };
  wallMs: number;
}

/** Runs the scenario; everything is created afresh, so two runs never share state. */
export function runSynFlood(options: SynFloodOptions): SynFloodResult {
  const config = parseConfig(CONFIG);
  const core = new IpvsCore({ connCapacity: options.capacity, ticksPerSecond: 1000, seed: 7 });
  core.applyRules(parseRules(RULES));
  const dp = new Datapath(config, core, options.fastPath === undefined ? {} : { fastPath: options.fastPath });
  if (options.defense !== undefined) core.defense.configure(options.defense);

  const batchSize = 64;
  const rx = new FrameBatch(batchSize);
  const tx = new FrameBatch(batchSize * 2);
  const one = new FrameBatch(1);
  const template = tcpFrame(GATEWAY_MAC, ETH0_MAC, FLOOD_BASE, 1024, VIP, VPORT, TcpFlag.syn);
  const templateSrc = read32(template, IP_SRC);
  const templateIpCheck = read16(template, IP_CHECK);
  const templateTcpCheck = read16(template, TCP_CHECK);

  let sent = 0;
  let now = 1000;
  const msPerSyn = 1000 / options.floodPerSecond;
  let floodClock = now;
  /** Sends `count` flood SYNs, advancing the simulated clock by their share of the second. */
  const flood = (count: number): void => {
    let left = count;
    while (left > 0) {
      const n = Math.min(left, batchSize);
      for (let k = 0; k < n; k++) {
        const source = sent % options.sources;
        const round = Math.floor(sent / options.sources);
        const src = (FLOOD_BASE + source) >>> 0;
        const sport = 1024 + (round % 64000);
        rx.setFrame(k, template);
        rx.ifindex[k] = 1;
        const off = rx.offset[k]!;
        const bytes = rx.bytes;
        write32(bytes, off + IP_SRC, src);
        write16(bytes, off + IP_CHECK, csumReplace32(templateIpCheck, templateSrc, src));
        write16(bytes, off + TCP_SPORT, sport);
        const tcpCheck = csumReplace16(csumReplace32(templateTcpCheck, templateSrc, src), 1024, sport);
        write16(bytes, off + TCP_CHECK, tcpCheck);
        sent++;
      }
      rx.count = n;
      tx.count = 0;
      floodClock += n * msPerSyn;
      now = Math.floor(floodClock);
      dp.processBatch(rx, tx, now);
      left -= n;
    }
  };
  /** One frame through the datapath at the current time: the single frame it sent, or why there was none. */
  const cross = (frame: Uint8Array, ifindex: number): Uint8Array | string => {
    one.setFrame(0, frame);
    one.ifindex[0] = ifindex;
    one.count = 1;
    tx.count = 0;
    const before = dp.drops.slice();
    dp.processBatch(one, tx, now);
    for (let r = 0; r < before.length; r++) if (dp.drops[r]! > before[r]!) return dropNames[r]!;
    if (tx.count !== 1) return `${tx.count} frames sent`;
    return tx.bytes.slice(tx.offset[0]!, tx.offset[0]! + tx.length[0]!);
  };

  const rttSyns = Math.round((options.rttMs / 1000) * options.floodPerSecond);
  const perHalfSecond = Math.round(options.floodPerSecond / 2);
  const failures: string[] = [];
  let succeeded = 0;
  let attemptsWhileFull = 0;
  let succeededWhileFull = 0;
  const started = performance.now();
  for (let second = 0; second < options.seconds; second++) {
    flood(Math.max(0, perHalfSecond - 2 * rttSyns));
    const cport = 20000 + second;
    const full = core.conns.size === core.conns.capacity;
    let gaps = 0;
    const failure = handshake(cport, cross, () => {
      gaps++;
      flood(rttSyns);
    });
    // A handshake that failed early skipped its later gaps; the flood does not wait for it.
    flood(rttSyns * (2 - gaps));
    if (full) attemptsWhileFull++;
    if (failure === null) {
      succeeded++;
      if (full) succeededWhileFull++;
    } else {
      failures.push(`second ${second}: ${failure}`);
    }
    flood(perHalfSecond);
  }
  const wallMs = performance.now() - started;
  return {
    attempts: options.seconds,
    succeeded,
    attemptsWhileFull,
    succeededWhileFull,
    failures,
    floodSyns: sent,
    tableSize: core.conns.size,
    overflows: core.conns.overflows,
    reclaimed: core.conns.reclaimed,
    droppedByDropEntry: core.conns.dropped,
    droppedByDropPacket: core.defense.packetsDropped,
    untracked: dp.counters.untracked,
    levels: {
      dropEntry: core.defense.dropEntry,
      dropPacket: core.defense.dropPacket,
      secureTcp: core.defense.secureTcp,
    },
    wallMs,
  };
}

/** The legitimate client's three packets, with `between` run after each; null on success, else what failed. */
function handshake(
  cport: number,
  cross: (frame: Uint8Array, ifindex: number) => Uint8Array | string,
  between: () => void,
): string | null {
  const syn = cross(tcpFrame(CLIENT_MAC, ETH0_MAC, CLIENT, cport, VIP, VPORT, TcpFlag.syn), 1);
  const synProblem = expectFrame(syn, 'SYN', CLIENT, cport, RIP, RPORT, ETH1_MAC, RS_MAC);
  if (synProblem !== null) return synProblem;
  between();
  const synAckFrame = tcpFrame(RS_MAC, ETH1_MAC, RIP, RPORT, CLIENT, cport, TcpFlag.syn | TcpFlag.ack);
  const synAck = cross(synAckFrame, 2);
  const synAckProblem = expectFrame(synAck, 'SYN-ACK', VIP, VPORT, CLIENT, cport, ETH0_MAC, CLIENT_MAC);
  if (synAckProblem !== null) return synAckProblem;
  between();
  const ack = cross(tcpFrame(CLIENT_MAC, ETH0_MAC, CLIENT, cport, VIP, VPORT, TcpFlag.ack), 1);
  return expectFrame(ack, 'ACK', CLIENT, cport, RIP, RPORT, ETH1_MAC, RS_MAC);
}

function expectFrame(
  got: Uint8Array | string,
  what: string,
  src: number,
  sport: number,
  dst: number,
  dport: number,
  srcMac: number,
  dstMac: number,
): string | null {
  if (typeof got === 'string') return `${what} not forwarded: ${got}`;
  const parsed = parseFrame(got);
  const f = parsed.frame;
  if (f === undefined || !('tcp' in f)) return `${what} forwarded malformed (reason ${parsed.reason})`;
  const ok =
    f.ipv4.src === src &&
    f.ipv4.dst === dst &&
    f.tcp.srcPort === sport &&
    f.tcp.dstPort === dport &&
    f.eth.src === srcMac &&
    f.eth.dst === dstMac;
  return ok ? null : `${what} forwarded with the wrong addresses`;
}

function tcpFrame(
  srcMac: number,
  dstMac: number,
  src: number,
  sport: number,
  dst: number,
  dport: number,
  flags: number,
): Uint8Array {
  return buildFrame({
    eth: { dst: dstMac, src: srcMac, etherType: 0x0800 },
    ipv4: ipv4Fields(src, dst, { id: 1 }),
    tcp: {
      srcPort: sport,
      dstPort: dport,
      seq: 1000,
      ack: 0,
      flags,
      window: 64240,
      urgent: 0,
      payload: new Uint8Array(0),
    },
  });
}
