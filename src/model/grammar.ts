// ipvsadm's command grammar as data: the option table (names, arity, what each sets) and the table of which
// options each command accepts (ipvsadm.c commands_v_options), plus the value checks and messages of
// parse_options()/process_options(). Both `uvsadm`'s argv and the lines of a rules file go through parseArgs()
// here; toRuleCommand() turns the result into a rules-model command.
//
// Why not node:util parseArgs: ipvsadm's `-p` takes an OPTIONAL argument (`-p`, `-p 600`, `-p600`,
// `--persistent=600`), which parseArgs cannot express (an option is either boolean or requires a value);
// `-L` and `-l` are two short names of one long option, while parseArgs allows one; and ipvsadm's meaning
// depends on option order and repetition (the first option must be the command, `-6` must follow `-f`, `-r`
// without a port copies the service port seen so far, a repeated option is an error), which needs the raw
// occurrences in order. So this is a small popt-style scanner driven by OPTIONS below.
import { IpProto } from '../constants.js';
import { Fwd, type FwdMethod } from '../dest/dest.js';
import { parseSchedFlags } from '../sched/index.js';
import { parseIpv4Address } from '../wire/addr.js';
import { RulesError, RulesErrorCode } from './errors.js';
import {
  DEFAULT_NETMASK,
  DEFAULT_PERSISTENT_TIMEOUT,
  DEFAULT_SCHEDULER,
  DEFAULT_WEIGHT,
  MAX_TIMEOUT,
  type RuleCommand,
  type ServiceId,
} from './rules.js';

/** ipvsadm's command names (cmdnames[]), in the order of the rows of LEGAL_OPTIONS. */
export const COMMAND_NAMES = [
  'add-service',
  'edit-service',
  'delete-service',
  'flush',
  'list',
  'add-server',
  'delete-server',
  'edit-server',
  'set',
  'start-daemon',
  'stop-daemon',
  'restore',
  'save',
  'zero',
] as const;
export type CommandName = (typeof COMMAND_NAMES)[number] | 'help' | 'version';

/** ipvsadm's option classes (optnames[]), in the order of the columns of LEGAL_OPTIONS. */
export const OPTION_NAMES = [
  'numeric',
  'connection',
  'service-address',
  'scheduler',
  'persistent',
  'netmask',
  'real-server',
  'forwarding-method',
  'weight',
  'u-threshold',
  'l-threshold',
  'mcast-interface',
  'timeout',
  'daemon',
  'stats',
  'rate',
  'thresholds',
  'persistent-conn',
  'nosort',
  'syncid',
  'exact',
  'ops',
  'pe',
  'sched-flags',
  'mcast-group',
  'mcast-port',
  'mcast-ttl',
  'sync-maxlen',
  'tun-info',
  'tun-type',
  'tun-port',
  'tun-nocsum',
  'tun-csum',
  'tun-remcsum',
] as const;
export type OptionName = (typeof OPTION_NAMES)[number];

/**
 * ipvsadm.c commands_v_options, one string per command, one character per OPTION_NAMES column:
 * '+' compulsory, 'x' illegal, '1' at most one of the '1' options, ' ' optional.
 */
export const LEGAL_OPTIONS: Readonly<Record<(typeof COMMAND_NAMES)[number], string>> = {
  'add-service': 'xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx',
  'edit-service': 'xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx',
  'delete-service': 'xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  flush: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  list: ' 11xxxxxxxxx11       xxxxxxx xxxxx',
  'add-server': 'xx+xxx+    xxxxxxxxxxxxxxxxxx     ',
  'delete-server': 'xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxx',
  'edit-server': 'xx+xxx+    xxxxxxxxxxxxxxxxxx     ',
  set: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  'start-daemon': 'xxxxxxxxxxx xxxxxxx xxxx    xxxxxx',
  'stop-daemon': 'xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxx',
  restore: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  save: ' xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  zero: 'xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
};

type Arity = 'none' | 'required' | 'optional';

/** What one spelling of an option does. */
type Effect =
  | { readonly command: CommandName }
  | { readonly service: 'tcp' | 'udp' | 'sctp' | 'fwmark' }
  | { readonly fwd: FwdMethod }
  | { readonly option: OptionName }
  | { readonly flag: 'ipv6' | 'sort' };

