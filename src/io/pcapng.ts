// pcapng capture files (draft-ietf-opsawg-pcapng), Wireshark's and dumpcap's default format: read for
// `uvs replay`, `uvs trace` and the file I/O backend, which take them as they take pcap (capture.ts tells
// the two apart). Ethernet (LINKTYPE_ETHERNET) only, as for pcap.
//
// A file is a sequence of blocks, each `type, total length, body, total length again`, padded to 4 bytes.
// A Section Header Block (SHB) starts each section and says its byte order; Interface Description Blocks
// (IDB) number the section's interfaces from 0 and give each a link type, a snaplen and a timestamp unit;
// packets come in Enhanced (EPB), Simple (SPB) or obsolete Packet Blocks (OPB). Every other block (name
// resolution, interface statistics, decryption secrets, custom ones) is skipped by its length.
//
//   SHB (0x0a0d0d0a)          IDB (1)                   EPB (6)                 SPB (3)
//   0  type                   0  type                   0  type                 0  type
//   4  total length           4  total length           4  total length         4  total length
//   8  byte-order magic       8  link type | reserved   8  interface id         8  original length
//   12 major | minor          12 snaplen                12 timestamp high       12 data, padded
//   16 section length (64)    16 options                16 timestamp low        .. total length
//   24 options                .. total length           20 captured length
//   .. total length                                     24 original length      OPB (2): as EPB, with a
//                                                       28 data, padded         16-bit interface id and
//                                                       .. options, length      a 16-bit drop count at 8
//
// Timestamps are 64-bit counts of the interface's unit (if_tsresol: 10^-n or 2^-n seconds, 10^-6 when
// absent) plus if_tsoffset seconds. They are split into (seconds, nanoseconds) with plain numbers for the
// usual units; a BigInt per packet is used only for units finer than 10^-11 s or 2^-32 s.
import { ByteWindow } from './byte-window.js';
import {
  type AdoptedFdOptions,
  type CaptureInterface,
  DEFAULT_CHUNK,
  describeLinkType,
  LINKTYPE_ETHERNET,
  openForReading,
  PCAPNG_MAGIC,
  PcapError,
  PcapErrorCode,
  type PcapReaderOptions,
  type PcapRecord,
  RecordReader,
  readFailure,
} from './pcap.js';

export const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;

export const BlockType = {
  sectionHeader: PCAPNG_MAGIC,
  interfaceDescription: 1,
  obsoletePacket: 2,
  simplePacket: 3,
  nameResolution: 4,
  interfaceStatistics: 5,
  enhancedPacket: 6,
  decryptionSecrets: 0x0a,
  custom: 0x00000bad,
  customNoCopy: 0x40000bad,
} as const;

/**
 * Largest block read. Wireshark refuses blocks above 16 MiB as corrupt too; the limit keeps a garbage
 * length from making the reader allocate gigabytes before it finds the file is shorter.
 */
export const PCAPNG_MAX_BLOCK_LEN = 16 * 1024 * 1024;

/** Block header (type, length) plus the trailing length: the smallest block there can be. */
const BLOCK_OVERHEAD = 12;
/** Smallest total length per block type: the fixed fields plus BLOCK_OVERHEAD. */
const MIN_SHB_LEN = 28;
const MIN_IDB_LEN = 20;
const MIN_EPB_LEN = 32;
const MIN_SPB_LEN = 16;
/** Packet data starts here in an EPB and an OPB, and at 12 in an SPB. */
const EPB_DATA = 28;
const SPB_DATA = 12;

const OptionCode = { endOfOptions: 0, ifName: 2, ifTsresol: 9, ifTsoffset: 14 } as const;

/** The microsecond unit pcapng assumes for an interface without if_tsresol. */
const DEFAULT_TSRESOL = 6;
const NS_PER_SEC = 1_000_000_000;
const TWO_POW_32 = 0x1_0000_0000;
/** Above this many units a second, (hi % d) * 2^16 may pass 2^53 and the plain-number split would round. */
const MAX_EXACT_DIVISOR = 2 ** 37;

export interface PcapngInterface extends CaptureInterface {
  /** if_tsresol as the file has it (6 when absent): bit 7 set is 2^-n seconds, clear is 10^-n. */
  tsresol: number;
  /** if_tsoffset, seconds added to every timestamp. */
  tsOffset: number;
  /** File offset of its Interface Description Block. */
  fileOffset: number;
}

