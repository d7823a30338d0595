// Classic libpcap capture files (pcap-savefile(5), draft-ietf-opsawg-pcap): read for `uvs replay`, `uvs
// trace` and the file I/O backend, written for their output. Ethernet (LINKTYPE_ETHERNET) only. pcapng is
// read by pcapng.ts; capture.ts tells the two apart. Both readers throw PcapError, with the codes below.
//
// File layout: one 24-byte global header, then records of a 16-byte header plus the captured bytes.
// Every field is in the byte order of the host that wrote the file; the magic tells which.
//
//   global header                          record header
//   0  magic (a1b2c3d4 µs, a1b23c4d ns)    0   ts seconds
//   4  version major (2) | minor (4)       4   ts fraction (µs or ns, per the magic)
//   8  reserved1 (thiszone, 0)             8   captured length (bytes that follow)
//   12 reserved2 (sigfigs, 0)              12  original length on the wire
//   16 snaplen
//   20 linktype (low 16 bits) + FCS info (high bits)
//
// Timestamps are (seconds, nanoseconds) pairs of plain numbers in both directions: nanoseconds since the
// epoch do not fit a double exactly, and a BigInt per packet is an allocation the replay loop avoids.
import { closeSync, openSync, writeSync } from 'node:fs';
import { endianness } from 'node:os';
import { copyBytes } from '../wire/bytes.js';
import { ByteWindow, WindowReadError } from './byte-window.js';

export const PCAP_MAGIC_MICRO = 0xa1b2c3d4;
export const PCAP_MAGIC_NANO = 0xa1b23c4d;
/** pcapng's Section Header Block type: a palindrome, the same in both byte orders (pcapng.ts). */
export const PCAPNG_MAGIC = 0x0a0d0d0a;
export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;
export const PCAP_GLOBAL_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;
export const LINKTYPE_ETHERNET = 1;
/** libpcap's MAXIMUM_SNAPLEN: it rejects records whose captured length exceeds this as corrupt. */
export const PCAP_MAX_CAPLEN = 262144;
export const PCAP_DEFAULT_SNAPLEN = 65535;

export const GlobalField = {
  magic: 0,
  versionMajor: 4,
  versionMinor: 6,
  thiszone: 8,
  sigfigs: 12,
  snaplen: 16,
  linkType: 20,
} as const;

export const RecordField = {
  tsSec: 0,
  tsFrac: 4,
  capLen: 8,
  origLen: 12,
} as const;

/** Names for the link types a user is likely to hand us by mistake, so the error says what the file is. */
const linkTypeNames: Readonly<Record<number, string>> = {
  0: 'NULL (BSD loopback)',
  1: 'ETHERNET',
  101: 'RAW (bare IP)',
  105: 'IEEE802_11',
  113: 'LINUX_SLL (Linux cooked capture, tcpdump -i any)',
  127: 'IEEE802_11_RADIOTAP',
  228: 'IPV4',
  229: 'IPV6',
  276: 'LINUX_SLL2 (Linux cooked capture v2, tcpdump -i any)',
};