export interface OptionSpec {
  readonly long: string;
  readonly short: readonly string[];
  readonly arity: Arity;
  readonly effect: Effect;
}

const opt = (long: string, short: string, arity: Arity, effect: Effect): OptionSpec => ({
  long,
  short: [...short],
  arity,
  effect,
});

/** ipvsadm's popt option table (parse_options()). */
export const OPTIONS: readonly OptionSpec[] = [
  opt('add-service', 'A', 'none', { command: 'add-service' }),
  opt('edit-service', 'E', 'none', { command: 'edit-service' }),
  opt('delete-service', 'D', 'none', { command: 'delete-service' }),
  opt('clear', 'C', 'none', { command: 'flush' }),
  opt('list', 'Ll', 'none', { command: 'list' }),
  opt('zero', 'Z', 'none', { command: 'zero' }),
  opt('add-server', 'a', 'none', { command: 'add-server' }),
  opt('edit-server', 'e', 'none', { command: 'edit-server' }),
  opt('delete-server', 'd', 'none', { command: 'delete-server' }),
  opt('set', '', 'none', { command: 'set' }),
  opt('help', 'h', 'none', { command: 'help' }),
  opt('version', 'v', 'none', { command: 'version' }),
  opt('restore', 'R', 'none', { command: 'restore' }),
  opt('save', 'S', 'none', { command: 'save' }),
  opt('start-daemon', '', 'required', { command: 'start-daemon' }),
  opt('stop-daemon', '', 'required', { command: 'stop-daemon' }),
  opt('tcp-service', 't', 'required', { service: 'tcp' }),
  opt('udp-service', 'u', 'required', { service: 'udp' }),
  opt('sctp-service', '', 'required', { service: 'sctp' }),
  opt('fwmark-service', 'f', 'required', { service: 'fwmark' }),
  opt('scheduler', 's', 'required', { option: 'scheduler' }),
  opt('persistent', 'p', 'optional', { option: 'persistent' }),
  opt('netmask', 'M', 'required', { option: 'netmask' }),
  opt('real-server', 'r', 'required', { option: 'real-server' }),
  opt('masquerading', 'm', 'none', { fwd: Fwd.masq }),
  opt('ipip', 'i', 'none', { fwd: Fwd.tunnel }),
  opt('gatewaying', 'g', 'none', { fwd: Fwd.route }),
  opt('weight', 'w', 'required', { option: 'weight' }),
  opt('u-threshold', 'x', 'required', { option: 'u-threshold' }),
  opt('l-threshold', 'y', 'required', { option: 'l-threshold' }),
  opt('numeric', 'n', 'none', { option: 'numeric' }),
  opt('connection', 'c', 'none', { option: 'connection' }),
  opt('mcast-interface', '', 'required', { option: 'mcast-interface' }),
  opt('syncid', '', 'required', { option: 'syncid' }),
  opt('timeout', '', 'none', { option: 'timeout' }),
  opt('daemon', '', 'none', { option: 'daemon' }),
  opt('stats', '', 'none', { option: 'stats' }),
  opt('rate', '', 'none', { option: 'rate' }),
  opt('thresholds', '', 'none', { option: 'thresholds' }),
  opt('persistent-conn', '', 'none', { option: 'persistent-conn' }),
  opt('nosort', '', 'none', { option: 'nosort' }),
  opt('sort', '', 'none', { flag: 'sort' }),
  opt('exact', 'X', 'none', { option: 'exact' }),
  opt('ipv6', '6', 'none', { flag: 'ipv6' }),
  opt('ops', 'o', 'none', { option: 'ops' }),
  opt('pe', '', 'required', { option: 'pe' }),
  opt('sched-flags', 'b', 'required', { option: 'sched-flags' }),
  opt('mcast-group', '', 'required', { option: 'mcast-group' }),
  opt('mcast-port', '', 'required', { option: 'mcast-port' }),
  opt('mcast-ttl', '', 'required', { option: 'mcast-ttl' }),
  opt('sync-maxlen', '', 'required', { option: 'sync-maxlen' }),
  opt('tun-info', '', 'none', { option: 'tun-info' }),
  opt('tun-type', '', 'required', { option: 'tun-type' }),
  opt('tun-port', '', 'required', { option: 'tun-port' }),
  opt('tun-nocsum', '', 'none', { option: 'tun-nocsum' }),
  opt('tun-csum', '', 'none', { option: 'tun-csum' }),
  opt('tun-remcsum', '', 'none', { option: 'tun-remcsum' }),
];

