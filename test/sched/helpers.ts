// Builders for scheduler tests: destinations, packet inputs, and the kernel's list order.
import { IpProto } from '../../src/constants.js';
import { Dest, Fwd } from '../../src/dest/dest.js';
import { Stats } from '../../src/dest/stats.js';
import type { SchedInput } from '../../src/sched/types.js';
import { parseIpv4Address } from '../../src/wire/addr.js';

let nextId = 0;

export function ip(text: string): number {
  const addr = parseIpv4Address(text);
  if (addr === undefined) throw new Error(`bad address ${text}`);
  return addr;
}

/** A destination `addr:port` with `weight`; counters start at zero. */
export function dest(addr: string | number, weight = 1, port = 80): Dest {
  return new Dest(nextId++, typeof addr === 'string' ? ip(addr) : addr, port, Fwd.masq, weight, new Stats());
}

export function input(saddr: string, sport = 40000, daddr = '192.168.1.231', dport = 80, proto: number = IpProto.tcp) {
  const packet: SchedInput = { saddr: ip(saddr), sport, daddr: ip(daddr), dport, proto };
  return packet;
}

/** Destinations added in this order end up newest first in the kernel's list (list_add_rcu at the head). */
export function addedInOrder<T>(...dests: T[]): T[] {
  return dests.slice().reverse();
}
