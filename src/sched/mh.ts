// Maglev hashing (ip_vs_mh.c; Eisenbud et al., NSDI '16, §3.4): every destination walks its own permutation
// of a prime-sized lookup table, taking turns in list order, until each slot belongs to someone. The client
// address (and with mh-port its source port) hashed with hsiphash picks the slot.
import type { Dest } from '../dest/dest.js';
import { type HsipKey, hsiphashU32, hsipKey } from './hash.js';
import { hashablePort } from './ports.js';
import { SchedFlag, type SchedInput, type Scheduler } from './types.js';

/** primes[CONFIG_IP_VS_MH_TAB_INDEX - 8] with the default index 12. */
export const MH_TAB_SIZE = 4093;
/** IP_VS_MH_TAB_BITS = CONFIG_IP_VS_MH_TAB_INDEX / 2: how many bits of weight/gcd survive the shift. */
const MH_TAB_BITS = 6;

/** generate_hash_secret(): fixed keys, so every director builds the same table. */
export const MH_KEY1: HsipKey = hsipKey(2654435761, 2654435761);
export const MH_KEY2: HsipKey = hsipKey(2654446892, 2654446892);

/** ip_vs_mh_hashkey() for IPv4: hsiphash of the u32 offset + port + addr (all wrap modulo 2^32). */
export function mhHashKey(addr: number, port: number, key: HsipKey, offset: number): number {
  return hsiphashU32(offset + port + addr, key);
}

function gcd(a: number, b: number): number {
  while (b !== 0) {
    const r = a % b;
    a = b;
    b = r;
  }
  return a;
}

/** fls(): the 1-based index of the highest set bit, 0 for 0. */
function fls(x: number): number {
  return 32 - Math.clz32(x);
}

function unavailable(dest: Dest): boolean {
  return dest.weight <= 0 || dest.overloaded;
}

export class MhScheduler implements Scheduler {
  readonly name = 'mh';
  private readonly lookup: (Dest | null)[] = new Array<Dest | null>(MH_TAB_SIZE).fill(null);
  private fallback = false;
  private usePort = false;

  /** `flags`: the service flags; SchedFlag.sched1 is mh-fallback, SchedFlag.sched2 is mh-port. */
  constructor(flags: number) {
    this.setFlags(flags);
  }

  setFlags(flags: number): void {
    this.fallback = (flags & SchedFlag.sched1) !== 0;
    this.usePort = (flags & SchedFlag.sched2) !== 0;
  }

  /** ip_vs_mh_dest_changed(): gcd and shift of the last non-zero weights, then permutate and populate. */
  update(dests: readonly Dest[]): void {
    const n = dests.length;
    // ip_vs_mh_reassign() refuses more destinations than slots (-EINVAL) and leaves the table as it was.
    if (n > MH_TAB_SIZE) return;
    let g = 0;
    let maxWeight = 0;
    for (const dest of dests) {
      const lw = dest.lastWeight;
      if (lw > 0) g = g > 0 ? gcd(lw, g) : lw;
      if (lw > maxWeight) maxWeight = lw;
    }
    if (g < 1) {
      // No destination, or none ever had a weight: ip_vs_mh_reset() empties the table.
      this.lookup.fill(null);
      return;
    }
    const shift = fls(Math.trunc(maxWeight / g)) - MH_TAB_BITS;
    const rshift = Math.max(shift, 0);

    // ip_vs_mh_permutate()
    const perm = new Uint32Array(n);
    const skip = new Uint32Array(n);
    const turns = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const dest = dests[i]!;
      perm[i] = mhHashKey(dest.addr, dest.port, MH_KEY1, 0) % MH_TAB_SIZE;
      skip[i] = (mhHashKey(dest.addr, dest.port, MH_KEY2, 0) % (MH_TAB_SIZE - 1)) + 1;
      const lw = dest.lastWeight;
      const t = Math.trunc(lw / g) >> rshift;
      turns[i] = t !== 0 ? t : lw !== 0 ? 1 : 0;
    }

    // ip_vs_mh_populate(): repeated passes over the list; each destination with turns >= 1 claims `turns`
    // slots per pass, each the next free slot along its permutation.
    const taken = new Uint8Array(MH_TAB_SIZE);
    let filled = 0;
    let turn = 0;
    while (filled < MH_TAB_SIZE) {
      for (let i = 0; i < n && filled < MH_TAB_SIZE; ) {
        if (turns[i]! < 1) {
          i++;
          continue;
        }
        let c = perm[i]!;
        while (taken[c] !== 0) {
          c += skip[i]!;
          if (c >= MH_TAB_SIZE) c -= MH_TAB_SIZE;
        }
        perm[i] = c;
        taken[c] = 1;
        this.lookup[c] = dests[i]!;
        filled++;
        if (++turn >= turns[i]!) {
          turn = 0;
          i++;
        }
      }
    }
  }

  pick(input: SchedInput): Dest | null {
    const port = this.usePort ? hashablePort(input) : 0;
    const addr = input.saddr;
    const ihash = mhHashKey(addr, port, MH_KEY1, 0) % MH_TAB_SIZE;
    const first = this.lookup[ihash] ?? null;
    if (first === null) return null;
    if (!unavailable(first)) return first;
    if (!this.fallback) return null;
    // ip_vs_mh_get_fallback(): rehash with offsets starting at the first slot until an available one.
    for (let offset = 0; offset < MH_TAB_SIZE; offset++) {
      const roffset = (offset + ihash) % MH_TAB_SIZE;
      const dest = this.lookup[mhHashKey(addr, port, MH_KEY1, roffset) % MH_TAB_SIZE] ?? null;
      if (dest === null) break;
      if (!unavailable(dest)) return dest;
    }
    return null;
  }
}
