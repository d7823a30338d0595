// The director's configuration file (YAML): the interfaces uvs captures on with their MAC, MTU and owned
// addresses, static neighbours, routes, and where the rules, control socket and state live. Parsed once at
// start into a frozen `DirectorConfig` whose addresses are host-order numbers, so the datapath never sees
// text. A bad file is rejected with the YAML line of the offending node and the reason.
//
// `mac: auto` and `mtu: auto` are read from /sys/class/net/<name>/ through an `InterfaceReader`, which tests
// replace so that no real interface is needed.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, type Node, type Pair, parseDocument, type YAMLMap } from 'yaml';
import { MAX_BATCH } from '../io/batch.js';
import { DEFAULT_DEFENSE, type DefenseSettings } from '../ipvs/defense.js';
import { ipv4ToString as fmt, parseIpv4Address, parseMac } from '../wire/addr.js';
import { type ListenAddress, parseListenAddress } from './listen.js';

export const DEFAULT_CONTROL_PATH = '/run/uvs/uvs.sock';
export const DEFAULT_STATE_PATH = '/var/lib/uvs/rules.state';
export const DEFAULT_CONN_CAPACITY = 1048576;
export const DEFAULT_IO_BATCH = 64;
/** RFC 791: every IPv4 host must take 68-byte datagrams; the 16-bit total length caps the other end. */
export const MIN_MTU = 68;
export const MAX_MTU = 65535;

/** An address uvs owns on a link; the prefix says which other addresses are on that link. */
export interface InterfaceAddress {
  readonly addr: number;
  readonly prefixLen: number;
  /** Host-order netmask (0 for /0). */
  readonly mask: number;
  readonly network: number;
}

export interface InterfaceConfig {
  readonly name: string;
  /** 48-bit MAC as a number. */
  readonly mac: number;
  readonly mtu: number;
  readonly addresses: readonly InterfaceAddress[];
}

export interface NeighbourConfig {
  readonly ip: number;
  readonly mac: number;
}

/**
 * `arp:` the neighbour table's thresholds and times, named after the kernel's sysctls
 * (net.ipv4.neigh.default.gc_thresh1 ...); times in seconds.
 */
export interface ArpConfig {
  /** Below this many learned entries the periodic gc forgets nothing. */
  readonly gcThresh1: number;
  /** Creating an entry with this many learned runs a forced gc (at most every 5 s). */
  readonly gcThresh2: number;
  /** Hard limit of learned entries; creating one at the limit always runs a forced gc first. */
  readonly gcThresh3: number;
  /** A stale entry neither used nor confirmed for this long is forgotten by the periodic gc. */
  readonly gcStaleTime: number;
  /** An ARP from a neighbour makes it reachable for a random time in [base/2, 3*base/2). */
  readonly baseReachableTime: number;
}

/** The kernel's defaults. */
export const DEFAULT_ARP: ArpConfig = Object.freeze({
  gcThresh1: 128,
  gcThresh2: 512,
  gcThresh3: 1024,
  gcStaleTime: 60,
  baseReachableTime: 30,
});
/**
 * Learned neighbours the table may hold: its arrays are allocated for this many at start, and the datapath's
 * neighbour tick walks them all ten times a second.
 */
const MAX_GC_THRESH3 = 65536;
/** A day, in seconds: longer neighbour times are a mistake, not a setting. */
const MAX_ARP_SECONDS = 86400;

export interface RouteConfig {
  /** Destination network (0 with prefixLen 0 for `default`). */
  readonly network: number;
  readonly prefixLen: number;
  readonly mask: number;
  /** Gateway; on-link on one of the interfaces. */
  readonly via: number;
}

export interface IoConfig {
  readonly backend: 'afpacket' | 'afxdp' | 'pcap';
  readonly rx: 'ring' | 'mmsg';
  readonly wake: 'poll' | 'busy' | 'coalesce' | 'adaptive';
  readonly batch: number;
  /**
   * 'off' (default): `uvs daemon` turns GRO and LRO off on the capture interfaces while it runs, because a
   * packet socket sees the merged frames, which uvs would only cut up again. 'keep' leaves them as they are.
   */
  readonly gro: 'off' | 'keep';
}