export const PcapErrorCode = {
  /** Opening, reading, writing or closing the file failed; `cause` holds the system error. */
  io: 'PCAP_IO',
  /** Fewer than 24 bytes: the global header is cut short (an empty file included). */
  truncatedHeader: 'PCAP_TRUNCATED_HEADER',
  /** The first four bytes are no pcap magic in either byte order (pcapng is named as such). */
  badMagic: 'PCAP_BAD_MAGIC',
  /** Major version other than 2. */
  badVersion: 'PCAP_BAD_VERSION',
  /** A link type other than Ethernet. */
  unsupportedLinkType: 'PCAP_UNSUPPORTED_LINKTYPE',
  /** 1 to 15 bytes follow the last record: a record header cut short. */
  truncatedRecordHeader: 'PCAP_TRUNCATED_RECORD_HEADER',
  /** A record header promises more captured bytes than the file holds. */
  truncatedRecord: 'PCAP_TRUNCATED_RECORD',
  /** A captured length above PCAP_MAX_CAPLEN: the record header is garbage. */
  badCapLen: 'PCAP_BAD_CAPLEN',
  /** The writer was handed a value the format cannot hold (a timestamp out of range, a bad snaplen), or
   *  toBuffer() was called on a file writer. */
  badArgument: 'PCAP_BAD_ARGUMENT',
  /** The reader or writer was used after close(). */
  closed: 'PCAP_CLOSED',
  // pcapng (pcapng.ts). A cut-short or empty file, a link type other than Ethernet and an unknown first
  // block use the codes above, as for pcap.
  /** A block's header or body runs past the end of the file. */
  ngTruncatedBlock: 'PCAPNG_TRUNCATED_BLOCK',
  /** A Block Total Length below the block's minimum, not a multiple of 4, or past PCAPNG_MAX_BLOCK_LEN. */
  ngBadBlockLength: 'PCAPNG_BAD_BLOCK_LENGTH',
  /** The Block Total Length at the end of a block differs from the one at its start. */
  ngBlockLengthMismatch: 'PCAPNG_BLOCK_LENGTH_MISMATCH',
  /** A Section Header Block whose byte-order magic is 1a2b3c4d in neither byte order. */
  ngBadByteOrderMagic: 'PCAPNG_BAD_BYTE_ORDER_MAGIC',
  /** A packet block names an interface its section has not described (or an SPB in a section with none). */
  ngUnknownInterface: 'PCAPNG_UNKNOWN_INTERFACE',
  /** A packet's captured length does not fit its block. */
  ngBadPacketLength: 'PCAPNG_BAD_PACKET_LENGTH',
  /** An option runs past its block, or if_tsresol / if_tsoffset has the wrong size. */
  ngBadOption: 'PCAPNG_BAD_OPTION',
} as const;

export type PcapErrorCodeValue = (typeof PcapErrorCode)[keyof typeof PcapErrorCode];

/**
 * The one error type this module throws. `code` is stable; `offset` is the byte offset in the file of the
 * structure that was wrong (the global header, or the start of the bad record's header), or -1 when no
 * position applies (a writer argument).
 */
export class PcapError extends Error {
  override readonly name = 'PcapError';
  readonly code: PcapErrorCodeValue;
  readonly offset: number;

  constructor(code: PcapErrorCodeValue, offset: number, message: string, cause?: unknown) {
    super(offset >= 0 ? `${message} (byte offset ${offset}) [${code}]` : `${message} [${code}]`, { cause });
    this.code = code;
    this.offset = offset;
  }
}

const HOST_LITTLE_ENDIAN = endianness() === 'LE';

/** What the global header says. */
export interface PcapHeader {
  /** Timestamp fractions in the file are nanoseconds (magic a1b23c4d) rather than microseconds. */
  nanosecond: boolean;
  /** The file was written in little-endian order. */
  littleEndian: boolean;
  versionMajor: number;
  versionMinor: number;
  snaplen: number;
  /** The low 16 bits of the link-type field; always LINKTYPE_ETHERNET once the reader is open. */
  linkType: number;
  /** FCS bytes at the end of each frame, when the file says (bit 26 set), else -1 (unknown). */
  fcsLen: number;
}

/**
 * One record, reused by the reader for every call: the object and the bytes it points at are valid only
 * until the next `read()`. Copy `data` (or `buf[off, off+capLen)`) to keep a frame.
 */
export class PcapRecord {
  /** Zero-based position of the record in the file. */
  index = -1;
  /** Byte offset of the record header in the file. */
  fileOffset = 0;
  tsSec = 0;
  /**
   * Fraction of the second in nanoseconds, whatever the file's resolution (µs files give multiples of 1000).
   * Taken as the file has it: libpcap and tshark accept fractions of a second or more, and so does this.
   */
  tsFrac = 0;
  capLen = 0;
  origLen = 0;
  /** The captured bytes are `buf[off, off+capLen)`; reading them there allocates nothing. */
  buf: Uint8Array = new Uint8Array(0);
  off = 0;

  /** The Interface ID of the interface it was captured on (pcapng); 0 in pcap files. */
  interfaceId = 0;
  /** The section it is in, from 0 (pcapng files may have several); 0 in pcap files. */
  section = 0;

