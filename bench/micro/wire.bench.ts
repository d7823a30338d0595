// The two pieces of the per-packet work that the suite lists apart from the whole pipeline: parsing
// and validating a frame's headers, and each forwarding method's rewrite, as the JavaScript pipeline does
// them (src/wire, and the datapath's one-step NAT rewrite). The native fast path does the same inside one
// call per run of frames; its cost is in the Datapath section's figures.
import { rewriteTcpAddressPort } from '../../src/datapath/datapath.js';
import { parseIpv4Address, parseMac, writeMacWords } from '../../src/wire/addr.js';
import { EthernetView } from '../../src/wire/ethernet.js';
import { buildFrame, ipv4Fields } from '../../src/wire/frame.js';
import { encapIpip, type IpipOuter } from '../../src/wire/ipip.js';
import { Ipv4Field, Ipv4View } from '../../src/wire/ipv4.js';
import { Reason } from '../../src/wire/reason.js';
import { TcpField, TcpView } from '../../src/wire/tcp.js';
import { UdpView } from '../../src/wire/udp.js';
import type { BenchGroup, BenchModule } from '../types.js';

/** Frames cycled through, so that one hot cache line does not flatter the figures. */
const POOL = 64;
const REPS = 1024;
/** Room before each frame for an outer IPIP header and the moved Ethernet header. */
const HEADROOM = 64;
const SLOT = 256;

// Results land here, where any importer could read them, so that V8 cannot drop the work as dead code.
export const sink = { value: 0 };

const ip = (s: string) => parseIpv4Address(s)!;
const VIP = ip('192.168.1.231');
const RIP = ip('192.168.2.11');
const CIP = ip('192.168.1.100');
const RS_MAC = parseMac('02:00:00:00:02:11')!;

/** POOL frames of one kind (a 64-byte TCP data segment or a UDP datagram to VIP), each in its own slot. */
function pool(proto: 'tcp' | 'udp'): { buf: Uint8Array; offs: number[]; lens: number[] } {
  const buf = new Uint8Array(POOL * SLOT);
  const offs: number[] = [];
  const lens: number[] = [];
  for (let i = 0; i < POOL; i++) {
    const payload = Uint8Array.from({ length: 64 }, (_, k) => (k * 7 + i) & 0xff);
    const eth = { dst: 0x020000000001, src: 0x020000000164, etherType: 0x0800 };
    const frame = buildFrame(
      proto === 'tcp'
        ? {
            eth,
            ipv4: ipv4Fields(CIP, VIP, { id: i }),
            tcp: { srcPort: 40000 + i, dstPort: 80, seq: i, ack: 1, flags: 0x18, window: 501, urgent: 0, payload },
          }
        : { eth, ipv4: ipv4Fields(CIP, VIP, { id: i }), udp: { srcPort: 40000 + i, dstPort: 53, payload } },
    );
    const off = i * SLOT + HEADROOM;
    buf.set(frame, off);
    offs.push(off);
    lens.push(frame.length);
  }
  return { buf, offs, lens };
}

function parseGroup(): BenchGroup {
  const eth = new EthernetView();
  const ipv4 = new Ipv4View();
  const tcp = new TcpView();
  const udp = new UdpView();
  const cases = (['tcp', 'udp'] as const).map((proto) => {
    const { buf, offs, lens } = pool(proto);
    // Every frame must pass every check, or the case would time the early exits instead.
    for (let k = 0; k < POOL; k++) {
      eth.reset(buf, offs[k]!, lens[k]!);
      ipv4.reset(buf, eth.payloadOff, eth.payloadLen);
      const l4 = proto === 'tcp' ? tcp : udp;
      if (eth.checkLen() !== Reason.ok || ipv4.checkLen() !== Reason.ok || !ipv4.verifyChecksum()) {
        throw new Error(`wire bench: ${proto} frame ${k} fails its IPv4 checks`);
      }
      l4.reset(buf, ipv4.payloadOff, ipv4.payloadLen);
      if (l4.checkLen() !== Reason.ok) throw new Error(`wire bench: ${proto} frame ${k} fails its L4 checks`);
    }
    return {
      name: proto === 'tcp' ? 'TCP segment, 118 B' : 'UDP datagram, 106 B',
      reps: REPS,
      fn: () => {
        let acc = 0;
        for (let r = 0; r < REPS; r++) {
          const k = r % POOL;
          eth.reset(buf, offs[k]!, lens[k]!);
          if (eth.checkLen() !== Reason.ok) continue;
          ipv4.reset(buf, eth.payloadOff, eth.payloadLen);
          if (ipv4.checkLen() !== Reason.ok || !ipv4.verifyChecksum()) continue;
          if (proto === 'tcp') {
            tcp.reset(buf, ipv4.payloadOff, ipv4.payloadLen);
            if (tcp.checkLen() !== Reason.ok) continue;
            acc += tcp.srcPort + tcp.dstPort + tcp.flags;
          } else {
            udp.reset(buf, ipv4.payloadOff, ipv4.payloadLen);
            if (udp.checkLen() !== Reason.ok) continue;
            acc += udp.srcPort + udp.dstPort;
          }
        }
        sink.value ^= acc;
      },
    };
  });
  return {
    title: 'Parse and validate',
    note: 'One operation: the Ethernet, IPv4 (header checksum included) and TCP/UDP header checks of one frame and a read of its ports, as the JavaScript pipeline makes them.',
    cases,
  };
}

