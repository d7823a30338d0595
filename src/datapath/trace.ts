// The per-packet trace: while something subscribes to TRACE_CHANNEL (node:diagnostics_channel), the
// datapath publishes one PacketTrace per received frame, built here from what the stages left in the
// PacketContext. Kept apart from the stages: it allocates (strings, copies of the frames), which is fine
// only because it runs while someone watches (`uvs trace`, the trace server, tests), never on the hot path.
import diagnosticsChannel from 'node:diagnostics_channel';
import { NO_ENTRY } from '../conn/table.js';
import { tcpStateNames } from '../conn/tcp-state.js';
import { IpProto } from '../constants.js';
import { fwdNames } from '../dest/dest.js';
import { type FrameBatch, SLOT_SIZE } from '../io/batch.js';
import type { IpvsCore } from '../ipvs/core.js';
import { describeService } from '../model/rules.js';
import { ipv4ToString, macToString } from '../wire/addr.js';
import { ArpOp } from '../wire/arp.js';
import { type FrameRepr, parseFrame } from '../wire/frame.js';
import { ConnKind, type PacketContext } from './context.js';
import type { L3Tables } from './l3.js';
import { type NeighbourTable, NO_NEIGH } from './neighbours.js';
import { dropNames, Verdict, type VerdictCode, verdictNames } from './reasons.js';

/** node:diagnostics_channel name of the per-packet trace; see PacketTrace. */
export const TRACE_CHANNEL = 'uvs:datapath:packet';
export const traceChannel = diagnosticsChannel.channel(TRACE_CHANNEL);

/** The addresses of a frame, as the trace shows them. */
export interface FrameSummary {
  kind: string;
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  /** TCP: the header's flag byte (src/wire/tcp.ts TcpFlag bits). */
  tcpFlags?: number;
  /** TUN: the outer header's addresses. */
  outerSrc?: string;
  outerDst?: string;
  /** ICMP fragmentation needed (type 3 code 4): the next-hop MTU it announces (RFC 1191). */
  mtu?: number;
  srcMac: string;
  dstMac: string;
}

/** What TRACE_CHANNEL publishes for every received frame, enough for `uvs trace` to tell its story. */
export interface PacketTrace {
  now: number;
  ingress: string;
  verdict: string;
  /** Drop reason name, or null. */
  reason: string | null;
  input: FrameSummary | null;
  /** The frame sent for this packet (forwarded, an answer, or the ARP request it waits on), or null. */
  output: FrameSummary | null;
  egress: string | null;
  service: string | null;
  scheduler: string | null;
  conn: 'new' | 'known' | 'untracked' | null;
  fwd: string | null;
  /**
   * The real server of the packet's connection: the one the scheduler chose, or the one a known connection
   * is bound to (also on replies and ICMP errors); null when no connection was found or made.
   */
  rip: string | null;
  /** Its port, as ipvsadm lists it (RIP:rport); only NAT rewrites the packet to it. Null with rip. */
  rport: number | null;
  /** Verdict queued: the frame that waits for ARP and leaves when the next hop answers; else null. */
  held: FrameSummary | null;
  stateBefore: string | null;
  stateAfter: string | null;
}

/** Builds and publishes the trace record of a frame the stages are done with. */
export class PacketTracer {
  constructor(
    private readonly core: IpvsCore,
    private readonly l3: L3Tables,
    private readonly neigh: NeighbourTable,
  ) {}

  /** Interface name of an ifindex, or null. */
  private interfaceName(ifindex: number): string | null {
    const pos = this.l3.ifPosOf(ifindex);
    return pos < 0 ? null : this.l3.ifNames[pos]!;
  }

