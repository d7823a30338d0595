// The daemon's log: pino's JSON lines on stderr, written without ever stalling the packet loop.
//
// A log line is handed to process.stderr, which on Linux writes to a pipe or a socket (journald, `2>&1 | ...`)
// without blocking: what the reader has not taken yet waits in the stream. A reader that stops (a stopped
// pager, a hung log shipper) would make that wait grow without end, so past `maxPendingBytes` new lines are
// dropped and counted, and once the reader catches up one line says how many were lost. stderr on a file or
// a terminal is written at once, as Node does for those.
//
// Not pino.destination(): in its synchronous mode a full pipe blocks every log call, and with it the packet
// loop; in its asynchronous mode (sonic-boom) each write runs on libuv's thread pool, where a pipe nobody
// reads blocks a pool thread for good and process exit then waits on that thread forever (measured: the
// daemon never exits after SIGTERM). Its flushSync() at exit blocks the same way.
import pino, { type Logger } from 'pino';

/** What may wait for a slow log reader before lines are dropped: some thousands of lines. */
export const DEFAULT_MAX_PENDING_LOG_BYTES = 1 << 20;

/** The stream the lines go to: process.stderr, or a test's stand-in. */
export interface LogStream {
  write(chunk: string): boolean;
  readonly writableLength: number;
  once(event: 'drain', listener: () => void): unknown;
  off(event: 'drain', listener: () => void): unknown;
}

export interface DaemonLogOptions {
  level?: string;
  stream?: LogStream;
  maxPendingBytes?: number;
}

export interface DaemonLog {
  readonly log: Logger;
  /** Lines dropped so far because the reader fell behind. */
  readonly dropped: number;
  /** Waits until the lines written so far are taken by the reader, or `timeoutMs`; never longer. */
  flush(timeoutMs: number): Promise<void>;
}

/** pino's numeric level for warn: the line reporting drops is one. */
const WARN = 40;

class BoundedLogDestination {
  dropped = 0;
  /** Drops not reported yet. */
  private unreported = 0;

  constructor(
    private readonly stream: LogStream,
    private readonly maxPendingBytes: number,
    private readonly name: string,
  ) {}

  write(line: string): void {
    if (this.stream.writableLength > this.maxPendingBytes) {
      this.dropped++;
      this.unreported++;
      return;
    }
    if (this.unreported > 0) {
      const notice = {
        level: WARN,
        time: Date.now(),
        pid: process.pid,
        name: this.name,
        dropped: this.unreported,
        msg: `${this.unreported} log lines dropped: the log reader fell behind by more than ${this.maxPendingBytes} bytes`,
      };
      this.unreported = 0;
      this.stream.write(`${JSON.stringify(notice)}\n`);
    }
    this.stream.write(line);
  }

  /** Not named flush: pino's logger.flush(callback) would call that with its callback. */
  drained(timeoutMs: number): Promise<void> {
    if (this.stream.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.stream.off('drain', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.stream.once('drain', done);
    });
  }
}

export function createDaemonLog(options: DaemonLogOptions = {}): DaemonLog {
  const name = 'uvs';
  const destination = new BoundedLogDestination(
    options.stream ?? process.stderr,
    options.maxPendingBytes ?? DEFAULT_MAX_PENDING_LOG_BYTES,
    name,
  );
  const log = pino({ name, level: options.level ?? 'info' }, destination);
  return {
    log,
    get dropped() {
      return destination.dropped;
    },
    flush: (timeoutMs) => destination.drained(timeoutMs),
  };
}
