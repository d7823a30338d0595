// The datapath: turns a batch of received frames into the frames to send, the way the kernel's IPVS and the
// bits of the IP stack it leans on would (ip_vs_core.c, ip_vs_xmit.c, arp.c, icmp.c). Pure logic over
// FrameBatch in and FrameBatch out, so the live engine, `uvs replay` and the tests drive the same code.
//
// Per frame, a straight line of stages, each returning a Verdict (or CONTINUE):
//   1. I/O flags and ingress interface; Ethernet (untagged, to our MAC or broadcast).
//   2. ARP: answer requests for addresses owned on that link, learn the sender's MAC.
//   3. IPv4: validate (wire views), trim Ethernet padding. Fragments are not reassembled: the first runs
//      through the stages below and the later ones follow it (src/datapath/fragments.ts).
//   4. ICMP: echo requests to owned addresses are answered; errors quoting a tracked connection are
//      forwarded with ip_vs_nat_icmp's rewriting for NAT, unchanged through the connection's transmitter
//      for DR/TUN.
//   5. TCP/UDP: connection lookup client->VIP (in) and, for NAT replies, RIP->client (out); on a miss,
//      classify the service and schedule (TCP only on SYN without RST, UDP on any packet); no destination
//      -> ICMP port unreachable (ip_vs_leave). Then the state transition and the transmit function of the
//      connection's forwarding method (kept per connection in the table's `fwd`): xmitNat, xmitDr, xmitTun.
//   6. Route, TTL, MTU, then the neighbour: the MAC is filled in, or the frame waits while ARP resolves it.
//
// uvs is not a router: a packet that is not for a virtual service, not for an owned address and not a NAT
// reply of a tracked connection is dropped (Drop.notRouted).
//
// Every frame is first copied from its rx slot into the next tx slot (headroom kept, so TUN can prepend its
// outer header in place) and rewritten there; rx and tx must be different batches. Nothing here allocates
// per packet: views are rebound with reset(), results are numbers and fields, and tracing builds its record
// only while something subscribes to TRACE_CHANNEL. Addresses travel between the stages as signed 32-bit
// numbers (`addr | 0`) and MACs as two such numbers (macHigh16, macLow32): V8 keeps those small integers,
// while an unsigned address >= 2^31 or a 48-bit MAC is a heap number, allocated each time it is passed to or
// returned from a function that V8 did not inline. The service table and the scheduler take signed addresses
// too, so not even a new connection makes the unsigned form.
import diagnosticsChannel from 'node:diagnostics_channel';
import { DEFAULT_ARP, type DirectorConfig } from '../config/director.js';
import { NO_ENTRY } from '../conn/table.js';
import { TcpDir, TcpFlag, tcpStateNames } from '../conn/tcp-state.js';
import { EtherType, IpProto } from '../constants.js';
import { Fwd, type FwdMethod, fwdNames } from '../dest/dest.js';
import { type FrameBatch, FrameFlag, HEADROOM, PacketType, SLOT_SIZE } from '../io/batch.js';
import { type IpvsCore, Schedule } from '../ipvs/core.js';
import type { RuleCommand, RulesSnapshot, Service } from '../model/rules.js';
import { describeService } from '../model/rules.js';
import {
  BROADCAST_MAC,
  ipv4ToString,
  macHigh16,
  macLow32,
  macToString,
  writeIpv4,
  writeMacWords,
} from '../wire/addr.js';
import { ArpField, ArpOp, type ArpRepr, ArpView, emitArp, emitGratuitousArp } from '../wire/arp.js';
import { read16, read32i, write16, write32 } from '../wire/bytes.js';
import { csumReplace16, csumReplace32, inetChecksum, ipv4HeaderChecksum } from '../wire/checksum.js';
import { ETH_HEADER_LEN, type EthernetRepr, EthernetView, EthField, emitEthernet } from '../wire/ethernet.js';
import { type FrameRepr, parseFrame } from '../wire/frame.js';
import { emitEchoReplyInPlace, emitIcmpError, IcmpType, IcmpUnreachableCode, IcmpView } from '../wire/icmp.js';
import { encapIpip, IPIP_HEADER_LEN, type IpipOuter } from '../wire/ipip.js';
import { Ipv4Field, Ipv4View } from '../wire/ipv4.js';
import { Reason } from '../wire/reason.js';
import { TcpField, TcpView } from '../wire/tcp.js';
import { UdpView } from '../wire/udp.js';
import { FrameCopier } from './copy.js';
import { FastPath } from './fastpath.js';
import { FragAction, type FragActionCode, FragmentTable } from './fragments.js';
import { IcmpRateLimit } from './icmp-limit.js';
import { NeighbourTable, NeighState, NeighTimer, NO_NEIGH } from './neighbours.js';
import { DROP_COUNT, Drop, dropNames, Verdict, type VerdictCode, verdictNames } from './reasons.js';

/** node:diagnostics_channel name of the per-packet trace; see PacketTrace. */
export const TRACE_CHANNEL = 'uvs:datapath:packet';
const traceChannel = diagnosticsChannel.channel(TRACE_CHANNEL);

/** A stage that did not decide yet. */
const CONTINUE = -1;
/** conn_reuse_mode default: a SYN hitting a TIME_WAIT/CLOSE entry is scheduled anew. */
const CONN_REUSE_MODE = 1;
/** sysctl ip_default_ttl, used for the packets uvs makes itself (echo replies, ICMP errors). */
const OWN_TTL = 64;
/** icmp_send(): TOS of an ICMP error is IPTOS_PREC_INTERNETCONTROL. */
const ICMP_ERROR_TOS = 0xc0;
/** RFC 791: the smallest MTU; IPVS drops tunnel packets when the inner MTU would go below it. */
const MIN_MTU = 68;
const ARP_FRAME_LEN = ETH_HEADER_LEN + 28;
/** How often resolution retries and releases run, in seconds. */
const NEIGH_TICK_SECONDS = 0.1;
/** Neighbour slots the periodic gc looks at per tick: a table of 1024 is walked in under two seconds. */
const NEIGH_GC_SLOTS_PER_TICK = 64;

export interface DatapathOptions {
  /** ifindex of each configured interface, in the configuration's order (default 1, 2, ...). */
  ifindexes?: readonly number[];
  /** Learned neighbour entries at most: gc_thresh3 (default the configuration's `arp.gc_thresh3`, 1024). */
  neighbourCapacity?: number;
  /** Uniform in [0, 1), for the neighbours' reachable_time (default Math.random; tests fix it). */
  random?: () => number;
  /** Packets that may wait for ARP resolution, over all next hops (default 256). */
  queueCapacity?: number;
  /**
   * Hand the connection-hit case to the native fast path (native/fastpath.cc) when the addon is built
   * (default true). It produces the same frames and counters as the JavaScript stages, faster.
   */
  fastPath?: boolean;
}

/** After this many runs in a row in which the fast path took no frame, the next frames go straight to JS. */
const FAST_BACKOFF_MAX = 16;

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

/** A rule that gets no traffic on this director, and why (Datapath.checkRules()). */
export interface DisabledRule {
  /** `TCP VIP:PORT`, or `TCP VIP:PORT -> RIP:RPORT` for a destination. */
  readonly rule: string;
  readonly reason: string;
}

const ConnKind = { none: 0, new: 1, known: 2, untracked: 3 } as const;

export class Datapath {
  readonly config: DirectorConfig;
  readonly core: IpvsCore;
  /** Drops by reason (index: wire Reason, then Drop); names in `dropNames`. */
  readonly drops = new Float64Array(DROP_COUNT);
  /** The kernel's limits on ICMP errors (src/datapath/icmp-limit.ts). */
  private readonly icmpLimit = new IcmpRateLimit();
  /** What the first fragment of each forwarded datagram got, for its later fragments (fragments.ts). */
  private readonly frags = new FragmentTable();
  /** Set while a first fragment runs through the pipeline: its UDP length covers the whole datagram. */
  private firstFragment = false;
  /** The last transmitter's IP-level action and address, recorded for a first fragment. */
  private fragAction: FragActionCode = FragAction.none;
  private fragAddr = 0;
  readonly counters = new DatapathCounters();
  readonly neigh: NeighbourTable;
  /** Why the last frame was dropped (Reason.ok when it was not). */
  lastReason = 0;

