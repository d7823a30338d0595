// How a port learns that frames are waiting (its onReadable()): shared by the AF_PACKET and AF_XDP ports,
// whose descriptors both turn readable at the first waiting frame.
//
// Busy: the callback runs on every event-loop turn (setImmediate), whether or not anything arrived.
// Plain poll: a native uv_poll_t on the descriptor calls back once per event-loop turn while it is readable.
// Coalesced: under load, waking for every few frames costs more (epoll, a callback into JS, a send) than the
// frames bring. So a wake-up that found several frames (COALESCE_ENTER) is followed by drains on a 1 ms
// timer instead, for as long as each finds a fair number (COALESCE_STAY, i.e. above ~8k pps); a thinner one
// goes back to waiting on the descriptor. Light traffic (a lone TCP connection) is still handled per frame,
// at once; under load frames wait up to ~1 ms and come in batches of up to a millisecond's traffic, the
// trade a TPACKET_V3 ring makes, without the ring's up to 1 ms wait for a lone frame.
import type { NativeAddon, PollHandle } from '../native.js';
import type { ReadableCallback, WakeMode } from './port.js';

/** The drain interval while a coalescing port is busy. */
const COALESCE_MS = 1;
/** Frames one wake-up on the descriptor must bring for the port to switch to the timer. */
const COALESCE_ENTER = 4;
/** Frames one timer drain must bring for the port to stay on the timer. */
const COALESCE_STAY = 8;

export class DescriptorWakeups {
  private poll: PollHandle | undefined;
  private timer: NodeJS.Timeout | undefined;
  private callback: ReadableCallback | undefined;
  private coalesce = false;
  private busy = false;
  private spinQueued = false;
  /** Frames received since the current wake-up began: the port adds what each recv() brings. */
  received = 0;

  constructor(
    private readonly native: NativeAddon,
    private readonly fd: number,
  ) {}

  /**
   * Starts calling `callback` when frames may be waiting: 'busy' on every turn, else on the descriptor,
   * coalesced when `coalesce` says so. Throws what pollStart throws.
   */
  start(callback: ReadableCallback, mode: WakeMode, coalesce: boolean): void {
    this.stop();
    this.callback = callback;
    if (mode === 'busy') {
      this.busy = true;
      // A spin still queued from an earlier start() carries on with the new callback: never two chains.
      if (!this.spinQueued) {
        this.spinQueued = true;
        setImmediate(this.spin);
      }
      return;
    }
    this.coalesce = coalesce;
    try {
      this.watch();
    } catch (err) {
      this.callback = undefined;
      throw err;
    }
  }

  stop(): void {
    this.busy = false;
    this.callback = undefined;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.poll !== undefined) {
      this.native.pollStop(this.poll);
      this.poll = undefined;
    }
  }

  private readonly spin = (): void => {
    this.spinQueued = false;
    if (!this.busy || this.callback === undefined) return;
    this.callback(0);
    if (this.busy && !this.spinQueued) {
      this.spinQueued = true;
      setImmediate(this.spin);
    }
  };

  /** Waits on the descriptor: the callback runs as soon as a frame is waiting. */
  private watch(): void {
    this.poll = this.native.pollStart(this.fd, this.coalesce ? this.onPollEvent : this.callback!);
  }

  /** A wake-up that found several frames hands the port over to the 1 ms timer. */
  private readonly onPollEvent = (status: number): void => {
    const callback = this.callback;
    if (callback === undefined) return;
    this.received = 0;
    callback(status);
    if (this.callback === undefined || this.received < COALESCE_ENTER) return;
    if (this.poll !== undefined) this.native.pollStop(this.poll);
    this.poll = undefined;
    this.timer = setTimeout(this.onTick, COALESCE_MS);
  };

  private readonly onTick = (): void => {
    this.timer = undefined;
    const callback = this.callback;
    if (callback === undefined) return;
    this.received = 0;
    callback(0);
    if (this.callback === undefined || this.timer !== undefined || this.poll !== undefined) return;
    // Still busy: drain again in a millisecond; quiet: wait on the descriptor again.
    if (this.received >= COALESCE_STAY) this.timer = setTimeout(this.onTick, COALESCE_MS);
    else this.watch();
  };
}
