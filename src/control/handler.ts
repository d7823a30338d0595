// One ipvsadm command line run against the in-process IPVS core: what the daemon does with each request
// from uvsadm. Output, messages and exit codes follow ipvsadm 1.31 (process_options(), main()):
// - popt's "Try `prog -h' ..." hint and popt option errors exit 255;
// - ipvsadm's own checks (fail(2, ...)) exit 2;
// - kernel errors print ipvs_strerror()'s text and exit 255;
// - `-L -t VIP:PORT` of a missing service prints "No such service" and exits 1 (list_service()).
//
// A rule this director cannot serve (a VIP none of its interfaces owns, a real server it cannot reach) is
// refused as the kernel refuses a command: its reason on stderr, exit 255. The daemon hands the check in
// (HandlerContext.ruleFit), so the control plane needs nothing of the datapath.
//
// Where uvs differs on purpose: `-R` applies the whole input or nothing (ipvsadm -R keeps the lines before a
// bad one), and its error names the line; a `#` line is a comment there, as in rules files.
//
// A rule change is saved before it is applied (HandlerContext.saveRules): the rules it will make are worked out
// on a copy, with the same checks, written to the state file, and only then applied to the core. A change that
// could not be saved is never live, not even for the length of the failed write.

import { IpProto } from '../constants.js';
import type { IpvsCore } from '../ipvs/core.js';
import { rulesAfter } from '../model/diff.js';
import { kernelMessages, RulesError, RulesErrorCode } from '../model/errors.js';
import { type ParsedCommand, parseArgs, toRuleCommand, tryHelpMessage } from '../model/grammar.js';
import type { NumberedCommand, RuleCommand, RulesSnapshot, Service } from '../model/rules.js';
import { formatRules, parseRules } from '../model/save-format.js';
import { schedulerNames } from '../sched/index.js';
import {
  formatConnections,
  formatListAll,
  formatListService,
  formatSave,
  formatTimeouts,
  IPVS_VERSION,
  type ListFormat,
  type ListSources,
  listFormatOf,
  PLAIN_FORMAT,
} from './format.js';
import { type NameLookup, type NameResolver, NUMERIC_NAMES, RecordingNames, systemResolver } from './names.js';
import { DEFAULT_SOCKET_PATH } from './protocol.js';
import type { StatsBook } from './stats-book.js';

/** What a command printed and how it ended; `rulesChanged` tells the daemon to save its state file. */
export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  rulesChanged: boolean;
}

export interface HandlerContext {
  /** argv[0] of the messages ("Try `uvsadm -h' ..."). */
  readonly program?: string;
  /** The datapath's clock, in the core's ticks: the expiry column of -c counts from it. */
  readonly now: () => number;
  /** Rate estimators of the services and destinations: --stats, --rate and -Z. Without it counters read 0. */
  readonly stats?: StatsBook;
  /** Name resolution for listings without -n (default: /etc/services, /etc/hosts, reverse DNS, 1 s). */
  readonly resolver?: NameResolver;
  /** The size printed in the version line (default: the connection table's bucket count; see format.ts). */
  readonly tableSize?: number;
  /** Why a rule change cannot work on this director, or null when it can (default: every rule fits). */
  readonly ruleFit?: RuleFitCheck;
  /**
   * Saves the rules a change will make (the state file), before the change is applied; throws when it could
   * not, and the change is then refused. Without it changes are applied unsaved.
   */
  readonly saveRules?: (next: RulesSnapshot) => Promise<void>;
}

/** The director's rule-fit check: the reason a rule change cannot work there, or null. */
export type RuleFitCheck = (command: RuleCommand) => string | null;

const KERNEL_CODES: ReadonlySet<string> = new Set(Object.keys(kernelMessages));

