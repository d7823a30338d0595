// The offline trace (`uvs trace --in`) and the live one (`uvs trace --socket`, fed by a daemon's trace
// socket) must tell the same story. One capture is traced both ways, in-process: offline by traceMain with
// --in, live by a TraceServer in front of a Datapath built from the same files and fed the capture's frames
// (same ingress inference, same timestamps as the clock). The text and the --json lines must agree, and both
// must name the real server (RIP:rport) and the MTU of every fragmentation-needed uvs sent.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { ingressOf } from '../../src/cli/replay.js';
import { traceMain } from '../../src/cli/trace.js';
import { loadConfig } from '../../src/config/director.js';
import { TcpFlag } from '../../src/conn/tcp-state.js';
import { Datapath } from '../../src/datapath/datapath.js';
import { FrameBatch } from '../../src/io/batch.js';
import { PcapReader, PcapWriter } from '../../src/io/pcap.js';
import { IpvsCore } from '../../src/ipvs/core.js';
import { parseRules } from '../../src/model/save-format.js';
import { TraceServer, traceSocketPath } from '../../src/trace/server.js';
import { BROADCAST_MAC } from '../../src/wire/addr.js';
import { ArpOp } from '../../src/wire/arp.js';
import { buildFrame, ipv4Fields } from '../../src/wire/frame.js';
import { CIP, CLIENT_MAC, ETH0_MAC, ETH1_MAC, ip, mac, RS1, RS1_MAC, VIP } from '../datapath/helpers.js';

// The seed's topology with eth1's MTU at 1400 (so big packets need fragmentation-needed), static neighbours
// for the client, the gateway and RS1 only: RS2 (DR) and a second client must be found by ARP.
const CONFIG = `interfaces:
  - { name: eth0, mac: "02:00:00:00:00:01", mtu: 1500, addresses: [192.168.1.231/24] }
  - { name: eth1, mac: "02:00:00:00:00:02", mtu: 1400, addresses: [192.168.2.1/24] }
neighbours:
  - { ip: 192.168.1.100, mac: "02:00:00:00:01:64" }
  - { ip: 192.168.1.1, mac: "02:00:00:00:01:01" }
  - { ip: 192.168.2.11, mac: "02:00:00:00:02:11" }
routes:
  - { to: default, via: 192.168.1.1 }
rules: rules.txt
`;

const RULES = `-A -t 192.168.1.231:80 -s rr
-a -t 192.168.1.231:80 -r 192.168.2.11:8080 -m -w 1
-A -t 192.168.1.231:81 -s rr
-a -t 192.168.1.231:81 -r 192.168.2.12:81 -g -w 1
-A -t 192.168.1.231:82 -s wlc
-a -t 192.168.1.231:82 -r 192.168.2.11:82 -i -w 1
`;

const CIP2 = ip('192.168.1.101');
const CIP2_MAC = mac('02:00:00:00:01:65');

function tcp(
  from: { mac: number; to: number },
  src: number,
  dst: number,
  ports: [number, number],
  flags: number,
  data = 0,
) {
  return buildFrame({
    eth: { dst: from.to, src: from.mac, etherType: 0x0800 },
    ipv4: ipv4Fields(src, dst),
    tcp: {
      srcPort: ports[0],
      dstPort: ports[1],
      seq: 1,
      ack: 0,
      flags,
      window: 100,
      urgent: 0,
      payload: new Uint8Array(data),
    },
  });
}

const client = { mac: CLIENT_MAC, to: ETH0_MAC };
const client2 = { mac: CIP2_MAC, to: ETH0_MAC };
const rs1 = { mac: RS1_MAC, to: ETH1_MAC };

/** A fragmentation-needed about a quoted TCP packet (its IP header and 8 bytes). */
function fragNeeded(from: { mac: number; to: number }, src: number, dst: number, mtu: number, quoted: Uint8Array) {
  return buildFrame({
    eth: { dst: from.to, src: from.mac, etherType: 0x0800 },
    ipv4: ipv4Fields(src, dst, { dontFrag: false }),
    icmp: { type: 3, code: 4, mtu, payload: quoted.slice(14, 14 + 28) },
  });
}

