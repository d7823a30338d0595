// `uvs trace`'s story of one packet, for learners, in the seed tutorial's terms (DS director, RS real server,
// VIP, DIP, RIP, CIP): where it arrived and between which addresses; which virtual service and scheduler
// decided, for a new or a known connection, and its real server (RIP:rport); which rewrite was applied (DNAT,
// SNAT, DR's MAC rewrite, TUN's IPIP encapsulation) and where it went, or which answer uvs sent (with the MTU
// a fragmentation-needed announces); the TCP state before and after; or why it was dropped.
//
// The offline trace (`uvs trace --in`) and the live one (the daemon's trace socket) render the same
// PacketTrace records, so they tell the same story; test/trace/agree.test.ts holds them to it.
//
// A pure function of the datapath's PacketTrace and a TraceContext; the control plane's pace, never the
// datapath's, so it may allocate freely.
import type { FrameSummary, PacketTrace } from '../datapath/datapath.js';
import { addressRole, type TraceContext } from './context.js';

/** A frame summary as the datapath publishes it (TCP flags and a fragmentation-needed's MTU included). */
export type TraceSummary = FrameSummary;

/** What is explained: a PacketTrace, as published in-process or read back from the trace socket's JSON. */
export type TraceMessage = PacketTrace;

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
  frameTooBig: "longer than one of uvs's frame slots holds (an interface MTU past what uvs supports)",
  csumUnfixable: 'the kernel left the checksum for the hardware to fill in, and uvs could not complete it',
  unknownIngress: 'it arrived on an interface the director configuration does not list',
  notForUs: "it was sent to another host's MAC (or as multicast, or IPv4 to the broadcast MAC)",
  vlanTagged: 'it carries a VLAN tag; uvs serves untagged links only (capture on the VLAN interface instead)',
  notIpv4: 'neither IPv4 nor ARP (IPv6, LLDP, ...), which uvs does not handle',
  arpIgnored: 'ARP that asks for no address the director owns on that link, or claims one of its addresses',
  ipv4Fragment: 'an IPv4 fragment uvs cannot forward: not TCP or UDP, or a first fragment too short to hold the ports',
  fragmentUnknown:
    'a later fragment of a datagram whose first fragment uvs did not forward (it came out of order, or was dropped)',
  defenseDropPacket:
    'a SYN for a new connection, dropped by the drop_packet defense while the connection table is nearly full',
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
  icmpErrorSuppressed:
    'no ICMP error is sent about an ICMP error, nor about a fragment other than the first (RFC 1122 3.2.2)',
  icmpRateLimited:
    'the ICMP error it calls for is over the rate limits the kernel applies (1000/s in all, 1/s per destination after a burst of 6)',
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

/** `fragmentation needed (MTU 1480)`: an ICMP message's name, with the MTU a fragmentation-needed announces. */
function icmpLabel(f: TraceSummary, icmp: { type: number; code: number }): string {
  const name = icmpName(icmp.type, icmp.code);
  return f.mtu === undefined ? name : `${name} (MTU ${f.mtu})`;
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
  if (icmp !== null) return `ICMP ${icmpLabel(f, icmp)} ${f.src} -> ${f.dst} ${roles}`;
  if (f.kind.startsWith('ipip/')) {
    const inner = describeFrame({ ...f, kind: f.kind.slice(5) }, ctx);
    return `IPIP ${f.outerSrc}${label(ctx, f.outerSrc)} -> ${f.outerDst}${label(ctx, f.outerDst)} carrying ${inner}`;
  }
  return `IPv4 ${f.kind.replace('ip ', '')} ${f.src} -> ${f.dst} ${roles}`;
}

/**
 * RIP:rport of the packet's connection, as the datapath reports it: the scheduler's choice or the known
 * connection's binding, whatever frame was sent (an ICMP answer, an ARP request, or nothing at all).
 */