const byLong = new Map(OPTIONS.map((o) => [o.long, o]));
const byShort = new Map(OPTIONS.flatMap((o) => o.short.map((s) => [s, o] as const)));

/** IP_VS_CONN_F_TUNNEL_TYPE_* and the names ipvsadm gives them. */
export const TUNNEL_TYPES = ['ipip', 'gue', 'gre'] as const;
export type TunnelType = (typeof TUNNEL_TYPES)[number];
/** IP_VS_TUNNEL_ENCAP_FLAG_* bits. */
export const TunFlag = { nocsum: 0, csum: 1, remcsum: 2 } as const;

/** The virtual service named on the command line: an address service or a firewall mark. */
export interface ServiceSpec {
  /** 0 for an address service. */
  readonly fwmark: number;
  /** IpProto value; TCP for a fwmark service, as ipvsadm sets it. */
  readonly proto: number;
  readonly addr: number;
  readonly port: number;
  /** `-f MARK -6`. */
  readonly ipv6: boolean;
}

export interface DestSpec {
  readonly addr: number;
  readonly port: number;
  readonly fwd: FwdMethod;
  readonly weight: number;
  readonly uThreshold: number;
  readonly lThreshold: number;
  readonly tunType: TunnelType;
  readonly tunPort: number;
  readonly tunFlags: number;
}

export interface DaemonSpec {
  readonly state: 'master' | 'backup' | '';
  readonly mcastInterface: string;
  readonly syncId: number;
  readonly mcastGroup: number;
  readonly mcastPort: number;
  readonly mcastTtl: number;
  readonly syncMaxLen: number;
}

/** Everything an ipvsadm command line says (struct ipvs_command_entry plus the options and format seen). */
export interface ParsedCommand {
  readonly command: CommandName;
  /** The option classes given, for legality checks and for list formatting. */
  readonly options: ReadonlySet<OptionName>;
  readonly service: ServiceSpec | undefined;
  /** The -s name; for -A/-E filled with wlc when absent. */
  readonly sched: string;
  readonly schedFlags: number;
  /** Persistence timeout; 0 = not persistent. */
  readonly timeout: number;
  readonly netmask: number;
  readonly onePacket: boolean;
  /** --pe name, '' if none. */
  readonly pe: string;
  readonly dest: DestSpec | undefined;
  /** --set tcp tcpfin udp. */
  readonly timeouts: { readonly tcp: number; readonly tcpFin: number; readonly udp: number } | undefined;
  readonly daemon: DaemonSpec;
}

const usageError = (reason: string) => new RulesError(RulesErrorCode.usage, reason);
const valueError = (reason: string) => new RulesError(RulesErrorCode.badValue, reason);

/** The hint ipvsadm prints (and exits 255) when the command line cannot be read at all. */
export function tryHelpMessage(program: string): string {
  return `Try \`${program} -h' or '${program} --help' for more information.`;
}

interface Occurrence {
  readonly spec: OptionSpec;
  /** As written, for messages: `-p`, `--weight`. */
  readonly written: string;
  readonly value: string | undefined;
}

/** popt-style scan: long options with `=` or a following value, clustered short options, positionals. */
function scan(argv: readonly string[], program: string): { occurrences: Occurrence[]; positionals: string[] } {
  const occurrences: Occurrence[] = [];
  const positionals: string[] = [];
  try {
    scanInto(argv, occurrences, positionals);
  } catch (err) {
    // ipvsadm prints only the hint when popt fails on the very first option.
    if (err instanceof RulesError && occurrences.length === 0) throw usageError(tryHelpMessage(program));
    throw err;
  }
  return { occurrences, positionals };
}

