// A keepalived.conf's LVS part read into the typed model of model.ts, following keepalived's
// check/check_parser.c (the keywords and what each accepts), check/check_data.c (alloc_vs(), alloc_rs(),
// alloc_vsg_entry(), validate_check_config(): the defaults and the corrections) and the checkers' own
// parsers (check_tcp.c, check_http.c, check_udp.c, check_dns.c, check_ping.c, check_smtp.c, check_misc.c,
// check_api.c for the options they share).
//
// Two kinds of finding, both with FILE:LINE:
// - errors: the configuration cannot be loaded as written (bad syntax, a value keepalived would refuse, a
//   feature uvs does not have yet: fwmark services, SCTP, IPv6). `uvs keepalived rules` exits non-zero.
// - warnings: what keepalived reports and still runs with, doing what it does: an unknown keyword is
//   skipped ("Unknown keyword"), a missing lb_algo becomes wlc, a missing protocol UDP, a missing lb_kind
//   NAT, a virtual server without real servers is dropped.
// Blocks uvs does not use (vrrp_instance, vrrp_script, static_ipaddress, ...) are listed once each in
// `ignored`, with where the first one is.
import { SchedFlag } from '../sched/index.js';
import { parseIpv4Address } from '../wire/addr.js';
import type {
  Checker,
  CheckerType,
  ConnectionOptions,
  Forwarding,
  GlobalDefs,
  GroupEntry,
  HttpUrl,
  Ignored,
  KeepalivedConfig,
  Protocol,
  RealServer,
  Script,
  SorryServer,
  VirtualServer,
  VirtualServerGroup,
} from './model.js';
import {
  type ConfigNode,
  type Diagnostic,
  formatDiagnostic,
  type Location,
  readConfigTree,
  splitQuoted,
} from './syntax.js';

/** A keepalived.conf uvs cannot load; `diagnostics` has every error found, in file order. */
export class KeepalivedConfigError extends Error {
  readonly diagnostics: readonly Diagnostic[];
  constructor(diagnostics: readonly Diagnostic[]) {
    super(diagnostics.map(formatDiagnostic).join('\n'));
    this.name = 'KeepalivedConfigError';
    this.diagnostics = diagnostics;
  }
}

/** check_data.h KEEPALIVED_DEFAULT_DELAY and alloc_vs()'s connection_to. */
export const DEFAULT_DELAY_LOOP = 60;
export const DEFAULT_CONNECT_TIMEOUT = 5;
/** ipvswrapper.h IPVS_DEF_SCHED. */
export const DEFAULT_SCHEDULER = 'wlc';
/** IPVS_SVC_PERSISTENT_TIMEOUT: persistence_timeout without a value, or a granularity without a timeout. */
export const DEFAULT_PERSISTENCE_TIMEOUT = 360;
/** LVS_MAX_TIMEOUT. */
const MAX_PERSISTENCE_TIMEOUT = 86400 * 31;
/** keepalived takes weights up to INT32_MAX (IPVS_WEIGHT_LIMIT); uvs, as ipvsadm -w, up to 65535. */
const KEEPALIVED_MAX_WEIGHT = 0x7fffffff;
const MAX_WEIGHT = 65535;
/** More services than this from one group line is refused (a /8 would be 16 million services). */
export const MAX_GROUP_RANGE = 65536;

/** check_parser.c lvs_schedulers[]. */
const KEEPALIVED_SCHEDULERS = new Set([
  'rr',
  'wrr',
  'lc',
  'wlc',
  'lblc',
  'sh',
  'mh',
  'dh',
  'fo',
  'ovf',
  'lblcr',
  'sed',
  'nq',
  'twos',
]);

/** check_dns.c's query types. */
const DNS_TYPES = new Set(['A', 'NS', 'CNAME', 'SOA', 'MX', 'TXT', 'AAAA', 'RRSIG', 'DNSKEY']);

/** Root blocks and keywords keepalived knows that are not the LVS part, with why uvs skips them. */
const IGNORED_ROOTS: Readonly<Record<string, string>> = {
  vrrp_instance: 'VRRP failover is not done by uvs yet',
  vrrp_sync_group: 'VRRP failover is not done by uvs yet',
  vrrp_script: 'VRRP failover is not done by uvs yet',
  vrrp_track_process: 'VRRP failover is not done by uvs yet',
  vrrp_track_file: 'VRRP failover is not done by uvs yet',
  track_file: 'VRRP failover is not done by uvs yet',
  track_group: 'VRRP failover is not done by uvs yet',
  garp_group: 'VRRP failover is not done by uvs yet',
  linkbeat_interfaces: 'VRRP failover is not done by uvs yet',
  linkbeat_use_polling: 'VRRP failover is not done by uvs yet',
  interface_up_down_delays: 'VRRP failover is not done by uvs yet',
  static_ipaddress: 'uvs does not add addresses, routes or rules to the host',
  static_routes: 'uvs does not add addresses, routes or rules to the host',
  static_rules: 'uvs does not add addresses, routes or rules to the host',
  bfd_instance: 'BFD is not done by uvs',
  net_namespace: 'uvs runs in the namespace it is started in (ip netns exec)',
  net_namespace_ipvs: 'uvs runs in the namespace it is started in (ip netns exec)',
  namespace_with_ipsets: 'uvs runs in the namespace it is started in (ip netns exec)',
  use_pid_dir: 'keepalived process management',
  instance: 'keepalived process management',
  child_wait_time: 'keepalived process management',
  SSL: 'SSL_GET checks without a client certificate',
};

/** global_parser.c's global_defs keywords; the ones uvs uses are read, the rest listed as ignored. */
const GLOBAL_DEFS_KEYWORDS = new Set(
  (
    'process_names process_name vrrp_process_name checker_process_name lvs_process_name bfd_process_name ' +
    'use_symlink_paths set_supplementary_groups router_id notification_email_from smtp_server smtp_helo_name ' +
    'smtp_connect_timeout notification_email smtp_alert startup_script_timeout shutdown_script_timeout ' +
    'max_auto_priority min_auto_priority_delay smtp_alert_vrrp smtp_alert_checker checker_log_all_failures ' +
    'dynamic_interfaces no_email_faults default_interface disable_local_igmp v3_checksum_as_v2 lvs_timeouts ' +
    'lvs_flush lvs_flush_on_stop lvs_flush_onstop lvs_sync_daemon vrrp_mcast_group4 vrrp_mcast_group6 ' +
    'vrrp_garp_master_delay vrrp_garp_master_repeat vrrp_garp_master_refresh vrrp_garp_master_refresh_repeat ' +
    'vrrp_garp_lower_prio_delay vrrp_garp_lower_prio_repeat vrrp_down_timer_adverts vrrp_garp_interval ' +
    'vrrp_gna_interval vrrp_min_garp vrrp_garp_extra_if vrrp_vmac_garp_intvl vrrp_lower_prio_no_advert ' +
    'vrrp_higher_prio_send_advert vrrp_version vrrp_iptables vrrp_ipsets nftables nftables_priority ' +
    'nftables_ifindex vrrp_check_unicast_src vrrp_skip_check_adv_addr vrrp_strict vrrp_priority vrrp_no_swap ' +
    'vrrp_rt_priority vrrp_cpu_affinity vrrp_rlimit_rttime vrrp_rlimit_rtime nftables_ipvs ' +
    'nftables_ipvs_priority nftables_ipvs_start_fwmark nftables_counters notify_fifo vrrp_notify_fifo ' +
    'vrrp_notify_priority_changes fifo_write_vrrp_states_on_reload lvs_notify_fifo checker_priority ' +
    'checker_no_swap checker_rt_priority checker_cpu_affinity checker_rlimit_rttime checker_rlimit_rtime ' +
    'bfd_priority bfd_no_swap bfd_rt_priority bfd_cpu_affinity bfd_rlimit_rttime bfd_rlimit_rtime ' +
    'snmp_socket enable_traps enable_snmp_vrrp enable_snmp_keepalived enable_snmp_rfc enable_snmp_rfcv2 ' +
    'enable_snmp_rfcv3 enable_snmp_checker snmp_vs_stats_update_interval snmp_rs_stats_update_interval ' +
    'enable_dbus dbus_service_name dbus_no_interface_name script_user enable_script_security ' +
    'vrrp_netlink_cmd_rcv_bufs vrrp_netlink_cmd_rcv_bufs_force vrrp_netlink_monitor_rcv_bufs ' +
    'vrrp_netlink_monitor_rcv_bufs_force process_monitor_rcv_bufs process_monitor_rcv_bufs_force ' +
    'lvs_netlink_cmd_rcv_bufs lvs_netlink_cmd_rcv_bufs_force lvs_netlink_monitor_rcv_bufs ' +
    'lvs_netlink_monitor_rcv_bufs_force rs_init_notifies no_checker_emails vrrp_rx_bufs_policy ' +
    'vrrp_rx_bufs_multiplier vrrp_startup_delay vrrp_delay_after_boot log_unknown_vrids vrrp_owner_ignore_adverts'
  ).split(' '),
);

