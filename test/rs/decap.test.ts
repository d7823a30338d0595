// IpipDecapsulator: which received frames become TUN writes, and where the inner packet is. A golden IPIP
// frame worked out by hand (checksums computed separately with a plain RFC 1071 sum) is the base; each case
// changes one thing and names the counter that must move.
import { describe, expect, it } from 'vitest';
import { FrameBatch, FrameFlag, HEADROOM, PacketType } from '../../src/io/batch.js';
import { type DecapCounter, IpipDecapsulator, TunBatch } from '../../src/rs/decap.js';
import { hex } from '../helpers/bytes.js';

const RIP = 0xc0a801c8; // 192.168.1.200
const OTHER_RIP = 0xc0a801c9; // 192.168.1.201
const VIP = 0xc0a801e7; // 192.168.1.231

// 32-byte inner packet: IPv4 192.168.10.100 -> 192.168.1.231, UDP 40000 -> 80 without checksum, "ping".
const INNER = hex(`
  45 00 00 20  00 02 40 00  40 11 ad 2f  c0 a8 0a 64  c0 a8 01 e7
  9c 40 00 50  00 0c 00 00  70 69 6e 67`);

// Ethernet + outer IPv4 192.168.1.230 -> 192.168.1.200, protocol 4, total length 52, + INNER.
const GOLDEN = hex(`
  02 00 00 00 00 02  02 00 00 00 00 01  08 00
  45 00 00 34  00 01 40 00  40 04 b5 c6  c0 a8 01 e6  c0 a8 01 c8
  45 00 00 20  00 02 40 00  40 11 ad 2f  c0 a8 0a 64  c0 a8 01 e7
  9c 40 00 50  00 0c 00 00  70 69 6e 67`);

/** GOLDEN with bytes patched: [offset, value] pairs. */
function patched(...edits: Array<[number, number]>): Uint8Array {
  const f = GOLDEN.slice();
  for (const [at, v] of edits) f[at] = v;
  return f;
}

interface Case {
  description: string;
  frame: Uint8Array;
  flags?: number;
  pktType?: number;
  counter: keyof typeof DecapCounter;
}

const DROPS: Case[] = [
  { description: 'an ARP frame', frame: patched([13, 0x06]), counter: 'notIpv4' },
  { description: 'an IPv6 frame', frame: patched([12, 0x86], [13, 0xdd]), counter: 'notIpv4' },
  // Protocol 17 instead of 4, with the checksum adjusted by the same amount (0x0004 -> 0x0011: -13).
  { description: 'plain UDP to the RIP', frame: patched([23, 0x11], [25, 0xc6 - 13]), counter: 'notForUs' },
  // Outer destination .201 (0xc9), checksum one lower.
  { description: 'IPIP to another address', frame: patched([33, 0xc9], [25, 0xc5]), counter: 'notForUs' },
  { description: 'a bad outer header checksum', frame: patched([25, 0xc7]), counter: 'badOuter' },
  // More-fragments set (0x40 00 -> 0x60 00), checksum 0x2000 lower.
  { description: 'an outer fragment', frame: patched([20, 0x60], [24, 0x95]), counter: 'badOuter' },
  // Inner total length 0x30 > the 32 bytes the outer payload holds.
  { description: 'an inner length past the outer payload', frame: patched([37, 0x30]), counter: 'badInner' },
  // Inner destination .232 instead of the VIP (the inner checksum is not checked here; the kernel does).
  { description: 'an inner packet for another address', frame: patched([53, 0xe8]), counter: 'notForVip' },
  { description: 'a truncated capture', frame: GOLDEN, flags: FrameFlag.truncated, counter: 'unusable' },
  { description: 'an unfixable checksum', frame: GOLDEN, flags: FrameFlag.csumUnfixable, counter: 'unusable' },
  { description: 'a frame for another host', frame: GOLDEN, pktType: PacketType.otherHost, counter: 'notForUs' },
];