export interface ReloadConfig {
  /**
   * What SIGHUP does with a rules file that holds no commands (emptied by mistake, truncated by a failed
   * copy): 'refuse' (default) keeps the running rules and logs a warning; 'clear' removes every service.
   */
  readonly empty: 'refuse' | 'clear';
}

export interface DirectorConfig {
  readonly interfaces: readonly InterfaceConfig[];
  readonly neighbours: readonly NeighbourConfig[];
  /** Optional so that configurations built in code get the kernel's defaults; parseConfig always fills it. */
  readonly arp?: ArpConfig;
  readonly routes: readonly RouteConfig[];
  /** Absolute path of the initial rules file (resolved against the config file's directory), or null. */
  readonly rules: string | null;
  readonly control: string;
  readonly state: string;
  readonly io: IoConfig;
  readonly conn: { readonly capacity: number };
  /** SIGHUP (the daemon's reload of the rules file); absent means the defaults. */
  readonly reload?: ReloadConfig;
  /**
   * `defense:` (the kernel's amemthresh, am_droprate, drop_entry, drop_packet, secure_tcp sysctls, and
   * reclaim_embryonic). Optional so that configurations built in code may leave the core's settings alone;
   * parseConfig always fills it.
   */
  readonly defense?: DefenseSettings;
  /** `metrics: HOST:PORT`: where the Prometheus endpoint listens; absent (or null) means no endpoint. */
  readonly metrics?: ListenAddress | null;
}

/** Reads what `auto` stands for; the default reads sysfs, tests pass their own. */
export interface InterfaceReader {
  /** The interface's MAC as text (`aa:bb:cc:dd:ee:ff`). Throws when the interface does not exist. */
  mac(name: string): string;
  /** The interface's MTU as text or number. Throws when the interface does not exist. */
  mtu(name: string): string | number;
}

export const sysfsInterfaceReader: InterfaceReader = {
  mac: (name) => readFileSync(`/sys/class/net/${name}/address`, 'utf8').trim(),
  mtu: (name) => readFileSync(`/sys/class/net/${name}/mtu`, 'utf8').trim(),
};

export const ConfigErrorCode = {
  io: 'CONFIG_IO',
  syntax: 'CONFIG_SYNTAX',
  unknownKey: 'CONFIG_UNKNOWN_KEY',
  missing: 'CONFIG_MISSING',
  badValue: 'CONFIG_BAD_VALUE',
  interfaceRead: 'CONFIG_INTERFACE_READ',
} as const;
export type ConfigErrorCodeValue = (typeof ConfigErrorCode)[keyof typeof ConfigErrorCode];

/** The one error this module throws: a stable code, the 1-based YAML line (0 when none applies). */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly code: ConfigErrorCodeValue,
    readonly line: number,
    readonly reason: string,
    readonly file = '',
  ) {
    super(`${file === '' ? 'config' : file}${line > 0 ? `:${line}` : ''}: ${reason} [${code}]`);
  }
}

export interface ParseConfigOptions {
  /** The file's path: named in errors, and the base of a relative `rules:` path. */
  path?: string;
  reader?: InterfaceReader;
}

/** Reads and parses the configuration file at `path`. */
export function loadConfig(path: string, reader: InterfaceReader = sysfsInterfaceReader): DirectorConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(ConfigErrorCode.io, 0, `cannot read: ${(err as Error).message}`, path);
  }
  return parseConfig(text, { path, reader });
}

/** Parses configuration text; throws ConfigError. */
export function parseConfig(text: string, options: ParseConfigOptions = {}): DirectorConfig {
  return new ConfigParser(text, options).parse();
}

export function prefixMask(prefixLen: number): number {
  return prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
}

