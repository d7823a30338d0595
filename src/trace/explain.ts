// `uvs trace`'s story of one packet, for learners, in the seed tutorial's terms (DS director, RS real server,
// VIP, DIP, RIP, CIP): where it arrived and between which addresses; which virtual service and scheduler
// decided, for a new or a known connection; which rewrite was applied (DNAT, SNAT, DR's MAC rewrite, TUN's
// IPIP encapsulation) and where it went; the TCP state before and after; or why it was dropped.
//
// A pure function of the datapath's PacketTrace and a TraceContext; the control plane's pace, never the
// datapath's, so it may allocate freely.
import type { FrameSummary, PacketTrace } from '../datapath/datapath.js';
import { addressRole, type TraceContext } from './context.js';

/** A frame summary, plus the TCP flags when the caller knows them (the offline trace reads them itself). */
export type TraceSummary = FrameSummary;

/** A PacketTrace whose summaries may carry TCP flags. */
export type TraceMessage = Omit<PacketTrace, 'input' | 'output'> & {
  input: TraceSummary | null;
  output: TraceSummary | null;
};

/** Every drop reason of the datapath (src/wire/reason.ts, then src/datapath/reasons.ts) in plain words. */
export const dropSentences: Readonly<Record<string, string>> = {
  ethTruncated: 'the frame is shorter than an Ethernet header',
  vlanTruncated: 'the frame ends inside its VLAN tag',
  arpTruncated: 'the ARP message is cut short',
  arpUnsupported: 'ARP for something other than IPv4 over Ethernet',
  ipv4Truncated: 'the frame is shorter than an IPv4 header',
  ipv4BadVersion: 'the IP header does not say version 4',
  ipv4BadIhl: 'the IPv4 header length (IHL) is below 5 words or runs past the end of the frame',
  ipv4BadTotalLen: 'the IPv4 total length is shorter than the header or longer than the frame',
  ipv4BadChecksum: 'the IPv4 header checksum is wrong (the header was damaged)',
  icmpTruncated: 'the ICMP message is shorter than its header',
  icmpBadChecksum: 'the ICMP checksum is wrong (the message was damaged)',
  icmpInnerTruncated: 'the ICMP error quotes too little of the original packet to find its connection',
  tcpTruncated: 'the TCP header is cut short',
  tcpBadDataOffset: 'the TCP data offset is below 5 words or runs past the end of the packet',
  udpTruncated: 'the UDP header is cut short',
  udpBadLength: 'the UDP length does not match the packet',
  ipipTruncated: 'the IPIP packet is too short to hold an inner IPv4 header',
  l4BadChecksum: 'the TCP/UDP checksum is wrong (the packet was damaged)',
  ipipBadProtocol: 'the outer header of an IPIP packet does not say protocol 4',
  ipipFragment: 'the IPIP packet is a fragment, and uvs does not reassemble',
  outgoing: 'a frame uvs itself sent, seen again by the capture socket',
  frameTruncated: 'the capture lost the end of the frame (offloads like GRO make frames bigger than captured)',
  csumUnfixable: 'the kernel left the checksum for the hardware to fill in, and uvs could not complete it',
  unknownIngress: 'it arrived on an interface the director configuration does not list',
  notForUs: "it was sent to another host's MAC (or as multicast, or IPv4 to the broadcast MAC)",
  vlanTagged: 'it carries a VLAN tag; uvs serves untagged links only (capture on the VLAN interface instead)',
  notIpv4: 'neither IPv4 nor ARP (IPv6, LLDP, ...), which uvs does not handle',
  arpIgnored: 'ARP that asks for no address the director owns on that link, or claims one of its addresses',
  ipv4Fragment: 'an IPv4 fragment: IPVS only sees reassembled packets, and uvs does not reassemble',
  notRouted:
    'not for a virtual service, not for an address of the director and not a NAT reply: the director is not a router',
  noService: 'to an address of the director, but no virtual service listens on that protocol and port',
  tcpNoConn: 'TCP without SYN (or with RST) that belongs to no connection: IPVS schedules new connections only on SYN',
  unsupportedProto: 'to an address of the director, in a protocol uvs has no handler for (only TCP, UDP and ICMP)',
  icmpUnhandled: 'ICMP to the director that is neither an echo request (ping) nor an error about a connection',
  icmpUnrelated: 'an ICMP error about a packet of no connection the director tracks',
  destUnavailable:
    'the connection belongs to a real server that was removed; its packets are dropped until the entry expires',
  localForward: 'the real server uses the Local method, and uvs has no local stack to deliver to',
  drOffLink: "a DR real server must be on one of the director's links, and this RIP is not",
  noRoute: 'the director has no route to the destination',
  needsFragmentation: 'bigger than the outgoing link allows, without DF, and uvs does not fragment',
  tunMtuTooSmall: 'the outgoing MTU leaves less than 68 bytes for the packet inside the tunnel',
  neighQueueFull: "too many packets already wait for ARP to find the next hop's MAC",
  neighUnresolved: 'the next hop never answered ARP, so the packets waiting for its MAC were given up',
  neighTableFull: 'the neighbour table is full, so the next hop cannot be looked up',
  txFull: 'the batch of frames to send is full',
  icmpErrorSuppressed: 'an ICMP error is never answered with another ICMP error (RFC 1122 3.2.2)',
  frameTooLarge: 'the frame is larger than a datapath slot',
};

