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
