// AfXdpPort against the real kernel, in three namespaces joined by two veth pairs:
//
//   +-------------------+        veth           +-------------------+
//   | ns a              +-----------------------+ ns b              |
//   |  va 10.203.0.1/24 |                       |  vb 10.203.0.2/24 |
//   |  AfXdpPort(s)     |                       |  dgram socket     |
//   |  vc 10.204.0.1/24 +-------+               +-------------------+
//   +-------------------+       |  veth         +-------------------+
//                               +---------------+ ns c  vd 10.204.0.2/24, dgram socket
//                                               +-------------------+
//
// Receive: b's UDP stack sends datagrams to a; the port on va must hand them over byte for byte (checksums
// valid, as b's tx checksum offload is off: XDP carries no checksum state, see src/io/afxdp.ts), and b's
// ARP must reach the port too (the kernel of a sees nothing while the port is open).
// Send: the port on va sends frames built in user space; b's UDP stack, which validates checksums, must
// deliver every good one and none of the deliberately broken ones. Then the same through the port on va
// with the egress set to vc, which must leave through the AF_XDP port on vc and reach c.
// Teardown: the XDP program must be gone after close() and after the process is SIGKILLed.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IpProto } from '../../src/constants.js';
import { AfXdpError, AfXdpPort } from '../../src/io/afxdp.js';
import { FrameBatch, HEADROOM, PacketType } from '../../src/io/batch.js';
import { loadNative, type XdpHandle } from '../../src/native.js';
import { parseIpv4Address } from '../../src/wire/addr.js';
import { ipv4HeaderChecksum } from '../../src/wire/checksum.js';
import { EthernetView } from '../../src/wire/ethernet.js';
import { Ipv4View } from '../../src/wire/ipv4.js';
import { Reason } from '../../src/wire/reason.js';
import { UdpView } from '../../src/wire/udp.js';
import { refChecksum, refPseudoSum } from '../checksum/frames.js';
import {
  canUseNetns,
  childScript,
  compileForChildren,
  isRoot,
  listNamespaces,
  NetnsLab,
  netnsSkipReason,
} from './harness.js';

const A_IP = '10.203.0.1';
const B_IP = '10.203.0.2';
const C_SIDE_A_IP = '10.204.0.1';
const C_IP = '10.204.0.2';
/** An address on b's subnet that nobody holds: b's kernel ARPs for it. */
const UNKNOWN_IP = '10.203.0.77';
const COUNT = 200;

/** The payload rule of the sender children, written out again here so a shared bug cannot hide. */
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

interface RxFrame {
  hex: string;
  ifindex: number;
  flags: number;
  vlanTci: number;
  pktType: number;
  headroomUsed: number;
}

interface RxSummary {
  event: 'done';
  reason: string;
  ifindex: number;
  xdpMode: string;
  zeroCopy: boolean;
  rxQueues: number;
  xdpAttached: boolean;
  stats: { rxRingFull: number; rxDropped: number; rxInvalidDescs: number };
  frames: RxFrame[];
  other: number;
  batches: number;
  maxBatch: number;
  errors: number;
  offsetsInSlot: boolean;
}

function lastJson<T>(stdout: string): T {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] ?? '{}') as T;
}