/** What the learner sees, frame by frame. */
const FRAMES: readonly Uint8Array[] = [
  // 1-3: a NAT handshake: scheduled to RIP:rport, the reply from it, the ACK on the known connection.
  tcp(client, CIP, VIP, [40000, 80], TcpFlag.syn),
  tcp(rs1, RS1, CIP, [8080, 40000], TcpFlag.syn | TcpFlag.ack),
  tcp(client, CIP, VIP, [40000, 80], TcpFlag.ack),
  // 4: DR to RS2, whose MAC is not known yet: held, and an ARP request sent.
  tcp(client, CIP, VIP, [40001, 81], TcpFlag.syn),
  // 5: TUN, small enough.
  tcp(client, CIP, VIP, [40002, 82], TcpFlag.syn),
  // 6: TUN, 1440 bytes with DF over eth1's 1400 less the 20-byte IPIP header: fragmentation needed, MTU 1380.
  tcp(client, CIP, VIP, [40003, 82], TcpFlag.syn, 1400),
  // 7: NAT, 1440 bytes with DF over eth1's 1400: fragmentation needed, MTU 1400, to a client whose MAC is
  //    not known yet: the ICMP is held and an ARP request sent.
  tcp(client2, CIP2, VIP, [40004, 80], TcpFlag.syn, 1400),
  // 8: the client side tells the VIP that the reply of connection 1 was too big: relayed to RIP:rport.
  fragNeeded(client, CIP, VIP, 1200, tcp(client, VIP, CIP, [80, 40000], TcpFlag.ack)),
  // 9: a router on the real servers' side tells the client its packet to RIP:rport was too big: relayed.
  fragNeeded(rs1, RS1, CIP, 1300, tcp(client, CIP, RS1, [40000, 8080], TcpFlag.ack)),
  // 10: ARP for the VIP; 11: a port with no service.
  buildFrame({
    eth: { dst: BROADCAST_MAC, src: CLIENT_MAC, etherType: 0x0806 },
    arp: { op: ArpOp.request, senderMac: CLIENT_MAC, senderIp: CIP, targetMac: 0, targetIp: VIP },
  }),
  tcp(client, CIP, VIP, [40005, 443], TcpFlag.syn),
];

function writeCapture(): { config: string; pcap: string; rules: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-agree-'));
  const config = join(dir, 'uvs.yaml');
  writeFileSync(config, CONFIG);
  writeFileSync(join(dir, 'rules.txt'), RULES);
  const pcap = join(dir, 'in.pcap');
  const w = PcapWriter.open(pcap);
  FRAMES.forEach((f, k) => {
    w.writeFrame(f, 0, f.length, 1700000000, k * 1_000_000);
  });
  w.close();
  return { config, pcap, rules: join(dir, 'rules.txt'), dir };
}

function collector(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => {
    text += d.toString();
  });
  return { stream, text: () => text };
}

