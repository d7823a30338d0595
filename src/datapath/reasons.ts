// Verdicts and drop reasons of the datapath. A drop reason is an index into one counter array: the wire
// layer's header-validation codes (src/wire/reason.ts) come first, unchanged, and the datapath's own
// reasons follow, so one `Float64Array` counts every way a frame can fail and one name table explains it.
import { REASON_COUNT, reasonNames } from '../wire/reason.js';

/** What happened to one received frame. */
export const Verdict = {
  /** Forwarded to a real server or back to a client (NAT reply); the frame is in tx. */
  forward: 0,
  /** Answered by uvs itself (ARP reply, echo reply, ICMP error); the answer is in tx. */
  reply: 1,
  /** Held until the next hop's MAC is known; an ARP request may be in tx. */
  queued: 2,
  /** Used up without an answer (an ARP reply or announcement that was learned). */
  consumed: 3,
  /** Dropped; `Datapath.lastReason` says why. */
  drop: 4,
} as const;
export type VerdictCode = (typeof Verdict)[keyof typeof Verdict];
export const verdictNames: readonly string[] = ['forward', 'reply', 'queued', 'consumed', 'drop'];

const base = REASON_COUNT;

/** The datapath's own drop reasons, numbered after the wire reasons. */
export const Drop = {
  /** A frame we sent, seen again by the capture socket (PACKET_OUTGOING). */
  outgoing: base,
  /** The I/O layer lost the frame's tail (GSO/GRO with offloads on). */
  frameTruncated: base + 1,
  /** CHECKSUM_PARTIAL that the I/O layer could not complete. */
  csumUnfixable: base + 2,
  /** Received on an interface the configuration does not list. */
  unknownIngress: base + 3,
  /** Unicast to another MAC, multicast, or IPv4 to the broadcast MAC. */
  notForUs: base + 4,
  /** 802.1Q/802.1ad tagged: uvs serves untagged links only (capture on the VLAN interface instead). */
  vlanTagged: base + 5,
  /** Neither IPv4 nor ARP (IPv6, LLDP, ...). */
  notIpv4: base + 6,
  /** ARP that asks for no address uvs owns on that link, or claims one of ours. */
  arpIgnored: base + 7,
  /** An IPv4 fragment uvs cannot forward: not TCP/UDP, or a first fragment too short for its ports. */
  ipv4Fragment: base + 8,
  /** Not for a virtual service, not for an owned address, not a NAT reply: uvs is not a router. */
  notRouted: base + 9,
  /** TCP/UDP to an owned address that matches no virtual service (no local stack answers it). */
  noService: base + 10,
  /** TCP without SYN (or with RST) that matches no connection: IPVS schedules only on SYN. */
  tcpNoConn: base + 11,
  /** An owned address, a protocol uvs has no handler for (not TCP, UDP or ICMP). */
  unsupportedProto: base + 12,
  /** ICMP to an owned address that is neither an echo request nor an error about a connection. */
  icmpUnhandled: base + 13,
  /** An ICMP error whose quoted packet belongs to no tracked connection. */
  icmpUnrelated: base + 14,
  /** The connection's destination was removed (expire_nodest_conn=0: drop until the entry expires). */
  destUnavailable: base + 15,
  /** A destination with the Local forwarding method: uvs has no local stack to deliver to. */
  localForward: base + 16,
  /** A DR destination that is not on any of the director's links: DR needs the RIP as next hop. */
  drOffLink: base + 17,
  /** No connected or configured route to the destination. */
  noRoute: base + 18,
  /** Bigger than the egress MTU without DF: uvs does not fragment. */
  needsFragmentation: base + 19,
  /** The egress MTU leaves less than 68 bytes for the inner packet of a tunnel. */
  tunMtuTooSmall: base + 20,
  /** The queue of packets waiting for ARP resolution is full. */
  neighQueueFull: base + 21,
  /** ARP resolution of the next hop failed after its retries; the waiting packets go. */
  neighUnresolved: base + 22,
  /** The neighbour table is full, so the next hop cannot be resolved. */
  neighTableFull: base + 23,
  /** The transmit batch is full. */
  txFull: base + 24,
  /** An ICMP error that would be answered with another ICMP error (RFC 1122 3.2.2: never). */
  icmpErrorSuppressed: base + 25,
  /** An ICMP error over the kernel's rate limits (icmp_msgs_per_sec, icmp_ratelimit): not sent. */
  icmpRateLimited: base + 26,
  /** A later fragment of a datagram whose first fragment uvs did not forward (reordered, or dropped). */
  fragmentUnknown: base + 27,
  /** A SYN for a new connection dropped by the drop_packet defense (src/ipvs/defense.ts). */
  defenseDropPacket: base + 28,
  /** Longer than a frame slot holds (see docs/operations.md, "Interface MTU and frame size limits"). */
  frameTooBig: base + 29,
} as const;

export const DROP_COUNT = base + 30;

/** Counter names indexed by reason: the wire names, then the datapath's. */
export const dropNames: readonly string[] = (() => {
  const names = reasonNames.slice();
  for (const [name, code] of Object.entries(Drop)) names[code] = name;
  return names;
})();