function scanInto(argv: readonly string[], occurrences: Occurrence[], positionals: string[]): void {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const spec = byLong.get(name);
      const written = `--${name}`;
      if (spec === undefined) throw new RulesError(RulesErrorCode.badOption, `${written}: unknown option`);
      let value = eq < 0 ? undefined : arg.slice(eq + 1);
      if (spec.arity === 'none' && value !== undefined) {
        throw new RulesError(RulesErrorCode.badOption, `${written}: option does not take an argument`);
      }
      if (value === undefined) [value, i] = takeValue(spec, written, argv, i);
      occurrences.push({ spec, written, value });
      continue;
    }
    if (arg.length > 1 && arg.startsWith('-')) {
      for (let k = 1; k < arg.length; k++) {
        const letter = arg[k]!;
        const spec = byShort.get(letter);
        const written = `-${letter}`;
        if (spec === undefined) throw new RulesError(RulesErrorCode.badOption, `${written}: unknown option`);
        if (spec.arity !== 'none' && k + 1 < arg.length) {
          occurrences.push({ spec, written, value: arg.slice(k + 1) });
          break;
        }
        let value: string | undefined;
        if (spec.arity !== 'none') [value, i] = takeValue(spec, written, argv, i);
        occurrences.push({ spec, written, value });
      }
      continue;
    }
    positionals.push(arg);
  }
}

function takeValue(
  spec: OptionSpec,
  written: string,
  argv: readonly string[],
  i: number,
): [string | undefined, number] {
  const next = argv[i + 1];
  if (spec.arity === 'required') {
    if (next === undefined) throw new RulesError(RulesErrorCode.badOption, `${written}: missing argument`);
    return [next, i + 1];
  }
  // popt's POPT_ARGFLAG_OPTIONAL: the next word is the value unless it looks like an option.
  if (spec.arity === 'optional' && next !== undefined && !next.startsWith('-')) return [next, i + 1];
  return [undefined, i];
}

/** strtol(s, &end, 10) accepting the whole string, within [min, max]; undefined otherwise (string_to_number()). */
export function parseNumber(text: string, min: number, max: number): number | undefined {
  if (!/^[ \t\n\v\f\r]*[+-]?\d+$/.test(text)) return undefined;
  const n = Number(text.trim());
  return n >= min && n <= max ? n : undefined;
}

/** parse_service(): `ADDR[:PORT]`. Returns undefined where ipvsadm would not accept it. */
function parseServiceAddress(
  text: string,
  what: 'virtual' | 'real',
): { addr: number; port: number | undefined } | undefined {
  if (/^\d*$/.test(text)) return undefined;
  if (text.startsWith('[') || text.indexOf(':') !== text.lastIndexOf(':')) {
    throw new RulesError(RulesErrorCode.unsupported, `uvs supports IPv4 only: ${what} server address \`${text}'`);
  }
  const colon = text.lastIndexOf(':');
  const host = colon < 0 ? text : text.slice(0, colon);
  // ipvsadm also resolves host and service names; uvs takes numbers only, so a name is refused as ipvsadm
  // refuses one that does not resolve.
  const addr = parseIpv4Address(host);
  if (addr === undefined) return undefined;
  if (colon < 0) return { addr, port: undefined };
  const port = parseNumber(text.slice(colon + 1), 0, 65535);
  return port === undefined ? undefined : { addr, port };
}

/**
 * Parses one ipvsadm command line (without the program name), with ipvsadm's checks and messages, and fills
 * in its defaults. `program` is used in the "Try ... -h" hint.
 */