  /** A view over the captured bytes. Allocates a view per call: convenient for tests, not for hot loops. */
  get data(): Uint8Array {
    return this.buf.subarray(this.off, this.off + this.capLen);
  }
}

export interface PcapReaderOptions {
  /** Initial size of the read buffer for files; it grows to fit the largest record. Tests use tiny sizes. */
  chunkSize?: number;
}

/** Options for a reader taking over a file descriptor a format sniffer has started reading. */
export interface AdoptedFdOptions extends PcapReaderOptions {
  /** Bytes already read from the descriptor; they are the start of the file. */
  prefix?: Uint8Array;
  /** close() closes the descriptor. */
  ownsFd?: boolean;
}

export const DEFAULT_CHUNK = 256 * 1024;

/** An interface a capture names: the one of a pcap file, or an Interface Description Block of pcapng. */
export interface CaptureInterface {
  /** Its Interface ID: the position of its description in its section, from 0. */
  id: number;
  /** The section it belongs to, from 0 (pcap files have one). */
  section: number;
  /** if_name, or null when the file does not say. */
  name: string | null;
  linkType: number;
  /** Largest number of bytes kept per packet; 0 is no limit. */
  snaplen: number;
}

/** What `uvs replay`, `uvs trace` and the pcap-file port need of a capture, whatever its format. */
export interface CaptureReader extends IterableIterator<PcapRecord> {
  readonly format: 'pcap' | 'pcapng';
  /** Timestamps finer than microseconds, as far as the file has said before its first packet. */
  readonly nanosecond: boolean;
  /** The interfaces described so far, in the order of the file, across sections. */
  readonly interfaces: readonly CaptureInterface[];
  /** The next record, or null at a clean end. Throws PcapError only. */
  read(): PcapRecord | null;
  close(): void;
}

/** The link type's name, for error messages; the number alone when it has none here. */
export function describeLinkType(linkType: number): string {
  const name = linkTypeNames[linkType];
  return `link type ${linkType}${name === undefined ? '' : ` (${name})`}`;
}

/** Opens `path` read-only, or throws PcapError (PCAP_IO) naming it. */
export function openForReading(path: string, format: 'pcap' | 'pcapng'): number {
  try {
    return openSync(path, 'r');
  } catch (err) {
    throw new PcapError(PcapErrorCode.io, -1, `${format}: cannot open ${path}: ${(err as Error).message}`, err);
  }
}

/** Turns what a ByteWindow threw into a PcapError; anything else (a bug) is rethrown as it is. */
export function readFailure(err: unknown, format: 'pcap' | 'pcapng'): PcapError {
  if (err instanceof PcapError) return err;
  if (err instanceof WindowReadError) {
    return new PcapError(PcapErrorCode.io, err.offset, `${format}: read failed: ${err.message}`, err.cause);
  }
  throw err;
}

/**
 * What the pcap and pcapng readers share: reading one record at a time into one reused PcapRecord, the
 * iterator protocol, failing for good after the first error, and closing.
 *
 * Errors: `read()` and the iterator throw only `PcapError`. Every record before the bad part is delivered
 * first; the error comes from the call that would have returned the bad record, and the reader stays
 * failed (later calls throw the same error). A file that ends exactly after a record is a clean end.
 */
export abstract class RecordReader implements CaptureReader {
  abstract readonly format: 'pcap' | 'pcapng';
  abstract readonly nanosecond: boolean;
  abstract readonly interfaces: readonly CaptureInterface[];
  protected readonly win: ByteWindow;
  protected readonly record = new PcapRecord();
  private failure: PcapError | null = null;
  private closed = false;
  /** One iterator result reused for every step, so iterating with for..of allocates nothing per record. */
  private readonly step: IteratorResult<PcapRecord> = { done: false, value: this.record };

  protected constructor(win: ByteWindow) {
    this.win = win;
  }

  /** The next record, or null at a clean end of file. Throws PcapError; see the class comment. */
  read(): PcapRecord | null {
    if (this.failure !== null) throw this.failure;
    if (this.closed) throw new PcapError(PcapErrorCode.closed, -1, `${this.format}: reader is closed`);
    try {
      return this.readRecord();
    } catch (err) {
      this.failure = readFailure(err, this.format);
      // for..of does not call return() when next() throws, so the file is closed here.
      this.close();
      throw this.failure;
    }
  }