const TOP_KEYS = [
  'interfaces',
  'neighbours',
  'routes',
  'rules',
  'control',
  'state',
  'io',
  'conn',
  'reload',
  'defense',
  'arp',
  'metrics',
];
const INTERFACE_KEYS = ['name', 'mac', 'mtu', 'addresses'];
const NEIGHBOUR_KEYS = ['ip', 'mac'];
const ROUTE_KEYS = ['to', 'via'];
const IO_KEYS = ['backend', 'rx', 'wake', 'batch', 'gro'];
const ARP_KEYS = ['gc_thresh1', 'gc_thresh2', 'gc_thresh3', 'gc_stale_time', 'base_reachable_time'];
const CONN_KEYS = ['capacity'];
const RELOAD_KEYS = ['empty'];
const DEFENSE_KEYS = ['amemthresh', 'am_droprate', 'drop_entry', 'drop_packet', 'secure_tcp', 'reclaim_embryonic'];

class ConfigParser {
  private readonly lines = new LineCounter();
  private readonly file: string;
  private readonly reader: InterfaceReader;

  constructor(
    private readonly text: string,
    private readonly options: ParseConfigOptions,
  ) {
    this.file = options.path ?? '';
    this.reader = options.reader ?? sysfsInterfaceReader;
  }

  private lineOf(node: Node | Pair | null | undefined): number {
    const range =
      node && 'range' in node ? node.range : node && 'key' in node ? (node.key as Node | null)?.range : null;
    return range ? this.lines.linePos(range[0]).line : 0;
  }

  private fail(code: ConfigErrorCodeValue, node: Node | Pair | null | undefined, reason: string): never {
    throw new ConfigError(code, this.lineOf(node), reason, this.file);
  }

  parse(): DirectorConfig {
    const doc = parseDocument(this.text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: true });
    const first = doc.errors[0];
    if (first !== undefined) {
      const line = first.linePos?.[0]?.line ?? this.lines.linePos(first.pos[0]).line;
      throw new ConfigError(ConfigErrorCode.syntax, line, first.message.split('\n')[0] ?? 'YAML error', this.file);
    }
    const root = doc.contents;
    if (!isMap(root)) this.fail(ConfigErrorCode.badValue, root, 'the file must be a mapping (interfaces:, ...)');
    const top = this.fields(root, TOP_KEYS, 'the configuration');

    const ifacesNode = top.get('interfaces');
    if (ifacesNode === undefined) this.fail(ConfigErrorCode.missing, root, 'missing required key "interfaces"');
    if (!isSeq(ifacesNode) || ifacesNode.items.length === 0) {
      this.fail(ConfigErrorCode.badValue, ifacesNode, '"interfaces" must be a list of at least one interface');
    }
    const interfaces = ifacesNode.items.map((item) => this.iface(item as Node));
    const owned = new Map<number, string>();
    const names = new Set<string>();
    ifacesNode.items.forEach((item, i) => {
      const iface = interfaces[i]!;
      if (names.has(iface.name))
        this.fail(ConfigErrorCode.badValue, item as Node, `interface ${iface.name} listed twice`);
      names.add(iface.name);
      for (const a of iface.addresses) {
        const other = owned.get(a.addr);
        if (other !== undefined) {
          this.fail(ConfigErrorCode.badValue, item as Node, `address ${fmt(a.addr)} is owned by ${other} already`);
        }
        owned.set(a.addr, iface.name);
      }
    });
    const onLink = (ip: number) => interfaces.some((f) => f.addresses.some((a) => (ip & a.mask) >>> 0 === a.network));

    const neighbours = this.list(top.get('neighbours'), 'neighbours').map((node) => {
      const f = this.fields(node, NEIGHBOUR_KEYS, 'a neighbour');
      const ip = this.ipv4(this.required(f, 'ip', node), 'ip');
      const mac = this.mac(this.required(f, 'mac', node));
      if (!onLink(ip))
        this.fail(ConfigErrorCode.badValue, node, `neighbour ${fmt(ip)} is on none of the interfaces' links`);
      return Object.freeze({ ip, mac });
    });

