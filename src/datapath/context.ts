// The per-packet context: what one frame's stages tell each other, in one object allocated once per Datapath
// and reset for every frame (the idea of DPVS's dp_vs_iphdr). Each stage takes it, fills in what it learned
// (the wire views bound to the frame, the route, what a first fragment's transmitter did, what the trace
// will show) and returns a numeric verdict. Plain fields of one class, so that V8 keeps one hidden class
// and every stage's accesses monomorphic; nothing here allocates per packet.
import { NO_ENTRY } from '../conn/table.js';
import type { Service } from '../model/rules.js';
import { ArpView } from '../wire/arp.js';
import { EthernetView } from '../wire/ethernet.js';
import { IcmpView } from '../wire/icmp.js';
import { Ipv4View } from '../wire/ipv4.js';
import { Reason } from '../wire/reason.js';
import { TcpView } from '../wire/tcp.js';
import { UdpView } from '../wire/udp.js';
import { FragAction, type FragActionCode } from './fragments.js';
import { NO_NEIGH } from './neighbours.js';
import { Verdict, type VerdictCode } from './reasons.js';

/** A stage that did not decide yet. */
export const CONTINUE = -1;

/** How the packet met its connection, for the trace. */
export const ConnKind = { none: 0, new: 1, known: 2, untracked: 3 } as const;

/** Counters besides the drops. */
export class DatapathCounters {
  rx = 0;
  tx = 0;
  /** Client -> real server (any mode). */
  forwardedIn = 0;
  /** NAT replies real server -> client. */
  forwardedOut = 0;
  arpReplies = 0;
  arpRequests = 0;
  arpLearned = 0;
  /** Learned neighbours forgotten by the neighbour table's gc (idle, or to make room for a new one). */
  neighForgotten = 0;
  echoReplies = 0;
  icmpErrorsSent = 0;
  /** Packets put on hold for ARP resolution, and released from hold. */
  queued = 0;
  released = 0;
  /** Forwarded without a connection entry (table full, or one-packet scheduling). */
  untracked = 0;
  /** Later fragments of IPv4 datagrams, forwarded after their first (also counted in forwardedIn/Out). */
  fragments = 0;
  /** Frames the native fast path forwarded (also counted in rx, tx and forwardedIn/Out). */
  fastPath = 0;
  // What became of each received frame, counted once per frame by its verdict, so that rx = forwarded +
  // answered + queued + consumed + the drops at receive (every drop reason but neighUnresolved, which
  // counts frames already counted as queued). forwardedIn/Out count decisions, and a frame decided but then
  // held or dropped for its next hop is in them too.
  /** Received frames sent on at once (to a real server, or a NAT reply to a client). */
  forwarded = 0;
  /** Received frames uvs answered itself (ARP reply, echo reply, ICMP error in their place). */
  answered = 0;
  /** Received frames used up without an answer (an ARP reply or announcement that was learned). */
  consumed = 0;
}

export class PacketContext {
  /** The wire views, rebound to the frame in its tx slot by the stage that parses that layer. */
  readonly eth = new EthernetView();
  readonly ip = new Ipv4View();
  readonly tcp = new TcpView();
  readonly udp = new UdpView();
  readonly icmp = new IcmpView();
  readonly arp = new ArpView();

  /** Why the frame was dropped (Reason.ok when it was not). */
  reason: number = Reason.ok;
  /** The tx slot holds a frame to send. */
  emitted = false;
  /** A neighbour whose waiting packets this frame (an ARP) made sendable, or NO_NEIGH. */
  releaseSlot = NO_NEIGH;

  /** Result of L3Tables.route(): egress interface position, next hop and preferred source (both `| 0`). */
  outIf = 0;
  outHop = 0;
  outSrc = 0;

  /** Set while a first fragment runs through the stages: its UDP length covers the whole datagram. */
  firstFragment = false;
  /** The transmitter's IP-level action and address, recorded for a first fragment's later ones. */
  fragAction: FragActionCode = FragAction.none;
  fragAddr = 0;

  // For the trace: plain field writes, read only while something subscribes.
  trService: Service | null = null;
  trConn: number = ConnKind.none;
  trFwd = -1;
  trStateBefore = -1;
  /** The packet's connection entry (also read by the fragment stage), or NO_ENTRY. */
  trSlot = NO_ENTRY;
  trProto = 0;

  /** Drops by reason, the Datapath's array. */
  private readonly drops: Float64Array;

  constructor(drops: Float64Array) {
    this.drops = drops;
  }

  /**
   * Before each frame, what only the trace reads. The fields every frame needs reset (reason, emitted,
   * releaseSlot, trSlot) are written by Datapath.frame itself: a call here would count against V8's
   * inlining budget of frame(), which then no longer inlines the Ethernet stage's small calls.
   */
  resetTrace(): void {
    this.trService = null;
    this.trConn = ConnKind.none;
    this.trFwd = -1;
    this.trStateBefore = -1;
  }

  /** Counts the frame as dropped for `reason` and returns Verdict.drop. */
  drop(reason: number): VerdictCode {
    this.reason = reason;
    this.drops[reason]!++;
    return Verdict.drop;
  }
}
