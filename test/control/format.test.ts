// Golden listings: every expected line is written by hand from ipvsadm 1.31's printf formats (print_title(),
// print_service_entry(), print_largenum(), list_conn()), blanks counted; `sp(n)` spells n blanks where a
// literal run would be hard to count. The --stats listing of the seed's DR lab is the tutorial's real output.
import { describe, expect, it } from 'vitest';
import { TcpDir, TcpFlag } from '../../src/conn/tcp-state.js';
import { IpProto } from '../../src/constants.js';
import { printLargenum } from '../../src/control/format.js';
import { Schedule } from '../../src/ipvs/core.js';
import { parseIpv4Address } from '../../src/wire/addr.js';
import { fixedResolver, type Lab, lines, makeLab, runAll, SEED_DR, SEED_NAT } from './helpers.js';

const sp = (n: number) => ' '.repeat(n);
const VERSION = 'IP Virtual Server version 1.2.1 (size=4096)';
const TITLE = 'Prot LocalAddress:Port Scheduler Flags';
const TITLE_DEST = '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn';

/** A plain destination line for a 16-character ADDR:PORT (`  -> %-28s %-7s %-6d %-10u %-10u`). */
const MASQ_200 = '  -> 192.168.1.200:80             Masq    1      0          0         ';
const MASQ_201 = '  -> 192.168.1.201:80             Masq    1      0          0         ';

const MIXED = [
  ...SEED_NAT,
  '-A -t 10.254.0.1:443 -s rr -p 10800',
  '-a -t 10.254.0.1:443 -r 172.16.1.64:6443 -m',
  '-A -t 192.168.1.241:80 -s wlc -p -M 255.255.255.0',
  '-a -t 192.168.1.241:80 -r 192.168.1.200 -g -w 3',
  '-a -t 192.168.1.241:80 -r 192.168.1.201 -i -w 0',
  '-A -u 192.168.1.231:53 -p 360 -M 255.255.255.0 -o',
  '-a -u 192.168.1.231:53 -r 192.168.1.200:5353 -m -w 2',
  '-A -t 192.168.1.250:80 -s sh -b sh-port,sh-fallback',
  '-A -t 192.168.1.250:8080 -s rr -b flag-3',
];

function ip(text: string): number {
  return parseIpv4Address(text)!;
}

/** Opens a connection the way src/sim/simulator.ts does: schedule, then the first packets' transitions. */
function open(lab: Lab, proto: number, client: string, cport: number, vip: string, vport: number): number {
  const { core } = lab;
  const svc = core.rules.snapshot.lookup(proto, ip(vip), vport)!;
  expect(core.schedule(svc, proto, ip(client), cport, ip(vip), vport, lab.clock.now)).toBe(Schedule.created);
  if (proto === IpProto.udp) core.conns.udpTransition(core.slot, lab.clock.now);
  else core.conns.tcpTransition(core.slot, TcpDir.input, TcpFlag.syn, lab.clock.now);
  return core.slot;
}

describe('printLargenum (print_largenum)', () => {
  it('prints below 10^8 in 9 columns, then K, M, G, T truncated in 8 columns plus the unit', () => {
    expect(printLargenum(0, false)).toBe('        0');
    expect(printLargenum(99999999, false)).toBe(' 99999999');
    expect(printLargenum(100000000, false)).toBe('  100000K');
    expect(printLargenum(999999999, false)).toBe('  999999K');
    expect(printLargenum(1000000000, false)).toBe('    1000M');
    expect(printLargenum(99999999999, false)).toBe('   99999M');
    expect(printLargenum(100000000000, false)).toBe('     100G');
    expect(printLargenum(99999999999999, false)).toBe('   99999G');
    expect(printLargenum(100000000000000, false)).toBe('     100T');
    expect(printLargenum(1234567890123456, false)).toBe('    1234T');
  });

  it('with --exact prints every digit in max(9, digits + 1) columns', () => {
    expect(printLargenum(123, true)).toBe('      123');
    expect(printLargenum(12345678, true)).toBe(' 12345678');
    expect(printLargenum(123456789, true)).toBe(' 123456789');
    expect(printLargenum(123456789012, true)).toBe(' 123456789012');
  });
});

