// IPVS's defenses against a flood of new connections (update_defense_level() in ip_vs_ctl.c, run once a
// second by defense_work_handler(), and ip_vs_random_dropentry() in ip_vs_conn.c), with the kernel's sysctl
// names and level semantics:
//
//   drop_entry, drop_packet, secure_tcp: 0 never; 1 automatic, currently off (the defense turns on, and the
//   level becomes 2, when memory runs short); 2 automatic, currently on (back to 1 when memory recovers);
//   3 always.
//   - drop_entry on: each second, the embryonic connections on 1/32 of the hash chains, picked at random,
//     are removed (ConnTable.dropRandomEmbryonic()).
//   - drop_packet on: one new-connection SYN in `rate` is dropped before scheduling (ip_vs_todrop()); in
//     the automatic modes rate = amemthresh / (amemthresh - available), so a table with nothing left drops
//     every one; level 3 uses am_droprate.
//   - secure_tcp on: TCP transitions use tcp_states_dos (ConnTable.secureTcp), where the client's ACK alone
//     no longer makes a NAT connection ESTABLISHED: the real server must answer it first.
//
// "Memory": the kernel compares free pages with amemthresh (in pages). uvs allocates its connection table
// whole at start, so the resource a flood exhausts is the table's free slots, and that is what uvs counts:
// available = capacity - entries in use, and the defense is short of memory when available < amemthresh.
// amemthresh is therefore a number of free connection slots here (default 1024, the kernel's number).

import type { ConnTable } from '../conn/table.js';

/** DEFENSE_TIMER_PERIOD: the levels are re-evaluated once a second. */
const DEFENSE_PERIOD_SECONDS = 1;
/** ip_vs_random_dropentry() visits 1/32 of the hash chains per run. */
const DROPENTRY_BUCKET_SHIFT = 5;

/** The settings, as the kernel's sysctls under /proc/sys/net/ipv4/vs/ name them. */
export interface DefenseSettings {
  /** Free connection slots below which the automatic modes consider memory short (kernel: free pages). */
  readonly amemthresh: number;
  /** drop_packet level 3 drops one SYN in this many. */
  readonly amDroprate: number;
  readonly dropEntry: number;
  readonly dropPacket: number;
  readonly secureTcp: number;
  /** uvs only: a full table evicts its oldest embryonic entry for a new connection (see ConnTable). */
  readonly reclaimEmbryonic: boolean;
}

/** The kernel's defaults (ip_vs_control_net_init_sysctl()), and reclaiming on. */
export const DEFAULT_DEFENSE: DefenseSettings = Object.freeze({
  amemthresh: 1024,
  amDroprate: 10,
  dropEntry: 0,
  dropPacket: 0,
  secureTcp: 0,
  reclaimEmbryonic: true,
});

/** What Defense.onChange reports when the table runs short of free slots, and again when it recovers. */
export interface DefenseChange {
  /** True: fewer than amemthresh slots are free now; false: there is room again. */
  readonly short: boolean;
  readonly free: number;
  readonly capacity: number;
  readonly amemthresh: number;
  readonly dropEntry: number;
  readonly dropPacket: number;
  readonly secureTcp: number;
  /** Since the table ran short (0 in the report that it did): entries evicted or dropped, SYNs lost. */
  readonly reclaimed: number;
  readonly droppedByDropEntry: number;
  readonly droppedByDropPacket: number;
  readonly refused: number;
}

export class Defense {
  amemthresh = DEFAULT_DEFENSE.amemthresh;
  amDroprate = DEFAULT_DEFENSE.amDroprate;
  /** The levels 0..3; the automatic ones move between 1 and 2 as the kernel's sysctls do. */
  dropEntry = DEFAULT_DEFENSE.dropEntry;
  dropPacket = DEFAULT_DEFENSE.dropPacket;
  secureTcp = DEFAULT_DEFENSE.secureTcp;

  /** ipvs->dropentry: random entry dropping runs at each period. */
  dropEntryActive = false;
  /** ipvs->drop_rate (0: off) and the countdown to the next dropped SYN. */
  dropRate = 0;
  private dropCounter = 0;
  /** New-connection SYNs dropped by drop_packet. */
  packetsDropped = 0;
  /** Periods in which memory was short (available < amemthresh). */
  shortPeriods = 0;

  /** Called (from the timer tick, never per packet) when the table runs short of free slots and when it recovers. */
  onChange: ((change: DefenseChange, message: string) => void) | null = null;

  private nextUpdate = Number.NEGATIVE_INFINITY;
  private readonly period: number;
  private wasShort = false;
  // The counters when the table ran short, so that the recovery report says what the episode cost.
  private markReclaimed = 0;
  private markDropped = 0;
  private markPacketsDropped = 0;
  private markOverflows = 0;

  constructor(private readonly conns: ConnTable) {
    this.period = DEFENSE_PERIOD_SECONDS * conns.ticksPerSecond;
  }

