import { describe, expect, it } from 'vitest';
import {
  isNewConnExpected,
  TcpDir,
  TcpFlag,
  TcpState,
  Timeouts,
  tcpFlagIndex,
  tcpNextState,
  tcpStateActive,
  tcpStateNames,
} from '../../src/conn/tcp-state.js';
import { IpProto } from '../../src/constants.js';

// Transcribed by hand from IPVS-REFERENCE.md §5 (which matches tcp_states[] in ip_vs_proto_tcp.c), kept as
// text so that the test shares nothing with the module's numeric tables.
const columns = 'NO ES SS SR FW TW CL CW LA LI SA'.split(' ');
const abbrev: Record<string, string> = {
  NO: 'NONE',
  ES: 'ESTABLISHED',
  SS: 'SYN_SENT',
  SR: 'SYN_RECV',
  FW: 'FIN_WAIT',
  TW: 'TIME_WAIT',
  CL: 'CLOSE',
  CW: 'CLOSE_WAIT',
  LA: 'LAST_ACK',
  LI: 'LISTEN',
  SA: 'SYNACK',
};
const reference: Record<string, Record<string, string>> = {
  'normal INPUT': {
    syn: 'SR ES ES SR SR SR SR SR SR SR SR',
    fin: 'CL CW SS TW TW TW CL CW LA LI TW',
    ack: 'ES ES SS ES FW TW CL CW CL LI ES',
    rst: 'CL CL CL SR CL CL CL CL LA LI SR',
  },
  'normal OUTPUT': {
    syn: 'SS ES SS SR SS SS SS SS SS LI SR',
    fin: 'TW FW SS TW FW TW CL TW LA LI TW',
    ack: 'ES ES SS ES FW TW CL CW LA ES ES',
    rst: 'CL CL SS CL CL TW CL CL CL CL CL',
  },
  'normal INPUT-ONLY': {
    syn: 'SR ES ES SR SR SR SR SR SR SR SR',
    fin: 'CL FW SS TW FW TW CL CW LA LI TW',
    ack: 'ES ES SS ES FW TW CL CW CL LI ES',
    rst: 'CL CL CL SR CL CL CL CL LA LI CL',
  },
  'dos INPUT': {
    syn: 'SR ES ES SR SR SR SR SR SR SR SA',
    fin: 'CL CW SS TW TW TW CL CW LA LI SA',
    ack: 'ES ES SS SR FW TW CL CW CL LI SA',
    rst: 'CL CL CL SR CL CL CL CL LA LI CL',
  },
  'dos OUTPUT': {
    syn: 'SS ES SS SA SS SS SS SS SS LI SA',
    fin: 'TW FW SS TW FW TW CL TW LA LI TW',
    ack: 'ES ES SS ES FW TW CL CW LA ES ES',
    rst: 'CL CL SS CL CL TW CL CL CL CL CL',
  },
  'dos INPUT-ONLY': {
    syn: 'SA ES ES SR SA SA SA SA SA SA SA',
    fin: 'CL FW SS TW FW TW CL CW LA LI TW',
    ack: 'ES ES SS ES FW TW CL CW CL LI ES',
    rst: 'CL CL CL SR CL CL CL CL LA LI CL',
  },
};
const flagsFor: Record<string, number> = { syn: 0x02, fin: 0x01, ack: 0x10, rst: 0x04 };
const dirFor: Record<string, number> = { INPUT: 0, OUTPUT: 1, 'INPUT-ONLY': 2 };