/** Keywords keepalived accepts that uvs reads but does not act on, with why. */
const IGNORED_VS_KEYWORDS: Readonly<Record<string, string>> = {
  ha_suspend: 'checkers always run (there is no VRRP state to follow)',
  smtp_alert: 'uvs sends no e-mail',
  snmp_name: 'uvs has no SNMP agent',
  persistence_engine: 'uvs has no persistence engines (sip)',
  hashed: 'a no-op in keepalived too',
  sorry_server_lvs_method: 'read with sorry_server',
};

/** The keywords a virtual_server and a real_server block take (check_parser.c init_check_keywords()). */
const VS_KEYWORDS = new Set([
  ...Object.keys(IGNORED_VS_KEYWORDS),
  ...'lb_algo lvs_sched lb_kind lvs_method ops flag-1 flag-2 flag-3 sh-port sh-fallback mh-port mh-fallback'.split(' '),
  ...'persistence_timeout persistence_granularity protocol virtualhost delay_loop connect_timeout retry'.split(' '),
  ...'delay_before_retry warmup inhibit_on_failure alpha omega quorum hysteresis quorum_up quorum_down'.split(' '),
  ...'weight sorry_server sorry_server_inhibit sorry_server_lvs_method ip_family'.split(' '),
]);
const RS_KEYWORDS = new Set(
  (
    'weight lvs_method uthreshold lthreshold inhibit_on_failure notify_up notify_down virtualhost retry ' +
    'delay_before_retry warmup delay_loop connect_timeout alpha smtp_alert snmp_name track_file track_bfd'
  ).split(' '),
);

// ---- value readers (parser.c read_unsigned_func(), read_timer(), check_true_false()) ----

function readUnsigned(text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  const value = Number(text);
  return value >= min && value <= max ? value : undefined;
}

/** read_timer(): seconds as a decimal with up to 6 places. */
function readTimer(text: string | undefined, min: number): number | undefined {
  if (text === undefined || !/^\d+(\.\d{1,6})?$/.test(text)) return undefined;
  const value = Number(text);
  return value >= min && value <= 0xffffffff ? value : undefined;
}

/** check_true_false(): no argument is true. */
function readBool(args: readonly string[]): boolean | undefined {
  if (args.length === 0) return true;
  const word = args[0]!.toLowerCase();
  if (['true', 'on', 'yes'].includes(word)) return true;
  if (['false', 'off', 'no'].includes(word)) return false;
  return undefined;
}

function readHex(text: string, wildcards: boolean): string | undefined {
  const hex = text.replace(/[ \t]/g, '').toLowerCase();
  const re = wildcards ? /^[0-9a-fx]+$/ : /^[0-9a-f]+$/;
  if (hex === '' || !re.test(hex)) return undefined;
  // read_hex_str(): an odd number of digits has a leading zero nibble.
  return hex.length % 2 === 0 ? hex : `0${hex}`;
}

function hexBytes(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g)!.map((b) => Number.parseInt(b, 16)));
}

// ---- raw values, resolved when their block ends (keywords may come after the blocks that inherit them) ----

interface RawTiming {
  retry?: number;
  delayBeforeRetry?: number;
  delayLoop?: number;
  warmup?: number;
  alpha?: boolean;
  connectTimeout?: number;
}

interface RawConnection {
  connectIp?: number;
  connectPort?: number;
  bindto?: number;
  bindPort?: number;
  bindIf?: string;
  fwmark?: number;
}

interface RawChecker extends Location {
  type: CheckerType;
  timing: RawTiming;
  connection: RawConnection;
  logAllFailures?: boolean;
  /** The type-specific part; resolved with the server's values. */
  details: Record<string, unknown>;
  urls: HttpUrl[];
}

interface RawRealServer extends Location, RawTiming {
  addr: number;
  port: number;
  weight?: number;
  forwarding?: Forwarding;
  uThreshold: number;
  lThreshold: number;
  inhibitOnFailure?: boolean;
  notifyUp?: Script;
  notifyDown?: Script;
  virtualhost?: string;
  checkers: RawChecker[];
}

interface RawVirtualServer extends Location {
  address: VirtualServer['address'];
  protocol?: Protocol;
  sched?: string;
  schedFlags: number;
  onePacket: boolean;
  forwarding?: Forwarding;
  persistenceTimeout: number;
  persistenceGranularity: number;
  virtualhost?: string;
  timing: RawTiming;
  delayLoop: number;
  connectTimeout: number;
  weight: number;
  alpha: boolean;
  omega: boolean;
  quorum: number;
  hysteresis: number;
  quorumUp?: Script;
  quorumDown?: Script;
  inhibitOnFailure: boolean;
  sorry?: { at: Location; addr: number; port: number; inhibit: boolean; forwarding?: Forwarding };
  realServers: RawRealServer[];
}

/** The defaults each checker type has for retry and delay_before_retry (queue_checker() and the handlers). */
const CHECKER_DEFAULTS: Readonly<Record<CheckerType, { retry: number; delayBeforeRetry: number | 'delay_loop' }>> = {
  TCP_CHECK: { retry: 1, delayBeforeRetry: 1 },
  HTTP_GET: { retry: 1, delayBeforeRetry: 3 },
  SSL_GET: { retry: 1, delayBeforeRetry: 3 },
  UDP_CHECK: { retry: 1, delayBeforeRetry: 1 },
  DNS_CHECK: { retry: 3, delayBeforeRetry: 'delay_loop' },
  PING_CHECK: { retry: 1, delayBeforeRetry: 1 },
  SMTP_CHECK: { retry: 1, delayBeforeRetry: 1 },
  MISC_CHECK: { retry: 0, delayBeforeRetry: 1 },
};

const CHECKER_TYPES = new Set<string>(Object.keys(CHECKER_DEFAULTS));

class Interpreter {
  readonly errors: Diagnostic[] = [];
  readonly warnings: Diagnostic[] = [];
  private readonly ignoredByKeyword = new Map<string, Ignored>();
  readonly groups = new Map<string, VirtualServerGroup>();
  readonly virtualServers: RawVirtualServer[] = [];
  globalDefs: GlobalDefs = {
    routerId: undefined,
    lvsTimeouts: { tcp: 0, tcpFin: 0, udp: 0 },
    lvsFlush: false,
    scriptUser: undefined,
    enableScriptSecurity: false,
    checkerLogAllFailures: false,
  };