/** Plain numbers where they are exact; see `splitTimestamp`. */
interface Unit {
  /** Units per second when it is at most MAX_EXACT_DIVISOR, else 0 (the BigInt path). */
  perSec: number;
  /** Nanoseconds = remainder * mul / div, both exact for the units that use them. */
  mul: number;
  div: number;
  /** 10^n or 2^n units per second, for the BigInt path. */
  perSecBig: bigint;
}

function unitOf(tsresol: number): Unit {
  const binary = (tsresol & 0x80) !== 0;
  const n = tsresol & 0x7f;
  const perSecBig = binary ? 1n << BigInt(n) : 10n ** BigInt(n);
  let perSec = 0;
  let mul = 1;
  let div = 1;
  if (!binary && 10 ** n <= MAX_EXACT_DIVISOR) {
    perSec = 10 ** n;
    if (n <= 9) mul = 10 ** (9 - n);
    else div = 10 ** (n - 9);
  } else if (binary && n <= 32) {
    // remainder * 10^9 / 2^n, with 10^9 = 2^9 * 1953125: the product with 1953125 stays below 2^53 and a
    // division by a power of two is exact, so nothing rounds before the floor.
    perSec = 2 ** n;
    mul = 1953125;
    if (n >= 9) div = 2 ** (n - 9);
    else mul *= 2 ** (9 - n);
  }
  return { perSec, mul, div, perSecBig };
}

/** Whether timestamps in this unit are finer than microseconds. */
function finerThanMicro(tsresol: number): boolean {
  const n = tsresol & 0x7f;
  return (tsresol & 0x80) !== 0 ? 2 ** n > 1_000_000 : n > 6;
}

/**
 * Writes the (seconds, nanoseconds) of `hi * 2^32 + lo` units into `rec`. Long division in 16-bit steps
 * keeps every intermediate below 2^53 for divisors up to 2^37, so the usual units (µs, ns, 2^-n) never
 * round and never allocate.
 */
function splitTimestamp(rec: PcapRecord, hi: number, lo: number, unit: Unit, offsetSec: number): void {
  const d = unit.perSec;
  if (d > 0) {
    const hiQ = Math.floor(hi / d);
    const x = (hi - hiQ * d) * 0x10000 + (lo >>> 16);
    const q1 = Math.floor(x / d);
    const y = (x - q1 * d) * 0x10000 + (lo & 0xffff);
    const q2 = Math.floor(y / d);
    const rem = y - q2 * d;
    rec.tsSec = hiQ * TWO_POW_32 + q1 * 0x10000 + q2 + offsetSec;
    rec.tsFrac = Math.floor((rem * unit.mul) / unit.div);
    return;
  }
  const units = (BigInt(hi) << 32n) | BigInt(lo);
  const rem = units % unit.perSecBig;
  rec.tsSec = Number(units / unit.perSecBig) + offsetSec;
  rec.tsFrac = Number((rem * BigInt(NS_PER_SEC)) / unit.perSecBig);
}

interface InterfaceState {
  desc: PcapngInterface;
  unit: Unit;
}

const textDecoder = new TextDecoder('utf-8');

/**
 * Reads a pcapng file, from a file in chunks or from a buffer in place. Opening reads the first Section
 * Header Block and every block up to the first packet, so `nanosecond` can tell the writer of `uvs replay`
 * the resolution to keep. Later sections may switch byte order; their interfaces are numbered afresh. A
 * section of a version other than 1.0 (or 1.2, its equal) is skipped whole, as the format asks.
 *
 * Each record keeps the Interface ID and section of its packet. An SPB has no timestamp and is given the
 * previous packet's, so the clock of a replay does not run backwards. A packet on an interface whose link
 * type is not Ethernet ends the file with PCAP_UNSUPPORTED_LINKTYPE naming the interface; interfaces that
 * carry no packets may be of any type.
 */
export class PcapngReader extends RecordReader {
  readonly format = 'pcapng';
  /** Whether an interface described before the first packet has a unit finer than a microsecond. */
  readonly nanosecond: boolean;
  /** Sections skipped for an unknown version. */
  skippedSections = 0;
  private readonly all: PcapngInterface[] = [];
  /** The current section's interfaces, indexed by Interface ID. */
  private current: InterfaceState[] = [];
  private le = true;
  private section = -1;
  private skipping = false;
  /** A packet block sits whole at win.start, not yet decoded (opening stops at the first one). */
  private pending = false;
  private nextIndex = 0;

