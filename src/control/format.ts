// ipvsadm's listings, character for character: pure functions from a rules snapshot (and the connection
// table, for -c) to the text `ipvsadm -L` prints, following ipvsadm.c 1.31 print_title(),
// print_service_entry(), print_largenum(), list_all(), list_service(), list_timeout() and list_conn().
// Every column keeps ipvsadm's printf width, so lines end in the same trailing blanks.
//
// The version line's size: the kernel prints its connection hash table's bucket count (ip_vs_conn_tab_size,
// 2^conn_tab_bits, 4096 by default). uvs prints its own connection table's bucket count, the same quantity,
// because the number is there to tell an operator how the table is sized; a made-up 4096 would mislead
// exactly the people who read it. A table of 4096 entries (or fewer, down to 2049) prints 4096, the value
// the seed tutorial shows.

import type { ConnTable } from '../conn/table.js';
import { type Dest, Fwd, fwdNames } from '../dest/dest.js';
import type { Stats } from '../dest/stats.js';
import { emptyReadout, type StatsReadout } from '../ipvs/estimator.js';
import type { OptionName } from '../model/grammar.js';
import { DEFAULT_NETMASK, protoName, type RulesSnapshot, type Service, type Timeouts } from '../model/rules.js';
import { compareDests, compareServices, glibcSort } from '../model/save-format.js';
import { SCHED_FLAGS_MASK, schedFlagNames } from '../sched/index.js';
import { ipv4ToString } from '../wire/addr.js';
import type { NameLookup } from './names.js';

/** IP_VS_VERSION_CODE 0x010201. */
export const IPVS_VERSION = '1.2.1';

/** ipvsadm's FMT_* bits, as booleans. */
export interface ListFormat {
  readonly numeric: boolean;
  readonly exact: boolean;
  readonly stats: boolean;
  readonly rate: boolean;
  readonly thresholds: boolean;
  readonly persistentConn: boolean;
  readonly tunInfo: boolean;
  readonly nosort: boolean;
}

export const PLAIN_FORMAT: ListFormat = Object.freeze({
  numeric: false,
  exact: false,
  stats: false,
  rate: false,
  thresholds: false,
  persistentConn: false,
  tunInfo: false,
  nosort: false,
});

/** The format bits parse_options() sets from the options given. */
export function listFormatOf(options: ReadonlySet<OptionName>): ListFormat {
  return {
    numeric: options.has('numeric'),
    exact: options.has('exact'),
    stats: options.has('stats'),
    rate: options.has('rate'),
    thresholds: options.has('thresholds'),
    persistentConn: options.has('persistent-conn'),
    tunInfo: options.has('tun-info'),
    nosort: options.has('nosort'),
  };
}

/** Where the counters and rates of a Stats come from (the estimators; see StatsBook). */
export type StatsReader = (stats: Stats, out: StatsReadout) => StatsReadout;

/** Everything a listing reads besides the rules themselves. */
export interface ListSources {
  readonly names: NameLookup;
  readonly readStats: StatsReader;
}

/** printf's `%-Ns` / `%-Nu`: left-justified, never cut. */
function left(value: string | number, width: number): string {
  return String(value).padEnd(width);
}

/** printf's `%Ns` / `%Nllu`: right-justified, never cut. */
function right(value: string | number, width: number): string {
  return String(value).padStart(width);
}

/**
 * print_largenum(): `--exact` prints `%*llu` in max(9, digits + 1) columns; otherwise 9 columns, with values
 * from 10^8 up shown in thousands (K), millions (M), billions (G) or trillions (T), truncated.
 */
export function printLargenum(n: number, exact: boolean): string {
  if (exact) {
    const digits = String(n);
    return right(digits, digits.length <= 8 ? 9 : digits.length + 1);
  }
  if (n < 1e8) return right(n, 9);
  if (n < 1e9) return `${right(Math.floor(n / 1e3), 8)}K`;
  if (n < 1e11) return `${right(Math.floor(n / 1e6), 8)}M`;
  if (n < 1e14) return `${right(Math.floor(n / 1e9), 8)}G`;
  return `${right(Math.floor(n / 1e12), 8)}T`;
}

/** `IP Virtual Server version 1.2.1 (size=N)`, printed by list_all() only. */
export function formatVersionLine(tableSize: number): string {
  return `IP Virtual Server version ${IPVS_VERSION} (size=${tableSize})\n`;
}

