import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { endianness, tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  PCAP_MAX_CAPLEN,
  PcapError,
  PcapErrorCode,
  PcapReader,
  type PcapRecord,
  PcapWriter,
} from '../../src/io/pcap.js';
import { write16 } from '../../src/wire/bytes.js';
import { ipv4HeaderChecksum, l4Checksum } from '../../src/wire/checksum.js';
import { hex } from '../helpers/bytes.js';

const tmp = mkdtempSync(join(tmpdir(), 'uvs-pcap-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let fileCounter = 0;
function tmpFile(name: string): string {
  return join(tmp, `${fileCounter++}-${name}`);
}

// An ARP-looking Ethernet header: 14 bytes, enough to be a frame without being long in a golden dump.
const tinyFrame = hex('ff ff ff ff ff ff  02 00 00 00 00 01  08 06');
// 1700000000 s = 0x6553f100; 123456789 ns = 0x075bcd15, or 123456 µs = 0x0001e240.
const TS_SEC = 1700000000;
const TS_NSEC = 123456789;

// Written by hand from pcap-savefile(5): little-endian, microseconds, version 2.4, snaplen 65535, Ethernet.
const goldenLeMicro = hex(`
  d4 c3 b2 a1  02 00 04 00  00 00 00 00  00 00 00 00  ff ff 00 00  01 00 00 00
  00 f1 53 65  40 e2 01 00  0e 00 00 00  0e 00 00 00
  ff ff ff ff ff ff  02 00 00 00 00 01  08 06`);
// The same record big-endian with nanoseconds, as a big-endian host with a nanosecond libpcap writes it.
const goldenBeNano = hex(`
  a1 b2 3c 4d  00 02 00 04  00 00 00 00  00 00 00 00  00 00 ff ff  00 00 00 01
  65 53 f1 00  07 5b cd 15  00 00 00 0e  00 00 00 0e
  ff ff ff ff ff ff  02 00 00 00 00 01  08 06`);
// Little-endian with nanoseconds, and big-endian with microseconds (a byte-swapped file on this host).
const goldenLeNano = hex(`
  4d 3c b2 a1  02 00 04 00  00 00 00 00  00 00 00 00  ff ff 00 00  01 00 00 00
  00 f1 53 65  15 cd 5b 07  0e 00 00 00  0e 00 00 00
  ff ff ff ff ff ff  02 00 00 00 00 01  08 06`);
const goldenBeMicro = hex(`
  a1 b2 c3 d4  00 02 00 04  00 00 00 00  00 00 00 00  00 00 ff ff  00 00 00 01
  65 53 f1 00  00 01 e2 40  00 00 00 0e  00 00 00 0e
  ff ff ff ff ff ff  02 00 00 00 00 01  08 06`);

interface PlainRecord {
  tsSec: number;
  tsFrac: number;
  capLen: number;
  origLen: number;
  data: number[];
}

function plain(rec: PcapRecord): PlainRecord {
  return { tsSec: rec.tsSec, tsFrac: rec.tsFrac, capLen: rec.capLen, origLen: rec.origLen, data: [...rec.data] };
}

/** Reads every record, copying each; returns them with the error that ended the file (or null). */
function readAll(reader: () => PcapReader): { records: PlainRecord[]; error: unknown } {
  const records: PlainRecord[] = [];
  try {
    for (const rec of reader()) records.push(plain(rec));
    return { records, error: null };
  } catch (error) {
    return { records, error };
  }
}

/**
 * An independent little-endian pcap builder written plainly from the spec, used to make files the reader
 * is tested against without going through PcapWriter.
 */
function buildLe(frames: { tsSec: number; tsUsec: number; data: number[] }[], linkType = 1): Uint8Array {
  const bytes: number[] = [];
  const u32 = (v: number) => bytes.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);
  u32(0xa1b2c3d4);
  bytes.push(2, 0, 4, 0);
  u32(0);
  u32(0);
  u32(65535);
  u32(linkType);
  for (const f of frames) {
    u32(f.tsSec);
    u32(f.tsUsec);
    u32(f.data.length);
    u32(f.data.length);
    for (const b of f.data) bytes.push(b);
  }
  return Uint8Array.from(bytes);
}

function expectPcapError(error: unknown, code: string, offset: number): void {
  expect(error).toBeInstanceOf(PcapError);
  expect((error as PcapError).code).toBe(code);
  expect((error as PcapError).offset).toBe(offset);
  expect((error as PcapError).message).toContain(`byte offset ${offset}`);
}

describe('PcapWriter', () => {
  it('writes the hand-made golden file, little-endian with microseconds', () => {
    const w = PcapWriter.inMemory({ byteOrder: 'le' });
    w.writeFrame(tinyFrame, 0, tinyFrame.length, TS_SEC, TS_NSEC);
    expect(new Uint8Array(w.toBuffer())).toEqual(goldenLeMicro);
    expect(w.packets).toBe(1);
    expect(w.bytesWritten).toBe(goldenLeMicro.length);
  });

  it('writes the golden file big-endian with nanoseconds', () => {
    const w = PcapWriter.inMemory({ byteOrder: 'be', nanosecond: true });
    w.writeFrame(tinyFrame, 0, tinyFrame.length, TS_SEC, TS_NSEC);
    expect(new Uint8Array(w.toBuffer())).toEqual(goldenBeNano);
  });

  it("writes in the host's byte order by default, as libpcap does", () => {
    const w = PcapWriter.inMemory();
    w.writeFrame(tinyFrame, 0, tinyFrame.length, TS_SEC, TS_NSEC);
    expect(new Uint8Array(w.toBuffer())).toEqual(endianness() === 'LE' ? goldenLeMicro : goldenBeMicro);
  });

  it('writes the frame range it is given, not the whole buffer', () => {
    const padded = new Uint8Array(tinyFrame.length + 10).fill(0x77);
    padded.set(tinyFrame, 3);
    const w = PcapWriter.inMemory({ byteOrder: 'le' });
    w.writeFrame(padded, 3, tinyFrame.length, TS_SEC, TS_NSEC);
    expect(new Uint8Array(w.toBuffer())).toEqual(goldenLeMicro);
  });

  it('cuts frames longer than the snaplen and keeps their original length', () => {
    const frame = Uint8Array.from({ length: 100 }, (_, i) => i);
    const w = PcapWriter.inMemory({ byteOrder: 'le', snaplen: 60 });
    w.writeFrame(frame, 0, 100, 1, 0);
    w.writeFrame(frame, 0, 60, 2, 0);
    w.writeFrame(frame, 0, 40, 3, 0, 1514);
    const out = w.toBuffer();
    expect(out.readUInt32LE(16)).toBe(60);
    expect(out.length).toBe(24 + 16 + 60 + 16 + 60 + 16 + 40);
    expect([out.readUInt32LE(24 + 8), out.readUInt32LE(24 + 12)]).toEqual([60, 100]);
    expect([...out.subarray(40, 100)]).toEqual([...frame.subarray(0, 60)]);
    expect([out.readUInt32LE(100 + 8), out.readUInt32LE(100 + 12)]).toEqual([60, 60]);
    expect([out.readUInt32LE(176 + 8), out.readUInt32LE(176 + 12)]).toEqual([40, 1514]);
  });

  it('keeps microseconds by truncating the nanoseconds, never rounding into the next second', () => {
    const w = PcapWriter.inMemory({ byteOrder: 'le' });
    w.writeFrame(tinyFrame, 0, 14, 5, 999_999_999);
    const out = w.toBuffer();
    expect(out.readUInt32LE(24)).toBe(5);
    expect(out.readUInt32LE(28)).toBe(999_999);
  });

  it('rejects values the format cannot hold with PCAP_BAD_ARGUMENT', () => {
    const w = PcapWriter.inMemory();
    const bad: [number, number, number, number][] = [
      [-1, 0, 14, 14],
      [2 ** 32, 0, 14, 14],
      [1.5, 0, 14, 14],
      [0, 1_000_000_000, 14, 14],
      [0, -1, 14, 14],
      [0, 0, 15, 15], // past the end of the 14-byte frame
      [0, 0, 14, 13], // original length shorter than what was captured
    ];
    for (const [sec, nsec, len, orig] of bad) {
      expect(() => w.writeFrame(tinyFrame, 0, len, sec, nsec, orig)).toThrow(PcapError);
      try {
        w.writeFrame(tinyFrame, 0, len, sec, nsec, orig);
      } catch (e) {
        expect((e as PcapError).code).toBe(PcapErrorCode.badArgument);
      }
    }
    expect(w.packets).toBe(0);
    expect(() => PcapWriter.inMemory({ snaplen: 0 })).toThrow(PcapError);
    expect(() => PcapWriter.inMemory({ snaplen: PCAP_MAX_CAPLEN + 1 })).toThrow(PcapError);
  });

  it('buffers file writes instead of writing each packet', () => {
    const path = tmpFile('buffered.pcap');
    const w = PcapWriter.open(path, { bufferSize: 4096, byteOrder: 'le' });
    const frame = new Uint8Array(100).fill(1);
    for (let i = 0; i < 10; i++) w.writeFrame(frame, 0, 100, i, 0);
    expect(statSync(path).size).toBe(0);
    // 24 + 40 * 116 = 4664 bytes cross the 4096-byte threshold after the 36th record.
    for (let i = 10; i < 40; i++) w.writeFrame(frame, 0, 100, i, 0);
    expect(statSync(path).size).toBe(24 + 36 * 116);
    w.flush();
    expect(statSync(path).size).toBe(24 + 40 * 116);
    w.close();
    w.close();
    expect(() => w.writeFrame(frame, 0, 100, 0, 0)).toThrow(PcapError);
    expect(readFileSync(path).length).toBe(24 + 40 * 116);
  });

  it('reports a file it cannot create as PCAP_IO', () => {
    try {
      PcapWriter.open(join(tmp, 'no-such-dir', 'x.pcap'));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(PcapError);
      expect((e as PcapError).code).toBe(PcapErrorCode.io);
      expect((e as PcapError).message).toContain('no-such-dir');
    }
  });
});

describe('PcapReader on hand-made files', () => {
  const expected: PlainRecord = {
    tsSec: TS_SEC,
    tsFrac: 123_456_000,
    capLen: 14,
    origLen: 14,
    data: [...tinyFrame],
  };

  it.each([
    ['little-endian µs', goldenLeMicro, true, false, 123_456_000],
    ['big-endian (byte-swapped) µs', goldenBeMicro, false, false, 123_456_000],
    ['little-endian ns', goldenLeNano, true, true, TS_NSEC],
    ['big-endian (byte-swapped) ns', goldenBeNano, false, true, TS_NSEC],
  ])('reads a %s file', (_name, bytes, littleEndian, nanosecond, tsFrac) => {
    const reader = PcapReader.fromBuffer(bytes);
    expect(reader.header).toEqual({
      nanosecond,
      littleEndian,
      versionMajor: 2,
      versionMinor: 4,
      snaplen: 65535,
      linkType: 1,
      fcsLen: -1,
    });
    const rec = reader.read();
    expect(rec).not.toBeNull();
    expect(plain(rec!)).toEqual({ ...expected, tsFrac });
    expect(rec!.fileOffset).toBe(24);
    expect(rec!.index).toBe(0);
    expect(reader.read()).toBeNull();
  });

  it('reads the FCS length from the high bits of the link-type field', () => {
    const bytes = Uint8Array.from(goldenLeMicro);
    // bit 26 set, FCS len 2 (16-bit words) in bits 28-31: 0x24000001, i.e. a 4-byte Ethernet FCS.
    bytes.set([0x01, 0x00, 0x00, 0x24], 20);
    expect(PcapReader.fromBuffer(bytes).header.fcsLen).toBe(4);
  });

  it('reads a record whose captured length is under its original length', () => {
    const bytes = Uint8Array.from(goldenLeMicro);
    bytes.set([0xea, 0x05, 0x00, 0x00], 24 + 12);
    const rec = PcapReader.fromBuffer(bytes).read()!;
    expect([rec.capLen, rec.origLen]).toEqual([14, 1514]);
  });

  it('reuses one record object, pointing into the caller buffer without copying', () => {
    const bytes = buildLe([
      { tsSec: 1, tsUsec: 2, data: [1, 2, 3] },
      { tsSec: 3, tsUsec: 4, data: [5, 6] },
    ]);
    const reader = PcapReader.fromBuffer(bytes);
    const first = reader.read()!;
    expect(first.buf).toBe(bytes);
    expect(first.off).toBe(40);
    const second = reader.read()!;
    expect(second).toBe(first);
    expect([second.index, second.fileOffset, second.off, second.tsSec, second.tsFrac]).toEqual([1, 43, 59, 3, 4000]);
  });
});

describe('PcapReader errors', () => {
  // Three records of 5, 0 and 20 bytes: record headers at 24, 45 and 61, end of file at 97.
  const frames = [
    { tsSec: 10, tsUsec: 1, data: [1, 2, 3, 4, 5] },
    { tsSec: 11, tsUsec: 2, data: [] },
    { tsSec: 12, tsUsec: 3, data: Array.from({ length: 20 }, (_, i) => 0x40 + i) },
  ];
  const file = buildLe(frames);
  const recordStarts = [24, 45, 61];
  const fileEnd = 97;
  const expectedRecords: PlainRecord[] = frames.map((f) => ({
    tsSec: f.tsSec,
    tsFrac: f.tsUsec * 1000,
    capLen: f.data.length,
    origLen: f.data.length,
    data: f.data,
  }));

  /** What a prefix of `len` bytes must give: the records wholly inside it, then an error or a clean end. */
  function expectedForPrefix(len: number): { count: number; code: string | null; offset: number } {
    if (len < 24) return { count: 0, code: PcapErrorCode.truncatedHeader, offset: 0 };
    for (let i = 0; i < recordStarts.length; i++) {
      const start = recordStarts[i]!;
      const next = recordStarts[i + 1] ?? fileEnd;
      if (len === start) return { count: i, code: null, offset: 0 };
      if (len < start + 16) return { count: i, code: PcapErrorCode.truncatedRecordHeader, offset: start };
      if (len < next) return { count: i, code: PcapErrorCode.truncatedRecord, offset: start };
    }
    return { count: 3, code: null, offset: 0 };
  }

  it('builds the test file as intended', () => {
    expect(file.length).toBe(fileEnd);
    expect(readAll(() => PcapReader.fromBuffer(file))).toEqual({ records: expectedRecords, error: null });
  });

  it('delivers the records before every possible cut of a buffer, then names the cut', () => {
    for (let len = 0; len <= file.length; len++) {
      const want = expectedForPrefix(len);
      const got = readAll(() => PcapReader.fromBuffer(file.subarray(0, len)));
      expect(got.records, `prefix ${len}`).toEqual(expectedRecords.slice(0, want.count));
      if (want.code === null) expect(got.error, `prefix ${len}`).toBeNull();
      else expectPcapError(got.error, want.code, want.offset);
    }
  });

  it('does the same through files read in chunks of every small size', () => {
    for (const chunkSize of [1, 7, 16, 4096]) {
      for (let len = 0; len <= file.length; len++) {
        const path = tmpFile(`cut-${chunkSize}-${len}.pcap`);
        writeFileSync(path, file.subarray(0, len));
        const want = expectedForPrefix(len);
        const got = readAll(() => PcapReader.open(path, { chunkSize }));
        expect(got.records, `chunk ${chunkSize} prefix ${len}`).toEqual(expectedRecords.slice(0, want.count));
        if (want.code === null) expect(got.error).toBeNull();
        else expectPcapError(got.error, want.code, want.offset);
        rmSync(path);
      }
    }
  });

  it('says what a short global header is', () => {
    expect(readAll(() => PcapReader.fromBuffer(new Uint8Array(0))).error).toHaveProperty(
      'message',
      expect.stringContaining('empty'),
    );
    expect(readAll(() => PcapReader.fromBuffer(file.subarray(0, 10))).error).toHaveProperty(
      'message',
      expect.stringContaining('10 of 24 bytes'),
    );
  });

  it('keeps failing with the same error after a bad record', () => {
    const reader = PcapReader.fromBuffer(file.subarray(0, 50));
    expect(reader.read()).not.toBeNull();
    let first: unknown;
    try {
      reader.read();
    } catch (e) {
      first = e;
    }
    expectPcapError(first, PcapErrorCode.truncatedRecordHeader, 45);
    expect(() => reader.read()).toThrow(first as Error);
  });

  it('rejects a bad magic, naming the bytes it found', () => {
    const bytes = Uint8Array.from(file);
    bytes.set([0xde, 0xad, 0xbe, 0xef], 0);
    const { error } = readAll(() => PcapReader.fromBuffer(bytes));
    expectPcapError(error, PcapErrorCode.badMagic, 0);
    expect((error as Error).message).toContain('deadbeef');
  });

  it('recognises pcapng and names it (capture.ts opens it with the pcapng reader)', () => {
    const bytes = hex('0a 0d 0d 0a  1c 00 00 00  4d 3c 2b 1a  01 00 00 00  ff ff ff ff ff ff ff ff  1c 00 00 00');
    const { error } = readAll(() => PcapReader.fromBuffer(bytes));
    expectPcapError(error, PcapErrorCode.badMagic, 0);
    expect((error as Error).message).toContain('pcapng');
  });

  it('rejects a major version other than 2', () => {
    const bytes = Uint8Array.from(file);
    bytes.set([1, 0], 4);
    expectPcapError(readAll(() => PcapReader.fromBuffer(bytes)).error, PcapErrorCode.badVersion, 4);
  });

  it('rejects link types other than Ethernet and names them', () => {
    const sll = readAll(() => PcapReader.fromBuffer(buildLe(frames, 113))).error;
    expectPcapError(sll, PcapErrorCode.unsupportedLinkType, 20);
    expect((sll as Error).message).toMatch(/link type 113 \(LINUX_SLL/);
    const unknown = readAll(() => PcapReader.fromBuffer(buildLe(frames, 4242))).error;
    expectPcapError(unknown, PcapErrorCode.unsupportedLinkType, 20);
    expect((unknown as Error).message).toContain('link type 4242;');
  });

  it('rejects an absurd captured length after delivering the records before it', () => {
    const bytes = Uint8Array.from(file);
    // Record 1 claims 262145 bytes: one past libpcap's MAXIMUM_SNAPLEN.
    bytes.set([0x01, 0x00, 0x04, 0x00], 45 + 8);
    const got = readAll(() => PcapReader.fromBuffer(bytes));
    expect(got.records).toEqual(expectedRecords.slice(0, 1));
    expectPcapError(got.error, PcapErrorCode.badCapLen, 45);
    expect((got.error as Error).message).toContain('262145');
  });

  it('accepts a record of exactly the maximum captured length, longer than the snaplen', () => {
    const big = Array.from({ length: PCAP_MAX_CAPLEN }, (_, i) => i & 0xff);
    const bytes = buildLe([{ tsSec: 1, tsUsec: 0, data: big }]);
    const path = tmpFile('max.pcap');
    writeFileSync(path, bytes);
    for (const reader of [PcapReader.fromBuffer(bytes), PcapReader.open(path, { chunkSize: 1000 })]) {
      const rec = reader.read()!;
      expect(rec.capLen).toBe(PCAP_MAX_CAPLEN);
      expect(rec.buf[rec.off + PCAP_MAX_CAPLEN - 1]).toBe((PCAP_MAX_CAPLEN - 1) & 0xff);
      expect(reader.read()).toBeNull();
    }
  });

  it('reports a file it cannot open as PCAP_IO', () => {
    expect(() => PcapReader.open(join(tmp, 'missing.pcap'))).toThrow(/cannot open .*missing\.pcap.*\[PCAP_IO\]/);
  });

  it('throws nothing but PcapError on corrupted bytes', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(file.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        fc.nat(file.length),
        (edits, len) => {
          const bytes = Uint8Array.from(file.subarray(0, len));
          for (const [at, value] of edits) if (at < bytes.length) bytes[at] = value;
          const { error } = readAll(() => PcapReader.fromBuffer(bytes));
          if (error !== null) expect(error).toBeInstanceOf(PcapError);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('pcap round trip', () => {
  const frameArb = fc.record({
    data: fc.uint8Array({ minLength: 0, maxLength: 1600 }),
    tsSec: fc.integer({ min: 0, max: 0xffffffff }),
    tsNsec: fc.integer({ min: 0, max: 999_999_999 }),
  });

  it('reads back what it wrote, in every byte order and resolution', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 20 }),
        fc.constantFrom<'le' | 'be'>('le', 'be'),
        fc.boolean(),
        (frames, byteOrder, nanosecond) => {
          const w = PcapWriter.inMemory({ byteOrder, nanosecond });
          for (const f of frames) w.writeFrame(f.data, 0, f.data.length, f.tsSec, f.tsNsec);
          const got = readAll(() => PcapReader.fromBuffer(w.toBuffer()));
          expect(got.error).toBeNull();
          expect(got.records).toEqual(
            frames.map((f) => ({
              tsSec: f.tsSec,
              tsFrac: nanosecond ? f.tsNsec : Math.floor(f.tsNsec / 1000) * 1000,
              capLen: f.data.length,
              origLen: f.data.length,
              data: [...f.data],
            })),
          );
        },
      ),
    );
  });

  it('round-trips 500 frames through a file with small write and read buffers', () => {
    const frames = fc.sample(frameArb, { numRuns: 500, seed: 42 });
    const path = tmpFile('roundtrip.pcap');
    const w = PcapWriter.open(path, { nanosecond: true, bufferSize: 3000, snaplen: 1000 });
    for (const f of frames) w.writeFrame(f.data, 0, f.data.length, f.tsSec, f.tsNsec);
    w.close();
    expect(statSync(path).size).toBe(w.bytesWritten);
    const reader = PcapReader.open(path, { chunkSize: 333 });
    expect(reader.header.snaplen).toBe(1000);
    let i = 0;
    for (const rec of reader) {
      const f = frames[i++]!;
      const capLen = Math.min(f.data.length, 1000);
      expect([rec.tsSec, rec.tsFrac, rec.capLen, rec.origLen]).toEqual([f.tsSec, f.tsNsec, capLen, f.data.length]);
      expect(rec.data).toEqual(f.data.subarray(0, capLen));
    }
    expect(i).toBe(500);
    expect(() => reader.read()).toThrow(/closed/);
  });

  it('closes the file when a for..of loop stops early', () => {
    const path = tmpFile('early.pcap');
    writeFileSync(path, file3());
    const reader = PcapReader.open(path);
    for (const rec of reader) {
      expect(rec.index).toBe(0);
      break;
    }
    expect(() => reader.read()).toThrow(PcapError);
  });

  function file3(): Uint8Array {
    return buildLe([1, 2, 3].map((n) => ({ tsSec: n, tsUsec: n, data: [n] })));
  }
});

// tshark is the independent reader: it must see every frame, every field and every checksum as written.
// CI installs tshark; a developer machine without it skips these two tests rather than failing them.
const hasTshark = spawnSync('sh', ['-c', 'command -v tshark'], { encoding: 'utf8' }).status === 0;

/** Builds an Ethernet/IPv4 frame from hex with zeroed checksums, then fills in correct ones. */
function ipv4Frame(hexText: string): Uint8Array {
  const f = hex(hexText);
  const ip = 14;
  const ihl = ((f[ip] as number) & 0x0f) * 4;
  write16(f, ip + 10, ipv4HeaderChecksum(f, ip, ihl));
  const proto = f[ip + 9] as number;
  const totalLen = ((f[ip + 2] as number) << 8) | (f[ip + 3] as number);
  const src = new DataView(f.buffer).getUint32(ip + 12);
  const dst = new DataView(f.buffer).getUint32(ip + 16);
  const l4 = ip + ihl;
  const fieldOff = proto === 6 ? 16 : 6;
  write16(f, l4 + fieldOff, l4Checksum(f, src, dst, proto, l4, totalLen - ihl, fieldOff));
  return f;
}

const ETH = '02 00 00 00 00 02  02 00 00 00 00 01  08 00';
const tsharkFrames = [
  // UDP 10.0.0.1:40000 -> 10.0.0.2:53, payload "hello".
  ipv4Frame(`${ETH}  45 00 00 21  12 34 40 00  40 11 00 00  0a 00 00 01  0a 00 00 02
    9c 40 00 35  00 0d 00 00  68 65 6c 6c 6f`),
  // TCP SYN 10.0.0.1:40001 -> 192.168.1.10:80 with an MSS option.
  ipv4Frame(`${ETH}  45 00 00 2c  12 35 40 00  40 06 00 00  0a 00 00 01  c0 a8 01 0a
    9c 41 00 50  00 00 00 64  00 00 00 00  60 02 fa f0  00 00 00 00  02 04 05 b4`),
  // TCP PSH/ACK 192.168.1.10:80 -> 10.0.0.1:40001 with 4 payload bytes.
  ipv4Frame(`${ETH}  45 00 00 2c  56 78 40 00  40 06 00 00  c0 a8 01 0a  0a 00 00 01
    00 50 9c 41  00 00 03 e8  00 00 00 65  50 18 fa f0  00 00 00 00  4f 4b 0d 0a`),
  // UDP 172.16.0.5:5000 -> 10.0.0.2:8080 with an odd-length payload.
  ipv4Frame(`${ETH}  45 00 00 1f  00 01 00 00  40 11 00 00  ac 10 00 05  0a 00 00 02
    13 88 1f 90  00 0b 00 00  61 62 63`),
];

function runTshark(path: string, fields: string[]): { status: number | null; stdout: string; stderr: string } {
  const args = ['-r', path, '-T', 'fields', '-E', 'separator=,'];
  for (const p of ['ip', 'tcp', 'udp']) args.push('-o', `${p}.check_checksum:TRUE`);
  for (const f of fields) args.push('-e', f);
  const r = spawnSync('tshark', args, { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('tshark reads what PcapWriter writes', () => {
  it.skipIf(!hasTshark)('sees every UDP and TCP frame with its addresses, ports and good checksums', () => {
    const path = tmpFile('tshark.pcap');
    const w = PcapWriter.open(path);
    tsharkFrames.forEach((f, i) => {
      w.writeFrame(f, 0, f.length, TS_SEC + i, 250_000_000 * i + 1000);
    });
    w.close();
    const r = runTshark(path, [
      'frame.number',
      'frame.time_epoch',
      'frame.len',
      'ip.src',
      'ip.dst',
      'ip.checksum.status',
      'udp.dstport',
      'udp.checksum.status',
      'tcp.dstport',
      'tcp.checksum.status',
    ]);
    expect(r.stderr).not.toMatch(/cut short|isn't a capture file|error/i);
    expect(r.status).toBe(0);
    // Checksum status 1 is Wireshark's PROTO_CHECKSUM_E_GOOD.
    expect(r.stdout.trim().split('\n')).toEqual([
      '1,1700000000.000001000,47,10.0.0.1,10.0.0.2,1,53,1,,',
      '2,1700000001.250001000,58,10.0.0.1,192.168.1.10,1,,,80,1',
      '3,1700000002.500001000,58,192.168.1.10,10.0.0.1,1,,,40001,1',
      '4,1700000003.750001000,45,172.16.0.5,10.0.0.2,1,8080,1,,',
    ]);
  });

  it.skipIf(!hasTshark)('sees frames cut by the snaplen as captured short, not as a damaged file', () => {
    const path = tmpFile('tshark-snap.pcap');
    const w = PcapWriter.open(path, { snaplen: 40, nanosecond: true });
    for (const f of tsharkFrames) w.writeFrame(f, 0, f.length, TS_SEC, 5);
    w.close();
    const r = runTshark(path, ['frame.number', 'frame.len', 'frame.cap_len', 'frame.time_epoch', 'ip.src']);
    expect(r.stderr).not.toMatch(/cut short|isn't a capture file|error/i);
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([
      '1,47,40,1700000000.000000005,10.0.0.1',
      '2,58,40,1700000000.000000005,10.0.0.1',
      '3,58,40,1700000000.000000005,192.168.1.10',
      '4,45,40,1700000000.000000005,172.16.0.5',
    ]);
  });
});
