// The ipvsadm-save text format: rules files are read line by line like `ipvsadm -R` reads stdin, and a
// snapshot is written back exactly as `ipvsadm -S -n` prints it (ipvsadm.c print_service_entry(), sorted by
// libipvs ipvs_cmp_services()/ipvs_cmp_dests() through glibc's qsort).
//
// Differences from `ipvsadm -R`, on purpose:
// - A line whose first non-blank character is `#` is a comment. ipvsadm -R itself rejects such a line (a usage
//   error); its ipvsadm-restore wrapper strips `^#` lines first. uvs rule files are also written by hand.
// - A file applies all-or-nothing: any parse or rule error rejects the whole file and names the line, where
//   ipvsadm -R keeps the lines before a parse error and goes on after a kernel error.

import type { Dest } from '../dest/dest.js';
import { Fwd } from '../dest/dest.js';
import { schedFlagNames } from '../sched/index.js';
import { ipv4ToString } from '../wire/addr.js';
import { RulesError } from './errors.js';
import { parseArgs, toRuleCommand } from './grammar.js';
import {
  type ApplyResult,
  DEFAULT_NETMASK,
  type NumberedCommand,
  type RulesModel,
  type RulesSnapshot,
  type Service,
} from './rules.js';

/** config_stream_read(): words split on blanks, tabs and CRs; the word `ipvsadm` is dropped wherever it is. */
export function splitRuleLine(line: string): string[] {
  return line.split(/[ \t\r]+/).filter((w) => w !== '' && w !== 'ipvsadm');
}

/** Parses a rules file into numbered rule commands; the first bad line rejects the file. */
export function parseRules(text: string, program = 'uvsadm'): NumberedCommand[] {
  const commands: NumberedCommand[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    if (/^[ \t\r]*#/.test(raw)) return;
    const words = splitRuleLine(raw);
    if (words.length === 0) return;
    try {
      commands.push({ line, command: toRuleCommand(parseArgs(words, program)) });
    } catch (err) {
      if (err instanceof RulesError) throw err.atLine(line);
      throw err;
    }
  });
  return commands;
}

/** Parses and applies a rules file to the model, all-or-nothing. */
export function restoreRules(model: RulesModel, text: string, program = 'uvsadm'): ApplyResult {
  return model.applyBatch(parseRules(text, program));
}

/**
 * glibc's qsort (msort.c): a top-down merge sort that splits n into n/2 + the rest and takes from the left
 * run while cmp <= 0. ipvsadm's comparators are not transitive (the address quirk below), so only this
 * exact algorithm reproduces ipvsadm's order; Array.prototype.sort would differ.
 */
export function glibcSort<T>(items: readonly T[], cmp: (a: T, b: T) => number): T[] {
  const a = [...items];
  const tmp = new Array<T>(a.length);
  const sort = (lo: number, n: number): void => {
    if (n <= 1) return;
    const n1 = n >>> 1;
    const n2 = n - n1;
    sort(lo, n1);
    sort(lo + n1, n2);
    let i = lo;
    let j = lo + n1;
    let k = 0;
    const endI = lo + n1;
    const endJ = lo + n;
    while (i < endI && j < endJ) tmp[k++] = cmp(a[i]!, a[j]!) <= 0 ? a[i++]! : a[j++]!;
    while (i < endI) tmp[k++] = a[i++]!;
    // The rest of the right run is already in place.
    for (let m = 0; m < k; m++) a[lo + m] = tmp[m]!;
  };
  sort(0, a.length);
  return a;
}

/**
 * ipvs_cmp_services() for IPv4 address services (fwmark 0, AF_INET): protocol, then address, then port.
 * The address difference is taken in 32 bits and read as a signed int, so addresses 2^31 or more apart
 * compare backwards (192.168.0.1 < 10.0.0.1), as in ipvsadm.
 */
export function compareServices(a: Service, b: Service): number {
  return a.proto - b.proto || (a.addr - b.addr) | 0 || a.port - b.port;
}

/** ipvs_cmp_dests(): address (same signed-int quirk), then port. */
export function compareDests(a: Dest, b: Dest): number {
  return (a.addr - b.addr) | 0 || a.port - b.port;
}

const FWD_SWITCH: Readonly<Record<number, string>> = {
  [Fwd.masq]: '-m',
  [Fwd.tunnel]: '-i',
  [Fwd.local]: '-g',
  [Fwd.route]: '-g',
};

/** `ipvsadm -S -n` of a snapshot: one `-A` line per service followed by its `-a` lines, `\n`-terminated. */
export function formatRules(snapshot: RulesSnapshot): string {
  let out = '';
  for (const svc of glibcSort(snapshot.services, compareServices)) {
    const name = `${svc.proto === 6 ? '-t' : '-u'} ${ipv4ToString(svc.addr)}:${svc.port}`;
    out += `-A ${name} -s ${svc.sched}`;
    if (svc.timeout !== 0) {
      out += ` -p ${svc.timeout}`;
      if (svc.netmask !== DEFAULT_NETMASK) out += ` -M ${ipv4ToString(svc.netmask)}`;
    }
    if (svc.onePacket) out += ' -o';
    if (svc.schedFlags !== 0) out += ` -b ${schedFlagNames(svc.sched, svc.schedFlags).join(',')}`;
    out += '\n';
    for (const d of glibcSort(svc.dests, compareDests)) {
      // Thresholds are not saved (print_service_entry() never prints -x/-y).
      out += `-a ${name} -r ${ipv4ToString(d.addr)}:${d.port} ${FWD_SWITCH[d.fwd]} -w ${d.weight}`;
      // print_tunnel_rule(): uvs tunnels are always IPIP.
      if (d.fwd === Fwd.tunnel) out += ' --tun-type ipip';
      out += '\n';
    }
  }
  return out;
}