const tcpFlagNames: readonly [number, string][] = [
  [0x02, 'SYN'],
  [0x01, 'FIN'],
  [0x04, 'RST'],
  [0x08, 'PSH'],
  [0x10, 'ACK'],
  [0x20, 'URG'],
];

/** TCP flags as `SYN+ACK`; `none` for no flags. */
export function formatTcpFlags(flags: number): string {
  const names = tcpFlagNames.filter(([bit]) => (flags & bit) !== 0).map(([, name]) => name);
  return names.length === 0 ? 'none' : names.join('+');
}

/** RFC 792 names of the ICMP types and codes uvs meets. */
function icmpName(type: number, code: number): string {
  switch (type) {
    case 0:
      return 'echo reply';
    case 8:
      return 'echo request';
    case 3:
      return (
        ['net unreachable', 'host unreachable', 'protocol unreachable', 'port unreachable', 'fragmentation needed'][
          code
        ] ?? `destination unreachable (code ${code})`
      );
    case 4:
      return 'source quench';
    case 5:
      return 'redirect';
    case 11:
      return code === 0 ? 'time exceeded (TTL)' : 'time exceeded (reassembly)';
    case 12:
      return 'parameter problem';
    default:
      return `type ${type} code ${code}`;
  }
}

function parseIcmpKind(kind: string): { type: number; code: number } | null {
  const m = /^icmp (\d+)\/(\d+)$/.exec(kind);
  return m === null ? null : { type: Number(m[1]), code: Number(m[2]) };
}

/** `VIP` for a VIP; an address of no known role is the client's (CIP) in an IP packet. */
function role(ctx: TraceContext, addr: string | undefined): string {
  return (addr !== undefined && addressRole(ctx, addr)) || 'CIP';
}

/** ` (VIP)` after an address with a role, nothing otherwise: ARP also speaks for gateways and hosts. */
function label(ctx: TraceContext, addr: string | undefined): string {
  const r = addr === undefined ? null : addressRole(ctx, addr);
  return r === null ? '' : ` (${r})`;
}

const endpoint = (addr: string | undefined, port: number | undefined): string =>
  port === undefined ? `${addr}` : `${addr}:${port}`;

