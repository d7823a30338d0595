// AfPacketPort against the real kernel, in two namespaces joined by one veth pair:
//
//   +-------------------+                       +-------------------+
//   | ns a              |        veth           | ns b              |
//   |  va 10.201.0.1/24 +-----------------------+ vb 10.201.0.2/24  |
//   |  AfPacketPort     |                       |  dgram socket     |
//   +-------------------+                       |  (or a 2nd port)  |
//                                               +-------------------+
//
// Receive: b's UDP stack sends datagrams to a; the port in a must hand them over in batches, whole, with
// metadata, and with checksums completed (veth passes them on CHECKSUM_PARTIAL, as offloads are on).
// Send: the port in a sends frames built in user space; b's UDP stack, which validates checksums, must
// deliver every good one and none of the deliberately broken ones.
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IpProto } from '../../src/constants.js';
import { AfPacketError, AfPacketPort } from '../../src/io/afpacket.js';
import { FrameBatch, FrameFlag, HEADROOM, PacketType } from '../../src/io/batch.js';
import { loadNative } from '../../src/native.js';
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

const A_IP = '10.201.0.1';
const B_IP = '10.201.0.2';
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
  usesRing: boolean;
  frames: RxFrame[];
  other: number;
  outgoing: number;
  ownSource: number;
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
  // A correct segment sums, with its pseudo-header and its own checksum field, to all ones (RFC 1071).
  const pseudo = refPseudoSum(ip.src, ip.dst, IpProto.udp, udp.length);
  expect(refChecksum(bytes, udp.off, udp.length, pseudo)).toBe(0);
  const payload = bytes.slice(udp.payloadOff, udp.off + udp.length);
  const seq = ((payload[0]! << 24) | (payload[1]! << 16) | (payload[2]! << 8) | payload[3]!) >>> 0;
  return { seq, payload };
}