  next(): IteratorResult<PcapRecord> {
    const rec = this.read();
    if (rec === null) {
      this.close();
      return { done: true, value: undefined };
    }
    return this.step;
  }

  /** Called when a for..of loop stops early: the file is closed. */
  return(): IteratorResult<PcapRecord> {
    this.close();
    return { done: true, value: undefined };
  }

  [Symbol.iterator](): this {
    return this;
  }

  /** Closes an owned file descriptor. Safe to call more than once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.win.close();
  }

  /** The next record, filled into `this.record`, or null at a clean end; throws on a bad file. */
  protected abstract readRecord(): PcapRecord | null;
}

/** Reads a classic pcap file, from a file in chunks (ByteWindow) or from a buffer in place. */
export class PcapReader extends RecordReader {
  readonly format = 'pcap';
  /** Filled in by the constructor: opening reads and checks the global header at once. */
  readonly header: PcapHeader;
  readonly interfaces: readonly CaptureInterface[];
  private readonly le: boolean;
  private readonly fracToNs: number;
  private nextIndex = 0;

  private constructor(win: ByteWindow) {
    super(win);
    try {
      this.header = this.readGlobalHeader();
    } catch (err) {
      this.close();
      throw readFailure(err, 'pcap');
    }
    this.le = this.header.littleEndian;
    this.fracToNs = this.header.nanosecond ? 1 : 1000;
    this.interfaces = [{ id: 0, section: 0, name: null, linkType: this.header.linkType, snaplen: this.header.snaplen }];
  }

  /** Reads a Buffer or Uint8Array in place; records point into it. */
  static fromBuffer(bytes: Uint8Array): PcapReader {
    return new PcapReader(ByteWindow.fromBuffer(bytes));
  }

  /** Opens and reads a file; `close()` (or finishing a for..of) closes it. */
  static open(path: string, options: PcapReaderOptions = {}): PcapReader {
    return PcapReader.fromFd(openForReading(path, 'pcap'), { ...options, ownsFd: true });
  }

  /** Reads from an open file descriptor, which stays the caller's to close unless `ownsFd` says otherwise. */
  static fromFd(fd: number, options: AdoptedFdOptions = {}): PcapReader {
    return new PcapReader(
      ByteWindow.fromFd(fd, options.ownsFd ?? false, options.chunkSize ?? DEFAULT_CHUNK, options.prefix),
    );
  }

  /** Whether the file's timestamps are nanoseconds (magic a1b23c4d). */
  get nanosecond(): boolean {
    return this.header.nanosecond;
  }