    const routes = this.list(top.get('routes'), 'routes').map((node) => {
      const f = this.fields(node, ROUTE_KEYS, 'a route');
      const toNode = this.required(f, 'to', node);
      const to = this.string(toNode, 'to');
      const prefix = to === 'default' ? { addr: 0, prefixLen: 0 } : this.cidr(toNode, to, false);
      const mask = prefixMask(prefix.prefixLen);
      if ((prefix.addr & mask) >>> 0 !== prefix.addr) {
        this.fail(ConfigErrorCode.badValue, toNode, `route "${to}" has host bits set beyond /${prefix.prefixLen}`);
      }
      const viaNode = this.required(f, 'via', node);
      const via = this.ipv4(viaNode, 'via');
      if (!onLink(via))
        this.fail(ConfigErrorCode.badValue, viaNode, `gateway ${fmt(via)} is on none of the interfaces' links`);
      return Object.freeze({ network: prefix.addr, prefixLen: prefix.prefixLen, mask, via });
    });

    const rulesNode = top.get('rules');
    let rules: string | null = null;
    if (rulesNode !== undefined) {
      const base = this.options.path === undefined ? process.cwd() : dirname(resolve(this.options.path));
      rules = resolve(base, this.string(rulesNode, 'rules'));
    }
    const control = top.has('control') ? this.string(top.get('control')!, 'control') : DEFAULT_CONTROL_PATH;
    const state = top.has('state') ? this.string(top.get('state')!, 'state') : DEFAULT_STATE_PATH;

    const ioNode = top.get('io');
    const io = ioNode === undefined ? new Map<string, Node>() : this.fields(ioNode, IO_KEYS, '"io"');
    const ioConfig: IoConfig = Object.freeze({
      backend: this.choice(io.get('backend'), 'backend', ['afpacket', 'pcap', 'afxdp'], 'afpacket'),
      rx: this.choice(io.get('rx'), 'rx', ['ring', 'mmsg'], 'mmsg'),
      wake: this.choice(io.get('wake'), 'wake', ['poll', 'busy', 'coalesce', 'adaptive'], 'poll'),
      batch: this.integer(io.get('batch'), 'batch', 1, MAX_BATCH, DEFAULT_IO_BATCH),
      gro: this.choice(io.get('gro'), 'gro', ['off', 'keep'], 'off'),
    });
    const connNode = top.get('conn');
    const conn = connNode === undefined ? new Map<string, Node>() : this.fields(connNode, CONN_KEYS, '"conn"');
    const capacity = this.integer(conn.get('capacity'), 'capacity', 1, 0x40000000, DEFAULT_CONN_CAPACITY);
    const reloadNode = top.get('reload');
    const reload =
      reloadNode === undefined ? new Map<string, Node>() : this.fields(reloadNode, RELOAD_KEYS, '"reload"');
    const reloadConfig: ReloadConfig = Object.freeze({
      empty: this.choice(reload.get('empty'), 'empty', ['refuse', 'clear'], 'refuse'),
    });
    const defenseNode = top.get('defense');
    const defense =
      defenseNode === undefined ? new Map<string, Node>() : this.fields(defenseNode, DEFENSE_KEYS, '"defense"');
    const d = DEFAULT_DEFENSE;
    const reclaimNode = defense.get('reclaim_embryonic');
    let reclaimEmbryonic = d.reclaimEmbryonic;
    if (reclaimNode !== undefined) {
      if (!isScalar(reclaimNode) || typeof reclaimNode.value !== 'boolean') {
        this.fail(ConfigErrorCode.badValue, reclaimNode, '"reclaim_embryonic" must be true or false');
      }
      reclaimEmbryonic = reclaimNode.value;
    }
    const defenseSettings: DefenseSettings = Object.freeze({
      amemthresh: this.integer(defense.get('amemthresh'), 'amemthresh', 0, 0x40000000, d.amemthresh),
      amDroprate: this.integer(defense.get('am_droprate'), 'am_droprate', 1, 0x7fffffff, d.amDroprate),
      dropEntry: this.integer(defense.get('drop_entry'), 'drop_entry', 0, 3, d.dropEntry),
      dropPacket: this.integer(defense.get('drop_packet'), 'drop_packet', 0, 3, d.dropPacket),
      secureTcp: this.integer(defense.get('secure_tcp'), 'secure_tcp', 0, 3, d.secureTcp),
      reclaimEmbryonic,
    });

