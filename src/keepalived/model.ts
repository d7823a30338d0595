// What uvs reads from a keepalived.conf: the LVS part (virtual_server, virtual_server_group, the global_defs
// items that concern it), with keepalived's defaults filled in as its check_data.c validate_check_config()
// fills them. Times are in seconds (keepalived reads them as decimals with microsecond precision).
import type { Diagnostic, Location } from './syntax.js';

export type Forwarding = 'NAT' | 'DR' | 'TUN';

/**
 * A script keepalived runs (notify_up, quorum_up, misc_path, ...): keepalived takes the keyword's first
 * argument, quoted if it has blanks, and splits it again, with escapes, into the program and its arguments
 * (no shell). A notify script's next words name the user and group to run it as.
 */
export interface Script {
  readonly argv: readonly string[];
  readonly user: string | undefined;
  readonly group: string | undefined;
}
export type Protocol = 'TCP' | 'UDP';

/** The options every checker that opens a connection has (install_checker_common_keywords(true)). */
export interface ConnectionOptions {
  /** connect_ip: the address checked, default the real server's. */
  readonly connectIp: number;
  /** connect_port: default the real server's port. */
  readonly connectPort: number;
  /** bindto: the source address, undefined for the kernel's choice. */
  readonly bindto: number | undefined;
  readonly bindPort: number | undefined;
  readonly bindIf: string | undefined;
  /** connect_timeout: the checker's, else the real server's, else the virtual server's (default 5 s). */
  readonly connectTimeout: number;
  /** fwmark: SO_MARK on the checker's socket. */
  readonly fwmark: number | undefined;
}

/** The options every checker has, resolved as validate_check_config() resolves them. */
export interface CheckerTiming {
  /** retry: checker, else real server, else virtual server, else the checker type's default. */
  readonly retry: number;
  /** delay_before_retry: checker, else real server, else virtual server, else the type's default. */
  readonly delayBeforeRetry: number;
  /** delay_loop: checker, else real server, else virtual server (default 60 s). */
  readonly delayLoop: number;
  /** warmup: checker, else real server, else virtual server, else the checker's delay_loop. */
  readonly warmup: number;
  /** alpha: the checker starts failed until its first success. */
  readonly alpha: boolean;
  readonly logAllFailures: boolean;
}

export interface HttpUrl extends Location {
  readonly path: string;
  /** MD5 of the body, 32 lower-case hex digits. */
  readonly digest: string | undefined;
  /** Accepted status codes, ascending (default 200-299). */
  readonly statusCodes: readonly number[];
  readonly virtualhost: string | undefined;
}

interface CheckerBase extends Location, CheckerTiming {}

export interface TcpCheck extends CheckerBase, ConnectionOptions {
  readonly type: 'TCP_CHECK';
}

export interface HttpCheck extends CheckerBase, ConnectionOptions {
  readonly type: 'HTTP_GET' | 'SSL_GET';
  readonly urls: readonly HttpUrl[];
  /** The checker's virtualhost, else the real server's, else the virtual server's (a url's own comes first). */
  readonly virtualhost: string | undefined;
  /** http_protocol: 1.0 (keepalived's default), 1.0C (with Connection: close) or 1.1. */
  readonly httpProtocol: '1.0' | '1.0C' | '1.1';
  readonly enableSni: boolean;
  readonly sniName: string | undefined;
  readonly fastRecovery: boolean;
}

export interface UdpCheck extends CheckerBase, ConnectionOptions {
  readonly type: 'UDP_CHECK';
  /** payload: bytes sent, default none (an empty datagram). */
  readonly payload: Uint8Array | undefined;
  readonly requireReply: boolean;
  /** require_reply's pattern: lower-case hex digits, `x` for a nibble that may be anything. */
  readonly reply: string | undefined;
  readonly minReplyLength: number;
  readonly maxReplyLength: number;
}

export interface DnsCheck extends CheckerBase, ConnectionOptions {
  readonly type: 'DNS_CHECK';
  /** type: the query type (default SOA). */
  readonly queryType: string;
  /** name: the query name (default the root, ""). */
  readonly name: string;
}

export interface PingCheck extends CheckerBase, ConnectionOptions {
  readonly type: 'PING_CHECK';
}

export interface SmtpCheck extends CheckerBase, ConnectionOptions {
  readonly type: 'SMTP_CHECK';
  readonly heloName: string;
}

