// The connection table (the kernel's ip_vs_conn_tab, ip_vs_conn.c): every tracked connection and persistence
// template, with the destination counters IPVS keeps as connections are bound, change state and expire.
//
// Layout (VPP lbhash / DPVS): typed arrays, one slot per entry, bounded capacity fixed at construction,
// power-of-two buckets. Nothing on the per-packet path allocates. The fields a lookup reads (addresses,
// ports, protocol, flags, chain link, expiry) share one 32-byte record per slot, so a hit costs one cache
// line rather than one per field: with a separate array per field a 1M-entry lookup took ~8 cache misses
// (~800 ns measured) against ~2 this way. Fields used only after a hit (state, destination, timeout,
// template links) stay in arrays of their own.
//
// Hashing follows ip_vs_conn_hashkey(): an entry is hashed on (protocol, client address, client port) only.
// A client->VIP packet knows that triple as its source, and a NAT reply RIP->client knows it as its
// destination, so one hash chain serves both the in- and the out-direction lookup. Templates hash the same
// way with the masked client address and port 0.
//
// Collisions are resolved by chaining through an Int32Array of next-slot links (-1 ends a chain), not by open
// addressing: deleting from a chain only relinks its predecessor, so lookups stay correct after any number of
// deletions without tombstones, and the cost of a lookup never grows with past churn. Free slots are kept on
// a free list threaded through the same `next` array, so insert and delete are O(1) plus the chain walk.
//
// Expiry is lazy against a coarse clock the caller passes in (`now`, in ticks of `ticksPerSecond`; no timer
// per connection): a lookup that finds its entry expired removes it and reports a miss, and `sweep(now,
// budget)` reclaims the rest a bounded number of slots at a time. Until an expired entry is reclaimed it still
// counts in its destination's ActiveConn/InActConn, so the caller should sweep the whole table every second
// or so (budget ~ capacity / sweeps-per-second).
//
// Overflow policy: when every slot is in use, insert first reclaims expired entries (a bounded sweep), then
// (with `reclaimEmbryonic`, the default) the oldest embryonic TCP entry it can find in a bounded scan: one in
// SYN_RECV or SYNACK, a handshake that never completed. Under a SYN flood from spoofed sources nearly every
// entry is such a one, so a new client (or a new flood SYN) takes the slot of the oldest; a legitimate
// handshake then has as long as the table takes to cycle once to complete. Established connections,
// UDP entries and templates are never evicted, so a flood of new flows cannot break working ones. When
// nothing can be reclaimed, insert fails with INSERT_FULL and counts an overflow; the caller forwards the
// packet untracked (VPP lb). The kernel's table has no fixed size, so it never faces this choice: its
// defenses (drop_entry, drop_packet, secure_tcp, in src/ipvs/defense.ts) act on memory instead.

import { IpProto } from '../constants.js';
import { type Dest, type DestRegistry, Fwd } from '../dest/dest.js';
import {
  isNewConnExpected,
  NEW_CONN_TIMEOUT,
  TcpDir,
  TcpState,
  TemplateState,
  Timeouts,
  tcpNextState,
  tcpStateActive,
  tcpStateNames,
  templateStateNames,
  UDP_STATE_NAME,
  UDP_STATE_NORMAL,
} from './tcp-state.js';

/** Per-entry flag bits (table-internal; the kernel's equivalents are named). */
export const ConnFlag = {
  inUse: 0x01,
  /** IP_VS_CONN_F_TEMPLATE: a persistence template. */
  template: 0x02,
  /** IP_VS_CONN_F_NOOUTPUT: non-NAT, no reply seen yet; TCP uses the INPUT-ONLY table. */
  noOutput: 0x04,
  /** IP_VS_CONN_F_INACTIVE: counted in InActConn rather than ActiveConn. */
  inactive: 0x08,
  /** A template whose destination became unusable (the kernel marks it with dport 0xffff). */
  invalid: 0x10,
} as const;

/**
 * The hot connection record: 32 bytes per slot, in 32-bit words (see the views in ConnTable). The native fast
 * path reads and writes the same words; native/layout.h has them too, and the fast path checks the two agree
 * when it loads the addon.
 */
