// Every uvsadm command through executeCommand(): effects, ipvsadm's messages and exit codes (ipvsadm.c 1.31:
// fail() exits 2, the popt hint and popt errors exit 255, kernel errors print ipvs_strerror() and exit 255,
// list_service() of a missing service exits 1), save/restore round trips and -R's all-or-nothing rule.
import { describe, expect, it } from 'vitest';
import { TcpDir, TcpFlag } from '../../src/conn/tcp-state.js';
import { IpProto } from '../../src/constants.js';
import { Schedule } from '../../src/ipvs/core.js';
import { fixedResolver, lines, makeLab, runAll, SEED_DR, SEED_NAT } from '../control/helpers.js';

const HINT = "Try `uvsadm -h' or 'uvsadm --help' for more information.\n";
const EMPTY_LIST = lines(
  'IP Virtual Server version 1.2.1 (size=4096)',
  'Prot LocalAddress:Port Scheduler Flags',
  '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
);

/** What `ipvsadm-save -n` prints for the seed's two labs plus a persistent UDP service, by hand. */
const SAVED = lines(
  '-A -t 192.168.1.231:80 -s rr',
  '-a -t 192.168.1.231:80 -r 192.168.1.200:80 -m -w 1',
  '-a -t 192.168.1.231:80 -r 192.168.1.201:80 -m -w 1',
  '-A -t 192.168.1.241:80 -s rr',
  '-a -t 192.168.1.241:80 -r 192.168.1.200:80 -g -w 1',
  '-a -t 192.168.1.241:80 -r 192.168.1.201:80 -g -w 1',
  '-A -u 192.168.1.231:53 -s sh -p 360 -M 255.255.255.0 -o -b sh-port',
  '-a -u 192.168.1.231:53 -r 192.168.1.200:53 -i -w 5 --tun-type ipip',
);

