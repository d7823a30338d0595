// `uvs replay` end to end: a capture written with the pcap writer, the built CLI (dist/, from
// `npx tsc -p tsconfig.json`), and the output capture read back and compared frame by frame.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TcpFlag } from '../../src/conn/tcp-state.js';
import { openCapture } from '../../src/io/capture.js';
import { PcapReader, PcapWriter } from '../../src/io/pcap.js';
import { BROADCAST_MAC, readMac } from '../../src/wire/addr.js';
import { ArpOp } from '../../src/wire/arp.js';
import { buildFrame, ipv4Fields } from '../../src/wire/frame.js';
import { CIP, CLIENT_MAC, DIP, ETH0_MAC, ETH1_MAC, RS2, RS2_MAC, topologyYaml, VIP } from '../datapath/helpers.js';
import { block, epb, file, idb, shb, u32 } from '../helpers/pcapng.js';

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

/**
 * [nanoseconds into second 1700000000, frame]: a client ARPs for the VIP and opens a connection, the real
 * server answers ARP and the SYN, and a SYN to port 443 has no service.
 */
function natInput(): [number, Uint8Array][] {
  return [
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
}

describe('uvs replay', () => {
  it('replays ARP, a NAT handshake with neighbour resolution and a drop, writing every output frame in order', () => {
    const dir = mkdtempSync(join(tmpdir(), 'uvs-replay-'));
    writeFileSync(join(dir, 'uvs.yaml'), `${topologyYaml(false)}rules: rules.txt\n`);
    writeFileSync(join(dir, 'rules.txt'), RULES);
    const input = natInput();
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

const hasEditcap = spawnSync('sh', ['-c', 'command -v editcap'], { encoding: 'utf8' }).status === 0;

describe('uvs replay and uvs trace on pcapng', () => {
  const NS = 1_000_000_000n;
  const TS_SEC = 1700000000n;

  /** A directory with the NAT config and rules and natInput() as in.pcap (microseconds). */
  function natCapture(): string {
    const dir = mkdtempSync(join(tmpdir(), 'uvs-replay-ng-'));
    writeFileSync(join(dir, 'uvs.yaml'), `${topologyYaml(false)}rules: rules.txt\n`);
    writeFileSync(join(dir, 'rules.txt'), RULES);
    const w = PcapWriter.open(join(dir, 'in.pcap'));
    for (const [ns, frame] of natInput()) w.writeFrame(frame, 0, frame.length, Number(TS_SEC), ns);
    w.close();
    return dir;
  }

  function uvs(dir: string, ...args: string[]) {
    return spawnSync(process.execPath, [cli, ...args, '--config', join(dir, 'uvs.yaml')], { encoding: 'utf8' });
  }

  function frames(path: string): [number, number, number[]][] {
    const out: [number, number, number[]][] = [];
    for (const rec of openCapture(path)) out.push([rec.tsSec, rec.tsFrac, [...rec.data]]);
    return out;
  }

  it('gives exactly the output frames and summary of the equivalent pcap, from two interfaces in nanoseconds', () => {
    const dir = natCapture();
    // Big-endian, as a capture from another host may be; the client's frames on interface 0 and the real
    // server's on interface 1, as dumpcap -i eth0 -i eth1 would write them; a name resolution and an
    // interface statistics block in between, which the reader skips.
    const blocks: number[][] = [
      shb('be'),
      idb('be', { name: 'client-side', tsresol: 9 }),
      idb('be', { name: 'server-side', tsresol: 9 }),
      block(4, [0, 0, 0, 0], 'be'),
    ];
    for (const [ns, frame] of natInput()) {
      const fromServer = readMac(frame, 6) === RS2_MAC;
      blocks.push(epb('be', fromServer ? 1 : 0, TS_SEC * NS + BigInt(ns), [...frame]));
      if (fromServer) blocks.push(block(5, [...u32(1, 'be'), 0, 0, 0, 0, 0, 0, 0, 0], 'be'));
    }
    writeFileSync(join(dir, 'in.pcapng'), file(...blocks));

    const fromPcap = uvs(dir, 'replay', '--in', join(dir, 'in.pcap'), '--out', join(dir, 'out.pcap'));
    const fromNg = uvs(dir, 'replay', '--in', join(dir, 'in.pcapng'), '--out', join(dir, 'out-ng.pcap'));
    expect(fromPcap.stderr).toBe('');
    expect(fromNg.status).toBe(0);
    expect(fromNg.stdout).toBe(fromPcap.stdout);
    expect(fromNg.stdout).toMatch(/^5 frames in, 4 frames out/);
    expect(fromNg.stderr).toBe(
      `uvs replay: note: ${join(dir, 'in.pcapng')} has 2 capture interfaces (client-side, server-side); the ` +
        "frames of all of them were read, in file order, each one's ingress inferred from its addresses, not " +
        "from the capture's interface\n",
    );
    const want = frames(join(dir, 'out.pcap'));
    expect(want).toHaveLength(4);
    expect(frames(join(dir, 'out-ng.pcap'))).toEqual(want);
    // The capture's nanosecond unit is kept in the output.
    expect(PcapReader.open(join(dir, 'out-ng.pcap')).header.nanosecond).toBe(true);

    const tracePcap = uvs(dir, 'trace', '--in', join(dir, 'in.pcap'));
    const traceNg = uvs(dir, 'trace', '--in', join(dir, 'in.pcapng'));
    expect(tracePcap.status).toBe(0);
    expect(traceNg.status).toBe(0);
    expect(tracePcap.stdout).not.toBe('');
    expect(traceNg.stdout).toBe(tracePcap.stdout);
    expect(traceNg.stderr).toMatch(/^uvs trace: note: .* has 2 capture interfaces/);
  });

  it('reads a pcapng from a pipe, its first bytes read once to tell the format (--in /dev/stdin)', () => {
    const dir = natCapture();
    const ng = file(
      shb('le'),
      idb('le'),
      ...natInput().map(([ns, frame]) => epb('le', 0, TS_SEC * 1_000_000n + BigInt(ns / 1000), [...frame])),
    );
    const fromPcap = uvs(dir, 'replay', '--in', join(dir, 'in.pcap'), '--out', join(dir, 'out.pcap'));
    writeFileSync(join(dir, 'in.pcapng'), ng);
    // Through sh, so stdin is a pipe (Node's own stdio pipes are sockets, which /dev/stdin cannot open).
    const piped = spawnSync(
      'sh',
      ['-c', 'cat "$1" | "$2" "$3" replay --config "$4" --in /dev/stdin --out "$5"', 'sh'].concat([
        join(dir, 'in.pcapng'),
        process.execPath,
        cli,
        join(dir, 'uvs.yaml'),
        join(dir, 'out-pipe.pcap'),
      ]),
      { encoding: 'utf8' },
    );
    expect(piped.stderr).toBe('');
    expect(piped.stdout).toBe(fromPcap.stdout);
    expect(readFileSync(join(dir, 'out-pipe.pcap'))).toEqual(readFileSync(join(dir, 'out.pcap')));
  });

  it('names a cut pcapng block and its offset, after replaying the frames before it', () => {
    const dir = natCapture();
    const whole = file(
      shb('le'),
      idb('le'),
      ...natInput().map(([ns, frame]) => epb('le', 0, (TS_SEC * NS) / 1000n + BigInt(ns / 1000), [...frame])),
    );
    writeFileSync(join(dir, 'cut.pcapng'), whole.subarray(0, whole.length - 10));
    const run = uvs(dir, 'replay', '--in', join(dir, 'cut.pcapng'), '--out', join(dir, 'o.pcap'));
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(
      /cut\.pcapng: pcapng: Enhanced Packet Block of \d+ bytes cut short.*\(byte offset \d+\) \[PCAPNG_TRUNCATED_BLOCK\]/,
    );
    expect(frames(join(dir, 'o.pcap')).length).toBeGreaterThan(0);
  });

  // editcap (Wireshark) is the independent converter; CI installs it with tshark. Without it this skips.
  it.skipIf(!hasEditcap)('replays a pcap converted by editcap -F pcapng to the same output file, byte for byte', () => {
    const dir = natCapture();
    const convert = spawnSync('editcap', ['-F', 'pcapng', join(dir, 'in.pcap'), join(dir, 'editcap.pcapng')], {
      encoding: 'utf8',
    });
    expect(convert.status).toBe(0);
    const fromPcap = uvs(dir, 'replay', '--in', join(dir, 'in.pcap'), '--out', join(dir, 'out.pcap'));
    const fromNg = uvs(dir, 'replay', '--in', join(dir, 'editcap.pcapng'), '--out', join(dir, 'out-ng.pcap'));
    expect([fromNg.status, fromNg.stdout, fromNg.stderr]).toEqual([fromPcap.status, fromPcap.stdout, fromPcap.stderr]);
    expect(readFileSync(join(dir, 'out-ng.pcap'))).toEqual(readFileSync(join(dir, 'out.pcap')));
    expect(frames(join(dir, 'out.pcap'))).toHaveLength(4);
  });
});
