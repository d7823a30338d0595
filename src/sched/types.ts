// The scheduler plugin interface (DPVS include/ipvs/sched.h, kernel struct ip_vs_scheduler).
import type { Dest } from '../dest/dest.js';

/** What a scheduler may look at in the packet that opens a connection. One object, reused per packet. */
export interface SchedInput {
  /**
   * Client address (IPv4, host order) and source port. Addresses are signed 32-bit numbers (`addr | 0`, as
   * IpvsCore.schedule() sets them), which V8 never boxes; a scheduler that needs the unsigned value converts
   * with `>>> 0`, and the kernel's hashes (hash_32, hsiphash) see the same 32 bits either way.
   */
  saddr: number;
  sport: number;
  /** Packet destination (the VIP, signed like saddr) and destination port. */
  daddr: number;
  dport: number;
  /** IpProto value. */
  proto: number;
}

/** IP_VS_SVC_F_SCHED1..3, whose meaning depends on the scheduler (sh-fallback/sh-port, mh-fallback/mh-port). */
export const SchedFlag = {
  sched1: 0x08,
  sched2: 0x10,
  sched3: 0x20,
} as const;

export interface Scheduler {
  readonly name: string;
  /**
   * Called whenever the service's destination list or a destination's weight changes (add, edit, delete),
   * with the list in kernel order (newest first). Mirrors init_service/add_dest/upd_dest/del_dest.
   */
  update(dests: readonly Dest[]): void;
  /** Chooses a destination, or null when none is available. Must not allocate. */
  pick(input: SchedInput): Dest | null;
  /**
   * The service flags changed while the scheduler stayed the same (ipvsadm -E with the same -s): the kernel
   * keeps the scheduler's state and reads svc->flags at each pick. Present on schedulers that read flags.
   */
  setFlags?(flags: number): void;
}

/** Options for schedulers that keep time-dependent state (lblc, lblcr); the others ignore them. */
export interface SchedOptions {
  /**
   * Coarse monotonic clock in seconds (the kernel's jiffies / HZ). lblc and lblcr stamp cache entries with it
   * and run their 60-second garbage-collection timer from it. Default: `performance.now() / 1000`.
   */
  now?: () => number;
  /** The lblc_expiration / lblcr_expiration sysctl, in seconds. Default 86400 (24 h). */
  expiration?: number;
  /**
   * Most cache entries held at once (lblcr: also the most set members, twice this). When full, a pick is
   * returned but not cached, as when the kernel's GFP_ATOMIC allocation fails. Default 32768.
   */
  cacheCapacity?: number;
}