// Opening a port needs CAP_NET_RAW and namespaces need CAP_SYS_ADMIN: these run only as root (CI is root).
describe.skipIf(!canUseNetns)(`AfPacketPort between two namespaces ${netnsSkipReason}`, () => {
  let lab: NetnsLab;
  let nsA: string;
  let nsB: string;
  let dist: string;
  let vaIndex: number;
  let vaMac: number;
  let vbMac: number;

  beforeAll(() => {
    lab = new NetnsLab();
    nsA = lab.addNamespace('a');
    nsB = lab.addNamespace('b');
    lab.addVeth(nsA, 'va', `${A_IP}/24`, nsB, 'vb', `${B_IP}/24`);
    // Offloads stay on (the veth default, set explicitly): b's datagrams then reach
    // the port CHECKSUM_PARTIAL, which is what the receive test is about.
    lab.setOffloads(nsB, 'vb', true);
    const link = JSON.parse(lab.exec(nsA, 'ip', ['-j', 'link', 'show', 'dev', 'va'])) as Array<{ ifindex: number }>;
    vaIndex = link[0]!.ifindex;
    vaMac = lab.macOf(nsA, 'va');
    vbMac = lab.macOf(nsB, 'vb');
    dist = compileForChildren();
  });

  afterAll(() => {
    const prefix = lab.prefix;
    lab.cleanup();
    expect(listNamespaces().filter((n) => n.startsWith(prefix))).toEqual([]);
  });

  async function receiveFromB(
    mode: 'poll' | 'busy' | 'coalesce' | 'adaptive',
    batch: number,
    readAfterMs: number,
    ring: boolean,
  ): Promise<RxSummary> {
    const udpPort = 5001;
    const rx = lab.spawnNode(
      nsA,
      childScript('afpacket-rx.mjs'),
      { dist, ifname: 'va', udpPort, expect: COUNT, timeoutMs: 6_000, mode, batch, readAfterMs, ring },
      9_000,
    );
    await rx.waitForLine(isEvent('ready'));
    const tx = lab.spawnNode(nsB, childScript('udp-send.mjs'), { dst: A_IP, port: udpPort, count: COUNT }, 8_000);
    const [rxEnd, txEnd] = await Promise.all([rx.done, tx.done]);
    expect(txEnd.code, txEnd.stderr).toBe(0);
    expect(rxEnd.code, rxEnd.stderr).toBe(0);
    const summary = lastJson<RxSummary>(rxEnd.stdout);
    expect(summary.reason).toBe('complete');
    expect(summary.usesRing).toBe(ring);
    expect(summary.errors).toBe(0);
    expect(summary.frames).toHaveLength(COUNT);
    expect(summary.ifindex).toBe(vaIndex);
    // The kernel of a answers b's ARP and sends port-unreachables; none of that may come back to the port.
    expect(summary.outgoing).toBe(0);
    expect(summary.ownSource).toBe(0);
    expect(summary.offsetsInSlot).toBe(true);

    const seen = new Set<number>();
    for (const f of summary.frames) {
      const { seq, payload } = checkUdpFrame(new Uint8Array(Buffer.from(f.hex, 'hex')), udpPort);
      expect(payload).toEqual(expectedPayload(seq));
      seen.add(seq);
      expect(f.ifindex).toBe(vaIndex);
      expect(f.pktType).toBe(PacketType.host);
      expect(f.headroomUsed).toBe(HEADROOM);
      // Locally made on b and passed on by veth with the checksum left to "hardware": completed by uvs.
      expect(f.flags & (FrameFlag.csumNotReady | FrameFlag.csumCompleted | FrameFlag.csumUnfixable)).toBe(
        FrameFlag.csumNotReady | FrameFlag.csumCompleted,
      );
      expect(f.flags & (FrameFlag.vlan | FrameFlag.truncated)).toBe(0);
    }
    expect(seen.size).toBe(COUNT);
    return summary;
  }

  for (const ring of [false, true]) {
    const how = ring ? 'TPACKET_V3 ring' : 'recvmmsg';

    it(`receives 200 datagrams whole, with metadata, and completes their partial checksums (${how}, uv_poll)`, async () => {
      const summary = await receiveFromB('poll', 32, 0, ring);
      expect(summary.batches).toBeGreaterThan(0);
      expect(summary.maxBatch).toBeLessThanOrEqual(32);
    });

    it(`drains frames that piled up in full batches of one native call each (${how}, busy poll)`, async () => {
      // Nothing reads for 1.5 s, so all 200 datagrams wait in the socket (they are sent in ~20 ms).
      const summary = await receiveFromB('busy', 64, 1_500, ring);
      expect(summary.maxBatch).toBe(64);
      expect(summary.batches).toBeLessThanOrEqual(Math.ceil((COUNT + summary.other) / 64) + 1);
    });
  }

  it('receives every datagram with coalesced wake-ups (recvmmsg, a 1 ms timer while frames keep coming)', async () => {
    // 200 datagrams in ~20 ms: after the first wake-ups find several frames, the port drains on the timer
    // (src/io/wakeups.ts) until the burst ends, and nothing may be lost or left behind on the way.
    const summary = await receiveFromB('coalesce', 32, 0, false);
    expect(summary.batches).toBeGreaterThan(0);
    expect(summary.maxBatch).toBeLessThanOrEqual(32);
  });

  it('receives every datagram with adaptive wake-ups (recvmmsg, polling on for 0.2 ms after frames came)', async () => {
    // The burst keeps the spin window open (src/io/wakeups.ts): frames are drained by the watcher in the turns
    // the spin keeps awake, and nothing may be lost or left behind when the window closes after the burst.
    const summary = await receiveFromB('adaptive', 32, 0, false);
    expect(summary.batches).toBeGreaterThan(0);
    expect(summary.maxBatch).toBeLessThanOrEqual(32);
  });

  it("sends 200 crafted frames in batches that b's UDP stack accepts, and b drops the broken ones", async () => {
    const udpPort = 5002;
    const corrupt = [7, 150];
    const rx = lab.spawnNode(
      nsB,
      childScript('udp-recv.mjs'),
      { port: udpPort, expect: COUNT - corrupt.length, timeoutMs: 6_000 },
      9_000,
    );
    await rx.waitForLine(isEvent('ready'));
    const tx = lab.spawnNode(
      nsA,
      childScript('afpacket-tx.mjs'),
      {
        dist,
        ifname: 'va',
        dstMac: vbMac,
        srcIp: parseIpv4Address(A_IP),
        dstIp: parseIpv4Address(B_IP),
        srcPort: 4000,
        dstPort: udpPort,
        count: COUNT,
        batch: 64,
        corrupt,
      },
      8_000,
    );
    const txEnd = await tx.done;
    expect(txEnd.code, txEnd.stderr).toBe(0);
    const sent = lastJson<{ sent: number; calls: number; txDropped: number }>(txEnd.stdout);
    expect(sent).toMatchObject({ sent: COUNT, calls: Math.ceil(COUNT / 64), txDropped: 0 });

    const rxEnd = await rx.done;
    expect(rxEnd.code, rxEnd.stderr).toBe(0);
    const got = lastJson<{ reason: string; received: Array<{ hex: string; from: string; fromPort: number }> }>(
      rxEnd.stdout,
    );
    expect(got.reason).toBe('complete');
    const seqs: number[] = [];
    for (const r of got.received) {
      const payload = Buffer.from(r.hex, 'hex');
      const seq = payload.readUInt32BE(0);
      expect(new Uint8Array(payload)).toEqual(expectedPayload(seq));
      expect(r.from).toBe(A_IP);
      expect(r.fromPort).toBe(4000);
      seqs.push(seq);
    }
    const expected = Array.from({ length: COUNT }, (_, i) => i).filter((i) => !corrupt.includes(i));
    expect(seqs.sort((x, y) => x - y)).toEqual(expected);
  });

  it('puts a VLAN tag the kernel stripped back into the frame and reports its TCI (both receive paths)', async () => {
    // b's kernel strips a tag in software (skb_vlan_untag) before the packet taps run, whatever the NIC
    // does, so a tagged frame sent from a reaches the port in b untagged plus PACKET_AUXDATA.
    const udpPort = 5003;
    const cases = [
      { vlans: [7], outerTpid: 0x8100, outerTci: 0xa007, headroomUsed: HEADROOM - 4 },
      // Q-in-Q: only the outer 802.1ad tag is stripped; the inner 802.1Q tag stays in the frame.
      { vlans: [300, 12], outerTpid: 0x88a8, outerTci: 0x212c, headroomUsed: HEADROOM - 4 },
    ];
    for (const c of cases.flatMap((v) => [
      { ...v, ring: false },
      { ...v, ring: true },
    ])) {
      const rx = lab.spawnNode(
        nsB,
        childScript('afpacket-rx.mjs'),
        { dist, ifname: 'vb', udpPort, expect: 10, timeoutMs: 4_000, mode: 'poll', batch: 16, ring: c.ring },
        6_000,
      );
      await rx.waitForLine(isEvent('ready'));
      const tx = lab.spawnNode(
        nsA,
        childScript('afpacket-tx.mjs'),
        {
          dist,
          ifname: 'va',
          dstMac: vbMac,
          srcIp: parseIpv4Address(A_IP),
          dstIp: parseIpv4Address(B_IP),
          srcPort: 4000,
          dstPort: udpPort,
          count: 10,
          batch: 16,
          corrupt: [],
          vlans: c.vlans,
          outerTpid: c.outerTpid,
          outerTci: c.outerTci,
        },
        6_000,
      );
      expect((await tx.done).code).toBe(0);
      const rxEnd = await rx.done;
      expect(rxEnd.code, rxEnd.stderr).toBe(0);
      const summary = lastJson<RxSummary>(rxEnd.stdout);
      expect(summary.reason).toBe('complete');
      expect(summary.usesRing).toBe(c.ring);
      expect(summary.frames).toHaveLength(10);
      for (const f of summary.frames) {
        const bytes = Buffer.from(f.hex, 'hex');
        expect(f.flags & FrameFlag.vlan).toBe(FrameFlag.vlan);
        expect(f.vlanTci).toBe(c.outerTci);
        expect(f.headroomUsed).toBe(c.headroomUsed);
        // As sent: MACs, then the outer tag exactly, then the rest.
        expect(bytes.readUIntBE(0, 6)).toBe(vbMac);
        expect(bytes.readUIntBE(6, 6)).toBe(vaMac);
        expect(bytes.readUInt16BE(12)).toBe(c.outerTpid);
        expect(bytes.readUInt16BE(14)).toBe(c.outerTci);
        const eth = new EthernetView().reset(bytes, 0, bytes.length);
        expect(eth.checkLen()).toBe(Reason.ok);
        expect(eth.tags).toBe(c.vlans.length);
        expect(eth.vlanId).toBe(c.vlans[c.vlans.length - 1]);
      }
    }
  });
});