/** print_title(); nothing for the rules (-S) format. */
export function formatTitle(f: ListFormat): string {
  const prot = left('Prot LocalAddress:Port', 33);
  const sub = '  -> RemoteAddress:Port\n';
  if (f.stats)
    return `${prot} ${['Conns', 'InPkts', 'OutPkts', 'InBytes', 'OutBytes'].map((h) => right(h, 8)).join(' ')}\n${sub}`;
  if (f.rate)
    return `${prot} ${['CPS', 'InPPS', 'OutPPS', 'InBPS', 'OutBPS'].map((h) => right(h, 8)).join(' ')}\n${sub}`;
  if (f.thresholds) {
    return `${prot} ${left('Uthreshold', 10)} ${left('Lthreshold', 10)} ${left('ActiveConn', 10)} ${left('InActConn', 10)}\n${sub}`;
  }
  if (f.persistentConn) {
    return `${prot} ${left('Weight', 9)} ${left('PersistConn', 11)} ${left('ActiveConn', 10)} ${left('InActConn', 10)}\n${sub}`;
  }
  if (f.tunInfo) {
    return 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n';
  }
  return 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n';
}

/** addrport_to_anyname(). */
function addrPort(names: NameLookup, addr: number, port: number, proto: number): string {
  return `${names.host(addr)}:${names.service(port, proto)}`;
}

/** libipvs parses destination stats with the 32-bit parser: everything but the byte counters wraps at 2^32. */
function low32(n: number): number {
  return n % 0x100000000;
}

function largenums(values: readonly number[], exact: boolean): string {
  return values.map((v) => printLargenum(v, exact)).join('');
}

/** One service and its destinations in a -L format (print_service_entry() without FMT_RULE). */
export function formatServiceEntry(svc: Service, f: ListFormat, src: ListSources): string {
  const { names } = src;
  // `%-4s %s`, cut at 33 characters for IPv4.
  const svcName = `${left(protoName(svc.proto), 4)} ${addrPort(names, svc.addr, svc.port, svc.proto)}`.slice(0, 33);
  const r = emptyReadout();
  let out: string;
  if (f.stats) {
    src.readStats(svc.stats, r);
    out = left(svcName, 33) + largenums([r.conns, r.inPkts, r.outPkts, r.inBytes, r.outBytes], f.exact);
  } else if (f.rate) {
    src.readStats(svc.stats, r);
    out = left(svcName, 33) + largenums([r.cps, r.inPps, r.outPps, r.inBps, r.outBps], f.exact);
  } else {
    out = `${svcName} ${svc.sched}`;
    if (svc.schedFlags & SCHED_FLAGS_MASK) out += ` (${schedFlagNames(svc.sched, svc.schedFlags).join(',')})`;
    if (svc.timeout !== 0) {
      out += ` persistent ${svc.timeout}`;
      if (svc.netmask !== DEFAULT_NETMASK) out += ` mask ${ipv4ToString(svc.netmask)}`;
    }
    if (svc.onePacket) out += ' ops';
  }
  out += '\n';
  const dests = f.nosort ? svc.dests : glibcSort(svc.dests, compareDests);
  for (const d of dests) out += formatDestLine(d, svc.proto, f, src, r);
  return out;
}

function formatDestLine(d: Dest, proto: number, f: ListFormat, src: ListSources, r: StatsReadout): string {
  // Cut at 28 characters for IPv4, then printed `%-28s`.
  const name = addrPort(src.names, d.addr, d.port, proto).slice(0, 28);
  const head = `  -> ${left(name, 28)}`;
  if (f.stats) {
    src.readStats(d.stats, r);
    return `${head}${largenums([low32(r.conns), low32(r.inPkts), low32(r.outPkts), r.inBytes, r.outBytes], f.exact)}\n`;
  }
  if (f.rate) {
    src.readStats(d.stats, r);
    // CPS and the PPS columns are printed raw (`%8llu`), never scaled; only the BPS columns go through
    // print_largenum().
    const raw = [r.cps, r.inPps, r.outPps].map((v) => right(low32(v), 8)).join(' ');
    return `${head} ${raw}${largenums([low32(r.inBps), low32(r.outBps)], f.exact)}\n`;
  }
  if (f.thresholds) {
    return `${head} ${left(d.uThreshold, 10)} ${left(d.lThreshold, 10)} ${left(d.activeConns, 10)} ${left(d.inactConns, 10)}\n`;
  }
  if (f.persistentConn) {
    return `${head} ${left(d.weight, 9)} ${left(d.persistConns, 11)} ${left(d.activeConns, 10)} ${left(d.inactConns, 10)}\n`;
  }
  const fwd = left(fwdNames[d.fwd], 7);
  if (f.tunInfo) {
    // fwd_tun_info(): uvs tunnels are always IPIP; other methods print NA.
    const info = d.fwd === Fwd.tunnel ? 'ipip' : 'n/a';
    return `${head} ${fwd} ${left(info, 13)} ${left(d.weight, 6)} ${left(d.activeConns, 10)} ${left(d.inactConns, 10)}\n`;
  }
  return `${head} ${fwd} ${left(d.weight, 6)} ${left(d.activeConns, 10)} ${left(d.inactConns, 10)}\n`;
}

