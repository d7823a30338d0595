import { describe, expect, it } from 'vitest';
import { IpProto } from '../../src/constants.js';
import { Fwd } from '../../src/dest/dest.js';
import { RulesError } from '../../src/model/errors.js';
import { type ParsedCommand, parseArgs, toRuleCommand } from '../../src/model/grammar.js';

const VIP = 0xc0a801e7; // 192.168.1.231
const RIP = 0xc0a801c8; // 192.168.1.200

const words = (line: string) => line.split(' ');
const parse = (line: string): ParsedCommand => parseArgs(words(line));

function errorOf(fn: () => unknown): RulesError {
  try {
    fn();
  } catch (err) {
    if (err instanceof RulesError) return err;
    throw err;
  }
  throw new Error('expected a RulesError');
}

describe('parseArgs: services', () => {
  it('reads -A with ipvsadm defaults: wlc, not persistent, /32, no ops, no flags', () => {
    const p = parse('-A -t 192.168.1.231:80');
    expect(p.command).toBe('add-service');
    expect(p.service).toEqual({ fwmark: 0, proto: IpProto.tcp, addr: VIP, port: 80, ipv6: false });
    expect(p.sched).toBe('wlc');
    expect(p.timeout).toBe(0);
    expect(p.netmask).toBe(0xffffffff);
    expect(p.onePacket).toBe(false);
    expect(p.schedFlags).toBe(0);
    expect(p.pe).toBe('');
  });

  it('fills wlc for -E too', () => {
    expect(parse('-E -u 192.168.1.231:53').sched).toBe('wlc');
  });

  it('reads every service option in short and long spelling', () => {
    const short = parse('-A -u 192.168.1.231:53 -s sh -p 600 -M 255.255.255.0 -o -b sh-port');
    const long = parse(
      '--add-service --udp-service 192.168.1.231:53 --scheduler sh --persistent 600 --netmask 255.255.255.0 --ops --sched-flags sh-port',
    );
    for (const p of [short, long]) {
      expect(p.service).toEqual({ fwmark: 0, proto: IpProto.udp, addr: VIP, port: 53, ipv6: false });
      expect(p.sched).toBe('sh');
      expect(p.timeout).toBe(600);
      expect(p.netmask).toBe(0xffffff00);
      expect(p.onePacket).toBe(true);
      expect(p.schedFlags).toBe(0x10);
    }
    expect(parse('--edit-service --tcp-service 192.168.1.231:80').command).toBe('edit-service');
    expect(parse('--delete-service --tcp-service 192.168.1.231:80').command).toBe('delete-service');
    expect(parse('-D -t 192.168.1.231:80').command).toBe('delete-service');
  });

  it('gives a bare -p the 360 s of IPVS_SVC_PERSISTENT_TIMEOUT, wherever it stands', () => {
    expect(parse('-A -t 192.168.1.231:80 -p').timeout).toBe(360);
    expect(parse('-A -t 192.168.1.231:80 -p -s rr').timeout).toBe(360);
    expect(parse('-A -t 192.168.1.231:80 -p -s rr').sched).toBe('rr');
    expect(parse('-A -t 192.168.1.231:80 --persistent').timeout).toBe(360);
  });

  it('takes -p values joined, separate and after =', () => {
    expect(parse('-A -t 192.168.1.231:80 -p600').timeout).toBe(600);
    expect(parse('-A -t 192.168.1.231:80 -p 600').timeout).toBe(600);
    expect(parse('-A -t 192.168.1.231:80 --persistent=600').timeout).toBe(600);
    expect(parse('-A -t 192.168.1.231:80 -p 2678400').timeout).toBe(2678400);
  });

  it('reads clustered short options and values joined to the letter', () => {
    const p = parse('-At 192.168.1.231:80 -srr');
    expect(p.command).toBe('add-service');
    expect(p.service?.addr).toBe(VIP);
    expect(p.sched).toBe('rr');
    const list = parse('-Ln');
    expect(list.command).toBe('list');
    expect(list.options.has('numeric')).toBe(true);
    expect(parse('-ln').command).toBe('list');
  });

  it('accepts --long=value for options with a required value', () => {
    expect(parse('-A --tcp-service=192.168.1.231:80 --scheduler=rr').sched).toBe('rr');
  });

  it('reads -f MARK (and -6 after it) as a firewall-mark service', () => {
    expect(parse('-A -f 7').service).toEqual({ fwmark: 7, proto: IpProto.tcp, addr: 0, port: 0, ipv6: false });
    expect(parse('-A -f 7 -6').service?.ipv6).toBe(true);
    expect(parse('-A --fwmark-service 4294967295').service?.fwmark).toBe(4294967295);
  });

  it('takes a service without a port as port 0', () => {
    expect(parse('-A -t 192.168.1.231 -p').service?.port).toBe(0);
  });
});

