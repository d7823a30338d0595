// Rules that cannot work on this director: uvsadm refuses them as ipvsadm reports a kernel refusal (the reason
// on stderr, exit 255), -R all-or-nothing and naming the line; rules that got in anyway (a state file saved
// under another config) stay in the rules, listed and saved, but get no traffic.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/director.js';
import { TcpFlag } from '../../src/conn/tcp-state.js';
import { executeCommand, type HandlerContext } from '../../src/control/handler.js';
import { ruleFitWithRemedy } from '../../src/control/rule-fit.js';
import { Datapath } from '../../src/datapath/datapath.js';
import { Drop, Verdict } from '../../src/datapath/reasons.js';
import { IpvsCore } from '../../src/ipvs/core.js';
import { parseRules } from '../../src/model/save-format.js';
import { IcmpType } from '../../src/wire/icmp.js';
import { lines, NO_RESOLVER } from '../control/helpers.js';
import { CIP, CLIENT_MAC, ETH0_MAC, ip, run } from '../datapath/helpers.js';
import { tcpFrame } from '../trace/helpers.js';

// The seed's director without a default route: eth0 owns the VIPs .231 and .241, eth1 is the real servers'
// link 192.168.2.0/24; 10.5.5.5 is on no link and has no route.
const CONFIG = `interfaces:
  - { name: eth0, mac: "02:00:00:00:00:01", mtu: 1500, addresses: [192.168.1.231/24, 192.168.1.241/32] }
  - { name: eth1, mac: "02:00:00:00:00:02", mtu: 1500, addresses: [192.168.2.1/24] }
neighbours:
  - { ip: 192.168.1.100, mac: "02:00:00:00:01:64" }
  - { ip: 192.168.2.11, mac: "02:00:00:00:02:11" }
  - { ip: 192.168.2.12, mac: "02:00:00:00:02:12" }
`;

const NOT_OWNED = "VIP 192.168.1.250 is not among the interfaces' addresses, so nothing answers ARP for it";
/** uvsadm's refusal goes on to say what to do: which address, under which key of which file, and the restart. */
const NOT_OWNED_REFUSAL = `${NOT_OWNED}; to serve it, add 192.168.1.250/32 to the \`addresses:\` of the client-facing interface in /etc/uvs/uvs.yaml, then restart uvs daemon`;
const OFF_LINK = "DR (-g) needs the real server on one of the director's links; it is not";

function director(rules = '') {
  const core = new IpvsCore({ connCapacity: 1024, ticksPerSecond: 1000, seed: 3 });
  if (rules !== '') core.applyRules(parseRules(rules));
  const datapath = new Datapath(parseConfig(CONFIG), core, { fastPath: false });
  const ctx: HandlerContext = {
    now: () => 0,
    resolver: NO_RESOLVER,
    ruleFit: ruleFitWithRemedy(datapath, '/etc/uvs/uvs.yaml'),
  };
  const uvsadm = (line: string, stdin = '') => executeCommand(core, line.split(' '), stdin, ctx);
  return { core, datapath, uvsadm };
}

describe('uvsadm refuses rules that cannot work on this director', () => {
  it.each([
    ['-A -t 192.168.1.250:80 -s rr', `TCP 192.168.1.250:80: ${NOT_OWNED_REFUSAL}`],
    ['-a -t 192.168.1.250:80 -r 192.168.2.11 -g', `TCP 192.168.1.250:80: ${NOT_OWNED_REFUSAL}`],
    ['-a -t 192.168.1.231:80 -r 10.5.5.5 -g', `TCP 192.168.1.231:80 -> 10.5.5.5: ${OFF_LINK}`],
    ['-a -t 192.168.1.231:80 -r 10.5.5.5:8080 -m', 'TCP 192.168.1.231:80 -> 10.5.5.5: no route to the real server'],
    ['-a -t 192.168.1.231:80 -r 10.5.5.5 -i', 'TCP 192.168.1.231:80 -> 10.5.5.5: no route to the real server'],
    ['-e -t 192.168.1.231:80 -r 192.168.2.11:80 -g -w 3', null],
  ])('%s', async (line, reason) => {
    const { uvsadm } = director('-A -t 192.168.1.231:80 -s rr\n-a -t 192.168.1.231:80 -r 192.168.2.11 -m\n');
    const before = (await uvsadm('-S -n')).stdout;
    const result = await uvsadm(line);
    if (reason === null) {
      expect(result).toEqual({ stdout: '', stderr: '', exitCode: 0, rulesChanged: true });
      return;
    }
    // ipvsadm prints a kernel refusal's message and exits 255 (process_options() returns -1).
    expect(result).toEqual({ stdout: '', stderr: `${reason}\n`, exitCode: 255, rulesChanged: false });
    expect((await uvsadm('-S -n')).stdout).toBe(before);
  });

  it('accepts what fits: an owned VIP, DR to a real server on a link, NAT to one on a link', async () => {
    const { uvsadm } = director();
    for (const line of [
      '-A -t 192.168.1.241:80 -s wlc',
      '-a -t 192.168.1.241:80 -r 192.168.2.11 -g',
      '-a -t 192.168.1.241:80 -r 192.168.2.12:8080 -m -w 2',
    ]) {
      expect(await uvsadm(line)).toMatchObject({ exitCode: 0, stderr: '', rulesChanged: true });
    }
    // Deleting never needs the director's blessing.
    expect(await uvsadm('-D -t 192.168.1.241:80')).toMatchObject({ exitCode: 0, rulesChanged: true });
  });

  it('refuses a whole -R batch at its first rule that cannot work, naming the line', async () => {
    const { uvsadm } = director();
    const result = await uvsadm(
      '-R',
      lines(
        '-A -t 192.168.1.231:80 -s rr',
        '-a -t 192.168.1.231:80 -r 192.168.2.11:80 -m -w 1',
        '-A -t 192.168.1.241:80 -s rr',
        '-a -t 192.168.1.241:80 -r 10.5.5.5:80 -g -w 1',
      ),
    );
    expect(result).toEqual({
      stdout: '',
      stderr: `line 4: TCP 192.168.1.241:80 -> 10.5.5.5: ${OFF_LINK}\n`,
      exitCode: 255,
      rulesChanged: false,
    });
    expect((await uvsadm('-S -n')).stdout).toBe('');
  });

  it('lets a rule that is already disabled be edited or deleted, but not made again', async () => {
    const saved = '-A -t 192.168.1.250:80 -s rr\n-a -t 192.168.1.250:80 -r 192.168.2.11:80 -m -w 1\n';
    const { uvsadm } = director(saved);
    expect(await uvsadm('-E -t 192.168.1.250:80 -s wlc')).toMatchObject({
      exitCode: 255,
      stderr: `TCP 192.168.1.250:80: ${NOT_OWNED_REFUSAL}\n`,
    });
    expect(await uvsadm('-d -t 192.168.1.250:80 -r 192.168.2.11:80')).toMatchObject({ exitCode: 0 });
    expect(await uvsadm('-D -t 192.168.1.250:80')).toMatchObject({ exitCode: 0 });
    expect((await uvsadm('-S -n')).stdout).toBe('');
  });
});

