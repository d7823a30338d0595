// `uvs replay` end to end: a capture written with the pcap writer, the built CLI (dist/, from
// `npx tsc -p tsconfig.json`), and the output capture read back and compared frame by frame.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TcpFlag } from '../../src/conn/tcp-state.js';
import { PcapReader, PcapWriter } from '../../src/io/pcap.js';
import { BROADCAST_MAC } from '../../src/wire/addr.js';
import { ArpOp } from '../../src/wire/arp.js';
import { buildFrame, ipv4Fields } from '../../src/wire/frame.js';
import { CIP, CLIENT_MAC, DIP, ETH0_MAC, ETH1_MAC, RS2, RS2_MAC, topologyYaml, VIP } from '../datapath/helpers.js';

const cli = join(import.meta.dirname, '../../dist/cli/uvs.js');

const RULES = `-A -t 192.168.1.231:80 -s rr
-a -t 192.168.1.231:80 -r 192.168.2.11:80 -m -w 1
-a -t 192.168.1.231:80 -r 192.168.2.12:80 -m -w 1
`;

function tcp(
  srcMac: number,
  dstMac: number,
  src: number,
  dst: number,
  sport: number,
  dport: number,
  flags: number,
  ttl = 64,
) {
  return buildFrame({
    eth: { dst: dstMac, src: srcMac, etherType: 0x0800 },
    ipv4: ipv4Fields(src, dst, { ttl, id: 9 }),
    tcp: { srcPort: sport, dstPort: dport, seq: 5, ack: 0, flags, window: 1000, urgent: 0, payload: new Uint8Array(0) },
  });
}

describe('uvs replay', () => {
  it('replays ARP, a NAT handshake with neighbour resolution and a drop, writing every output frame in order', () => {
    const dir = mkdtempSync(join(tmpdir(), 'uvs-replay-'));
    writeFileSync(join(dir, 'uvs.yaml'), `${topologyYaml(false)}rules: rules.txt\n`);
    writeFileSync(join(dir, 'rules.txt'), RULES);
    // [nanoseconds into the second, frame]
    const input: [number, Uint8Array][] = [
      [
        0,
        buildFrame({
          eth: { dst: BROADCAST_MAC, src: CLIENT_MAC, etherType: 0x0806 },
          arp: { op: ArpOp.request, senderMac: CLIENT_MAC, senderIp: CIP, targetMac: 0, targetIp: VIP },
        }),
      ],
      [1_000_000, tcp(CLIENT_MAC, ETH0_MAC, CIP, VIP, 40000, 80, TcpFlag.syn)],
      [
        2_000_000,
        buildFrame({
          eth: { dst: ETH1_MAC, src: RS2_MAC, etherType: 0x0806 },
          arp: { op: ArpOp.reply, senderMac: RS2_MAC, senderIp: RS2, targetMac: ETH1_MAC, targetIp: DIP },
        }),
      ],
      [3_000_000, tcp(RS2_MAC, ETH1_MAC, RS2, CIP, 80, 40000, TcpFlag.syn | TcpFlag.ack)],
      [4_000_000, tcp(CLIENT_MAC, ETH0_MAC, CIP, VIP, 40001, 443, TcpFlag.syn)],
    ];
    const w = PcapWriter.open(join(dir, 'in.pcap'));
    for (const [ns, frame] of input) w.writeFrame(frame, 0, frame.length, 1700000000, ns);
    w.close();

    const run = spawnSync(
      process.execPath,
      [cli, 'replay', '--config', join(dir, 'uvs.yaml'), '--in', join(dir, 'in.pcap'), '--out', join(dir, 'out.pcap')],
      { encoding: 'utf8' },
    );
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^5 frames in, 4 frames out: 1 forwarded to real servers, 1 NAT replies, 1 ARP replies/);
    expect(run.stdout).toMatch(/drops:\n {2}noService {2}1\n$/);

    const records: [number, number, Uint8Array][] = [];
    const reader = PcapReader.open(join(dir, 'out.pcap'));
    for (const rec of reader) records.push([rec.tsSec, rec.tsFrac, rec.data.slice()]);
    expect(records.map(([s, ns]) => [s, ns])).toEqual([
      [1700000000, 0],
      [1700000000, 1_000_000],
      [1700000000, 2_000_000],
      [1700000000, 3_000_000],
    ]);
    expect(records.map(([, , f]) => f)).toEqual([
      buildFrame({
        eth: { dst: CLIENT_MAC, src: ETH0_MAC, etherType: 0x0806 },
        arp: { op: ArpOp.reply, senderMac: ETH0_MAC, senderIp: VIP, targetMac: CLIENT_MAC, targetIp: CIP },
      }),
      buildFrame({
        eth: { dst: BROADCAST_MAC, src: ETH1_MAC, etherType: 0x0806 },
        arp: { op: ArpOp.request, senderMac: ETH1_MAC, senderIp: DIP, targetMac: 0, targetIp: RS2 },
      }),
      tcp(ETH1_MAC, RS2_MAC, CIP, RS2, 40000, 80, TcpFlag.syn, 63),
      tcp(ETH0_MAC, CLIENT_MAC, VIP, CIP, 80, 40000, TcpFlag.syn | TcpFlag.ack, 63),
    ]);
  });

  it('refuses rules with a DR real server off every link', () => {
    const dir = mkdtempSync(join(tmpdir(), 'uvs-replay-'));
    writeFileSync(join(dir, 'uvs.yaml'), topologyYaml());
    writeFileSync(join(dir, 'rules.txt'), '-A -t 192.168.1.231:80 -s rr\n-a -t 192.168.1.231:80 -r 10.1.1.1:80 -g\n');
    PcapWriter.open(join(dir, 'in.pcap')).close();
    const run = spawnSync(
      process.execPath,
      [
        cli,
        'replay',
        '--config',
        join(dir, 'uvs.yaml'),
        '--rules',
        join(dir, 'rules.txt'),
        '--in',
        join(dir, 'in.pcap'),
        '--out',
        join(dir, 'o.pcap'),
      ],
      { encoding: 'utf8' },
    );
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/10\.1\.1\.1:80: DR \(-g\) needs the real server on one of the director's links/);
  });

  it('reports a missing option with the usage and exit status 2', () => {
    const run = spawnSync(process.execPath, [cli, 'replay', '--config', 'x.yaml'], { encoding: 'utf8' });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/--in is required/);
  });
});