describe('parseArgs: real servers', () => {
  it('reads -a with ipvsadm defaults: route (-g), weight 1, no thresholds, ipip', () => {
    const p = parse('-a -t 192.168.1.231:80 -r 192.168.1.200:8080');
    expect(p.command).toBe('add-server');
    expect(p.dest).toEqual({
      addr: RIP,
      port: 8080,
      fwd: Fwd.route,
      weight: 1,
      uThreshold: 0,
      lThreshold: 0,
      tunType: 'ipip',
      tunPort: 0,
      tunFlags: 0,
    });
  });

  it('reads every destination option in short and long spelling', () => {
    const short = parse('-e -t 192.168.1.231:80 -r 192.168.1.200:81 -m -w 3 -x 100 -y 50');
    const long = parse(
      '--edit-server --tcp-service 192.168.1.231:80 --real-server 192.168.1.200:81 --masquerading --weight 3 --u-threshold 100 --l-threshold 50',
    );
    for (const p of [short, long]) {
      expect(p.command).toBe('edit-server');
      expect(p.dest).toMatchObject({ addr: RIP, port: 81, fwd: Fwd.masq, weight: 3, uThreshold: 100, lThreshold: 50 });
    }
    expect(parse('-a -t 192.168.1.231:80 -r 192.168.1.200 --gatewaying').dest?.fwd).toBe(Fwd.route);
    expect(parse('-a -t 192.168.1.231:80 -r 192.168.1.200 --ipip').dest?.fwd).toBe(Fwd.tunnel);
    expect(parse('-a -t 192.168.1.231:80 -r 192.168.1.200 -i --tun-type ipip').dest?.tunType).toBe('ipip');
    expect(parse('--delete-server -t 192.168.1.231:80 -r 192.168.1.200').command).toBe('delete-server');
    expect(parse('-a -t 192.168.1.231:80 -r 192.168.1.200 -w 0').dest?.weight).toBe(0);
    expect(parse('-a -t 192.168.1.231:80 -r 192.168.1.200 -w 65535').dest?.weight).toBe(65535);
  });

  it('copies the service port to a real server given without one', () => {
    expect(parse('-a -t 192.168.1.231:80 -r 192.168.1.200 -m').dest?.port).toBe(80);
    expect(parse('-d -t 192.168.1.231:80 -r 192.168.1.200').dest?.port).toBe(80);
  });

  it('reads GUE and GRE tunnel options (the model refuses them later)', () => {
    const gue = parse('-a -t 192.168.1.231:80 -r 192.168.1.200 -i --tun-type gue --tun-port 6080 --tun-csum');
    expect(gue.dest).toMatchObject({ tunType: 'gue', tunPort: 6080, tunFlags: 1 });
    expect(parse('-a -t 192.168.1.231:80 -r 192.168.1.200 -i --tun-type gre --tun-nocsum').dest?.tunType).toBe('gre');
  });
});

describe('parseArgs: other commands', () => {
  it('reads --set with three timeouts', () => {
    expect(parse('--set 900 120 300').timeouts).toEqual({ tcp: 900, tcpFin: 120, udp: 300 });
    expect(parse('--set 0 0 10').timeouts).toEqual({ tcp: 0, tcpFin: 0, udp: 10 });
  });

  it('reads -C, -S -n, -R, -Z, -h, -v and the daemon commands', () => {
    expect(parse('-C').command).toBe('flush');
    expect(parse('--clear').command).toBe('flush');
    expect(parse('-S -n').options.has('numeric')).toBe(true);
    expect(parse('--save').command).toBe('save');
    expect(parse('-R').command).toBe('restore');
    expect(parse('-Z -t 192.168.1.231:80').command).toBe('zero');
    expect(parse('-h').command).toBe('help');
    expect(parse('--version').command).toBe('version');
    const d = parse('--start-daemon master --mcast-interface eth1 --syncid 9 --mcast-group 224.0.0.82');
    expect(d.daemon).toMatchObject({ state: 'master', mcastInterface: 'eth1', syncId: 9, mcastGroup: 0xe0000052 });
    expect(parse('--stop-daemon backup').daemon.state).toBe('backup');
  });

  it('collects list format options', () => {
    const p = parse('-L -n --stats --exact --nosort -t 192.168.1.231:80');
    expect([...p.options].sort()).toEqual(['exact', 'nosort', 'numeric', 'service-address', 'stats']);
  });
});

