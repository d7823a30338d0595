// Connection states of IPVS for TCP and UDP: the kernel's state tables, timeouts and state names
// (net/netfilter/ipvs/ip_vs_proto_tcp.c, ip_vs_proto_udp.c), and the conn_reuse_mode predicate
// (is_new_conn_expected() in ip_vs_core.c). Pure tables and functions; the connection table applies them.

import { IpProto } from '../constants.js';
import { TcpFlag } from '../wire/tcp.js';

/** IP_VS_TCP_S_*: the numbering is the kernel's, so the tables below read like tcp_states[]. */
export const TcpState = {
  none: 0,
  established: 1,
  synSent: 2,
  synRecv: 3,
  finWait: 4,
  timeWait: 5,
  close: 6,
  closeWait: 7,
  lastAck: 8,
  listen: 9,
  synAck: 10,
} as const;
export const TCP_STATE_COUNT = 11;

/** Names as /proc/net/ip_vs_conn and `ipvsadm -Lc` print them (tcp_state_name_table). */
export const tcpStateNames: readonly string[] = [
  'NONE',
  'ESTABLISHED',
  'SYN_SENT',
  'SYN_RECV',
  'FIN_WAIT',
  'TIME_WAIT',
  'CLOSE',
  'CLOSE_WAIT',
  'LAST_ACK',
  'LISTEN',
  'SYNACK',
];

/** UDP has one state (IP_VS_UDP_S_NORMAL), printed as `UDP`. */
export const UDP_STATE_NORMAL = 0;
export const UDP_STATE_NAME = 'UDP';

/** Persistence template states (IP_VS_CTPL_S_*): ASSURED once a controlled connection reaches ESTABLISHED. */
export const TemplateState = { none: 0, assured: 1 } as const;
export const templateStateNames: readonly string[] = ['NONE', 'ASSURED'];

/** tcp_states_active_table (kernel >= 4.8): these states count in ActiveConn, all others in InActConn. */
export const tcpStateActive: Readonly<Uint8Array> = Uint8Array.from([0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1]);

/** Packet direction relative to the connection (IP_VS_DIR_INPUT / OUTPUT; INPUT_ONLY is chosen internally). */
export const TcpDir = { input: 0, output: 1, inputOnly: 2 } as const;

// The header's flag bits come from the wire layer, so the state machine and the parser cannot disagree.
export { TcpFlag };

/**
 * tcp_state_idx(): the row of the state table a packet selects. RST beats SYN beats FIN beats ACK; -1 when
 * none is set (the kernel then moves the connection to CLOSE).
 */
export function tcpFlagIndex(flags: number): number {
  if (flags & TcpFlag.rst) return 3;
  if (flags & TcpFlag.syn) return 0;
  if (flags & TcpFlag.fin) return 1;
  if (flags & TcpFlag.ack) return 2;
  return -1;
}

// Transcribed from tcp_states[] and tcp_states_dos[]; rows syn, fin, ack, rst, columns by current state
// NO ES SS SR FW TW CL CW LA LI SA.
const ES = 1;
const SS = 2;
const SR = 3;
const FW = 4;
const TW = 5;
const CL = 6;
const CW = 7;
const LA = 8;
const LI = 9;
const SA = 10;

// biome-ignore format: one row per line, as in the kernel source
const normalTable = [
  // INPUT
  [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
  [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW],
  [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
  [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR],
  // OUTPUT
  [SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR],
  [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
  [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
  [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
  // INPUT-ONLY
  [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
  [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
  [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
  [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
];

// biome-ignore format: one row per line, as in the kernel source
const dosTable = [
  // INPUT
  [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SA],
  [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, SA],
  [ES, ES, SS, SR, FW, TW, CL, CW, CL, LI, SA],
  [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
  // OUTPUT
  [SS, ES, SS, SA, SS, SS, SS, SS, SS, LI, SA],
  [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
  [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
  [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
  // INPUT-ONLY
  [SA, ES, ES, SR, SA, SA, SA, SA, SA, SA, SA],
  [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
  [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
  [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
];

/**
 * Flattened [dos][dir][flagIndex][state] so a transition is one typed-array read; the native fast path
 * (native/fastpath.cc) reads the same array.
 */
export const nextStateTable: Readonly<Uint8Array> = Uint8Array.from([...normalTable.flat(), ...dosTable.flat()]);
const ROW = TCP_STATE_COUNT;
const DIR = 4 * ROW;
const DOS = 3 * DIR;

/**
 * The state after a packet with TCP `flags` in direction `dir` (TcpDir, already resolved to INPUT-ONLY for
 * NOOUTPUT connections). `dos` selects tcp_states_dos (secure_tcp). A packet with none of RST/SYN/FIN/ACK
 * goes to CLOSE, as set_tcp_state() does.
 */
export function tcpNextState(dos: boolean, dir: number, flags: number, state: number): number {
  const row = tcpFlagIndex(flags);
  if (row < 0) return TcpState.close;
  return nextStateTable[(dos ? DOS : 0) + dir * DIR + row * ROW + state]!;
}

/** tcp_timeouts[] in seconds. */
export const DEFAULT_TCP_TIMEOUTS: readonly number[] = [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120];
/** udp_timeouts[IP_VS_UDP_S_NORMAL] in seconds. */
export const DEFAULT_UDP_TIMEOUT = 300;
/** A new entry's timeout before its first state transition (ip_vs_conn_new(): cp->timeout = 3*HZ). */
export const NEW_CONN_TIMEOUT = 3;

/** Per-state timeouts in seconds, one set per director (the kernel's per-netns timeout_table). */
export class Timeouts {
  readonly tcp = Float64Array.from(DEFAULT_TCP_TIMEOUTS);
  udp = DEFAULT_UDP_TIMEOUT;

  /**
   * `--set tcp tcpfin udp` (ip_vs_set_timeout()): tcp sets ESTABLISHED, tcpfin sets FIN_WAIT, udp the UDP
   * state; 0 leaves a value unchanged.
   */
  set(tcp: number, tcpFin: number, udp: number): void {
    if (tcp > 0) this.tcp[TcpState.established] = tcp;
    if (tcpFin > 0) this.tcp[TcpState.finWait] = tcpFin;
    if (udp > 0) this.udp = udp;
  }

  /** The three values `-L --timeout` prints. */
  get(): { tcp: number; tcpFin: number; udp: number } {
    return { tcp: this.tcp[TcpState.established]!, tcpFin: this.tcp[TcpState.finWait]!, udp: this.udp };
  }
}

/**
 * is_new_conn_expected() with conn_reuse_mode: a SYN that hits an entry which is not controlled by a
 * template (or FTP control connection) and sits in TIME_WAIT or CLOSE should be scheduled anew; bit 2 of
 * the mode adds FIN_WAIT for NOOUTPUT (DR/TUN) entries. Mode 0 turns the rescheduling off entirely
 * (ip_vs_in() only asks when the sysctl is non-zero).
 */
export function isNewConnExpected(
  proto: number,
  state: number,
  noOutput: boolean,
  controlled: boolean,
  connReuseMode: number,
): boolean {
  if (connReuseMode === 0 || controlled) return false;
  if (proto !== IpProto.tcp) return false;
  return (
    state === TcpState.timeWait ||
    state === TcpState.close ||
    ((connReuseMode & 2) !== 0 && state === TcpState.finWait && noOutput)
  );
}
