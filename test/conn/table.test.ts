import { describe, expect, it } from 'vitest';
import { ConnTable, INSERT_FULL, NO_ENTRY } from '../../src/conn/table.js';
import { TcpDir, Timeouts } from '../../src/conn/tcp-state.js';
import { IpProto } from '../../src/constants.js';
import { type Dest, DestRegistry, Fwd, type FwdMethod } from '../../src/dest/dest.js';
import { Stats } from '../../src/dest/stats.js';
import { parseIpv4Address } from '../../src/wire/addr.js';

const ip = (s: string): number => parseIpv4Address(s)!;
const CIP = ip('192.168.1.10');
const VIP = ip('10.0.0.100');
const RIP1 = ip('172.16.0.11');
const RIP2 = ip('172.16.0.12');
const TCP = IpProto.tcp;
const UDP = IpProto.udp;
const SYN = 0x02;
const ACK = 0x10;
const FIN = 0x01;
const RST = 0x04;

// Seconds as the clock unit keeps the arithmetic in these tests readable.
function setup(fwd: FwdMethod = Fwd.masq, capacity = 64) {
  const registry = new DestRegistry();
  const svcStats = new Stats();
  const dest = registry.create(RIP1, 8080, fwd, 1, svcStats);
  const table = new ConnTable(capacity, registry, { ticksPerSecond: 1, seed: 12345 });
  return { registry, svcStats, dest, table };
}

function counters(d: Dest) {
  return { active: d.activeConns, inactive: d.inactConns, persist: d.persistConns };
}

describe('ConnTable lookups', () => {
  it('finds a connection from the client side and from the real server side', () => {
    const { table, dest } = setup();
    const i = table.insert(TCP, CIP, 40000, VIP, 80, RIP1, 8080, dest.id, 0);
    expect(i).toBeGreaterThanOrEqual(0);
    expect(table.lookupIn(TCP, CIP, 40000, VIP, 80, 1)).toBe(i);
    expect(table.lookupOut(TCP, RIP1, 8080, CIP, 40000, 1)).toBe(i);
    expect(table.caddrOf(i)).toBe(CIP);
    expect(table.daddrOf(i)).toBe(RIP1);
    expect(table.fwd[i]).toBe(Fwd.masq);
  });

  it('misses on any differing key field', () => {
    const { table, dest } = setup();
    table.insert(TCP, CIP, 40000, VIP, 80, RIP1, 8080, dest.id, 0);
    expect(table.lookupIn(UDP, CIP, 40000, VIP, 80, 1)).toBe(NO_ENTRY);
    expect(table.lookupIn(TCP, CIP + 1, 40000, VIP, 80, 1)).toBe(NO_ENTRY);
    expect(table.lookupIn(TCP, CIP, 40001, VIP, 80, 1)).toBe(NO_ENTRY);
    expect(table.lookupIn(TCP, CIP, 40000, VIP + 1, 80, 1)).toBe(NO_ENTRY);
    expect(table.lookupIn(TCP, CIP, 40000, VIP, 81, 1)).toBe(NO_ENTRY);
    expect(table.lookupOut(TCP, RIP2, 8080, CIP, 40000, 1)).toBe(NO_ENTRY);
    expect(table.lookupOut(TCP, RIP1, 8081, CIP, 40000, 1)).toBe(NO_ENTRY);
    expect(table.lookupOut(TCP, RIP1, 8080, CIP, 40001, 1)).toBe(NO_ENTRY);
  });

  it('keeps templates out of connection lookups and connections out of template lookups', () => {
    const { table, dest } = setup();
    const t = table.insertTemplate(TCP, CIP, VIP, 80, RIP1, 8080, dest.id, 360, 0);
    expect(table.lookupIn(TCP, CIP, 0, VIP, 80, 1)).toBe(NO_ENTRY);
    expect(table.lookupTemplate(TCP, CIP, VIP, 80, 1)).toBe(t);
    table.insert(TCP, CIP, 0, VIP, 81, RIP1, 8080, dest.id, 0);
    expect(table.lookupTemplate(TCP, CIP, VIP, 81, 1)).toBe(NO_ENTRY);
  });

  it('looks up fwmark templates by protocol IP and the mark', () => {
    const { table, dest } = setup();
    const mark = 1;
    const masked = CIP & 0xffffff00;
    const t = table.insertTemplate(0, masked, mark, 0, RIP1, 0, dest.id, 360, 0);
    expect(table.lookupTemplate(0, masked, mark, 0, 1)).toBe(t);
    expect(table.lookupTemplate(TCP, masked, mark, 0, 1)).toBe(NO_ENTRY);
    expect(table.stateName(t)).toBe('NONE');
  });

  it('skips an invalidated template', () => {
    const { table, dest } = setup();
    const t = table.insertTemplate(TCP, CIP, VIP, 80, RIP1, 8080, dest.id, 360, 0);
    table.invalidateTemplate(t);
    expect(table.lookupTemplate(TCP, CIP, VIP, 80, 1)).toBe(NO_ENTRY);
  });
});