describe('parseArgs: errors with ipvsadm messages', () => {
  const cases: [string, string][] = [
    ['-A -t 192.168.1.231:80 -p 0', "invalid timeout value `0' specified"],
    ['-A -t 192.168.1.231:80 -p 2678401', "invalid timeout value `2678401' specified"],
    ['-A -t 192.168.1.231:80 -p x', "invalid timeout value `x' specified"],
    ['--set 900 120', '--set option requires 3 timeout values'],
    ['--set 900 120 x', "invalid timeout value `x' specified"],
    ['--set 900 120 300 7', 'unexpected argument 7'],
    ['-A -t 192.168.1.231:80 extra', 'unexpected argument extra'],
    ['-A -t 192.168.1.300:80', 'illegal virtual server address[:port] specified'],
    ['-A -t www.example.com:80', 'illegal virtual server address[:port] specified'],
    ['-A -t 12345', 'illegal virtual server address[:port] specified'],
    ['-A -t 192.168.1.231:65536', 'illegal virtual server address[:port] specified'],
    ['-a -t 192.168.1.231:80 -r 192.168.1:80', 'illegal real server address[:port] specified'],
    ['-A -t 192.168.1.231:80 -p -M 24', 'illegal virtual server persistent mask specified'],
    ['-a -t 192.168.1.231:80 -r 192.168.1.200 -w 65536', 'illegal weight specified'],
    ['-a -t 192.168.1.231:80 -r 192.168.1.200 -w -1', 'illegal weight specified'],
    ['-a -t 192.168.1.231:80 -r 192.168.1.200 -x 2147483648', 'illegal u_threshold specified'],
    ['-a -t 192.168.1.231:80 -r 192.168.1.200 -y z', 'illegal l_threshold specified'],
    ['-A -f 0', "invalid fwmark value `0' specified"],
    ['-A -t 192.168.1.231:80 -6', '-6 used before -f'],
    ['-A -t 192.168.1.231:80 -b nope', "invalid scheduler flag `nope'"],
    ['-A -t 192.168.1.231:80 -b sh-port', "incompatible scheduler flag `sh-port'"],
    ['-A -t 192.168.1.231:80 -s mh -b sh-port', "incompatible scheduler flag `sh-port'"],
    ['-a -t 192.168.1.231:80 -r 192.168.1.200 -i --tun-type vxlan', 'illegal tunnel type specified'],
    ['-a -t 192.168.1.231:80 -r 192.168.1.200 -i --tun-type gue --tun-port 0', 'illegal tunnel port specified'],
    ['-A -t 192.168.1.231:80 -t 192.168.1.231:81', "multiple 'service-address' options specified"],
    ['-A -t 192.168.1.231:80 -s rr -s wrr', "multiple 'scheduler' options specified"],
    ['-a -t 192.168.1.231:80 -r 192.168.1.200 -m -g', "multiple 'forwarding-method' options specified"],
    ['-A -s rr', "You need to supply the 'service-address' option for the 'add-service' command"],
    ['-a -t 192.168.1.231:80', "You need to supply the 'real-server' option for the 'add-server' command"],
    ['-A -t 192.168.1.231:80 -w 2', "Illegal 'weight' option with the 'add-service' command"],
    ['-a -t 192.168.1.231:80 -r 192.168.1.200 -s rr', "Illegal 'scheduler' option with the 'add-server' command"],
    ['-D -t 192.168.1.231:80 -p', "Illegal 'persistent' option with the 'delete-service' command"],
    ['-C -n', "Illegal 'numeric' option with the 'flush' command"],
    ['-L -c --timeout', "The option 'timeout' conflicts with the 'connection' option in the 'list' command"],
    ['-A -D -t 192.168.1.231:80', "invalid option `-D'"],
    ['-A -t 192.168.1.231:80 --bogus', '--bogus: unknown option'],
    ['-A -t 192.168.1.231:80 -s', '-s: missing argument'],
    ['-A -t 192.168.1.231:80 --ops=1', '--ops: option does not take an argument'],
    ['-a -t 192.168.1.231:80 -r 192.168.1.200 -m --tun-type ipip', 'Tunnel options conflict with forward method'],
    [
      '-a -t 192.168.1.231:80 -r 192.168.1.200 -i --tun-type gue',
      "You need to supply the 'tun-port' option for the 'gue' tunnel type",
    ],
    [
      '-a -t 192.168.1.231:80 -r 192.168.1.200 -i --tun-port 5',
      "Illegal 'tun-port' option with the 'ipip' tunnel type",
    ],
    [
      '-a -t 192.168.1.231:80 -r 192.168.1.200 -i --tun-type gre --tun-csum --tun-nocsum',
      "The option 'tun-csum' conflicts with the 'tun-nocsum' option in the 'gre' tunnel type",
    ],
    ['--start-daemon primary', 'illegal start-daemon parameter specified'],
    ['--start-daemon master --syncid 256', 'illegal syncid specified'],
    ['--start-daemon master --mcast-group 10.0.0.1', "invalid IPv4 mcast-group `10.0.0.1'"],
  ];
  it.each(cases)('%s -> %s', (line, message) => {
    expect(errorOf(() => parse(line)).message).toBe(message);
  });

  it('prints only the try-help hint when the first option is not a command or is unknown', () => {
    const hint = "Try `uvsadm -h' or 'uvsadm --help' for more information.";
    expect(errorOf(() => parse('-t 192.168.1.231:80 -A')).message).toBe(hint);
    expect(errorOf(() => parse('--bogus -A')).message).toBe(hint);
    expect(errorOf(() => parseArgs([])).message).toBe(hint);
    expect(errorOf(() => parseArgs(['-Q'], 'ipvsadm')).message).toBe(
      "Try `ipvsadm -h' or 'ipvsadm --help' for more information.",
    );
    expect(errorOf(() => parse('-t 192.168.1.231:80 -A')).code).toBe('usage');
  });

  it('refuses IPv6 addresses clearly', () => {
    const err = errorOf(() => parse('-A -t [2001:db8::1]:80'));
    expect(err.code).toBe('unsupported');
    expect(err.message).toContain('IPv4 only');
  });
});