  /** global_defs items uvs does not use, said in one line. */
  private readonly ignoredGlobals: ConfigNode[] = [];

  get ignored(): Ignored[] {
    const out = [...this.ignoredByKeyword.values()];
    const first = this.ignoredGlobals[0];
    if (first !== undefined) {
      const names = [...new Set(this.ignoredGlobals.map((n) => n.keyword))].join(', ');
      out.unshift({
        file: first.file,
        line: first.line,
        keyword: `global_defs ${names}`,
        count: 1,
        why: 'not part of the LVS configuration uvs reads',
      });
    }
    return out;
  }

  error(at: Location, message: string): void {
    this.errors.push({ file: at.file, line: at.line, message });
  }

  warn(at: Location, message: string): void {
    this.warnings.push({ file: at.file, line: at.line, message });
  }

  ignore(node: ConfigNode, keyword: string, why: string): void {
    const seen = this.ignoredByKeyword.get(keyword);
    if (seen === undefined)
      this.ignoredByKeyword.set(keyword, { file: node.file, line: node.line, keyword, count: 1, why });
    else this.ignoredByKeyword.set(keyword, { ...seen, count: seen.count + 1 });
  }

  /**
   * keepalived skips an unknown keyword with a warning. Followed by a block, it is an error here: keepalived
   * reads that block's lines as keywords of the enclosing block and its '}' as the enclosing block's end,
   * so it would not load what the file seems to say.
   */
  unknown(node: ConfigNode): void {
    if (node.block === undefined) this.warn(node, `Unknown keyword '${node.keyword}'`);
    else
      this.error(
        node,
        `Unknown keyword '${node.keyword}' with a block (keepalived would end the enclosing block at its '}')`,
      );
  }

  /** The block of a keyword that needs one; undefined (with an error) when it has none. */
  block(node: ConfigNode): ConfigNode[] | undefined {
    if (node.block === undefined) {
      this.error(node, `Missing '{' at beginning of configuration block '${node.keyword}'`);
      return undefined;
    }
    return node.block;
  }

  /**
   * A keyword that takes no block; a block after it is an error (keepalived would misread what follows). An
   * unknown keyword passes, for unknown() to report.
   */
  noBlock(node: ConfigNode, known?: ReadonlySet<string>): boolean {
    if (node.block === undefined || (known !== undefined && !known.has(node.keyword))) return true;
    this.error(node, `'${node.keyword}' takes no block: unexpected '{'`);
    return false;
  }

  root(nodes: readonly ConfigNode[]): void {
    for (const node of nodes) {
      switch (node.keyword) {
        case 'global_defs': {
          const block = this.block(node);
          if (block !== undefined) this.globalDefsBlock(block);
          break;
        }
        case 'virtual_server_group':
          this.group(node);
          break;
        case 'virtual_server':
          this.virtualServer(node);
          break;
        default: {
          const why = IGNORED_ROOTS[node.keyword];
          if (why !== undefined) this.ignore(node, node.keyword, why);
          else this.unknown(node);
        }
      }
    }
  }

  private globalDefsBlock(nodes: readonly ConfigNode[]): void {
    let defs = this.globalDefs;
    for (const node of nodes) {
      if (!GLOBAL_DEFS_KEYWORDS.has(node.keyword)) {
        this.unknown(node);
        continue;
      }
      switch (node.keyword) {
        case 'router_id':
          defs = { ...defs, routerId: node.args[0] };
          break;
        case 'lvs_timeouts':
          defs = { ...defs, lvsTimeouts: this.lvsTimeouts(node, defs.lvsTimeouts) };
          break;
        case 'lvs_flush':
          defs = { ...defs, lvsFlush: true };
          break;
        case 'script_user':
          defs = { ...defs, scriptUser: node.args.length > 0 ? node.args.slice(0, 2) : undefined };
          break;
        case 'enable_script_security':
          defs = { ...defs, enableScriptSecurity: true };
          break;
        case 'checker_log_all_failures': {
          const value = readBool(node.args);
          if (value === undefined) this.error(node, `Invalid checker_log_all_failures parameter ${node.args[0]}`);
          else defs = { ...defs, checkerLogAllFailures: value };
          break;
        }
        default:
          this.ignoredGlobals.push(node);
      }
    }
    this.globalDefs = defs;
  }

  /** `lvs_timeouts [tcp N] [tcpfin N] [udp N]` (global_parser.c lvs_timeouts()). */
  private lvsTimeouts(node: ConfigNode, current: GlobalDefs['lvsTimeouts']): GlobalDefs['lvsTimeouts'] {
    const out = { ...current };
    const names: Record<string, keyof typeof out> = { tcp: 'tcp', tcpfin: 'tcpFin', udp: 'udp' };
    for (let i = 0; i < node.args.length; i += 2) {
      const key = names[node.args[i]!];
      const value = readUnsigned(node.args[i + 1], 1, MAX_PERSISTENCE_TIMEOUT);
      if (key === undefined) {
        this.error(node, `Unknown option ${node.args[i]} specified for lvs_timeouts`);
        return current;
      }
      if (value === undefined) {
        this.error(node, `Invalid lvs_timeout ${node.args[i]} (${node.args[i + 1] ?? ''}) - ignoring`);
        return current;
      }
      out[key] = value;
    }
    return out;
  }

  // ---- virtual_server_group NAME { IP PORT; IP-N PORT; IP-IP PORT; IP/LEN PORT; fwmark N } ----

  private group(node: ConfigNode): void {
    const name = node.args[0];
    if (name === undefined) {
      this.error(node, 'virtual_server_group needs a name');
      return;
    }
    const block = this.block(node);
    if (block === undefined) return;
    const entries: GroupEntry[] = [];
    for (const line of block) {
      if (!this.noBlock(line)) continue;
      if (line.keyword === 'fwmark') {
        this.error(line, `(${name}): fwmark services are not supported by uvs yet (it has no firewall marks)`);
        continue;
      }
      const entry = this.groupEntry(line, name);
      if (entry !== undefined) entries.push(entry);
    }
    if (entries.length === 0) {
      this.warn(node, `virtual server group ${name} has no entries - removing`);
      return;
    }
    if (this.groups.has(name)) this.warn(node, `virtual server group ${name} defined again - the first is used`);
    else this.groups.set(name, { file: node.file, line: node.line, name, entries });
  }

  private groupEntry(line: ConfigNode, name: string): GroupEntry | undefined {
    const text = line.keyword;
    const port = this.port(line, line.args[0] ?? '0');
    if (port === undefined) return undefined;
    const slash = text.indexOf('/');
    if (slash >= 0) {
      const addr = this.address(line, text.slice(0, slash));
      const len = readUnsigned(text.slice(slash + 1), 1, 32);
      if (addr === undefined) return undefined;
      if (len === undefined) {
        this.error(line, `Invalid netmask - ${text} - skipping`);
        return undefined;
      }
      const host = len === 32 ? 0 : 2 ** (32 - len) - 1;
      if (addr % (host + 1) !== 0) {
        this.error(line, `Address mask bits not empty - ${text} - skipping`);
        return undefined;
      }
      return this.range(line, addr, addr + host, port);
    }
    const dash = text.indexOf('-');
    if (dash >= 0) {
      const first = this.address(line, text.slice(0, dash));
      if (first === undefined) return undefined;
      const endText = text.slice(dash + 1);
      if (endText.includes('.')) {
        const last = this.address(line, endText);
        if (last === undefined) return undefined;
        if (last < first) {
          this.error(line, `Address range end is less than address range start - ${text} - skipping`);
          return undefined;
        }
        return this.range(line, first, last, port);
      }
      // inet_stor(): the end replaces the last octet.
      const end = readUnsigned(endText, 0, 255);
      if (end === undefined) {
        this.error(line, `Invalid range end ${text} - skipping`);
        return undefined;
      }
      if ((first & 0xff) >= end) {
        this.error(line, `Address range end is not greater than address range start - ${text} - skipping`);
        return undefined;
      }
      return this.range(line, first, first - (first & 0xff) + end, port);
    }
    const addr = this.address(line, text, `Invalid virtual server group IP address ${text} (group ${name})`);
    return addr === undefined ? undefined : this.range(line, addr, addr, port);
  }