  /** Applies settings (from the director configuration) and re-evaluates the levels at the next tick. */
  configure(settings: DefenseSettings): void {
    for (const [name, value] of [
      ['drop_entry', settings.dropEntry],
      ['drop_packet', settings.dropPacket],
      ['secure_tcp', settings.secureTcp],
    ] as const) {
      if (!(Number.isInteger(value) && value >= 0 && value <= 3)) {
        throw new RangeError(`${name} must be 0, 1, 2 or 3, got ${value}`);
      }
    }
    if (!(Number.isInteger(settings.amemthresh) && settings.amemthresh >= 0)) {
      throw new RangeError(`amemthresh must be a whole number of free slots, got ${settings.amemthresh}`);
    }
    if (!(Number.isInteger(settings.amDroprate) && settings.amDroprate >= 1)) {
      throw new RangeError(`am_droprate must be an integer >= 1, got ${settings.amDroprate}`);
    }
    this.amemthresh = settings.amemthresh;
    this.amDroprate = settings.amDroprate;
    this.dropEntry = settings.dropEntry;
    this.dropPacket = settings.dropPacket;
    this.secureTcp = settings.secureTcp;
    this.conns.reclaimEmbryonic = settings.reclaimEmbryonic;
    this.nextUpdate = Number.NEGATIVE_INFINITY;
  }

  /** Free connection slots: what uvs counts as available memory. */
  get available(): number {
    return this.conns.capacity - this.conns.size;
  }

  /**
   * defense_work_handler(): at most once per period, re-evaluates every level and, while drop_entry is on,
   * drops embryonic entries at random. Cheap to call often (the datapath calls it on its timer tick).
   */
  tick(now: number): void {
    if (now < this.nextUpdate) return;
    this.nextUpdate = now + this.period;
    this.updateLevels();
    if (this.dropEntryActive) {
      this.conns.dropRandomEmbryonic(Math.max(1, this.conns.bucketCount >>> DROPENTRY_BUCKET_SHIFT));
    }
  }

  /** update_defense_level(). */
  updateLevels(): void {
    const available = this.available;
    const threshold = this.amemthresh;
    const short = available < threshold;
    if (short) this.shortPeriods++;

    switch (this.dropEntry) {
      case 1:
        this.dropEntryActive = short;
        if (short) this.dropEntry = 2;
        break;
      case 2:
        this.dropEntryActive = short;
        if (!short) this.dropEntry = 1;
        break;
      case 3:
        this.dropEntryActive = true;
        break;
      default:
        this.dropEntryActive = false;
    }

    const autoRate = short ? Math.floor(threshold / (threshold - available)) : 0;
    switch (this.dropPacket) {
      case 1:
        this.setDropRate(autoRate);
        if (short) this.dropPacket = 2;
        break;
      case 2:
        this.setDropRate(autoRate);
        if (!short) this.dropPacket = 1;
        break;
      case 3:
        // The kernel sets the rate and leaves the countdown running.
        this.dropRate = this.amDroprate;
        break;
      default:
        this.dropRate = 0;
    }

    if (this.secureTcp === 1 && short) this.secureTcp = 2;
    else if (this.secureTcp === 2 && !short) this.secureTcp = 1;
    this.conns.secureTcp = this.secureTcp >= 2;

    if (short !== this.wasShort) this.reportChange(short, available);
  }

  private reportChange(short: boolean, free: number): void {
    this.wasShort = short;
    const conns = this.conns;
    const change: DefenseChange = {
      short,
      free,
      capacity: conns.capacity,
      amemthresh: this.amemthresh,
      dropEntry: this.dropEntry,
      dropPacket: this.dropPacket,
      secureTcp: this.secureTcp,
      reclaimed: short ? 0 : conns.reclaimed - this.markReclaimed,
      droppedByDropEntry: short ? 0 : conns.dropped - this.markDropped,
      droppedByDropPacket: short ? 0 : this.packetsDropped - this.markPacketsDropped,
      refused: short ? 0 : conns.overflows - this.markOverflows,
    };
    this.markReclaimed = conns.reclaimed;
    this.markDropped = conns.dropped;
    this.markPacketsDropped = this.packetsDropped;
    this.markOverflows = conns.overflows;
    const levels = `drop_entry ${this.dropEntry}, drop_packet ${this.dropPacket}, secure_tcp ${this.secureTcp}`;
    const message = short
      ? `connection table nearly full (${free} of ${conns.capacity} slots free, amemthresh ${this.amemthresh}): ` +
        `${conns.reclaimEmbryonic ? 'new connections evict the oldest embryonic entries' : 'reclaim_embryonic is off, new connections beyond the table go untracked'}; ${levels}`
      : `connection table has room again (${free} slots free): meanwhile ${change.reclaimed} embryonic entries ` +
        `evicted, ${change.droppedByDropEntry} dropped by drop_entry, ${change.droppedByDropPacket} SYNs dropped by ` +
        `drop_packet, ${change.refused} connections forwarded untracked; ${levels}`;
    this.onChange?.(change, message);
  }

  private setDropRate(rate: number): void {
    this.dropRate = rate;
    this.dropCounter = rate;
  }

  /**
   * ip_vs_todrop(), asked for each SYN that would create a connection: true when drop_packet drops it
   * (then counted). No allocation; called per packet.
   */
  dropsNewConnection(): boolean {
    if (this.dropRate === 0) return false;
    if (--this.dropCounter > 0) return false;
    this.dropCounter = this.dropRate;
    this.packetsDropped++;
    return true;
  }
}
