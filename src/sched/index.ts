// The IPVS schedulers by name: the one entry point the rules model, uvsadm and the benchmarks use.
import { DhScheduler } from './dh.js';
import { FoScheduler } from './fo.js';
import { LblcScheduler } from './lblc.js';
import { LblcrScheduler } from './lblcr.js';
import { LcScheduler } from './lc.js';
import { MhScheduler } from './mh.js';
import { NqScheduler } from './nq.js';
import { OvfScheduler } from './ovf.js';
import { RrScheduler } from './rr.js';
import { SedScheduler } from './sed.js';
import { ShScheduler } from './sh.js';
import type { SchedOptions, Scheduler } from './types.js';
import { WlcScheduler } from './wlc.js';
import { WrrScheduler } from './wrr.js';

export { parseSchedFlags, SCHED_FLAGS_MASK, type SchedFlagsResult, schedFlagNames } from './flags.js';
export { SchedFlag, type SchedInput, type SchedOptions, type Scheduler } from './types.js';
export {
  DhScheduler,
  FoScheduler,
  LblcrScheduler,
  LblcScheduler,
  LcScheduler,
  MhScheduler,
  NqScheduler,
  OvfScheduler,
  RrScheduler,
  SedScheduler,
  ShScheduler,
  WlcScheduler,
  WrrScheduler,
};

/** The schedulers uvs implements, in the order ipvsadm(8) lists them (twos, being random, is left out). */
export const schedulerNames: readonly string[] = [
  'rr',
  'wrr',
  'lc',
  'wlc',
  'lblc',
  'lblcr',
  'dh',
  'sh',
  'sed',
  'nq',
  'fo',
  'ovf',
  'mh',
];

/**
 * A new scheduler in the state the kernel's init_service leaves it with an empty destination list; call
 * `update()` with the list before the first pick. `flags` are the service flags (only sh and mh read
 * SchedFlag.sched1/sched2). `options` matter to lblc and lblcr only: their clock, expiration and cache size
 * (see SchedOptions). Returns undefined for an unknown name ("Scheduler or persistence engine not found").
 */
export function createScheduler(name: string, flags: number, options?: SchedOptions): Scheduler | undefined {
  switch (name) {
    case 'rr':
      return new RrScheduler();
    case 'wrr':
      return new WrrScheduler();
    case 'lc':
      return new LcScheduler();
    case 'wlc':
      return new WlcScheduler();
    case 'lblc':
      return new LblcScheduler(options);
    case 'lblcr':
      return new LblcrScheduler(options);
    case 'dh':
      return new DhScheduler();
    case 'sh':
      return new ShScheduler(flags);
    case 'sed':
      return new SedScheduler();
    case 'nq':
      return new NqScheduler();
    case 'fo':
      return new FoScheduler();
    case 'ovf':
      return new OvfScheduler();
    case 'mh':
      return new MhScheduler(flags);
    default:
      return undefined;
  }
}
