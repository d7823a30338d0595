// Destination hashing (ip_vs_dh.c): 256 buckets dealt one per destination round-robin from the list head
// (weights do not matter); the packet's destination address picks the bucket. No fallback.
import type { Dest } from '../dest/dest.js';
import { hash32 } from './hash.js';
import type { SchedInput, Scheduler } from './types.js';

/** CONFIG_IP_VS_DH_TAB_BITS default. */
export const DH_TAB_BITS = 8;
export const DH_TAB_SIZE = 1 << DH_TAB_BITS;

export class DhScheduler implements Scheduler {
  readonly name = 'dh';
  private readonly buckets: (Dest | null)[] = new Array<Dest | null>(DH_TAB_SIZE).fill(null);

  /**
   * ip_vs_dh_reassign(), the add/del hook. The kernel has no upd hook for dh, but a weight edit leaves the
   * list and so the deal unchanged, so refilling on every update gives the same table.
   */
  update(dests: readonly Dest[]): void {
    const n = dests.length;
    for (let i = 0; i < DH_TAB_SIZE; i++) this.buckets[i] = n === 0 ? null : dests[i % n]!;
  }

  pick(input: SchedInput): Dest | null {
    const dest = this.buckets[hash32(input.daddr, DH_TAB_BITS)] ?? null;
    if (dest === null || !dest.available || dest.weight <= 0 || dest.overloaded) return null;
    return dest;
  }
}