    return Object.freeze({
      interfaces: Object.freeze(interfaces),
      neighbours: Object.freeze(neighbours),
      arp: this.arp(top.get('arp')),
      routes: Object.freeze(routes),
      rules,
      control,
      state,
      io: ioConfig,
      conn: Object.freeze({ capacity }),
      reload: reloadConfig,
      defense: defenseSettings,
      metrics: this.metrics(top.get('metrics')),
    });
  }

  private metrics(node: Node | undefined): ListenAddress | null {
    if (node === undefined) return null;
    const listen = parseListenAddress(this.string(node, 'metrics'));
    if (typeof listen === 'string') this.fail(ConfigErrorCode.badValue, node, `"metrics": ${listen}`);
    return listen;
  }

  private arp(node: Node | undefined): ArpConfig {
    const f = node === undefined ? new Map<string, Node>() : this.fields(node, ARP_KEYS, '"arp"');
    const d = DEFAULT_ARP;
    const gcThresh3 = this.integer(f.get('gc_thresh3'), 'gc_thresh3', 1, MAX_GC_THRESH3, d.gcThresh3);
    return Object.freeze({
      gcThresh1: this.integer(f.get('gc_thresh1'), 'gc_thresh1', 0, gcThresh3, Math.min(d.gcThresh1, gcThresh3)),
      gcThresh2: this.integer(f.get('gc_thresh2'), 'gc_thresh2', 0, gcThresh3, Math.min(d.gcThresh2, gcThresh3)),
      gcThresh3,
      gcStaleTime: this.integer(f.get('gc_stale_time'), 'gc_stale_time', 1, MAX_ARP_SECONDS, d.gcStaleTime),
      baseReachableTime: this.integer(
        f.get('base_reachable_time'),
        'base_reachable_time',
        1,
        MAX_ARP_SECONDS,
        d.baseReachableTime,
      ),
    });
  }

  private iface(node: Node): InterfaceConfig {
    const f = this.fields(node, INTERFACE_KEYS, 'an interface');
    const nameNode = this.required(f, 'name', node);
    const name = this.string(nameNode, 'name');
    if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(name)) {
      this.fail(
        ConfigErrorCode.badValue,
        nameNode,
        `"${name}" is not an interface name (1-15 characters, no / or blanks)`,
      );
    }
    const macNode = f.get('mac');
    const macText = macNode === undefined ? 'auto' : this.string(macNode, 'mac');
    let mac: number;
    if (macText === 'auto') {
      const read = this.readInterface(macNode ?? nameNode, name, 'mac');
      const parsed = parseMac(String(read));
      if (parsed === undefined) {
        this.fail(ConfigErrorCode.interfaceRead, macNode ?? nameNode, `${name}: cannot parse its MAC "${read}"`);
      }
      mac = parsed;
    } else {
      mac = this.mac(macNode!);
    }
    const mtuNode = f.get('mtu');
    let mtu: number;
    if (mtuNode === undefined || (isScalar(mtuNode) && mtuNode.value === 'auto')) {
      const read = String(this.readInterface(mtuNode ?? nameNode, name, 'mtu')).trim();
      mtu = /^\d+$/.test(read) ? Number(read) : Number.NaN;
      if (!(mtu >= MIN_MTU && mtu <= MAX_MTU)) {
        this.fail(ConfigErrorCode.interfaceRead, mtuNode ?? nameNode, `${name}: cannot use its MTU "${read}"`);
      }
    } else {
      mtu = this.integer(mtuNode, 'mtu', MIN_MTU, MAX_MTU, 0);
    }
    const addrsNode = this.required(f, 'addresses', node);
    if (!isSeq(addrsNode) || addrsNode.items.length === 0) {
      this.fail(ConfigErrorCode.badValue, addrsNode, '"addresses" must be a list of at least one IPv4/prefix');
    }
    const addresses = addrsNode.items.map((item) => {
      const text = this.string(item as Node, 'address');
      const { addr, prefixLen } = this.cidr(item as Node, text, true);
      const mask = prefixMask(prefixLen);
      return Object.freeze({ addr, prefixLen, mask, network: (addr & mask) >>> 0 });
    });
    return Object.freeze({ name, mac, mtu, addresses: Object.freeze(addresses) });
  }

  private readInterface(node: Node, name: string, what: 'mac' | 'mtu'): string | number {
    try {
      return this.reader[what](name);
    } catch (err) {
      this.fail(
        ConfigErrorCode.interfaceRead,
        node,
        `${name}: cannot read its ${what} for "auto": ${(err as Error).message}`,
      );
    }
  }

  /** The pairs of a mapping by key, rejecting keys not in `allowed`. */
  private fields(node: unknown, allowed: readonly string[], what: string): Map<string, Node> {
    if (!isMap(node)) this.fail(ConfigErrorCode.badValue, node as Node, `${what} must be a mapping`);
    const out = new Map<string, Node>();
    for (const pair of (node as YAMLMap).items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      if (!allowed.includes(key)) {
        this.fail(
          ConfigErrorCode.unknownKey,
          pair.key as Node,
          `unknown key "${key}" in ${what} (allowed: ${allowed.join(', ')})`,
        );
      }
      const value = pair.value as Node | null;
      if (value === null || (isScalar(value) && value.value === null)) {
        this.fail(ConfigErrorCode.badValue, pair.key as Node, `"${key}" has no value`);
      }
      out.set(key, value);
    }
    return out;
  }

  private required(fields: Map<string, Node>, key: string, parent: Node): Node {
    const node = fields.get(key);
    if (node === undefined) this.fail(ConfigErrorCode.missing, parent, `missing required key "${key}"`);
    return node;
  }

  private list(node: Node | undefined, what: string): Node[] {
    if (node === undefined) return [];
    if (!isSeq(node)) this.fail(ConfigErrorCode.badValue, node, `"${what}" must be a list`);
    return node.items as Node[];
  }

  private string(node: Node, what: string): string {
    if (!isScalar(node) || typeof node.value !== 'string' || node.value === '') {
      this.fail(ConfigErrorCode.badValue, node, `"${what}" must be a non-empty string`);
    }
    return node.value;
  }

  private ipv4(node: Node, what: string): number {
    const text = this.string(node, what);
    const addr = parseIpv4Address(text);
    if (addr === undefined) this.fail(ConfigErrorCode.badValue, node, `"${what}": "${text}" is not an IPv4 address`);
    return addr;
  }

  private mac(node: Node): number {
    const text = this.string(node, 'mac');
    const mac = parseMac(text);
    if (mac === undefined) this.fail(ConfigErrorCode.badValue, node, `"mac": "${text}" is not a MAC address (or auto)`);
    return mac;
  }

  /** `a.b.c.d/len`; a bare address is /32 where `bareOk`. */
  private cidr(node: Node, text: string, bareOk: boolean): { addr: number; prefixLen: number } {
    const m = /^([0-9.]+)(?:\/(\d{1,2}))?$/.exec(text);
    const addr = m ? parseIpv4Address(m[1]!) : undefined;
    const prefixLen = m?.[2] === undefined ? (bareOk ? 32 : -1) : Number(m[2]);
    if (addr === undefined || !(prefixLen >= 0 && prefixLen <= 32)) {
      this.fail(ConfigErrorCode.badValue, node, `"${text}" is not IPv4/prefix`);
    }
    return { addr, prefixLen };
  }

  private choice<T extends string>(node: Node | undefined, what: string, allowed: readonly T[], dflt: T): T {
    if (node === undefined) return dflt;
    const text = this.string(node, what);
    if (!(allowed as readonly string[]).includes(text)) {
      this.fail(ConfigErrorCode.badValue, node, `"${what}" must be one of ${allowed.join(', ')}, not "${text}"`);
    }
    return text as T;
  }

  private integer(node: Node | undefined, what: string, min: number, max: number, dflt: number): number {
    if (node === undefined) return dflt;
    const value = isScalar(node) ? node.value : undefined;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.fail(ConfigErrorCode.badValue, node, `"${what}" must be an integer in ${min}..${max}`);
    }
    return value;
  }
}
