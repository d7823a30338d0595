// Round-robin (ip_vs_rr.c): a pointer to the last destination picked; each pick walks on from it.
import type { Dest } from '../dest/dest.js';
import type { SchedInput, Scheduler } from './types.js';

export class RrScheduler implements Scheduler {
  readonly name = 'rr';
  private dests: Dest[] = [];
  /** svc->sched_data: the last destination picked, or null for the list head (where a new service starts). */
  private last: Dest | null = null;
  /** Index of `last` in `dests`, -1 for the head. */
  private lastIndex = -1;

  update(dests: readonly Dest[]): void {
    const next = dests.slice();
    if (this.last !== null && !next.includes(this.last)) {
      // ip_vs_rr_del_dest(): a removed destination that held the pointer hands it to its predecessor, or to
      // the head when it was first. Stepping back over every removed entry gives the same result as the
      // kernel removing them one by one.
      let i = this.dests.indexOf(this.last) - 1;
      while (i >= 0 && !next.includes(this.dests[i]!)) i--;
      this.last = i >= 0 ? this.dests[i]! : null;
    }
    this.dests = next;
    this.lastIndex = this.last === null ? -1 : next.indexOf(this.last);
  }

  pick(_input: SchedInput): Dest | null {
    const dests = this.dests;
    const start = this.lastIndex;
    // First pass: from after the pointer to the end of the list.
    for (let i = start + 1; i < dests.length; i++) {
      const dest = dests[i]!;
      if (!dest.overloaded && dest.weight > 0) return this.hit(dest, i);
    }
    // Second pass, unless the first started at the head: from the first entry up to the pointer itself.
    for (let i = 0; i <= start; i++) {
      const dest = dests[i]!;
      if (!dest.overloaded && dest.weight > 0) return this.hit(dest, i);
    }
    return null;
  }

  private hit(dest: Dest, index: number): Dest {
    this.last = dest;
    this.lastIndex = index;
    return dest;
  }
}