  private constructor(win: ByteWindow) {
    super(win);
    try {
      // 1 to 3 bytes are a block header cut short, which nextPacketBlock reports.
      const type = win.fill(4) ? win.view.getUint32(win.start, true) : BlockType.sectionHeader;
      if (win.available === 0) {
        throw new PcapError(PcapErrorCode.truncatedHeader, 0, 'pcapng: file is empty, expected a Section Header Block');
      }
      if (type !== BlockType.sectionHeader) {
        throw new PcapError(
          PcapErrorCode.badMagic,
          0,
          `pcapng: the file starts with block type 0x${type.toString(16).padStart(8, '0')}, not a Section Header Block`,
        );
      }
      this.pending = this.nextPacketBlock();
    } catch (err) {
      this.close();
      throw readFailure(err, 'pcapng');
    }
    this.nanosecond = this.all.some((i) => finerThanMicro(i.tsresol));
  }

  static fromBuffer(bytes: Uint8Array): PcapngReader {
    return new PcapngReader(ByteWindow.fromBuffer(bytes));
  }

  static open(path: string, options: PcapReaderOptions = {}): PcapngReader {
    return PcapngReader.fromFd(openForReading(path, 'pcapng'), { ...options, ownsFd: true });
  }

  static fromFd(fd: number, options: AdoptedFdOptions = {}): PcapngReader {
    return new PcapngReader(
      ByteWindow.fromFd(fd, options.ownsFd ?? false, options.chunkSize ?? DEFAULT_CHUNK, options.prefix),
    );
  }

  /** Every interface described so far, across sections, in file order. */
  get interfaces(): readonly PcapngInterface[] {
    return this.all;
  }

  protected readRecord(): PcapRecord | null {
    if (!this.pending && !this.nextPacketBlock()) return null;
    this.pending = false;
    const w = this.win;
    const v = w.view;
    const s = w.start;
    const le = this.le;
    const at = w.offset;
    const type = v.getUint32(s, le);
    const len = v.getUint32(s + 4, le);
    const rec = this.record;
    let ifId: number;
    let dataOff: number;
    let capLen: number;
    let origLen: number;
    if (type === BlockType.simplePacket) {
      ifId = 0;
      dataOff = SPB_DATA;
      origLen = v.getUint32(s + 8, le);
      const iface = this.interfaceFor(0, at, 'a Simple Packet Block');
      capLen = iface.desc.snaplen > 0 && iface.desc.snaplen < origLen ? iface.desc.snaplen : origLen;
      if (capLen > len - MIN_SPB_LEN) {
        throw new PcapError(
          PcapErrorCode.ngBadPacketLength,
          at,
          `pcapng: Simple Packet Block of ${len} bytes cannot hold its ${capLen} captured bytes`,
        );
      }
      // No timestamp in an SPB: tsSec and tsFrac keep the previous packet's.
    } else {
      ifId = type === BlockType.enhancedPacket ? v.getUint32(s + 8, le) : v.getUint16(s + 8, le);
      dataOff = EPB_DATA;
      capLen = v.getUint32(s + 20, le);
      origLen = v.getUint32(s + 24, le);
      const name = type === BlockType.enhancedPacket ? 'an Enhanced Packet Block' : 'a Packet Block';
      const iface = this.interfaceFor(ifId, at, name);
      if (EPB_DATA + capLen + 4 > len) {
        throw new PcapError(
          PcapErrorCode.ngBadPacketLength,
          at,
          `pcapng: ${name} of ${len} bytes cannot hold its ${capLen} captured bytes`,
        );
      }
      splitTimestamp(rec, v.getUint32(s + 12, le), v.getUint32(s + 16, le), iface.unit, iface.desc.tsOffset);
    }
    rec.index = this.nextIndex++;
    rec.fileOffset = at;
    rec.capLen = capLen;
    rec.origLen = origLen;
    rec.buf = w.bytes;
    rec.off = s + dataOff;
    rec.interfaceId = ifId;
    rec.section = this.section;
    w.start = s + len;
    return rec;
  }