  private readonly ifCount: number;
  private readonly ifMac: Float64Array;
  /** ifMac as macHigh16 / macLow32, for the per-packet checks and writes. */
  private readonly ifMacHigh: Uint16Array;
  private readonly ifMacLow: Int32Array;
  private readonly ifMtu: Uint32Array;
  private readonly ifIndex: Uint32Array;
  private readonly ifNames: readonly string[];
  /**
   * Owned addresses -> position of their interface: open addressing with linear probing over typed arrays,
   * keyed by `addr | 0`, at most half full. ownedIfPlusOne is 0 for an empty slot.
   */
  private readonly ownedAddr: Int32Array;
  private readonly ownedIfPlusOne: Uint16Array;
  private readonly ownedMask: number;
  // Routes, connected ones included, longest prefix first; addresses as `addr | 0`.
  private readonly rtNetwork: Int32Array;
  private readonly rtMask: Int32Array;
  private readonly rtIf: Uint8Array;
  private readonly rtGateway: Int32Array;
  private readonly rtSrc: Int32Array;
  private readonly rtCount: number;
  /** Result of route(): egress interface position, next hop and preferred source (both `| 0`). */
  private outIf = 0;
  private outHop = 0;
  private outSrc = 0;

  private readonly eth = new EthernetView();
  private readonly ip = new Ipv4View();
  private readonly tcp = new TcpView();
  private readonly udp = new UdpView();
  private readonly icmp = new IcmpView();
  private readonly arp = new ArpView();
  private readonly outer: IpipOuter = { src: 0, dst: 0, ttl: 0, tos: 0, df: false, id: 0 };
  private readonly ethRepr: EthernetRepr = { dst: 0, src: 0, etherType: EtherType.arp };
  private readonly arpRepr: ArpRepr = { op: ArpOp.request, senderMac: 0, senderIp: 0, targetMac: 0, targetIp: 0 };
  private ipId = 0;
  /** Service addresses of `vipSnapshot` (open addressing, at most half full), to skip the service lookup. */
  private vipSnapshot: RulesSnapshot | null = null;
  private vipAddr = new Int32Array(8);
  private vipUsed = new Uint8Array(8);
  private readonly copier = new FrameCopier();
  private nextTick = Number.NEGATIVE_INFINITY;
  private readonly tickInterval: number;
  /** Slot j of tx holds a frame to send. */
  private emitted = false;
  /** A neighbour whose waiting packets the last ARP made sendable. */
  private releaseSlot = NO_NEIGH;
  /** The native fast path, or null (disabled, or the addon is not built). */
  private readonly fast: FastPath | null;

  // Per-packet scratch for the trace; plain field writes, read only when tracing.
  private trService: Service | null = null;
  private trConn: number = ConnKind.none;
  private trFwd = -1;
  private trStateBefore = -1;
  private trSlot = NO_ENTRY;
  private trProto = 0;

  constructor(config: DirectorConfig, core: IpvsCore, options: DatapathOptions = {}) {
    this.config = config;
    this.core = core;
    const n = config.interfaces.length;
    if (n === 0 || n > 255) throw new RangeError('a datapath needs 1..255 interfaces');
    this.ifCount = n;
    this.ifMac = new Float64Array(n);
    this.ifMacHigh = new Uint16Array(n);
    this.ifMacLow = new Int32Array(n);
    this.ifMtu = new Uint32Array(n);
    this.ifIndex = new Uint32Array(n);
    this.ifNames = config.interfaces.map((f) => f.name);
    const ifindexes = options.ifindexes ?? config.interfaces.map((_, i) => i + 1);
    if (ifindexes.length !== n) throw new RangeError(`${n} interfaces but ${ifindexes.length} ifindexes`);
    let ownedCount = 0;
    for (const iface of config.interfaces) ownedCount += iface.addresses.length;
    let ownedSize = 8;
    while (ownedSize < ownedCount * 2) ownedSize *= 2;
    this.ownedAddr = new Int32Array(ownedSize);
    this.ownedIfPlusOne = new Uint16Array(ownedSize);
    this.ownedMask = ownedSize - 1;
    config.interfaces.forEach((iface, i) => {
      this.ifMac[i] = iface.mac;
      this.ifMacHigh[i] = macHigh16(iface.mac);
      this.ifMacLow[i] = macLow32(iface.mac);
      this.ifMtu[i] = iface.mtu;
      this.ifIndex[i] = ifindexes[i]!;
      for (const a of iface.addresses) this.addOwned(a.addr, i);
    });

    // Connected routes (not for /32 addresses, which put nothing else on the link), then the configured
    // ones, each through the connected route of its gateway; sorted longest prefix first, connected first
    // on ties, as the kernel's FIB prefers them at equal length by metric.
    const routes: { network: number; mask: number; len: number; ifPos: number; gw: number; src: number }[] = [];
    config.interfaces.forEach((iface, i) => {
      for (const a of iface.addresses) {
        if (a.prefixLen === 32) continue;
        if (routes.some((r) => r.network === a.network && r.len === a.prefixLen)) continue;
        routes.push({ network: a.network, mask: a.mask, len: a.prefixLen, ifPos: i, gw: 0, src: a.addr });
      }
    });
    const connected = routes.slice();
    for (const r of config.routes) {
      const via = connected.find((c) => (r.via & c.mask) >>> 0 === c.network);
      if (via === undefined) throw new RangeError(`gateway ${ipv4ToString(r.via)} is on no connected network`);
      routes.push({ network: r.network, mask: r.mask, len: r.prefixLen, ifPos: via.ifPos, gw: r.via, src: via.src });
    }
    routes.sort((a, b) => b.len - a.len || (a.gw === 0 ? 0 : 1) - (b.gw === 0 ? 0 : 1));
    this.rtCount = routes.length;
    this.rtNetwork = Int32Array.from(routes, (r) => r.network);
    this.rtMask = Int32Array.from(routes, (r) => r.mask);
    this.rtIf = Uint8Array.from(routes, (r) => r.ifPos);
    this.rtGateway = Int32Array.from(routes, (r) => r.gw);
    this.rtSrc = Int32Array.from(routes, (r) => r.src);

    const tps = core.ticksPerSecond;
    this.tickInterval = NEIGH_TICK_SECONDS * tps;
    const arp = config.arp ?? DEFAULT_ARP;
    this.neigh = new NeighbourTable({
      queueCapacity: options.queueCapacity ?? 256,
      ticksPerSecond: tps,
      staticCapacity: config.neighbours.length,
      arp: options.neighbourCapacity === undefined ? arp : { ...arp, gcThresh3: options.neighbourCapacity },
      ...(options.random === undefined ? {} : { random: options.random }),
    });
    for (const s of config.neighbours) {
      if (!this.route(s.ip) || this.outHop !== (s.ip | 0)) {
        throw new RangeError(`static neighbour ${ipv4ToString(s.ip)} is on no connected network`);
      }
      this.neigh.addStatic(s.ip, s.mac, this.outIf);
    }
    if (config.defense !== undefined) core.defense.configure(config.defense);
    this.fast =
      options.fastPath === false
        ? null
        : FastPath.create(
            core.conns,
            core.dests,
            this.neigh,
            {
              ifMacHigh: this.ifMacHigh,
              ifMacLow: this.ifMacLow,
              ifMtu: this.ifMtu,
              ifIndex: this.ifIndex,
              rtNetwork: this.rtNetwork,
              rtMask: this.rtMask,
              rtGateway: this.rtGateway,
              rtSrc: this.rtSrc,
              rtIf: this.rtIf,
            },
            SLOT_SIZE,
            HEADROOM,
          );
  }

  /** True when the native fast path takes the connection-hit case. */
  get fastPathEnabled(): boolean {
    return this.fast !== null;
  }

  /** Interface name of an ifindex, or undefined. */
  interfaceName(ifindex: number): string | undefined {
    const pos = this.ifPosOf(ifindex);
    return pos < 0 ? undefined : this.ifNames[pos];
  }