async function offline(config: string, pcap: string, json: boolean): Promise<string> {
  const out = collector();
  const err = collector();
  const code = await traceMain(['--config', config, '--in', pcap, ...(json ? ['--json'] : [])], out.stream, err.stream);
  expect(err.text()).toBe('');
  expect(code).toBe(0);
  return out.text();
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let k = 0; k < 400; k++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const servers: TraceServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

/** The daemon's side: a Datapath from the same files behind a trace socket, fed the capture's frames. */
async function live(files: { config: string; pcap: string; rules: string; dir: string }) {
  const config = loadConfig(files.config);
  const core = new IpvsCore({ connCapacity: config.conn.capacity, ticksPerSecond: 1000 });
  core.applyRules(parseRules(RULES));
  const datapath = new Datapath(config, core);
  const server = await TraceServer.start({ socketPath: traceSocketPath(join(files.dir, 'uvs.sock')), datapath });
  servers.push(server);
  const text = collector();
  const json = collector();
  const stop = new AbortController();
  const exits = [
    traceMain(['--socket', server.socketPath], text.stream, new PassThrough(), stop.signal),
    traceMain(['--socket', server.socketPath, '--json'], json.stream, new PassThrough(), stop.signal),
  ];
  await until(() => server.clientCount === 2, 'both trace clients');
  const rx = new FrameBatch(1);
  const tx = new FrameBatch(64);
  const reader = PcapReader.open(files.pcap);
  try {
    for (const rec of reader) {
      const frame = rec.buf.subarray(rec.off, rec.off + rec.capLen);
      expect(rx.setFrame(0, frame)).toBe(true);
      rx.ifindex[0] = ingressOf(config, rec.buf, rec.off, rec.capLen);
      rx.flags[0] = 0;
      rx.count = 1;
      tx.count = 0;
      datapath.processBatch(rx, tx, rec.tsSec * 1000 + rec.tsFrac / 1_000_000);
    }
  } finally {
    reader.close();
  }
  const packets = (s: string) => s.split('\n').filter((l) => l.startsWith('#') || l.startsWith('{')).length;
  await until(() => packets(text.text()) === FRAMES.length && packets(json.text()) === FRAMES.length, 'the traces');
  stop.abort();
  expect(await Promise.all(exits)).toEqual([0, 0]);
  return { text: text.text(), json: json.text() };
}

const parseLines = (s: string) =>
  s
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('offline and live traces agree', () => {
  it('on the text, the JSON, the real server and the MTU announced, frame by frame', async () => {
    const files = writeCapture();
    const offlineText = await offline(files.config, files.pcap, false);
    const offlineJson = await offline(files.config, files.pcap, true);
    const both = await live(files);
    expect(both.text).toBe(offlineText);
    expect(parseLines(both.json)).toEqual(parseLines(offlineJson));

    const lines = parseLines(offlineJson);
    expect(lines).toHaveLength(FRAMES.length);
    const pick = (l: Record<string, unknown>) => {
      const out = l.output as { mtu?: number } | null;
      const held = l.held as { mtu?: number } | null;
      return [l.seq, l.verdict, l.rip, l.rport, out?.mtu ?? held?.mtu ?? null];
    };
    expect(lines.map(pick)).toEqual([
      [1, 'forward', '192.168.2.11', 8080, null],
      [2, 'forward', '192.168.2.11', 8080, null],
      [3, 'forward', '192.168.2.11', 8080, null],
      [4, 'queued', '192.168.2.12', 81, null],
      [5, 'forward', '192.168.2.11', 82, null],
      [6, 'reply', '192.168.2.11', 82, 1380],
      [7, 'queued', '192.168.2.11', 8080, 1400],
      [8, 'forward', '192.168.2.11', 8080, 1200],
      [9, 'forward', '192.168.2.11', 8080, 1300],
      [10, 'reply', null, null, null],
      [11, 'drop', null, null, null],
    ]);
    // The held frames: the DR packet itself, and the fragmentation-needed made for the second client.
    expect(lines[3]!.held).toMatchObject({ kind: 'tcp', dst: '192.168.1.231', dport: 81 });
    expect(lines[6]!.held).toMatchObject({ kind: 'icmp 3/4', src: '192.168.1.231', dst: '192.168.1.101', mtu: 1400 });
    expect(lines[6]!.output).toMatchObject({ kind: 'arp-request', dst: '192.168.1.101' });

    expect(offlineText).toBe(
      [
        '#1 eth0 in  TCP 192.168.1.100:40000 -> 192.168.1.231:80 (CIP -> VIP) SYN',
        '   service TCP 192.168.1.231:80 rr: new connection -> RIP 192.168.2.11:8080 (Masq)',
        '   NAT: DNAT 192.168.1.231:80 -> 192.168.2.11:8080, out eth1 to 02:00:00:00:02:11; state NONE -> SYN_RECV',
        '#2 eth1 in  TCP 192.168.2.11:8080 -> 192.168.1.100:40000 (RIP -> CIP) SYN+ACK',
        '   reply from RIP 192.168.2.11:8080 on a known connection of service TCP 192.168.1.231:80 (Masq)',
        '   NAT: SNAT 192.168.2.11:8080 -> 192.168.1.231:80, out eth0 to 02:00:00:00:01:64; state SYN_RECV -> SYN_RECV',
        '#3 eth0 in  TCP 192.168.1.100:40000 -> 192.168.1.231:80 (CIP -> VIP) ACK',
        '   known connection of service TCP 192.168.1.231:80 -> RIP 192.168.2.11:8080 (Masq)',
        '   NAT: DNAT 192.168.1.231:80 -> 192.168.2.11:8080, out eth1 to 02:00:00:00:02:11; state SYN_RECV -> ESTABLISHED',
        '#4 eth0 in  TCP 192.168.1.100:40001 -> 192.168.1.231:81 (CIP -> VIP) SYN',
        '   service TCP 192.168.1.231:81 rr: new connection -> RIP 192.168.2.12:81 (Route)',
        "   DR: IP packet unchanged (192.168.1.100 -> 192.168.1.231), its destination MAC to become the RIP's; " +
          "held until ARP finds the next hop's MAC; sent ARP who-has 192.168.2.12 out eth1 to ff:ff:ff:ff:ff:ff; " +
          'state NONE -> SYN_RECV',
        '#5 eth0 in  TCP 192.168.1.100:40002 -> 192.168.1.231:82 (CIP -> VIP) SYN',
        '   service TCP 192.168.1.231:82 wlc: new connection -> RIP 192.168.2.11:82 (Tunnel)',
        '   TUN: IPIP encapsulation, outer 192.168.2.1 (DIP) -> 192.168.2.11 (RIP), inner 192.168.1.100 -> ' +
          '192.168.1.231 unchanged, out eth1 to 02:00:00:00:02:11; state NONE -> SYN_RECV',
        '#6 eth0 in  TCP 192.168.1.100:40003 -> 192.168.1.231:82 (CIP -> VIP) SYN',
        '   service TCP 192.168.1.231:82 wlc: new connection -> RIP 192.168.2.11:82 (Tunnel)',
        '   answered with ICMP fragmentation needed (MTU 1380) 192.168.1.231 -> 192.168.1.100: the packet, once ' +
          'wrapped in IPIP (20 bytes more), is too big for the next link, and DF forbids splitting it, so the ' +
          'sender is told to send at most 1380 bytes, out eth0 to 02:00:00:00:01:64; state NONE -> SYN_RECV',
        '#7 eth0 in  TCP 192.168.1.101:40004 -> 192.168.1.231:80 (CIP -> VIP) SYN',
        '   service TCP 192.168.1.231:80 rr: new connection -> RIP 192.168.2.11:8080 (Masq)',
        '   answered with ICMP fragmentation needed (MTU 1400) 192.168.1.231 -> 192.168.1.101: the packet is too ' +
          'big for the next link, and DF forbids splitting it, so the sender is told to send at most 1400 bytes; ' +
          "held until ARP finds the next hop's MAC; sent ARP who-has 192.168.1.101 out eth0 to ff:ff:ff:ff:ff:ff; " +
          'state NONE -> SYN_RECV',
        '#8 eth0 in  ICMP fragmentation needed (MTU 1200) 192.168.1.100 -> 192.168.1.231 (CIP -> VIP)',
        '   known connection of service TCP 192.168.1.231:80 -> RIP 192.168.2.11:8080 (Masq)',
        '   NAT: DNAT 192.168.1.231 -> 192.168.2.11 (and in the quoted header), out eth1 to 02:00:00:00:02:11; ' +
          'state ESTABLISHED -> ESTABLISHED',
        '#9 eth1 in  ICMP fragmentation needed (MTU 1300) 192.168.2.11 -> 192.168.1.100 (RIP -> CIP)',
        '   ICMP error about a known connection of service TCP 192.168.1.231:80 to RIP 192.168.2.11:8080 (Masq)',
        '   NAT: SNAT 192.168.2.11 -> 192.168.1.231 (and in the quoted header), out eth0 to 02:00:00:00:01:64; ' +
          'state ESTABLISHED -> ESTABLISHED',
        '#10 eth0 in  ARP who-has 192.168.1.231 (VIP) tell 192.168.1.100',
        '   ARP reply: 192.168.1.231 (VIP) is-at 02:00:00:00:00:01, out eth0 to 02:00:00:00:01:64',
        '#11 eth0 in  TCP 192.168.1.100:40005 -> 192.168.1.231:443 (CIP -> VIP) SYN',
        '   dropped (noService): to an address of the director, but no virtual service listens on that protocol and port',
        '',
      ].join('\n'),
    );
  });
});