function realServer(t: TraceMessage): string | null {
  // `?? null`: a record from an older daemon has no rip at all.
  const rip = t.rip ?? null;
  return rip === null ? null : endpoint(rip, t.rport ?? undefined);
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
  const rs = realServer(t);
  const to = rs === null ? '' : ` -> RIP ${rs}`;
  const fwd = t.fwd === null ? '' : ` (${t.fwd})`;
  switch (t.conn) {
    case 'new':
      return `service ${svc}${sched}: new connection${to}${fwd}`;
    case 'untracked':
      return `service ${svc}${sched}: scheduled, but not tracked (one-packet scheduling or a full table)${to}${fwd}`;
    case 'known':
      if (isInbound(t, ctx)) return `known connection of service ${svc}${to}${fwd}`;
      // Toward the client: a NAT reply from the real server, or an ICMP error about a packet sent to it.
      if (t.input !== null && parseIcmpKind(t.input.kind) !== null) {
        return `ICMP error about a known connection of service ${svc}${rs === null ? '' : ` to RIP ${rs}`}${fwd}`;
      }
      return `reply${rs === null ? '' : ` from RIP ${rs}`} on a known connection of service ${svc}${fwd}`;
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

/**
 * The rewrite that turned `inp` into `out`, without where it went. A frame still `held` for ARP has no
 * next-hop MAC yet, so DR's MAC rewrite is told as still to come.
 */
function rewriteOf(t: TraceMessage, inp: TraceSummary, out: TraceSummary, ctx: TraceContext, held: boolean): string {
  if (t.fwd === 'Masq') {
    const nat = natRewrites(inp, out);
    const quoted = inp.kind.startsWith('icmp') ? ' (and in the quoted header)' : '';
    return `NAT: ${nat.length === 0 ? 'no address change' : nat.join(', ')}${quoted}`;
  }
  if (t.fwd === 'Route') {
    const unchanged = `IP packet unchanged (${inp.src} -> ${inp.dst})`;
    return held
      ? `DR: ${unchanged}, its destination MAC to become the RIP's`
      : `DR: MAC rewrite ${inp.dstMac} -> ${out.dstMac}, ${unchanged}`;
  }
  if (t.fwd === 'Tunnel') {
    return (
      `TUN: IPIP encapsulation, outer ${out.outerSrc}${label(ctx, out.outerSrc)} -> ${out.outerDst}` +
      `${label(ctx, out.outerDst)}, inner ${inp.src} -> ${inp.dst} unchanged`
    );
  }
  return `forwarded as ${describeFrame(out, ctx)}`;
}

function forwarded(t: TraceMessage, ctx: TraceContext): string {
  const inp = t.input;
  const out = t.output;
  if (inp === null || out === null) return 'forwarded';
  return `${rewriteOf(t, inp, out, ctx, false)}, ${outTo(t)}`;
}

/** Why uvs answered with this ICMP message, after a colon; '' for an echo reply. */
function icmpReason(t: TraceMessage, f: TraceSummary, icmp: { type: number; code: number }): string {
  if (icmp.type === 3 && icmp.code === 3) return ': no real server can take it';
  if (icmp.type === 11) return ': its TTL ran out here';
  if (icmp.type !== 3 || icmp.code !== 4) return '';
  // ensure_mtu_is_adequate(): the MTU announced is the route's, less the outer header for a tunnel.
  const packet = t.fwd === 'Tunnel' ? 'the packet, once wrapped in IPIP (20 bytes more), is' : 'the packet is';
  const mtu = f.mtu === undefined ? '' : `, so the sender is told to send at most ${f.mtu} bytes`;
  return `: ${packet} too big for the next link, and DF forbids splitting it${mtu}`;
}

/** `answered with ...`: the frame uvs made in reply (ARP, ICMP), without where it went. */
function answerOf(t: TraceMessage, f: TraceSummary, ctx: TraceContext): string {
  if (f.kind === 'arp-reply') return `ARP reply: ${f.src}${label(ctx, f.src)} is-at ${f.srcMac}`;
  const icmp = parseIcmpKind(f.kind);
  if (icmp !== null) {
    return `answered with ICMP ${icmpLabel(f, icmp)} ${f.src} -> ${f.dst}${icmpReason(t, f, icmp)}`;
  }
  return `answered with ${describeFrame(f, ctx)}`;
}

function answered(t: TraceMessage, ctx: TraceContext): string {
  return t.output === null ? 'answered' : `${answerOf(t, t.output, ctx)}, ${outTo(t)}`;
}

/** A held frame that uvs made in answer (an ICMP message about the packet), rather than the packet itself. */
function isAnswer(t: TraceMessage, held: TraceSummary): boolean {
  return parseIcmpKind(held.kind) !== null && held.kind !== t.input?.kind;
}

function queued(t: TraceMessage, ctx: TraceContext): string {
  const arp = t.output?.kind === 'arp-request' ? `; sent ARP who-has ${t.output.dst} ${outTo(t)}` : '';
  const held = t.held ?? null;
  const wait = "held until ARP finds the next hop's MAC";
  if (held === null) return `${wait}${arp}`;
  if (isAnswer(t, held)) return `${answerOf(t, held, ctx)}; ${wait}${arp}`;
  if (t.input === null) return `${wait}${arp}`;
  return `${rewriteOf(t, t.input, held, ctx, true)}; ${wait}${arp}`;
}

function action(t: TraceMessage, ctx: TraceContext): string {
  switch (t.verdict) {
    case 'forward':
      return forwarded(t, ctx);
    case 'reply':
      return answered(t, ctx);
    case 'queued':
      return queued(t, ctx);
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
