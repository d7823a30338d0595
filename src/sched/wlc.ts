// Weighted least-connection (ip_vs_wlc.c), the default scheduler: lowest overhead/weight.
import type { Dest } from '../dest/dest.js';
import { weightedLeastConn } from './overhead.js';
import type { SchedInput, Scheduler } from './types.js';

export class WlcScheduler implements Scheduler {
  readonly name = 'wlc';
  private dests: Dest[] = [];

  update(dests: readonly Dest[]): void {
    this.dests = dests.slice();
  }

  pick(_input: SchedInput): Dest | null {
    return weightedLeastConn(this.dests);
  }
}