describe('rule commands', () => {
  it('-A -a -e -E -d -D -C change the rules and report the change', async () => {
    const lab = makeLab();
    for (const line of SEED_NAT) {
      expect(await lab.run(line)).toEqual({ stdout: '', stderr: '', exitCode: 0, rulesChanged: true });
    }
    await lab.must('-e -t 192.168.1.231:80 -r 192.168.1.200:80 -m -w 5');
    await lab.must('-E -t 192.168.1.231:80 -s wrr -p 60');
    await lab.must('-d -t 192.168.1.231:80 -r 192.168.1.201:80');
    expect(await lab.must('-S -n')).toBe(
      lines('-A -t 192.168.1.231:80 -s wrr -p 60', '-a -t 192.168.1.231:80 -r 192.168.1.200:80 -m -w 5'),
    );
    // -E without -s goes back to wlc and drops persistence (ipvsadm sends the whole service).
    await lab.must('-E -t 192.168.1.231:80');
    expect(await lab.must('-S -n')).toMatch(/^-A -t 192\.168\.1\.231:80 -s wlc\n/);
    await lab.must('-D -t 192.168.1.231:80');
    expect(await lab.must('-S -n')).toBe('');
    await runAll(lab, SEED_DR);
    await lab.must('-C');
    expect(await lab.must('-Ln')).toBe(EMPTY_LIST);
  });

  it('fills in the defaults: wlc, weight 1, route, a bare -p is 360 s, -r without port takes the service port', async () => {
    const lab = makeLab();
    await lab.must('-A -t 192.168.1.241:80 -p');
    await lab.must('-a -t 192.168.1.241:80 -r 192.168.1.200');
    expect(await lab.must('-S -n')).toBe(
      lines('-A -t 192.168.1.241:80 -s wlc -p 360', '-a -t 192.168.1.241:80 -r 192.168.1.200:80 -g -w 1'),
    );
  });

  it.each([
    ['-A twice', ['-A -t 192.168.1.231:80'], '-A -t 192.168.1.231:80 -s rr', 'Service already exists'],
    ['-E of a missing service', [], '-E -t 192.168.1.231:80 -s rr', 'No such service'],
    ['-D of a missing service', [], '-D -t 192.168.1.231:80', 'No such service'],
    ['-a to a missing service', [], '-a -t 192.168.1.231:80 -r 192.168.1.200:80 -m', 'Service not defined'],
    ['-a twice', SEED_NAT, '-a -t 192.168.1.231:80 -r 192.168.1.200:80 -m', 'Destination already exists'],
    ['-e of a missing destination', SEED_NAT, '-e -t 192.168.1.231:80 -r 192.168.1.9:80 -m', 'No such destination'],
    ['-d of a missing destination', SEED_NAT, '-d -t 192.168.1.231:80 -r 192.168.1.9:80', 'No such destination'],
    ['-d on a missing service', [], '-d -t 192.168.1.231:80 -r 192.168.1.9:80', 'Service not defined'],
    ['an unknown scheduler', [], '-A -t 192.168.1.231:80 -s foo', 'Scheduler or persistence engine not found'],
    ['-Z of a missing service', [], '-Z -t 192.168.1.231:80', 'No such service'],
  ])('%s: ipvs_strerror() text, exit 255, nothing changed', async (_name, setup, line, message) => {
    const lab = makeLab();
    await runAll(lab, setup);
    const before = await lab.must('-S -n');
    expect(await lab.run(line)).toEqual({ stdout: '', stderr: `${message}\n`, exitCode: 255, rulesChanged: false });
    expect(await lab.must('-S -n')).toBe(before);
  });

  it.each([
    ['-A -t 192.168.1.231:0', 'Zero port specified for non-persistent service'],
    ['-A -t 192.168.1.231:53 -o', 'One-Packet Scheduling is only for UDP virtual services'],
    ['-A', "You need to supply the 'service-address' option for the 'add-service' command"],
    ['-A -t 192.168.1.231:80 -r 192.168.1.200', "Illegal 'real-server' option with the 'add-service' command"],
    ['-a -t 192.168.1.231:80 -r 192.168.1.200 -w 65536', 'illegal weight specified'],
    ['-a -t 192.168.1.231:80 -r 192.168.1.200 -x -1', 'illegal u_threshold specified'],
    ['-A -t 192.168.1.231:80 -p 0', "invalid timeout value `0' specified"],
    ['-A -t 300.1.1.1:80', 'illegal virtual server address[:port] specified'],
    ['-A -t 192.168.1.231:80 -t 192.168.1.232:80', "multiple 'service-address' options specified"],
    ['-A -t 192.168.1.231:80 -D', "invalid option `-D'"],
    ['-A -t 192.168.1.231:80 -s sh -b sh-nope', "invalid scheduler flag `sh-nope'"],
    ['-L -c --stats', 'options conflicts in the list command'],
    ['-L --timeout --persistent-conn', 'options conflicts in the list command'],
    [
      '-L -c -t 192.168.1.231:80',
      "The option 'service-address' conflicts with the 'connection' option in the 'list' command",
    ],
    ['-S --nosort', "Illegal 'nosort' option with the 'save' command"],
    ['--set 1 2', '--set option requires 3 timeout values'],
    ['-L extra', 'unexpected argument extra'],
  ])('%s: ipvsadm fail(2) message, exit 2', async (line, message) => {
    const lab = makeLab();
    const r = await lab.run(line);
    expect(r).toEqual({ stdout: '', stderr: `${message}\n`, exitCode: 2, rulesChanged: false });
  });

  it('a command line that does not start with a command prints the popt hint and exits 255', async () => {
    const lab = makeLab();
    for (const line of ['-n', '-t 192.168.1.231:80', 'foo', '--bogus']) {
      expect(await lab.run(line)).toEqual({ stdout: '', stderr: HINT, exitCode: 255, rulesChanged: false });
    }
    // popt's own error after the command: `option: reason`, exit 255.
    expect(await lab.run('-L --bogus')).toMatchObject({ stderr: '--bogus: unknown option\n', exitCode: 255 });
    expect(await lab.run('-A -t')).toMatchObject({ stderr: '-t: missing argument\n', exitCode: 255 });
  });

  it('what uvs lacks (fwmark, SCTP, persistence engines, sync daemon) is refused with exit 2', async () => {
    const lab = makeLab();
    for (const line of [
      '-A -f 1',
      '-A --sctp-service 192.168.1.231:80',
      '-A -t 192.168.1.231:80 --pe sip',
      '--start-daemon master',
    ]) {
      const r = await lab.run(line);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toMatch(/uvs/);
    }
    expect(await lab.must('-S -n')).toBe('');
  });

  it('-L -t of a missing service prints "No such service" and exits 1 (list_service())', async () => {
    const lab = makeLab();
    expect(await lab.run('-L -n -t 192.168.1.231:80')).toEqual({
      stdout: '',
      stderr: 'No such service\n',
      exitCode: 1,
      rulesChanged: false,
    });
  });

  it('-h prints the usage and -v the version, exit 0', async () => {
    const lab = makeLab();
    const help = await lab.run('-h');
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain('Usage:\n  uvsadm -A|E virtual-service [-s scheduler] [-p [timeout]]');
    expect(help.stdout).toContain('  --list            -L|-l     list the table\n');
    expect((await lab.run('--help')).stdout).toBe(help.stdout);
    expect((await lab.run('-v')).stdout).toMatch(/^uvsadm .*IPVS v1\.2\.1/);
  });

  it('--set changes the timeouts the connection table uses', async () => {
    const lab = makeLab();
    expect(await lab.run('--set 1000 60 200')).toMatchObject({ exitCode: 0, rulesChanged: true });
    expect(lab.core.conns.timeouts.udp).toBe(200);
    expect(await lab.must('-L --timeout')).toBe('Timeout (tcp tcpfin udp): 1000 60 200\n');
  });
});