function sortedServices(snapshot: RulesSnapshot, nosort: boolean): readonly Service[] {
  return nosort ? snapshot.services : glibcSort(snapshot.services, compareServices);
}

/** list_all(): the version line, the title and every service. */
export function formatListAll(snapshot: RulesSnapshot, tableSize: number, f: ListFormat, src: ListSources): string {
  let out = formatVersionLine(tableSize) + formatTitle(f);
  for (const svc of sortedServices(snapshot, f.nosort)) out += formatServiceEntry(svc, f, src);
  return out;
}

/** list_service(): `-L -t VIP:PORT` prints the title and that service, no version line. */
export function formatListService(svc: Service, f: ListFormat, src: ListSources): string {
  return formatTitle(f) + formatServiceEntry(svc, f, src);
}

/** list_timeout(). */
export function formatTimeouts(t: Timeouts): string {
  return `Timeout (tcp tcpfin udp): ${t.tcp} ${t.tcpFin} ${t.udp}\n`;
}

const RULE_FWD_SWITCH: Readonly<Record<number, string>> = {
  [Fwd.masq]: '-m',
  [Fwd.tunnel]: '-i',
  [Fwd.local]: '-g',
  [Fwd.route]: '-g',
};

/**
 * `ipvsadm -S` (print_service_entry() with FMT_RULE): with NUMERIC_NAMES this is `-S -n`, the text
 * formatRules() writes; without, addresses and ports print as names, uncut.
 */
export function formatSave(snapshot: RulesSnapshot, names: NameLookup): string {
  let out = '';
  for (const svc of glibcSort(snapshot.services, compareServices)) {
    const svcName = `${svc.proto === 6 ? '-t' : '-u'} ${addrPort(names, svc.addr, svc.port, svc.proto)}`;
    out += `-A ${svcName} -s ${svc.sched}`;
    if (svc.timeout !== 0) {
      out += ` -p ${svc.timeout}`;
      if (svc.netmask !== DEFAULT_NETMASK) out += ` -M ${ipv4ToString(svc.netmask)}`;
    }
    if (svc.onePacket) out += ' -o';
    if (svc.schedFlags & SCHED_FLAGS_MASK) out += ` -b ${schedFlagNames(svc.sched, svc.schedFlags).join(',')}`;
    out += '\n';
    for (const d of glibcSort(svc.dests, compareDests)) {
      out += `-a ${svcName} -r ${addrPort(names, d.addr, d.port, svc.proto)} ${RULE_FWD_SWITCH[d.fwd]} -w ${d.weight}`;
      if (d.fwd === Fwd.tunnel) out += ' --tun-type ipip';
      out += '\n';
    }
  }
  return out;
}

/** The protocol column of -c: /proc/net/ip_vs_conn's ip_vs_proto_name(). */
function connProtoName(proto: number): string {
  return proto === 0 ? 'IP' : protoName(proto);
}

/**
 * list_conn(): every live entry (templates included) in table order, like the kernel's hash order. Expiry is
 * the whole seconds left, `(expires - now) / HZ` truncated, printed `mm:ss`. uvs has no persistence engines,
 * so with `--persistent-conn` only the header grows (the proc lines carry no PE data).
 */
export function formatConnections(conns: ConnTable, now: number, f: ListFormat, names: NameLookup): string {
  let out = 'IPVS connection entries\n';
  out += f.persistentConn
    ? `pro expire ${left('state', 11)} ${left('source', 18)} ${left('virtual', 18)} ${left('destination', 18)} ${left('pe name', 16)} pe_data\n`
    : `pro expire ${left('state', 11)} ${left('source', 18)} ${left('virtual', 18)} destination\n`;
  for (let i = 0; i < conns.capacity; i++) {
    if (!conns.isLive(i)) continue;
    const left_ = conns.expiresOf(i) - now;
    // An expired entry the sweep has not reclaimed yet: the kernel's timer would already have removed it.
    if (left_ <= 0) continue;
    const secs = Math.floor(left_ / conns.ticksPerSecond);
    const expire = `${String(Math.floor(secs / 60)).padStart(2, '0')}:${String(secs % 60).padStart(2, '0')}`;
    const proto = conns.protoOf(i);
    const source = addrPort(names, conns.caddrOf(i), conns.cportOf(i), proto);
    const virtual = addrPort(names, conns.vaddrOf(i), conns.vportOf(i), proto);
    const destination = addrPort(names, conns.daddrOf(i), conns.dportOf(i), proto);
    out += `${left(connProtoName(proto), 3)} ${left(expire, 6)} ${left(conns.stateName(i), 11)} ${left(source, 18)} ${left(virtual, 18)} ${destination}\n`;
  }
  return out;
}