describe('-L / -Ln', () => {
  it("prints the seed tutorial's NAT lab as ipvsadm does", async () => {
    const lab = makeLab();
    await runAll(lab, SEED_NAT);
    expect(await lab.must('-Ln')).toBe(
      lines(VERSION, TITLE, TITLE_DEST, 'TCP  192.168.1.231:80 rr', MASQ_200, MASQ_201),
    );
    // -l is -L.
    expect(await lab.must('-l -n')).toBe(await lab.must('-Ln'));
  });

  it('prints flags, persistence, masks, ops, Route/Tunnel in ipvsadm order (TCP first, 192.168 before 10.x)', async () => {
    const lab = makeLab();
    await runAll(lab, MIXED);
    expect(await lab.must('-L -n')).toBe(
      lines(
        VERSION,
        TITLE,
        TITLE_DEST,
        'TCP  192.168.1.231:80 rr',
        MASQ_200,
        MASQ_201,
        'TCP  192.168.1.241:80 wlc persistent 360 mask 255.255.255.0',
        '  -> 192.168.1.200:80             Route   3      0          0         ',
        '  -> 192.168.1.201:80             Tunnel  0      0          0         ',
        'TCP  192.168.1.250:80 sh (sh-fallback,sh-port)',
        'TCP  192.168.1.250:8080 rr (flag-3)',
        'TCP  10.254.0.1:443 rr persistent 10800',
        '  -> 172.16.1.64:6443             Masq    1      0          0         ',
        'UDP  192.168.1.231:53 wlc persistent 360 mask 255.255.255.0 ops',
        '  -> 192.168.1.200:5353           Masq    2      0          0         ',
      ),
    );
  });

  it('--nosort keeps the order services were added and the kernel list order of destinations (newest first)', async () => {
    const lab = makeLab();
    await runAll(lab, [...SEED_NAT, '-A -t 10.254.0.1:443 -s rr -p 10800']);
    expect(await lab.must('-Ln --nosort')).toBe(
      lines(
        VERSION,
        TITLE,
        TITLE_DEST,
        'TCP  192.168.1.231:80 rr',
        MASQ_201,
        MASQ_200,
        'TCP  10.254.0.1:443 rr persistent 10800',
      ),
    );
  });

  it('-L -t VIP:PORT prints the title and that service, without the version line', async () => {
    const lab = makeLab();
    await runAll(lab, MIXED);
    expect(await lab.must('-L -n -t 192.168.1.231:80')).toBe(
      lines(TITLE, TITLE_DEST, 'TCP  192.168.1.231:80 rr', MASQ_200, MASQ_201),
    );
    expect(await lab.must('-L -n -u 192.168.1.231:53')).toBe(
      lines(
        TITLE,
        TITLE_DEST,
        'UDP  192.168.1.231:53 wlc persistent 360 mask 255.255.255.0 ops',
        '  -> 192.168.1.200:5353           Masq    2      0          0         ',
      ),
    );
  });

  it('without -n prints names from the resolver, cutting services at 33 and destinations at 28 characters', async () => {
    const lab = makeLab(
      fixedResolver(
        { '192.168.1.231': 'virtual-ip.a-long-domain.example', '192.168.1.200': 'web01.a-very-long-domain.example' },
        { '80/6': 'http' },
      ),
    );
    await runAll(lab, SEED_NAT);
    expect(await lab.must('-L')).toBe(
      lines(
        VERSION,
        TITLE,
        TITLE_DEST,
        // "TCP  virtual-ip.a-long-domain.example:http" cut to 33 characters.
        'TCP  virtual-ip.a-long-domain.exa rr',
        // "web01.a-very-long-domain.example:http" cut to 28.
        '  -> web01.a-very-long-domain.exa Masq    1      0          0         ',
        '  -> 192.168.1.201:http           Masq    1      0          0         ',
      ),
    );
    // ipvsadm with no arguments at all is `-L` with names.
    expect((await lab.run('')).stdout).toBe(await lab.must('-L'));
  });

  it('--tun-info adds the TunnelInfo column: ipip for tunnels, n/a for the rest', async () => {
    const lab = makeLab();
    await runAll(lab, MIXED.slice(5, 8));
    expect(await lab.must('-Ln --tun-info')).toBe(
      lines(
        VERSION,
        TITLE,
        '  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn',
        'TCP  192.168.1.241:80 wlc persistent 360 mask 255.255.255.0',
        '  -> 192.168.1.200:80             Route   n/a           3      0          0         ',
        '  -> 192.168.1.201:80             Tunnel  ipip          0      0          0         ',
      ),
    );
  });

  it('--thresholds shows -x/-y and the connection counters', async () => {
    const lab = makeLab();
    await runAll(lab, [SEED_NAT[0]!, `${SEED_NAT[1]} -x 100 -y 50`, SEED_NAT[2]!]);
    expect(await lab.must('-Ln --thresholds')).toBe(
      lines(
        VERSION,
        `Prot LocalAddress:Port${sp(12)}Uthreshold Lthreshold ActiveConn InActConn `,
        '  -> RemoteAddress:Port',
        'TCP  192.168.1.231:80 rr',
        `  -> 192.168.1.200:80${sp(13)}100${sp(8)}50${sp(9)}0${sp(10)}0${sp(9)}`,
        `  -> 192.168.1.201:80${sp(13)}0${sp(10)}0${sp(10)}0${sp(10)}0${sp(9)}`,
      ),
    );
  });

  it('--persistent-conn shows weight, templates and connections per destination', async () => {
    const lab = makeLab();
    await runAll(lab, ['-A -t 192.168.1.241:80 -s rr -p', ...SEED_DR.slice(1)]);
    // rr's first pick is the head of the list: the destination added last, 192.168.1.201.
    open(lab, IpProto.tcp, '10.0.0.7', 40002, '192.168.1.241', 80);
    expect(await lab.must('-Ln --persistent-conn')).toBe(
      lines(
        VERSION,
        `Prot LocalAddress:Port${sp(12)}Weight${sp(4)}PersistConn ActiveConn InActConn `,
        '  -> RemoteAddress:Port',
        'TCP  192.168.1.241:80 rr persistent 360',
        `  -> 192.168.1.200:80${sp(13)}1${sp(9)}0${sp(11)}0${sp(10)}0${sp(9)}`,
        `  -> 192.168.1.201:80${sp(13)}1${sp(9)}1${sp(11)}1${sp(10)}0${sp(9)}`,
      ),
    );
    expect(await lab.must('-Ln')).toBe(
      lines(
        VERSION,
        TITLE,
        TITLE_DEST,
        'TCP  192.168.1.241:80 rr persistent 360',
        '  -> 192.168.1.200:80             Route   1      0          0         ',
        '  -> 192.168.1.201:80             Route   1      1          0         ',
      ),
    );
  });
});