/** The exit status ipvsadm gives the same mistake. */
export function exitCodeOf(err: RulesError, program: string): number {
  if (err.code === RulesErrorCode.usage) return err.reason === tryHelpMessage(program) ? 255 : 2;
  // popt's own errors (unknown option, missing argument): process_options() returns -1.
  if (err.code === RulesErrorCode.badOption) return 255;
  if (KERNEL_CODES.has(err.code) || err.code === RulesErrorCode.doesNotFit) return 255;
  return 2;
}

/** Refuses the whole batch at its first rule that cannot work on this director, naming its line when numbered. */
function checkFit(commands: readonly NumberedCommand[], ruleFit: RuleFitCheck | undefined, numbered: boolean): void {
  if (ruleFit === undefined) return;
  commands.forEach(({ line, command }, index) => {
    const misfit = ruleFit(command);
    if (misfit === null) return;
    const err = new RulesError(RulesErrorCode.doesNotFit, misfit);
    throw numbered ? err.atLine(line ?? index + 1) : err;
  });
}

function ok(stdout: string, rulesChanged = false): CommandResult {
  return { stdout, stderr: '', exitCode: 0, rulesChanged };
}

function failed(message: string, exitCode: number): CommandResult {
  return { stdout: '', stderr: `${message}\n`, exitCode, rulesChanged: false };
}

/** usage_exit(): ipvsadm's help, with uvs's schedulers and without persistence engines. */
export function usageText(program: string): string {
  const p = program;
  return `${versionText(p)}Usage:
  ${p} -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]
  ${p} -D virtual-service
  ${p} -C
  ${p} -R
  ${p} -S [-n]
  ${p} -a|e virtual-service -r server-address [options]
  ${p} -d virtual-service -r server-address
  ${p} -L|l [virtual-service] [options]
  ${p} -Z [virtual-service]
  ${p} --set tcp tcpfin udp
  ${p} --start-daemon {master|backup} [daemon-options]
  ${p} --stop-daemon {master|backup}
  ${p} -h

Commands:
Either long or short options are allowed.
  --add-service     -A        add virtual service with options
  --edit-service    -E        edit virtual service with options
  --delete-service  -D        delete virtual service
  --clear           -C        clear the whole table
  --restore         -R        restore rules from stdin
  --save            -S        save rules to stdout
  --add-server      -a        add real server with options
  --edit-server     -e        edit real server with options
  --delete-server   -d        delete real server
  --list            -L|-l     list the table
  --zero            -Z        zero counters in a service or all services
  --set tcp tcpfin udp        set connection timeout values
  --start-daemon              start connection sync daemon (not in uvs)
  --stop-daemon               stop connection sync daemon (not in uvs)
  --help            -h        display this help message

virtual-service:
  --tcp-service|-t  service-address   service-address is host[:port]
  --udp-service|-u  service-address   service-address is host[:port]
  --sctp-service    service-address   service-address is host[:port] (not in uvs)
  --fwmark-service|-f fwmark          fwmark is an integer greater than zero (not in uvs)

Options:
  --ipv6         -6                   fwmark entry uses IPv6 (not in uvs)
  --scheduler    -s scheduler         one of ${schedulerNames.join('|')},
                                      the default scheduler is wlc.
  --pe            engine              alternate persistence engine (none in uvs),
                                      not set by default.
  --persistent   -p [timeout]         persistent service
  --netmask      -M netmask           persistent granularity mask
  --real-server  -r server-address    server-address is host (and port)
  --gatewaying   -g                   gatewaying (direct routing) (default)
  --ipip         -i                   ipip encapsulation (tunneling)
  --masquerading -m                   masquerading (NAT)
  --tun-type      type                one of ipip|gue|gre (uvs: ipip),
                                      the default tunnel type is ipip.
  --tun-port      port                tunnel destination port
  --tun-nocsum                        tunnel encapsulation without checksum
  --tun-csum                          tunnel encapsulation with checksum
  --tun-remcsum                       tunnel encapsulation with remote checksum
  --weight       -w weight            capacity of real server
  --u-threshold  -x uthreshold        upper threshold of connections
  --l-threshold  -y lthreshold        lower threshold of connections
  --connection   -c                   output of current IPVS connections
  --timeout                           output of timeout (tcp tcpfin udp)
  --daemon                            output of daemon information
  --stats                             output of statistics information
  --rate                              output of rate information
  --exact                             expand numbers (display exact values)
  --thresholds                        output of thresholds information
  --persistent-conn                   output of persistent connection info
  --tun-info                          output of tunnel information
  --nosort                            disable sorting output of service/server entries
  --sort                              does nothing, for backwards compatibility
  --ops          -o                   one-packet scheduling
  --numeric      -n                   numeric output of addresses and ports
  --sched-flags  -b flags             scheduler flags (comma-separated)
Daemon Options:
  --syncid sid                        syncid for connection sync (default=255)
  --sync-maxlen length                Max sync message length (default=1472)
  --mcast-interface interface         multicast interface for connection sync
  --mcast-group address               IPv4/IPv6 group (default=224.0.0.81)
  --mcast-port port                   UDP port (default=8848)
  --mcast-ttl ttl                     Multicast TTL (default=1)
uvs Options:
  --socket PATH                       the uvs daemon's control socket (default:
                                      $UVS_SOCKET, else ${DEFAULT_SOCKET_PATH})
`;
}