const isEvent = (event: string) => (line: string) => line.includes(`"event":"${event}"`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Parses a received frame with src/wire and checks both checksums with the plain reference sum. */
function checkUdpFrame(bytes: Uint8Array, dstPort: number): { seq: number; payload: Uint8Array } {
  const eth = new EthernetView().reset(bytes, 0, bytes.length);
  expect(eth.checkLen()).toBe(Reason.ok);
  const ip = new Ipv4View().reset(bytes, eth.payloadOff, eth.payloadLen);
  expect(ip.checkLen()).toBe(Reason.ok);
  expect(ip.protocol).toBe(IpProto.udp);
  expect(ip.src).toBe(parseIpv4Address(B_IP));
  expect(ip.dst).toBe(parseIpv4Address(A_IP));
  expect(ipv4HeaderChecksum(bytes, ip.off, ip.headerLen)).toBe(ip.checksum);
  const udp = new UdpView().reset(bytes, ip.payloadOff, ip.payloadLen);
  expect(udp.checkLen()).toBe(Reason.ok);
  expect(udp.dstPort).toBe(dstPort);
  expect(udp.checksum).not.toBe(0);
  const pseudo = refPseudoSum(ip.src, ip.dst, IpProto.udp, udp.length);
  expect(refChecksum(bytes, udp.off, udp.length, pseudo)).toBe(0);
  const payload = bytes.slice(udp.payloadOff, udp.off + udp.length);
  const seq = ((payload[0]! << 24) | (payload[1]! << 16) | (payload[2]! << 8) | payload[3]!) >>> 0;
  return { seq, payload };
}

// AF_XDP needs CAP_NET_RAW, CAP_BPF and CAP_NET_ADMIN, and namespaces CAP_SYS_ADMIN: root only (CI is root).
describe.skipIf(!canUseNetns)(`AfXdpPort between namespaces ${netnsSkipReason}`, () => {
  let lab: NetnsLab;
  let nsA: string;
  let nsB: string;
  let nsC: string;
  let dist: string;
  let vaIndex: number;
  let vaMac: number;
  let vbMac: number;
  let vdMac: number;

  /** Whether `dev` in `ns` has an XDP program attached now. */
  function hasXdp(ns: string, dev: string): boolean {
    const link = JSON.parse(lab.exec(ns, 'ip', ['-j', '-d', 'link', 'show', 'dev', dev])) as Array<{ xdp?: unknown }>;
    return link[0]?.xdp !== undefined;
  }

  beforeAll(() => {
    lab = new NetnsLab();
    nsA = lab.addNamespace('a');
    nsB = lab.addNamespace('b');
    nsC = lab.addNamespace('c');
    lab.addVeth(nsA, 'va', `${A_IP}/24`, nsB, 'vb', `${B_IP}/24`);
    lab.addVeth(nsA, 'vc', `${C_SIDE_A_IP}/24`, nsC, 'vd', `${C_IP}/24`);
    // XDP hands over no checksum state: b's datagrams must leave b with their checksums complete.
    lab.setOffloads(nsB, 'vb', false);
    const link = JSON.parse(lab.exec(nsA, 'ip', ['-j', 'link', 'show', 'dev', 'va'])) as Array<{ ifindex: number }>;
    vaIndex = link[0]!.ifindex;
    vaMac = lab.macOf(nsA, 'va');
    vbMac = lab.macOf(nsB, 'vb');
    vdMac = lab.macOf(nsC, 'vd');
    // While the port is open a's kernel sees no ARP, so b learns a's MAC up front.
    const mac = (n: number) =>
      n
        .toString(16)
        .padStart(12, '0')
        .replace(/(..)(?!$)/g, '$1:');
    lab.addNeighbour(nsB, 'vb', A_IP, mac(vaMac));
    dist = compileForChildren();
  });

  afterAll(() => {
    const prefix = lab.prefix;
    lab.cleanup();
    expect(listNamespaces().filter((n) => n.startsWith(prefix))).toEqual([]);
  });

  async function receiveFromB(
    mode: 'poll' | 'busy',
    batch: number,
    readAfterMs: number,
    coalesce = false,
  ): Promise<RxSummary> {
    const udpPort = 5001;
    const rx = lab.spawnNode(
      nsA,
      childScript('afxdp-rx.mjs'),
      {
        dist,
        ifname: 'va',
        want: 'udp',
        udpPort,
        expect: COUNT,
        timeoutMs: 6_000,
        mode,
        batch,
        readAfterMs,
        coalesce,
      },
      9_000,
    );
    await rx.waitForLine(isEvent('ready'));
    const tx = lab.spawnNode(nsB, childScript('udp-send.mjs'), { dst: A_IP, port: udpPort, count: COUNT }, 8_000);
    const [rxEnd, txEnd] = await Promise.all([rx.done, tx.done]);
    expect(txEnd.code, txEnd.stderr).toBe(0);
    expect(rxEnd.code, rxEnd.stderr).toBe(0);
    const summary = lastJson<RxSummary>(rxEnd.stdout);
    expect(summary.reason).toBe('complete');
    expect(summary.xdpAttached).toBe(true);
    // veth runs XDP in its driver; it has no zero-copy.
    expect(summary.xdpMode).toBe('native');
    expect(summary.zeroCopy).toBe(false);
    expect(summary.rxQueues).toBe(1);
    expect(summary.errors).toBe(0);
    expect(summary.stats.rxInvalidDescs).toBe(0);
    expect(summary.frames).toHaveLength(COUNT);
    expect(summary.ifindex).toBe(vaIndex);
    expect(summary.offsetsInSlot).toBe(true);

    const seen = new Set<number>();
    for (const f of summary.frames) {
      const bytes = new Uint8Array(Buffer.from(f.hex, 'hex'));
      expect(Buffer.from(bytes).readUIntBE(0, 6)).toBe(vaMac);
      expect(Buffer.from(bytes).readUIntBE(6, 6)).toBe(vbMac);
      const { seq, payload } = checkUdpFrame(bytes, udpPort);
      expect(payload).toEqual(expectedPayload(seq));
      seen.add(seq);
      expect(f.ifindex).toBe(vaIndex);
      expect(f.pktType).toBe(PacketType.host);
      expect(f.headroomUsed).toBe(HEADROOM);
      expect(f.flags).toBe(0);
      expect(f.vlanTci).toBe(0);
    }
    expect(seen.size).toBe(COUNT);
    return summary;
  }

  it('receives 200 datagrams byte for byte with valid checksums and metadata (uv_poll)', async () => {
    const summary = await receiveFromB('poll', 32, 0);
    expect(summary.batches).toBeGreaterThan(0);
    expect(summary.maxBatch).toBeLessThanOrEqual(32);
    expect(hasXdp(nsA, 'va')).toBe(false);
  });

  it('drains frames that piled up in the rx ring in full batches of one native call each (busy poll)', async () => {
    // Nothing reads for 1.5 s, so all 200 datagrams wait in the rx ring (they are sent in ~20 ms).
    const summary = await receiveFromB('busy', 64, 1_500);
    expect(summary.maxBatch).toBe(64);
    expect(summary.batches).toBeLessThanOrEqual(Math.ceil((COUNT + summary.other) / 64) + 1);
    expect(summary.stats.rxRingFull).toBe(0);
  });

  it('receives every datagram with coalesced wake-ups (a 1 ms timer while frames keep coming)', async () => {
    const summary = await receiveFromB('poll', 16, 0, true);
    expect(summary.stats.rxRingFull).toBe(0);
  });

  it("takes the interface's ARP too: b's broadcast request reaches the port, not a's kernel", async () => {
    const rx = lab.spawnNode(
      nsA,
      childScript('afxdp-rx.mjs'),
      { dist, ifname: 'va', want: 'arp', expect: 1, timeoutMs: 5_000, mode: 'poll', batch: 16 },
      8_000,
    );
    await rx.waitForLine(isEvent('ready'));
    // A datagram to an address nobody holds makes b's kernel broadcast an ARP request for it.
    const tx = lab.spawnNode(nsB, childScript('udp-send.mjs'), { dst: UNKNOWN_IP, port: 5009, count: 1 }, 5_000);
    expect((await tx.done).code).toBe(0);
    const rxEnd = await rx.done;
    expect(rxEnd.code, rxEnd.stderr).toBe(0);
    const summary = lastJson<RxSummary>(rxEnd.stdout);
    expect(summary.reason).toBe('complete');
    const arp = Buffer.from(summary.frames[0]!.hex, 'hex');
    expect(summary.frames[0]!.pktType).toBe(PacketType.broadcast);
    expect(arp.readUIntBE(0, 6)).toBe(0xffffffffffff);
    expect(arp.readUInt16BE(20)).toBe(1); // an ARP request
    expect(arp.readUInt32BE(38)).toBe(parseIpv4Address(UNKNOWN_IP));
  });

  async function sendTo(
    rxNs: string,
    rxPort: number,
    txConfig: Record<string, unknown>,
    corrupt: number[],
  ): Promise<{ sent: { sent: number; calls: number; txDropped: number }; seqs: number[]; from: string[] }> {
    const rx = lab.spawnNode(
      rxNs,
      childScript('udp-recv.mjs'),
      { port: rxPort, expect: COUNT - corrupt.length, timeoutMs: 6_000 },
      9_000,
    );
    await rx.waitForLine(isEvent('ready'));
    const tx = lab.spawnNode(
      nsA,
      childScript('afxdp-tx.mjs'),
      { dist, srcPort: 4000, dstPort: rxPort, count: COUNT, batch: 64, corrupt, ...txConfig },
      8_000,
    );
    const txEnd = await tx.done;
    expect(txEnd.code, txEnd.stderr).toBe(0);
    const sent = lastJson<{ sent: number; calls: number; txDropped: number }>(txEnd.stdout);
    const rxEnd = await rx.done;
    expect(rxEnd.code, rxEnd.stderr).toBe(0);
    const got = lastJson<{ reason: string; received: Array<{ hex: string; from: string; fromPort: number }> }>(
      rxEnd.stdout,
    );
    expect(got.reason).toBe('complete');
    const seqs: number[] = [];
    const from: string[] = [];
    for (const r of got.received) {
      const payload = Buffer.from(r.hex, 'hex');
      const seq = payload.readUInt32BE(0);
      expect(new Uint8Array(payload)).toEqual(expectedPayload(seq));
      expect(r.fromPort).toBe(4000);
      seqs.push(seq);
      from.push(r.from);
    }
    return { sent, seqs: seqs.sort((x, y) => x - y), from };
  }

  it("sends 200 crafted frames in batches that b's UDP stack accepts, and b drops the broken ones", async () => {
    const corrupt = [7, 150];
    const { sent, seqs, from } = await sendTo(
      nsB,
      5002,
      { ifname: 'va', dstMac: vbMac, srcIp: parseIpv4Address(A_IP), dstIp: parseIpv4Address(B_IP) },
      corrupt,
    );
    expect(sent).toMatchObject({ sent: COUNT, calls: Math.ceil(COUNT / 64), txDropped: 0 });
    expect(seqs).toEqual(Array.from({ length: COUNT }, (_, i) => i).filter((i) => !corrupt.includes(i)));
    expect(new Set(from)).toEqual(new Set([A_IP]));
  });

  it("sends out of another interface's AF_XDP port when a frame's egress says so", async () => {
    const { sent, seqs, from } = await sendTo(
      nsC,
      5003,
      {
        ifname: 'va',
        egressIfname: 'vc',
        dstMac: vdMac,
        srcIp: parseIpv4Address(C_SIDE_A_IP),
        dstIp: parseIpv4Address(C_IP),
      },
      [],
    );
    expect(sent).toMatchObject({ sent: COUNT, txDropped: 0 });
    expect(seqs).toEqual(Array.from({ length: COUNT }, (_, i) => i));
    expect(new Set(from)).toEqual(new Set([C_SIDE_A_IP]));
  });

  it('refuses a second port on a busy queue, and the kernel detaches the program when the process dies', async () => {
    const holder = lab.spawnNode(
      nsA,
      childScript('afxdp-tx.mjs'),
      {
        dist,
        ifname: 'va',
        dstMac: vbMac,
        srcIp: parseIpv4Address(A_IP),
        dstIp: parseIpv4Address(B_IP),
        srcPort: 4000,
        dstPort: 5004,
        count: 1,
        batch: 1,
        corrupt: [],
        hold: true,
      },
      8_000,
    );
    await holder.waitForLine(isEvent('done'));
    expect(hasXdp(nsA, 'va')).toBe(true);
    const second = spawnSync(
      'ip',
      [
        'netns',
        'exec',
        nsA,
        process.execPath,
        '--input-type=module',
        '-e',
        `const { AfXdpPort } = await import(${JSON.stringify(`${dist}/io/afxdp.js`)});
         try { AfXdpPort.open('va'); console.log('opened'); } catch (e) { console.log(e.name + ' ' + e.code + ' ' + e.message); }`,
      ],
      { encoding: 'utf8', timeout: 10_000 },
    );
    expect(second.stdout).toMatch(/^AfXdpError EBUSY uvs: va already has an XDP program or an AF_XDP socket/);
    holder.kill();
    await holder.done;
    // The bpf_link goes with the last descriptor; the kernel releases it as the process exits.
    let attached = true;
    for (let i = 0; i < 50 && attached; i++) {
      attached = hasXdp(nsA, 'va');
      if (attached) await sleep(20);
    }
    expect(attached).toBe(false);
  });
});

describe('AfXdpPort errors', () => {
  it.skipIf(!isRoot)('names a missing interface (needs root to get as far as the interface lookup)', () => {
    let err: unknown;
    try {
      AfXdpPort.open('uvs-no-such0');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AfXdpError);
    expect((err as AfXdpError).code).toBe('ENODEV');
    expect((err as AfXdpError).message).toContain('interface uvs-no-such0 does not exist');
  });

  it('checks its options before touching the kernel', () => {
    expect(() => AfXdpPort.open('lo', { ringSize: 1000 })).toThrow(/power of two in 64..16384/);
    expect(() => AfXdpPort.open('lo', { queue: -1 })).toThrow(/bad AF_XDP queue/);
  });

  it('batch calls return a negative errno instead of throwing', () => {
    const native = loadNative();
    const batch = new FrameBatch(4);
    const EINVAL = 22;
    const notAHandle = {} as XdpHandle;
    const recv = native.xdpRecv(
      notAHandle,
      batch.bytes,
      batch.offset,
      batch.length,
      batch.ifindex,
      batch.flags,
      batch.vlanTci,
      batch.pktType,
      batch.slotSize,
      batch.headroom,
      4,
    );
    expect(recv).toBe(-EINVAL);
    const result = new Int32Array(3);
    batch.setFrame(0, new Uint8Array(60));
    expect(native.xdpSend(notAHandle, batch.bytes, batch.offset, batch.length, batch.egressIfindex, 1, result)).toBe(
      -EINVAL,
    );
  });
});
