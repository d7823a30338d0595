// Issue 13, item 3, live: the director's neighbour table against real kernels, in the lab's NAT topology
// (namespaces unique per run, removed by stopModeLab even on failure).
// 1. More different on-link senders than gc_thresh3 (1024) ARP the client's gateway address on uvs: the
//    real client, ARPing after them, must still be learned and its HTTP requests answered through the VIP
//    (the SYN-ACK to it used to be dropped as neighTableFull). The outside link is made a /16 in uvs's
//    config so that 1100 senders fit on it; they exist only as frames from the client namespace.
// 2. With base_reachable_time 1 s the neighbours go stale within seconds: uvs re-confirms them with unicast
//    ARP, which the client's and the real servers' kernels answer, so traffic keeps flowing without a
//    neighbour being forgotten and packets held for a new broadcast resolution.
import { describe, expect, it } from 'vitest';
import { sendQuery } from '../../src/control/client.js';
import type { CountersReport } from '../../src/control/counters.js';
import { NsChild } from '../../src/lab/netns.js';
import { type HttpReply, type ModeLab, sleep, startModeLab, stopModeLab } from './children/e2e-support.js';
import { canUseNetns, childScript, netnsSkipReason } from './harness.js';

const SENDERS = 1100;
const CHILD_LIMIT_MS = 30_000;

async function counters(lab: ModeLab): Promise<CountersReport> {
  const r = await sendQuery(lab.topology.controlSocket, { query: 'counters' });
  expect(r.exitCode, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as CountersReport;
}

/** The lab's config with the outside link a /16 and `arp` settings appended. */
function editConfig(arp: string) {
  return (yaml: string): string => {
    if (!yaml.includes('192.168.10.1/24')) throw new Error('the lab config has no 192.168.10.1/24 to widen');
    return `${yaml.replace('192.168.10.1/24', '192.168.10.1/16')}${arp}`;
  };
}

describe.skipIf(!canUseNetns)(`neighbour table on a live daemon ${netnsSkipReason}`, () => {
  it('serves a new client after 1100 other on-link senders', async () => {
    let lab: ModeLab | undefined;
    try {
      lab = await startModeLab('nat', { editConfig: editConfig('') });
      const senders = new NsChild(
        lab.topology.client.ns,
        [process.execPath, childScript('arp-senders.mjs')],
        CHILD_LIMIT_MS,
        {
          ...process.env,
          UVS_CHILD_CONFIG: JSON.stringify({
            dist: lab.distDir,
            ifname: lab.topology.client.dev,
            targetIp: '192.168.10.1',
            firstSenderIp: '192.168.20.0',
            count: SENDERS,
            batch: 32,
          }),
        },
      );
      const exit = await senders.done;
      expect(exit.code, senders.stderr).toBe(0);
      expect(senders.stdout).toContain(`"sent":${SENDERS}`);
      // Every request reached uvs and was answered; the table is full of those senders.
      let c = await counters(lab);
      for (let waited = 0; (c.datapath.arpReplies ?? 0) < SENDERS && waited < 3_000; waited += 100) {
        await sleep(100);
        c = await counters(lab);
      }
      expect(c.datapath.arpReplies).toBeGreaterThanOrEqual(SENDERS);
      expect(c.datapath.arpLearned).toBeGreaterThanOrEqual(SENDERS);

      const { replies } = await lab.agent.call<{ replies: HttpReply[] }>('get', {
        url: lab.url,
        count: 3,
        timeoutMs: 5_000,
      });
      expect(replies).toHaveLength(3);
      c = await counters(lab);
      expect(c.drops.neighTableFull ?? 0).toBe(0);
      expect(c.datapath.neighForgotten).toBeGreaterThan(0);
    } finally {
      await stopModeLab(lab);
    }
  }, 90_000);

  it('re-confirms stale neighbours with unicast ARP that the kernels answer', async () => {
    let lab: ModeLab | undefined;
    try {
      lab = await startModeLab('nat', { editConfig: editConfig('arp: { base_reachable_time: 1 }\n') });
      const get = (count: number) =>
        lab!.agent.call<{ replies: HttpReply[] }>('get', { url: lab!.url, count, timeoutMs: 5_000 });
      // One request to each real server (rr): every neighbour in use is resolved once, before counting.
      expect((await get(2)).replies).toHaveLength(2);
      const start = await counters(lab);
      // Reachable for 0.5..1.5 s: over 6 s every neighbour in use goes stale and is probed several times.
      for (let k = 0; k < 12; k++) {
        await sleep(500);
        expect((await get(1)).replies).toHaveLength(1);
      }
      const end = await counters(lab);
      const grew = (name: string) => (end.datapath[name] ?? 0) - (start.datapath[name] ?? 0);
      expect(grew('arpRequests')).toBeGreaterThanOrEqual(4);
      // Each probe was answered: no neighbour was forgotten and resolved anew, which would hold packets.
      expect(grew('queued')).toBe(0);
      expect(end.drops.neighUnresolved ?? 0).toBe(0);
    } finally {
      await stopModeLab(lab);
    }
  }, 90_000);
});