describe('ConnTable counters through TCP state changes', () => {
  it('NAT: SYN -> ESTABLISHED -> FIN -> TIME_WAIT -> expiry', () => {
    const { table, dest, svcStats } = setup(Fwd.masq);
    let now = 100;
    const i = table.insert(TCP, CIP, 40000, VIP, 80, RIP1, 8080, dest.id, now);
    // Bound inactive; counted once in conns.
    expect(counters(dest)).toEqual({ active: 0, inactive: 1, persist: 0 });
    expect(dest.stats.conns).toBe(1);
    expect(svcStats.conns).toBe(1);
    expect(table.stateName(i)).toBe('NONE');
    expect(table.expiresOf(i)).toBe(now + 3);

    const step = (dir: number, flags: number, state: string, timeout: number, active: number, inactive: number) => {
      now += 1;
      table.tcpTransition(i, dir, flags, now);
      expect(table.stateName(i)).toBe(state);
      expect(table.timeout[i]).toBe(timeout);
      expect(table.expiresOf(i)).toBe(now + timeout);
      expect(counters(dest)).toEqual({ active, inactive, persist: 0 });
    };
    step(TcpDir.input, SYN, 'SYN_RECV', 60, 1, 0);
    step(TcpDir.output, SYN | ACK, 'SYN_RECV', 60, 1, 0);
    step(TcpDir.input, ACK, 'ESTABLISHED', 900, 1, 0);
    step(TcpDir.input, ACK, 'ESTABLISHED', 900, 1, 0);
    step(TcpDir.input, FIN | ACK, 'CLOSE_WAIT', 60, 0, 1);
    step(TcpDir.output, ACK, 'CLOSE_WAIT', 60, 0, 1);
    step(TcpDir.output, FIN | ACK, 'TIME_WAIT', 120, 0, 1);
    step(TcpDir.input, ACK, 'TIME_WAIT', 120, 0, 1);

    expect(table.lookupIn(TCP, CIP, 40000, VIP, 80, now + 119)).toBe(i);
    expect(table.lookupIn(TCP, CIP, 40000, VIP, 80, now + 120)).toBe(NO_ENTRY);
    expect(counters(dest)).toEqual({ active: 0, inactive: 0, persist: 0 });
    expect(table.size).toBe(0);
    expect(table.expired).toBe(1);
  });

  it('DR: INPUT-ONLY until a reply; SYN -> ESTABLISHED -> FIN_WAIT -> expiry', () => {
    const { table, dest } = setup(Fwd.route);
    let now = 0;
    const i = table.insert(TCP, CIP, 40000, VIP, 80, RIP1, 80, dest.id, now);
    expect(table.fwd[i]).toBe(Fwd.route);
    const step = (flags: number, state: string, timeout: number, active: number, inactive: number) => {
      now += 1;
      table.tcpTransition(i, TcpDir.input, flags, now);
      expect(table.stateName(i)).toBe(state);
      expect(table.timeout[i]).toBe(timeout);
      expect(counters(dest)).toEqual({ active, inactive, persist: 0 });
    };
    step(SYN, 'SYN_RECV', 60, 1, 0);
    step(ACK, 'ESTABLISHED', 900, 1, 0);
    // INPUT-ONLY: a client FIN in ESTABLISHED goes to FIN_WAIT (INPUT would say CLOSE_WAIT).
    step(FIN | ACK, 'FIN_WAIT', 120, 0, 1);
    step(ACK, 'FIN_WAIT', 120, 0, 1);
    // A client FIN in SYN_RECV would go to TIME_WAIT; checked on a second connection.
    const j = table.insert(TCP, CIP, 40001, VIP, 80, RIP1, 80, dest.id, now);
    table.tcpTransition(j, TcpDir.input, SYN, now);
    table.tcpTransition(j, TcpDir.input, FIN, now);
    expect(table.stateName(j)).toBe('TIME_WAIT');
    expect(counters(dest)).toEqual({ active: 0, inactive: 2, persist: 0 });

    expect(table.sweep(now + 119, 64)).toBe(0);
    expect(table.sweep(now + 120, 64)).toBe(2);
    expect(counters(dest)).toEqual({ active: 0, inactive: 0, persist: 0 });
  });

  it('DR: the first reply clears NOOUTPUT and switches to the INPUT/OUTPUT tables', () => {
    const { table, dest } = setup(Fwd.tunnel);
    const i = table.insert(TCP, CIP, 40000, VIP, 80, RIP1, 80, dest.id, 0);
    table.tcpTransition(i, TcpDir.input, SYN, 0);
    table.tcpTransition(i, TcpDir.input, ACK, 0);
    table.tcpTransition(i, TcpDir.output, FIN | ACK, 0);
    expect(table.stateName(i)).toBe('FIN_WAIT'); // OUTPUT fin: ES -> FW
    table.tcpTransition(i, TcpDir.input, FIN | ACK, 0);
    expect(table.stateName(i)).toBe('TIME_WAIT'); // INPUT fin: FW -> TW (INPUT-ONLY would keep FW)
  });

  it('RST makes a connection inactive at once', () => {
    const { table, dest } = setup();
    const i = table.insert(TCP, CIP, 40000, VIP, 80, RIP1, 8080, dest.id, 0);
    table.tcpTransition(i, TcpDir.input, SYN, 0);
    table.tcpTransition(i, TcpDir.input, ACK, 0);
    table.tcpTransition(i, TcpDir.output, RST, 5);
    expect(table.stateName(i)).toBe('CLOSE');
    expect(table.expiresOf(i)).toBe(15);
    expect(counters(dest)).toEqual({ active: 0, inactive: 1, persist: 0 });
  });

  it('uses the dos tables under secure_tcp', () => {
    const { table, dest } = setup(Fwd.route);
    table.secureTcp = true;
    const i = table.insert(TCP, CIP, 40000, VIP, 80, RIP1, 80, dest.id, 0);
    table.tcpTransition(i, TcpDir.input, SYN, 0);
    expect(table.stateName(i)).toBe('SYNACK'); // dos INPUT-ONLY syn from NONE
    expect(table.timeout[i]).toBe(120);
    expect(counters(dest)).toEqual({ active: 1, inactive: 0, persist: 0 });
  });

  it('applies each state timeout after a transition into it (INPUT table, every cell)', () => {
    // Timeouts by state name, from IPVS-REFERENCE.md §5, in milliseconds.
    const timeoutOf: Record<string, number> = {
      NONE: 2000,
      ESTABLISHED: 900_000,
      SYN_SENT: 120_000,
      SYN_RECV: 60_000,
      FIN_WAIT: 120_000,
      TIME_WAIT: 120_000,
      CLOSE: 10_000,
      CLOSE_WAIT: 60_000,
      LAST_ACK: 30_000,
      LISTEN: 120_000,
      SYNACK: 120_000,
    };
    const registry = new DestRegistry();
    const dest = registry.create(RIP1, 80, Fwd.masq, 1, new Stats());
    const table = new ConnTable(16, registry, { seed: 1 });
    const i = table.insert(TCP, CIP, 1, VIP, 80, RIP1, 80, dest.id, 0);
    let checked = 0;
    for (let from = 0; from < 11; from++) {
      for (const flags of [SYN, FIN, ACK, RST]) {
        table.state[i] = from;
        table.tcpTransition(i, TcpDir.input, flags, 1_000_000);
        const name = table.stateName(i);
        expect(table.timeout[i]).toBe(timeoutOf[name]);
        expect(table.expiresOf(i)).toBe(1_000_000 + timeoutOf[name]!);
        checked++;
      }
    }
    expect(checked).toBe(44);
  });

  it('follows --set timeouts', () => {
    const registry = new DestRegistry();
    const dest = registry.create(RIP1, 80, Fwd.masq, 1, new Stats());
    const timeouts = new Timeouts();
    timeouts.set(3600, 30, 60);
    const table = new ConnTable(16, registry, { ticksPerSecond: 1, timeouts, seed: 1 });
    const i = table.insert(TCP, CIP, 1, VIP, 80, RIP1, 80, dest.id, 0);
    table.tcpTransition(i, TcpDir.input, SYN, 0);
    table.tcpTransition(i, TcpDir.input, ACK, 0);
    expect(table.timeout[i]).toBe(3600);
    table.tcpTransition(i, TcpDir.output, FIN, 0);
    expect(table.stateName(i)).toBe('FIN_WAIT');
    expect(table.timeout[i]).toBe(30);
    const u = table.insert(UDP, CIP, 1, VIP, 53, RIP1, 53, dest.id, 0);
    table.udpTransition(u, 10);
    expect(table.expiresOf(u)).toBe(70);
  });
});