describe('rules that got in anyway are disabled, not lost', () => {
  const SAVED = lines(
    '-A -t 192.168.1.231:80 -s rr',
    '-a -t 192.168.1.231:80 -r 10.5.5.5:80 -g -w 1',
    '-a -t 192.168.1.231:80 -r 192.168.2.11:80 -g -w 1',
    '-A -t 192.168.1.231:81 -s rr',
    '-a -t 192.168.1.231:81 -r 10.5.5.5:81 -g -w 1',
    '-A -t 192.168.1.250:80 -s rr',
    '-a -t 192.168.1.250:80 -r 192.168.2.12:80 -g -w 1',
  );

  function disabledDirector() {
    const d = director(SAVED);
    // What the daemon does at start (Daemon.disableMisfits()).
    d.core.rules.setUnschedulable((dest) => d.datapath.destMisfit(dest.addr, dest.fwd) !== null);
    return d;
  }

  it('names each disabled rule and why', () => {
    const { datapath } = disabledDirector();
    expect(datapath.checkRules().disabled).toEqual([
      { rule: 'TCP 192.168.1.231:80 -> 10.5.5.5:80', reason: OFF_LINK },
      { rule: 'TCP 192.168.1.231:81 -> 10.5.5.5:81', reason: OFF_LINK },
      { rule: 'TCP 192.168.1.250:80', reason: NOT_OWNED },
    ]);
  });

  it('keeps them in the listing and in -S, so a save and restore loses nothing', async () => {
    const { uvsadm } = disabledDirector();
    const saved = (await uvsadm('-S -n')).stdout;
    // -S lists destinations newest first, as the kernel keeps them.
    expect(saved.split('\n').sort()).toEqual(SAVED.split('\n').sort());
    expect((await uvsadm('-Ln')).stdout).toMatch(/TCP {2}192\.168\.1\.250:80 rr\n {2}-> 192\.168\.2\.12:80 +Route +1 /);
    // A daemon that starts from that state file disables the same rules and saves the same text again.
    expect((await director(saved).uvsadm('-S -n')).stdout).toBe(saved);
  });

  it('schedules around a real server it cannot reach, as around weight 0', () => {
    const { datapath } = disabledDirector();
    for (let sport = 2000; sport < 2010; sport++) {
      const r = run(datapath, tcpFrame(CLIENT_MAC, ETH0_MAC, CIP, ip('192.168.1.231'), sport, 80, TcpFlag.syn));
      expect(r.verdict).toBe(Verdict.forward);
    }
    const dests = datapath.core.rules.snapshot.services[0]!.dests;
    expect(dests.map((d) => [d.addr, d.activeConns + d.inactConns])).toEqual([
      [ip('192.168.2.11'), 10],
      [ip('10.5.5.5'), 0],
    ]);
    expect(datapath.drops[Drop.drOffLink]).toBe(0);
  });

  it('answers a service with no reachable real server as one with every weight 0: port unreachable', () => {
    const { datapath } = disabledDirector();
    const r = run(datapath, tcpFrame(CLIENT_MAC, ETH0_MAC, CIP, ip('192.168.1.231'), 3000, 81, TcpFlag.syn));
    expect(r.verdict).toBe(Verdict.reply);
    expect(r.sent[0]!.frame[14 + 20]).toBe(IcmpType.destUnreachable);
    expect(datapath.drops[Drop.drOffLink]).toBe(0);
  });

  it('does not serve a VIP no interface owns', () => {
    const { datapath } = disabledDirector();
    const r = run(datapath, tcpFrame(CLIENT_MAC, ETH0_MAC, CIP, ip('192.168.1.250'), 3001, 80, TcpFlag.syn));
    expect(r.reason).toBe(Drop.notRouted);
    expect(datapath.core.rules.snapshot.services[2]!.dests[0]!.inactConns).toBe(0);
  });
});
