// pcapng reading (src/io/pcapng.ts) and format sniffing (src/io/capture.ts): golden files written by hand
// from draft-ietf-opsawg-pcapng in both byte orders, timestamp units, malformed blocks, a fuzz property,
// and files converted by Wireshark's editcap from pcap files our writer made.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { captureFromBuffer, openCapture } from '../../src/io/capture.js';
import { type CaptureReader, PcapError, PcapErrorCode, type PcapRecord, PcapWriter } from '../../src/io/pcap.js';
import { PCAPNG_MAX_BLOCK_LEN, PcapngReader } from '../../src/io/pcapng.js';
import { hex } from '../helpers/bytes.js';
import { block, epb, file, idb, type Order, shb, u32 } from '../helpers/pcapng.js';

const tmp = mkdtempSync(join(tmpdir(), 'uvs-pcapng-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// One file of every block type, little-endian: SHB (1.0, section length -1); IDB (Ethernet, snaplen 262144,
// if_name "eth0", if_tsresol 9); NRB (no records); EPB (interface 0, 1700000000.123456789 s, 14 of 60
// bytes); ISB; SPB (14 bytes); DSB (TLS key log, "abcd"); Custom Block (PEN 32473); OPB (1700000001.0000005 s).
const tinyFrame = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06];
const goldenLe = hex(`
  0a0d0d0a 1c000000 4d3c2b1a 01000000 ffffffff ffffffff 1c000000
  01000000 28000000 01000000 00000400 02000400 65746830 09000100 09000000 00000000 28000000
  04000000 10000000 00000000 10000000
  06000000 30000000 00000000 fe9c9717 15cd853d 0e000000 3c000000 ffffffff ffff0200 00000001 08060000 30000000
  05000000 18000000 00000000 fe9c9717 f4cbc471 18000000
  03000000 20000000 0e000000 ffffffff ffff0200 00000001 08060000 20000000
  0a000000 18000000 4b534c54 04000000 61626364 18000000
  ad0b0000 14000000 d97e0000 7778797a 14000000
  02000000 30000000 00000000 fe9c9717 f4cbc471 0e000000 0e000000 ffffffff ffff0200 00000001 08060000 30000000`);
const goldenBe = hex(`
  0a0d0d0a 0000001c 1a2b3c4d 00010000 ffffffff ffffffff 0000001c
  00000001 00000028 00010000 00040000 00020004 65746830 00090001 09000000 00000000 00000028
  00000004 00000010 00000000 00000010
  00000006 00000030 00000000 17979cfe 3d85cd15 0000000e 0000003c ffffffff ffff0200 00000001 08060000 00000030
  00000005 00000018 00000000 17979cfe 71c4cbf4 00000018
  00000003 00000020 0000000e ffffffff ffff0200 00000001 08060000 00000020
  0000000a 00000018 544c534b 00000004 61626364 00000018
  00000bad 00000014 00007ed9 7778797a 00000014
  00000002 00000030 00000000 17979cfe 71c4cbf4 0000000e 0000000e ffffffff ffff0200 00000001 08060000 00000030`);
/** Block offsets in both golden files. */
const at = { shb: 0, idb: 28, nrb: 68, epb: 84, isb: 132, spb: 156, dsb: 188, cb: 212, opb: 232, end: 280 };

interface Plain {
  interfaceId: number;
  section: number;
  tsSec: number;
  tsFrac: number;
  capLen: number;
  origLen: number;
  fileOffset: number;
  data: number[];
}

function plain(rec: PcapRecord): Plain {
  return {
    interfaceId: rec.interfaceId,
    section: rec.section,
    tsSec: rec.tsSec,
    tsFrac: rec.tsFrac,
    capLen: rec.capLen,
    origLen: rec.origLen,
    fileOffset: rec.fileOffset,
    data: [...rec.data],
  };
}

/** Every record, copied, with the error that ended the file (null at a clean end). */
function readAll(open: () => CaptureReader): { records: Plain[]; error: unknown } {
  const records: Plain[] = [];
  try {
    for (const rec of open()) records.push(plain(rec));
    return { records, error: null };
  } catch (error) {
    return { records, error };
  }
}

function expectPcapError(error: unknown, code: string, offset: number): void {
  expect(error).toBeInstanceOf(PcapError);
  expect(error).toMatchObject({ code, offset });
  expect((error as Error).message).toContain(`[${code}]`);
}

const goldenRecords: Plain[] = [
  {
    interfaceId: 0,
    section: 0,
    tsSec: 1700000000,
    tsFrac: 123456789,
    capLen: 14,
    origLen: 60,
    fileOffset: at.epb,
    data: tinyFrame,
  },
  // An SPB has no timestamp: it takes the previous packet's.
  {
    interfaceId: 0,
    section: 0,
    tsSec: 1700000000,
    tsFrac: 123456789,
    capLen: 14,
    origLen: 14,
    fileOffset: at.spb,
    data: tinyFrame,
  },
  {
    interfaceId: 0,
    section: 0,
    tsSec: 1700000001,
    tsFrac: 500,
    capLen: 14,
    origLen: 14,
    fileOffset: at.opb,
    data: tinyFrame,
  },
];

describe('pcapng golden files', () => {
  it('reads every block type little-endian: packets from EPB, SPB and OPB, the rest skipped', () => {
    const reader = PcapngReader.fromBuffer(goldenLe);
    expect(reader.format).toBe('pcapng');
    expect(reader.nanosecond).toBe(true);
    expect(reader.interfaces).toEqual([
      { id: 0, section: 0, name: 'eth0', linkType: 1, snaplen: 262144, tsresol: 9, tsOffset: 0, fileOffset: at.idb },
    ]);
    expect(readAll(() => reader)).toEqual({ records: goldenRecords, error: null });
  });

  it('reads the same file big-endian to the same records', () => {
    expect(readAll(() => PcapngReader.fromBuffer(goldenBe))).toEqual({ records: goldenRecords, error: null });
  });

  it('is told apart from pcap by its first bytes, from a buffer and from a file', () => {
    expect(captureFromBuffer(goldenBe).format).toBe('pcapng');
    const path = join(tmp, 'golden.pcapng');
    writeFileSync(path, goldenLe);
    for (const chunkSize of [1, 5, 64, 4096]) {
      expect(
        readAll(() => openCapture(path, { chunkSize })),
        `chunk ${chunkSize}`,
      ).toEqual({
        records: goldenRecords,
        error: null,
      });
    }
    const w = PcapWriter.inMemory();
    w.writeFrame(Uint8Array.from(tinyFrame), 0, 14, 5, 6000);
    writeFileSync(join(tmp, 'one.pcap'), w.toBuffer());
    const pcap = openCapture(join(tmp, 'one.pcap'));
    expect(pcap.format).toBe('pcap');
    expect(readAll(() => pcap).records.map((r) => [r.tsSec, r.tsFrac, r.data])).toEqual([[5, 6000, tinyFrame]]);
  });

  it('reports a capture it cannot open as PCAP_IO, naming the path', () => {
    expect(() => openCapture(join(tmp, 'missing.pcapng'))).toThrow(/cannot open .*missing\.pcapng.*\[PCAP_IO\]/);
  });

  it('reads several sections in different byte orders, numbering interfaces afresh in each', () => {
    const bytes = file(
      shb('le'),
      idb('le', { name: 'a0' }),
      idb('le', { name: 'a1' }),
      epb('le', 1, 7_000_001n, [1, 2, 3]),
      epb('le', 0, 7_000_002n, [4]),
      shb('be'),
      idb('be', { name: 'b0', tsresol: 3 }),
      epb('be', 0, 9_001n, [5, 6, 7, 8, 9]),
    );
    const reader = PcapngReader.fromBuffer(bytes);
    expect(reader.interfaces.map((i) => [i.section, i.id, i.name])).toEqual([
      [0, 0, 'a0'],
      [0, 1, 'a1'],
    ]);
    const { records, error } = readAll(() => reader);
    expect(error).toBeNull();
    expect(records.map((r) => [r.section, r.interfaceId, r.tsSec, r.tsFrac, r.data])).toEqual([
      [0, 1, 7, 1000, [1, 2, 3]],
      [0, 0, 7, 2000, [4]],
      [1, 0, 9, 1_000_000, [5, 6, 7, 8, 9]],
    ]);
    expect(reader.interfaces.map((i) => [i.section, i.id, i.name])).toEqual([
      [0, 0, 'a0'],
      [0, 1, 'a1'],
      [1, 0, 'b0'],
    ]);
  });

  it('skips a section of another version whole, as the draft asks, and reads the next', () => {
    const bytes = file(
      shb('le', 2, 0),
      idb('le'),
      epb('le', 0, 1n, [0xaa]),
      shb('le', 1, 2),
      idb('le'),
      epb('le', 0, 2_000_000n, [0xbb]),
    );
    const reader = PcapngReader.fromBuffer(bytes);
    expect(readAll(() => reader).records.map((r) => [r.section, r.tsSec, r.data])).toEqual([[1, 2, [0xbb]]]);
    expect(reader.skippedSections).toBe(1);
  });
});

describe('pcapng timestamps', () => {
  // [if_tsresol (undefined: absent), units, seconds, nanoseconds]
  const cases: [number | undefined, bigint, number, number][] = [
    [undefined, 1_700_000_000_123_456n, 1700000000, 123_456_000],
    [6, 1_700_000_000_999_999n, 1700000000, 999_999_000],
    [9, 1_700_000_000_123_456_789n, 1700000000, 123_456_789],
    [9, 0xffff_ffff_ffff_ffffn, 18446744073, 709_551_615],
    [3, 1_700_000_000_042n, 1700000000, 42_000_000],
    [0, 1_700_000_000n, 1700000000, 0],
    [11, 170_000_000_012_345_678_912n & 0xffff_ffff_ffff_ffffn, 0, 0],
    [12, 1_700_000_000_123_456_789_012n & 0xffff_ffff_ffff_ffffn, 0, 0],
    [0x80 | 10, 1_700_000_000n * 1024n + 512n, 1700000000, 500_000_000],
    [0x80 | 20, 1_700_000_000n * 1_048_576n + 1n, 1700000000, 953],
    [0x80 | 32, 1_000n * 4_294_967_296n + 2_147_483_648n, 1000, 500_000_000],
    [0x80 | 40, 3n * 2n ** 40n + 2n ** 38n, 3, 250_000_000],
  ];
  // The two 10^-11 and 10^-12 rows are filled in from the units with BigInt, the reference arithmetic.
  for (const row of cases) {
    if (row[0] === 11 || row[0] === 12) {
      const per = 10n ** BigInt(row[0]);
      row[2] = Number(row[1] / per);
      row[3] = Number(((row[1] % per) * 1_000_000_000n) / per);
    }
  }

  it.each(cases)('if_tsresol %s: %s units are %s s + %s ns', (tsresol, units, sec, nsec) => {
    const bytes = file(shb('le'), idb('le', { tsresol }), epb('le', 0, units, [1]));
    const rec = PcapngReader.fromBuffer(bytes).read()!;
    expect([rec.tsSec, rec.tsFrac]).toEqual([sec, nsec]);
  });

  it('adds if_tsoffset seconds', () => {
    const bytes = file(shb('be'), idb('be', { tsoffset: 1_000_000_000n }), epb('be', 0, 700_000_000_000_001n, [1]));
    const rec = PcapngReader.fromBuffer(bytes).read()!;
    expect([rec.tsSec, rec.tsFrac]).toEqual([1_700_000_000, 1000]);
  });

  it('says microseconds or finer from the interfaces described before the first packet', () => {
    expect(PcapngReader.fromBuffer(file(shb('le'), idb('le'), epb('le', 0, 1n, [1]))).nanosecond).toBe(false);
    expect(PcapngReader.fromBuffer(file(shb('le'), idb('le', { tsresol: 0x80 | 20 }))).nanosecond).toBe(true);
    expect(PcapngReader.fromBuffer(file(shb('le'), idb('le', { tsresol: 0x80 | 19 }))).nanosecond).toBe(false);
  });
});

describe('pcapng errors', () => {
  it('refuses a packet on a non-Ethernet interface, naming the interface and the link type', () => {
    const bytes = file(
      shb('le'),
      idb('le', { name: 'eth0' }),
      idb('le', { name: 'any', linkType: 113 }),
      epb('le', 0, 1n, [1]),
      epb('le', 1, 2n, [2]),
    );
    const { records, error } = readAll(() => PcapngReader.fromBuffer(bytes));
    expect(records).toHaveLength(1);
    // SHB 28, two IDBs of 32 (8 fixed bytes, a name option of 8, an end of options, 12 of framing) and an
    // EPB of 36 (1 data byte padded to 4): the second EPB starts at 28 + 32 + 32 + 36.
    expectPcapError(error, PcapErrorCode.unsupportedLinkType, 128);
    expect((error as Error).message).toMatch(/interface 1 \(any\) of section 0: unsupported link type 113 \(LINUX_SLL/);
  });

  it('reads an interface of another link type that carries no packets', () => {
    const bytes = file(shb('le'), idb('le', { linkType: 276 }), idb('le'), epb('le', 1, 1n, [9]));
    expect(readAll(() => PcapngReader.fromBuffer(bytes)).records.map((r) => r.data)).toEqual([[9]]);
  });

  it('refuses a packet on an interface its section has not described', () => {
    const bytes = file(shb('le'), idb('le'), epb('le', 3, 1n, [1]));
    expectPcapError(readAll(() => PcapngReader.fromBuffer(bytes)).error, PcapErrorCode.ngUnknownInterface, 48);
    const spbOnly = file(shb('le'), block(3, [...u32(1, 'le'), 7, 0, 0, 0], 'le'));
    const err = readAll(() => PcapngReader.fromBuffer(spbOnly)).error;
    expectPcapError(err, PcapErrorCode.ngUnknownInterface, 28);
    expect((err as Error).message).toContain('describes no interfaces');
  });

  /** The golden file with the 32-bit word at `offset` replaced (little-endian). */
  function patched(offset: number, value: number): Uint8Array {
    const bytes = Uint8Array.from(goldenLe);
    new DataView(bytes.buffer).setUint32(offset, value, true);
    return bytes;
  }

  it.each([
    ['below the minimum', at.epb + 4, 28, PcapErrorCode.ngBadBlockLength, at.epb, 0],
    ['not a multiple of 4', at.nrb + 4, 18, PcapErrorCode.ngBadBlockLength, at.nrb, 0],
    ['above the maximum', at.dsb + 4, PCAPNG_MAX_BLOCK_LEN + 4, PcapErrorCode.ngBadBlockLength, at.dsb, 2],
    ['past the end of the file', at.cb + 4, 0x1000, PcapErrorCode.ngTruncatedBlock, at.cb, 2],
    ['different at the end', at.isb + 20, 28, PcapErrorCode.ngBlockLengthMismatch, at.isb, 1],
    ['with a captured length past its block', at.opb + 20, 17, PcapErrorCode.ngBadPacketLength, at.opb, 2],
    ['with an SPB snaplen-capped length past its block', at.spb + 8, 17, PcapErrorCode.ngBadPacketLength, at.spb, 1],
    ['with an option running past its block', at.idb + 16, 0x00200002, PcapErrorCode.ngBadOption, at.idb, 0],
    ['with a 2-byte if_tsresol', at.idb + 24, 0x00020009, PcapErrorCode.ngBadOption, at.idb, 0],
    ['with a bad byte-order magic', at.shb + 8, 0x1a2b3c4e, PcapErrorCode.ngBadByteOrderMagic, at.shb, 0],
  ] as const)(
    'a block %s is refused with its offset, after the packets before it',
    (_, offset, value, code, where, before) => {
      const { records, error } = readAll(() => PcapngReader.fromBuffer(patched(offset, value)));
      expect(records).toEqual(goldenRecords.slice(0, before));
      expectPcapError(error, code, where);
    },
  );

  it('delivers the packets before every possible cut of the file, then names the cut block', () => {
    const starts = [at.shb, at.idb, at.nrb, at.epb, at.isb, at.spb, at.dsb, at.cb, at.opb, at.end];
    for (let len = 0; len <= goldenLe.length; len++) {
      const { records, error } = readAll(() => PcapngReader.fromBuffer(goldenLe.subarray(0, len)));
      const complete = goldenRecords.filter((r) => starts[starts.indexOf(r.fileOffset) + 1]! <= len).length;
      expect(records, `cut at ${len}`).toEqual(goldenRecords.slice(0, complete));
      if (len === 0) expectPcapError(error, PcapErrorCode.truncatedHeader, 0);
      else if (starts.includes(len)) expect(error, `cut at ${len}`).toBeNull();
      else {
        const blockStart = Math.max(...starts.filter((s) => s < len));
        expectPcapError(error, PcapErrorCode.ngTruncatedBlock, blockStart);
      }
    }
  });

  it('refuses a file that does not start with a Section Header Block', () => {
    const err = readAll(() => PcapngReader.fromBuffer(goldenLe.subarray(at.idb))).error;
    expectPcapError(err, PcapErrorCode.badMagic, 0);
  });

  it('throws nothing but PcapError on corrupted or cut files, from buffers and through small chunks', () => {
    const path = join(tmp, 'fuzz.pcapng');
    fc.assert(
      fc.property(
        fc.constantFrom(goldenLe, goldenBe),
        fc.array(fc.tuple(fc.nat(goldenLe.length - 1), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.nat(goldenLe.length),
        fc.boolean(),
        (golden, edits, len, viaFile) => {
          const bytes = Uint8Array.from(golden.subarray(0, len));
          for (const [i, value] of edits) if (i < bytes.length) bytes[i] = value;
          let open: () => CaptureReader = () => captureFromBuffer(bytes);
          if (viaFile) {
            writeFileSync(path, bytes);
            open = () => openCapture(path, { chunkSize: 7 });
          }
          const { records, error } = readAll(open);
          if (error !== null) expect(error).toBeInstanceOf(PcapError);
          for (const r of records) expect(r.data.length).toBe(r.capLen);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('throws nothing but PcapError on arbitrary blocks after a section header', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.constantFrom<Order>('le', 'be'), (tail, o) => {
        const bytes = Uint8Array.from([...shb(o), ...idb(o, { tsresol: 0x80 | 40 }), ...tail]);
        const { error } = readAll(() => PcapngReader.fromBuffer(bytes));
        if (error !== null) expect(error).toBeInstanceOf(PcapError);
      }),
      { numRuns: 2000 },
    );
  });
});

// editcap (Wireshark) is the independent writer: a pcap our writer made, converted by it to pcapng, must
// read to the same frames and timestamps. CI installs tshark, which brings editcap; without it these skip.
const hasEditcap = spawnSync('sh', ['-c', 'command -v editcap'], { encoding: 'utf8' }).status === 0;

describe('pcapng written by editcap', () => {
  it.skipIf(!hasEditcap)('reads the frames of a pcap converted with editcap -F pcapng, µs and ns', () => {
    const frames = fc.sample(fc.uint8Array({ minLength: 14, maxLength: 1514 }), { numRuns: 40, seed: 7 });
    for (const nanosecond of [false, true]) {
      const pcapPath = join(tmp, `editcap-${nanosecond}.pcap`);
      const ngPath = join(tmp, `editcap-${nanosecond}.pcapng`);
      const w = PcapWriter.open(pcapPath, { nanosecond, snaplen: 1000 });
      frames.forEach((f, i) => {
        w.writeFrame(f, 0, f.length, 1_700_000_000 + i, (i * 123_456_789) % 1_000_000_000);
      });
      w.close();
      const run = spawnSync('editcap', ['-F', 'pcapng', pcapPath, ngPath], { encoding: 'utf8' });
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      const fromPcap = readAll(() => openCapture(pcapPath));
      const ngReader = openCapture(ngPath);
      expect(ngReader.format).toBe('pcapng');
      expect(ngReader.nanosecond).toBe(nanosecond);
      const fromNg = readAll(() => ngReader);
      expect(fromNg.error).toBeNull();
      expect(fromNg.records).toHaveLength(frames.length);
      const comparable = (r: Plain) => [r.tsSec, r.tsFrac, r.capLen, r.origLen, r.data];
      expect(fromNg.records.map(comparable)).toEqual(fromPcap.records.map(comparable));
    }
  });
});