  /** The interface a packet block names, checked to exist and to be Ethernet. */
  private interfaceFor(id: number, at: number, block: string): InterfaceState {
    const iface = this.current[id];
    if (iface === undefined) {
      throw new PcapError(
        PcapErrorCode.ngUnknownInterface,
        at,
        `pcapng: ${block} names interface ${id}, but section ${this.section} describes ` +
          `${this.current.length === 0 ? 'no interfaces' : `only interfaces 0-${this.current.length - 1}`}`,
      );
    }
    if (iface.desc.linkType !== LINKTYPE_ETHERNET) {
      throw new PcapError(
        PcapErrorCode.unsupportedLinkType,
        at,
        `pcapng: packet on interface ${id}${iface.desc.name === null ? '' : ` (${iface.desc.name})`} of section ` +
          `${this.section}: unsupported ${describeLinkType(iface.desc.linkType)}; uvs reads only Ethernet ` +
          '(LINKTYPE_ETHERNET, 1)',
      );
    }
    return iface;
  }

  /**
   * Reads blocks until a packet block of a readable section lies whole at win.start (true) or the file
   * ends cleanly between blocks (false). Section headers and interface descriptions are taken in on the
   * way; every other block is skipped.
   */
  private nextPacketBlock(): boolean {
    const w = this.win;
    for (;;) {
      const at = w.offset;
      if (!w.fill(8)) {
        if (w.available === 0) return false;
        throw new PcapError(
          PcapErrorCode.ngTruncatedBlock,
          at,
          `pcapng: block header cut short: ${w.available} of 8 bytes`,
        );
      }
      // The SHB's type reads the same in both byte orders; its byte-order magic sets the section's order.
      const type = w.view.getUint32(w.start, this.le);
      if (type === BlockType.sectionHeader) this.le = this.byteOrderOf(at);
      const len = this.wholeBlock(at, type);
      const s = w.start;
      switch (type) {
        case BlockType.sectionHeader:
          this.startSection();
          break;
        case BlockType.interfaceDescription:
          if (!this.skipping) this.describeInterface(at, len);
          break;
        case BlockType.enhancedPacket:
        case BlockType.obsoletePacket:
        case BlockType.simplePacket:
          if (!this.skipping) return true;
          break;
      }
      w.start = s + len;
    }
  }

  /** The byte order an SHB at `at` declares (true: little-endian), from its byte-order magic. */
  private byteOrderOf(at: number): boolean {
    const w = this.win;
    if (!w.fill(12)) {
      throw new PcapError(
        PcapErrorCode.ngTruncatedBlock,
        at,
        `pcapng: Section Header Block cut short: ${w.available} of at least ${MIN_SHB_LEN} bytes`,
      );
    }
    const magic = w.view.getUint32(w.start + 8, true);
    if (magic === PCAPNG_BYTE_ORDER_MAGIC) return true;
    if (w.view.getUint32(w.start + 8, false) === PCAPNG_BYTE_ORDER_MAGIC) return false;
    throw new PcapError(
      PcapErrorCode.ngBadByteOrderMagic,
      at,
      `pcapng: Section Header Block byte-order magic 0x${magic.toString(16).padStart(8, '0')} is 1a2b3c4d in ` +
        'neither byte order',
    );
  }

  /**
   * Checks the Block Total Length of the block at `at` (at least the type's minimum, a multiple of 4, at
   * most PCAPNG_MAX_BLOCK_LEN, within the file, equal at both ends) and makes the whole block available.
   */
  private wholeBlock(at: number, type: number): number {
    const w = this.win;
    const len = w.view.getUint32(w.start + 4, this.le);
    const min = minimumLength(type);
    if (len < min || len % 4 !== 0 || len > PCAPNG_MAX_BLOCK_LEN) {
      const why =
        len < min
          ? `below the ${min}-byte minimum`
          : len % 4 !== 0
            ? 'not a multiple of 4'
            : `above the ${PCAPNG_MAX_BLOCK_LEN}-byte maximum`;
      throw new PcapError(
        PcapErrorCode.ngBadBlockLength,
        at,
        `pcapng: ${blockName(type)} has total length ${len}, ${why}`,
      );
    }
    if (!w.fill(len)) {
      throw new PcapError(
        PcapErrorCode.ngTruncatedBlock,
        at,
        `pcapng: ${blockName(type)} of ${len} bytes cut short: the file holds ${w.available}`,
      );
    }
    const trailer = w.view.getUint32(w.start + len - 4, this.le);
    if (trailer !== len) {
      throw new PcapError(
        PcapErrorCode.ngBlockLengthMismatch,
        at,
        `pcapng: ${blockName(type)} has total length ${len} at its start but ${trailer} at its end`,
      );
    }
    return len;
  }

