// `uvs trace --in`: a capture written with the wire layer and the pcap writer, traced by the built CLI
// (dist/, from `npx tsc -p tsconfig.json`); the text is compared with explanations written by hand.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TcpFlag } from '../../src/conn/tcp-state.js';
import { PcapWriter } from '../../src/io/pcap.js';
import { BROADCAST_MAC } from '../../src/wire/addr.js';
import { ArpOp } from '../../src/wire/arp.js';
import { buildFrame } from '../../src/wire/frame.js';
import { CIP, CLIENT_MAC, ETH1_MAC, RS1, RS1_MAC, topologyYaml, VIP } from '../datapath/helpers.js';
import { clientSyn, RULES, tcpFrame } from './helpers.js';

const cli = join(import.meta.dirname, '../../dist/cli/uvs.js');

function capture(): { dir: string; config: string; pcap: string } {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-trace-'));
  writeFileSync(join(dir, 'uvs.yaml'), `${topologyYaml(true)}rules: rules.txt\n`);
  writeFileSync(join(dir, 'rules.txt'), RULES);
  const malformed = clientSyn(40001, 80);
  malformed[14] = 0x44;
  const frames = [
    buildFrame({
      eth: { dst: BROADCAST_MAC, src: CLIENT_MAC, etherType: 0x0806 },
      arp: { op: ArpOp.request, senderMac: CLIENT_MAC, senderIp: CIP, targetMac: 0, targetIp: VIP },
    }),
    clientSyn(40000, 80),
    tcpFrame(RS1_MAC, ETH1_MAC, RS1, CIP, 8080, 40000, TcpFlag.syn | TcpFlag.ack),
    malformed,
    clientSyn(40002, 443),
  ];
  const w = PcapWriter.open(join(dir, 'in.pcap'));
  frames.forEach((f, k) => {
    w.writeFrame(f, 0, f.length, 1700000000, k * 1_000_000);
  });
  w.close();
  return { dir, config: join(dir, 'uvs.yaml'), pcap: join(dir, 'in.pcap') };
}

const uvs = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

describe('uvs trace --in', () => {
  it('explains every frame of a capture: ARP, NAT in and out (ingress inferred), a malformed frame, a drop', () => {
    const { config, pcap } = capture();
    const run = uvs(['trace', '--config', config, '--in', pcap]);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(
      [
        '#1 eth0 in  ARP who-has 192.168.1.231 (VIP) tell 192.168.1.100',
        '   ARP reply: 192.168.1.231 (VIP) is-at 02:00:00:00:00:01, out eth0 to 02:00:00:00:01:64',
        '#2 eth0 in  TCP 192.168.1.100:40000 -> 192.168.1.231:80 (CIP -> VIP) SYN',
        '   service TCP 192.168.1.231:80 rr: new connection -> RIP 192.168.2.11:8080 (Masq)',
        '   NAT: DNAT 192.168.1.231:80 -> 192.168.2.11:8080, out eth1 to 02:00:00:00:02:11; state NONE -> SYN_RECV',
        '#3 eth1 in  TCP 192.168.2.11:8080 -> 192.168.1.100:40000 (RIP -> CIP) SYN+ACK',
        '   reply from RIP 192.168.2.11:8080 on a known connection of service TCP 192.168.1.231:80 (Masq)',
        '   NAT: SNAT 192.168.2.11:8080 -> 192.168.1.231:80, out eth0 to 02:00:00:00:01:64; state SYN_RECV -> SYN_RECV',
        '#4 eth0 in  unparseable frame',
        '   dropped (ipv4BadIhl): the IPv4 header length (IHL) is below 5 words or runs past the end of the frame',
        '#5 eth0 in  TCP 192.168.1.100:40002 -> 192.168.1.231:443 (CIP -> VIP) SYN',
        '   dropped (noService): to an address of the director, but no virtual service listens on that protocol and port',
        '',
      ].join('\n'),
    );
  });

  it('prints one JSON object per frame with --json', () => {
    const { config, pcap } = capture();
    const run = uvs(['trace', '--config', config, '--in', pcap, '--json']);
    expect(run.status).toBe(0);
    const lines = run.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.seq, l.ingress, l.verdict, l.reason])).toEqual([
      [1, 'eth0', 'reply', null],
      [2, 'eth0', 'forward', null],
      [3, 'eth1', 'forward', null],
      [4, 'eth0', 'drop', 'ipv4BadIhl'],
      [5, 'eth0', 'drop', 'noService'],
    ]);
    expect(lines[1]).toMatchObject({
      input: { kind: 'tcp', src: '192.168.1.100', dst: '192.168.1.231', tcpFlags: TcpFlag.syn },
      output: { dst: '192.168.2.11', dport: 8080 },
      conn: 'new',
      fwd: 'Masq',
      rip: '192.168.2.11',
      rport: 8080,
      held: null,
      stateBefore: 'NONE',
      stateAfter: 'SYN_RECV',
    });
    expect(lines[1].now).toBe(1700000000 * 1000 + 1);
  });

  it('refuses --in without --config, and --in with --socket', () => {
    const { config, pcap } = capture();
    const noConfig = uvs(['trace', '--in', pcap]);
    expect(noConfig.status).toBe(2);
    expect(noConfig.stderr).toMatch(/^uvs trace: --config is required with --in\n/);
    const both = uvs(['trace', '--config', config, '--in', pcap, '--socket', '/tmp/x']);
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/not both/);
  });

  it('says plainly when no daemon listens on the trace socket', () => {
    const { dir } = capture();
    const run = uvs(['trace', '--socket', join(dir, 'none.sock.trace')]);
    expect(run.status).toBe(1);
    expect(run.stderr).toBe(
      `uvs trace: no daemon is listening on ${join(dir, 'none.sock.trace')} (is uvs daemon running?)\n`,
    );
  });
});
