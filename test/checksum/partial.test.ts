// Native completePartial: frames Linux hands AF_PACKET with TP_STATUS_CSUMNOTREADY (CHECKSUM_PARTIAL) get
// their TCP/UDP checksum completed in place, in batches, and everything else is left alone with a code.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadNative, PartialResult } from '../../src/native.js';
import { buildFrame, type FrameSpec, frameSpec, toPartial } from './frames.js';

const native = loadNative();
const POISON = 0xa5;

/** Lays frames out in one buffer with poisoned gaps of the given sizes before each. */
function layOut(frames: Uint8Array[], gaps: number[]): { buf: Uint8Array; offs: Uint32Array; lens: Uint32Array } {
  const total = frames.reduce((n, f, i) => n + f.length + (gaps[i] ?? 0), 0) + 7;
  const buf = new Uint8Array(total).fill(POISON);
  const offs = new Uint32Array(frames.length);
  const lens = new Uint32Array(frames.length);
  let at = 0;
  frames.forEach((f, i) => {
    at += gaps[i] ?? 0;
    buf.set(f, at);
    offs[i] = at;
    lens[i] = f.length;
    at += f.length;
  });
  return { buf, offs, lens };
}

/** A frame of the batch: the correct frame, and whether it arrives marked CSUMNOTREADY. */
const batchEntry = fc.record({ spec: frameSpec(), marked: fc.boolean(), gap: fc.nat(9) });