  private range(line: ConfigNode, first: number, last: number, port: number): GroupEntry | undefined {
    if (last - first + 1 > MAX_GROUP_RANGE) {
      this.error(line, `${line.keyword}: more than ${MAX_GROUP_RANGE} addresses in one range`);
      return undefined;
    }
    return { file: line.file, line: line.line, first, last, port };
  }

  private address(at: Location, text: string, message?: string): number | undefined {
    const addr = parseIpv4Address(text);
    if (addr !== undefined) return addr;
    if (text.includes(':')) this.error(at, `${text}: IPv6 is not supported by uvs (it serves IPv4)`);
    else this.error(at, message ?? `Invalid IP address ${text}`);
    return undefined;
  }

  private port(at: Location, text: string): number | undefined {
    const port = readUnsigned(text, 0, 65535);
    if (port === undefined) this.error(at, `Invalid port ${text}`);
    return port;
  }

  // ---- virtual_server IP PORT | fwmark N | group NAME ----

  private virtualServer(node: ConfigNode): void {
    const [first, second] = node.args;
    let address: VirtualServer['address'] | undefined;
    if (first === 'fwmark') {
      this.error(
        node,
        `virtual_server fwmark ${second ?? ''}: fwmark services are not supported by uvs yet (it has no firewall marks)`,
      );
    } else if (first === 'group') {
      if (second === undefined) this.error(node, 'virtual_server group needs a group name');
      else address = { kind: 'group', name: second };
    } else if (first === undefined) {
      this.error(node, 'virtual_server needs an address and a port');
    } else {
      const addr = this.address(node, first, `Invalid virtual server IP address ${first} - skipping`);
      const port = this.port(node, second ?? '0');
      if (addr !== undefined && port !== undefined) address = { kind: 'address', addr, port };
    }
    const block = this.block(node);
    if (address === undefined || block === undefined) return;
    const vs: RawVirtualServer = {
      file: node.file,
      line: node.line,
      address,
      schedFlags: 0,
      onePacket: false,
      persistenceTimeout: 0,
      persistenceGranularity: 0xffffffff,
      timing: {},
      delayLoop: DEFAULT_DELAY_LOOP,
      connectTimeout: DEFAULT_CONNECT_TIMEOUT,
      weight: 1,
      alpha: false,
      omega: false,
      quorum: 1,
      hysteresis: 0,
      inhibitOnFailure: false,
      realServers: [],
    };
    for (const item of block) this.virtualServerItem(vs, item);
    this.virtualServers.push(vs);
  }

  private virtualServerItem(vs: RawVirtualServer, node: ConfigNode): void {
    const arg = node.args[0];
    if (node.keyword === 'real_server') {
      this.realServer(vs, node);
      return;
    }
    if (!this.noBlock(node, VS_KEYWORDS)) return;
    switch (node.keyword) {
      case 'lb_algo':
      case 'lvs_sched':
        if (arg === undefined || !KEEPALIVED_SCHEDULERS.has(arg))
          this.error(node, `Invalid lvs_scheduler '${arg ?? ''}' - ignoring`);
        else vs.sched = arg;
        break;
      case 'lb_kind':
      case 'lvs_method': {
        const fwd = this.forwarding(node, 'virtual');
        if (fwd !== undefined) vs.forwarding = fwd;
        break;
      }
      case 'ops':
        vs.onePacket = true;
        break;
      case 'flag-1':
        vs.schedFlags |= SchedFlag.sched1;
        break;
      case 'flag-2':
        vs.schedFlags |= SchedFlag.sched2;
        break;
      case 'flag-3':
        vs.schedFlags |= SchedFlag.sched3;
        break;
      case 'sh-port':
      case 'sh-fallback':
      case 'mh-port':
      case 'mh-fallback': {
        // lbflags_handler(): only for the scheduler they name, as set so far.
        const sched = node.keyword.slice(0, 2);
        if (vs.sched !== sched) this.error(node, `${node.keyword} only applies to ${sched} scheduler - ignoring`);
        else vs.schedFlags |= node.keyword.endsWith('port') ? SchedFlag.sched2 : SchedFlag.sched1;
        break;
      }
      case 'persistence_timeout': {
        if (arg === undefined) {
          vs.persistenceTimeout = DEFAULT_PERSISTENCE_TIMEOUT;
          break;
        }
        const timeout = readUnsigned(arg, 1, MAX_PERSISTENCE_TIMEOUT);
        if (timeout === undefined) this.error(node, 'persistence_timeout invalid');
        else vs.persistenceTimeout = timeout;
        break;
      }
      case 'persistence_granularity': {
        const mask = arg === undefined ? undefined : parseIpv4Address(arg);
        if (mask === undefined) {
          this.error(node, `Invalid IPv4 persistence_granularity specified - ${arg ?? ''}`);
          break;
        }
        vs.persistenceGranularity = mask;
        if (vs.persistenceTimeout === 0) vs.persistenceTimeout = DEFAULT_PERSISTENCE_TIMEOUT;
        break;
      }
      case 'protocol': {
        const proto = arg?.toUpperCase();
        if (proto === 'TCP' || proto === 'UDP') vs.protocol = proto;
        else if (proto === 'SCTP') this.error(node, 'protocol SCTP is not supported by uvs (it serves TCP and UDP)');
        else this.error(node, `Unknown protocol ${arg ?? ''} - ignoring`);
        break;
      }
      case 'virtualhost':
        if (arg === undefined) this.error(node, 'virtual server virtualhost missing');
        else vs.virtualhost = arg;
        break;
      case 'delay_loop': {
        const value = readTimer(arg, 1e-6);
        if (value === undefined) this.error(node, `virtual server delay loop '${arg ?? ''}' invalid - ignoring`);
        else vs.delayLoop = value;
        break;
      }
      case 'connect_timeout': {
        const value = readTimer(arg, 1e-6);
        if (value === undefined) this.error(node, `virtual server connect_timeout ${arg ?? ''} invalid - ignoring`);
        else vs.connectTimeout = value;
        break;
      }
      case 'retry':
      case 'delay_before_retry':
      case 'warmup':
        this.timingItem(vs.timing, node, 'virtual server');
        break;
      case 'inhibit_on_failure':
        vs.inhibitOnFailure = true;
        break;
      case 'alpha':
        vs.alpha = true;
        break;
      case 'omega':
        vs.omega = true;
        break;
      case 'quorum': {
        const value = readUnsigned(arg, 1, 0xffffffff);
        if (value === undefined) this.error(node, `Quorum ${arg ?? ''} must be in [1, 4294967295]. Setting to 1.`);
        vs.quorum = value ?? 1;
        break;
      }
      case 'hysteresis': {
        const value = readUnsigned(arg, 0, 0xffffffff);
        if (value === undefined) this.error(node, `Hysteresis ${arg ?? ''} must be in [0, 4294967295] - ignoring`);
        else vs.hysteresis = value;
        break;
      }
      case 'quorum_up':
        this.setScript(vs, 'quorumUp', node);
        break;
      case 'quorum_down':
        this.setScript(vs, 'quorumDown', node);
        break;
      case 'weight': {
        const value = this.weight(node, 'Virtual server', 1);
        if (value !== undefined) vs.weight = value;
        break;
      }
      case 'sorry_server': {
        const addr = arg === undefined ? undefined : this.address(node, arg);
        const port = this.port(node, node.args[1] ?? '0');
        if (addr !== undefined && port !== undefined) {
          vs.sorry = { at: { file: node.file, line: node.line }, addr, port, inhibit: false };
        }
        break;
      }
      case 'ip_family':
        // uvs serves IPv4, which is what `inet` says.
        if (arg === 'inet6') this.error(node, 'ip_family inet6: IPv6 is not supported by uvs (it serves IPv4)');
        else if (arg !== 'inet') this.error(node, `unknown address family ${arg ?? ''}`);
        break;
      case 'sorry_server_inhibit':
        if (vs.sorry === undefined)
          this.error(node, 'Ignoring sorry_server inhibit used before or without sorry_server');
        else vs.sorry.inhibit = true;
        break;
      case 'sorry_server_lvs_method': {
        if (vs.sorry === undefined) {
          this.error(node, 'sorry_server forwarding used without sorry_server');
          break;
        }
        const fwd = this.forwarding(node, 'sorry');
        if (fwd !== undefined) vs.sorry.forwarding = fwd;
        break;
      }
      default: {
        const why = IGNORED_VS_KEYWORDS[node.keyword];
        if (why !== undefined) this.ignore(node, node.keyword, why);
        else this.unknown(node);
      }
    }
  }

