// FrameBatch: the slot layout the native receive and send calls rely on, the headroom that IPIP and VLAN
// tags are written into, and the per-frame metadata. Expected numbers are worked out by hand from the
// layout described at the top of src/io/batch.ts.
import { describe, expect, it } from 'vitest';
import { MAX_FRAME } from '../../src/constants.js';
import { FrameBatch, FrameFlag, HEADROOM, MAX_BATCH, SLOT_SIZE } from '../../src/io/batch.js';
import { hex } from '../helpers/bytes.js';

const POISON = 0xa5;
const frame = hex('02 00 00 00 00 02  02 00 00 00 00 01  08 00  45 00 00 14');

describe('FrameBatch layout', () => {
  it('sizes slots as 64 bytes of headroom plus a full frame, rounded up to 64', () => {
    // MAX_FRAME = 1500 + 14 + 8 + 20 = 1542; 64 + 1542 = 1606, and the next multiple of 64 is 26 * 64.
    expect(MAX_FRAME).toBe(1542);
    expect(HEADROOM).toBe(64);
    expect(SLOT_SIZE).toBe(1664);
    // An IPIP header, a VLAN tag, and the 4 bytes a receive may use to put a stripped tag back.
    expect(HEADROOM).toBeGreaterThanOrEqual(20 + 4 + 4);
    expect(SLOT_SIZE - HEADROOM).toBeGreaterThanOrEqual(MAX_FRAME);
  });

  it('puts every slot in one buffer, and each frame after its headroom', () => {
    const batch = new FrameBatch(4);
    expect(batch.capacity).toBe(4);
    expect(batch.bytes.byteLength).toBe(4 * 1664);
    expect(batch.bytes.buffer.byteLength).toBe(4 * 1664);
    expect([0, 1, 2, 3].map((i) => batch.slotBase(i))).toEqual([0, 1664, 3328, 4992]);
    expect(Array.from(batch.offset)).toEqual([64, 1728, 3392, 5056]);
    expect(Array.from(batch.length)).toEqual([0, 0, 0, 0]);
    expect(batch.count).toBe(0);
    for (const meta of [batch.offset, batch.length, batch.ifindex, batch.egressIfindex]) expect(meta).toHaveLength(4);
    for (const meta of [batch.flags, batch.vlanTci, batch.pktType]) expect(meta).toHaveLength(4);
    // The element types are what native/packet_io.cc checks for; a mismatch would make every call fail.
    expect(batch.offset).toBeInstanceOf(Uint32Array);
    expect(batch.ifindex).toBeInstanceOf(Uint32Array);
    expect(batch.flags).toBeInstanceOf(Uint8Array);
    expect(batch.vlanTci).toBeInstanceOf(Uint16Array);
    expect(batch.pktType).toBeInstanceOf(Uint8Array);
  });

  it('refuses a capacity outside 1..MAX_BATCH', () => {
    expect(MAX_BATCH).toBe(1024);
    for (const bad of [0, -1, 1.5, 1025, Number.NaN]) expect(() => new FrameBatch(bad)).toThrow(RangeError);
    expect(new FrameBatch(1024).capacity).toBe(1024);
  });

  it('keeps the same buffers across clear(), so a reused batch allocates nothing', () => {
    const batch = new FrameBatch(2);
    const before = [batch.bytes, batch.offset, batch.length, batch.flags];
    batch.setFrame(1, frame);
    batch.clear();
    expect([batch.bytes, batch.offset, batch.length, batch.flags].every((a, i) => a === before[i])).toBe(true);
  });
});

describe('FrameBatch.setFrame', () => {
  it('copies the frame to the default offset of its slot and writes nothing else', () => {
    const batch = new FrameBatch(3);
    batch.bytes.fill(POISON);
    expect(batch.setFrame(1, frame, 7)).toBe(true);
    expect(batch.offset[1]).toBe(1664 + 64);
    expect(batch.length[1]).toBe(18);
    expect(batch.egressIfindex[1]).toBe(7);
    expect(batch.bytes.slice(1728, 1728 + 18)).toEqual(frame);
    const untouched = batch.bytes.every((b, i) => (i >= 1728 && i < 1728 + 18) || b === POISON);
    expect(untouched).toBe(true);
  });

  it('takes a frame that fills the slot after its headroom, and nothing larger', () => {
    const batch = new FrameBatch(2);
    expect(batch.setFrame(0, new Uint8Array(1600))).toBe(true);
    expect(batch.setFrame(0, new Uint8Array(1601))).toBe(false);
    expect(batch.setFrame(2, frame)).toBe(false);
    expect(batch.setFrame(-1, frame)).toBe(false);
  });

  it('resets flags and VLAN left from an earlier receive', () => {
    const batch = new FrameBatch(1);
    batch.flags[0] = FrameFlag.vlan | FrameFlag.csumCompleted;
    batch.vlanTci[0] = 0xa007;
    batch.setFrame(0, frame);
    expect(batch.flags[0]).toBe(0);
    expect(batch.vlanTci[0]).toBe(0);
  });
});

describe('FrameBatch.adjustHead', () => {
  it('prepends an IPIP header in the headroom and strips it again', () => {
    const batch = new FrameBatch(2);
    batch.setFrame(1, frame);
    expect(batch.adjustHead(1, -20)).toBe(true);
    expect(batch.offset[1]).toBe(1728 - 20);
    expect(batch.length[1]).toBe(38);
    expect(batch.adjustHead(1, 20)).toBe(true);
    expect(batch.offset[1]).toBe(1728);
    expect(batch.length[1]).toBe(18);
  });

  it('uses all of the headroom but never reaches into the slot before', () => {
    const batch = new FrameBatch(2);
    batch.setFrame(1, frame);
    expect(batch.adjustHead(1, -64)).toBe(true);
    expect(batch.offset[1]).toBe(1664);
    expect(batch.adjustHead(1, -1)).toBe(false);
    expect(batch.offset[1]).toBe(1664);
    expect(batch.length[1]).toBe(82);
  });

  it('refuses to strip more than the frame holds', () => {
    const batch = new FrameBatch(1);
    batch.setFrame(0, frame);
    expect(batch.adjustHead(0, 19)).toBe(false);
    expect(batch.adjustHead(0, 18)).toBe(true);
    expect(batch.length[0]).toBe(0);
  });
});

describe('FrameFlag', () => {
  it('matches the bits of native/packet_io.h FrameFlag', () => {
    expect(FrameFlag).toEqual({
      csumNotReady: 1,
      csumCompleted: 2,
      csumUnfixable: 4,
      csumValid: 8,
      vlan: 16,
      truncated: 32,
      segmented: 64,
    });
  });
});