describe('toRuleCommand', () => {
  it('turns -A, -a, -d, -C and --set into rule commands', () => {
    expect(toRuleCommand(parse('-A -t 192.168.1.231:80 -s rr -p'))).toEqual({
      kind: 'add-service',
      svc: { proto: IpProto.tcp, addr: VIP, port: 80 },
      sched: 'rr',
      schedFlags: 0,
      timeout: 360,
      netmask: 0xffffffff,
      onePacket: false,
    });
    expect(toRuleCommand(parse('-a -t 192.168.1.231:80 -r 192.168.1.200 -m'))).toEqual({
      kind: 'add-dest',
      svc: { proto: IpProto.tcp, addr: VIP, port: 80 },
      addr: RIP,
      port: 80,
      fwd: Fwd.masq,
      weight: 1,
      uThreshold: 0,
      lThreshold: 0,
    });
    expect(toRuleCommand(parse('-d -t 192.168.1.231:80 -r 192.168.1.200:81'))).toEqual({
      kind: 'delete-dest',
      svc: { proto: IpProto.tcp, addr: VIP, port: 80 },
      addr: RIP,
      port: 81,
    });
    expect(toRuleCommand(parse('-C'))).toEqual({ kind: 'clear' });
    expect(toRuleCommand(parse('--set 1 2 3'))).toEqual({ kind: 'set-timeouts', tcp: 1, tcpFin: 2, udp: 3 });
  });

  it('refuses what uvs does not have, saying so', () => {
    const fwmark = errorOf(() => toRuleCommand(parse('-A -f 1')));
    expect(fwmark.code).toBe('unsupported');
    expect(fwmark.message).toContain('no firewall marks');
    expect(errorOf(() => toRuleCommand(parse('-A -t 192.168.1.231:80 -p --pe sip'))).message).toContain(
      'no persistence engines',
    );
    const gue = errorOf(() =>
      toRuleCommand(parse('-a -t 192.168.1.231:80 -r 192.168.1.200 -i --tun-type gue --tun-port 6080 --tun-nocsum')),
    );
    expect(gue.message).toContain("tunnel type `gue'");
    expect(errorOf(() => toRuleCommand(parse('-A --sctp-service 192.168.1.231:80'))).message).toContain('no SCTP');
    const list = errorOf(() => toRuleCommand(parse('-L -n')));
    expect(list.code).toBe('notARule');
    expect(list.message).toBe("the 'list' command is not a rule change");
  });
});
