// The datapath: turns a batch of received frames into the frames to send, the way the kernel's IPVS and the
// bits of the IP stack it leans on would (ip_vs_core.c, ip_vs_xmit.c, arp.c, icmp.c). Pure logic over
// FrameBatch in and FrameBatch out, so the live engine, `uvs replay` and the tests drive the same code.
//
// A frame's path, read from here down (Datapath.frame, then classify and ipv4 below), one stage per module,
// each taking the per-packet context (context.ts) and returning a Verdict, or CONTINUE to go on:
//   1. classify (here): I/O flags and ingress interface; Ethernet (untagged, to our MAC or broadcast);
//      IPv4 validated (wire views), Ethernet padding trimmed.
//   2. owned-address handling (owned.ts): ARP for the addresses the interfaces own is answered and its
//      sender learned; ICMP echo requests to them are answered.
//   3. connections (conn-stage.ts): TCP/UDP lookup client->VIP (in) and, for NAT replies, RIP->client (out);
//      on a miss, the service is classified and scheduled (TCP only on SYN without RST, UDP on any packet);
//      no destination -> ICMP port unreachable (ip_vs_leave). Then the state transition. ICMP errors quoting
//      a tracked connection, and the later fragments of a forwarded datagram (fragments.ts), go here too.
//   4. transmit (xmit.ts): the connection's forwarding method (kept per connection in the table's `fwd`):
//      NAT, DR or TUN, after the route, TTL and MTU checks; ICMP errors uvs sends itself.
//   5. neighbour resolution (nexthop.ts): the MACs are filled in, or the frame waits while ARP resolves the
//      next hop (neighbours.ts).
// The L3 tables the stages look up (interfaces, owned addresses, routes, VIPs) are in l3.ts; the per-packet
// trace, built only while something subscribes to TRACE_CHANNEL, is in trace.ts; the native fast path that
// takes the connection-hit case first is in fastpath.ts.
//
// uvs is not a router: a packet that is not for a virtual service, not for an owned address and not a NAT
// reply of a tracked connection is dropped (Drop.notRouted).
//
// Every frame is first copied from its rx slot into the next tx slot (headroom kept, so TUN can prepend its
// outer header in place) and rewritten there; rx and tx must be different batches. Nothing here allocates
// per packet: the context and its views are made once and reset per frame, results are numbers and fields,
// and the stages are plain classes made once per Datapath, so every call site sees one class. Addresses
// travel between the stages as signed 32-bit numbers (`addr | 0`) and MACs as two such numbers (macHigh16,
// macLow32): V8 keeps those small integers, while an unsigned address >= 2^31 or a 48-bit MAC is a heap
// number, allocated each time it is passed to or returned from a function that V8 did not inline. The
// service table and the scheduler take signed addresses too, so not even a new connection makes the
// unsigned form.
import { DEFAULT_ARP, type DirectorConfig } from '../config/director.js';
import { NO_ENTRY } from '../conn/table.js';
import { EtherType, IpProto } from '../constants.js';
import { Fwd, type FwdMethod } from '../dest/dest.js';
import { type FrameBatch, FrameFlag, HEADROOM, PacketType, SLOT_SIZE } from '../io/batch.js';
import type { IpvsCore } from '../ipvs/core.js';
import type { RuleCommand, RulesSnapshot } from '../model/rules.js';
import { describeService } from '../model/rules.js';
import { ipv4ToString } from '../wire/addr.js';
import { read16, read32i } from '../wire/bytes.js';
import { inetChecksum } from '../wire/checksum.js';
import { ETH_HEADER_LEN, EthField } from '../wire/ethernet.js';
import { Reason } from '../wire/reason.js';
import { Connections } from './conn-stage.js';
import { CONTINUE, DatapathCounters, PacketContext } from './context.js';
import { FrameCopier } from './copy.js';
import { FastPath } from './fastpath.js';
import { FragmentTable } from './fragments.js';
import { IcmpRateLimit } from './icmp-limit.js';
import { L3Tables } from './l3.js';
import { NeighbourTable, NeighState, NO_NEIGH } from './neighbours.js';
import { NextHop } from './nexthop.js';
import { OwnedAddresses } from './owned.js';
import { DROP_COUNT, Drop, dropNames, Verdict, type VerdictCode } from './reasons.js';
import { PacketTracer, traceChannel } from './trace.js';
import { Transmit } from './xmit.js';

export { DatapathCounters } from './context.js';
export { type FrameSummary, type PacketTrace, summarize, TRACE_CHANNEL } from './trace.js';
export { rewriteTcpAddressPort } from './xmit.js';

/** How often resolution retries and releases run, in seconds. */
const NEIGH_TICK_SECONDS = 0.1;

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

/** A rule that gets no traffic on this director, and why (Datapath.checkRules()). */
export interface DisabledRule {
  /** `TCP VIP:PORT`, or `TCP VIP:PORT -> RIP:RPORT` for a destination. */
  readonly rule: string;
  readonly reason: string;
}

