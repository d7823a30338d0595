// The native fast path (native/fastpath.cc) against the JavaScript pipeline it shortcuts: two datapaths over
// identical cores, one with the fast path and one without, fed the same random traffic batch by batch. After
// every batch the frames sent, the counters, the drops, the destinations' stats, the connection table and
// the neighbour table must be identical. The traffic mixes everything the fast path must hand back: SYNs, FINs
// and RSTs that change state, NAT replies, TTL 1, frames over the MTU with and without DF, bad checksums, IP
// options, fragments, VLAN tags, foreign MACs, ARP that teaches a neighbour late, ICMP, time jumps past every
// timeout, and a destination removed in the middle.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/director.js';
import { TcpFlag } from '../../src/conn/tcp-state.js';
import { Datapath } from '../../src/datapath/datapath.js';
import { FRAME_SPACE, FrameBatch } from '../../src/io/batch.js';
import { IpvsCore } from '../../src/ipvs/core.js';
import { parseRules } from '../../src/model/save-format.js';
import { ArpOp } from '../../src/wire/arp.js';
import { buildFrame, ipv4Fields } from '../../src/wire/frame.js';
import { IcmpType } from '../../src/wire/icmp.js';
import { checksumsValid, ip, mac } from './helpers.js';

// eth0 (ifindex 1): clients, three VIPs; eth1 (ifindex 2, MTU 1400): the real servers. RS2 and one on-link
// client are not static neighbours: they are learned from ARP in the traffic, or stay unresolved.
const CONFIG = `interfaces:
  - { name: eth0, mac: "02:00:00:00:00:01", mtu: 1500, addresses: [192.168.1.231/24, 192.168.1.232/24, 192.168.1.233/24] }
  - { name: eth1, mac: "02:00:00:00:00:02", mtu: 1400, addresses: [192.168.2.1/24] }
neighbours:
  - { ip: 192.168.1.1, mac: "02:00:00:00:01:01" }
  - { ip: 192.168.1.100, mac: "02:00:00:00:01:64" }
  - { ip: 192.168.2.11, mac: "02:00:00:00:02:11" }
routes:
  - { to: default, via: 192.168.1.1 }
`;
const RULES = `-A -t 192.168.1.231:80 -s rr
-a -t 192.168.1.231:80 -r 192.168.2.11:8080 -m -w 1
-a -t 192.168.1.231:80 -r 192.168.2.12:8080 -m -w 1
-A -u 192.168.1.231:53 -s rr
-a -u 192.168.1.231:53 -r 192.168.2.11:5353 -m -w 1
-a -u 192.168.1.231:53 -r 192.168.2.12:5353 -m -w 1
-A -t 192.168.1.231:443 -s rr -p 60
-a -t 192.168.1.231:443 -r 192.168.2.11:443 -m -w 1
-a -t 192.168.1.231:443 -r 192.168.2.12:443 -m -w 1
-A -t 192.168.1.232:80 -s wrr
-a -t 192.168.1.232:80 -r 192.168.2.11:80 -g -w 1
-a -t 192.168.1.232:80 -r 192.168.2.12:80 -g -w 2
-A -t 192.168.1.233:80 -s wlc
-a -t 192.168.1.233:80 -r 192.168.2.11:80 -i -w 1
-a -t 192.168.1.233:80 -r 192.168.2.12:80 -i -w 1
-A -u 192.168.1.233:53 -s rr
-a -u 192.168.1.233:53 -r 192.168.2.11:53 -i -w 1
`;