describe('-L --stats / --rate', () => {
  it("reproduces the seed tutorial's `ipvsadm -Ln --stats` of its DR lab", async () => {
    const lab = makeLab();
    await runAll(lab, SEED_DR);
    const svc = lab.core.rules.snapshot.services[0]!;
    const [d201, d200] = svc.dests;
    Object.assign(svc.stats, { conns: 2, inPkts: 32, inBytes: 6841 });
    Object.assign(d200!.stats, { conns: 1, inPkts: 6, inBytes: 255 });
    Object.assign(d201!.stats, { conns: 1, inPkts: 26, inBytes: 6586 });
    lab.estimators.tick(2000);
    // Copied from the tutorial (seeds/), which shows real ipvsadm output.
    expect(await lab.must('-Ln --stats')).toBe(
      lines(
        'IP Virtual Server version 1.2.1 (size=4096)',
        'Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes',
        '  -> RemoteAddress:Port',
        'TCP  192.168.1.241:80                    2       32        0     6841        0',
        '  -> 192.168.1.200:80                    1        6        0      255        0',
        '  -> 192.168.1.201:80                    1       26        0     6586        0',
      ),
    );
  });

  it('abbreviates large counters, shows destination conns/packets modulo 2^32 (libipvs), and --exact expands', async () => {
    const lab = makeLab();
    await runAll(lab, SEED_DR);
    const svc = lab.core.rules.snapshot.services[0]!;
    const d200 = svc.dests[1]!;
    Object.assign(svc.stats, {
      conns: 4294967301,
      inPkts: 123456789,
      outPkts: 99999999,
      inBytes: 123456789012345,
      outBytes: 98765432109876,
    });
    Object.assign(d200.stats, { conns: 4294967301, inPkts: 4294967303, inBytes: 5000000000 });
    lab.estimators.tick(2000);
    const head = [
      'Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes',
      '  -> RemoteAddress:Port',
    ];
    expect(await lab.must('-Ln --stats')).toBe(
      lines(
        VERSION,
        ...head,
        `TCP  192.168.1.241:80${sp(12)}    4294M  123456K 99999999     123T   98765G`,
        `  -> 192.168.1.200:80${sp(12)}        5        7        0    5000M        0`,
        `  -> 192.168.1.201:80${sp(12)}        0        0        0        0        0`,
      ),
    );
    expect(await lab.must('-Ln --stats --exact')).toBe(
      lines(
        VERSION,
        ...head,
        `TCP  192.168.1.241:80${sp(12)} 4294967301 123456789 99999999 123456789012345 98765432109876`,
        `  -> 192.168.1.200:80${sp(12)}        5        7        0 5000000000        0`,
        `  -> 192.168.1.201:80${sp(12)}        0        0        0        0        0`,
      ),
    );
  });

  it('--rate shows the estimator: CPS/PPS of destinations raw, BPS through print_largenum', async () => {
    const lab = makeLab();
    await runAll(lab, SEED_NAT);
    const svc = lab.core.rules.snapshot.services[0]!;
    const d200 = svc.dests[1]!;
    // One 2-s period with 80 conns, 8000 packets, 4 MB: avg = delta*2^9/4 (cps, pps) and delta*2^4/4 (bps), so
    // cps = (80*128 + 511) >> 10 = 10, pps = (8000*128 + 511) >> 10 = 1000, bps = (4e6*4 + 15) >> 5 = 500000.
    for (const stats of [svc.stats, d200.stats]) Object.assign(stats, { conns: 80, inPkts: 8000, inBytes: 4000000 });
    lab.estimators.tick(2000);
    expect(await lab.must('-Ln --rate')).toBe(
      lines(
        VERSION,
        `Prot LocalAddress:Port${sp(12)}     CPS    InPPS   OutPPS    InBPS   OutBPS`,
        '  -> RemoteAddress:Port',
        `TCP  192.168.1.231:80${sp(12)}       10     1000        0   500000        0`,
        `  -> 192.168.1.200:80${sp(12)}       10     1000        0   500000        0`,
        `  -> 192.168.1.201:80${sp(12)}        0        0        0        0        0`,
      ),
    );
  });
});