describe('ConnTable UDP', () => {
  it('stays inactive, prints UDP, and lives 300 s after its last packet', () => {
    const { table, dest } = setup();
    const i = table.insert(UDP, CIP, 5353, VIP, 53, RIP1, 53, dest.id, 0);
    table.udpTransition(i, 0);
    expect(table.stateName(i)).toBe('UDP');
    expect(counters(dest)).toEqual({ active: 0, inactive: 1, persist: 0 });
    expect(table.lookupIn(UDP, CIP, 5353, VIP, 53, 299)).toBe(i);
    table.udpTransition(i, 299);
    expect(counters(dest)).toEqual({ active: 0, inactive: 1, persist: 0 });
    expect(table.lookupIn(UDP, CIP, 5353, VIP, 53, 598)).toBe(i);
    expect(table.lookupIn(UDP, CIP, 5353, VIP, 53, 599)).toBe(NO_ENTRY);
    expect(counters(dest)).toEqual({ active: 0, inactive: 0, persist: 0 });
  });

  it('counts packets and bytes on the destination and the service', () => {
    const { table, dest, svcStats } = setup();
    const i = table.insert(UDP, CIP, 5353, VIP, 53, RIP1, 53, dest.id, 0);
    table.countIn(i, 100);
    table.countIn(i, 60);
    table.countOut(i, 200);
    expect(dest.stats).toMatchObject({ conns: 1, inPkts: 2, inBytes: 160, outPkts: 1, outBytes: 200 });
    expect(svcStats).toMatchObject({ conns: 1, inPkts: 2, inBytes: 160, outPkts: 1, outBytes: 200 });
  });
});