function load(cases: readonly { frame: Uint8Array; flags?: number; pktType?: number }[]): FrameBatch {
  const rx = new FrameBatch(Math.max(cases.length, 1));
  cases.forEach((c, i) => {
    expect(rx.setFrame(i, c.frame)).toBe(true);
    rx.flags[i] = c.flags ?? 0;
    rx.pktType[i] = c.pktType ?? PacketType.host;
  });
  rx.count = cases.length;
  return rx;
}

describe('IpipDecapsulator', () => {
  it('points the TUN batch at the inner packet of a good frame, in place', () => {
    const rx = load([{ frame: GOLDEN }]);
    const out = new TunBatch(rx.capacity);
    const d = new IpipDecapsulator([RIP], VIP);
    expect(d.decap(rx, out)).toBe(1);
    expect(out.count).toBe(1);
    // Slot 0 starts at HEADROOM; the inner packet follows 14 bytes of Ethernet and 20 of outer header.
    expect(out.offset[0]).toBe(HEADROOM + 14 + 20);
    expect(out.length[0]).toBe(32);
    expect(rx.bytes.slice(out.offset[0]!, out.offset[0]! + out.length[0]!)).toEqual(INNER);
    expect(d.snapshot()).toMatchObject({ received: 1, decapsulated: 1 });
  });

  it('accepts IPIP sent to any of the RIPs it was given', () => {
    const toOther = patched([33, 0xc9], [25, 0xc5]);
    const rx = load([{ frame: toOther }]);
    const out = new TunBatch(1);
    expect(new IpipDecapsulator([RIP, OTHER_RIP], VIP).decap(rx, out)).toBe(1);
  });

  it('leaves Ethernet padding behind the inner packet out of the TUN write', () => {
    const padded = new Uint8Array(GOLDEN.length + 10);
    padded.set(GOLDEN);
    const rx = load([{ frame: padded }]);
    const out = new TunBatch(1);
    new IpipDecapsulator([RIP], VIP).decap(rx, out);
    expect(out.length[0]).toBe(32);
  });

  for (const c of DROPS) {
    it(`drops ${c.description} (${c.counter})`, () => {
      const rx = load([c]);
      const out = new TunBatch(1);
      const d = new IpipDecapsulator([RIP], VIP);
      expect(d.decap(rx, out)).toBe(0);
      const counters = d.snapshot();
      expect(counters[c.counter]).toBe(1);
      expect(counters.decapsulated).toBe(0);
      expect(counters.received).toBe(1);
    });
  }

  it('keeps the good frames of a mixed batch in order and counts the rest', () => {
    const cases = [{ frame: GOLDEN }, ...DROPS, { frame: patched([33, 0xc9], [25, 0xc5]) }, { frame: GOLDEN }];
    const rx = load(cases);
    const out = new TunBatch(rx.capacity);
    const d = new IpipDecapsulator([RIP], VIP);
    expect(d.decap(rx, out)).toBe(2);
    expect(out.offset[0]).toBe(rx.slotBase(0) + HEADROOM + 34);
    expect(out.offset[1]).toBe(rx.slotBase(cases.length - 1) + HEADROOM + 34);
    const counters = d.snapshot();
    expect(counters.received).toBe(cases.length);
    const dropped = cases.length - counters.decapsulated;
    const sumOfDrops =
      counters.notIpv4 +
      counters.notForUs +
      counters.badOuter +
      counters.badInner +
      counters.notForVip +
      counters.unusable;
    expect(sumOfDrops).toBe(dropped);
  });

  it('never writes past the TUN batch capacity', () => {
    const rx = load([{ frame: GOLDEN }, { frame: GOLDEN }, { frame: GOLDEN }]);
    const out = new TunBatch(2);
    expect(new IpipDecapsulator([RIP], VIP).decap(rx, out)).toBe(2);
  });
});
