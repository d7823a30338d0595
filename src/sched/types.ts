// The scheduler plugin interface (DPVS include/ipvs/sched.h, kernel struct ip_vs_scheduler).
import type { Dest } from '../ipvs/dest.js';

/** What a scheduler may look at in the packet that opens a connection. One object, reused per packet. */
export interface SchedInput {
  /** Client address (IPv4, host order) and source port. */
  saddr: number;
  sport: number;
  /** Packet destination (the VIP) and destination port. */
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
}
