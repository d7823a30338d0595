// A state file saved under another config may hold rules that cannot work on this director: a DR real server
// on none of its links, a service on a VIP none of its interfaces owns. The daemon still starts, serves the
// rest, disables just those (kept in -S, given no traffic), says which and why in its log and in
// `uvs counters`; and uvsadm refuses to add such a rule again, with ipvsadm's status for a kernel refusal.
//
//   client 192.168.1.100 --+-- director eth0 [DIP 192.168.1.230/24, VIP 192.168.1.231/32] (uvs, DR)
//   web01 192.168.1.200 ---+   10.99.5.5: on no link of the director (and no route)
//   web02 192.168.1.201 ---+   192.168.1.250: a VIP the director does not own
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sendQuery } from '../../src/control/client.js';
import { asCountersReport } from '../../src/control/counters.js';
import type { DisabledRule } from '../../src/datapath/datapath.js';
import { LAB_ADDRESSES } from '../../src/lab/topology.js';
import { type HttpReply, type ModeLab, sleep, startModeLab, stopModeLab, uvsadmCli } from './children/e2e-support.js';
import { canUseNetns, netnsSkipReason } from './harness.js';

const VIP = LAB_ADDRESSES.vip;
const [RIP1, RIP2] = LAB_ADDRESSES.rips;
const OFF_LINK_RIP = '10.99.5.5';
const UNOWNED_VIP = '192.168.1.250';
const OFF_LINK = "DR (-g) needs the real server on one of the director's links; it is not";
const NOT_OWNED = `VIP ${UNOWNED_VIP} is not among the interfaces' addresses, so nothing answers ARP for it`;

const STATE = [
  `-A -t ${VIP}:80 -s rr`,
  `-a -t ${VIP}:80 -r ${OFF_LINK_RIP}:80 -g -w 1`,
  `-a -t ${VIP}:80 -r ${RIP2}:80 -g -w 1`,
  `-a -t ${VIP}:80 -r ${RIP1}:80 -g -w 1`,
  `-A -t ${UNOWNED_VIP}:80 -s rr`,
  `-a -t ${UNOWNED_VIP}:80 -r ${RIP1}:80 -g -w 1`,
  '',
].join('\n');

describe.skipIf(!canUseNetns)(`rules that cannot work on this director ${netnsSkipReason}`, () => {
  it('a state file holding them still starts the daemon, which serves the rest and reports them', async () => {
    let lab: ModeLab | undefined;
    try {
      lab = await startModeLab('dr', { state: STATE });
      const daemonLog = () => lab!.children[lab!.children.length - 1]!.stderr;

      // The good destinations take every connection; the unreachable one none.
      const { replies } = await lab.agent.call<{ replies: HttpReply[] }>('get', {
        url: lab.url,
        count: 6,
        timeoutMs: 5_000,
      });
      expect(replies.map((r) => r.body).sort()).toEqual(['web01', 'web01', 'web01', 'web02', 'web02', 'web02']);

      // Nothing is lost: -S gives back every rule of the state file (destinations newest first, as ever).
      const saved = async () => (await uvsadmCli(lab!, ['-S', '-n'])).stdout.split('\n').sort();
      expect(await saved()).toEqual(STATE.split('\n').sort());

      const socket = lab.topology.controlSocket;
      const answer = await sendQuery(socket, { query: 'counters' });
      const report = asCountersReport(JSON.parse(answer.stdout));
      expect(report?.disabledRules).toEqual([
        { rule: `TCP ${VIP}:80 -> ${OFF_LINK_RIP}:80`, reason: OFF_LINK },
        { rule: `TCP ${UNOWNED_VIP}:80`, reason: NOT_OWNED },
      ]);
      expect(report?.drops.drOffLink ?? 0).toBe(0);
      expect(daemonLog()).toContain(`TCP ${VIP}:80 -> ${OFF_LINK_RIP}:80: disabled, it gets no traffic: ${OFF_LINK}`);
      expect(daemonLog()).toContain(`TCP ${UNOWNED_VIP}:80: disabled, it gets no traffic: ${NOT_OWNED}`);

      // The example: uvsadm no longer accepts a rule that would stop the next start.
      const refused = await uvsadmCli(lab, ['-a', '-t', `${VIP}:80`, '-r', '10.99.5.6', '-g']);
      expect(refused).toEqual({ code: 255, stdout: '', stderr: `TCP ${VIP}:80 -> 10.99.5.6: ${OFF_LINK}\n` });
      const unowned = await uvsadmCli(lab, ['-A', '-t', '192.168.1.251:80']);
      expect(unowned.code).toBe(255);
      expect(unowned.stderr).toContain('VIP 192.168.1.251 is not among the interfaces');
      expect(await saved()).toEqual(STATE.split('\n').sort());

      // A SIGHUP reload of a rules file with one more such rule applies it, disabled, and reports it.
      writeFileSync(lab.topology.rulesPath, `${STATE}-A -t 192.168.1.252:80 -s rr\n`);
      lab.director!.reload();
      let disabled: readonly DisabledRule[] = [];
      for (let i = 0; i < 50 && disabled.length < 3; i++) {
        await sleep(100);
        disabled = asCountersReport(JSON.parse((await sendQuery(socket, { query: 'counters' })).stdout))!.disabledRules;
      }
      expect(disabled.map((d) => d.rule)).toEqual([
        `TCP ${VIP}:80 -> ${OFF_LINK_RIP}:80`,
        `TCP ${UNOWNED_VIP}:80`,
        'TCP 192.168.1.252:80',
      ]);
      expect(daemonLog()).toContain('TCP 192.168.1.252:80: disabled, it gets no traffic: VIP 192.168.1.252');
    } finally {
      await stopModeLab(lab);
    }
  }, 60_000);
});
