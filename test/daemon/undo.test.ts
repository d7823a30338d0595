// Start-up's undo stack and start gate (src/daemon/undo.ts).
import { describe, expect, it } from 'vitest';
import { StartGate, UndoStack } from '../../src/daemon/undo.js';

describe('UndoStack', () => {
  it('undoes newest first, goes on past an undo that fails, and reports it', async () => {
    const done: string[] = [];
    const failed: string[] = [];
    const undo = new UndoStack();
    undo.push('socket', () => {
      done.push('socket');
    });
    undo.push('offloads', () => {
      throw new Error('EPERM');
    });
    undo.push('ports', async () => {
      await Promise.resolve();
      done.push('ports');
    });
    expect(undo.size).toBe(3);
    await undo.unwind((what, err) => failed.push(`${what}: ${(err as Error).message}`));
    expect(done).toEqual(['ports', 'socket']);
    expect(failed).toEqual(['offloads: EPERM']);
    expect(undo.size).toBe(0);
    // Unwound once: a second unwind has nothing left to do.
    await undo.unwind(() => failed.push('again'));
    expect(done).toEqual(['ports', 'socket']);
    expect(failed).toEqual(['offloads: EPERM']);
  });
});

describe('StartGate', () => {
  it('holds waiters until opened', async () => {
    const gate = new StartGate();
    let through = false;
    const waiter = gate.opened.then(() => {
      through = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(through).toBe(false);
    gate.open();
    await waiter;
    expect(through).toBe(true);
  });

  it('refuses waiters with the start-up error, and a failure nobody waits for is not unhandled', async () => {
    const gate = new StartGate();
    const waiter = gate.opened;
    gate.fail(new Error('no interfaces'));
    await expect(waiter).rejects.toThrow('no interfaces');
    new StartGate().fail(new Error('unobserved'));
    await new Promise((resolve) => setTimeout(resolve, 10));
  });
});