describe('-S and -R', () => {
  it('-R restores what ipvsadm-save -n wrote, and -S -n gives it back unchanged', async () => {
    const lab = makeLab();
    expect(await lab.run('-R', SAVED)).toEqual({ stdout: '', stderr: '', exitCode: 0, rulesChanged: true });
    expect(await lab.must('-S -n')).toBe(SAVED);
    // Round trip through a second daemon.
    const other = makeLab();
    await other.must('-R', await lab.must('-S -n'));
    expect(await other.must('-S -n')).toBe(SAVED);
    expect(await other.must('-Ln')).toBe(await lab.must('-Ln'));
  });

  it('-S without -n prints names, as ipvsadm-save does', async () => {
    const lab = makeLab(fixedResolver({ '192.168.1.231': 'vip.lab', '192.168.1.200': 'web01' }, { '80/6': 'http' }));
    await runAll(lab, SEED_NAT);
    expect(await lab.must('-S')).toBe(
      lines(
        '-A -t vip.lab:http -s rr',
        '-a -t vip.lab:http -r web01:http -m -w 1',
        '-a -t vip.lab:http -r 192.168.1.201:http -m -w 1',
      ),
    );
  });

  it('-R is all-or-nothing: a bad line 3 applies nothing and the error names line 3', async () => {
    const lab = makeLab();
    await runAll(lab, SEED_DR);
    const before = await lab.must('-S -n');
    const input = lines(
      '-A -t 192.168.1.231:80 -s rr',
      '-a -t 192.168.1.231:80 -r 192.168.1.200:80 -m',
      '-a -t 192.168.1.232:80 -r 192.168.1.201:80 -m',
      '-a -t 192.168.1.231:80 -r 192.168.1.201:80 -m',
    );
    expect(await lab.run('-R', input)).toEqual({
      stdout: '',
      stderr: 'line 3: Service not defined\n',
      exitCode: 255,
      rulesChanged: false,
    });
    expect(await lab.must('-S -n')).toBe(before);
    // A line that does not parse is refused the same way, with ipvsadm's message and status.
    const bad = await lab.run(
      '-R',
      lines('-A -t 192.168.1.231:80', '', '-a -t 192.168.1.231:80 -r 192.168.1.200 -w x'),
    );
    expect(bad).toMatchObject({ stderr: 'line 3: illegal weight specified\n', exitCode: 2, rulesChanged: false });
    expect(await lab.must('-S -n')).toBe(before);
  });

  it('-R accepts lines starting with the word ipvsadm, blank lines and # comments', async () => {
    const lab = makeLab();
    await lab.must('-R', lines('# NAT lab', ...SEED_NAT.map((l) => l.replace('uvsadm', 'ipvsadm')), ''));
    expect(await lab.must('-S -n')).toBe(SAVED.split('\n').slice(0, 3).join('\n').concat('\n'));
  });
});

describe('-Z and live changes', () => {
  it('-Z zeroes the counters of one service, or of all', async () => {
    const lab = makeLab();
    await runAll(lab, [...SEED_NAT, ...SEED_DR]);
    for (const svc of lab.core.rules.snapshot.services) {
      svc.stats.conns = 3;
      for (const d of svc.dests) d.stats.conns = 1;
    }
    lab.estimators.tick(2000);
    const conns = async (vip: string) => (await lab.must(`-Ln --stats -t ${vip}:80`)).split('\n')[2]!.slice(33);
    expect(await conns('192.168.1.231')).toMatch(/^ {8}3/);
    await lab.must('-Z -t 192.168.1.231:80');
    expect(await conns('192.168.1.231')).toBe(`${' '.repeat(8)}0`.repeat(5));
    expect(await conns('192.168.1.241')).toMatch(/^ {8}3/);
    const dests = (await lab.must('-Ln --stats -t 192.168.1.231:80')).split('\n').slice(3, 5);
    expect(dests.every((l) => l.endsWith(`${' '.repeat(8)}0`.repeat(5)))).toBe(true);
    expect(await lab.run('-Z')).toMatchObject({ exitCode: 0, rulesChanged: false });
    expect(await conns('192.168.1.241')).toBe(`${' '.repeat(8)}0`.repeat(5));
  });

  it('-e and -d keep established connections in the table (expire_nodest_conn=0)', async () => {
    const lab = makeLab();
    await runAll(lab, SEED_NAT);
    const { core } = lab;
    const svc = core.rules.snapshot.services[0]!;
    expect(core.schedule(svc, IpProto.tcp, 0x0a000005, 40000, 0xc0a801e7, 80, 0)).toBe(Schedule.created);
    const slot = core.slot;
    core.conns.tcpTransition(slot, TcpDir.input, TcpFlag.syn, 0);
    const dest = core.dest!;
    await lab.must(`-e -t 192.168.1.231:80 -r 192.168.1.201:80 -m -w 0`);
    expect(core.conns.isLive(slot)).toBe(true);
    await lab.must('-d -t 192.168.1.231:80 -r 192.168.1.201:80');
    expect(core.conns.isLive(slot)).toBe(true);
    expect(dest.available).toBe(false);
    expect(dest.activeConns).toBe(1);
    expect(core.conns.lookupIn(IpProto.tcp, 0x0a000005, 40000, 0xc0a801e7, 80, 1)).toBe(slot);
  });
});
