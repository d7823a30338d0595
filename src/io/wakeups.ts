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
// Adaptive: plain poll, except that a wake-up which found frames keeps the event loop awake for
// SPIN_WINDOW_MS after it: one setImmediate per turn, so each turn polls the descriptor without blocking
// (libuv's epoll_wait with a zero timeout, while an immediate is queued), and the poll watcher drains a frame
// that arrived meanwhile in that same turn; timers and other sockets run between turns as usual. Only when a
// whole window passes without a frame does the loop block in epoll again. Why: blocking costs the next frame a
// wake-up of a sleeping core, tens of µs on a VM (a halted vCPU is woken by the host), and the packets of one
// connection follow each other through a director within that time (docs/performance.md, "Latency at low
// load"). At idle nothing spins; under load the loop has work every turn anyway. The price is in between:
// while packets come less than a window apart without keeping uvs busy, the core polls instead of sleeping
// (up to a whole core; measured in src/datapath/README.md), which is why 'poll' stays the default.
import type { NativeAddon, PollHandle } from '../native.js';
import type { ReadableCallback, WakeMode } from './port.js';

/** How long an adaptive port keeps polling after the last wake-up that found frames, in ms. */
export const SPIN_WINDOW_MS = 0.2;

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
  private adaptive = false;
  /** Until when (clock(), ms) an adaptive port keeps the event loop polling. */
  private spinUntil = 0;
  /** Frames received since the current wake-up began: the port adds what each recv() brings. */
  received = 0;

  /** `clock` (ms, monotonic) times the adaptive spin window; tests pass a fake one. */
  constructor(
    private readonly native: NativeAddon,
    private readonly fd: number,
    private readonly clock: () => number = performance.now.bind(performance),
    private readonly spinWindowMs = SPIN_WINDOW_MS,
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
      this.queueSpin();
      return;
    }
    this.coalesce = coalesce;
    this.adaptive = mode === 'adaptive' && !coalesce;
    try {
      this.watch();
    } catch (err) {
      this.callback = undefined;
      throw err;
    }
  }

  stop(): void {
    this.busy = false;
    this.adaptive = false;
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
    if (this.callback === undefined) return;
    if (this.adaptive) {
      // The poll watcher does the draining; this only keeps the loop from blocking until the window ends.
      if (this.clock() < this.spinUntil) this.queueSpin();
      return;
    }
    if (!this.busy) return;
    this.callback(0);
    if (this.busy) this.queueSpin();
  };

  private queueSpin(): void {
    if (this.spinQueued) return;
    this.spinQueued = true;
    setImmediate(this.spin);
  }

  /** Waits on the descriptor: the callback runs as soon as a frame is waiting. */
  private watch(): void {
    const onEvent = this.coalesce ? this.onPollEvent : this.adaptive ? this.onAdaptiveEvent : this.callback!;
    this.poll = this.native.pollStart(this.fd, onEvent);
  }

  /** A wake-up that found frames (re)opens the spin window. */
  private readonly onAdaptiveEvent = (status: number): void => {
    const callback = this.callback;
    if (callback === undefined) return;
    this.received = 0;
    callback(status);
    if (this.received === 0 || !this.adaptive) return;
    this.spinUntil = this.clock() + this.spinWindowMs;
    this.queueSpin();
  };

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
