// `uvs counters` against a live daemon in the lab's NAT topology: after real HTTP requests through the VIP,
// the daemon's report (--json) counts them (frames in, forwarded both ways, connections in the table, frames
// per interface), and the text output has every section an operator reads. The namespaces are the lab's
// own (unique per run, removed by stopModeLab even on failure).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CountersReport } from '../../src/control/counters.js';
import { type HttpReply, type ModeLab, startModeLab, stopModeLab } from './children/e2e-support.js';
import { canUseNetns, netnsSkipReason } from './harness.js';

function uvsCli(lab: ModeLab, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'ip',
      [
        'netns',
        'exec',
        lab.topology.director.ns,
        'env',
        `UVS_SOCKET=${lab.topology.controlSocket}`,
        process.execPath,
        join(lab.distDir, 'cli', 'uvs.js'),
        ...args,
      ],
      { encoding: 'utf8', timeout: 15_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe.skipIf(!canUseNetns)(`uvs counters on a live daemon ${netnsSkipReason}`, () => {
  it('counts real HTTP requests through the VIP, as JSON and as text', async () => {
    let lab: ModeLab | undefined;
    try {
      lab = await startModeLab('nat');
      const before = await uvsCli(lab, ['counters', '--json']);
      expect(before.stderr).toBe('');
      expect(before.code).toBe(0);
      const start = JSON.parse(before.stdout) as CountersReport;

      const requests = 4;
      const { replies } = await lab.agent.call<{ replies: HttpReply[] }>('get', {
        url: lab.url,
        count: requests,
        timeoutMs: 5_000,
      });
      expect(replies).toHaveLength(requests);

      const after = await uvsCli(lab, ['counters', '--json']);
      expect(after.code).toBe(0);
      const end = JSON.parse(after.stdout) as CountersReport;
      const grew = (name: string) => (end.datapath[name] ?? 0) - (start.datapath[name] ?? 0);
      // Each HTTP exchange over TCP is at least SYN, ACK, request, FIN in and SYN-ACK, response, FIN back.
      expect(grew('forwardedIn')).toBeGreaterThanOrEqual(requests * 3);
      expect(grew('forwardedOut')).toBeGreaterThanOrEqual(requests * 3);
      expect(grew('rx')).toBeGreaterThanOrEqual(grew('forwardedIn') + grew('forwardedOut'));
      // Closed connections stay in the table until their timeout (TIME_WAIT, FIN_WAIT), as in IPVS.
      expect(end.connections.size).toBeGreaterThanOrEqual(1);
      expect(end.connections.capacity).toBeGreaterThan(0);
      expect(end.ports.map((p) => p.ifname)).toEqual(lab.topology.director.interfaces.map((i) => i.name));
      const portRx = end.ports.reduce((sum, p) => sum + p.rx, 0);
      expect(portRx).toBe(end.datapath.rx);
      expect(end.ports.every((p) => p.rx > 0)).toBe(true);
      expect(end.uptimeSeconds).toBeGreaterThan(start.uptimeSeconds);

      const text = await uvsCli(lab, ['counters']);
      expect(text.code).toBe(0);
      for (const section of [
        'datapath:',
        'fast path: ',
        'drops: ',
        'interfaces',
        'connections: ',
        'waiting for ARP: ',
      ]) {
        expect(text.stdout, section).toContain(section);
      }
    } finally {
      await stopModeLab(lab);
    }
  });
});