describe('completePartial on well-formed frames', () => {
  it('restores the correct checksum of every marked frame in a batch, and touches nothing else', () => {
    fc.assert(
      fc.property(fc.array(batchEntry, { minLength: 1, maxLength: 24 }), (entries) => {
        const correct = entries.map((e) => buildFrame(e.spec).bytes);
        const arriving = entries.map((e, i) => (e.marked ? toPartial(buildFrame(e.spec), e.spec) : correct[i]!));
        const { buf, offs, lens } = layOut(
          arriving,
          entries.map((e) => e.gap),
        );
        const expected = layOut(
          correct,
          entries.map((e) => e.gap),
        ).buf;
        const status = Uint8Array.from(entries, (e) => (e.marked ? 1 : 0));
        const marked = entries.filter((e) => e.marked).length;
        expect(native.completePartial(buf, offs, lens, status, entries.length)).toBe(marked);
        expect(Array.from(status)).toEqual(entries.map((e) => (e.marked ? PartialResult.done : PartialResult.skipped)));
        expect(buf).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('leaves unmarked frames untouched, whatever status value they carry', () => {
    fc.assert(
      fc.property(frameSpec(), fc.integer({ min: 0, max: 255 }), (spec, mark) => {
        fc.pre(mark !== 1);
        const partial = toPartial(buildFrame(spec), spec);
        const buf = Uint8Array.from(partial);
        const status = Uint8Array.of(mark);
        expect(native.completePartial(buf, Uint32Array.of(0), Uint32Array.of(buf.length), status, 1)).toBe(0);
        expect(status[0]).toBe(PartialResult.skipped);
        expect(buf).toEqual(partial);
      }),
    );
  });

  it('completes only the first `count` frames', () => {
    const specs = fc.sample(frameSpec(100), { numRuns: 3, seed: 42 });
    const { buf, offs, lens } = layOut(
      specs.map((s) => toPartial(buildFrame(s), s)),
      [0, 0, 0],
    );
    const third = Uint8Array.from(buf.subarray(offs[2]!));
    const status = Uint8Array.of(1, 1, 1);
    expect(native.completePartial(buf, offs, lens, status, 2)).toBe(2);
    expect(Array.from(status)).toEqual([PartialResult.done, PartialResult.done, 1]);
    expect(buf.subarray(offs[0]!, offs[1]!)).toEqual(buildFrame(specs[0]!).bytes);
    expect(buf.subarray(offs[1]!, offs[2]!)).toEqual(buildFrame(specs[1]!).bytes);
    expect(buf.subarray(offs[2]!)).toEqual(third);
  });

  it('ignores Ethernet padding after the IP datagram', () => {
    fc.assert(
      fc.property(frameSpec(40), fc.uint8Array({ minLength: 1, maxLength: 30 }), (spec, padding) => {
        const correct = buildFrame(spec).bytes;
        const buf = Uint8Array.from([...toPartial(buildFrame(spec), spec), ...padding]);
        const status = Uint8Array.of(1);
        expect(native.completePartial(buf, Uint32Array.of(0), Uint32Array.of(buf.length), status, 1)).toBe(1);
        expect(status[0]).toBe(PartialResult.done);
        expect(buf).toEqual(Uint8Array.from([...correct, ...padding]));
      }),
    );
  });
});

/** Runs one marked frame through completePartial; returns the status and whether the bytes changed. */
function completeOne(frame: Uint8Array, len = frame.length): { status: number; changed: boolean } {
  const buf = Uint8Array.from(frame);
  const status = Uint8Array.of(1);
  native.completePartial(buf, Uint32Array.of(0), Uint32Array.of(len), status, 1);
  return { status: status[0]!, changed: buf.some((b, i) => b !== frame[i]) };
}

function ethTypeOffset(spec: FrameSpec): number {
  return 12 + 4 * spec.tags;
}

describe('completePartial on frames it cannot complete', () => {
  it('reports every truncation of a frame as truncated, without writing', () => {
    fc.assert(
      fc.property(frameSpec(200), fc.nat(), (spec, cut) => {
        const partial = toPartial(buildFrame(spec), spec);
        const len = cut % partial.length;
        expect(completeOne(partial, len)).toEqual({ status: PartialResult.truncated, changed: false });
      }),
      { numRuns: 1000 },
    );
  });

  it('reports an IP total length or IHL that does not fit as truncated', () => {
    fc.assert(
      fc.property(frameSpec(200), fc.integer({ min: 0, max: 4 }), (spec, badIhl) => {
        const f = buildFrame(spec);
        const longer = toPartial(f, spec);
        const total = f.bytes.length - f.ipOff + 1;
        longer[f.ipOff + 2] = total >> 8;
        longer[f.ipOff + 3] = total & 0xff;
        expect(completeOne(longer)).toEqual({ status: PartialResult.truncated, changed: false });
        const shortIhl = toPartial(f, spec);
        shortIhl[f.ipOff] = 0x40 | badIhl;
        expect(completeOne(shortIhl)).toEqual({ status: PartialResult.truncated, changed: false });
        // An L4 length shorter than the TCP/UDP header.
        const tiny = toPartial(f, spec);
        const shortTotal = f.ihl + (spec.proto === 6 ? 19 : 7);
        tiny[f.ipOff + 2] = shortTotal >> 8;
        tiny[f.ipOff + 3] = shortTotal & 0xff;
        expect(completeOne(tiny)).toEqual({ status: PartialResult.truncated, changed: false });
      }),
    );
  });

  it('reports non-IPv4 frames, other IP protocols, other IP versions and fragments as unsupported', () => {
    fc.assert(
      fc.property(
        frameSpec(200),
        fc.constantFrom(0x0806, 0x86dd, 0x88cc, 0x0000),
        fc.integer({ min: 0, max: 255 }).filter((p) => p !== 6 && p !== 17),
        fc.integer({ min: 0, max: 15 }).filter((v) => v !== 4),
        // MF alone (a first fragment), an offset alone (the last one), both, and anything else.
        fc.oneof(fc.constantFrom(0x2000, 0x0001, 0x2001, 0x1fff, 0x3fff), fc.integer({ min: 1, max: 0x3fff })),
        (spec, etherType, proto, version, fragBits) => {
          const f = buildFrame(spec);
          const at = ethTypeOffset(spec);
          const notIp = toPartial(f, spec);
          notIp[at] = etherType >> 8;
          notIp[at + 1] = etherType & 0xff;
          expect(completeOne(notIp)).toEqual({ status: PartialResult.unsupported, changed: false });
          const otherProto = toPartial(f, spec);
          otherProto[f.ipOff + 9] = proto;
          expect(completeOne(otherProto)).toEqual({ status: PartialResult.unsupported, changed: false });
          const otherVersion = toPartial(f, spec);
          otherVersion[f.ipOff] = (version << 4) | (f.ihl / 4);
          expect(completeOne(otherVersion)).toEqual({ status: PartialResult.unsupported, changed: false });
          // MF or a non-zero fragment offset: the checksum covers the reassembled datagram.
          const fragment = toPartial(f, spec);
          fragment[f.ipOff + 6] = ((fragment[f.ipOff + 6] as number) & 0xc0) | (fragBits >> 8);
          fragment[f.ipOff + 7] = fragBits & 0xff;
          expect(completeOne(fragment)).toEqual({ status: PartialResult.unsupported, changed: false });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a frame it cannot complete does not stop the rest of the batch', () => {
    const [a, b, c] = fc.sample(frameSpec(100), { numRuns: 3, seed: 7 }) as [FrameSpec, FrameSpec, FrameSpec];
    const arp = toPartial(buildFrame(b), b);
    arp[ethTypeOffset(b)] = 0x08;
    arp[ethTypeOffset(b) + 1] = 0x06;
    const { buf, offs, lens } = layOut([toPartial(buildFrame(a), a), arp, toPartial(buildFrame(c), c)], [3, 0, 5]);
    lens[0] = 10;
    const status = Uint8Array.of(1, 1, 1);
    expect(native.completePartial(buf, offs, lens, status, 3)).toBe(1);
    expect(Array.from(status)).toEqual([PartialResult.truncated, PartialResult.unsupported, PartialResult.done]);
    expect(buf.subarray(offs[1]!, offs[1]! + lens[1]!)).toEqual(arp);
    expect(buf.subarray(offs[2]!, offs[2]! + lens[2]!)).toEqual(buildFrame(c).bytes);
  });
});

describe('completePartial bounds', () => {
  it('never reads or writes outside the buffer, whatever the offsets and lengths', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 256 }),
        fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 16 }),
        fc.constantFrom(0, 1, 2, 0xfff0, 0x7fffffff, 0xffffffff),
        (bytes, pairs, bigOff) => {
          const backing = new Uint8Array(bytes.length + 32).fill(POISON);
          backing.set(bytes, 16);
          const buf = backing.subarray(16, 16 + bytes.length);
          const offs = Uint32Array.from(pairs, ([o]) => (o % 2 === 0 ? o % (bytes.length + 2) : bigOff + o));
          const lens = Uint32Array.from(pairs, ([, l]) => (l % 3 === 0 ? 0xffffffff : l % (bytes.length + 64)));
          const status = new Uint8Array(pairs.length).fill(1);
          native.completePartial(buf, offs, lens, status, pairs.length);
          for (let i = 0; i < pairs.length; i++) {
            const off = offs[i]!;
            const len = lens[i]!;
            if (off + len > bytes.length) expect(status[i]).toBe(PartialResult.truncated);
            else expect(status[i]).not.toBe(PartialResult.skipped);
          }
          expect(backing.subarray(0, 16).every((b) => b === POISON)).toBe(true);
          expect(backing.subarray(16 + bytes.length).every((b) => b === POISON)).toBe(true);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('throws a RangeError when count exceeds any of the arrays', () => {
    const buf = new Uint8Array(64);
    const two = new Uint32Array(2);
    const one = new Uint32Array(1);
    expect(() => native.completePartial(buf, two, two, new Uint8Array(1), 2)).toThrow(RangeError);
    expect(() => native.completePartial(buf, one, two, new Uint8Array(2), 2)).toThrow(RangeError);
    expect(() => native.completePartial(buf, two, one, new Uint8Array(2), 2)).toThrow(RangeError);
    expect(() => native.completePartial(buf, two, two, new Uint8Array(2), -1)).toThrow(RangeError);
    expect(native.completePartial(buf, two, two, new Uint8Array(2), 0)).toBe(0);
  });
});