const ETH0_MAC = mac('02:00:00:00:00:01');
const ETH1_MAC = mac('02:00:00:00:00:02');
const RS2_MAC = mac('02:00:00:00:02:12');
const RS = [ip('192.168.2.11'), ip('192.168.2.12')];
const CLIENTS = [ip('192.168.1.100'), ip('192.168.1.101'), ip('10.9.8.7'), ip('203.0.113.9')];
const SERVICES = [
  { proto: 'tcp', vip: ip('192.168.1.231'), vport: 80, rport: 8080, nat: true },
  { proto: 'udp', vip: ip('192.168.1.231'), vport: 53, rport: 5353, nat: true },
  { proto: 'tcp', vip: ip('192.168.1.231'), vport: 443, rport: 443, nat: true },
  { proto: 'tcp', vip: ip('192.168.1.232'), vport: 80, rport: 80, nat: false },
  { proto: 'tcp', vip: ip('192.168.1.233'), vport: 80, rport: 80, nat: false },
  { proto: 'udp', vip: ip('192.168.1.233'), vport: 53, rport: 53, nat: false },
] as const;
// Mostly segments of established connections, as real traffic is; every state change is in there too.
const TCP_FLAGS = [
  TcpFlag.syn,
  ...Array<number>(6).fill(TcpFlag.ack),
  ...Array<number>(4).fill(TcpFlag.ack | TcpFlag.psh),
  TcpFlag.fin | TcpFlag.ack,
  TcpFlag.rst,
  TcpFlag.syn | TcpFlag.ack,
  0,
];

/** mulberry32: a small seeded generator, so a failure names the seed that reproduces it. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makePair(): { js: Datapath; fast: Datapath } {
  const make = (fastPath: boolean) => {
    const core = new IpvsCore({ connCapacity: 256, ticksPerSecond: 1000, seed: 11 });
    core.applyRules(parseRules(RULES));
    // Both draw the same reachable_time, so that their neighbours age alike.
    const random = () => 0.5;
    return new Datapath(parseConfig(CONFIG), core, { fastPath, neighbourCapacity: 16, queueCapacity: 8, random });
  };
  return { js: make(false), fast: make(true) };
}

/** One random frame and the ifindex it arrives on. */
function randomFrame(rand: () => number): { frame: Uint8Array; ifindex: number } {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const r = rand();
  if (r < 0.03) {
    // RS2 announcing itself (or asking for the DIP): the neighbour becomes known mid-run.
    const op = rand() < 0.5 ? ArpOp.request : ArpOp.reply;
    const frame = buildFrame({
      eth: { dst: op === ArpOp.reply ? ETH1_MAC : 0xffffffffffff, src: RS2_MAC, etherType: 0 },
      arp: { op, senderMac: RS2_MAC, senderIp: RS[1]!, targetMac: 0, targetIp: ip('192.168.2.1') },
    });
    return { frame, ifindex: 2 };
  }
  if (r < 0.05) {
    const frame = buildFrame({
      eth: { dst: ETH0_MAC, src: mac('02:00:00:00:01:64'), etherType: 0 },
      ipv4: ipv4Fields(CLIENTS[0]!, pick(SERVICES).vip),
      icmp: { type: IcmpType.echoRequest, code: 0, id: 1, seq: 1, payload: new Uint8Array(8) },
    });
    return { frame, ifindex: 1 };
  }
  const svc = pick(SERVICES);
  const client = pick(CLIENTS);
  const cport = 40000 + Math.floor(rand() * 6);
  const reply = svc.nat && rand() < 0.4;
  const big = rand() < 0.08;
  const payload = new Uint8Array(big ? 1300 + Math.floor(rand() * 200) : Math.floor(rand() * 80));
  for (let k = 0; k < payload.length; k++) payload[k] = Math.floor(rand() * 256);
  const more = {
    ttl: rand() < 0.05 ? 1 : rand() < 0.05 ? 2 : 64,
    dontFrag: rand() < 0.8,
    tos: rand() < 0.2 ? 3 : 0,
    id: Math.floor(rand() * 65536),
    moreFrags: rand() < 0.02,
  };
  const src = reply ? pick(RS) : client;
  const dst = reply ? client : svc.vip;
  const sport = reply ? svc.rport : cport;
  const dport = reply ? cport : svc.vport;
  const eth = {
    dst: rand() < 0.02 ? mac('02:00:00:00:00:99') : reply ? ETH1_MAC : ETH0_MAC,
    src: mac('02:00:00:00:05:05'),
    etherType: 0,
    ...(rand() < 0.02 ? { vlans: [7] } : {}),
  };
  const ipv4 = ipv4Fields(src, dst, more);
  const frame =
    svc.proto === 'tcp'
      ? buildFrame({
          eth,
          ipv4,
          tcp: {
            srcPort: sport,
            dstPort: dport,
            seq: 1,
            ack: 1,
            flags: pick(TCP_FLAGS),
            window: 100,
            urgent: 0,
            payload,
          },
        })
      : buildFrame({ eth, ipv4, udp: { srcPort: sport, dstPort: dport, noChecksum: rand() < 0.2, payload } });
  const damage = rand();
  if (damage < 0.02)
    frame[14 + 10]! ^= 0x40; // IPv4 header checksum
  else if (damage < 0.03)
    frame[14]! = 0x46; // IHL 6 without the option bytes
  else if (damage < 0.04) frame[16]! = 0xff; // total length beyond the frame
  return { frame, ifindex: reply ? 2 : 1 };
}