  /** svr_forwarding_handler(): NAT, DR or TUN; TUN's `type ipip` is the only tunnel uvs has. */
  private forwarding(node: ConfigNode, what: string): Forwarding | undefined {
    const [method, ...options] = node.args;
    if (method !== 'NAT' && method !== 'DR' && method !== 'TUN') {
      this.error(node, `PARSER : unknown [${method ?? ''}] routing method for ${what} server.`);
      return undefined;
    }
    if (
      options.length > 0 &&
      !(method === 'TUN' && options.length === 2 && options[0] === 'type' && options[1] === 'ipip')
    ) {
      this.error(node, `${options.join(' ')}: uvs tunnels are IPIP only, without options`);
      return undefined;
    }
    return method;
  }

  /** A virtual or real server's weight: keepalived's range, then the one uvs (and ipvsadm -w) has. */
  private weight(node: ConfigNode, what: 'Virtual server' | 'Real server', min: number): number | undefined {
    const arg = node.args[0] ?? '';
    const value = readUnsigned(arg, min, KEEPALIVED_MAX_WEIGHT);
    if (value === undefined) this.error(node, `${what} weight ${arg} is outside range ${min}-${KEEPALIVED_MAX_WEIGHT}`);
    else if (value > MAX_WEIGHT)
      this.error(node, `weight ${arg}: uvs takes weights ${min}-${MAX_WEIGHT} (as ipvsadm -w)`);
    else return value;
    return undefined;
  }

  /** A script keyword given once (a second one is refused, as keepalived ignores it). */
  private setScript<K extends string>(target: { [key in K]?: Script }, key: K, node: ConfigNode): void {
    const script = this.script(node, true);
    if (script === undefined) return;
    if (target[key] !== undefined)
      this.error(node, `${node.keyword} script already specified - ignoring ${script.argv[0]}`);
    else target[key] = script;
  }

  /**
   * notify_script_init() / misc_path_handler(): the line split with quotes of both kinds, its second word
   * split again with escapes into the program and its arguments; for notify scripts the next words are the
   * user and group.
   */
  private script(node: ConfigNode, withUser: boolean): Script | undefined {
    const words = splitQuoted(node.text, false);
    if (!Array.isArray(words)) {
      this.error(node, words.error);
      return undefined;
    }
    const argv = words[1] === undefined ? [] : splitQuoted(words[1], true);
    if (!Array.isArray(argv) || argv.length === 0) {
      this.error(node, `Unable to parse script '${words[1] ?? ''}' for ${node.keyword}`);
      return undefined;
    }
    return { argv, user: withUser ? words[2] : undefined, group: withUser ? words[3] : undefined };
  }

  /** retry, delay_before_retry, warmup, delay_loop, connect_timeout and alpha where a server or checker has them. */
  private timingItem(timing: RawTiming, node: ConfigNode, what: string): void {
    const arg = node.args[0];
    switch (node.keyword) {
      case 'retry': {
        // The virtual and real server's retry starts at 1 (check_parser.c), a checker's at 0 (check_api.c).
        const value = readUnsigned(arg, what === 'checker' ? 0 : 1, 0xffffffff);
        if (value === undefined) this.error(node, `retry value invalid - ${arg ?? ''}`);
        else timing.retry = value;
        break;
      }
      case 'delay_before_retry':
      case 'warmup': {
        const value = readTimer(arg, 0);
        if (value === undefined) this.error(node, `${what} ${node.keyword} '${arg ?? ''}' invalid - ignoring`);
        else if (node.keyword === 'warmup') timing.warmup = value;
        else timing.delayBeforeRetry = value;
        break;
      }
      case 'delay_loop': {
        const value = readTimer(arg, 1e-6);
        if (value === undefined) this.error(node, `${what} delay_loop '${arg ?? ''}' invalid - ignoring`);
        else timing.delayLoop = value;
        break;
      }
      case 'connect_timeout': {
        const value = readTimer(arg, 1e-6);
        if (value === undefined) this.error(node, `${what} connect_timeout ${arg ?? ''} invalid - ignoring`);
        else timing.connectTimeout = value;
        break;
      }
      case 'alpha': {
        const value = readBool(node.args);
        if (value === undefined) this.error(node, `Invalid alpha parameter ${arg}`);
        else timing.alpha = value;
        break;
      }
    }
  }

  // ---- real_server IP PORT { ... } ----

  private realServer(vs: RawVirtualServer, node: ConfigNode): void {
    const [addrText, portText] = node.args;
    const addr =
      addrText === undefined
        ? undefined
        : this.address(node, addrText, `Invalid real server ip address/port ${addrText}/${portText ?? ''} - skipping`);
    const port = this.port(node, portText ?? '0');
    const block = this.block(node) ?? [];
    if (addr === undefined || port === undefined) return;
    const rs: RawRealServer = {
      file: node.file,
      line: node.line,
      addr,
      port,
      uThreshold: 0,
      lThreshold: 0,
      checkers: [],
    };
    for (const item of block) {
      if (CHECKER_TYPES.has(item.keyword)) {
        this.checker(rs, item);
        continue;
      }
      if (!this.noBlock(item, RS_KEYWORDS)) continue;
      const arg = item.args[0];
      switch (item.keyword) {
        case 'weight': {
          const value = this.weight(item, 'Real server', 0);
          if (value !== undefined) rs.weight = value;
          break;
        }
        case 'lvs_method': {
          const fwd = this.forwarding(item, 'real');
          if (fwd !== undefined) rs.forwarding = fwd;
          break;
        }
        case 'uthreshold':
        case 'lthreshold': {
          const value = readUnsigned(arg, 0, 0x7fffffff);
          if (value === undefined) this.error(item, `Invalid real_server ${item.keyword} '${arg ?? ''}' - ignoring`);
          else if (item.keyword === 'uthreshold') rs.uThreshold = value;
          else rs.lThreshold = value;
          break;
        }
        case 'inhibit_on_failure': {
          const value = readBool(item.args);
          if (value === undefined) this.error(item, `Invalid inhibit_on_failure parameter ${arg}`);
          else rs.inhibitOnFailure = value;
          break;
        }
        case 'notify_up':
          this.setScript(rs, 'notifyUp', item);
          break;
        case 'notify_down':
          this.setScript(rs, 'notifyDown', item);
          break;
        case 'virtualhost':
          if (arg === undefined) this.error(item, 'real server virtualhost missing');
          else rs.virtualhost = arg;
          break;
        case 'retry':
        case 'delay_before_retry':
        case 'warmup':
        case 'delay_loop':
        case 'connect_timeout':
        case 'alpha':
          this.timingItem(rs, item, 'real server');
          break;
        case 'smtp_alert':
        case 'snmp_name':
        case 'track_file':
        case 'track_bfd':
          this.ignore(item, `real_server ${item.keyword}`, 'not done by uvs');
          break;
        default:
          this.unknown(item);
      }
    }
    vs.realServers.push(rs);
  }