export function parseArgs(argv: readonly string[], program = 'uvsadm'): ParsedCommand {
  const { occurrences, positionals } = scan(argv, program);
  const first = occurrences[0];
  if (first === undefined || !('command' in first.spec.effect)) throw usageError(tryHelpMessage(program));
  const command = first.spec.effect.command;

  const options = new Set<OptionName>();
  const setOption = (name: OptionName) => {
    if (options.has(name)) throw usageError(`multiple '${name}' options specified`);
    options.add(name);
  };

  let service: { fwmark: number; proto: number; addr: number; port: number; ipv6: boolean } | undefined;
  let sched = '';
  let schedFlagsText = '';
  let timeout = 0;
  let netmask = DEFAULT_NETMASK;
  let onePacket = false;
  let pe = '';
  let destAddr = 0;
  let destPort = 0;
  let fwd: FwdMethod = Fwd.route;
  let weight = DEFAULT_WEIGHT;
  let uThreshold = 0;
  let lThreshold = 0;
  let tunType: TunnelType = 'ipip';
  let tunPort = 0;
  let tunFlags = 0;
  let daemon: { -readonly [K in keyof DaemonSpec]: DaemonSpec[K] } = {
    state: '',
    mcastInterface: '',
    syncId: 0,
    mcastGroup: 0,
    mcastPort: 0,
    mcastTtl: 0,
    syncMaxLen: 0,
  };

  if (command === 'start-daemon' || command === 'stop-daemon') {
    if (first.value !== 'master' && first.value !== 'backup') {
      throw valueError(
        command === 'start-daemon' ? 'illegal start-daemon parameter specified' : 'illegal start_daemon specified',
      );
    }
    daemon = { ...daemon, state: first.value };
  }

  for (const { spec, written, value } of occurrences.slice(1)) {
    const effect = spec.effect;
    const text = value ?? '';
    if ('command' in effect) throw usageError(`invalid option \`${written}'`);
    if ('service' in effect) {
      setOption('service-address');
      if (effect.service === 'fwmark') {
        const mark = parseNumber(text, 1, 0xffffffff);
        if (mark === undefined) throw valueError(`invalid fwmark value \`${text}' specified`);
        service = { fwmark: mark, proto: IpProto.tcp, addr: 0, port: 0, ipv6: false };
      } else {
        const proto = effect.service === 'tcp' ? IpProto.tcp : effect.service === 'udp' ? IpProto.udp : IpProto.sctp;
        const parsed = parseServiceAddress(text, 'virtual');
        if (parsed === undefined) throw valueError('illegal virtual server address[:port] specified');
        service = { fwmark: 0, proto, addr: parsed.addr, port: parsed.port ?? 0, ipv6: false };
      }
      continue;
    }
    if ('fwd' in effect) {
      setOption('forwarding-method');
      fwd = effect.fwd;
      continue;
    }
    if ('flag' in effect) {
      if (effect.flag === 'ipv6') {
        if (service === undefined || service.fwmark === 0) throw usageError('-6 used before -f');
        service = { ...service, ipv6: true };
      }
      continue;
    }
    setOption(effect.option);
    switch (effect.option) {
      case 'scheduler':
        sched = text;
        break;
      case 'persistent':
        if (value === undefined) timeout = DEFAULT_PERSISTENT_TIMEOUT;
        else timeout = parseTimeout(value, 1);
        break;
      case 'netmask': {
        const mask = parseIpv4Address(text);
        if (mask === undefined) throw valueError('illegal virtual server persistent mask specified');
        netmask = mask;
        break;
      }
      case 'real-server': {
        const parsed = parseServiceAddress(text, 'real');
        if (parsed === undefined) throw valueError('illegal real server address[:port] specified');
        destAddr = parsed.addr;
        // ipvsadm copies the service port seen so far when the real server has none.
        destPort = parsed.port ?? service?.port ?? 0;
        break;
      }
      case 'weight':
        weight = mustNumber(text, 0, 65535, 'illegal weight specified');
        break;
      case 'u-threshold':
        uThreshold = mustNumber(text, 0, 0x7fffffff, 'illegal u_threshold specified');
        break;
      case 'l-threshold':
        lThreshold = mustNumber(text, 0, 0x7fffffff, 'illegal l_threshold specified');
        break;
      case 'ops':
        onePacket = true;
        break;
      case 'pe':
        pe = text;
        break;
      case 'sched-flags':
        schedFlagsText = text;
        break;
      case 'mcast-interface':
        daemon.mcastInterface = text.slice(0, 15);
        break;
      case 'syncid':
        daemon.syncId = mustNumber(text, 0, 255, 'illegal syncid specified');
        break;
      case 'mcast-group': {
        if (text.includes(':')) throw new RulesError(RulesErrorCode.unsupported, 'uvs supports IPv4 only');
        const group = parseIpv4Address(text);
        if (group === undefined || group >>> 28 !== 0xe) throw valueError(`invalid IPv4 mcast-group \`${text}'`);
        daemon.mcastGroup = group;
        break;
      }
      case 'mcast-port':
        daemon.mcastPort = mustNumber(text, 1, 65535, 'illegal mcast-port specified');
        break;
      case 'mcast-ttl':
        daemon.mcastTtl = mustNumber(text, 1, 255, 'illegal mcast-ttl specified');
        break;
      case 'sync-maxlen':
        daemon.syncMaxLen = mustNumber(text, 1, 65535 - 20 - 8, 'illegal sync-maxlen specified');
        break;
      case 'tun-type': {
        const index = TUNNEL_TYPES.indexOf(text as TunnelType);
        if (index < 0) throw valueError('illegal tunnel type specified');
        tunType = TUNNEL_TYPES[index]!;
        break;
      }
      case 'tun-port':
        tunPort = mustNumber(text, 1, 65535, 'illegal tunnel port specified');
        break;
      case 'tun-nocsum':
        tunFlags |= TunFlag.nocsum;
        break;
      case 'tun-csum':
        tunFlags |= TunFlag.csum;
        break;
      case 'tun-remcsum':
        tunFlags |= TunFlag.remcsum;
        break;
      default:
        // The list format options (-n, -c, --stats, ...) only need to be present in `options`.
        break;
    }
  }

  let timeouts: ParsedCommand['timeouts'];
  let rest = positionals;
  if (command === 'set') {
    if (positionals.length < 3) throw usageError('--set option requires 3 timeout values');
    const [tcp, tcpFin, udp] = positionals.map((p) => parseTimeout(p, 0));
    timeouts = { tcp: tcp!, tcpFin: tcpFin!, udp: udp! };
    rest = positionals.slice(3);
  }
  if (rest.length > 0) throw usageError(`unexpected argument ${rest[0]}`);

  let schedFlags = 0;
  if (schedFlagsText !== '') {
    const parsedFlags = parseSchedFlags(sched, schedFlagsText);
    if (!parsedFlags.ok) throw valueError(parsedFlags.message);
    schedFlags = parsedFlags.flags;
  }
  checkLegality(command, options);
  if ((command === 'add-service' || command === 'edit-service') && sched === '') sched = DEFAULT_SCHEDULER;

  let dest: DestSpec | undefined;
  if (command === 'add-server' || command === 'edit-server' || command === 'delete-server') {
    if (command !== 'delete-server') checkTunnelOptions(fwd, tunType, options);
    dest = { addr: destAddr, port: destPort, fwd, weight, uThreshold, lThreshold, tunType, tunPort, tunFlags };
  }
  return {
    command,
    options,
    service,
    sched,
    schedFlags,
    timeout,
    netmask,
    onePacket,
    pe,
    dest,
    timeouts,
    daemon,
  };
}