export interface MiscCheck extends CheckerBase {
  readonly type: 'MISC_CHECK';
  /** misc_path; its user is MISC_CHECK's `user`, else global_defs script_user. */
  readonly script: Script;
  /** misc_timeout in seconds; 0 means the virtual server's delay_loop (check_misc.c). */
  readonly timeout: number;
  /** misc_dynamic: exit codes 2..255 set the weight to code - 2. */
  readonly dynamic: boolean;
}

export type Checker = TcpCheck | HttpCheck | UdpCheck | DnsCheck | PingCheck | SmtpCheck | MiscCheck;
export type CheckerType = Checker['type'];

export interface RealServer extends Location {
  readonly addr: number;
  /** The port loaded into IPVS: the virtual server's for DR and TUN, and for NAT without one. */
  readonly port: number;
  readonly weight: number;
  readonly forwarding: Forwarding;
  /** uthreshold / lthreshold (-x / -y); 0 is none. */
  readonly uThreshold: number;
  readonly lThreshold: number;
  readonly inhibitOnFailure: boolean;
  readonly alpha: boolean;
  readonly notifyUp: Script | undefined;
  readonly notifyDown: Script | undefined;
  readonly checkers: readonly Checker[];
}

export interface SorryServer extends Location {
  readonly addr: number;
  readonly port: number;
  readonly forwarding: Forwarding;
  /** sorry_server_inhibit: kept with weight 0 instead of removed when quorum comes back. */
  readonly inhibit: boolean;
}

/** An address-and-port virtual service, or every one a virtual_server_group names. */
export type VirtualAddress =
  | { readonly kind: 'address'; readonly addr: number; readonly port: number }
  | { readonly kind: 'group'; readonly name: string };

export interface VirtualServer extends Location {
  readonly address: VirtualAddress;
  readonly protocol: Protocol;
  readonly sched: string;
  /** IP_VS_SVC_F_SCHED1..3 (flag-1..3, sh-/mh-port, sh-/mh-fallback). */
  readonly schedFlags: number;
  /** ops: one-packet scheduling. */
  readonly onePacket: boolean;
  readonly forwarding: Forwarding;
  /** persistence_timeout in seconds, 0 = not persistent. */
  readonly persistenceTimeout: number;
  /** persistence_granularity, an IPv4 mask in host order (default 255.255.255.255). */
  readonly persistenceGranularity: number;
  readonly virtualhost: string | undefined;
  readonly delayLoop: number;
  readonly connectTimeout: number;
  readonly alpha: boolean;
  readonly omega: boolean;
  /** The least total weight of live real servers for the service to count as up (reduced to the total). */
  readonly quorum: number;
  readonly hysteresis: number;
  readonly quorumUp: Script | undefined;
  readonly quorumDown: Script | undefined;
  readonly inhibitOnFailure: boolean;
  readonly sorryServer: SorryServer | undefined;
  readonly realServers: readonly RealServer[];
}

/** One line of a virtual_server_group: `IP PORT`, `IP-N PORT`, `IP-IP PORT` or `IP/LEN PORT`. */
export interface GroupEntry extends Location {
  /** First and last address, host order, inclusive. */
  readonly first: number;
  readonly last: number;
  readonly port: number;
}

export interface VirtualServerGroup extends Location {
  readonly name: string;
  readonly entries: readonly GroupEntry[];
}

/** The global_defs items that concern the LVS part. */
export interface GlobalDefs {
  readonly routerId: string | undefined;
  /** lvs_timeouts tcp/tcpfin/udp (uvsadm --set), 0 = unchanged. */
  readonly lvsTimeouts: { readonly tcp: number; readonly tcpFin: number; readonly udp: number };
  /** lvs_flush: clear every service at start. */
  readonly lvsFlush: boolean;
  /** script_user USER [GROUP]: who runs scripts that name no user. */
  readonly scriptUser: readonly string[] | undefined;
  readonly enableScriptSecurity: boolean;
  readonly checkerLogAllFailures: boolean;
}

/** A kind of block or keyword uvs skips, said once with where it first appears and how often. */
export interface Ignored extends Location {
  readonly keyword: string;
  readonly count: number;
  readonly why: string;
}

export interface KeepalivedConfig {
  readonly globalDefs: GlobalDefs;
  readonly groups: ReadonlyMap<string, VirtualServerGroup>;
  readonly virtualServers: readonly VirtualServer[];
  readonly ignored: readonly Ignored[];
  /** What keepalived would report and still run with (Unknown keyword, defaults it filled in, ...). */
  readonly warnings: readonly Diagnostic[];
  readonly files: readonly string[];
}