function txFrames(tx: FrameBatch): { bytes: number[]; egress: number; ifindex: number; flags: number }[] {
  const out = [];
  for (let j = 0; j < tx.count; j++) {
    out.push({
      bytes: Array.from(tx.bytes.subarray(tx.offset[j]!, tx.offset[j]! + tx.length[j]!)),
      egress: tx.egressIfindex[j]!,
      ifindex: tx.ifindex[j]!,
      flags: tx.flags[j]! | (tx.vlanTci[j]! << 8) | (tx.pktType[j]! << 24),
    });
  }
  return out;
}

function stateOf(dp: Datapath) {
  const { fastPath: _taken, ...counters } = dp.counters;
  const dests = [];
  for (const svc of dp.core.rules.snapshot.services) {
    for (const d of svc.dests) {
      dests.push({ ...d.stats, active: d.activeConns, inact: d.inactConns, persist: d.persistConns });
    }
    dests.push({ ...svc.stats });
  }
  const t = dp.core.conns.nativeTables();
  return {
    counters,
    drops: Array.from(dp.drops),
    dests,
    conns: [Array.from(t.rec), Array.from(t.state), Array.from(t.timeout), Array.from(t.destId), Array.from(t.fwd)],
    neigh: [Array.from(dp.neigh.state), Array.from(dp.neigh.macLow), Array.from(dp.neigh.queueLen)],
  };
}

