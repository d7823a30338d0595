// Frames the kernel refuses to send are counted, and `uvs counters` still adds up (issue 13, item 8). A live
// daemon in the lab's NAT topology serves a few requests; then its kernel is made to refuse what it forwards
// to the real servers, in two ways:
// - the MTU of the director's eth1 is lowered under uvs (which read 1500 at start): full-size segments of an
//   upload are refused by the packet socket (EMSGSIZE), counted as txDropped, not as queue full;
// - the bridge port behind eth1 goes down, so eth1 loses its carrier: the kernel answers every send with
//   ENOBUFS, as for a full device queue, and the rest of the batch is counted as lost to a full queue.
// After each, every frame the datapath put out is either handed to the kernel or counted as lost on send
// (countersBalance), and the lost ones are counted by their reason. Namespaces are the lab's own (unique per
// run, removed by stopModeLab even on failure).
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { type CountersReport, countersBalance } from '../../src/control/counters.js';
import { directorCli, type ModeLab, startModeLab, stopModeLab } from './children/e2e-support.js';
import { canUseNetns, netnsSkipReason } from './harness.js';

async function counters(lab: ModeLab): Promise<CountersReport> {
  const r = await directorCli(lab, 'uvs', ['counters', '--json']);
  if (r.code !== 0) throw new Error(`uvs counters exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as CountersReport;
}

const sum = (r: CountersReport, f: (p: CountersReport['ports'][number]) => number) =>
  r.ports.reduce((a, p) => a + f(p), 0);
const refused = (r: CountersReport) => sum(r, (p) => p.txDropped - p.txDroppedQueueFull);
const queueFull = (r: CountersReport) => sum(r, (p) => p.txDroppedQueueFull);

function expectBalanced(r: CountersReport): void {
  const b = countersBalance(r);
  expect(b.sent.unaccounted, JSON.stringify(b.sent)).toBe(0);
  expect(b.received.unaccounted, JSON.stringify(b.received)).toBe(0);
  expect(b.queued.unaccounted, JSON.stringify(b.queued)).toBe(0);
}

describe.skipIf(!canUseNetns)(`frames the kernel refuses to send ${netnsSkipReason}`, () => {
  it('are counted by reason, and the counters add up', async () => {
    let lab: ModeLab | undefined;
    try {
      lab = await startModeLab('nat');
      const { replies } = await lab.agent.call<{ replies: unknown[] }>('get', {
        url: lab.url,
        count: 2,
        timeoutMs: 5_000,
      });
      expect(replies).toHaveLength(2);
      const start = await counters(lab);
      expectBalanced(start);
      expect(start.ports.every((p) => p.txDropped === 0)).toBe(true);

      // eth1's kernel MTU under what uvs forwards: full-size frames toward the real servers are refused.
      const director = lab.topology.director.ns;
      execFileSync('ip', ['-n', director, 'link', 'set', 'eth1', 'mtu', '1280']);
      await lab.agent.call('echo', { url: lab.url, bytes: 20_000, timeoutMs: 2_000 }).catch(() => undefined);
      const afterMtu = await counters(lab);
      expectBalanced(afterMtu);
      expect(refused(afterMtu) - refused(start)).toBeGreaterThanOrEqual(1);
      expect(queueFull(afterMtu)).toBe(queueFull(start));

      // No carrier on eth1: every send out of it fails with ENOBUFS, which ends the batch.
      execFileSync('ip', ['-n', lab.topology.lanNs, 'link', 'set', 'p-director', 'down']);
      await lab.agent.call('get', { url: lab.url, count: 1, timeoutMs: 2_500 }).catch(() => undefined);
      const afterDown = await counters(lab);
      expectBalanced(afterDown);
      expect(queueFull(afterDown) - queueFull(afterMtu)).toBeGreaterThanOrEqual(1);
      // Every frame the datapath put out in the meantime was handed over or counted as lost.
      const grew = (name: string) => (afterDown.datapath[name] ?? 0) - (start.datapath[name] ?? 0);
      const handed = sum(afterDown, (p) => p.tx) - sum(start, (p) => p.tx);
      const lost = sum(afterDown, (p) => p.txDropped) - sum(start, (p) => p.txDropped);
      expect(handed + lost).toBe(grew('tx'));
    } finally {
      await stopModeLab(lab);
    }
  }, 60_000);
});
