// A systemd stand-in for tests of the notification protocol: test/helpers/notify-receiver.py bound at a
// socket path (or @abstract name), each datagram it gets kept with the time it arrived.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const script = join(dirname(fileURLToPath(import.meta.url)), 'notify-receiver.py');

/** The receiver is a Python script: Node cannot bind an AF_UNIX datagram socket. */
export const canReceiveNotify = spawnSync('python3', ['--version'], { stdio: 'ignore' }).status === 0;

export interface Notification {
  /** Arrival, in ms of the receiver's monotonic clock. */
  ms: number;
  text: string;
}

export class NotifyReceiver {
  readonly received: Notification[] = [];
  private readonly proc: ChildProcess;
  private readonly bound: Promise<void>;
  private stderr = '';
  private readonly waiters = new Set<() => void>();

  /** Listens at `socketPath` for at most `maxSeconds`. */
  constructor(
    readonly socketPath: string,
    maxSeconds: number,
  ) {
    this.proc = spawn('python3', [script, socketPath, String(maxSeconds)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let pending = '';
    let markBound: () => void = () => {};
    let failBound: (err: Error) => void = () => {};
    this.bound = new Promise((resolve, reject) => {
      markBound = resolve;
      failBound = reject;
    });
    this.proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.proc.on('close', () => failBound(new Error(`notify receiver ended: ${this.stderr}`)));
    this.proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      let nl = pending.indexOf('\n');
      while (nl >= 0) {
        const line = JSON.parse(pending.slice(0, nl)) as { bound?: string; ms?: number; text?: string };
        pending = pending.slice(nl + 1);
        if (line.bound !== undefined) markBound();
        else this.received.push({ ms: line.ms!, text: line.text! });
        for (const wake of this.waiters) wake();
        nl = pending.indexOf('\n');
      }
    });
  }

  /** Resolves once the socket is bound. */
  ready(): Promise<void> {
    return this.bound;
  }

  /** The first notification at or after index `from` that satisfies `match`; rejects after `timeoutMs`. */
  waitFor(match: (n: Notification) => boolean, timeoutMs: number, from = 0): Promise<Notification> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.received.slice(from).find(match);
        if (found === undefined) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no matching notification within ${timeoutMs} ms; got ${JSON.stringify(this.received)}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** Arrival times of the watchdog pings. */
  pings(): number[] {
    return this.received.filter((n) => n.text.split('\n').includes('WATCHDOG=1')).map((n) => n.ms);
  }

  close(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}