function parseTimeout(text: string, min: number): number {
  const n = parseNumber(text, min, MAX_TIMEOUT);
  if (n === undefined) throw valueError(`invalid timeout value \`${text}' specified`);
  return n;
}

function mustNumber(text: string, min: number, max: number, message: string): number {
  const n = parseNumber(text, min, max);
  if (n === undefined) throw valueError(message);
  return n;
}

/** generic_opt_check(). */
function checkLegality(command: CommandName, options: ReadonlySet<OptionName>): void {
  if (command === 'help' || command === 'version') return;
  const row = LEGAL_OPTIONS[command];
  let exclusive: OptionName | undefined;
  OPTION_NAMES.forEach((name, j) => {
    const rule = row[j];
    if (!options.has(name)) {
      if (rule === '+') throw usageError(`You need to supply the '${name}' option for the '${command}' command`);
      return;
    }
    if (rule === 'x') throw usageError(`Illegal '${name}' option with the '${command}' command`);
    if (rule === '1') {
      if (exclusive !== undefined) {
        throw usageError(`The option '${name}' conflicts with the '${exclusive}' option in the '${command}' command`);
      }
      exclusive = name;
    }
  });
}

/** The tunnel part of process_options() and tunnel_opt_check() (tunnel_types_v_options). */
function checkTunnelOptions(fwd: FwdMethod, tunType: TunnelType, options: ReadonlySet<OptionName>): void {
  const tunnelOptions: readonly OptionName[] = ['tun-type', 'tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum'];
  if (fwd !== Fwd.tunnel && tunnelOptions.some((o) => options.has(o))) {
    throw usageError('Tunnel options conflict with forward method');
  }
  const rules: Record<TunnelType, string> = { ipip: 'xxxx', gue: '+111', gre: 'x11x' };
  const columns: readonly OptionName[] = ['tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum'];
  let exclusive: OptionName | undefined;
  columns.forEach((name, j) => {
    const rule = rules[tunType][j];
    if (!options.has(name)) {
      if (rule === '+') throw usageError(`You need to supply the '${name}' option for the '${tunType}' tunnel type`);
      return;
    }
    if (rule === 'x') throw usageError(`Illegal '${name}' option with the '${tunType}' tunnel type`);
    if (rule === '1') {
      if (exclusive !== undefined) {
        throw usageError(
          `The option '${name}' conflicts with the '${exclusive}' option in the '${tunType}' tunnel type`,
        );
      }
      exclusive = name;
    }
  });
}