/** One line: the protocol, addresses and ports, the seed's names for them, and the TCP flags. */
export function describeFrame(f: TraceSummary | null, ctx: TraceContext): string {
  if (f === null) return 'unparseable frame';
  const roles = `(${role(ctx, f.src)} -> ${role(ctx, f.dst)})`;
  if (f.kind === 'arp-request') return `ARP who-has ${f.dst}${label(ctx, f.dst)} tell ${f.src}${label(ctx, f.src)}`;
  if (f.kind === 'arp-reply') return `ARP reply ${f.src}${label(ctx, f.src)} is-at ${f.srcMac}`;
  if (f.kind === 'arp') return `ARP ${f.src} -> ${f.dst}`;
  if (f.kind === 'tcp' || f.kind === 'udp') {
    const flags = f.kind === 'tcp' && f.tcpFlags !== undefined ? ` ${formatTcpFlags(f.tcpFlags)}` : '';
    return `${f.kind.toUpperCase()} ${endpoint(f.src, f.sport)} -> ${endpoint(f.dst, f.dport)} ${roles}${flags}`;
  }
  const icmp = parseIcmpKind(f.kind);
  if (icmp !== null) return `ICMP ${icmpName(icmp.type, icmp.code)} ${f.src} -> ${f.dst} ${roles}`;
  if (f.kind.startsWith('ipip/')) {
    const inner = describeFrame({ ...f, kind: f.kind.slice(5) }, ctx);
    return `IPIP ${f.outerSrc}${label(ctx, f.outerSrc)} -> ${f.outerDst}${label(ctx, f.outerDst)} carrying ${inner}`;
  }
  return `IPv4 ${f.kind.replace('ip ', '')} ${f.src} -> ${f.dst} ${roles}`;
}

/** The real server a forwarded frame went to: NAT's new destination, TUN's outer one, DR's by MAC. */
function realServerOf(t: TraceMessage, ctx: TraceContext): string | null {
  const out = t.output;
  if (out === null) return null;
  if (out.kind === 'arp-request') return out.dst ?? null;
  if (t.fwd === 'Masq') return endpoint(out.dst, out.dport);
  if (t.fwd === 'Tunnel') return out.outerDst ?? null;
  if (t.fwd === 'Route') {
    const n = ctx.neighbours.find((x) => x.mac === out.dstMac);
    return n === undefined ? `at MAC ${out.dstMac}` : n.ip;
  }
  return null;
}

/** Toward the real servers: to a VIP or DIP (not a NAT reply or an error passing through to the client). */
function isInbound(t: TraceMessage, ctx: TraceContext): boolean {
  const r = t.input?.dst === undefined ? null : addressRole(ctx, t.input.dst);
  return r === 'VIP' || r === 'DIP';
}

function decision(t: TraceMessage, ctx: TraceContext): string | null {
  if (t.service === null && t.conn === null) return null;
  const svc = t.service ?? 'an unknown service';
  const sched = t.scheduler === null ? '' : ` ${t.scheduler}`;
  const rs = realServerOf(t, ctx);
  const to = rs === null ? '' : ` -> RIP ${rs}`;
  const fwd = t.fwd === null ? '' : ` (${t.fwd})`;
  switch (t.conn) {
    case 'new':
      return `service ${svc}${sched}: new connection${to}${fwd}`;
    case 'untracked':
      return `service ${svc}${sched}: scheduled, but not tracked (one-packet scheduling or a full table)${to}${fwd}`;
    case 'known':
      return isInbound(t, ctx)
        ? `known connection of service ${svc}${to}${fwd}`
        : `reply on a known connection of service ${svc}${fwd}`;
    default:
      return `service ${svc}${sched}: no connection made`;
  }
}

function outTo(t: TraceMessage): string {
  return `out ${t.egress ?? '?'} to ${t.output?.dstMac ?? '?'}`;
}

/** The address and port changes between the frame received and the frame sent. */
function natRewrites(inp: TraceSummary, out: TraceSummary): string[] {
  const parts: string[] = [];
  if (inp.dst !== out.dst || inp.dport !== out.dport) {
    parts.push(`DNAT ${endpoint(inp.dst, inp.dport)} -> ${endpoint(out.dst, out.dport)}`);
  }
  if (inp.src !== out.src || inp.sport !== out.sport) {
    parts.push(`SNAT ${endpoint(inp.src, inp.sport)} -> ${endpoint(out.src, out.sport)}`);
  }
  return parts;
}

