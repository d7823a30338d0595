// Overflow (ip_vs_ovf.c): the highest-weight destination whose active connections do not exceed its weight;
// when it fills up, the next heaviest takes the overflow. Ties go to the first in list order.
import type { Dest } from '../dest/dest.js';
import type { SchedInput, Scheduler } from './types.js';

export class OvfScheduler implements Scheduler {
  readonly name = 'ovf';
  private dests: Dest[] = [];

  update(dests: readonly Dest[]): void {
    this.dests = dests.slice();
  }

  pick(_input: SchedInput): Dest | null {
    const dests = this.dests;
    let best: Dest | null = null;
    let hw = 0;
    for (let i = 0; i < dests.length; i++) {
      const dest = dests[i]!;
      const w = dest.weight;
      if (dest.overloaded || dest.activeConns > w || w === 0) continue;
      if (best === null || w > hw) {
        best = dest;
        hw = w;
      }
    }
    return best;
  }
}