describe('ConnTable persistence templates', () => {
  it('counts templates in PersistConn only and re-arms them for 60 s while they control connections', () => {
    const { table, dest } = setup();
    const t = table.insertTemplate(TCP, CIP, VIP, 80, RIP1, 8080, dest.id, 360, 0);
    expect(counters(dest)).toEqual({ active: 0, inactive: 0, persist: 1 });
    expect(dest.stats.conns).toBe(0);
    const c = table.insert(TCP, CIP, 40000, VIP, 80, RIP1, 8080, dest.id, 0, t);
    expect(table.control[c]).toBe(t);
    expect(table.nControl[t]).toBe(1);
    table.tcpTransition(c, TcpDir.input, SYN, 0);
    table.tcpTransition(c, TcpDir.input, ACK, 0); // ESTABLISHED until 900
    expect(table.stateName(t)).toBe('ASSURED');
    expect(counters(dest)).toEqual({ active: 1, inactive: 0, persist: 1 });

    // Due at 360; still controlling, so the timer fires at 360, 420, 480, ... and the template survives.
    expect(table.lookupTemplate(TCP, CIP, VIP, 80, 365)).toBe(t);
    expect(table.expiresOf(t)).toBe(420);
    expect(table.timeout[t]).toBe(60);
    expect(table.sweep(500, 64)).toBe(0);
    expect(table.expiresOf(t)).toBe(540);

    // The connection expires at 900; the template at its next firing after that (900 -> 960).
    expect(table.sweep(900, 64)).toBe(1);
    expect(table.nControl[t]).toBe(0);
    expect(counters(dest)).toEqual({ active: 0, inactive: 0, persist: 1 });
    expect(table.sweep(959, 64)).toBe(0); // timer armed for 960 by the firing at 900
    expect(table.expiresOf(t)).toBe(960);
    expect(table.lookupTemplate(TCP, CIP, VIP, 80, 960)).toBe(NO_ENTRY);
    expect(counters(dest)).toEqual({ active: 0, inactive: 0, persist: 0 });
    expect(table.size).toBe(0);
  });

  it('restarts the template timer on each use', () => {
    const { table, dest } = setup();
    const t = table.insertTemplate(TCP, CIP, VIP, 80, RIP1, 8080, dest.id, 360, 0);
    table.touchTemplate(t, 300);
    expect(table.lookupTemplate(TCP, CIP, VIP, 80, 659)).toBe(t);
    expect(table.lookupTemplate(TCP, CIP, VIP, 80, 660)).toBe(NO_ENTRY);
  });

  it('does not reschedule controlled entries under conn_reuse_mode', () => {
    const { table, dest } = setup();
    const t = table.insertTemplate(TCP, CIP, VIP, 80, RIP1, 8080, dest.id, 360, 0);
    const c = table.insert(TCP, CIP, 40000, VIP, 80, RIP1, 8080, dest.id, 0, t);
    const u = table.insert(TCP, CIP, 40001, VIP, 80, RIP1, 8080, dest.id, 0);
    for (const i of [c, u]) {
      table.tcpTransition(i, TcpDir.input, SYN, 0);
      table.tcpTransition(i, TcpDir.input, ACK, 0);
      table.tcpTransition(i, TcpDir.input, FIN, 0);
      table.tcpTransition(i, TcpDir.output, FIN, 0);
      expect(table.stateName(i)).toBe('TIME_WAIT');
    }
    expect(table.isNewConnExpected(c, 1)).toBe(false);
    expect(table.isNewConnExpected(u, 1)).toBe(true);
    // The caller then expires the old entry and inserts the new connection under the same key.
    expect(table.expireEntry(u, 1)).toBe(true);
    expect(table.lookupIn(TCP, CIP, 40001, VIP, 80, 1)).toBe(NO_ENTRY);
  });
});

