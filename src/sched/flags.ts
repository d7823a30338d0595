// Scheduler flag names as ipvsadm 1.31 prints and parses them (-b / --sched-flags; print_sched_flags() and
// parse_sched_flags() in ipvsadm.c). The bits are IP_VS_SVC_F_SCHED1..3; sh and mh name the first two.
import { SchedFlag } from './types.js';

/** All three scheduler flag bits. */
export const SCHED_FLAGS_MASK = SchedFlag.sched1 | SchedFlag.sched2 | SchedFlag.sched3;

/** The scheduler ipvsadm assumes when -b comes without -s (DEF_SCHED). */
const DEFAULT_SCHED = 'wlc';

/**
 * The names ipvsadm prints for the scheduler flags set in `flags`, in its order. sh and mh print only their
 * two named bits (a lone third bit prints nothing, so ipvsadm's list shows "()"); other schedulers print
 * flag-1..flag-3.
 */
export function schedFlagNames(name: string, flags: number): string[] {
  const names: string[] = [];
  if (name === 'sh' || name === 'mh') {
    if (flags & SchedFlag.sched1) names.push(`${name}-fallback`);
    if (flags & SchedFlag.sched2) names.push(`${name}-port`);
  } else {
    if (flags & SchedFlag.sched1) names.push('flag-1');
    if (flags & SchedFlag.sched2) names.push('flag-2');
    if (flags & SchedFlag.sched3) names.push('flag-3');
  }
  return names;
}

export type SchedFlagsError = 'invalidFlag' | 'incompatibleFlag';

export type SchedFlagsResult =
  | { readonly ok: true; readonly flags: number }
  | { readonly ok: false; readonly code: SchedFlagsError; readonly flag: string; readonly message: string };

const NAMED: Readonly<Record<string, { bit: number; sched: string | null }>> = {
  'flag-1': { bit: SchedFlag.sched1, sched: null },
  'flag-2': { bit: SchedFlag.sched2, sched: null },
  'flag-3': { bit: SchedFlag.sched3, sched: null },
  'sh-fallback': { bit: SchedFlag.sched1, sched: 'sh' },
  'sh-port': { bit: SchedFlag.sched2, sched: 'sh' },
  'mh-fallback': { bit: SchedFlag.sched1, sched: 'mh' },
  'mh-port': { bit: SchedFlag.sched2, sched: 'mh' },
};

/**
 * Parses the argument of -b for scheduler `name` ('' means ipvsadm's default, wlc). Like strtok(), empty
 * items between commas are skipped. Errors carry ipvsadm's message (it exits with status 2 on them).
 */
export function parseSchedFlags(name: string, text: string): SchedFlagsResult {
  const sched = name !== '' ? name : DEFAULT_SCHED;
  const items = text.split(',').filter((item) => item !== '');
  // ipvsadm dereferences strtok's NULL here; refusing the empty list is the sane reading.
  if (items.length === 0) return failure('invalidFlag', text);
  let flags = 0;
  for (const item of items) {
    const named = Object.hasOwn(NAMED, item) ? NAMED[item] : undefined;
    if (named === undefined) return failure('invalidFlag', item);
    flags |= named.bit;
    if (named.sched !== null && named.sched !== sched) return failure('incompatibleFlag', item);
  }
  return { ok: true, flags };
}

function failure(code: SchedFlagsError, flag: string): SchedFlagsResult {
  const what = code === 'invalidFlag' ? 'invalid' : 'incompatible';
  return { ok: false, code, flag, message: `${what} scheduler flag \`${flag}'` };
}