/** The commands a rules file or batch may contain, by the name ipvsadm gives them. */
const RULE_COMMANDS: ReadonlySet<CommandName> = new Set([
  'add-service',
  'edit-service',
  'delete-service',
  'flush',
  'add-server',
  'edit-server',
  'delete-server',
  'set',
]);

/** Turns a parsed command line into a rules-model command, refusing what uvs does not have. */
export function toRuleCommand(parsed: ParsedCommand): RuleCommand {
  const { command } = parsed;
  if (!RULE_COMMANDS.has(command)) {
    throw new RulesError(RulesErrorCode.notARule, `the '${command}' command is not a rule change`);
  }
  if (command === 'flush') return { kind: 'clear' };
  if (command === 'set') return { kind: 'set-timeouts', ...parsed.timeouts! };
  const svc = toServiceId(parsed.service!);
  switch (command) {
    case 'add-service':
    case 'edit-service':
      if (parsed.pe !== '') {
        throw new RulesError(
          RulesErrorCode.unsupported,
          `persistence engine \`${parsed.pe}' not available: uvs has no persistence engines`,
        );
      }
      return {
        kind: command,
        svc,
        sched: parsed.sched,
        schedFlags: parsed.schedFlags,
        timeout: parsed.timeout,
        netmask: parsed.netmask,
        onePacket: parsed.onePacket,
      };
    case 'delete-service':
      return { kind: 'delete-service', svc };
    case 'delete-server':
      return { kind: 'delete-dest', svc, addr: parsed.dest!.addr, port: parsed.dest!.port };
    default: {
      const d = parsed.dest!;
      if (d.fwd === Fwd.tunnel && d.tunType !== 'ipip') {
        throw new RulesError(
          RulesErrorCode.unsupported,
          `tunnel type \`${d.tunType}' not available: uvs tunnels with ipip only`,
        );
      }
      return {
        kind: command === 'add-server' ? 'add-dest' : 'edit-dest',
        svc,
        addr: d.addr,
        port: d.port,
        fwd: d.fwd,
        weight: d.weight,
        uThreshold: d.uThreshold,
        lThreshold: d.lThreshold,
      };
    }
  }
}

function toServiceId(spec: ServiceSpec): ServiceId {
  if (spec.fwmark !== 0) {
    throw new RulesError(
      RulesErrorCode.unsupported,
      `firewall-mark service ${spec.fwmark}: uvs has no firewall marks yet (it sees frames, not netfilter marks)`,
    );
  }
  if (spec.proto === IpProto.sctp) {
    throw new RulesError(RulesErrorCode.unsupported, 'uvs serves TCP and UDP services only (no SCTP)');
  }
  return { proto: spec.proto, addr: spec.addr, port: spec.port };
}