describe('ConnTable overload flag (ip_vs_bind_dest / ip_vs_unbind_dest)', () => {
  function fill(uThreshold: number, lThreshold: number, n: number) {
    const { table, dest } = setup(Fwd.masq);
    dest.uThreshold = uThreshold;
    dest.lThreshold = lThreshold;
    const slots: number[] = [];
    for (let k = 0; k < n; k++) slots.push(table.insert(TCP, CIP, 1000 + k, VIP, 80, RIP1, 80, dest.id, 0));
    return { table, dest, slots };
  }

  it('sets OVERLOAD when active + inactive reaches the upper threshold', () => {
    const { dest, table, slots } = fill(3, 0, 2);
    expect(dest.overloaded).toBe(false);
    table.insert(TCP, CIP, 2000, VIP, 80, RIP1, 80, dest.id, 0);
    expect(dest.overloaded).toBe(true);
    // State changes do not re-evaluate the flag; only bind and unbind do.
    table.tcpTransition(slots[0]!, TcpDir.input, SYN, 0);
    expect(dest.overloaded).toBe(true);
  });

  it('without a lower threshold clears below 3/4 of the upper one', () => {
    const { dest, table, slots } = fill(4, 0, 4);
    expect(dest.overloaded).toBe(true);
    table.expireEntry(slots[0]!, 0); // 3 left: 12 < 12 is false
    expect(dest.overloaded).toBe(true);
    table.expireEntry(slots[1]!, 0); // 2 left: 8 < 12
    expect(dest.overloaded).toBe(false);
  });

  it('with a lower threshold clears only below it', () => {
    const { dest, table, slots } = fill(4, 2, 4);
    table.expireEntry(slots[0]!, 0);
    table.expireEntry(slots[1]!, 0); // 2 left, not < 2
    expect(dest.overloaded).toBe(true);
    table.expireEntry(slots[2]!, 0);
    expect(dest.overloaded).toBe(false);
  });

  it('does not count templates towards the threshold', () => {
    const { table, dest } = setup();
    dest.uThreshold = 1;
    table.insertTemplate(TCP, CIP, VIP, 80, RIP1, 80, dest.id, 360, 0);
    expect(dest.overloaded).toBe(false);
  });

  it('clears at any unbind when no threshold is set', () => {
    const { table, dest } = setup();
    const i = table.insert(TCP, CIP, 1, VIP, 80, RIP1, 80, dest.id, 0);
    dest.overloaded = true;
    table.expireEntry(i, 0);
    expect(dest.overloaded).toBe(false);
  });
});

