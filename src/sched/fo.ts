// Weighted fail-over (ip_vs_fo.c): the non-overloaded destination with the highest weight (> 0); the first
// in list order on ties.
import type { Dest } from '../dest/dest.js';
import type { SchedInput, Scheduler } from './types.js';

export class FoScheduler implements Scheduler {
  readonly name = 'fo';
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
      if (!dest.overloaded && dest.weight > hw) {
        best = dest;
        hw = dest.weight;
      }
    }
    return best;
  }
}