  // ---- checkers ----

  private checker(rs: RawRealServer, node: ConfigNode): void {
    const type = node.keyword as CheckerType;
    const checker: RawChecker = {
      file: node.file,
      line: node.line,
      type,
      timing: {},
      connection: {},
      details: {},
      urls: [],
    };
    const block = this.block(node) ?? [];
    const connection = type !== 'MISC_CHECK';
    for (const item of block) {
      if (item.keyword === 'url' && (type === 'HTTP_GET' || type === 'SSL_GET')) {
        this.url(checker, item);
        continue;
      }
      if (item.keyword === 'host' && type === 'SMTP_CHECK') {
        this.ignore(item, 'SMTP_CHECK host', 'deprecated in keepalived; write one SMTP_CHECK per host');
        continue;
      }
      if (!this.noBlock(item)) continue;
      if (connection && this.connectionItem(checker, item)) continue;
      if (['retry', 'delay_before_retry', 'warmup', 'delay_loop', 'alpha'].includes(item.keyword)) {
        this.timingItem(checker.timing, item, 'checker');
        continue;
      }
      if (item.keyword === 'log_all_failures') {
        const value = readBool(item.args);
        if (value === undefined) this.error(item, `Invalid log_all_failures parameter ${item.args[0]}`);
        else checker.logAllFailures = value;
        continue;
      }
      if (!this.checkerItem(checker, item)) this.unknown(item);
    }
    if (type === 'HTTP_GET' || type === 'SSL_GET') {
      if (checker.urls.length === 0) {
        this.warn(node, `HTTP/SSL_GET checker has no urls specified - ignoring`);
        return;
      }
    }
    if (type === 'MISC_CHECK' && checker.details.script === undefined) {
      this.warn(node, 'No script path has been specified for MISC_CHECKER - skipping');
      return;
    }
    rs.checkers.push(checker);
  }

  private connectionItem(checker: RawChecker, node: ConfigNode): boolean {
    const arg = node.args[0];
    const c = checker.connection;
    switch (node.keyword) {
      case 'connect_ip': {
        const addr = arg === undefined ? undefined : this.address(node, arg);
        if (addr !== undefined) c.connectIp = addr;
        return true;
      }
      case 'connect_port': {
        const port = readUnsigned(arg, 1, 65535);
        if (port === undefined) this.error(node, `Invalid checker connect_port '${arg ?? ''}'`);
        else c.connectPort = port;
        return true;
      }
      case 'bindto': {
        const addr =
          arg === undefined ? undefined : this.address(node, arg, `Invalid bindto address ${arg} - ignoring`);
        if (addr !== undefined) c.bindto = addr;
        return true;
      }
      case 'bind_port': {
        const port = readUnsigned(arg, 1, 65535);
        if (port === undefined) this.error(node, `Invalid checker bind_port '${arg ?? ''}'`);
        else c.bindPort = port;
        return true;
      }
      case 'bind_if':
        if (arg === undefined || arg.length > 15) this.error(node, `Interface name ${arg ?? ''} is invalid - ignoring`);
        else c.bindIf = arg;
        return true;
      case 'connect_timeout':
        this.timingItem(checker.timing, node, 'checker');
        return true;
      case 'fwmark': {
        const mark = readUnsigned(arg, 0, 0xffffffff);
        if (mark === undefined) this.error(node, `Invalid fwmark connection value '${arg ?? ''}'`);
        else c.fwmark = mark;
        return true;
      }
      default:
        return false;
    }
  }

  /** The keywords of one checker type; false for a keyword it does not have. */
  private checkerItem(checker: RawChecker, node: ConfigNode): boolean {
    const arg = node.args[0];
    const d = checker.details;
    switch (`${checker.type} ${node.keyword}`) {
      case 'HTTP_GET nb_get_retry':
      case 'SSL_GET nb_get_retry': {
        this.warn(node, "nb_get_retry is deprecated - please use 'retry'");
        const value = readUnsigned(arg, 0, 0xffffffff);
        if (value === undefined) this.error(node, `Invalid nb_get_retry value '${arg ?? ''}'`);
        else checker.timing.retry = value;
        return true;
      }
      case 'HTTP_GET virtualhost':
      case 'SSL_GET virtualhost':
        if (arg === undefined) this.error(node, 'HTTP_GET virtualhost name missing');
        else d.virtualhost = arg;
        return true;
      case 'HTTP_GET http_protocol':
      case 'SSL_GET http_protocol': {
        const version = arg === '1.0c' ? '1.0C' : arg;
        if (version !== '1.0' && version !== '1.0C' && version !== '1.1')
          this.error(node, `Invalid http_protocol version ${arg ?? ''}`);
        else d.httpProtocol = version;
        return true;
      }
      case 'HTTP_GET enable_sni':
      case 'SSL_GET enable_sni':
      case 'HTTP_GET fast_recovery':
      case 'SSL_GET fast_recovery': {
        const value = readBool(node.args);
        if (value === undefined) this.error(node, `Invalid ${node.keyword} parameter ${arg}`);
        else d[node.keyword === 'enable_sni' ? 'enableSni' : 'fastRecovery'] = value;
        return true;
      }
      case 'HTTP_GET sni_name':
      case 'SSL_GET sni_name':
        if (arg !== undefined) d.sniName = arg;
        d.enableSni = true;
        return true;
      case 'HTTP_GET tls_compliant':
      case 'SSL_GET tls_compliant':
        this.ignore(node, 'tls_compliant', 'uvs closes TLS connections as TLS requires');
        return true;
      case 'UDP_CHECK payload': {
        const hex = readHex(node.args.join(' '), false);
        if (hex === undefined) this.error(node, 'Invalid hex string for UDP_CHECK payload');
        else d.payload = hexBytes(hex);
        return true;
      }
      case 'UDP_CHECK require_reply': {
        d.requireReply = true;
        if (node.args.length === 0) return true;
        const hex = readHex(node.args.join(' '), true);
        if (hex === undefined) this.error(node, 'Invalid hex string for UDP_CHECK reply');
        else d.reply = hex;
        return true;
      }
      case 'UDP_CHECK min_reply_length':
      case 'UDP_CHECK max_reply_length': {
        const value = readUnsigned(arg, 0, 65535);
        const which = node.keyword.startsWith('min') ? 'min' : 'max';
        if (value === undefined)
          this.error(node, `UDP_CHECK ${which} length ${arg ?? ''} not valid - must be between 0 & 65535`);
        else d[which === 'min' ? 'minReplyLength' : 'maxReplyLength'] = value;
        return true;
      }
      case 'DNS_CHECK type':
        if (arg === undefined || !DNS_TYPES.has(arg.toUpperCase()))
          this.error(node, `Unknown DNS check type ${arg ?? ''} - ignoring`);
        else d.queryType = arg.toUpperCase();
        return true;
      case 'DNS_CHECK name': {
        if (d.name !== undefined) {
          this.error(node, 'DNS_CHECK name already specified - ignoring');
          return true;
        }
        const name = arg ?? '';
        if ((name.startsWith('.') && name !== '.') || name.includes('..')) {
          this.error(node, `DNS_CHECK name '${name}' has empty label - ignoring`);
        } else d.name = name;
        return true;
      }
      case 'SMTP_CHECK helo_name':
        if (arg === undefined) this.error(node, 'SMTP_CHECK helo name missing');
        else d.heloName = arg;
        return true;
      case 'MISC_CHECK misc_path': {
        const script = this.script(node, false);
        if (script !== undefined) d.script = script;
        return true;
      }
      case 'MISC_CHECK misc_timeout': {
        const value = readUnsigned(arg, 0, 4294);
        if (value === undefined) this.error(node, `Invalid misc_timeout value '${arg ?? ''}'`);
        else d.timeout = value;
        return true;
      }
      case 'MISC_CHECK misc_dynamic':
        d.dynamic = true;
        return true;
      case 'MISC_CHECK user':
        if (arg === undefined) this.error(node, 'No user specified for misc checker script');
        else d.user = node.args;
        return true;
      default:
        return false;
    }
  }