  private readGlobalHeader(): PcapHeader {
    const w = this.win;
    if (!w.fill(PCAP_GLOBAL_HEADER_LEN)) {
      const have = w.available;
      throw new PcapError(
        PcapErrorCode.truncatedHeader,
        0,
        have === 0
          ? 'pcap: file is empty, expected a 24-byte global header'
          : `pcap: global header cut short: ${have} of 24 bytes`,
      );
    }
    const v = w.view;
    const magicBe = v.getUint32(GlobalField.magic, false);
    const magicLe = v.getUint32(GlobalField.magic, true);
    let littleEndian: boolean;
    let nanosecond: boolean;
    if (magicLe === PCAP_MAGIC_MICRO || magicLe === PCAP_MAGIC_NANO) {
      littleEndian = true;
      nanosecond = magicLe === PCAP_MAGIC_NANO;
    } else if (magicBe === PCAP_MAGIC_MICRO || magicBe === PCAP_MAGIC_NANO) {
      littleEndian = false;
      nanosecond = magicBe === PCAP_MAGIC_NANO;
    } else if (magicBe === PCAPNG_MAGIC) {
      throw new PcapError(
        PcapErrorCode.badMagic,
        0,
        'pcap: this is a pcapng file, not classic pcap; open it with openCapture(), which reads both',
      );
    } else {
      throw new PcapError(
        PcapErrorCode.badMagic,
        0,
        `pcap: bad magic 0x${magicBe.toString(16).padStart(8, '0')}, expected a1b2c3d4 or a1b23c4d in either byte order`,
      );
    }
    const versionMajor = v.getUint16(GlobalField.versionMajor, littleEndian);
    const versionMinor = v.getUint16(GlobalField.versionMinor, littleEndian);
    if (versionMajor !== PCAP_VERSION_MAJOR) {
      throw new PcapError(
        PcapErrorCode.badVersion,
        GlobalField.versionMajor,
        `pcap: unsupported format version ${versionMajor}.${versionMinor}, expected 2.x`,
      );
    }
    const snaplen = v.getUint32(GlobalField.snaplen, littleEndian);
    const linkField = v.getUint32(GlobalField.linkType, littleEndian);
    // draft-ietf-opsawg-pcap: link type in the low 16 bits; bit 26 says bits 28-31 hold the FCS length.
    const linkType = linkField & 0xffff;
    const fcsLen = linkField & 0x04000000 ? (linkField >>> 28) * 2 : -1;
    if (linkType !== LINKTYPE_ETHERNET) {
      throw new PcapError(
        PcapErrorCode.unsupportedLinkType,
        GlobalField.linkType,
        `pcap: unsupported ${describeLinkType(linkType)}; uvs reads only Ethernet (LINKTYPE_ETHERNET, 1)`,
      );
    }
    w.start += PCAP_GLOBAL_HEADER_LEN;
    return { nanosecond, littleEndian, versionMajor, versionMinor, snaplen, linkType, fcsLen };
  }

  protected readRecord(): PcapRecord | null {
    const w = this.win;
    const at = w.offset;
    const index = this.nextIndex;
    if (!w.fill(PCAP_RECORD_HEADER_LEN)) {
      const have = w.available;
      if (have === 0) return null;
      throw new PcapError(
        PcapErrorCode.truncatedRecordHeader,
        at,
        `pcap: record ${index}: header cut short: ${have} of 16 bytes`,
      );
    }
    const capLen = w.view.getUint32(w.start + RecordField.capLen, this.le);
    if (capLen > PCAP_MAX_CAPLEN) {
      throw new PcapError(
        PcapErrorCode.badCapLen,
        at,
        `pcap: record ${index}: captured length ${capLen} exceeds the ${PCAP_MAX_CAPLEN}-byte maximum; ` +
          'the file is corrupt',
      );
    }
    if (!w.fill(PCAP_RECORD_HEADER_LEN + capLen)) {
      const have = w.available - PCAP_RECORD_HEADER_LEN;
      throw new PcapError(
        PcapErrorCode.truncatedRecord,
        at,
        `pcap: record ${index}: data cut short: ${have} of ${capLen} captured bytes`,
      );
    }
    // fill() may have moved the window, so the header is read from the new start.
    const s = w.start;
    const v = w.view;
    const le = this.le;
    const rec = this.record;
    rec.index = index;
    rec.fileOffset = at;
    rec.tsSec = v.getUint32(s + RecordField.tsSec, le);
    rec.tsFrac = v.getUint32(s + RecordField.tsFrac, le) * this.fracToNs;
    rec.capLen = capLen;
    rec.origLen = v.getUint32(s + RecordField.origLen, le);
    rec.buf = w.bytes;
    rec.off = s + PCAP_RECORD_HEADER_LEN;
    w.start = s + PCAP_RECORD_HEADER_LEN + capLen;
    this.nextIndex = index + 1;
    return rec;
  }
}

export interface PcapWriterOptions {
  /** Largest number of bytes kept per frame; longer frames are cut with their original length recorded. */
  snaplen?: number;
  /** Write nanosecond timestamps (magic a1b23c4d) instead of libpcap's default microseconds. */
  nanosecond?: boolean;
  /** Byte order of the file; libpcap writes the host's, and so does the default. */
  byteOrder?: 'host' | 'le' | 'be';
  /** Bytes gathered before one write to the file. */
  bufferSize?: number;
}

const DEFAULT_WRITE_BUFFER = 256 * 1024;
const NS_PER_SEC = 1_000_000_000;
const MAX_U32 = 0xffffffff;

