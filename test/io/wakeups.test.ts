// DescriptorWakeups in busy mode (src/io/wakeups.ts), which needs no descriptor: one callback per
// event-loop turn, also after a restart, and none after stop().
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { DescriptorWakeups } from '../../src/io/wakeups.js';
import type { NativeAddon } from '../../src/native.js';

/** Busy mode never touches the addon; anything else would throw here. */
const noNative = {} as NativeAddon;

async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await nextTurn();
}

describe('DescriptorWakeups, busy', () => {
  it('calls back once per turn, keeps one chain across a restart, and stops', async () => {
    const w = new DescriptorWakeups(noNative, -1);
    let first = 0;
    let second = 0;
    w.start(() => first++, 'busy', false);
    await turns(5);
    expect(first).toBeGreaterThanOrEqual(3);
    // Restarted while a spin is still queued: the new callback takes over the one chain.
    w.start(() => second++, 'busy', false);
    const before = first;
    await turns(20);
    expect(first).toBe(before);
    expect(second).toBeGreaterThanOrEqual(10);
    expect(second).toBeLessThanOrEqual(21);
    w.stop();
    const stopped = second;
    await turns(5);
    expect(second).toBe(stopped);
  });
});

// Adaptive mode over a fake addon and a fake clock: pollStart hands the test the watcher's callback, which the
// test calls as libuv would when the descriptor turns readable; the fake clock counts how often it is read,
// and every spin turn reads it once.
function fakeDescriptor() {
  const state = {
    onEvent: undefined as ((status: number) => void) | undefined,
    polls: 0,
    stops: 0,
    now: 0,
    clockReads: 0,
  };
  const native = {
    pollStart: (_fd: number, cb: (status: number) => void) => {
      state.polls++;
      state.onEvent = cb;
      return {};
    },
    pollStop: () => {
      state.stops++;
      state.onEvent = undefined;
    },
  } as unknown as NativeAddon;
  const clock = () => {
    state.clockReads++;
    return state.now;
  };
  return { state, native, clock };
}

describe('DescriptorWakeups, adaptive', () => {
  const WINDOW_MS = 0.2;

  /** An adaptive port whose every drain receives `framesPerDrain` frames; `drains` counts the callbacks. */
  function startAdaptive(framesPerDrain: number, coalesce = false) {
    const { state, native, clock } = fakeDescriptor();
    const w = new DescriptorWakeups(native, 7, clock, WINDOW_MS);
    const counts = { drains: 0 };
    w.start(
      () => {
        counts.drains++;
        w.received += framesPerDrain;
      },
      'adaptive',
      coalesce,
    );
    return { state, w, counts };
  }

  it('costs nothing at idle: no spin without frames, and a wake-up that found none opens no window', async () => {
    const { state, w, counts } = startAdaptive(0);
    expect(state.polls).toBe(1);
    await turns(20);
    expect(state.clockReads).toBe(0);
    // Readable but nothing received (another reader took it, or an error frame): still no spinning.
    state.onEvent!(0);
    await turns(20);
    expect(counts.drains).toBe(1);
    expect(state.clockReads).toBe(0);
    w.stop();
  });

  it('spins after a drain that found frames, within the window, and sleeps after it', async () => {
    const { state, w } = startAdaptive(3);
    state.onEvent!(0);
    const opened = state.clockReads;
    await turns(30);
    // Inside the window (the fake clock stands still): one clock read per turn, spinning all along.
    const spins = state.clockReads - opened;
    expect(spins).toBeGreaterThanOrEqual(25);
    expect(spins).toBeLessThanOrEqual(31);
    // The window ends: one more turn reads the clock, then nothing runs until the descriptor wakes us.
    state.now = WINDOW_MS;
    await turns(3);
    const ended = state.clockReads;
    await turns(30);
    expect(state.clockReads).toBe(ended);
    // Throughout, the descriptor stayed watched: no pollStop/pollStart per window.
    expect(state.polls).toBe(1);
    expect(state.stops).toBe(0);
    // A later wake-up with frames opens a new window from its own time.
    state.now = 5;
    state.onEvent!(0);
    await turns(5);
    expect(state.clockReads).toBeGreaterThan(ended + 3);
    w.stop();
    const stopped = state.clockReads;
    await turns(10);
    expect(state.clockReads).toBe(stopped);
  });

  it('yields to the event loop while spinning: a timer fires inside the window', async () => {
    const { state, w } = startAdaptive(1);
    state.onEvent!(0);
    const fired = await new Promise<boolean>((resolve) => {
      setTimeout(() => resolve(true), 5);
      // A bound on the test, far beyond the timer: a spin that never yields would never get here either.
      setTimeout(() => resolve(false), 2000).unref();
    });
    expect(fired).toBe(true);
    // The window was still open (the fake clock never moved), and spinning went on meanwhile.
    expect(state.clockReads).toBeGreaterThan(5);
    const during = state.clockReads;
    await turns(3);
    expect(state.clockReads).toBeGreaterThan(during);
    w.stop();
  });

  it('coalesce wins over adaptive when both are asked for (an AF_XDP port with rx: ring)', async () => {
    const { state, w } = startAdaptive(1, true);
    state.onEvent!(0);
    await turns(10);
    expect(state.clockReads).toBe(0);
    w.stop();
  });
});