describe('TCP state tables', () => {
  const cases: [string, string, string, string][] = [];
  for (const [table, rows] of Object.entries(reference)) {
    for (const [flag, row] of Object.entries(rows)) {
      row.split(' ').forEach((next, col) => {
        cases.push([table, flag, columns[col]!, next]);
      });
    }
  }

  it('has all 264 reference cells', () => {
    expect(cases).toHaveLength(2 * 3 * 4 * 11);
  });

  it.each(cases)('%s, %s in %s -> %s', (table, flag, from, to) => {
    const [kind, dir] = table.split(' ') as [string, string];
    const fromState = tcpStateNames.indexOf(abbrev[from]!);
    expect(fromState).toBeGreaterThanOrEqual(0);
    const next = tcpNextState(kind === 'dos', dirFor[dir]!, flagsFor[flag]!, fromState);
    expect(tcpStateNames[next]).toBe(abbrev[to]);
  });

  it('prints the kernel state names in kernel order', () => {
    expect(tcpStateNames).toEqual([
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
    ]);
  });

  it('ranks flags RST > SYN > FIN > ACK', () => {
    expect(tcpFlagIndex(TcpFlag.rst | TcpFlag.syn | TcpFlag.fin | TcpFlag.ack)).toBe(3);
    expect(tcpFlagIndex(TcpFlag.syn | TcpFlag.fin | TcpFlag.ack)).toBe(0);
    expect(tcpFlagIndex(TcpFlag.fin | TcpFlag.ack)).toBe(1);
    expect(tcpFlagIndex(TcpFlag.ack | 0x08 /* PSH */)).toBe(2);
    expect(tcpFlagIndex(0x08 | 0x20 /* PSH URG */)).toBe(-1);
    // SYN+ACK from the server in SYN_RECV is a SYN for the table: stays SYN_RECV (not ES).
    expect(tcpNextState(false, TcpDir.output, TcpFlag.syn | TcpFlag.ack, TcpState.synRecv)).toBe(TcpState.synRecv);
    // RST+ACK from the client in ESTABLISHED closes.
    expect(tcpNextState(false, TcpDir.input, TcpFlag.rst | TcpFlag.ack, TcpState.established)).toBe(TcpState.close);
  });

  it('sends a packet with no SYN/FIN/ACK/RST to CLOSE from any state', () => {
    for (let s = 0; s < 11; s++) {
      expect(tcpNextState(false, TcpDir.input, 0x08, s)).toBe(TcpState.close);
      expect(tcpNextState(true, TcpDir.output, 0, s)).toBe(TcpState.close);
    }
  });

  it('counts ESTABLISHED, SYN_SENT, SYN_RECV and SYNACK as active', () => {
    const active = tcpStateNames.filter((_, i) => tcpStateActive[i] === 1);
    expect(active).toEqual(['ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'SYNACK']);
  });
});

describe('Timeouts', () => {
  it('starts from the kernel defaults', () => {
    const t = new Timeouts();
    // IPVS-REFERENCE.md §5: NONE 2, ES 900, SS 120, SR 60, FW 120, TW 120, CL 10, CW 60, LA 30, LI 120, SA 120.
    expect(Array.from(t.tcp)).toEqual([2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120]);
    expect(t.udp).toBe(300);
    expect(t.get()).toEqual({ tcp: 900, tcpFin: 120, udp: 300 });
  });

  it('--set changes ESTABLISHED, FIN_WAIT and UDP; 0 leaves a value alone', () => {
    const t = new Timeouts();
    t.set(3600, 0, 30);
    expect(t.get()).toEqual({ tcp: 3600, tcpFin: 120, udp: 30 });
    t.set(0, 15, 0);
    expect(t.get()).toEqual({ tcp: 3600, tcpFin: 15, udp: 30 });
    expect(t.tcp[TcpState.timeWait]).toBe(120);
    expect(t.tcp[TcpState.closeWait]).toBe(60);
  });
});

describe('isNewConnExpected (conn_reuse_mode)', () => {
  const tcp = IpProto.tcp;
  it('reschedules a SYN on an uncontrolled TIME_WAIT or CLOSE entry with mode 1', () => {
    expect(isNewConnExpected(tcp, TcpState.timeWait, false, false, 1)).toBe(true);
    expect(isNewConnExpected(tcp, TcpState.close, true, false, 1)).toBe(true);
    expect(isNewConnExpected(tcp, TcpState.established, false, false, 1)).toBe(false);
    expect(isNewConnExpected(tcp, TcpState.finWait, true, false, 1)).toBe(false);
    expect(isNewConnExpected(tcp, TcpState.closeWait, false, false, 1)).toBe(false);
  });

  it('keeps controlled (persistent) entries and honours mode 0', () => {
    expect(isNewConnExpected(tcp, TcpState.timeWait, false, true, 1)).toBe(false);
    expect(isNewConnExpected(tcp, TcpState.timeWait, false, false, 0)).toBe(false);
  });

  it('adds FIN_WAIT for NOOUTPUT entries with bit 2', () => {
    expect(isNewConnExpected(tcp, TcpState.finWait, true, false, 3)).toBe(true);
    expect(isNewConnExpected(tcp, TcpState.finWait, false, false, 3)).toBe(false);
  });

  it('never applies to UDP', () => {
    expect(isNewConnExpected(IpProto.udp, 0, true, false, 3)).toBe(false);
  });
});
