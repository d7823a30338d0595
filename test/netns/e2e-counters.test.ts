// `uvs counters` against a live daemon in the lab's NAT topology: after real HTTP requests through the VIP,
// the daemon's report (--json) counts them (frames in, forwarded both ways, connections in the table, frames
// per interface), and the text output has every section an operator reads. The namespaces are the lab's
// own (unique per run, removed by stopModeLab even on failure).
import { describe, expect, it } from 'vitest';
import { type CountersReport, countersBalance } from '../../src/control/counters.js';
import { directorCli, type HttpReply, type ModeLab, startModeLab, stopModeLab } from './children/e2e-support.js';
import { canUseNetns, netnsSkipReason } from './harness.js';

const uvsCli = (lab: ModeLab, args: readonly string[]) => directorCli(lab, 'uvs', args);

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
      // Every frame received, held and sent is accounted for once.
      const balance = countersBalance(end);
      for (const [name, b] of Object.entries(balance)) expect(b.unaccounted, `${name}: ${JSON.stringify(b)}`).toBe(0);
      // Frames sent on at once are among those decided for forwarding (the rest were held for ARP first).
      expect(balance.received.parts.forwarded).toBeGreaterThan(0);
      expect(balance.received.parts.forwarded).toBeLessThanOrEqual(
        end.datapath.forwardedIn! + end.datapath.forwardedOut!,
      );

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