function rewriteGroup(): BenchGroup {
  const nat = pool('tcp');
  const dr = pool('tcp');
  const tun = pool('tcp');
  const ipv4 = new Ipv4View();
  const outer: IpipOuter = { src: ip('192.168.2.1'), dst: RIP, ttl: 63, tos: 0, df: true, id: 0 };
  return {
    title: 'Rewrite per forwarding method',
    note: 'One operation rewrites one 118-byte TCP frame in place. NAT: destination address and port with both checksums (RFC 1624), alternately to RIP:8080 and back to VIP:80. DR: both MACs and the TTL decrement with its checksum (the TTL byte and checksum are put back after each, two stores). TUN: the Ethernet header moved 20 bytes forward and an outer IPv4 header written into the headroom.',
    cases: [
      {
        name: 'NAT (DNAT)',
        reps: REPS,
        fn: () => {
          for (let r = 0; r < REPS; r++) {
            const off = nat.offs[r % POOL]! + 14;
            const there = ((r / POOL) | 0) % 2 === 0;
            rewriteTcpAddressPort(
              nat.buf,
              off,
              off + 20,
              Ipv4Field.dst,
              TcpField.dstPort,
              there ? RIP : VIP,
              there ? 8080 : 80,
            );
          }
          sink.value ^= nat.buf[nat.offs[0]! + 14 + 16]!;
        },
      },
      {
        name: 'DR (MAC rewrite, TTL - 1)',
        reps: REPS,
        fn: () => {
          for (let r = 0; r < REPS; r++) {
            const off = dr.offs[r % POOL]!;
            writeMacWords(dr.buf, off, Math.floor(RS_MAC / 0x100000000), (RS_MAC % 0x100000000) | 0);
            writeMacWords(dr.buf, off + 6, 0x0200, 0x00000002);
            ipv4.reset(dr.buf, off + 14, 104);
            const ttlAt = off + 14 + Ipv4Field.ttl;
            const checkAt = off + 14 + Ipv4Field.checksum;
            const ttl = dr.buf[ttlAt]!;
            const c0 = dr.buf[checkAt]!;
            const c1 = dr.buf[checkAt + 1]!;
            sink.value ^= ipv4.decrementTtl();
            dr.buf[ttlAt] = ttl;
            dr.buf[checkAt] = c0;
            dr.buf[checkAt + 1] = c1;
          }
        },
      },
      {
        name: 'TUN (IPIP encapsulation)',
        reps: REPS,
        fn: () => {
          const buf = tun.buf;
          for (let r = 0; r < REPS; r++) {
            const off = tun.offs[r % POOL]!;
            for (let k = 0; k < 14; k++) buf[off - 20 + k] = buf[off + k]!;
            sink.value ^= encapIpip(buf, off + 14, outer);
          }
        },
      },
    ],
  };
}

const wire: BenchModule = {
  title: 'Wire: parse and rewrite',
  description:
    'The per-packet pieces of the JavaScript pipeline that the whole-pipeline figures (the Datapath section) add ' +
    'up: header parsing and validation (src/wire views), and the rewrite of each forwarding method ' +
    '(`rewriteTcpAddressPort` in src/datapath/datapath.ts, `writeMacWords` and `Ipv4View.decrementTtl`, ' +
    '`encapIpip`). The native fast path does the same work in C for connection hits.',
  groups: () => [parseGroup(), rewriteGroup()],
};

export default wire;