/** version(): ipvsadm prints `ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)`. */
export function versionText(program: string): string {
  return `${program} (uvs, ipvsadm v1.31 compatible) (IPVS v${IPVS_VERSION})\n`;
}

/** Runs a listing twice when names are wanted: once to learn what it prints, once with the names resolved. */
async function withNames(
  numeric: boolean,
  resolver: NameResolver,
  render: (names: NameLookup) => string,
): Promise<string> {
  if (numeric) return render(NUMERIC_NAMES);
  const recording = new RecordingNames();
  render(recording);
  if (recording.addrs.size === 0 && recording.ports.size === 0) return render(NUMERIC_NAMES);
  return render(await resolver(recording.addrs, recording.ports));
}

/** The service named by -t/-u, if uvs has it (uvs has no fwmark or SCTP services, so those never match). */
function findService(core: IpvsCore, parsed: ParsedCommand): Service | undefined {
  const spec = parsed.service;
  if (spec === undefined || spec.fwmark !== 0 || (spec.proto !== IpProto.tcp && spec.proto !== IpProto.udp)) {
    return undefined;
  }
  return core.rules.snapshot.find({ proto: spec.proto, addr: spec.addr, port: spec.port });
}

/**
 * Runs one ipvsadm command line (without the program name) against `core`. `stdin` is read by -R only.
 * Rule changes go through core.applyRules(), so a failing command changes nothing.
 */
export async function executeCommand(
  core: IpvsCore,
  argv: readonly string[],
  stdin: string,
  ctx: HandlerContext,
): Promise<CommandResult> {
  const program = ctx.program ?? 'uvsadm';
  const resolver = ctx.resolver ?? systemResolver();
  ctx.stats?.sync(core.rules.snapshot);
  const sources = (names: NameLookup): ListSources => ({
    names,
    readStats: (stats, out) => (ctx.stats ? ctx.stats.read(stats, out) : out),
  });
  const tableSize = ctx.tableSize ?? core.conns.bucketCount;

  // main(): no arguments lists everything, with names.
  if (argv.length === 0) {
    const snapshot = core.rules.snapshot;
    return ok(await withNames(false, resolver, (n) => formatListAll(snapshot, tableSize, PLAIN_FORMAT, sources(n))));
  }

  let parsed: ParsedCommand;
  try {
    parsed = parseArgs(argv, program);
  } catch (err) {
    if (err instanceof RulesError) return failed(err.message, exitCodeOf(err, program));
    throw err;
  }
  const { command, options } = parsed;

  try {
    switch (command) {
      case 'help':
        return ok(usageText(program));
      case 'version':
        return ok(versionText(program));
      case 'list':
        return await list(core, parsed, ctx, resolver, sources, tableSize);
      case 'save': {
        const snapshot = core.rules.snapshot;
        if (options.has('numeric')) return ok(formatRules(snapshot));
        return ok(await withNames(false, resolver, (n) => formatSave(snapshot, n)));
      }
      case 'restore': {
        const commands = parseRules(stdin, program);
        if (commands.length === 0) return ok('');
        checkFit(commands, ctx.ruleFit, true);
        return await saveThenApply(core, commands, ctx);
      }
      case 'zero':
        return zero(core, parsed, ctx);
      case 'start-daemon':
      case 'stop-daemon':
        return failed('uvs has no connection synchronisation daemon', 2);
      default: {
        const command = toRuleCommand(parsed);
        checkFit([{ command }], ctx.ruleFit, false);
        return await saveThenApply(core, command, ctx);
      }
    }
  } catch (err) {
    if (err instanceof RulesError) return failed(err.message, exitCodeOf(err, program));
    throw err;
  }
}

