// Source hashing (ip_vs_sh.c): 256 buckets filled from the destination list, each destination taking
// `weight` consecutive buckets (at least one); the client address, and with sh-port its source port, picks
// the bucket. sh-fallback probes other buckets when the first choice is unavailable.
import type { Dest } from '../dest/dest.js';
import { hash32 } from './hash.js';
import { hashablePort } from './ports.js';
import { SchedFlag, type SchedInput, type Scheduler } from './types.js';

/** CONFIG_IP_VS_SH_TAB_BITS default. */
export const SH_TAB_BITS = 8;
export const SH_TAB_SIZE = 1 << SH_TAB_BITS;
const SH_TAB_MASK = SH_TAB_SIZE - 1;

/** is_unavailable() in ip_vs_sh.c (the AVAILABLE flag is not consulted: removed entries leave the table). */
function unavailable(dest: Dest): boolean {
  return dest.weight <= 0 || dest.overloaded;
}

export class ShScheduler implements Scheduler {
  readonly name = 'sh';
  private readonly buckets: (Dest | null)[] = new Array<Dest | null>(SH_TAB_SIZE).fill(null);
  private fallback = false;
  private usePort = false;

  /** `flags`: the service flags; SchedFlag.sched1 is sh-fallback, SchedFlag.sched2 is sh-port. */
  constructor(flags: number) {
    this.setFlags(flags);
  }

  setFlags(flags: number): void {
    this.fallback = (flags & SchedFlag.sched1) !== 0;
    this.usePort = (flags & SchedFlag.sched2) !== 0;
  }

  /** ip_vs_sh_reassign(): walk the list from the head, cycling, until all buckets are set. */
  update(dests: readonly Dest[]): void {
    const n = dests.length;
    let p = 0;
    let count = 0;
    for (let i = 0; i < SH_TAB_SIZE; i++) {
      if (n === 0) {
        this.buckets[i] = null;
        continue;
      }
      const dest = dests[p]!;
      this.buckets[i] = dest;
      if (++count >= dest.weight) {
        p = (p + 1) % n;
        count = 0;
      }
    }
  }

  /** The bucket for a client: (offset + hash_32(port + addr, 8)) mod 256, ip_vs_sh_hashkey(). */
  static bucketOf(addr: number, port: number, offset: number): number {
    return (offset + hash32(port + addr, SH_TAB_BITS)) & SH_TAB_MASK;
  }

  pick(input: SchedInput): Dest | null {
    const port = this.usePort ? hashablePort(input) : 0;
    const addr = input.saddr;
    const ihash = ShScheduler.bucketOf(addr, port, 0);
    const first = this.buckets[ihash] ?? null;
    if (first === null) return null;
    if (!unavailable(first)) return first;
    if (!this.fallback) return null;
    // ip_vs_sh_get_fallback(): walk the table from a point fixed by the first hash.
    for (let offset = 0; offset < SH_TAB_SIZE; offset++) {
      const roffset = (offset + ihash) % SH_TAB_SIZE;
      const dest = this.buckets[ShScheduler.bucketOf(addr, port, roffset)] ?? null;
      if (dest === null) break;
      if (!unavailable(dest)) return dest;
    }
    return null;
  }
}
