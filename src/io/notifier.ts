// Wake-ups for ports whose frames arrive in a JS-side queue (memory, libpcap): the modes of
// AfPacketPort.onReadable. 'poll' calls back once per event-loop turn in which frames arrived (setImmediate,
// so a burst costs one call, and the callback drains with recv()); 'busy' calls back on every turn;
// 'coalesce' and 'adaptive' are 'poll' here, as a queue in JS costs no system call to watch.
import type { ReadableCallback, WakeMode } from './port.js';

export class ReadableNotifier {
  private callback: ReadableCallback | undefined;
  private mode: WakeMode = 'poll';
  private wakePending = false;
  private busy = false;
  private readonly wake = (): void => {
    this.wakePending = false;
    if (this.callback !== undefined && this.mode !== 'busy' && this.hasFrames()) this.callback(0);
  };
  private readonly spin = (): void => {
    if (!this.busy || this.callback === undefined) return;
    this.callback(0);
    if (this.busy) setImmediate(this.spin);
  };

  /** `hasFrames` tells whether the port's queue holds anything to receive. */
  constructor(private readonly hasFrames: () => boolean) {}

  start(callback: ReadableCallback, mode: WakeMode): void {
    this.stop();
    this.callback = callback;
    this.mode = mode;
    if (mode === 'busy') {
      this.busy = true;
      setImmediate(this.spin);
    } else if (this.hasFrames()) {
      this.arrived();
    }
  }

  stop(): void {
    this.busy = false;
    this.callback = undefined;
  }

  /** Frames were queued: in 'poll' mode, schedule one callback for this turn. */
  arrived(): void {
    if (this.callback !== undefined && this.mode !== 'busy' && !this.wakePending) {
      this.wakePending = true;
      setImmediate(this.wake);
    }
  }
}
