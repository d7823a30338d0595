// systemd's service notification protocol (sd_notify(3)), for `Type=notify` with a watchdog
// (packaging/systemd/uvs.service): READY=1 once the daemon serves, STATUS= lines, WATCHDOG=1 pings, and
// STOPPING=1 at stop. systemd passes the socket in $NOTIFY_SOCKET and the watchdog period in $WATCHDOG_USEC
// (for the process in $WATCHDOG_PID, when set). Without $NOTIFY_SOCKET there is nothing to do.
//
// The pings come from the daemon's housekeeping timer, on the same event loop that runs the packet loop: a
// loop that is stuck stops the pings, and systemd restarts the daemon. A separate thread or timer that
// pinged regardless would hide exactly that.
import { loadNative } from '../native.js';

export type NotifySend = (socketPath: string, text: string) => void;

export interface SystemdEnvironment {
  readonly NOTIFY_SOCKET?: string | undefined;
  readonly WATCHDOG_USEC?: string | undefined;
  readonly WATCHDOG_PID?: string | undefined;
}

export class SystemdNotifier {
  /** Ping period: half the watchdog period, as sd_watchdog_enabled(3) advises; 0 without a watchdog. */
  readonly pingEveryMs: number;
  private lastPingMs = Number.NEGATIVE_INFINITY;
  /** Whether the last send failed: a failure is reported once, not at every ping. */
  private failing = false;

  constructor(
    readonly socketPath: string,
    watchdogUsec: number,
    private readonly send: NotifySend,
    private readonly onSendFailure: (err: Error) => void,
  ) {
    this.pingEveryMs = watchdogUsec > 0 ? watchdogUsec / 2000 : 0;
  }

  /**
   * The notifier systemd asked for in `env`, or undefined when the daemon does not run under Type=notify. A
   * watchdog meant for another process ($WATCHDOG_PID) or a period that is not a positive number is ignored.
   */
  static fromEnvironment(
    env: SystemdEnvironment,
    onSendFailure: (err: Error) => void,
    send: NotifySend = (path, text) => loadNative().notifySend(path, text),
    pid = process.pid,
  ): SystemdNotifier | undefined {
    const socketPath = env.NOTIFY_SOCKET;
    if (socketPath === undefined || socketPath === '') return undefined;
    const usec = Number(env.WATCHDOG_USEC ?? '');
    const forUs = env.WATCHDOG_PID === undefined || env.WATCHDOG_PID === '' || Number(env.WATCHDOG_PID) === pid;
    const watchdogUsec = forUs && Number.isSafeInteger(usec) && usec > 0 ? usec : 0;
    return new SystemdNotifier(socketPath, watchdogUsec, send, onSendFailure);
  }

  /** Start-up is complete and the daemon serves (control socket answering, ports open). */
  ready(status: string, nowMs: number): void {
    this.notify(`READY=1\nSTATUS=${oneLine(status)}\nMAINPID=${process.pid}`);
    if (this.pingEveryMs > 0) {
      this.lastPingMs = nowMs;
      this.notify('WATCHDOG=1');
    }
  }

  status(text: string): void {
    this.notify(`STATUS=${oneLine(text)}`);
  }

  stopping(status: string): void {
    this.notify(`STOPPING=1\nSTATUS=${oneLine(status)}`);
  }

  /** From the housekeeping timer: a watchdog ping when half the period has passed since the last one. */
  tick(nowMs: number): void {
    if (this.pingEveryMs === 0 || nowMs - this.lastPingMs < this.pingEveryMs) return;
    this.lastPingMs = nowMs;
    this.notify('WATCHDOG=1');
  }

  private notify(text: string): void {
    try {
      this.send(this.socketPath, text);
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.onSendFailure(err as Error);
      this.failing = true;
    }
  }
}

/** A STATUS= value is one line of the datagram. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, '; ');
}