describe('ConnTable when full', () => {
  it('refuses new entries with INSERT_FULL, counts them, and leaves live ones alone', () => {
    const { table, dest } = setup(Fwd.masq, 4);
    const live: number[] = [];
    for (let k = 0; k < 4; k++) live.push(table.insert(UDP, CIP, 100 + k, VIP, 53, RIP1, 53, dest.id, 0));
    for (const i of live) table.udpTransition(i, 0);
    expect(table.insert(UDP, CIP, 200, VIP, 53, RIP1, 53, dest.id, 10)).toBe(INSERT_FULL);
    expect(table.insertTemplate(UDP, CIP, VIP, 53, RIP1, 53, dest.id, 360, 10)).toBe(INSERT_FULL);
    expect(table.overflows).toBe(2);
    expect(table.size).toBe(4);
    for (let k = 0; k < 4; k++) expect(table.lookupIn(UDP, CIP, 100 + k, VIP, 53, 10)).toBe(live[k]);
    expect(counters(dest)).toEqual({ active: 0, inactive: 4, persist: 0 });
    expect(dest.stats.conns).toBe(4);
  });

  it('reclaims an expired entry to make room', () => {
    const { table, dest } = setup(Fwd.masq, 4);
    for (let k = 0; k < 4; k++) {
      const i = table.insert(UDP, CIP, 100 + k, VIP, 53, RIP1, 53, dest.id, 0);
      table.udpTransition(i, k === 2 ? -200 : 0); // the third one expires at 100
    }
    const n = table.insert(UDP, CIP, 200, VIP, 53, RIP1, 53, dest.id, 150);
    expect(n).toBeGreaterThanOrEqual(0);
    expect(table.overflows).toBe(0);
    expect(table.lookupIn(UDP, CIP, 102, VIP, 53, 150)).toBe(NO_ENTRY);
    expect(table.lookupIn(UDP, CIP, 200, VIP, 53, 150)).toBe(n);
    expect(counters(dest)).toEqual({ active: 0, inactive: 4, persist: 0 });
  });
});

describe('ConnTable housekeeping', () => {
  it('flush removes everything and undoes the counters', () => {
    const { table, dest } = setup();
    const t = table.insertTemplate(TCP, CIP, VIP, 80, RIP1, 80, dest.id, 360, 0);
    const c = table.insert(TCP, CIP, 1, VIP, 80, RIP1, 80, dest.id, 0, t);
    table.tcpTransition(c, TcpDir.input, SYN, 0);
    table.insert(UDP, CIP, 2, VIP, 53, RIP1, 53, dest.id, 0);
    table.flush();
    expect(table.size).toBe(0);
    expect(counters(dest)).toEqual({ active: 0, inactive: 0, persist: 0 });
    expect(table.lookupTemplate(TCP, CIP, VIP, 80, 1)).toBe(NO_ENTRY);
  });

  it('a sweep visits at most its budget and resumes where it stopped', () => {
    const { table, dest } = setup(Fwd.masq, 8);
    for (let k = 0; k < 8; k++) table.insert(UDP, CIP, k, VIP, 53, RIP1, 53, dest.id, 0);
    // All expire at 3 (the initial timeout).
    expect(table.sweep(3, 3)).toBe(3);
    expect(table.sweep(3, 3)).toBe(3);
    expect(table.sweep(3, 3)).toBe(2);
    expect(table.size).toBe(0);
  });

  it('ignores a destination id the registry does not know', () => {
    const { table, dest } = setup();
    const i = table.insert(TCP, CIP, 1, VIP, 80, RIP1, 80, 999, 0);
    table.tcpTransition(i, TcpDir.input, SYN, 0);
    expect(table.destId[i]).toBe(NO_ENTRY);
    expect(table.expireEntry(i, 0)).toBe(true);
    expect(counters(dest)).toEqual({ active: 0, inactive: 0, persist: 0 });
  });

  it('rejects a capacity it cannot hold', () => {
    const registry = new DestRegistry();
    expect(() => new ConnTable(0, registry)).toThrow(RangeError);
    expect(() => new ConnTable(1.5, registry)).toThrow(RangeError);
  });

  it('holds 1M connections in at most 128 bytes each, buckets included', () => {
    const table = new ConnTable(1 << 20, new DestRegistry());
    const perConn = table.byteLength / table.capacity;
    expect(table.bucketCount).toBe(1 << 20);
    // Per slot: the 32-byte lookup record (3 addresses, 3 ports, protocol, flags, chain link, Float64
    // expiry); fwd and state 2 x 1; destId, timeout, control, nControl 4 x 4 = 16; one Int32 bucket 4.
    expect(perConn).toBe(54);
    expect(perConn).toBeLessThanOrEqual(128);
  });
});