  /** Drop counts by name, non-zero ones only. */
  dropSummary(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let r = 0; r < DROP_COUNT; r++) if (this.drops[r]! > 0) out[dropNames[r]!] = this.drops[r]!;
    return out;
  }

  /**
   * Problems with the rules for this director. Errors: a DR destination off every link (DR sends to the RIP's
   * own MAC, so it must be on-link; the kernel routes with FLOWI_FLAG_KNOWN_NH) and a destination without a
   * route. Warnings: a VIP no interface owns (nobody will ARP for it, and the datapath does not serve it) and
   * Local destinations (uvs has no local stack). `disabled` names every rule that gets no traffic here and
   * why: the daemon starts with such rules (they may come from a state file saved under another config) and
   * reports them; uvsadm refuses new ones (misfitOf()).
   */
  checkRules(snapshot: RulesSnapshot = this.core.rules.snapshot): {
    errors: string[];
    warnings: string[];
    disabled: DisabledRule[];
  } {
    const errors: string[] = [];
    const warnings: string[] = [];
    const disabled: DisabledRule[] = [];
    for (const svc of snapshot.services) {
      const svcMisfit = this.serviceMisfit(svc.addr);
      if (svcMisfit !== null) {
        warnings.push(`${describeService(svc)}: ${svcMisfit}`);
        disabled.push({ rule: describeService(svc), reason: svcMisfit });
      }
      for (const d of svc.dests) {
        const where = `${describeService(svc)} -> ${ipv4ToString(d.addr)}:${d.port}`;
        const misfit = this.destMisfit(d.addr, d.fwd);
        if (d.fwd === Fwd.local) {
          warnings.push(`${where}: Local forwarding is not supported; its packets will be dropped`);
        } else if (misfit !== null) {
          errors.push(`${where}: ${misfit}`);
          disabled.push({ rule: where, reason: misfit });
        }
      }
    }
    return { errors, warnings, disabled };
  }

  /** Why a service on `vip` cannot be served here, or null. */
  serviceMisfit(vip: number): string | null {
    if (this.ownerOf(vip) >= 0) return null;
    return `VIP ${ipv4ToString(vip)} is not among the interfaces' addresses, so nothing answers ARP for it`;
  }

  /** Why a destination at `addr` forwarded by `fwd` cannot be reached from here, or null. */
  destMisfit(addr: number, fwd: FwdMethod): string | null {
    if (fwd === Fwd.local) return null;
    if (fwd === Fwd.route) {
      return this.route(addr) && this.outHop === (addr | 0)
        ? null
        : "DR (-g) needs the real server on one of the director's links; it is not";
    }
    return this.route(addr) ? null : 'no route to the real server';
  }

  /**
   * Why a rule change cannot work on this director, or null: a service whose VIP no interface owns, or a
   * destination the director cannot reach. The control plane gets this as its rule-fit check.
   */
  misfitOf(command: RuleCommand): string | null {
    switch (command.kind) {
      case 'add-service':
      case 'edit-service': {
        const svcMisfit = this.serviceMisfit(command.svc.addr);
        return svcMisfit === null ? null : `${describeService(command.svc)}: ${svcMisfit}`;
      }
      case 'add-dest':
      case 'edit-dest': {
        const svcMisfit = this.serviceMisfit(command.svc.addr);
        if (svcMisfit !== null) return `${describeService(command.svc)}: ${svcMisfit}`;
        const misfit = this.destMisfit(command.addr, command.fwd);
        return misfit === null ? null : `${describeService(command.svc)} -> ${ipv4ToString(command.addr)}: ${misfit}`;
      }
      default:
        return null;
    }
  }

  /**
   * Gratuitous ARP for every owned address (sent by the daemon at start), or only those of interface
   * `onlyIfPos`; returns tx.count.
   */
  announce(tx: FrameBatch, onlyIfPos = -1): number {
    for (let i = 0; i < this.ifCount; i++) {
      if (onlyIfPos >= 0 && i !== onlyIfPos) continue;
      for (const a of this.config.interfaces[i]!.addresses) {
        const j = tx.count;
        if (j >= tx.capacity) return j;
        const off = tx.slotBase(j) + tx.headroom;
        this.ethRepr.dst = BROADCAST_MAC;
        this.ethRepr.src = this.ifMac[i]!;
        this.ethRepr.etherType = EtherType.arp;
        emitGratuitousArp(tx.bytes, emitEthernet(this.ethRepr, tx.bytes, off), this.ifMac[i]!, a.addr);
        this.setTxFrame(tx, j, off, ARP_FRAME_LEN, i);
        tx.count = j + 1;
        this.counters.tx++;
      }
    }
    return tx.count;
  }

  /**
   * Interface `ifPos` went down or away: what was learned on it is forgotten, and packets waiting for those
   * neighbours dropped (Drop.neighUnresolved), as the kernel's neigh_ifdown() flushes a device's entries.
   * Static entries stay. Returns the packets dropped.
   */
  linkDown(ifPos: number): number {
    const neigh = this.neigh;
    let dropped = 0;
    for (let s = 0; s < neigh.capacity; s++) {
      const state = neigh.state[s];
      if (state === NeighState.free || state === NeighState.static || neigh.ifPos[s] !== ifPos) continue;
      dropped += neigh.fail(s);
    }
    this.drops[Drop.neighUnresolved]! += dropped;
    return dropped;
  }

  /**
   * Interface `ifPos` is back, perhaps as a new device (deleted and made again): frames for it leave by
   * `ifindex` and carry `mac` from now on, and its addresses are announced on it again (gratuitous ARP, as
   * the kernel does when a device comes up). Returns tx.count.
   */
  linkUp(ifPos: number, ifindex: number, mac: number, tx: FrameBatch): number {
    this.ifIndex[ifPos] = ifindex;
    this.ifMac[ifPos] = mac;
    this.ifMacHigh[ifPos] = macHigh16(mac);
    this.ifMacLow[ifPos] = macLow32(mac);
    return this.announce(tx, ifPos);
  }

  /**
   * Runs every frame of `rx` through the pipeline, appending what is to be sent to `tx` (egressIfindex set).
   * `now` is in the core's ticks (milliseconds by default). Returns tx.count.
   */
  processBatch(rx: FrameBatch, tx: FrameBatch, now: number): number {
    if (now >= this.nextTick) this.tick(tx, now);
    const n = rx.count;
    // Read once per batch: a subscriber that arrives mid-batch is served from the next batch on.
    const tracing = traceChannel.hasSubscribers;
    const fast = this.fast;
    if (fast === null || tracing) {
      for (let i = 0; i < n; i++) this.frame(rx, i, tx, now, tracing);
      return tx.count;
    }
    const snapshot = this.core.rules.snapshot;
    if (snapshot !== this.vipSnapshot) this.indexVips(snapshot);
    const counters = this.counters;
    let backoff = 0;
    let i = 0;
    while (i < n) {
      fast.ipId = this.ipId;
      i = fast.run(rx, i, tx, now);
      this.ipId = fast.ipId;
      const handled = fast.result.handled;
      if (handled > 0) {
        counters.rx += handled;
        counters.tx += handled;
        counters.forwardedIn += fast.result.forwardedIn;
        counters.forwardedOut += fast.result.forwardedOut;
        counters.forwarded += handled;
        counters.fastPath += handled;
        backoff = 0;
      } else {
        // A run of frames the fast path cannot take (a SYN flood, ARP, strays): stop asking for a while.
        backoff = backoff === 0 ? 1 : Math.min(backoff * 2, FAST_BACKOFF_MAX);
      }
      for (let k = 0; k < backoff && i < n; k++) this.frame(rx, i++, tx, now, false);
      if (backoff === 0 && i < n) this.frame(rx, i++, tx, now, false);
    }
    return tx.count;
  }

  /** One frame; returns its Verdict (`lastReason` says why when it is a drop). */
  processFrame(rx: FrameBatch, i: number, tx: FrameBatch, now: number): VerdictCode {
    return this.frame(rx, i, tx, now, traceChannel.hasSubscribers);
  }

  private frame(rx: FrameBatch, i: number, tx: FrameBatch, now: number, tracing: boolean): VerdictCode {
    this.counters.rx++;
    this.lastReason = Reason.ok;
    this.emitted = false;
    this.releaseSlot = NO_NEIGH;
    this.trService = null;
    this.trConn = ConnKind.none;
    this.trFwd = -1;
    this.trStateBefore = -1;
    this.trSlot = NO_ENTRY;
    const input = tracing ? rx.bytes.slice(rx.offset[i]!, rx.offset[i]! + rx.length[i]!) : null;
    const j = tx.count;
    let verdict: VerdictCode;
    const flags = rx.flags[i]!;
    const ifPos = this.ifPosOf(rx.ifindex[i]!);
    if (j >= tx.capacity) verdict = this.drop(Drop.txFull);
    else if (rx.pktType[i] === PacketType.outgoing) verdict = this.drop(Drop.outgoing);
    else if (flags & FrameFlag.truncated) verdict = this.drop(Drop.frameTruncated);
    else if (flags & FrameFlag.csumUnfixable) verdict = this.drop(Drop.csumUnfixable);
    else if (ifPos < 0) verdict = this.drop(Drop.unknownIngress);
    // Copied whole into a tx slot below: a frame longer than a slot holds (from a backend that does not cut
    // it off) would run into the next slot.
    else if (rx.length[i]! > tx.slotSize - tx.headroom) verdict = this.drop(Drop.frameTooBig);
    else {
      const off = tx.slotBase(j) + tx.headroom;
      const src = rx.offset[i]!;
      const len = rx.length[i]!;
      this.copier.copy(rx.bytes, src, tx.bytes, off, len);
      tx.offset[j] = off;
      tx.length[j] = len;
      tx.ifindex[j] = rx.ifindex[i]!;
      tx.flags[j] = 0;
      tx.vlanTci[j] = 0;
      tx.pktType[j] = 0;
      tx.egressIfindex[j] = 0;
      verdict = this.handleFrame(tx, j, ifPos, now);
    }
    if (this.emitted) {
      tx.count = j + 1;
      this.counters.tx++;
    }
    if (verdict === Verdict.forward) this.counters.forwarded++;
    else if (verdict === Verdict.reply) this.counters.answered++;
    else if (verdict === Verdict.consumed) this.counters.consumed++;
    if (this.releaseSlot !== NO_NEIGH) this.release(tx, this.releaseSlot);
    if (tracing) this.publishTrace(input!, ifPos, verdict, tx, j, now);
    return verdict;
  }

  // ---- stages ----

  private handleFrame(tx: FrameBatch, j: number, ifPos: number, now: number): VerdictCode {
    const buf = tx.bytes;
    const off = tx.offset[j]!;
    const len = tx.length[j]!;
    const eth = this.eth.reset(buf, off, len);
    const r = eth.checkLen();
    if (r !== Reason.ok) return this.drop(r);
    if (eth.tags !== 0) return this.drop(Drop.vlanTagged);
    const dstHigh = read16(buf, off + EthField.dst);
    const dstLow = read32i(buf, off + EthField.dst + 2);
    const toUs = dstHigh === this.ifMacHigh[ifPos] && dstLow === this.ifMacLow[ifPos];
    const type = eth.etherType;
    if (type === EtherType.arp) {
      if (!toUs && !(dstHigh === 0xffff && dstLow === -1)) return this.drop(Drop.notForUs);
      return this.handleArp(tx, j, ifPos, now);
    }
    if (type !== EtherType.ipv4) return this.drop(Drop.notIpv4);
    if (!toUs) return this.drop(Drop.notForUs);
    return this.handleIpv4(tx, j, now);
  }

  private handleArp(tx: FrameBatch, j: number, ifPos: number, now: number): VerdictCode {
    const eth = this.eth;
    const arp = this.arp.reset(eth.buf, eth.payloadOff, eth.payloadLen);
    const r = arp.checkLen();
    if (r !== Reason.ok) return this.drop(r);
    const abuf = arp.buf;
    const aoff = arp.off;
    const senderIp = read32i(abuf, aoff + ArpField.senderIp);
    const senderMacHigh = read16(abuf, aoff + ArpField.senderMac);
    const senderMacLow = read32i(abuf, aoff + ArpField.senderMac + 2);
    const targetIp = read32i(abuf, aoff + ArpField.targetIp);
    // Someone else claiming one of our addresses (or our own announcement looped back): never learn it.
    if (this.ownerOf(senderIp) >= 0) return this.drop(Drop.arpIgnored);
    const forUs = this.ownerOf(targetIp) === ifPos;
    let learned = false;
    // An ARP probe (sender 0.0.0.0, RFC 5227) teaches nothing; others are learned when aimed at us, and
    // refresh an existing entry whoever they were for (arp_process()).
    if (senderIp !== 0 && this.onLink(ifPos, senderIp)) {
      const ready = this.neigh.learn(senderIp, senderMacHigh, senderMacLow, ifPos, forUs, now);
      learned = this.neigh.learned;
      if (learned) this.counters.arpLearned++;
      if (ready !== NO_NEIGH) this.releaseSlot = ready;
    }
    if (arp.op === ArpOp.request && forUs) {
      const macHigh = this.ifMacHigh[ifPos]!;
      const macLow = this.ifMacLow[ifPos]!;
      arp.turnIntoReplyWords(macHigh, macLow);
      writeMacWords(eth.buf, eth.off + EthField.dst, senderMacHigh, senderMacLow);
      writeMacWords(eth.buf, eth.off + EthField.src, macHigh, macLow);
      tx.egressIfindex[j] = this.ifIndex[ifPos]!;
      this.emitted = true;
      this.counters.arpReplies++;
      return Verdict.reply;
    }
    return learned ? Verdict.consumed : this.drop(Drop.arpIgnored);
  }

  private handleIpv4(tx: FrameBatch, j: number, now: number): VerdictCode {
    const eth = this.eth;
    const ip = this.ip.reset(eth.buf, eth.payloadOff, eth.payloadLen);
    const r = ip.checkLen();
    if (r !== Reason.ok) return this.drop(r);
    if (!verifyIpv4HeaderChecksum(ip.buf, ip.off)) return this.drop(Reason.ipv4BadChecksum);
    // ip_rcv: the packet ends at its total length; what follows is Ethernet padding and is not sent on.
    const total = ip.totalLength;
    ip.len = total;
    tx.length[j] = ETH_HEADER_LEN + total;
    if (ip.isFragment) return this.handleFragment(tx, j, now);
    const proto = ip.protocol;
    this.trProto = proto;
    if (proto === IpProto.tcp || proto === IpProto.udp) return this.handleL4(tx, j, proto, now);
    if (proto === IpProto.icmp) return this.handleIcmp(tx, j, now);
    return this.drop(this.ownerOf(ip.dstInt32) >= 0 ? Drop.unsupportedProto : Drop.notRouted);
  }

  /**
   * An IPv4 fragment (src/datapath/fragments.ts): the first one runs through the pipeline like a whole
   * packet and its transmitter is remembered; the later ones get the IP-level half of the same rewrite.
   * Fragments of other protocols are dropped (uvs's own ICMP needs the whole datagram).
   */
  private handleFragment(tx: FrameBatch, j: number, now: number): VerdictCode {
    const ip = this.ip;
    const proto = ip.protocol;
    this.trProto = proto;
    if (proto !== IpProto.tcp && proto !== IpProto.udp) return this.drop(Drop.ipv4Fragment);
    const src = ip.srcInt32;
    const dst = ip.dstInt32;
    const id = ip.id;
    if (ip.fragOffset === 0) {
      this.fragAction = FragAction.none;
      this.firstFragment = true;
      const v = this.handleL4(tx, j, proto, now);
      this.firstFragment = false;
      if (v === Verdict.forward && this.fragAction !== FragAction.none) {
        this.frags.remember(src, dst, proto, id, this.fragAction, this.fragAddr, this.trSlot, now);
      }
      return v;
    }
    const k = this.frags.find(src, dst, proto, id, now);
    if (k < 0) return this.drop(Drop.fragmentUnknown);
    const addr = this.frags.addr[k]!;
    const slot = this.frags.conn[k]!;
    const conns = this.core.conns;
    const counted = slot !== NO_ENTRY && conns.isLive(slot);
    this.trSlot = counted ? slot : NO_ENTRY;
    const bytes = ip.totalLength;
    const action = this.frags.action[k];
    this.counters.fragments++;
    if (action === FragAction.natOut) {
      const v = this.routeTtlMtu(tx, j, dst, 0, now);
      if (v !== CONTINUE) return v as VerdictCode;
      ip.setSrc(addr);
      if (counted) conns.countOut(slot, bytes);
      this.counters.forwardedOut++;
      return this.sendToNextHop(tx, j, now, Verdict.forward);
    }
    if (counted) conns.countIn(slot, bytes);
    if (action === FragAction.route) return this.xmitDr(tx, j, addr, now);
    if (action === FragAction.tunnel) return this.xmitTun(tx, j, addr, now);
    const v = this.routeTtlMtu(tx, j, addr, 0, now);
    if (v !== CONTINUE) return v as VerdictCode;
    ip.setDst(addr);
    this.counters.forwardedIn++;
    return this.sendToNextHop(tx, j, now, Verdict.forward);
  }

  private handleL4(tx: FrameBatch, j: number, proto: number, now: number): VerdictCode {
    const ip = this.ip;
    let sport: number;
    let dport: number;
    let tcpFlags = 0;
    if (proto === IpProto.tcp) {
      const tcp = this.tcp.reset(ip.buf, ip.payloadOff, ip.payloadLen);
      const r = tcp.checkLen();
      if (r !== Reason.ok) return this.drop(r);
      sport = tcp.srcPort;
      dport = tcp.dstPort;
      tcpFlags = tcp.flags;
    } else {
      const udp = this.udp.reset(ip.buf, ip.payloadOff, ip.payloadLen);
      const r = this.firstFragment ? udp.checkHeader() : udp.checkLen();
      if (r !== Reason.ok) return this.drop(r);
      sport = udp.srcPort;
      dport = udp.dstPort;
    }
    const src = ip.srcInt32;
    const dst = ip.dstInt32;
    const core = this.core;
    const conns = core.conns;
    let slot = conns.lookupIn(proto, src, sport, dst, dport, now);
    if (
      slot !== NO_ENTRY &&
      proto === IpProto.tcp &&
      tcpFlags & TcpFlag.syn &&
      conns.isNewConnExpected(slot, CONN_REUSE_MODE)
    ) {
      // conn_reuse_mode: the old entry goes at once and the SYN is scheduled as a new connection.
      conns.expireEntry(slot, now);
      slot = NO_ENTRY;
    }
    if (slot !== NO_ENTRY) return this.inConn(tx, j, slot, proto, tcpFlags, ConnKind.known, now);
    const svc = this.lookupService(proto, dst, dport);
    if (svc !== undefined) return this.scheduleIn(tx, j, svc, proto, src, sport, dst, dport, tcpFlags, now);
    const out = conns.lookupOut(proto, src, sport, dst, dport, now);
    if (out !== NO_ENTRY && conns.fwd[out] === Fwd.masq) return this.outConn(tx, j, out, proto, tcpFlags, now);
    return this.drop(this.ownerOf(dst) >= 0 ? Drop.noService : Drop.notRouted);
  }

  /** A packet to a service without a connection (ip_vs_in() on a miss). */
  private scheduleIn(
    tx: FrameBatch,
    j: number,
    svc: Service,
    proto: number,
    src: number,
    sport: number,
    dst: number,
    dport: number,
    tcpFlags: number,
    now: number,
  ): VerdictCode {
    const core = this.core;
    this.trService = svc;
    // tcp_conn_schedule(): only a SYN without RST may create a connection.
    if (proto === IpProto.tcp && (tcpFlags & (TcpFlag.syn | TcpFlag.rst)) !== TcpFlag.syn) {
      return this.drop(Drop.tcpNoConn);
    }
    if (proto === IpProto.tcp && core.defense.dropsNewConnection()) return this.drop(Drop.defenseDropPacket);
    const decided = core.schedule(svc, proto, src, sport, dst, dport, now);
    if (decided === Schedule.created) return this.inConn(tx, j, core.slot, proto, tcpFlags, ConnKind.new, now);
    if (decided === Schedule.untracked) {
      const dest = core.dest!;
      this.trConn = ConnKind.untracked;
      this.trFwd = dest.fwd;
      this.counters.untracked++;
      return this.xmitIn(tx, j, dest.fwd, dest.addr | 0, dest.port !== 0 ? dest.port : dport, now);
    }
    return this.sendIcmpError(tx, j, IcmpType.destUnreachable, IcmpUnreachableCode.port, 0, now);
  }

  /** ip_vs_in() after the lookup: server check, stats, state, then the connection's transmitter. */
  private inConn(
    tx: FrameBatch,
    j: number,
    slot: number,
    proto: number,
    tcpFlags: number,
    kind: number,
    now: number,
  ): VerdictCode {
    const conns = this.core.conns;
    this.trConn = kind;
    this.trSlot = slot;
    this.trStateBefore = conns.state[slot]!;
    this.trFwd = conns.fwd[slot]!;
    const dest = this.core.dests.get(conns.destId[slot]!);
    if (dest === undefined || !dest.available) return this.drop(Drop.destUnavailable);
    conns.countIn(slot, this.ip.totalLength);
    if (proto === IpProto.tcp) conns.tcpTransition(slot, TcpDir.input, tcpFlags, now);
    else conns.udpTransition(slot, now);
    return this.xmitIn(tx, j, conns.fwd[slot]!, conns.daddrInt32Of(slot), conns.dportOf(slot), now);
  }

  /** handle_response(): a NAT reply RIP:rport -> client becomes VIP:vport -> client. */
  private outConn(tx: FrameBatch, j: number, slot: number, proto: number, tcpFlags: number, now: number): VerdictCode {
    const conns = this.core.conns;
    const ip = this.ip;
    this.trConn = ConnKind.known;
    this.trSlot = slot;
    this.trStateBefore = conns.state[slot]!;
    this.trFwd = Fwd.masq;
    conns.countOut(slot, ip.totalLength);
    if (proto === IpProto.tcp) conns.tcpTransition(slot, TcpDir.output, tcpFlags, now);
    else conns.udpTransition(slot, now);
    const v = this.routeTtlMtu(tx, j, ip.dstInt32, 0, now);
    if (v !== CONTINUE) return v as VerdictCode;
    const vaddr = conns.vaddrInt32Of(slot);
    const vport = conns.vportOf(slot);
    if (proto === IpProto.tcp) {
      rewriteTcpAddressPort(ip.buf, ip.off, this.tcp.off, Ipv4Field.src, TcpField.srcPort, vaddr, vport);
    } else {
      this.udp.adjustForAddressChange(ip.srcInt32, vaddr);
      this.udp.setSrcPort(vport);
      ip.setSrc(vaddr);
    }
    this.fragAction = FragAction.natOut;
    this.fragAddr = vaddr;
    this.counters.forwardedOut++;
    return this.sendToNextHop(tx, j, now, Verdict.forward);
  }

  /** The transmitter bound to the connection's forwarding method. */
  private xmitIn(tx: FrameBatch, j: number, fwd: number, rip: number, rport: number, now: number): VerdictCode {
    if (fwd === Fwd.masq) return this.xmitNat(tx, j, rip, rport, now);
    if (fwd === Fwd.route) return this.xmitDr(tx, j, rip, now);
    if (fwd === Fwd.tunnel) return this.xmitTun(tx, j, rip, now);
    return this.drop(Drop.localForward);
  }

  /** ip_vs_nat_xmit(): daddr:dport -> RIP:rport, L4 checksum updated incrementally, TTL - 1. */
  private xmitNat(tx: FrameBatch, j: number, rip: number, rport: number, now: number): VerdictCode {
    const ip = this.ip;
    const v = this.routeTtlMtu(tx, j, rip, 0, now);
    if (v !== CONTINUE) return v as VerdictCode;
    if (ip.protocol === IpProto.tcp) {
      rewriteTcpAddressPort(ip.buf, ip.off, this.tcp.off, Ipv4Field.dst, TcpField.dstPort, rip, rport);
    } else {
      this.udp.adjustForAddressChange(ip.dstInt32, rip);
      this.udp.setDstPort(rport);
      ip.setDst(rip);
    }
    this.fragAction = FragAction.natIn;
    this.fragAddr = rip;
    this.counters.forwardedIn++;
    return this.sendToNextHop(tx, j, now, Verdict.forward);
  }

  /** ip_vs_dr_xmit(): the RIP is the next hop (FLOWI_FLAG_KNOWN_NH); only TTL and header checksum change. */
  private xmitDr(tx: FrameBatch, j: number, rip: number, now: number): VerdictCode {
    if (!this.route(rip) || this.outHop !== rip) return this.drop(Drop.drOffLink);
    const v = this.routeTtlMtu(tx, j, rip, 0, now);
    if (v !== CONTINUE) return v as VerdictCode;
    this.fragAction = FragAction.route;
    this.fragAddr = rip;
    this.counters.forwardedIn++;
    return this.sendToNextHop(tx, j, now, Verdict.forward);
  }

  /**
   * ip_vs_tunnel_xmit(): an outer IPv4 header (route source -> RIP, protocol 4) written into the headroom.
   * TTL = inner TTL after the decrement; TOS = inner TOS with CE turned into ECT(0) (INET_ECN_encapsulate);
   * DF copied from the inner header (pmtu_disc=1); ID 0 with DF, else from a counter. The inner packet may
   * be at most the route MTU - 20: larger with DF set -> ICMP fragmentation needed with that MTU.
   */
  private xmitTun(tx: FrameBatch, j: number, rip: number, now: number): VerdictCode {
    const ip = this.ip;
    const v = this.routeTtlMtu(tx, j, rip, IPIP_HEADER_LEN, now);
    if (v !== CONTINUE) return v as VerdictCode;
    const ttl = ip.ttl;
    const tos = ip.tos;
    const outer = this.outer;
    outer.src = this.outSrc;
    outer.dst = rip;
    outer.ttl = ttl;
    outer.tos = (tos & 0xfc) | ((tos & 3) === 3 ? 2 : tos & 3);
    outer.df = ip.dontFrag;
    outer.id = outer.df ? 0 : this.nextIpId();
    const buf = tx.bytes;
    const off = tx.offset[j]!;
    // The Ethernet header moves 20 bytes forward into the headroom (a loop: copyWithin is a native call).
    for (let k = 0; k < ETH_HEADER_LEN; k++) buf[off - IPIP_HEADER_LEN + k] = buf[off + k]!;
    encapIpip(buf, off + ETH_HEADER_LEN, outer);
    tx.adjustHead(j, -IPIP_HEADER_LEN);
    this.fragAction = FragAction.tunnel;
    this.fragAddr = rip;
    this.counters.forwardedIn++;
    return this.sendToNextHop(tx, j, now, Verdict.forward);
  }

  private handleIcmp(tx: FrameBatch, j: number, now: number): VerdictCode {
    const ip = this.ip;
    const icmp = this.icmp.reset(ip.buf, ip.payloadOff, ip.payloadLen);
    const r = icmp.checkLen();
    if (r !== Reason.ok) return this.drop(r);
    if (!icmp.verifyChecksum(ip.payloadLen)) return this.drop(Reason.icmpBadChecksum);
    const toOwned = this.ownerOf(ip.dstInt32) >= 0;
    if (toOwned && icmp.type === IcmpType.echoRequest) return this.echoReply(tx, j, now);
    if (icmp.isError) return this.handleIcmpError(tx, j, toOwned, now);
    return this.drop(toOwned ? Drop.icmpUnhandled : Drop.notRouted);
  }

  /** icmp_echo(): the request turned into its reply in place, from the address that was pinged. */
  private echoReply(tx: FrameBatch, j: number, now: number): VerdictCode {
    const ip = this.ip;
    const buf = ip.buf;
    const client = ip.srcInt32;
    const own = ip.dstInt32;
    if (!this.route(client)) return this.drop(Drop.noRoute);
    writeIpv4(buf, ip.off + Ipv4Field.src, own);
    writeIpv4(buf, ip.off + Ipv4Field.dst, client);
    buf[ip.off + Ipv4Field.ttl] = OWN_TTL;
    ip.fillChecksum();
    emitEchoReplyInPlace(this.icmp);
    this.counters.echoReplies++;
    return this.sendToNextHop(tx, j, now, Verdict.reply);
  }

  /**
   * ICMP errors about a connection. To an owned address (ip_vs_in_icmp): the quoted packet went VIP -> client,
   * so the connection is found client -> VIP and the error goes to its real server; for NAT the outer
   * destination and the quoted source:port become RIP:rport (ip_vs_nat_icmp, inout 0). Passing through
   * (ip_vs_out_icmp): the quoted packet went client -> RIP; for NAT the outer source and the quoted
   * destination:port become VIP:vport. The quoted header's checksum and the ICMP checksum are recomputed.
   */
  private handleIcmpError(tx: FrameBatch, j: number, toOwned: boolean, now: number): VerdictCode {
    const icmp = this.icmp;
    const ip = this.ip;
    const r = icmp.checkInner();
    if (r !== Reason.ok) return this.drop(r);
    const proto = icmp.innerProtocol;
    if (icmp.innerFragOffset !== 0 || (proto !== IpProto.tcp && proto !== IpProto.udp)) {
      return this.drop(toOwned ? Drop.icmpUnrelated : Drop.notRouted);
    }
    const conns = this.core.conns;
    const qSrc = icmp.innerSrc;
    const qDst = icmp.innerDst;
    const qSport = icmp.innerSrcPort;
    const qDport = icmp.innerDstPort;
    if (toOwned) {
      const slot = conns.lookupIn(proto, qDst, qDport, qSrc, qSport, now);
      if (slot === NO_ENTRY) return this.drop(Drop.icmpUnrelated);
      this.trConn = ConnKind.known;
      this.trSlot = slot;
      this.trStateBefore = conns.state[slot]!;
      const fwd = conns.fwd[slot]!;
      this.trFwd = fwd;
      const dest = this.core.dests.get(conns.destId[slot]!);
      if (dest === undefined || !dest.available) return this.drop(Drop.destUnavailable);
      conns.countIn(slot, ip.totalLength);
      const rip = conns.daddrInt32Of(slot);
      if (fwd !== Fwd.masq) return this.xmitIn(tx, j, fwd, rip, 0, now);
      const v = this.routeTtlMtu(tx, j, rip, 0, now);
      if (v !== CONTINUE) return v as VerdictCode;
      ip.setDst(rip);
      icmp.innerSrc = rip;
      icmp.innerSrcPort = conns.dportOf(slot);
      icmp.fillInnerHeaderChecksum();
      icmp.fillChecksum(ip.payloadLen);
      this.counters.forwardedIn++;
      return this.sendToNextHop(tx, j, now, Verdict.forward);
    }
    const slot = conns.lookupOut(proto, qDst, qDport, qSrc, qSport, now);
    if (slot === NO_ENTRY || conns.fwd[slot] !== Fwd.masq) return this.drop(Drop.notRouted);
    this.trConn = ConnKind.known;
    this.trSlot = slot;
    this.trStateBefore = conns.state[slot]!;
    this.trFwd = Fwd.masq;
    conns.countOut(slot, ip.totalLength);
    const v = this.routeTtlMtu(tx, j, ip.dstInt32, 0, now);
    if (v !== CONTINUE) return v as VerdictCode;
    const vaddr = conns.vaddrInt32Of(slot);
    ip.setSrc(vaddr);
    icmp.innerDst = vaddr;
    icmp.innerDstPort = conns.vportOf(slot);
    icmp.fillInnerHeaderChecksum();
    icmp.fillChecksum(ip.payloadLen);
    this.counters.forwardedOut++;
    return this.sendToNextHop(tx, j, now, Verdict.forward);
  }

  // ---- transmit helpers ----

  /**
   * __ip_vs_get_out_rt(), in the kernel's order: route to `dst`; TTL <= 1 -> ICMP time exceeded, else TTL - 1
   * (decrement_ttl); then the MTU, less `overhead` for a tunnel (below 68 -> drop): larger with DF ->
   * ICMP fragmentation needed with that MTU (ensure_mtu_is_adequate; not for ICMP), larger without DF ->
   * dropped, since uvs does not fragment. Leaves the route in outIf/outHop/outSrc; CONTINUE when it may go.
   */
  private routeTtlMtu(tx: FrameBatch, j: number, dst: number, overhead: number, now: number): number {
    const ip = this.ip;
    if (!this.route(dst)) return this.drop(Drop.noRoute);
    if (ip.ttl <= 1) return this.sendIcmpError(tx, j, IcmpType.timeExceeded, 0, 0, now);
    ip.decrementTtl();
    const mtu = this.ifMtu[this.outIf]! - overhead;
    if (overhead !== 0 && mtu < MIN_MTU) return this.drop(Drop.tunMtuTooSmall);
    if (ip.totalLength > mtu) {
      if (ip.dontFrag && ip.protocol !== IpProto.icmp) {
        return this.sendIcmpError(tx, j, IcmpType.destUnreachable, IcmpUnreachableCode.fragNeeded, mtu, now);
      }
      return this.drop(Drop.needsFragmentation);
    }
    return CONTINUE;
  }

  /**
   * Replaces the packet in slot j by an ICMP error about it, to its sender (icmp_send()): from the address
   * it was sent to when uvs owns it, else from the route's source toward the sender; it quotes the IP header
   * and 8 bytes. Errors about ICMP errors are never sent (RFC 1122 3.2.2).
   */
  private sendIcmpError(tx: FrameBatch, j: number, type: number, code: number, rest: number, now: number): VerdictCode {
    const ip = this.ip;
    const buf = ip.buf;
    if (ip.protocol === IpProto.icmp && this.icmp.isError) return this.drop(Drop.icmpErrorSuppressed);
    // icmp_send(): "only reply to fragment 0".
    if (ip.fragOffset !== 0) return this.drop(Drop.icmpErrorSuppressed);
    const sender = ip.srcInt32;
    if (!this.icmpLimit.allow(type, code, sender, now)) return this.drop(Drop.icmpRateLimited);
    const dst = ip.dstInt32;
    if (!this.route(sender)) return this.drop(Drop.noRoute);
    const src = this.ownerOf(dst) >= 0 ? dst : this.outSrc;
    const ipOff = ip.off;
    const end = emitIcmpError(buf, ipOff + 20, type, code, rest, buf, ipOff, ip.totalLength);
    const total = end - ipOff;
    this.writeIpv4Header(buf, ipOff, total, IpProto.icmp, src, sender);
    tx.length[j] = ipOff - tx.offset[j]! + total;
    this.counters.icmpErrorsSent++;
    return this.sendToNextHop(tx, j, now, Verdict.reply);
  }

  /** A plain 20-byte header for a packet uvs makes: no DF (icmp_send does not set it), TTL 64. */
  private writeIpv4Header(buf: Uint8Array, off: number, total: number, proto: number, src: number, dst: number): void {
    buf[off] = 0x45;
    buf[off + Ipv4Field.tos] = ICMP_ERROR_TOS;
    write16(buf, off + Ipv4Field.totalLength, total);
    write16(buf, off + Ipv4Field.id, this.nextIpId());
    write16(buf, off + Ipv4Field.flagsFragOffset, 0);
    buf[off + Ipv4Field.ttl] = OWN_TTL;
    buf[off + Ipv4Field.protocol] = proto;
    writeIpv4(buf, off + Ipv4Field.src, src);
    writeIpv4(buf, off + Ipv4Field.dst, dst);
    write16(buf, off + Ipv4Field.checksum, ipv4HeaderChecksum(buf, off, 20));
  }

  /**
   * The last step for a frame in slot j, routed by route(): source MAC of the egress interface and the next
   * hop's MAC, or, while that is unknown, the frame waits in the neighbour queue and slot j carries the ARP
   * request instead (when one is due).
   */
  private sendToNextHop(tx: FrameBatch, j: number, now: number, verdict: VerdictCode): VerdictCode {
    const buf = tx.bytes;
    const off = tx.offset[j]!;
    const ifPos = this.outIf;
    const hop = this.outHop;
    writeMacWords(buf, off + EthField.src, this.ifMacHigh[ifPos]!, this.ifMacLow[ifPos]!);
    tx.egressIfindex[j] = this.ifIndex[ifPos]!;
    const neigh = this.neigh;
    const known = neigh.find(hop, now);
    if (known !== NO_NEIGH && neigh.resolved(known)) {
      neigh.use(known, now);
      writeMacWords(buf, off + EthField.dst, neigh.macHigh[known]!, neigh.macLow[known]!);
      this.emitted = true;
      return verdict;
    }
    const slot = neigh.resolve(hop, ifPos, now);
    if (slot === NO_NEIGH) return this.drop(Drop.neighTableFull);
    const held = neigh.enqueue(slot, buf, off, tx.length[j]!);
    if (neigh.probeDue) {
      this.writeArpRequest(tx, j, ifPos, hop);
      this.emitted = true;
    }
    if (!held) return this.drop(Drop.neighQueueFull);
    this.counters.queued++;
    return Verdict.queued;
  }

  /** An ARP request for `target`: broadcast, or to `dstMac` when re-confirming a known neighbour. */
  private writeArpRequest(tx: FrameBatch, j: number, ifPos: number, target: number, dstMac = BROADCAST_MAC): void {
    const off = tx.slotBase(j) + tx.headroom;
    const mac = this.ifMac[ifPos]!;
    const eth = this.ethRepr;
    eth.dst = dstMac;
    eth.src = mac;
    eth.etherType = EtherType.arp;
    const arp = this.arpRepr;
    arp.op = ArpOp.request;
    arp.senderMac = mac;
    arp.senderIp = this.sourceFor(ifPos, target);
    arp.targetMac = 0;
    arp.targetIp = target;
    emitArp(arp, tx.bytes, emitEthernet(eth, tx.bytes, off));
    this.setTxFrame(tx, j, off, ARP_FRAME_LEN, ifPos);
    this.counters.arpRequests++;
  }

  private setTxFrame(tx: FrameBatch, j: number, off: number, len: number, ifPos: number): void {
    tx.offset[j] = off;
    tx.length[j] = len;
    tx.egressIfindex[j] = this.ifIndex[ifPos]!;
    tx.flags[j] = 0;
    tx.vlanTci[j] = 0;
  }

  /** Sends the packets waiting on neighbour `slot`, as many as tx has room for. */
  private release(tx: FrameBatch, slot: number): void {
    const neigh = this.neigh;
    const macHigh = neigh.macHigh[slot]!;
    const macLow = neigh.macLow[slot]!;
    const ifPos = neigh.ifPos[slot]!;
    while (neigh.queueLen[slot]! > 0 && tx.count < tx.capacity) {
      const q = neigh.dequeue(slot);
      const j = tx.count;
      const len = neigh.queueLength[q]!;
      const base = tx.slotBase(j);
      const off = base + (len <= SLOT_SIZE - tx.headroom ? tx.headroom : SLOT_SIZE - len);
      const from = q * SLOT_SIZE;
      this.copier.copy(neigh.queueBytes, from, tx.bytes, off, len);
      writeMacWords(tx.bytes, off + EthField.dst, macHigh, macLow);
      this.setTxFrame(tx, j, off, len, ifPos);
      tx.count = j + 1;
      this.counters.tx++;
      this.counters.released++;
    }
  }

  /**
   * Ages the neighbours, retries pending resolutions and re-confirmations, gives up on those out of retries,
   * sends what became sendable.
   */
  private tick(tx: FrameBatch, now: number): void {
    this.nextTick = now + this.tickInterval;
    this.core.defense.tick(now);
    const neigh = this.neigh;
    neigh.age(now, NEIGH_GC_SLOTS_PER_TICK);
    this.counters.neighForgotten = neigh.gcFreed;
    if (neigh.size === 0) return;
    for (let s = 0; s < neigh.capacity; s++) {
      const action = neigh.timer(s, now, tx.count < tx.capacity);
      if (action === NeighTimer.failed) {
        this.drops[Drop.neighUnresolved]! += neigh.fail(s);
      } else if (action !== NeighTimer.none) {
        const dstMac = action === NeighTimer.unicast ? neigh.macOf(s) : BROADCAST_MAC;
        this.writeArpRequest(tx, tx.count, neigh.ifPos[s]!, neigh.ip[s]!, dstMac);
        tx.count++;
        this.counters.tx++;
      } else if (neigh.queueLen[s]! > 0 && neigh.resolved(s)) {
        this.release(tx, s);
      }
    }
  }

  // ---- lookups ----

  /**
   * Longest-prefix match over connected and configured routes; sets outIf, outHop, outSrc. `dst` may be
   * signed or unsigned; outHop and outSrc are `| 0`.
   */
  private route(dst: number): boolean {
    for (let k = 0; k < this.rtCount; k++) {
      if ((dst & this.rtMask[k]!) === this.rtNetwork[k]) {
        this.outIf = this.rtIf[k]!;
        const gw = this.rtGateway[k]!;
        this.outHop = gw === 0 ? dst | 0 : gw;
        this.outSrc = this.rtSrc[k]!;
        return true;
      }
    }
    return false;
  }

  private onLink(ifPos: number, addr: number): boolean {
    for (let k = 0; k < this.rtCount; k++) {
      if (this.rtGateway[k] === 0 && this.rtIf[k] === ifPos && (addr & this.rtMask[k]!) === this.rtNetwork[k]) {
        return true;
      }
    }
    return false;
  }

  /** The owned address to speak from on interface `ifPos` toward `target` (same subnet first). */
  private sourceFor(ifPos: number, target: number): number {
    const addresses = this.config.interfaces[ifPos]!.addresses;
    for (let k = 0; k < addresses.length; k++) {
      const a = addresses[k]!;
      if ((target & a.mask) >>> 0 === a.network) return a.addr;
    }
    return addresses[0]!.addr;
  }

  /** Position of the interface that owns `addr` (signed or unsigned), or -1. */
  private ownerOf(addr: number): number {
    const key = addr | 0;
    const mask = this.ownedMask;
    for (let i = (Math.imul(key, 0x9e3779b1) >>> 16) & mask; ; i = (i + 1) & mask) {
      const owner = this.ownedIfPlusOne[i]!;
      if (owner === 0) return -1;
      if (this.ownedAddr[i] === key) return owner - 1;
    }
  }

  /** An address listed twice belongs to the interface listed last. */
  private addOwned(addr: number, ifPos: number): void {
    const key = addr | 0;
    const mask = this.ownedMask;
    let i = (Math.imul(key, 0x9e3779b1) >>> 16) & mask;
    while (this.ownedIfPlusOne[i] !== 0 && this.ownedAddr[i] !== key) i = (i + 1) & mask;
    this.ownedAddr[i] = key;
    this.ownedIfPlusOne[i] = ifPos + 1;
  }

  /**
   * The service of (proto, dst, dport), dst `| 0`. The set of service addresses is checked first: it is
   * cheaper than the table's hash, and NAT replies and strays never get past it.
   */
  private lookupService(proto: number, dst: number, dport: number): Service | undefined {
    const snapshot = this.core.rules.snapshot;
    if (snapshot !== this.vipSnapshot) this.indexVips(snapshot);
    return this.isVip(dst) ? snapshot.lookup(proto, dst, dport) : undefined;
  }

  /** Rebuilds the set of service addresses for `snapshot` (once per rules change). */
  private indexVips(snapshot: RulesSnapshot): void {
    const services = snapshot.services;
    let size = 8;
    while (size < services.length * 2) size *= 2;
    if (this.vipUsed.length !== size) {
      this.vipAddr = new Int32Array(size);
      this.vipUsed = new Uint8Array(size);
    } else {
      this.vipUsed.fill(0);
    }
    const mask = size - 1;
    for (const svc of services) {
      // A service on an address no interface owns is not served: it stays in the rules, and checkRules()
      // reports it as disabled.
      if (this.ownerOf(svc.addr) < 0) continue;
      const key = svc.addr | 0;
      let i = (Math.imul(key, 0x9e3779b1) >>> 16) & mask;
      while (this.vipUsed[i] !== 0 && this.vipAddr[i] !== key) i = (i + 1) & mask;
      this.vipAddr[i] = key;
      this.vipUsed[i] = 1;
    }
    this.vipSnapshot = snapshot;
    this.fast?.setVips(this.vipAddr, this.vipUsed);
  }

  /** Is `addr` (`| 0`) the address of some virtual service of the current snapshot? */
  private isVip(addr: number): boolean {
    const used = this.vipUsed;
    const mask = used.length - 1;
    for (let i = (Math.imul(addr, 0x9e3779b1) >>> 16) & mask; ; i = (i + 1) & mask) {
      if (used[i] === 0) return false;
      if (this.vipAddr[i] === addr) return true;
    }
  }

  private ifPosOf(ifindex: number): number {
    for (let i = 0; i < this.ifCount; i++) if (this.ifIndex[i] === ifindex) return i;
    return -1;
  }

  private nextIpId(): number {
    this.ipId = (this.ipId + 1) & 0xffff;
    return this.ipId;
  }

  private drop(reason: number): VerdictCode {
    this.lastReason = reason;
    this.drops[reason]!++;
    return Verdict.drop;
  }

  // ---- tracing (only while subscribed) ----

  private publishTrace(
    input: Uint8Array,
    ifPos: number,
    verdict: VerdictCode,
    tx: FrameBatch,
    j: number,
    now: number,
  ): void {
    const svc = this.trService;
    const conns = this.core.conns;
    const slot = this.trSlot;
    // The connection's protocol: an ICMP error about a TCP connection has TCP states.
    const tcp = (slot !== NO_ENTRY ? conns.protoOf(slot) : this.trProto) === IpProto.tcp;
    const stateName = (s: number) =>
      tcp ? (tcpStateNames[s] ?? 'ERR!') : s === 0 && this.trConn === ConnKind.new ? 'NONE' : 'UDP';
    const output = this.emitted ? tx.bytes.slice(tx.offset[j]!, tx.offset[j]! + tx.length[j]!) : null;
    const inputSummary = summarize(input);
    // The real server: the connection's binding; without an entry, the destination the scheduler picked
    // (xmitIn's port: the destination's, or the packet's own when the destination has none).
    let rip: string | null = null;
    let rport: number | null = null;
    const dest = this.core.dest;
    if (slot !== NO_ENTRY) {
      rip = ipv4ToString(conns.daddrOf(slot));
      rport = conns.dportOf(slot);
    } else if (this.trConn === ConnKind.untracked && dest !== null) {
      rip = ipv4ToString(dest.addr);
      rport = dest.port !== 0 ? dest.port : (inputSummary?.dport ?? null);
    }
    const record: PacketTrace = {
      now,
      ingress: ifPos >= 0 ? this.ifNames[ifPos]! : `ifindex?`,
      verdict: verdictNames[verdict]!,
      reason: verdict === Verdict.drop ? (dropNames[this.lastReason] ?? String(this.lastReason)) : null,
      input: inputSummary,
      output: output === null ? null : summarize(output),
      egress: output === null ? null : (this.interfaceName(tx.egressIfindex[j]!) ?? null),
      service: svc === null ? (slot !== NO_ENTRY ? describeConnService(conns, slot) : null) : describeService(svc),
      scheduler: svc === null ? null : svc.sched,
      conn:
        this.trConn === ConnKind.new
          ? 'new'
          : this.trConn === ConnKind.known
            ? 'known'
            : this.trConn === ConnKind.untracked
              ? 'untracked'
              : null,
      fwd: this.trFwd < 0 ? null : (fwdNames[this.trFwd as keyof typeof fwdNames] ?? null),
      rip,
      rport,
      held: verdict === Verdict.queued ? this.heldFrame(now) : null,
      stateBefore: this.trStateBefore < 0 ? null : stateName(this.trStateBefore),
      stateAfter: slot === NO_ENTRY || !conns.isLive(slot) ? null : conns.stateName(slot),
    };
    traceChannel.publish(record);
  }

  /**
   * The frame a queued verdict just put at the tail of the next hop's queue (sendToNextHop's enqueue): what
   * the trace shows as held, since slot j may carry the ARP request instead. The queue is not empty, so
   * find() releases nothing.
   */
  private heldFrame(now: number): FrameSummary | null {
    const neigh = this.neigh;
    const slot = neigh.find(this.outHop, now);
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

/**
 * Ipv4View.verifyChecksum() for a header checkLen() has accepted: options-free headers (nearly all) are summed
 * as ten fixed 16-bit words, without the loop and the wide fold of inetChecksum. The sum of ten words stays
 * below 2^20, so two end-around folds are enough; the result is 0xffff exactly when the checksum is right
 * (a stored 0xffff, the other form of zero, included).
 */
function verifyIpv4HeaderChecksum(buf: Uint8Array, off: number): boolean {
  const first = buf[off]!;
  if (first !== 0x45) return inetChecksum(buf, off, (first & 0x0f) * 4) === 0;
  let sum =
    ((first << 8) | buf[off + 1]!) +
    ((buf[off + 2]! << 8) | buf[off + 3]!) +
    ((buf[off + 4]! << 8) | buf[off + 5]!) +
    ((buf[off + 6]! << 8) | buf[off + 7]!) +
    ((buf[off + 8]! << 8) | buf[off + 9]!) +
    ((buf[off + 10]! << 8) | buf[off + 11]!) +
    ((buf[off + 12]! << 8) | buf[off + 13]!) +
    ((buf[off + 14]! << 8) | buf[off + 15]!) +
    ((buf[off + 16]! << 8) | buf[off + 17]!) +
    ((buf[off + 18]! << 8) | buf[off + 19]!);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum === 0xffff;
}

/**
 * The NAT rewrite of a TCP segment in one step: the address at `ipOff + addrField` and the port at
 * `tcpOff + portField` become `addr` (`| 0`) and `port`, with the TCP checksum (pseudo-header address, then
 * port) and the IPv4 header checksum updated by RFC 1624 in the same order, and so to the same bits, as
 * TcpView.adjustForAddressChange + setSrcPort/setDstPort + Ipv4View.setSrc/setDst. One function instead of
 * five view calls: those small calls were not all inlined, and each re-derived its offsets.
 */
export function rewriteTcpAddressPort(
  buf: Uint8Array,
  ipOff: number,
  tcpOff: number,
  addrField: number,
  portField: number,
  addr: number,
  port: number,
): void {
  const addrAt = ipOff + addrField;
  const oldAddr = read32i(buf, addrAt);
  const portAt = tcpOff + portField;
  const tcpCheckAt = tcpOff + TcpField.checksum;
  const tcpCheck = csumReplace16(csumReplace32(read16(buf, tcpCheckAt), oldAddr, addr), read16(buf, portAt), port);
  write16(buf, tcpCheckAt, tcpCheck);
  write16(buf, portAt, port);
  const ipCheckAt = ipOff + Ipv4Field.checksum;
  write16(buf, ipCheckAt, csumReplace32(read16(buf, ipCheckAt), oldAddr, addr));
  write32(buf, addrAt, addr);
}