function forwarded(t: TraceMessage, ctx: TraceContext): string {
  const inp = t.input;
  const out = t.output;
  if (inp === null || out === null) return 'forwarded';
  if (t.fwd === 'Masq') {
    const nat = natRewrites(inp, out);
    const quoted = inp.kind.startsWith('icmp') ? ' (and in the quoted header)' : '';
    return `NAT: ${nat.length === 0 ? 'no address change' : nat.join(', ')}${quoted}, ${outTo(t)}`;
  }
  if (t.fwd === 'Route') {
    return `DR: MAC rewrite ${inp.dstMac} -> ${out.dstMac}, IP packet unchanged (${inp.src} -> ${inp.dst}), ${outTo(t)}`;
  }
  if (t.fwd === 'Tunnel') {
    return (
      `TUN: IPIP encapsulation, outer ${out.outerSrc}${label(ctx, out.outerSrc)} -> ${out.outerDst}` +
      `${label(ctx, out.outerDst)}, inner ${inp.src} -> ${inp.dst} unchanged, ${outTo(t)}`
    );
  }
  return `forwarded as ${describeFrame(out, ctx)}, ${outTo(t)}`;
}

function answered(t: TraceMessage, ctx: TraceContext): string {
  const out = t.output;
  if (out === null) return 'answered';
  if (out.kind === 'arp-reply') {
    return `ARP reply: ${out.src}${label(ctx, out.src)} is-at ${out.srcMac}, ${outTo(t)}`;
  }
  const icmp = parseIcmpKind(out.kind);
  if (icmp !== null) {
    const why =
      icmp.type === 0
        ? ''
        : icmp.type === 3 && icmp.code === 3
          ? ': no real server can take it'
          : icmp.type === 3 && icmp.code === 4
            ? ': too big for the next link, and DF forbids splitting it'
            : icmp.type === 11
              ? ': its TTL ran out here'
              : '';
    return `answered with ICMP ${icmpName(icmp.type, icmp.code)} ${out.src} -> ${out.dst}${why}, ${outTo(t)}`;
  }
  return `answered with ${describeFrame(out, ctx)}, ${outTo(t)}`;
}

function action(t: TraceMessage, ctx: TraceContext): string {
  switch (t.verdict) {
    case 'forward':
      return forwarded(t, ctx);
    case 'reply':
      return answered(t, ctx);
    case 'queued': {
      const arp = t.output?.kind === 'arp-request' ? `; sent ARP who-has ${t.output.dst} ${outTo(t)}` : '';
      return `held until ARP finds the next hop's MAC${arp}`;
    }
    case 'consumed':
      return t.input === null ? 'consumed' : `learned: ${t.input.src} is-at ${t.input.srcMac}`;
    case 'drop': {
      const reason = t.reason ?? 'unknown';
      const sentence = dropSentences[reason];
      return sentence === undefined ? `dropped (${reason})` : `dropped (${reason}): ${sentence}`;
    }
    default:
      return t.verdict;
  }
}

/**
 * The explanation of packet number `seq`: one line for what arrived, one for the service's decision when a
 * service or connection was involved, one for what was done with it (and the state change).
 */
export function explainPacket(seq: number, t: TraceMessage, ctx: TraceContext): string {
  const lines = [`#${seq} ${t.ingress} in  ${describeFrame(t.input, ctx)}`];
  const decided = decision(t, ctx);
  if (decided !== null) lines.push(`   ${decided}`);
  let done = action(t, ctx);
  if (t.stateBefore !== null || t.stateAfter !== null) {
    done += `; state ${t.stateBefore ?? 'NONE'} -> ${t.stateAfter ?? 'gone'}`;
  }
  lines.push(`   ${done}`);
  return lines.join('\n');
}