/**
 * Writes a pcap file with LINKTYPE_ETHERNET. Records are gathered in one growing, reused buffer and written
 * with one synchronous write per `bufferSize` bytes (and on flush/close), never one per packet. The
 * in-memory variant keeps everything and hands it back with `toBuffer()`.
 */
export class PcapWriter {
  readonly snaplen: number;
  readonly nanosecond: boolean;
  readonly littleEndian: boolean;
  /** Records written so far. */
  packets = 0;
  private buf: Uint8Array;
  private view: DataView;
  private used = 0;
  /** Bytes handed to the file so far (excluding those still in the buffer). */
  private flushed = 0;
  private fd: number;
  private readonly ownsFd: boolean;
  private readonly inMemory: boolean;
  private readonly flushAt: number;
  private closed = false;

  private constructor(fd: number, ownsFd: boolean, inMemory: boolean, options: PcapWriterOptions) {
    const snaplen = options.snaplen ?? PCAP_DEFAULT_SNAPLEN;
    if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > PCAP_MAX_CAPLEN) {
      throw new PcapError(PcapErrorCode.badArgument, -1, `pcap: snaplen ${snaplen} outside 1..${PCAP_MAX_CAPLEN}`);
    }
    this.snaplen = snaplen;
    this.nanosecond = options.nanosecond ?? false;
    const order = options.byteOrder ?? 'host';
    this.littleEndian = order === 'host' ? HOST_LITTLE_ENDIAN : order === 'le';
    this.fd = fd;
    this.ownsFd = ownsFd;
    this.inMemory = inMemory;
    this.flushAt = Math.max(PCAP_GLOBAL_HEADER_LEN, options.bufferSize ?? DEFAULT_WRITE_BUFFER);
    this.buf = new Uint8Array(inMemory ? 4096 : this.flushAt + PCAP_RECORD_HEADER_LEN + snaplen);
    this.view = new DataView(this.buf.buffer);
    this.writeGlobalHeader();
  }

  /** Creates (or truncates) `path`; `close()` flushes and closes it. */
  static open(path: string, options: PcapWriterOptions = {}): PcapWriter {
    let fd: number;
    try {
      fd = openSync(path, 'w');
    } catch (err) {
      throw new PcapError(PcapErrorCode.io, -1, `pcap: cannot create ${path}: ${(err as Error).message}`, err);
    }
    return new PcapWriter(fd, true, false, options);
  }

  /** Writes to an open file descriptor, which `close()` flushes but leaves open. */
  static toFd(fd: number, options: PcapWriterOptions = {}): PcapWriter {
    return new PcapWriter(fd, false, false, options);
  }

  /** Gathers the whole file in memory; see `toBuffer()`. */
  static inMemory(options: PcapWriterOptions = {}): PcapWriter {
    return new PcapWriter(-1, false, true, options);
  }

  /** File size so far, including bytes not yet flushed. */
  get bytesWritten(): number {
    return this.flushed + this.used;
  }

  /**
   * Appends the frame `frame[off, off+len)` captured at `tsSec` seconds plus `tsNsec` nanoseconds
   * (0..999999999; truncated to microseconds in a microsecond file). `origLen` is the length on the wire
   * when the frame was already cut short; it defaults to `len`. Frames longer than the snaplen are cut.
   */
  writeFrame(frame: Uint8Array, off: number, len: number, tsSec: number, tsNsec: number, origLen = len): void {
    if (this.closed) throw new PcapError(PcapErrorCode.closed, -1, 'pcap: writer is closed');
    if (!(tsSec >= 0 && tsSec <= MAX_U32 && Number.isInteger(tsSec))) {
      throw new PcapError(PcapErrorCode.badArgument, -1, `pcap: timestamp seconds ${tsSec} outside 0..2^32-1`);
    }
    if (!(tsNsec >= 0 && tsNsec < NS_PER_SEC && Number.isInteger(tsNsec))) {
      throw new PcapError(PcapErrorCode.badArgument, -1, `pcap: timestamp nanoseconds ${tsNsec} outside 0..999999999`);
    }
    if (!(len >= 0 && origLen >= len && origLen <= MAX_U32 && off >= 0 && off + len <= frame.length)) {
      throw new PcapError(
        PcapErrorCode.badArgument,
        -1,
        `pcap: frame range [${off}, ${off}+${len}) of ${frame.length} bytes with original length ${origLen} is invalid`,
      );
    }
    const capLen = Math.min(len, this.snaplen);
    this.reserve(PCAP_RECORD_HEADER_LEN + capLen);
    const v = this.view;
    const h = this.used;
    const le = this.littleEndian;
    v.setUint32(h + RecordField.tsSec, tsSec, le);
    v.setUint32(h + RecordField.tsFrac, this.nanosecond ? tsNsec : Math.floor(tsNsec / 1000), le);
    v.setUint32(h + RecordField.capLen, capLen, le);
    v.setUint32(h + RecordField.origLen, origLen, le);
    // Buffer's copy takes a source range, so no subarray view is made per frame; it accepts any Uint8Array.
    copyBytes.call(frame, this.buf, h + PCAP_RECORD_HEADER_LEN, off, off + capLen);
    this.used = h + PCAP_RECORD_HEADER_LEN + capLen;
    this.packets++;
    if (!this.inMemory && this.used >= this.flushAt) this.flush();
  }

  /** Hands buffered bytes to the file. A no-op for the in-memory writer. */
  flush(): void {
    if (this.inMemory || this.used === 0 || this.fd < 0) return;
    let done = 0;
    try {
      while (done < this.used) done += writeSync(this.fd, this.buf, done, this.used - done);
    } catch (err) {
      throw new PcapError(PcapErrorCode.io, this.flushed + done, `pcap: write failed: ${(err as Error).message}`, err);
    }
    this.flushed += this.used;
    this.used = 0;
  }

  /** The whole file so far, as a copy. Only for the in-memory writer. */
  toBuffer(): Buffer {
    if (!this.inMemory) {
      throw new PcapError(
        PcapErrorCode.badArgument,
        -1,
        'pcap: toBuffer() needs a writer made by PcapWriter.inMemory()',
      );
    }
    return Buffer.from(this.buf.subarray(0, this.used));
  }

  /** Flushes, then closes a file this writer opened. Safe to call more than once. */
  close(): void {
    if (this.closed) return;
    let failure: PcapError | null = null;
    try {
      this.flush();
    } catch (err) {
      failure = err as PcapError;
    }
    this.closed = true;
    if (this.ownsFd && this.fd >= 0) {
      const fd = this.fd;
      this.fd = -1;
      try {
        closeSync(fd);
      } catch (err) {
        // A failed close can mean data the kernel never wrote (NFS, quotas), so it is reported.
        failure ??= new PcapError(PcapErrorCode.io, this.flushed, `pcap: close failed: ${(err as Error).message}`, err);
      }
    }
    if (failure !== null) throw failure;
  }

  private writeGlobalHeader(): void {
    const v = this.view;
    const le = this.littleEndian;
    v.setUint32(GlobalField.magic, this.nanosecond ? PCAP_MAGIC_NANO : PCAP_MAGIC_MICRO, le);
    v.setUint16(GlobalField.versionMajor, PCAP_VERSION_MAJOR, le);
    v.setUint16(GlobalField.versionMinor, PCAP_VERSION_MINOR, le);
    v.setUint32(GlobalField.thiszone, 0, le);
    v.setUint32(GlobalField.sigfigs, 0, le);
    v.setUint32(GlobalField.snaplen, this.snaplen, le);
    v.setUint32(GlobalField.linkType, LINKTYPE_ETHERNET, le);
    this.used = PCAP_GLOBAL_HEADER_LEN;
  }

  /** Makes room for `n` more bytes: flushes a file writer first, grows the buffer only when it must. */
  private reserve(n: number): void {
    if (this.used + n <= this.buf.length) return;
    this.flush();
    if (this.used + n <= this.buf.length) return;
    const bigger = new Uint8Array(Math.max(this.used + n, this.buf.length * 2));
    bigger.set(this.buf.subarray(0, this.used), 0);
    this.buf = bigger;
    this.view = new DataView(bigger.buffer);
  }
}
