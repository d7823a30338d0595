// Which rate estimator belongs to which counters: the control plane's link between the rules (services and
// destinations, each with a Stats) and the EstimatorSet that runs every 2 s. The kernel starts an estimator
// when it creates a service or destination (ip_vs_start_estimator()) and stops it when the object is freed;
// sync() does the same against each new rules snapshot. `-L --stats/--rate` read through it and `-Z` zeroes
// through it.

import type { Stats } from '../dest/stats.js';
import { type Estimator, type EstimatorSet, emptyReadout, type StatsReadout } from '../ipvs/estimator.js';
import type { RulesSnapshot } from '../model/rules.js';

export class StatsBook {
  private readonly byStats = new Map<Stats, Estimator>();

  constructor(readonly estimators: EstimatorSet) {}

  /**
   * Starts estimators for the services and destinations the snapshot has and this book has not, and stops
   * those of objects gone from it. Removed destinations still in a service's trash keep theirs: they may
   * come back with their counters (ip_vs_trash_get_dest()).
   */
  sync(snapshot: RulesSnapshot): void {
    const live = new Set<Stats>();
    for (const svc of snapshot.services) {
      live.add(svc.stats);
      for (const d of svc.dests) live.add(d.stats);
      for (const d of svc.trash) live.add(d.stats);
    }
    for (const [stats, est] of this.byStats) {
      if (!live.has(stats)) {
        this.estimators.remove(est);
        this.byStats.delete(stats);
      }
    }
    for (const stats of live) {
      if (!this.byStats.has(stats)) this.byStats.set(stats, this.estimators.add(stats));
    }
  }

  /** Counters and rates as ipvsadm shows them; counters with no estimator yet read as all zero. */
  read(stats: Stats, out: StatsReadout = emptyReadout()): StatsReadout {
    const est = this.byStats.get(stats);
    if (est === undefined) {
      Object.assign(out, emptyReadout());
      return out;
    }
    return est.read(out);
  }

  /** `-Z` for one set of counters. */
  zero(stats: Stats): void {
    this.byStats.get(stats)?.zero();
  }
}