describe('native fast path', () => {
  it('is on when the addon is built', () => {
    expect(makePair().fast.fastPathEnabled).toBe(true);
    expect(makePair().js.fastPathEnabled).toBe(false);
  });

  for (const seed of [1, 2, 3, 4]) {
    it(`sends the same frames and keeps the same state as the JavaScript pipeline (seed ${seed})`, () => {
      const rand = prng(seed);
      const { js, fast } = makePair();
      const batch = 32;
      const rx = new FrameBatch(batch);
      const txJs = new FrameBatch(64);
      const txFast = new FrameBatch(64);
      let now = 1000;
      let frames = 0;
      for (let b = 0; b < 400; b++) {
        rx.clear();
        const n = 1 + Math.floor(rand() * batch);
        for (let i = 0; i < n; i++) {
          const { frame, ifindex } = randomFrame(rand);
          rx.setFrame(i, frame);
          rx.ifindex[i] = ifindex;
        }
        rx.count = n;
        frames += n;
        txJs.clear();
        txFast.clear();
        js.processBatch(rx, txJs, now);
        fast.processBatch(rx, txFast, now);
        expect(txFrames(txFast), `seed ${seed} batch ${b}`).toEqual(txFrames(txJs));
        expect(stateOf(fast), `seed ${seed} batch ${b}`).toEqual(stateOf(js));
        if (b === 200) {
          // A destination removed mid-run: its connections' packets must now be dropped by both.
          const edit = parseRules(
            '-d -t 192.168.1.231:80 -r 192.168.2.11:8080\n-d -t 192.168.1.232:80 -r 192.168.2.12:80\n',
          );
          js.core.applyRules(edit);
          fast.core.applyRules(edit);
        }
        // Mostly small steps; now and then past the SYN, CLOSE and FIN timeouts, or the UDP one.
        const jump = rand();
        now += jump < 0.9 ? Math.floor(rand() * 500) : jump < 0.98 ? 15_000 : 400_000;
      }
      // The run proves something only if the fast path took a good share and the rest went to JS.
      // Random flags and flows leave many frames without a connection (about 15 % are hits, over 900 frames).
      expect(fast.counters.fastPath).toBeGreaterThan(frames * 0.1);
      expect(fast.counters.fastPath).toBeLessThan(frames);
      expect(js.counters.fastPath).toBe(0);
    });
  }

  it('stays equal when the caller makes new batches for every call (the native side forgets old ones)', () => {
    const rand = prng(9);
    const { js, fast } = makePair();
    let now = 1000;
    for (let b = 0; b < 100; b++) {
      const rx = new FrameBatch(16);
      for (let i = 0; i < 16; i++) {
        const { frame, ifindex } = randomFrame(rand);
        rx.setFrame(i, frame);
        rx.ifindex[i] = ifindex;
      }
      rx.count = 16;
      const txJs = new FrameBatch(32);
      const txFast = new FrameBatch(32);
      js.processBatch(rx, txJs, now);
      fast.processBatch(rx, txFast, now);
      expect(txFrames(txFast), `batch ${b}`).toEqual(txFrames(txJs));
      now += 100;
    }
    expect(stateOf(fast)).toEqual(stateOf(js));
    expect(fast.counters.fastPath).toBeGreaterThan(0);
  });

  it('takes established NAT traffic in both directions, with valid checksums and the stats counted', () => {
    const { fast } = makePair();
    const rx = new FrameBatch(8);
    const tx = new FrameBatch(8);
    const vip = SERVICES[0].vip;
    const client = CLIENTS[2]!;
    const frame = (flags: number, reply: boolean, rs = 0) =>
      buildFrame({
        eth: { dst: reply ? ETH1_MAC : ETH0_MAC, src: mac('02:00:00:00:05:05'), etherType: 0 },
        ipv4: reply ? ipv4Fields(RS[rs]!, client) : ipv4Fields(client, vip),
        tcp: {
          srcPort: reply ? 8080 : 40000,
          dstPort: reply ? 40000 : 80,
          seq: 1,
          ack: 1,
          flags,
          window: 100,
          urgent: 0,
          payload: new Uint8Array(10),
        },
      });
    // Client frames arrive on eth0 (ifindex 1), the real servers' replies on eth1 (ifindex 2).
    const send = (frames: Uint8Array[]) => {
      rx.clear();
      tx.clear();
      frames.forEach((f, i) => {
        rx.setFrame(i, f);
        rx.ifindex[i] = f[5] === 2 ? 2 : 1;
      });
      rx.count = frames.length;
      fast.processBatch(rx, tx, 2000);
      return txFrames(tx);
    };
    // RS2 is no static neighbour: it introduces itself first.
    rx.clear();
    rx.setFrame(
      0,
      buildFrame({
        eth: { dst: 0xffffffffffff, src: RS2_MAC, etherType: 0 },
        arp: { op: ArpOp.request, senderMac: RS2_MAC, senderIp: RS[1]!, targetMac: 0, targetIp: ip('192.168.2.1') },
      }),
    );
    rx.ifindex[0] = 2;
    rx.count = 1;
    fast.processBatch(rx, tx, 1000);
    send([frame(TcpFlag.syn, false)]);
    const rip = fast.core.conns.daddrOf(0);
    const rs = RS.indexOf(rip);
    send([frame(TcpFlag.syn | TcpFlag.ack, true, rs)]);
    send([frame(TcpFlag.ack, false)]);
    const before = fast.counters.fastPath;
    const out = send([frame(TcpFlag.ack, false), frame(TcpFlag.ack, true, rs), frame(TcpFlag.ack, false)]);
    expect(fast.counters.fastPath - before).toBe(3);
    expect(out).toHaveLength(3);
    for (const f of out) expect(checksumsValid(Uint8Array.from(f.bytes))).toBe(true);
    // In: destination RIP:8080; out: source VIP:80.
    const dstOf = (b: number[]) => ((b[30]! << 24) | (b[31]! << 16) | (b[32]! << 8) | b[33]!) >>> 0;
    const srcOf = (b: number[]) => ((b[26]! << 24) | (b[27]! << 16) | (b[28]! << 8) | b[29]!) >>> 0;
    expect(dstOf(out[0]!.bytes)).toBe(rip);
    expect(srcOf(out[1]!.bytes)).toBe(vip);
    const svc = fast.core.rules.snapshot.services.find((s) => s.addr === vip && s.port === 80 && s.proto === 6);
    const dest = svc!.dests.find((d) => d.addr === rip)!;
    expect(dest.stats.inPkts).toBe(4);
    expect(dest.stats.outPkts).toBe(2);
  });
});