export class Datapath {
  readonly config: DirectorConfig;
  readonly core: IpvsCore;
  /** Drops by reason (index: wire Reason, then Drop); names in `dropNames`. */
  readonly drops = new Float64Array(DROP_COUNT);
  readonly counters = new DatapathCounters();
  readonly neigh: NeighbourTable;
  /** Interfaces, owned addresses, routes and VIPs (l3.ts). */
  private readonly l3: L3Tables;
  /** What one frame's stages tell each other; made once, reset per frame. */
  private readonly ctx: PacketContext;
  /** A context for the route lookups of the control plane (checkRules, misfitOf), never a frame's. */
  private readonly probe: PacketContext;
  // The stages, in a frame's order after classify.
  private readonly owned: OwnedAddresses;
  private readonly conns: Connections;
  private readonly xmit: Transmit;
  private readonly nextHop: NextHop;
  private readonly tracer: PacketTracer;
  private readonly copier = new FrameCopier();
  private nextTick = Number.NEGATIVE_INFINITY;
  private readonly tickInterval: number;
  /** The native fast path, or null (disabled, or the addon is not built). */
  private readonly fast: FastPath | null;

  constructor(config: DirectorConfig, core: IpvsCore, options: DatapathOptions = {}) {
    this.config = config;
    this.core = core;
    const l3 = new L3Tables(config, options.ifindexes ?? config.interfaces.map((_, i) => i + 1));
    this.l3 = l3;
    this.ctx = new PacketContext(this.drops);
    this.probe = new PacketContext(new Float64Array(DROP_COUNT));

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
      if (!l3.route(s.ip, this.probe) || this.probe.outHop !== (s.ip | 0)) {
        throw new RangeError(`static neighbour ${ipv4ToString(s.ip)} is on no connected network`);
      }
      this.neigh.addStatic(s.ip, s.mac, this.probe.outIf);
    }
    if (config.defense !== undefined) core.defense.configure(config.defense);
    this.nextHop = new NextHop(l3, this.neigh, this.counters, this.drops, this.copier);
    this.xmit = new Transmit(l3, this.nextHop, this.counters, new IcmpRateLimit());
    this.owned = new OwnedAddresses(l3, this.neigh, this.counters, this.nextHop);
    this.conns = new Connections(core, l3, this.xmit, this.nextHop, new FragmentTable(), this.counters);
    this.tracer = new PacketTracer(core, l3, this.neigh);
    this.fast =
      options.fastPath === false
        ? null
        : FastPath.create(
            core.conns,
            core.dests,
            this.neigh,
            {
              ifMacHigh: l3.ifMacHigh,
              ifMacLow: l3.ifMacLow,
              ifMtu: l3.ifMtu,
              ifIndex: l3.ifIndex,
              rtNetwork: l3.rtNetwork,
              rtMask: l3.rtMask,
              rtGateway: l3.rtGateway,
              rtSrc: l3.rtSrc,
              rtIf: l3.rtIf,
            },
            SLOT_SIZE,
            HEADROOM,
          );
    l3.vipListener = this.fast;
  }

  /** Why the last frame was dropped (Reason.ok when it was not). */
  get lastReason(): number {
    return this.ctx.reason;
  }

  /** True when the native fast path takes the connection-hit case. */
  get fastPathEnabled(): boolean {
    return this.fast !== null;
  }

  /** Interface name of an ifindex, or undefined. */
  interfaceName(ifindex: number): string | undefined {
    const pos = this.l3.ifPosOf(ifindex);
    return pos < 0 ? undefined : this.l3.ifNames[pos];
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
    if (this.l3.ownerOf(vip) >= 0) return null;
    return `VIP ${ipv4ToString(vip)} is not among the interfaces' addresses, so nothing answers ARP for it`;
  }

  /** Why a destination at `addr` forwarded by `fwd` cannot be reached from here, or null. */
  destMisfit(addr: number, fwd: FwdMethod): string | null {
    if (fwd === Fwd.local) return null;
    if (fwd === Fwd.route) {
      return this.l3.route(addr, this.probe) && this.probe.outHop === (addr | 0)
        ? null
        : "DR (-g) needs the real server on one of the director's links; it is not";
    }
    return this.l3.route(addr, this.probe) ? null : 'no route to the real server';
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
    return this.nextHop.announce(this.config, tx, onlyIfPos);
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
    this.l3.setLink(ifPos, ifindex, mac);
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
    this.l3.syncVips(this.core.rules.snapshot);
    const counters = this.counters;
    const xmit = this.xmit;
    let backoff = 0;
    let i = 0;
    while (i < n) {
      fast.ipId = xmit.ipId;
      i = fast.run(rx, i, tx, now);
      xmit.ipId = fast.ipId;
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

  /** A frame's whole path: the checks at receive, the copy into tx, the stages, then the counting. */
  private frame(rx: FrameBatch, i: number, tx: FrameBatch, now: number, tracing: boolean): VerdictCode {
    const ctx = this.ctx;
    this.counters.rx++;
    // The context's reset, written out (see PacketContext.resetTrace).
    ctx.reason = Reason.ok;
    ctx.emitted = false;
    ctx.releaseSlot = NO_NEIGH;
    ctx.trSlot = NO_ENTRY;
    if (tracing) ctx.resetTrace();
    const input = tracing ? rx.bytes.slice(rx.offset[i]!, rx.offset[i]! + rx.length[i]!) : null;
    const j = tx.count;
    let verdict: VerdictCode;
    const flags = rx.flags[i]!;
    const ifPos = this.l3.ifPosOf(rx.ifindex[i]!);
    if (j >= tx.capacity) verdict = ctx.drop(Drop.txFull);
    else if (rx.pktType[i] === PacketType.outgoing) verdict = ctx.drop(Drop.outgoing);
    else if (flags & FrameFlag.truncated) verdict = ctx.drop(Drop.frameTruncated);
    else if (flags & FrameFlag.csumUnfixable) verdict = ctx.drop(Drop.csumUnfixable);
    else if (ifPos < 0) verdict = ctx.drop(Drop.unknownIngress);
    // Copied whole into a tx slot below: a frame longer than a slot holds (from a backend that does not cut
    // it off) would run into the next slot.
    else if (rx.length[i]! > tx.slotSize - tx.headroom) verdict = ctx.drop(Drop.frameTooBig);
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
      verdict = this.classify(ctx, tx, j, ifPos, now);
    }
    if (ctx.emitted) {
      tx.count = j + 1;
      this.counters.tx++;
    }
    if (verdict === Verdict.forward) this.counters.forwarded++;
    else if (verdict === Verdict.reply) this.counters.answered++;
    else if (verdict === Verdict.consumed) this.counters.consumed++;
    if (ctx.releaseSlot !== NO_NEIGH) this.nextHop.release(tx, ctx.releaseSlot);
    if (tracing) this.tracer.publish(ctx, input!, ifPos, verdict, tx, j, now);
    return verdict;
  }

  // ---- stages ----

  /** Stage 1: Ethernet. ARP goes to the owned-address stage, IPv4 on to ipv4(). */
  private classify(ctx: PacketContext, tx: FrameBatch, j: number, ifPos: number, now: number): VerdictCode {
    const buf = tx.bytes;
    const off = tx.offset[j]!;
    const len = tx.length[j]!;
    const eth = ctx.eth.reset(buf, off, len);
    const r = eth.checkLen();
    if (r !== Reason.ok) return ctx.drop(r);
    if (eth.tags !== 0) return ctx.drop(Drop.vlanTagged);
    const dstHigh = read16(buf, off + EthField.dst);
    const dstLow = read32i(buf, off + EthField.dst + 2);
    const toUs = dstHigh === this.l3.ifMacHigh[ifPos] && dstLow === this.l3.ifMacLow[ifPos];
    const type = eth.etherType;
    if (type === EtherType.arp) {
      if (!toUs && !(dstHigh === 0xffff && dstLow === -1)) return ctx.drop(Drop.notForUs);
      return this.owned.arp(ctx, tx, j, ifPos, now);
    }
    if (type !== EtherType.ipv4) return ctx.drop(Drop.notIpv4);
    if (!toUs) return ctx.drop(Drop.notForUs);
    return this.ipv4(ctx, tx, j, now);
  }

  /** Stage 1, IPv4: validated, then by protocol to the connection stage or the owned-address stage. */
  private ipv4(ctx: PacketContext, tx: FrameBatch, j: number, now: number): VerdictCode {
    const eth = ctx.eth;
    const ip = ctx.ip.reset(eth.buf, eth.payloadOff, eth.payloadLen);
    const r = ip.checkLen();
    if (r !== Reason.ok) return ctx.drop(r);
    if (!verifyIpv4HeaderChecksum(ip.buf, ip.off)) return ctx.drop(Reason.ipv4BadChecksum);
    // ip_rcv: the packet ends at its total length; what follows is Ethernet padding and is not sent on.
    const total = ip.totalLength;
    ip.len = total;
    tx.length[j] = ETH_HEADER_LEN + total;
    if (ip.isFragment) return this.conns.fragment(ctx, tx, j, now);
    const proto = ip.protocol;
    ctx.trProto = proto;
    if (proto === IpProto.tcp || proto === IpProto.udp) return this.conns.l4(ctx, tx, j, proto, now);
    if (proto === IpProto.icmp) {
      const v = this.owned.icmp(ctx, tx, j, now);
      return v !== CONTINUE ? (v as VerdictCode) : this.conns.icmpError(ctx, tx, j, now);
    }
    return ctx.drop(this.l3.ownerOf(ip.dstInt32) >= 0 ? Drop.unsupportedProto : Drop.notRouted);
  }

  /** The timers, every NEIGH_TICK_SECONDS: the defenses' check, then the neighbours'. */
  private tick(tx: FrameBatch, now: number): void {
    this.nextTick = now + this.tickInterval;
    this.core.defense.tick(now);
    this.nextHop.tick(tx, now);
  }
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