  private url(checker: RawChecker, node: ConfigNode): void {
    const block = this.block(node);
    if (block === undefined) return;
    let path: string | undefined;
    let digest: string | undefined;
    let virtualhost: string | undefined;
    const codes = new Set<number>();
    for (const item of block) {
      if (!this.noBlock(item)) continue;
      const arg = item.args[0];
      switch (item.keyword) {
        case 'path':
          if (arg === undefined) this.error(item, 'url path missing');
          else path = arg;
          break;
        case 'digest':
          if (digest !== undefined) this.error(item, `Digest '${arg ?? ''}' is a duplicate`);
          else if (arg === undefined || !/^[0-9a-fA-F]{32}$/.test(arg)) {
            this.error(item, `digest '${arg ?? ''}' should be 32 hex digits (an MD5)`);
          } else digest = arg.toLowerCase();
          break;
        case 'status_code':
          for (const word of item.args) {
            const m = /^(\d+)(?:-(\d+))?$/.exec(word);
            const min = m === null ? Number.NaN : Number(m[1]);
            const max = m === null ? Number.NaN : m[2] === undefined ? min : Number(m[2]);
            if (!(min >= 100 && max <= 599 && min <= max)) {
              this.error(item, `Invalid HTTP_GET status code '${word}'`);
              continue;
            }
            for (let code = min; code <= max; code++) codes.add(code);
          }
          break;
        case 'virtualhost':
          if (arg === undefined) this.error(item, 'Missing HTTP_GET virtualhost name');
          else virtualhost = arg;
          break;
        case 'regex':
        case 'regex_no_match':
        case 'regex_options':
        case 'regex_min_offset':
        case 'regex_max_offset':
        case 'regex_stack':
          this.error(item, `url ${item.keyword}: body regular expressions are not checked by uvs yet`);
          break;
        case 'tls_compliant':
          this.ignore(item, 'tls_compliant', 'uvs closes TLS connections as TLS requires');
          break;
        default:
          this.unknown(item);
      }
    }
    if (path === undefined) {
      this.warn(node, 'HTTP/SSL_GET checker url has no path - ignoring');
      return;
    }
    // url_check(): no status_code means 200-299.
    if (codes.size === 0) for (let code = 200; code <= 299; code++) codes.add(code);
    checker.urls.push({
      file: node.file,
      line: node.line,
      path,
      digest,
      statusCodes: [...codes].sort((a, b) => a - b),
      virtualhost,
    });
  }
}

// ---- validate_check_config(): defaults, inheritance and corrections ----

function resolveVirtualServer(raw: RawVirtualServer, interp: Interpreter): VirtualServer | undefined {
  const name = describeRaw(raw);
  if (raw.address.kind === 'group' && !interp.groups.has(raw.address.name)) {
    interp.error(raw, `Virtual server group ${raw.address.name} not found`);
    return undefined;
  }
  if (raw.realServers.length === 0) {
    interp.warn(raw, `Virtual server ${name} has no real servers - ignoring`);
    return undefined;
  }
  let protocol = raw.protocol;
  if (protocol === undefined) {
    interp.warn(raw, `Virtual server ${name}: no protocol set - defaulting to UDP`);
    protocol = 'UDP';
  }
  let onePacket = raw.onePacket;
  if (onePacket && protocol !== 'UDP') {
    interp.warn(raw, `Virtual server ${name}: one packet scheduling requires UDP - resetting`);
    onePacket = false;
  }
  let persistenceTimeout = raw.persistenceTimeout;
  const zeroPort =
    raw.address.kind === 'address'
      ? raw.address.port === 0
      : interp.groups.get(raw.address.name)!.entries.some((e) => e.port === 0);
  if (persistenceTimeout === 0 && zeroPort) {
    interp.warn(raw, `Virtual server ${name}: zero port only valid for persistent services - setting`);
    persistenceTimeout = DEFAULT_PERSISTENCE_TIMEOUT;
  }
  let sched = raw.sched;
  if (sched === undefined) {
    interp.warn(raw, `Virtual server ${name}: no scheduler set, setting default '${DEFAULT_SCHEDULER}'`);
    sched = DEFAULT_SCHEDULER;
  }
  let vsForwarding = raw.forwarding;
  const vsPort = raw.address.kind === 'address' ? raw.address.port : undefined;
  const realServers: RealServer[] = [];
  for (const rs of raw.realServers) {
    if (realServers.some((r) => r.addr === rs.addr && r.port === rs.port)) {
      interp.warn(rs, `VS ${name}: real server ${describeAddr(rs.addr, rs.port)} is duplicated - removing second rs`);
      continue;
    }
    let forwarding = rs.forwarding;
    if (forwarding === undefined) {
      if (vsForwarding === undefined) {
        interp.warn(raw, `Virtual server ${name}: no forwarding method set, setting default NAT`);
        vsForwarding = 'NAT';
      }
      forwarding = vsForwarding;
    }
    let port = rs.port;
    if (raw.address.kind === 'group' && forwarding !== 'NAT' && port !== 0) {
      // A group's services each keep their own port; DR and TUN real servers are served on it.
      const group = interp.groups.get(raw.address.name)!;
      for (const entry of group.entries.filter((e) => e.port !== port)) {
        interp.warn(
          rs,
          `virtual server ${name}:[${describeEntry(entry)}] and real server ${describeAddr(rs.addr, rs.port)} ports don't match`,
        );
      }
    }
    if (vsPort !== undefined) {
      if (port === 0) port = vsPort;
      else if (forwarding !== 'NAT' && port !== vsPort) {
        interp.warn(
          rs,
          `WARNING - virtual server ${name} and real server ${describeAddr(rs.addr, rs.port)} ports don't match - resetting`,
        );
        port = vsPort;
      }
    }
    const timing: RawTiming = {
      retry: rs.retry ?? raw.timing.retry,
      connectTimeout: rs.connectTimeout ?? raw.connectTimeout,
      delayLoop: rs.delayLoop ?? raw.delayLoop,
      warmup: rs.warmup ?? raw.timing.warmup,
      delayBeforeRetry: rs.delayBeforeRetry ?? raw.timing.delayBeforeRetry,
      alpha: rs.alpha ?? raw.alpha,
    };
    const virtualhost = rs.virtualhost ?? raw.virtualhost;
    realServers.push({
      file: rs.file,
      line: rs.line,
      addr: rs.addr,
      port,
      weight: rs.weight ?? raw.weight,
      forwarding,
      uThreshold: rs.uThreshold,
      lThreshold: rs.lThreshold,
      inhibitOnFailure: rs.inhibitOnFailure ?? raw.inhibitOnFailure,
      alpha: timing.alpha!,
      notifyUp: rs.notifyUp,
      notifyDown: rs.notifyDown,
      checkers: rs.checkers.map((c) => resolveChecker(c, rs.addr, port, timing, virtualhost, interp)),
    });
  }
  const weightSum = realServers.reduce((sum, rs) => sum + rs.weight, 0);
  let quorum = raw.quorum;
  if (quorum > weightSum) {
    interp.warn(
      raw,
      `Warning - quorum ${quorum} for ${name} exceeds total weight of real servers ${weightSum}, reducing quorum to ${weightSum}`,
    );
    quorum = weightSum;
  }
  let hysteresis = raw.hysteresis;
  if (hysteresis >= quorum && hysteresis > 0) {
    const reduced = Math.max(quorum - 1, 0);
    interp.warn(
      raw,
      `Virtual server ${name}: hysteresis ${hysteresis} >= quorum ${quorum}; setting hysteresis to ${reduced}`,
    );
    hysteresis = reduced;
  }
  let sorryServer: SorryServer | undefined;
  if (raw.sorry !== undefined) {
    const forwarding = raw.sorry.forwarding ?? vsForwarding ?? 'NAT';
    let port = raw.sorry.port;
    if (vsPort !== undefined && (port === 0 || forwarding !== 'NAT')) port = vsPort;
    sorryServer = { ...raw.sorry.at, addr: raw.sorry.addr, port, forwarding, inhibit: raw.sorry.inhibit };
  }
  return {
    file: raw.file,
    line: raw.line,
    address: raw.address,
    protocol,
    sched,
    schedFlags: raw.schedFlags,
    onePacket,
    forwarding: vsForwarding ?? 'NAT',
    persistenceTimeout,
    persistenceGranularity: raw.persistenceGranularity,
    virtualhost: raw.virtualhost,
    delayLoop: raw.delayLoop,
    connectTimeout: raw.connectTimeout,
    alpha: raw.alpha,
    omega: raw.omega,
    quorum,
    hysteresis,
    quorumUp: raw.quorumUp,
    quorumDown: raw.quorumDown,
    inhibitOnFailure: raw.inhibitOnFailure,
    sorryServer,
    realServers,
  };
}

