// Opens a capture file of either format: classic pcap (pcap.ts) or pcapng (pcapng.ts), told apart by their
// first four bytes, so `uvs replay`, `uvs trace` and the pcap-file port take what tcpdump writes and what
// Wireshark and dumpcap write alike. Both readers give the same PcapRecord and throw only PcapError.
import { closeSync, readSync } from 'node:fs';
import {
  type CaptureReader,
  openForReading,
  PCAPNG_MAGIC,
  PcapError,
  PcapErrorCode,
  PcapReader,
  type PcapReaderOptions,
} from './pcap.js';
import { PcapngReader } from './pcapng.js';

const MAGIC_LEN = 4;

function isPcapng(head: Uint8Array): boolean {
  return (
    head.length >= MAGIC_LEN && new DataView(head.buffer, head.byteOffset, MAGIC_LEN).getUint32(0) === PCAPNG_MAGIC
  );
}

/** Reads a capture held in memory, in place. */
export function captureFromBuffer(bytes: Uint8Array): CaptureReader {
  return isPcapng(bytes) ? PcapngReader.fromBuffer(bytes) : PcapReader.fromBuffer(bytes);
}

/**
 * Opens a capture file. The first bytes are read from the descriptor and handed on to the reader, not
 * re-read, so a pipe (`--in /dev/stdin`) works too. Anything that is not pcapng goes to the pcap reader,
 * whose error names what the file is when it is neither.
 */
export function openCapture(path: string, options: PcapReaderOptions = {}): CaptureReader {
  const fd = openForReading(path, 'pcap');
  const head = new Uint8Array(MAGIC_LEN);
  let have = 0;
  try {
    for (;;) {
      const n = readSync(fd, head, have, MAGIC_LEN - have, null);
      if (n === 0) break;
      have += n;
      if (have === MAGIC_LEN) break;
    }
  } catch (err) {
    closeSync(fd);
    throw new PcapError(PcapErrorCode.io, 0, `pcap: cannot read ${path}: ${(err as Error).message}`, err);
  }
  const prefix = head.subarray(0, have);
  const adopt = { ...options, ownsFd: true, prefix };
  return isPcapng(prefix) ? PcapngReader.fromFd(fd, adopt) : PcapReader.fromFd(fd, adopt);
}
