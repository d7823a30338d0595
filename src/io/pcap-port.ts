// The pcap-file backend: a port whose received frames come from a capture file (pcap or pcapng, opened by
// capture.ts) and whose sent frames go to another (PcapWriter). It runs the datapath offline, with no
// interface, no root and no kernel: feed it a tcpdump or Wireshark capture, read what uvs would have sent
// with tcpdump -r or tshark.
//
// A pcap file names no interfaces, so the port plays one (ifname, ifindex, mac given by the caller), and
// every frame it is asked to send is written to its output, whatever its egress interface. A pcapng file
// may hold several capture interfaces: the port receives the frames of all of them, in file order, as its
// one interface's.
//
// Waking up: in 'poll' mode the callback runs once per event-loop turn until the input is used up, then no
// more (nothing else can arrive); in 'busy' mode it runs on every turn regardless.
import { copyBytes } from '../wire/bytes.js';
import { FRAME_SPACE, type FrameBatch, FrameFlag, HEADROOM } from './batch.js';
import { captureFromBuffer, openCapture } from './capture.js';
import { type CaptureReader, type PcapRecord, PcapWriter, type PcapWriterOptions } from './pcap.js';
import { type PacketPort, packetTypeOf, type ReadableCallback, type WakeMode } from './port.js';

const NS_PER_MS = 1_000_000;

export interface PcapFilePortOptions {
  ifname: string;
  /** The ifindex frames are received on; the datapath maps it to the interface. */
  ifindex?: number;
  /** 48-bit MAC the port plays; it decides each received frame's packet type. */
  mac?: number;
  mtu?: number;
  /** A capture file (pcap or pcapng) to receive from, or its bytes. Without one, recv() finds nothing. */
  input?: string | Uint8Array;
  /** A file to write sent frames to, or a writer (PcapWriter.inMemory() in tests). Without one they are
   *  counted and discarded. */
  output?: string | PcapWriter;
  outputOptions?: PcapWriterOptions;
  /** Milliseconds since the epoch for the timestamps of sent frames; Date.now by default. */
  clock?: () => number;
}

export class PcapFilePort implements PacketPort {
  readonly ifname: string;
  readonly ifindex: number;
  readonly mac: number;
  readonly mtu: number;
  txDropped = 0;
  /** Frames received (read from the input) and sent (written, or discarded without an output). */
  rxFrames = 0;
  txFrames = 0;
  /** The error that ended reading the input early (a corrupt or cut-short file), if any. */
  inputError: Error | undefined;
  /** The error that stopped writing the output (a full disk), if any; later sends count as dropped. */
  outputError: Error | undefined;

  private reader: CaptureReader | undefined;
  private readonly writer: PcapWriter | undefined;
  private readonly clock: () => number;
  private inputDone: boolean;
  /** A read error came after frames that were delivered first; the next recv reports it. */
  private errorPending = false;
  private open = true;
  private callback: ReadableCallback | undefined;
  private mode: WakeMode = 'poll';
  private scheduled = false;
  private readonly tick = (): void => {
    this.scheduled = false;
    if (this.callback === undefined) return;
    if (this.mode !== 'busy' && this.inputDone) return;
    this.callback(0);
    if (this.callback !== undefined && (this.mode === 'busy' || !this.inputDone)) this.schedule();
  };

  /** Opens the input and creates the output; throws PcapError when either cannot be used. */
  constructor(options: PcapFilePortOptions) {
    this.ifname = options.ifname;
    this.ifindex = options.ifindex ?? 1;
    this.mac = options.mac ?? 0x020000000000 + this.ifindex;
    this.mtu = options.mtu ?? 1500;
    this.clock = options.clock ?? Date.now;
    const input = options.input;
    this.reader =
      input === undefined ? undefined : typeof input === 'string' ? openCapture(input) : captureFromBuffer(input);
    this.inputDone = this.reader === undefined;
    try {
      const output = options.output;
      this.writer = typeof output === 'string' ? PcapWriter.open(output, options.outputOptions) : output;
    } catch (err) {
      this.reader?.close();
      throw err;
    }
  }

  /** Whether every frame of the input has been received (or reading it failed; see `inputError`). */
  get exhausted(): boolean {
    return this.inputDone;
  }

  get isOpen(): boolean {
    return this.open;
  }

  /**
   * Receives the input's next records, up to the batch's capacity. Frames longer than a slot, or cut short
   * by the capture's snaplen, carry FrameFlag.truncated. A corrupt input ends the input: the frames before
   * the bad record are delivered, then recv returns -5 (EIO) once with `inputError` set, then 0.
   */
  recv(batch: FrameBatch): number {
    batch.count = 0;
    if (!this.open) return -9; // EBADF
    if (this.errorPending) {
      this.errorPending = false;
      return -5; // EIO
    }
    const reader = this.reader;
    if (reader === undefined || this.inputDone) return 0;
    let n = 0;
    while (n < batch.capacity) {
      let rec: PcapRecord | null;
      try {
        rec = reader.read();
      } catch (err) {
        this.inputError = err as Error;
        this.errorPending = n > 0;
        this.finishInput();
        if (n === 0) return -5; // EIO
        break;
      }
      if (rec === null) {
        this.finishInput();
        break;
      }
      const len = Math.min(rec.capLen, FRAME_SPACE);
      const off = batch.slotBase(n) + HEADROOM;
      copyBytes.call(rec.buf, batch.bytes, off, rec.off, rec.off + len);
      batch.offset[n] = off;
      batch.length[n] = len;
      batch.ifindex[n] = this.ifindex;
      batch.egressIfindex[n] = 0;
      batch.flags[n] = len < rec.origLen ? FrameFlag.truncated : 0;
      batch.vlanTci[n] = 0;
      batch.pktType[n] = packetTypeOf(batch.bytes, off, len, this.mac);
      n++;
    }
    this.rxFrames += n;
    batch.count = n;
    return n;
  }

  /**
   * Writes frames 0..count-1 to the output with the clock's time. Once writing has failed (`outputError`),
   * the rest of this batch and every later one count as dropped.
   */
  send(batch: FrameBatch, count = batch.count): number {
    if (!this.open) return -9; // EBADF
    const writer = this.writer;
    if (writer === undefined) {
      this.txFrames += count;
      return count;
    }
    if (this.outputError !== undefined) {
      this.txDropped += count;
      return 0;
    }
    const ms = this.clock();
    const sec = Math.floor(ms / 1000);
    const nsec = Math.min(Math.floor((ms - sec * 1000) * NS_PER_MS), 999_999_999);
    let sent = 0;
    try {
      for (; sent < count; sent++) {
        writer.writeFrame(batch.bytes, batch.offset[sent] as number, batch.length[sent] as number, sec, nsec);
      }
    } catch (err) {
      this.outputError = err as Error;
      this.txDropped += count - sent;
    }
    this.txFrames += sent;
    return sent;
  }

  onReadable(callback: ReadableCallback, mode: WakeMode = 'poll'): void {
    if (!this.open) throw new Error(`uvs: port ${this.ifname} is closed`);
    this.callback = callback;
    this.mode = mode;
    this.schedule();
  }

  stopReadable(): void {
    this.callback = undefined;
  }

  /** Flushes sent frames to the output file now, rather than at close(). */
  flush(): void {
    this.writer?.flush();
  }

  /** Closes the input, and flushes and closes the output. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    this.stopReadable();
    this.finishInput();
    this.writer?.close();
  }

  private finishInput(): void {
    this.inputDone = true;
    this.reader?.close();
    this.reader = undefined;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.tick);
  }
}