export const ConnRecord = {
  words: 8,
  caddr: 0,
  vaddr: 1,
  daddr: 2,
  /** cport << 16 | vport */
  ports: 3,
  /** dport << 16 | proto << 8 | ConnFlag bits */
  dportProtoFlags: 4,
  /** Next slot in the bucket chain (Int32), or NO_ENTRY. */
  next: 5,
  /** Absolute expiry in ticks, a Float64 over words 6-7. */
  expires: 6,
} as const;

/**
 * Bucket hash of (protocol, client address, client port) before the bucket mask: murmur3-style mixing with
 * a secret seed. native/layout.h ConnHash is the same function (compared when the fast path loads).
 */
export function connHash(seed: number, proto: number, caddr: number, cport: number): number {
  let h = Math.imul(caddr ^ seed, 0xcc9e2d51);
  h = (h << 15) | (h >>> 17);
  h = Math.imul(h, 0x1b873593) ^ ((cport << 8) | proto);
  h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/** No entry (lookup miss, no controlling template, no destination). */
export const NO_ENTRY = -1;
/** insert() result when the table is full of live entries: forward the packet untracked. */
export const INSERT_FULL = -2;

/** ip_vs_conn_expire(): a template that still controls connections is re-armed for this long. */
const TEMPLATE_REARM_SECONDS = 60;
/** Slots insert() may scan for expired entries when the free list is empty. */
const OVERFLOW_SWEEP_BUDGET = 64;
/** Slots insert() may scan for an embryonic entry to reclaim when expiry freed none. */
const RECLAIM_SCAN_BUDGET = 64;

export interface ConnTableOptions {
  /** Units of `now` per second; 1000 when `now` is in milliseconds (the default), 1 for seconds. */
  ticksPerSecond?: number;
  timeouts?: Timeouts;
  /** Hash seed; random by default so remote clients cannot aim at one chain (the kernel's jhash seed). */
  seed?: number;
}

function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export class ConnTable {
  readonly capacity: number;
  readonly ticksPerSecond: number;
  readonly timeouts: Timeouts;
  /** secure_tcp level >= 2: use tcp_states_dos. */
  secureTcp = false;
  /** When full, insert() may evict the oldest embryonic TCP entry (see the overflow policy above). */
  reclaimEmbryonic = true;

  /** Live entries, templates included. */
  size = 0;
  /** Inserts refused because the table was full of live entries (packets forwarded untracked). */
  overflows = 0;
  /** Entries removed because they expired (lookups, sweeps and overflow reclaim). */
  expired = 0;
  /** Embryonic entries evicted by insert() to make room in a full table. */
  reclaimed = 0;
  /** Entries removed by dropRandomEmbryonic() (the drop_entry defense). */
  dropped = 0;

  // The hot record (ConnRecord), 32 bytes per slot, seen through three views of one buffer. In 32-bit words:
  //   0 caddr  1 vaddr  2 daddr  3 cport << 16 | vport  4 dport << 16 | proto << 8 | flags  5 next (Int32)
  //   6-7 expires (Float64 word 3 of the slot: absolute expiry in ticks; a double so a ms wall clock fits).
  private readonly rec: Uint32Array;
  /**
   * The same words as signed numbers. Lookups compare addresses here against `addr | 0`, so that a caller may
   * pass addresses as signed 32-bit numbers, which V8 never boxes (an unsigned one >= 2^31 is a heap number,
   * allocated per call wherever the call is not inlined); unsigned arguments still work.
   */
  private readonly recInt: Int32Array;
  private readonly recNext: Int32Array;
  private readonly recExpires: Float64Array;
  /** Fwd value of the destination at bind time. */
  readonly fwd: Uint8Array;
  /** TcpState, UDP_STATE_NORMAL, or TemplateState for templates. */
  readonly state: Uint8Array;
  /** Dest.id in the registry, or NO_ENTRY. */
  readonly destId: Int32Array;
  /** Current timeout in ticks (cp->timeout), applied by touch() and transitions. */
  readonly timeout: Uint32Array;
  /** Slot of the controlling template, or NO_ENTRY. */
  readonly control: Int32Array;
  /** Templates: connections they control (cp->n_control). */
  readonly nControl: Uint32Array;
  private readonly buckets: Int32Array;
  private readonly bucketMask: number;
  private readonly seed: number;
  private freeHead: number;
  private sweepCursor = 0;
  private reclaimCursor = 0;

  constructor(
    capacity: number,
    private readonly dests: DestRegistry,
    options: ConnTableOptions = {},
  ) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 0x40000000) {
      throw new RangeError(`connection table capacity must be an integer in 1..2^30, got ${capacity}`);
    }
    this.capacity = capacity;
    this.ticksPerSecond = options.ticksPerSecond ?? 1000;
    this.timeouts = options.timeouts ?? new Timeouts();
    this.seed = (options.seed ?? (Math.random() * 0x100000000) >>> 0) >>> 0;
    const hot = new ArrayBuffer(capacity * 32);
    this.rec = new Uint32Array(hot);
    this.recInt = new Int32Array(hot);
    this.recNext = new Int32Array(hot);
    this.recExpires = new Float64Array(hot);
    this.fwd = new Uint8Array(capacity);
    this.state = new Uint8Array(capacity);
    this.destId = new Int32Array(capacity);
    this.timeout = new Uint32Array(capacity);
    this.control = new Int32Array(capacity);
    this.nControl = new Uint32Array(capacity);
    // One bucket per slot at most: chains average <= 1 entry when full.
    const bucketCount = nextPowerOfTwo(capacity);
    this.buckets = new Int32Array(bucketCount).fill(NO_ENTRY);
    this.bucketMask = bucketCount - 1;
    for (let i = 0; i < capacity - 1; i++) this.recNext[i * 8 + 5] = i + 1;
    this.recNext[(capacity - 1) * 8 + 5] = NO_ENTRY;
    this.freeHead = 0;
  }

  /** Bytes held by every typed array of the table, buckets included. */
  get byteLength(): number {
    return (
      this.rec.byteLength +
      this.fwd.byteLength +
      this.state.byteLength +
      this.destId.byteLength +
      this.timeout.byteLength +
      this.control.byteLength +
      this.nControl.byteLength +
      this.buckets.byteLength
    );
  }

  get bucketCount(): number {
    return this.bucketMask + 1;
  }

  /** Bucket of (protocol, client address, client port). */
  private bucketOf(proto: number, caddr: number, cport: number): number {
    return connHash(this.seed, proto, caddr, cport) & this.bucketMask;
  }

  // ---- lookups (no allocation) ----

  /** Client->VIP packet: the connection (not template) keyed (proto, caddr, cport, vaddr, vport), or NO_ENTRY. */
  lookupIn(proto: number, caddr: number, cport: number, vaddr: number, vport: number, now: number): number {
    const rec = this.rec;
    const recInt = this.recInt;
    const client = caddr | 0;
    const virtual = vaddr | 0;
    const ports = ((cport << 16) | vport) >>> 0;
    const protoNoTemplate = proto << 8;
    let i = this.buckets[this.bucketOf(proto, client, cport)]!;
    while (i !== NO_ENTRY) {
      const o = i * 8;
      if (
        recInt[o] === client &&
        rec[o + 3] === ports &&
        recInt[o + 1] === virtual &&
        (rec[o + 4]! & (0xff00 | ConnFlag.template)) === protoNoTemplate
      ) {
        return this.liveOrExpire(i, now);
      }
      i = this.recNext[o + 5]!;
    }
    return NO_ENTRY;
  }

  /** NAT reply RIP->client: the connection keyed (proto, daddr, dport, caddr, cport), or NO_ENTRY. */
  lookupOut(proto: number, daddr: number, dport: number, caddr: number, cport: number, now: number): number {
    const rec = this.rec;
    const recInt = this.recInt;
    const client = caddr | 0;
    const server = daddr | 0;
    const word4 = ((dport << 16) | (proto << 8)) >>> 0;
    let i = this.buckets[this.bucketOf(proto, client, cport)]!;
    while (i !== NO_ENTRY) {
      const o = i * 8;
      if (
        recInt[o] === client &&
        rec[o + 3]! >>> 16 === cport &&
        recInt[o + 2] === server &&
        (rec[o + 4]! & (0xffffff00 | ConnFlag.template)) >>> 0 === word4
      ) {
        return this.liveOrExpire(i, now);
      }
      i = this.recNext[o + 5]!;
    }
    return NO_ENTRY;
  }

  /**
   * Persistence template (ip_vs_ct_in_get()): `proto` is IpProto value, or 0 (IPPROTO_IP) for fwmark
   * services; `caddr` already masked with the persistence netmask (signed or unsigned); `vaddr` is the VIP
   * or the mark; `vport` the service port or 0. Invalidated templates are skipped.
   */
  lookupTemplate(proto: number, caddr: number, vaddr: number, vport: number, now: number): number {
    // Masking with `&` yields a signed 32-bit number; stored addresses are unsigned.
    const client = caddr >>> 0;
    const rec = this.rec;
    const protoTemplate = (proto << 8) | ConnFlag.template;
    let i = this.buckets[this.bucketOf(proto, client, 0)]!;
    while (i !== NO_ENTRY) {
      const o = i * 8;
      if (
        rec[o] === client &&
        rec[o + 3] === vport &&
        rec[o + 1] === vaddr &&
        (rec[o + 4]! & (0xff00 | ConnFlag.template | ConnFlag.invalid)) === protoTemplate
      ) {
        return this.liveOrExpire(i, now);
      }
      i = this.recNext[o + 5]!;
    }
    return NO_ENTRY;
  }

  private liveOrExpire(i: number, now: number): number {
    if (this.recExpires[i * 4 + 3]! > now) return i;
    return this.expireEntry(i, now) ? NO_ENTRY : i;
  }

  // ---- insertion ----

  /**
   * A new connection bound to destination `destId` (ip_vs_conn_new() + ip_vs_bind_dest()), in state 0 with
   * the kernel's 3 s initial timeout; the caller then applies the first packet's transition. With `controlIdx`
   * (a template slot) the connection is controlled by it (ip_vs_control_add()). Counts one connection in the
   * destination's and service's stats (ip_vs_conn_stats()). Returns the slot, or INSERT_FULL.
   */
  insert(
    proto: number,
    caddr: number,
    cport: number,
    vaddr: number,
    vport: number,
    daddr: number,
    dport: number,
    destId: number,
    now: number,
    controlIdx: number = NO_ENTRY,
  ): number {
    const i = this.allocate(proto, caddr, cport, vaddr, vport, daddr, dport, destId, 0, now);
    if (i < 0) return i;
    this.setExpiry(i, NEW_CONN_TIMEOUT * this.ticksPerSecond, now);
    if (controlIdx !== NO_ENTRY) {
      this.control[i] = controlIdx;
      this.nControl[controlIdx]!++;
    }
    const dest = this.bindDest(i, destId);
    if (dest !== undefined) {
      dest.stats.conns++;
      dest.svcStats.conns++;
    }
    return i;
  }

  /**
   * A persistence template (ip_vs_sched_persist()): client port 0, `caddr` masked, `proto` 0 and `vaddr` =
   * mark for fwmark services. `timeout` is the service's persistence timeout in ticks. Counted in
   * PersistConn only. Returns the slot, or INSERT_FULL.
   */
  insertTemplate(
    proto: number,
    caddr: number,
    vaddr: number,
    vport: number,
    daddr: number,
    dport: number,
    destId: number,
    timeout: number,
    now: number,
  ): number {
    const i = this.allocate(proto, caddr >>> 0, 0, vaddr, vport, daddr, dport, destId, ConnFlag.template, now);
    if (i < 0) return i;
    this.state[i] = TemplateState.none;
    this.setExpiry(i, timeout, now);
    this.bindDest(i, destId);
    return i;
  }

  private allocate(
    proto: number,
    caddr: number,
    cport: number,
    vaddr: number,
    vport: number,
    daddr: number,
    dport: number,
    destId: number,
    flags: number,
    now: number,
  ): number {
    if (this.freeHead === NO_ENTRY) {
      this.sweep(now, OVERFLOW_SWEEP_BUDGET);
      if (this.freeHead === NO_ENTRY && !(this.reclaimEmbryonic && this.reclaimOldestEmbryonic())) {
        this.overflows++;
        return INSERT_FULL;
      }
    }
    const i = this.freeHead;
    const o = i * 8;
    this.freeHead = this.recNext[o + 5]!;
    const rec = this.rec;
    rec[o] = caddr;
    rec[o + 1] = vaddr;
    rec[o + 2] = daddr;
    rec[o + 3] = ((cport << 16) | vport) >>> 0;
    rec[o + 4] = ((dport << 16) | (proto << 8) | flags | ConnFlag.inUse) >>> 0;
    this.state[i] = 0;
    this.destId[i] = destId;
    this.control[i] = NO_ENTRY;
    this.nControl[i] = 0;
    // New entries go to the head of their chain, as hlist_add_head in ip_vs_conn_hash().
    const b = this.bucketOf(proto, caddr, cport);
    this.recNext[o + 5] = this.buckets[b]!;
    this.buckets[b] = i;
    this.size++;
    return i;
  }

  /**
   * ip_vs_bind_dest(): the destination's connection flags carry INACTIVE, so a connection starts in
   * InActConn and a template in PersistConn; non-NAT entries get NOOUTPUT. Sets OVERLOAD when the upper
   * threshold is reached (templates do not count towards it).
   */
  private bindDest(i: number, destId: number): Dest | undefined {
    const dest = destId >= 0 ? this.dests.get(destId) : undefined;
    if (dest === undefined) {
      this.destId[i] = NO_ENTRY;
      return undefined;
    }
    this.fwd[i] = dest.fwd;
    let flags = this.flagsOf(i) | ConnFlag.inactive;
    if (dest.fwd !== Fwd.masq) flags |= ConnFlag.noOutput;
    this.setFlags(i, flags);
    if (flags & ConnFlag.template) dest.persistConns++;
    else dest.inactConns++;
    if (dest.uThreshold !== 0 && dest.activeConns + dest.inactConns >= dest.uThreshold) dest.overloaded = true;
    return dest;
  }

  /** ip_vs_unbind_dest(): undoes bindDest's counting and re-evaluates OVERLOAD against the lower mark. */
  private unbindDest(i: number): void {
    const id = this.destId[i]!;
    const dest = id >= 0 ? this.dests.get(id) : undefined;
    if (dest === undefined) return;
    const flags = this.flagsOf(i);
    if (flags & ConnFlag.template) dest.persistConns--;
    else if (flags & ConnFlag.inactive) dest.inactConns--;
    else dest.activeConns--;
    const total = dest.activeConns + dest.inactConns;
    if (dest.lThreshold !== 0) {
      if (total < dest.lThreshold) dest.overloaded = false;
    } else if (dest.uThreshold !== 0) {
      // No lower threshold: clear below 3/4 of the upper one.
      if (total * 4 < dest.uThreshold * 3) dest.overloaded = false;
    } else {
      dest.overloaded = false;
    }
  }

  // ---- per-packet updates ----

  /** Re-arms the entry's expiry with its current timeout (ip_vs_conn_put() after each packet). */
  touch(i: number, now: number): void {
    this.recExpires[i * 4 + 3] = now + this.timeout[i]!;
  }

  private setExpiry(i: number, timeout: number, now: number): void {
    this.timeout[i] = timeout;
    this.recExpires[i * 4 + 3] = now + timeout;
  }

  /**
   * set_tcp_state() for one TCP packet: `dir` is TcpDir.input (client->server) or TcpDir.output (reply);
   * `tcpFlags` the header's flag byte. NOOUTPUT entries use the INPUT-ONLY table until their first reply.
   * A state change flips ActiveConn/InActConn per tcpStateActive and marks the controlling template
   * ASSURED on ESTABLISHED. The timeout becomes that of the new state and the expiry is re-armed.
   */
  tcpTransition(i: number, dir: number, tcpFlags: number, now: number): void {
    let flags = this.flagsOf(i);
    let tableDir = dir;
    if (flags & ConnFlag.noOutput) {
      if (dir === TcpDir.output) flags &= ~ConnFlag.noOutput;
      else tableDir = TcpDir.inputOnly;
    }
    const old = this.state[i]!;
    const state = tcpNextState(this.secureTcp, tableDir, tcpFlags, old);
    if (state !== old) {
      const id = this.destId[i]!;
      const dest = id >= 0 ? this.dests.get(id) : undefined;
      if (dest !== undefined) {
        const active = tcpStateActive[state] === 1;
        if ((flags & ConnFlag.inactive) === 0 && !active) {
          dest.activeConns--;
          dest.inactConns++;
          flags |= ConnFlag.inactive;
        } else if ((flags & ConnFlag.inactive) !== 0 && active) {
          dest.activeConns++;
          dest.inactConns--;
          flags &= ~ConnFlag.inactive;
        }
      }
      if (state === TcpState.established) {
        const ct = this.control[i]!;
        if (ct !== NO_ENTRY && this.flagsOf(ct) & ConnFlag.template) this.state[ct]! |= TemplateState.assured;
      }
      this.state[i] = state;
    }
    this.setFlags(i, flags);
    this.setExpiry(i, this.timeouts.tcp[state]! * this.ticksPerSecond, now);
  }

  /** udp_state_transition(): every packet sets the UDP timeout and re-arms the expiry; counters never move. */
  udpTransition(i: number, now: number): void {
    this.state[i] = UDP_STATE_NORMAL;
    this.setExpiry(i, this.timeouts.udp * this.ticksPerSecond, now);
  }

  /** Restarts a template's timer with its timeout, as ip_vs_sched_persist() does on each use. */
  touchTemplate(i: number, now: number): void {
    this.touch(i, now);
  }

  /** ip_vs_check_template() failure: later lookups skip this template; it expires as usual. */
  invalidateTemplate(i: number): void {
    this.setFlags(i, this.flagsOf(i) | ConnFlag.invalid);
  }

  /** conn_reuse_mode: should a SYN that found entry `i` be scheduled as a new connection? */
  isNewConnExpected(i: number, connReuseMode: number): boolean {
    return isNewConnExpected(
      this.protoOf(i),
      this.state[i]!,
      (this.flagsOf(i) & ConnFlag.noOutput) !== 0,
      this.control[i] !== NO_ENTRY,
      connReuseMode,
    );
  }

  /** Counts a client->server packet (ip_vs_in_stats()) on the entry's destination and its service. */
  countIn(i: number, bytes: number): void {
    const id = this.destId[i]!;
    const dest = id >= 0 ? this.dests.get(id) : undefined;
    if (dest === undefined) return;
    dest.stats.inPkts++;
    dest.stats.inBytes += bytes;
    dest.svcStats.inPkts++;
    dest.svcStats.inBytes += bytes;
  }

  /** Counts a server->client packet (ip_vs_out_stats()). */
  countOut(i: number, bytes: number): void {
    const id = this.destId[i]!;
    const dest = id >= 0 ? this.dests.get(id) : undefined;
    if (dest === undefined) return;
    dest.stats.outPkts++;
    dest.stats.outBytes += bytes;
    dest.svcStats.outPkts++;
    dest.svcStats.outBytes += bytes;
  }

  // ---- expiry ----

  /**
   * ip_vs_conn_expire() for entry `i` at `now`: a template that still controls connections is re-armed
   * (its timeout becomes 60 s, as in the kernel) and survives; anything else is unlinked, unbound from its
   * destination and released from its template. Returns true when the entry was removed.
   */
  expireEntry(i: number, now: number): boolean {
    if (this.nControl[i]! > 0) {
      const rearm = TEMPLATE_REARM_SECONDS * this.ticksPerSecond;
      // The kernel's timer would have fired at `expires` and then every 60 s; resume at the first firing
      // after now, since a lazy check may come late.
      let expires = this.recExpires[i * 4 + 3]!;
      if (expires <= now) expires += rearm * (Math.floor((now - expires) / rearm) + 1);
      else expires = now + rearm;
      this.timeout[i] = rearm;
      this.recExpires[i * 4 + 3] = expires;
      return false;
    }
    this.remove(i);
    this.expired++;
    return true;
  }

  /** Unconditional removal (used by expiry and flush). The caller guarantees `i` controls nothing. */
  private remove(i: number): void {
    const b = this.bucketOf(this.protoOf(i), this.caddrOf(i), this.cportOf(i));
    let j = this.buckets[b]!;
    if (j === i) {
      this.buckets[b] = this.recNext[i * 8 + 5]!;
    } else {
      while (j !== NO_ENTRY) {
        const k = this.recNext[j * 8 + 5]!;
        if (k === i) {
          this.recNext[j * 8 + 5] = this.recNext[i * 8 + 5]!;
          break;
        }
        j = k;
      }
    }
    const ct = this.control[i]!;
    if (ct !== NO_ENTRY) {
      this.nControl[ct]!--;
      this.control[i] = NO_ENTRY;
    }
    this.unbindDest(i);
    this.setFlags(i, 0);
    this.destId[i] = NO_ENTRY;
    this.recNext[i * 8 + 5] = this.freeHead;
    this.freeHead = i;
    this.size--;
  }

  /**
   * Visits up to `budget` slots from where the previous sweep stopped and expires those whose time has
   * come. Returns how many entries were removed.
   */
  sweep(now: number, budget: number): number {
    let removed = 0;
    let cursor = this.sweepCursor;
    const n = Math.min(budget, this.capacity);
    for (let k = 0; k < n; k++) {
      if (
        this.flagsOf(cursor) & ConnFlag.inUse &&
        this.recExpires[cursor * 4 + 3]! <= now &&
        this.expireEntry(cursor, now)
      ) {
        removed++;
      }
      cursor++;
      if (cursor === this.capacity) cursor = 0;
    }
    this.sweepCursor = cursor;
    return removed;
  }

  /**
   * A TCP connection whose handshake has not completed (SYN_RECV, or SYNACK under secure_tcp): what
   * ip_vs_random_dropentry() always drops, and what a SYN flood fills the table with.
   */
  isEmbryonic(i: number): boolean {
    const word4 = this.rec[i * 8 + 4]!;
    if ((word4 & (0xff00 | ConnFlag.inUse | ConnFlag.template)) !== ((IpProto.tcp << 8) | ConnFlag.inUse)) {
      return false;
    }
    const state = this.state[i]!;
    return state === TcpState.synRecv || state === TcpState.synAck;
  }

  /**
   * Frees one embryonic entry, scanning at most RECLAIM_SCAN_BUDGET slots from where the last scan stopped.
   * Entries are allocated from the slot the last eviction freed, so in a table that cycles this way the
   * cursor's order is the order of age: the entry it finds is the oldest embryonic one. Returns true when a
   * slot was freed.
   */
  private reclaimOldestEmbryonic(): boolean {
    let cursor = this.reclaimCursor;
    const n = Math.min(RECLAIM_SCAN_BUDGET, this.capacity);
    for (let k = 0; k < n; k++) {
      const i = cursor;
      cursor++;
      if (cursor === this.capacity) cursor = 0;
      if (this.isEmbryonic(i)) {
        this.reclaimCursor = cursor;
        this.remove(i);
        this.reclaimed++;
        return true;
      }
    }
    this.reclaimCursor = cursor;
    return false;
  }

  /**
   * ip_vs_random_dropentry() for the drop_entry defense: visits `buckets` hash chains chosen at random
   * (the kernel visits 1/32 of its buckets each second) and removes the embryonic connections on them.
   * The kernel also drops ESTABLISHED entries idle for over 60 s with at most 8 packets in, and UDP
   * entries likewise, by a rate per packet count; uvs keeps no per-entry packet count (the native fast path
   * forwards without one), so those stay. Returns how many entries were removed.
   */
  dropRandomEmbryonic(buckets: number): number {
    let removed = 0;
    const mask = this.bucketMask;
    for (let k = 0; k < buckets; k++) {
      let i = this.buckets[(Math.random() * 0x100000000) & mask]!;
      while (i !== NO_ENTRY) {
        const next = this.recNext[i * 8 + 5]!;
        if (this.isEmbryonic(i)) {
          this.remove(i);
          removed++;
        }
        i = next;
      }
    }
    this.dropped += removed;
    return removed;
  }

  /** Removes every entry, connections before templates, undoing all destination counters (ipvsadm -C). */
  flush(): void {
    for (let i = 0; i < this.capacity; i++) {
      if ((this.flagsOf(i) & (ConnFlag.inUse | ConnFlag.template)) === ConnFlag.inUse) this.remove(i);
    }
    for (let i = 0; i < this.capacity; i++) {
      if (this.flagsOf(i) & ConnFlag.inUse) this.remove(i);
    }
  }

  /**
   * The arrays and the hash seed the native fast path (native/fastpath.cc) works on directly: it looks
   * connections up with the same hash and record layout, and re-arms their expiry, for packets that change
   * neither their state nor any counter but the byte and packet counts.
   */
  nativeTables(): {
    rec: Uint32Array;
    fwd: Uint8Array;
    state: Uint8Array;
    destId: Int32Array;
    timeout: Uint32Array;
    buckets: Int32Array;
    seed: number;
  } {
    const { rec, fwd, state, destId, timeout, buckets, seed } = this;
    return { rec, fwd, state, destId, timeout, buckets, seed };
  }

  // ---- control plane views ----

  // ---- field accessors (slot i) ----

  caddrOf(i: number): number {
    return this.rec[i * 8]!;
  }

  vaddrOf(i: number): number {
    return this.rec[i * 8 + 1]!;
  }

  daddrOf(i: number): number {
    return this.rec[i * 8 + 2]!;
  }

  /** vaddrOf(i) | 0: for the datapath, which keeps addresses signed so that they are never boxed. */
  vaddrInt32Of(i: number): number {
    return this.recInt[i * 8 + 1]!;
  }

  /** daddrOf(i) | 0. */
  daddrInt32Of(i: number): number {
    return this.recInt[i * 8 + 2]!;
  }

  cportOf(i: number): number {
    return this.rec[i * 8 + 3]! >>> 16;
  }

  vportOf(i: number): number {
    return this.rec[i * 8 + 3]! & 0xffff;
  }

  dportOf(i: number): number {
    return this.rec[i * 8 + 4]! >>> 16;
  }

  /** IpProto value, or 0 for fwmark templates. */
  protoOf(i: number): number {
    return (this.rec[i * 8 + 4]! >>> 8) & 0xff;
  }

  /** ConnFlag bits. */
  flagsOf(i: number): number {
    return this.rec[i * 8 + 4]! & 0xff;
  }

  private setFlags(i: number, flags: number): void {
    const o = i * 8 + 4;
    this.rec[o] = ((this.rec[o]! & 0xffffff00) | flags) >>> 0;
  }

  /** Absolute expiry in ticks. */
  expiresOf(i: number): number {
    return this.recExpires[i * 4 + 3]!;
  }

  isLive(i: number): boolean {
    return (this.flagsOf(i) & ConnFlag.inUse) !== 0;
  }

  isTemplate(i: number): boolean {
    return (this.flagsOf(i) & ConnFlag.template) !== 0;
  }

  /** State as ip_vs_state_name() prints it. */
  stateName(i: number): string {
    const state = this.state[i]!;
    if (this.flagsOf(i) & ConnFlag.template) return templateStateNames[state] ?? 'ERR!';
    const proto = this.protoOf(i);
    if (proto === IpProto.tcp) return tcpStateNames[state] ?? 'ERR!';
    if (proto === IpProto.udp) return UDP_STATE_NAME;
    return proto === 0 ? 'NONE' : 'ERR!';
  }
}