function resolveChecker(
  raw: RawChecker,
  addr: number,
  port: number,
  server: RawTiming,
  virtualhost: string | undefined,
  interp: Interpreter,
): Checker {
  const defaults = CHECKER_DEFAULTS[raw.type];
  const delayLoop = raw.timing.delayLoop ?? server.delayLoop!;
  const timing = {
    retry: raw.timing.retry ?? server.retry ?? defaults.retry,
    delayLoop,
    warmup: raw.timing.warmup ?? server.warmup ?? delayLoop,
    delayBeforeRetry:
      raw.timing.delayBeforeRetry ??
      server.delayBeforeRetry ??
      (defaults.delayBeforeRetry === 'delay_loop' ? delayLoop : defaults.delayBeforeRetry),
    alpha: raw.timing.alpha ?? server.alpha!,
    logAllFailures: raw.logAllFailures ?? interp.globalDefs.checkerLogAllFailures,
  };
  const at = { file: raw.file, line: raw.line };
  const d = raw.details;
  if (raw.type === 'MISC_CHECK') {
    const user = (d.user as readonly string[] | undefined) ?? interp.globalDefs.scriptUser ?? [];
    return {
      ...at,
      ...timing,
      type: 'MISC_CHECK',
      script: { ...(d.script as Script), user: user[0], group: user[1] },
      timeout: (d.timeout as number | undefined) ?? 0,
      dynamic: d.dynamic === true,
    };
  }
  const c = raw.connection;
  const connection: ConnectionOptions = {
    connectIp: c.connectIp ?? addr,
    connectPort: c.connectPort ?? port,
    bindto: c.bindto,
    bindPort: c.bindPort,
    bindIf: c.bindIf,
    connectTimeout: raw.timing.connectTimeout ?? server.connectTimeout!,
    fwmark: c.fwmark,
  };
  const base = { ...at, ...timing, ...connection };
  switch (raw.type) {
    case 'TCP_CHECK':
    case 'PING_CHECK':
      return { ...base, type: raw.type };
    case 'HTTP_GET':
    case 'SSL_GET':
      return {
        ...base,
        type: raw.type,
        urls: raw.urls,
        virtualhost: (d.virtualhost as string | undefined) ?? virtualhost,
        httpProtocol: (d.httpProtocol as '1.0' | '1.0C' | '1.1' | undefined) ?? '1.0',
        enableSni: d.enableSni === true,
        sniName: d.sniName as string | undefined,
        fastRecovery: d.fastRecovery === true,
      };
    case 'UDP_CHECK': {
      const minReplyLength = (d.minReplyLength as number | undefined) ?? 0;
      const maxReplyLength = (d.maxReplyLength as number | undefined) ?? 255;
      if (minReplyLength > maxReplyLength) {
        interp.warn(
          raw,
          `UDP_CHECK min_reply length ${minReplyLength} > max_reply_length ${maxReplyLength} - will always fail`,
        );
      }
      return {
        ...base,
        type: 'UDP_CHECK',
        payload: d.payload as Uint8Array | undefined,
        requireReply: d.requireReply === true,
        reply: d.reply as string | undefined,
        minReplyLength,
        maxReplyLength,
      };
    }
    case 'DNS_CHECK':
      return {
        ...base,
        type: 'DNS_CHECK',
        queryType: (d.queryType as string | undefined) ?? 'SOA',
        name: (d.name as string | undefined) ?? '',
      };
    case 'SMTP_CHECK':
      return {
        ...base,
        type: 'SMTP_CHECK',
        heloName: (d.heloName as string | undefined) ?? 'smtpchecker.keepalived.org',
      };
  }
}

function describeAddr(addr: number, port: number): string {
  return `[${[addr >>> 24, (addr >>> 16) & 0xff, (addr >>> 8) & 0xff, addr & 0xff].join('.')}]:${port}`;
}

function describeEntry(entry: GroupEntry): string {
  const first = describeAddr(entry.first, entry.port);
  return entry.first === entry.last
    ? first
    : `${first.slice(0, first.lastIndexOf(']'))}-${describeAddr(entry.last, entry.port).slice(1)}`;
}

function describeRaw(raw: RawVirtualServer): string {
  return raw.address.kind === 'group' ? `group ${raw.address.name}` : describeAddr(raw.address.addr, raw.address.port);
}

export interface ParseOutcome {
  readonly config: KeepalivedConfig;
  /** Empty when the file can be loaded. */
  readonly errors: readonly Diagnostic[];
}

/** Reads a keepalived.conf and its includes; every error and warning is collected with its FILE:LINE. */
export function parseKeepalivedConfig(path: string): ParseOutcome {
  const tree = readConfigTree(path);
  const interp = new Interpreter();
  interp.errors.push(...tree.errors);
  interp.warnings.push(...tree.warnings);
  interp.root(tree.nodes);
  const virtualServers: VirtualServer[] = [];
  for (const raw of interp.virtualServers) {
    const vs = resolveVirtualServer(raw, interp);
    if (vs !== undefined) virtualServers.push(vs);
  }
  const byPlace = (a: Diagnostic, b: Diagnostic): number =>
    tree.files.indexOf(a.file) - tree.files.indexOf(b.file) || a.line - b.line;
  return {
    config: {
      globalDefs: interp.globalDefs,
      groups: interp.groups,
      virtualServers,
      ignored: interp.ignored,
      warnings: [...interp.warnings].sort(byPlace),
      files: tree.files,
    },
    errors: [...interp.errors].sort(byPlace),
  };
}

/** parseKeepalivedConfig(), throwing KeepalivedConfigError when the file has errors. */
export function loadKeepalivedConfig(path: string): KeepalivedConfig {
  const { config, errors } = parseKeepalivedConfig(path);
  if (errors.length > 0) throw new KeepalivedConfigError(errors);
  return config;
}
