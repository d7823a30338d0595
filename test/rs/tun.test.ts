// `uvs rs tun` end to end, in two namespaces joined by one veth pair:
//
//   +---------------------------------+            +-----------------------------------------+
//   | ns a: director + client         |    veth    | ns b: real server                       |
//   |  va 10.203.0.1/24 (DIP)         +------------+ vb 10.203.0.2/24 (RIP)                  |
//   |     10.203.0.50/24 (CIP)        |            |  uvs rs tun --vip 10.203.9.9 --dev vb   |
//   |  AfPacketPort sends IPIP        |            |  uvstun0 10.203.9.9/32 (VIP)            |
//   |  UDP socket on CIP:40000        |            |  UDP echo server on VIP:7000            |
//   +---------------------------------+            +-----------------------------------------+
//
// a sends IPIP frames (outer DIP -> RIP, inner CIP -> VIP). The server in b must receive every payload from
// the CIP, and its replies must come straight back from the VIP as plain UDP, never tunnelled. Afterwards
// the TUN device is gone and b's sysctls are as they were.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NsChild } from '../../src/lab/netns.js';
import { macToString } from '../../src/wire/addr.js';
import { canUseNetns, compileForChildren, listNamespaces, NetnsLab, netnsSkipReason } from '../netns/harness.js';

const DIP = '10.203.0.1';
const RIP = '10.203.0.2';
const CIP = '10.203.0.50';
const VIP = '10.203.9.9';
const COUNT = 50;

const child = (name: string): string => join(dirname(fileURLToPath(import.meta.url)), 'children', name);
const SYSCTLS = ['all/arp_ignore', 'all/arp_announce', 'lo/arp_ignore', 'lo/arp_announce', 'all/rp_filter'];

function lastJson<T>(stdout: string): T {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] ?? '{}') as T;
}

interface ClientResult {
  sent: number;
  replies: Array<{ payload: string; from: string; fromPort: number }>;
  seen: { udpFromVip: number; ipip: number; icmpProtoUnreachable: number; udpFromVipSourceMacs: string[] };
}

describe.skipIf(!canUseNetns)(`uvs rs tun: user-space IPIP decapsulation ${netnsSkipReason}`, () => {
  let lab: NetnsLab;
  let nsA: string;
  let nsB: string;
  let dist: string;
  let stateDir: string;

  const sysctlsOf = (ns: string): string[] =>
    SYSCTLS.map((k) => lab.exec(ns, 'cat', [`/proc/sys/net/ipv4/conf/${k}`]).trim());

  beforeAll(() => {
    lab = new NetnsLab();
    nsA = lab.addNamespace('a');
    nsB = lab.addNamespace('b');
    lab.addVeth(nsA, 'va', `${DIP}/24`, nsB, 'vb', `${RIP}/24`);
    lab.exec(nsA, 'ip', ['addr', 'add', `${CIP}/24`, 'dev', 'va']);
    dist = compileForChildren();
    stateDir = mkdtempSync(join(tmpdir(), 'uvs-rs-state-'));
  });

  afterAll(() => {
    const prefix = lab.prefix;
    lab.cleanup();
    rmSync(stateDir, { recursive: true, force: true });
    expect(listNamespaces().filter((n) => n.startsWith(prefix))).toEqual([]);
  });

  it('hands the inner packets to the local stack and the replies leave from the VIP directly', async () => {
    const before = sysctlsOf(nsB);
    const decap = new NsChild(
      nsB,
      [
        process.execPath,
        join(dist, 'cli', 'uvs.js'),
        'rs',
        'tun',
        '--vip',
        VIP,
        '--dev',
        'vb',
        '--state-dir',
        stateDir,
      ],
      20_000,
    );
    try {
      await decap.waitForLine((l) => l.includes('decapsulating'), 8_000);
      expect(lab.exec(nsB, 'ip', ['-4', '-o', 'addr', 'show', 'dev', 'uvstun0'])).toContain(`inet ${VIP}/32`);
      expect(sysctlsOf(nsB)).toEqual(['1', '2', '1', '2', '2']);

      const server = lab.spawnNode(
        nsB,
        child('udp-echo.mjs'),
        { address: VIP, port: 7000, expect: COUNT, timeoutMs: 8_000 },
        10_000,
      );
      await server.waitForLine((l) => l.includes('"event":"ready"'));
      const vbMac = lab.macOf(nsB, 'vb');
      const client = lab.spawnNode(
        nsA,
        child('ipip-client.mjs'),
        {
          dist,
          ifname: 'va',
          dstMac: vbMac,
          outerSrc: DIP,
          rip: RIP,
          cip: CIP,
          cport: 40000,
          vip: VIP,
          vport: 7000,
          count: COUNT,
          batch: 16,
          timeoutMs: 5_000,
        },
        10_000,
      );
      const [clientEnd, serverEnd] = await Promise.all([client.done, server.done]);
      expect(clientEnd.code, clientEnd.stderr).toBe(0);
      expect(serverEnd.code, serverEnd.stderr).toBe(0);

      const received = lastJson<{ reason: string; received: Array<{ payload: string; from: string }> }>(
        serverEnd.stdout,
      );
      expect(received.reason).toBe('complete');
      const expectedPayloads = Array.from({ length: COUNT }, (_, i) => `msg-${i}`);
      expect(received.received.map((r) => r.payload).sort()).toEqual([...expectedPayloads].sort());
      expect(new Set(received.received.map((r) => r.from))).toEqual(new Set([CIP]));

      const result = lastJson<ClientResult>(clientEnd.stdout);
      expect(result.sent).toBe(COUNT);
      expect(result.replies.map((r) => r.payload).sort()).toEqual(expectedPayloads.map((p) => `echo:${p}`).sort());
      for (const r of result.replies) expect([r.from, r.fromPort]).toEqual([VIP, 7000]);
      // On the wire: plain UDP from the VIP, sent by b's own interface; nothing tunnelled back, and no ICMP
      // "protocol unreachable" for the IPIP packets (the sink socket keeps b's kernel quiet).
      expect(result.seen.udpFromVip).toBe(COUNT);
      expect(result.seen.udpFromVipSourceMacs).toEqual([macToString(vbMac)]);
      expect(result.seen.ipip).toBe(0);
      expect(result.seen.icmpProtoUnreachable).toBe(0);
    } finally {
      await decap.stop('SIGTERM');
    }

    const stopped = decap.stdout.split('\n').find((l) => l.includes('stopped by SIGTERM'));
    expect(stopped, decap.stderr).toBeDefined();
    const counters = JSON.parse((stopped as string).slice((stopped as string).indexOf('{'))) as Record<string, number>;
    expect(counters.decapsulated).toBe(COUNT);
    expect(counters.tunDropped).toBe(0);
    expect(counters.badOuter).toBe(0);
    expect(counters.badInner).toBe(0);
    // The TUN device and the VIP on it went with the process; the sysctls are back.
    expect(lab.exec(nsB, 'ip', ['-o', 'link', 'show'])).not.toContain('uvstun0');
    expect(sysctlsOf(nsB)).toEqual(before);
  });
});