describe('-L --timeout and -L -c', () => {
  it('--timeout prints the defaults, then what --set changed (0 leaves a value alone)', async () => {
    const lab = makeLab();
    expect(await lab.must('-L --timeout')).toBe('Timeout (tcp tcpfin udp): 900 120 300\n');
    await lab.must('--set 1000 0 200');
    expect(await lab.must('-L --timeout')).toBe('Timeout (tcp tcpfin udp): 1000 120 200\n');
  });

  it('-c lists connections and templates with mm:ss expiry, state, source, virtual, destination', async () => {
    const lab = makeLab();
    await runAll(lab, [
      ...SEED_NAT,
      '-A -t 192.168.1.241:80 -s rr -p',
      ...SEED_DR.slice(1),
      '-A -u 192.168.1.231:53 -s rr',
      '-a -u 192.168.1.231:53 -r 192.168.1.200:53 -m',
    ]);
    open(lab, IpProto.tcp, '10.0.0.5', 40000, '192.168.1.231', 80);
    const established = open(lab, IpProto.tcp, '10.0.0.6', 40001, '192.168.1.231', 80);
    lab.core.conns.tcpTransition(established, TcpDir.output, TcpFlag.syn | TcpFlag.ack, 0);
    lab.core.conns.tcpTransition(established, TcpDir.input, TcpFlag.ack, 0);
    open(lab, IpProto.tcp, '10.0.0.7', 40002, '192.168.1.241', 80);
    open(lab, IpProto.udp, '10.0.0.8', 5353, '192.168.1.231', 53);
    lab.clock.now = 1500;
    const out = (await lab.must('-Lnc')).split('\n');
    expect(out.slice(0, 2)).toEqual([
      'IPVS connection entries',
      'pro expire state       source             virtual            destination',
    ]);
    // The kernel lists in hash order; compare the rows as a set. Expiry is (expires - now) / HZ truncated:
    // SYN_RECV 60 s, ESTABLISHED 900 s, template 360 s, UDP 300 s, each less 1.5 s.
    expect(out.slice(2, -1).sort()).toEqual(
      [
        'TCP 00:58  SYN_RECV    10.0.0.5:40000     192.168.1.231:80   192.168.1.201:80',
        'TCP 14:58  ESTABLISHED 10.0.0.6:40001     192.168.1.231:80   192.168.1.200:80',
        'TCP 05:58  NONE        10.0.0.7:0         192.168.1.241:80   192.168.1.201:80',
        'TCP 00:58  SYN_RECV    10.0.0.7:40002     192.168.1.241:80   192.168.1.201:80',
        'UDP 04:58  UDP         10.0.0.8:5353      192.168.1.231:53   192.168.1.200:53',
      ].sort(),
    );
    expect(out.at(-1)).toBe('');
    const persistent = (await lab.must('-L -n -c --persistent-conn')).split('\n');
    expect(persistent[1]).toBe(
      'pro expire state       source             virtual            destination        pe name          pe_data',
    );
    expect(persistent.slice(2, -1).sort()).toEqual(out.slice(2, -1).sort());
    // An entry whose time is up is gone from the listing even before a sweep reclaims it.
    lab.clock.now = 60000;
    expect((await lab.must('-Lnc')).split('\n').filter((l) => l.includes('SYN_RECV'))).toEqual([]);
  });

  it('-c prints minutes past 99 in full', async () => {
    const lab = makeLab();
    await runAll(lab, ['-A -t 192.168.1.241:80 -s rr -p 7200', SEED_DR[1]!]);
    open(lab, IpProto.tcp, '10.0.0.7', 40002, '192.168.1.241', 80);
    const rows = (await lab.must('-Lnc')).split('\n');
    expect(rows).toContain('TCP 120:00 NONE        10.0.0.7:0         192.168.1.241:80   192.168.1.200:80');
  });
});