  publish(
    ctx: PacketContext,
    input: Uint8Array,
    ifPos: number,
    verdict: VerdictCode,
    tx: FrameBatch,
    j: number,
    now: number,
  ): void {
    const svc = ctx.trService;
    const conns = this.core.conns;
    const slot = ctx.trSlot;
    // The connection's protocol: an ICMP error about a TCP connection has TCP states.
    const tcp = (slot !== NO_ENTRY ? conns.protoOf(slot) : ctx.trProto) === IpProto.tcp;
    const stateName = (s: number) =>
      tcp ? (tcpStateNames[s] ?? 'ERR!') : s === 0 && ctx.trConn === ConnKind.new ? 'NONE' : 'UDP';
    const output = ctx.emitted ? tx.bytes.slice(tx.offset[j]!, tx.offset[j]! + tx.length[j]!) : null;
    const inputSummary = summarize(input);
    // The real server: the connection's binding; without an entry, the destination the scheduler picked
    // (xmitIn's port: the destination's, or the packet's own when the destination has none).
    let rip: string | null = null;
    let rport: number | null = null;
    const dest = this.core.dest;
    if (slot !== NO_ENTRY) {
      rip = ipv4ToString(conns.daddrOf(slot));
      rport = conns.dportOf(slot);
    } else if (ctx.trConn === ConnKind.untracked && dest !== null) {
      rip = ipv4ToString(dest.addr);
      rport = dest.port !== 0 ? dest.port : (inputSummary?.dport ?? null);
    }
    const record: PacketTrace = {
      now,
      ingress: ifPos >= 0 ? this.l3.ifNames[ifPos]! : `ifindex?`,
      verdict: verdictNames[verdict]!,
      reason: verdict === Verdict.drop ? (dropNames[ctx.reason] ?? String(ctx.reason)) : null,
      input: inputSummary,
      output: output === null ? null : summarize(output),
      egress: output === null ? null : this.interfaceName(tx.egressIfindex[j]!),
      service: svc === null ? (slot !== NO_ENTRY ? describeConnService(conns, slot) : null) : describeService(svc),
      scheduler: svc === null ? null : svc.sched,
      conn:
        ctx.trConn === ConnKind.new
          ? 'new'
          : ctx.trConn === ConnKind.known
            ? 'known'
            : ctx.trConn === ConnKind.untracked
              ? 'untracked'
              : null,
      fwd: ctx.trFwd < 0 ? null : (fwdNames[ctx.trFwd as keyof typeof fwdNames] ?? null),
      rip,
      rport,
      held: verdict === Verdict.queued ? this.heldFrame(ctx.outHop, now) : null,
      stateBefore: ctx.trStateBefore < 0 ? null : stateName(ctx.trStateBefore),
      stateAfter: slot === NO_ENTRY || !conns.isLive(slot) ? null : conns.stateName(slot),
    };
    traceChannel.publish(record);
  }

  /**
   * The frame a queued verdict just put at the tail of the next hop's queue (sendToNextHop's enqueue): what
   * the trace shows as held, since slot j may carry the ARP request instead. The queue is not empty, so
   * find() releases nothing.
   */
  private heldFrame(hop: number, now: number): FrameSummary | null {
    const neigh = this.neigh;
    const slot = neigh.find(hop, now);
    if (slot === NO_NEIGH) return null;
    let q = neigh.queueHead[slot]!;
    if (q === -1) return null;
    while (neigh.queueNext[q] !== -1) q = neigh.queueNext[q]!;
    const start = q * SLOT_SIZE;
    return summarize(neigh.queueBytes.slice(start, start + neigh.queueLength[q]!));
  }
}

function describeConnService(conns: IpvsCore['conns'], slot: number): string {
  const proto = conns.protoOf(slot) === IpProto.tcp ? 'TCP' : 'UDP';
  return `${proto} ${ipv4ToString(conns.vaddrOf(slot))}:${conns.vportOf(slot)}`;
}

/** The addresses of a frame for the trace (allocates; tracing only). */
export function summarize(frame: Uint8Array): FrameSummary | null {
  const parsed = parseFrame(frame);
  if (parsed.frame === undefined) return null;
  return summarizeRepr(parsed.frame, frame);
}

function summarizeRepr(f: FrameRepr, bytes: Uint8Array): FrameSummary {
  const macs = { srcMac: macToString(f.eth.src), dstMac: macToString(f.eth.dst) };
  if ('arp' in f) {
    const kind = f.arp.op === ArpOp.request ? 'arp-request' : f.arp.op === ArpOp.reply ? 'arp-reply' : 'arp';
    return { kind, src: ipv4ToString(f.arp.senderIp), dst: ipv4ToString(f.arp.targetIp), ...macs };
  }
  const src = ipv4ToString(f.ipv4.src);
  const dst = ipv4ToString(f.ipv4.dst);
  if ('tcp' in f) {
    return { kind: 'tcp', src, dst, sport: f.tcp.srcPort, dport: f.tcp.dstPort, tcpFlags: f.tcp.flags, ...macs };
  }
  if ('udp' in f) return { kind: 'udp', src, dst, sport: f.udp.srcPort, dport: f.udp.dstPort, ...macs };
  if ('icmp' in f) {
    const kind = `icmp ${f.icmp.type}/${f.icmp.code}`;
    return f.icmp.mtu === undefined ? { kind, src, dst, ...macs } : { kind, src, dst, mtu: f.icmp.mtu, ...macs };
  }
  if (f.ipv4.protocol === IpProto.ipip && !f.ipv4.moreFrags && f.ipv4.fragOffset === 0) {
    const innerHeaderLen = 14 + ((bytes[14] ?? 0) & 0x0f) * 4;
    // Reparse the inner packet behind a copy of the Ethernet header.
    const inner = new Uint8Array(bytes.length - (innerHeaderLen - 14));
    inner.set(bytes.subarray(0, 14), 0);
    inner.set(bytes.subarray(innerHeaderLen), 14);
    const parsed = parseFrame(inner);
    if (parsed.frame !== undefined && !('arp' in parsed.frame)) {
      return {
        ...summarizeRepr(parsed.frame, inner),
        kind: `ipip/${summarizeRepr(parsed.frame, inner).kind}`,
        outerSrc: src,
        outerDst: dst,
      };
    }
  }
  return { kind: `ip proto ${f.ipv4.protocol}`, src, dst, ...macs };
}
