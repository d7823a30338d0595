// LibpcapPort with the real `cap` package and libpcap, in two namespaces joined by one veth pair:
//
//   +-------------------+                       +-------------------+
//   | ns a              |        veth           | ns b              |
//   |  va 10.202.0.1/24 +-----------------------+ vb 10.202.0.2/24  |
//   |  LibpcapPort      |                       |  dgram sockets    |
//   +-------------------+                       +-------------------+
//
// Receive: b's UDP stack sends datagrams to a; the port must hand every one over, whole, and none of its own
// sends. Send: frames built in user space go out through libpcap; b's UDP stack, which checks checksums,
// must deliver them. Offloads are off on b, because libpcap cannot report partial checksums (libpcap.ts).
import { describe, expect, it } from 'vitest';
import { loadCap } from '../../src/io/libpcap.js';
import { parseIpv4Address } from '../../src/wire/addr.js';
import { buildFrame, ipv4Fields, parseFrame } from '../../src/wire/frame.js';
import { Reason } from '../../src/wire/reason.js';
import { canUseNetns, childScript, compileForChildren, NetnsLab, netnsSkipReason } from '../netns/harness.js';

const A_IP = '10.202.0.1';
const B_IP = '10.202.0.2';
const COUNT = 50;

const capMissing = await loadCap().then(
  () => '',
  (err: unknown) => (err as Error).message,
);
const skipReason = !canUseNetns ? netnsSkipReason : capMissing !== '' ? `(needs the optional cap: ${capMissing})` : '';

const isEvent = (event: string) => (line: string) => line.includes(`"event":"${event}"`);
function lastJson<T>(stdout: string): T {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] ?? '{}') as T;
}

/** The payload rule of test/netns/children/udp-send.mjs, written out again here. */
function expectedPayload(seq: number): Uint8Array {
  const len = 18 + (seq % 53);
  const out = new Uint8Array(len);
  out[0] = (seq >>> 24) & 0xff;
  out[1] = (seq >>> 16) & 0xff;
  out[2] = (seq >>> 8) & 0xff;
  out[3] = seq & 0xff;
  for (let j = 4; j < len; j++) out[j] = (seq * 7 + j) & 0xff;
  return out;
}

interface Summary {
  reason: string;
  ifindex: number;
  frames: Array<{ hex: string; ifindex: number; pktType: number; flags: number }>;
  sent: number;
  txDropped: number;
  rxDropped: number;
  lastSendError: string;
  own: number;
}

describe.skipIf(skipReason !== '')(`LibpcapPort between two namespaces ${skipReason}`, () => {
  it('receives datagrams from b whole, and sends frames b’s UDP stack accepts', async () => {
    const lab = new NetnsLab();
    try {
      const nsA = lab.addNamespace('a');
      const nsB = lab.addNamespace('b');
      lab.addVeth(nsA, 'va', `${A_IP}/24`, nsB, 'vb', `${B_IP}/24`);
      lab.setOffloads(nsB, 'vb', false);
      const vaMac = lab.macOf(nsA, 'va');
      const vbMac = lab.macOf(nsB, 'vb');
      const vaIndex = (
        JSON.parse(lab.exec(nsA, 'ip', ['-j', 'link', 'show', 'dev', 'va'])) as Array<{
          ifindex: number;
        }>
      )[0]!.ifindex;
      const dist = compileForChildren();

      const toB = [0, 1, 2].map((k) =>
        buildFrame({
          eth: { dst: vbMac, src: vaMac, etherType: 0 },
          ipv4: ipv4Fields(parseIpv4Address(A_IP)!, parseIpv4Address(B_IP)!, { id: 100 + k }),
          udp: { srcPort: 6000, dstPort: 6001, payload: new Uint8Array([0x70 + k, 1, 2, 3]) },
        }),
      );
      const bRecv = lab.spawnNode(nsB, childScript('udp-recv.mjs'), { port: 6001, expect: 3, timeoutMs: 6_000 }, 9_000);
      await bRecv.waitForLine(isEvent('ready'));
      const port = lab.spawnNode(
        nsA,
        new URL('./children/libpcap-port.mjs', import.meta.url).pathname,
        {
          dist,
          ifname: 'va',
          udpPort: 5001,
          expect: COUNT,
          timeoutMs: 6_000,
          send: toB.map((f) => Buffer.from(f).toString('hex')),
        },
        9_000,
      );
      await port.waitForLine(isEvent('ready'));
      const bSend = lab.spawnNode(nsB, childScript('udp-send.mjs'), { dst: A_IP, port: 5001, count: COUNT }, 8_000);
      const [portEnd, sendEnd, recvEnd] = await Promise.all([port.done, bSend.done, bRecv.done]);
      expect(sendEnd.code, sendEnd.stderr).toBe(0);
      expect(portEnd.code, portEnd.stderr).toBe(0);
      expect(recvEnd.code, recvEnd.stderr).toBe(0);

      const summary = lastJson<Summary>(portEnd.stdout);
      expect(summary.reason).toBe('complete');
      expect(summary.sent).toBe(3);
      expect(summary.txDropped).toBe(0);
      expect(summary.rxDropped).toBe(0);
      // Its own three sends and a's ARP replies left through va; none may come back.
      expect(summary.own).toBe(0);
      expect(summary.ifindex).toBe(vaIndex);
      const seqs = new Set<number>();
      for (const f of summary.frames) {
        const bytes = new Uint8Array(Buffer.from(f.hex, 'hex'));
        const parsed = parseFrame(bytes);
        expect(parsed.reason).toBe(Reason.ok);
        const frame = parsed.frame!;
        if (!('udp' in frame)) throw new Error('not UDP');
        expect(frame.eth.src).toBe(vbMac);
        expect(frame.ipv4.src).toBe(parseIpv4Address(B_IP));
        const seq = new DataView(frame.udp.payload.buffer, frame.udp.payload.byteOffset).getUint32(0);
        expect(frame.udp.payload).toEqual(expectedPayload(seq));
        seqs.add(seq);
        expect(f.ifindex).toBe(vaIndex);
        expect(f.pktType).toBe(0); // PACKET_HOST
        expect(f.flags).toBe(0);
      }
      expect(seqs.size).toBe(COUNT);

      const received = lastJson<{ reason: string; received: Array<{ hex: string; from: string }> }>(recvEnd.stdout);
      expect(received.reason).toBe('complete');
      expect(received.received.map((r) => r.hex).sort()).toEqual(['70010203', '71010203', '72010203']);
      expect(received.received.every((r) => r.from === A_IP)).toBe(true);
    } finally {
      lab.cleanup();
    }
  });
});