  private startSection(): void {
    const v = this.win.view;
    const s = this.win.start;
    const major = v.getUint16(s + 12, this.le);
    const minor = v.getUint16(s + 14, this.le);
    this.section++;
    this.current = [];
    // Minor 2 was written by some tools for what is 1.0 (the draft says to read it as 1.0).
    this.skipping = !(major === 1 && (minor === 0 || minor === 2));
    if (this.skipping) this.skippedSections++;
  }

  private describeInterface(at: number, len: number): void {
    const v = this.win.view;
    const s = this.win.start;
    const le = this.le;
    let name: string | null = null;
    let tsresol = DEFAULT_TSRESOL;
    let tsOffset = 0;
    const end = s + len - 4;
    let p = s + 16;
    while (p + 4 <= end) {
      const code = v.getUint16(p, le);
      const optLen = v.getUint16(p + 2, le);
      if (code === OptionCode.endOfOptions) break;
      const value = p + 4;
      if (value + optLen > end) {
        throw new PcapError(
          PcapErrorCode.ngBadOption,
          at,
          `pcapng: Interface Description Block option ${code} of ${optLen} bytes runs past the block`,
        );
      }
      if (code === OptionCode.ifName) {
        const bytes = this.win.bytes.subarray(value, value + optLen);
        const nul = bytes.indexOf(0);
        name = textDecoder.decode(nul < 0 ? bytes : bytes.subarray(0, nul));
      } else if (code === OptionCode.ifTsresol || code === OptionCode.ifTsoffset) {
        const want = code === OptionCode.ifTsresol ? 1 : 8;
        if (optLen !== want) {
          throw new PcapError(
            PcapErrorCode.ngBadOption,
            at,
            `pcapng: Interface Description Block option ${code === OptionCode.ifTsresol ? 'if_tsresol' : 'if_tsoffset'} ` +
              `is ${optLen} bytes, not ${want}`,
          );
        }
        if (code === OptionCode.ifTsresol) tsresol = v.getUint8(value);
        else tsOffset = Number(v.getBigInt64(value, le));
      }
      p = value + optLen + ((4 - (optLen % 4)) % 4);
    }
    const desc: PcapngInterface = {
      id: this.current.length,
      section: this.section,
      name,
      linkType: v.getUint16(s + 8, le),
      snaplen: v.getUint32(s + 12, le),
      tsresol,
      tsOffset,
      fileOffset: at,
    };
    this.current.push({ desc, unit: unitOf(tsresol) });
    this.all.push(desc);
  }
}

function minimumLength(type: number): number {
  switch (type) {
    case BlockType.sectionHeader:
      return MIN_SHB_LEN;
    case BlockType.interfaceDescription:
      return MIN_IDB_LEN;
    case BlockType.enhancedPacket:
    case BlockType.obsoletePacket:
      return MIN_EPB_LEN;
    case BlockType.simplePacket:
      return MIN_SPB_LEN;
    default:
      return BLOCK_OVERHEAD;
  }
}

const blockNames: Readonly<Record<number, string>> = {
  [BlockType.sectionHeader]: 'Section Header Block',
  [BlockType.interfaceDescription]: 'Interface Description Block',
  [BlockType.obsoletePacket]: 'Packet Block',
  [BlockType.simplePacket]: 'Simple Packet Block',
  [BlockType.nameResolution]: 'Name Resolution Block',
  [BlockType.interfaceStatistics]: 'Interface Statistics Block',
  [BlockType.enhancedPacket]: 'Enhanced Packet Block',
  [BlockType.decryptionSecrets]: 'Decryption Secrets Block',
  [BlockType.custom]: 'Custom Block',
  [BlockType.customNoCopy]: 'Custom Block',
};

function blockName(type: number): string {
  return blockNames[type] ?? `block of type 0x${type.toString(16).padStart(8, '0')}`;
}
