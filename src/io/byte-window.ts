// The read side shared by the capture readers (pcap.ts, pcapng.ts): a window of a file (or of bytes in
// memory) that the reader asks to hold the next `need` bytes. Files are read in chunks into one buffer that
// only grows, to the largest record or block asked for, so a capture is never held whole in memory; a
// buffer source is read in place without copying.
import { closeSync, readSync } from 'node:fs';

/** A read(2) of the capture failed; the reader turns it into its own error type with the offset. */
export class WindowReadError extends Error {
  override readonly name = 'WindowReadError';
  /** File offset the failed read would have filled. */
  readonly offset: number;

  constructor(offset: number, cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.offset = offset;
  }
}

export class ByteWindow {
  /** The bytes; `bytes[start, end)` is read but not yet consumed. Replaced when it grows. */
  bytes: Uint8Array;
  /** A DataView over `bytes`, replaced with it. */
  view: DataView;
  start = 0;
  end = 0;
  /** File offset of bytes[0]. */
  private base = 0;
  private fd: number;
  private readonly ownsFd: boolean;
  private eof: boolean;

  private constructor(fd: number, ownsFd: boolean, source: Uint8Array | null, chunkSize: number, prefix?: Uint8Array) {
    this.fd = fd;
    this.ownsFd = ownsFd;
    if (source !== null) {
      this.bytes = source;
      this.end = source.length;
      this.eof = true;
    } else {
      this.bytes = new Uint8Array(Math.max(1, chunkSize, prefix?.length ?? 0));
      if (prefix !== undefined) {
        this.bytes.set(prefix, 0);
        this.end = prefix.length;
      }
      this.eof = false;
    }
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }

  static fromBuffer(bytes: Uint8Array): ByteWindow {
    return new ByteWindow(-1, false, bytes, 0);
  }

  /**
   * Reads `fd` from its current position. `prefix` holds bytes already read from it (a format sniffer's),
   * which come first; `ownsFd` makes close() close it.
   */
  static fromFd(fd: number, ownsFd: boolean, chunkSize: number, prefix?: Uint8Array): ByteWindow {
    return new ByteWindow(fd, ownsFd, null, chunkSize, prefix);
  }

  /** File offset of bytes[start]: where the next unconsumed byte is. */
  get offset(): number {
    return this.base + this.start;
  }

  /** Bytes available at `start` without reading. */
  get available(): number {
    return this.end - this.start;
  }

  /** File offset just past the last byte read so far. */
  get readEnd(): number {
    return this.base + this.end;
  }

  /**
   * Makes `need` bytes available at `bytes[start]`, reading more of the file if it can. Returns false when
   * the file ends first. Moves the unread tail to the front of the buffer, so it may run only between
   * records, never while the caller holds the previous one. Throws WindowReadError when read(2) fails.
   */
  fill(need: number): boolean {
    if (this.end - this.start >= need) return true;
    if (this.eof) return false;
    const unread = this.end - this.start;
    if (need > this.bytes.length) {
      const bigger = new Uint8Array(Math.max(need, this.bytes.length * 2));
      bigger.set(this.bytes.subarray(this.start, this.end), 0);
      this.bytes = bigger;
      this.view = new DataView(bigger.buffer, bigger.byteOffset, bigger.byteLength);
    } else if (this.start > 0) {
      this.bytes.copyWithin(0, this.start, this.end);
    }
    this.base += this.start;
    this.start = 0;
    this.end = unread;
    while (this.end < need) {
      let n: number;
      try {
        n = readSync(this.fd, this.bytes, this.end, this.bytes.length - this.end, null);
      } catch (err) {
        throw new WindowReadError(this.base + this.end, err);
      }
      if (n === 0) {
        this.eof = true;
        return false;
      }
      this.end += n;
    }
    return true;
  }

  /** Closes an owned file descriptor. Safe to call more than once. */
  close(): void {
    if (this.ownsFd && this.fd >= 0) {
      const fd = this.fd;
      this.fd = -1;
      try {
        closeSync(fd);
      } catch {
        // A failed close of a file opened read-only loses nothing.
      }
    }
  }
}