describe('AfPacketPort errors', () => {
  it.skipIf(!isRoot)('names a missing interface (needs root to get as far as the interface lookup)', () => {
    let err: unknown;
    try {
      AfPacketPort.open('uvs-no-such0');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AfPacketError);
    expect((err as AfPacketError).code).toBe('ENODEV');
    expect((err as AfPacketError).message).toContain('interface uvs-no-such0 does not exist');
  });

  // A child gives up root first, so this also runs (as the unprivileged case it is) when the suite is root.
  it('says that root or CAP_NET_RAW is needed when it is not there', () => {
    const script = join(tmpdir(), `uvs-afpacket-noroot-${process.pid}.mjs`);
    const dist = isRoot ? compileForChildren() : undefined;
    writeFileSync(
      script,
      [
        'if (process.getuid() === 0) { process.setgid(65534); process.setuid(65534); }',
        `const { AfPacketPort } = await import(${JSON.stringify(`${dist ?? ''}/io/afpacket.js`)});`,
        "try { AfPacketPort.open('lo'); console.log('opened'); } catch (e) { console.log(e.code + ' ' + e.message); }",
      ].join('\n'),
    );
    if (dist === undefined) {
      // Not root: this process is the unprivileged case itself.
      expect(() => AfPacketPort.open('lo')).toThrow(/needs root or CAP_NET_RAW/);
      return;
    }
    const out = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 10_000 });
    rmSync(script, { force: true });
    expect(out.stdout).toMatch(/^EPERM uvs: opening a packet socket on lo needs root or CAP_NET_RAW/);
  });

  it('batch calls return a negative errno instead of throwing', () => {
    const native = loadNative();
    const batch = new FrameBatch(4);
    const EBADF = 9;
    const EINVAL = 22;
    const recv = (fd: number, slotSize: number, headroom: number, max: number) =>
      native.packetRecv(
        fd,
        batch.bytes,
        batch.offset,
        batch.length,
        batch.ifindex,
        batch.flags,
        batch.vlanTci,
        batch.pktType,
        slotSize,
        headroom,
        max,
      );
    // A descriptor number far above anything this process has open.
    expect(recv(1_000_000, batch.slotSize, batch.headroom, 4)).toBe(-EBADF);
    expect(recv(1_000_000, batch.slotSize, batch.headroom, 5)).toBe(-EINVAL);
    expect(recv(1_000_000, batch.slotSize + 1, batch.headroom, 4)).toBe(-EINVAL);
    expect(recv(1_000_000, batch.slotSize, 2, 4)).toBe(-EINVAL);
    const wrongType = native.packetRecv as unknown as (...args: unknown[]) => number;
    expect(wrongType(3, batch.bytes, batch.length, batch.length, batch.ifindex, new Uint16Array(4))).toBe(-EINVAL);
    const result = new Int32Array(3);
    batch.setFrame(0, new Uint8Array(60));
    expect(native.packetSend(1_000_000, batch.bytes, batch.offset, batch.length, batch.egressIfindex, 1, result)).toBe(
      0,
    );
    expect(Array.from(result)).toEqual([0, 1, EBADF]);
    expect(native.packetSend(3, batch.bytes, batch.offset, batch.length, batch.egressIfindex, 5, result)).toBe(-EINVAL);
  });
});