/**
 * Saves the rules `commands` will make, then applies them. The copy refuses a bad change with the error the core
 * would give, before anything is written; a failed save leaves the running rules as they were.
 */
async function saveThenApply(
  core: IpvsCore,
  commands: RuleCommand | readonly NumberedCommand[],
  ctx: HandlerContext,
): Promise<CommandResult> {
  if (ctx.saveRules !== undefined) {
    const next = rulesAfter(core.rules.snapshot, commands);
    try {
      await ctx.saveRules(next);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      return failed(`uvs: the state file could not be saved, so the change was not applied: ${reason}`, 2);
    }
  }
  core.applyRules(commands);
  ctx.stats?.sync(core.rules.snapshot);
  return ok('', true);
}

async function list(
  core: IpvsCore,
  parsed: ParsedCommand,
  ctx: HandlerContext,
  resolver: NameResolver,
  sources: (names: NameLookup) => ListSources,
  tableSize: number,
): Promise<CommandResult> {
  const o = parsed.options;
  const has = (...names: Parameters<typeof o.has>[0][]) => names.some((n) => o.has(n));
  if (
    (has('connection', 'timeout', 'daemon') && has('stats', 'rate', 'thresholds')) ||
    (has('timeout', 'daemon') && has('persistent-conn'))
  ) {
    return failed('options conflicts in the list command', 2);
  }
  const f: ListFormat = listFormatOf(o);
  if (o.has('connection')) {
    const now = ctx.now();
    return ok(await withNames(f.numeric, resolver, (n) => formatConnections(core.conns, now, f, n)));
  }
  if (o.has('service-address')) {
    const svc = findService(core, parsed);
    if (svc === undefined) return failed(kernelMessages.noSuchService, 1);
    return ok(await withNames(f.numeric, resolver, (n) => formatListService(svc, f, sources(n))));
  }
  if (o.has('timeout')) return ok(formatTimeouts(core.rules.snapshot.timeouts));
  // uvs runs no sync daemon, so list_daemon() has nothing to print.
  if (o.has('daemon')) return ok('');
  const snapshot = core.rules.snapshot;
  return ok(await withNames(f.numeric, resolver, (n) => formatListAll(snapshot, tableSize, f, sources(n))));
}

/** ip_vs_zero_service() / ip_vs_zero_all(): a service's counters and its destinations', or everything's. */
function zero(core: IpvsCore, parsed: ParsedCommand, ctx: HandlerContext): CommandResult {
  const snapshot = core.rules.snapshot;
  let services: readonly Service[] = snapshot.services;
  if (parsed.service !== undefined) {
    const svc = findService(core, parsed);
    if (svc === undefined) return failed(kernelMessages.noSuchService, 255);
    services = [svc];
  }
  for (const svc of services) {
    ctx.stats?.zero(svc.stats);
    for (const d of svc.dests) ctx.stats?.zero(d.stats);
  }
  return ok('');
}