describe('native fast path: frames longer than a slot', () => {
  // Both links allow jumbo frames in the tables: only the slot bounds the copy into tx.
  const JUMBO = CONFIG.replace('mtu: 1500', 'mtu: 9000')
    .replace('mtu: 1400', 'mtu: 9000')
    .replace('neighbours:\n', 'neighbours:\n  - { ip: 192.168.2.12, mac: "02:00:00:00:02:12" }\n');
  const make = (fastPath: boolean) => {
    const core = new IpvsCore({ connCapacity: 64, ticksPerSecond: 1000, seed: 11 });
    core.applyRules(parseRules(RULES));
    return new Datapath(parseConfig(JUMBO), core, { fastPath });
  };
  const udp = (payloadLen: number) =>
    buildFrame({
      eth: { dst: ETH0_MAC, src: mac('02:00:00:00:01:01'), etherType: 0 },
      ipv4: ipv4Fields(CLIENTS[2]!, SERVICES[1].vip),
      udp: { srcPort: 40000, dstPort: 53, payload: new Uint8Array(payloadLen).fill(7) },
    });
  const SENTINEL = 0xa5;

  /** Runs one frame, written at slot 0 of rx whatever its length, into tx slot 0; the rest of tx is sentinel. */
  function runOne(dp: Datapath, frame: Uint8Array, now: number) {
    const rx = new FrameBatch(4);
    const off = rx.slotBase(0) + rx.headroom;
    rx.bytes.set(frame, off);
    rx.offset[0] = off;
    rx.length[0] = frame.length;
    rx.ifindex[0] = 1;
    rx.count = 1;
    const tx = new FrameBatch(4);
    tx.bytes.fill(SENTINEL, tx.slotBase(1));
    dp.processBatch(rx, tx, now);
    const spilled = tx.bytes.subarray(tx.slotBase(1)).some((b) => b !== SENTINEL);
    return { tx, spilled };
  }

  for (const fastPath of [true, false]) {
    it(`drops a frame of an established flow longer than a slot as frameTooBig, writing nothing past slot 0 (fast path ${fastPath ? 'on' : 'off'})`, () => {
      const dp = make(fastPath);
      expect(dp.fastPathEnabled).toBe(fastPath);
      // The first datagram schedules the flow (JavaScript); the later ones are connection hits.
      expect(runOne(dp, udp(20), 1000).tx.count).toBe(1);
      // Exactly a slot's worth: forwarded, by the fast path when it is on.
      const fits = runOne(dp, udp(FRAME_SPACE - 42), 1001);
      expect(fits.tx.count).toBe(1);
      expect(fits.tx.length[0]).toBe(FRAME_SPACE);
      expect(fits.spilled).toBe(false);
      expect(dp.counters.fastPath).toBe(fastPath ? 1 : 0);
      // One byte more (and a jumbo datagram): within the 9000-byte MTU, but not within a slot.
      for (const payload of [FRAME_SPACE - 41, 3000]) {
        const big = runOne(dp, udp(payload), 1002);
        expect(big.tx.count, `payload ${payload}`).toBe(0);
        expect(big.spilled, `payload ${payload}`).toBe(false);
      }
      expect(dp.dropSummary()).toEqual({ frameTooBig: 2 });
      expect(dp.counters.fastPath).toBe(fastPath ? 1 : 0);
      expect(dp.counters.forwarded).toBe(2);
    });
  }
});
