// End to end, for each forwarding mode (uvs issue 6): the seed's topology built by the lab (client, director
// running `uvs daemon`, web01 and web02 behind it), real TCP and UDP from the client namespace to the VIP,
// and live rule changes through uvsadm. One topology per mode serves all of that mode's cases, in order:
//   1. four GETs on new connections are answered web02, web01, web02, web01: rr walks the destination list,
//      which the kernel keeps newest first (ip_vs_add_dest() list_add()s at the head) and rr starts at its
//      head (ip_vs_rr_init_svc());
//   2. 1 MB random bodies go up and come back (POST /echo) with the same SHA-256;
//   3. weight 0 (`-e ... -w 0`) of the destination that holds an upload half-sent: new connections all go to
//      the other one, and the held upload completes intact from its own server (weight 0 only stops new
//      scheduling);
//   4. removal (`-d`) of the destination holding an upload: new connections go to the other one; the held
//      connection's packets are dropped (expire_nodest_conn=0, IPVS's default, IPVS-REFERENCE.md) until the
//      destination is added back, when the same connection resumes and completes intact;
//   5. a UDP service on the same VIP answers, in rr order, from the VIP;
//   6. the director's counters (`-Ln --stats --exact`, refreshed by the 2-s estimator) show replies going
//      back through it for NAT only: DR and TUN real servers answer the client directly, so OutPkts is 0.
// NAT also proves the client never sees a real server's address: a capture on the client's interface counts
// every IPv4 packet that arrives there by source, and the VIP is the only one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NsChild } from '../../src/lab/netns.js';
import { FORWARD_FLAG, LAB_ADDRESSES, type LabMode } from '../../src/lab/topology.js';
import {
  destinationOf,
  type EchoResult,
  type HttpReply,
  type ModeLab,
  serviceStats,
  sleep,
  startModeLab,
  startUdpEchoServers,
  stopModeLab,
  type UdpReply,
  uvsadmOk,
} from './children/e2e-support.js';
import { canUseNetns, childScript, netnsSkipReason } from './harness.js';

const MB = 1 << 20;
const UDP_PORT = 7;
/** The upload held open across a rule change; a quarter of it goes before the change. */
const HELD_BYTES = 256 * 1024;
/** How long a held upload to a removed destination must stay stalled. */
const STALL_MS = 1_000;
const REQUEST_TIMEOUT_MS = 5_000;
/** One run of IPVS's rate estimator (2 s, ip_vs_est.c), which is also when --stats totals are refreshed. */
const ESTIMATOR_PERIOD_MS = 2_200;
const SERVER_OF_RIP: Readonly<Record<string, string>> = {
  [LAB_ADDRESSES.rips[0]]: 'web01',
  [LAB_ADDRESSES.rips[1]]: 'web02',
};

function otherServer(name: string): string {
  return name === 'web01' ? 'web02' : 'web01';
}

describe.skipIf(!canUseNetns)(`end to end through uvs ${netnsSkipReason}`, () => {
  for (const mode of ['nat', 'dr', 'tun'] as const satisfies readonly LabMode[]) {
    describe(mode.toUpperCase(), () => {
      let lab: ModeLab | undefined;
      let capture: NsChild | undefined;
      const vip = LAB_ADDRESSES.vip;
      const service = `${vip}:80`;
      const flag = FORWARD_FLAG[mode];
      const seenRemotes = new Set<string>();

      const get = async (count: number): Promise<HttpReply[]> => {
        const { replies } = await lab!.agent.call<{ replies: HttpReply[] }>('get', {
          url: lab!.url,
          count,
          timeoutMs: REQUEST_TIMEOUT_MS,
        });
        for (const r of replies) seenRemotes.add(`${r.remote}:${r.remotePort}`);
        return replies;
      };
      const checkEcho = (r: EchoResult, bytes: number): void => {
        seenRemotes.add(`${r.remote}:${r.remotePort}`);
        expect(r.status).toBe(200);
        expect(r.sentBytes).toBe(bytes);
        expect(r.receivedBytes).toBe(bytes);
        expect(r.receivedHash).toBe(r.sentHash);
      };

      /** Starts an upload, sends a quarter of it and holds it open; returns the RIP and name of its server. */
      const holdUpload = async (key: string): Promise<{ rip: string; held: string }> => {
        const { localPort } = await lab!.agent.call<{ localPort: number }>('start', {
          key,
          url: lab!.url,
          bytes: HELD_BYTES,
          firstBytes: HELD_BYTES / 4,
          timeoutMs: REQUEST_TIMEOUT_MS,
        });
        const conns = await uvsadmOk(lab!, ['-Lnc']);
        const dest = destinationOf(conns, `${lab!.topology.client.cip}:${localPort}`);
        expect(dest, conns).toMatch(/^192\.168\.1\.20[01]:80$/);
        const rip = dest!.split(':')[0]!;
        return { rip, held: SERVER_OF_RIP[rip]! };
      };

      beforeAll(async () => {
        lab = await startModeLab(mode);
        if (mode === 'nat') {
          capture = new NsChild(lab.topology.client.ns, [process.execPath, childScript('ipv4-sources.mjs')], 120_000, {
            ...process.env,
            UVS_CHILD_CONFIG: JSON.stringify({
              dist: lab.distDir,
              ifname: lab.topology.client.dev,
              timeoutMs: 110_000,
            }),
          });
          lab.children.push(capture);
          await capture.waitForLine((l) => l.includes('"event":"ready"'), 10_000);
        }
      }, 60_000);

      afterAll(async () => {
        await stopModeLab(lab);
      }, 30_000);

      it('sends new TCP connections to web02, web01, web02, web01 (rr, newest destination first)', async () => {
        const replies = await get(4);
        expect(replies.map((r) => r.body)).toEqual(['web02', 'web01', 'web02', 'web01']);
        expect(replies.map((r) => r.servedBy)).toEqual(['web02', 'web01', 'web02', 'web01']);
        expect(replies.every((r) => r.status === 200)).toBe(true);
      });

      it('carries random 1 MB bodies up and back intact (SHA-256), on both servers', async () => {
        const first = await lab!.agent.call<EchoResult>(
          'echo',
          { url: lab!.url, bytes: MB, timeoutMs: 15_000 },
          20_000,
        );
        const second = await lab!.agent.call<EchoResult>(
          'echo',
          { url: lab!.url, bytes: MB, timeoutMs: 15_000 },
          20_000,
        );
        checkEcho(first, MB);
        checkEcho(second, MB);
        // Two bodies are not the same bytes by accident, and rr sent them to different servers.
        expect(first.sentHash).not.toBe(second.sentHash);
        expect([first.servedBy, second.servedBy].sort()).toEqual(['web01', 'web02']);
      }, 45_000);

      it('weight 0 sends new connections to the other server while an open upload completes', async () => {
        const { rip, held } = await holdUpload('quiesce');
        await uvsadmOk(lab!, ['-e', '-t', service, '-r', `${rip}:80`, flag, '-w', '0']);
        expect(await uvsadmOk(lab!, ['-Ln'])).toMatch(new RegExp(`-> ${rip.replaceAll('.', '\\.')}:80 +\\S+ +0 `));
        expect((await get(4)).map((r) => r.body)).toEqual(Array(4).fill(otherServer(held)));
        const finished = await lab!.agent.call<EchoResult>('finish', { key: 'quiesce', timeoutMs: REQUEST_TIMEOUT_MS });
        checkEcho(finished, HELD_BYTES);
        expect(finished.servedBy).toBe(held);
        await uvsadmOk(lab!, ['-e', '-t', service, '-r', `${rip}:80`, flag, '-w', '1']);
        // Back at weight 1, both servers take new connections again.
        expect(new Set((await get(2)).map((r) => r.body))).toEqual(new Set(['web01', 'web02']));
      }, 30_000);

      it('removing a destination sends new connections elsewhere; its open upload waits and resumes when re-added', async () => {
        const { rip, held } = await holdUpload('remove');
        await uvsadmOk(lab!, ['-d', '-t', service, '-r', `${rip}:80`]);
        expect(await uvsadmOk(lab!, ['-Ln'])).not.toContain(`${rip}:80`);
        expect((await get(4)).map((r) => r.body)).toEqual(Array(4).fill(otherServer(held)));
        // expire_nodest_conn=0 (IPVS's default): the connection's entry stays, but its packets are dropped
        // while the destination is gone, so the rest of the upload cannot arrive...
        let finished: EchoResult | undefined;
        const finishing = lab!.agent
          .call<EchoResult>('finish', { key: 'remove', timeoutMs: 15_000 }, 20_000)
          .then((r) => {
            finished = r;
            return r;
          });
        await sleep(STALL_MS);
        expect(finished).toBeUndefined();
        // ...and adding the destination back takes it out of the trash (ip_vs_trash_get_dest()), so the same
        // connection continues when TCP retransmits, to the same server, and the body arrives whole.
        await uvsadmOk(lab!, ['-a', '-t', service, '-r', `${rip}:80`, flag, '-w', '1']);
        const resumed = await finishing;
        checkEcho(resumed, HELD_BYTES);
        expect(resumed.servedBy).toBe(held);
      }, 30_000);

      it('serves a UDP service in rr order, answered from the VIP', async () => {
        // NAT's real servers answer from their RIP, which the director rewrites to the VIP; DR and TUN servers
        // must answer from the VIP themselves, so their echo servers bind it.
        await startUdpEchoServers(lab!, UDP_PORT, mode === 'nat' ? '0.0.0.0' : vip);
        await uvsadmOk(lab!, ['-A', '-u', `${vip}:${UDP_PORT}`, '-s', 'rr']);
        for (const rip of LAB_ADDRESSES.rips) {
          await uvsadmOk(lab!, ['-a', '-u', `${vip}:${UDP_PORT}`, '-r', `${rip}:${UDP_PORT}`, flag]);
        }
        const { replies } = await lab!.agent.call<{ replies: UdpReply[] }>('udp', {
          host: vip,
          port: UDP_PORT,
          count: 4,
          timeoutMs: 3_000,
        });
        expect(replies.map((r) => r.body)).toEqual(['web02 ping 0', 'web01 ping 1', 'web02 ping 2', 'web01 ping 3']);
        for (const r of replies) seenRemotes.add(`${r.from}:${r.fromPort}`);
        expect(replies.map((r) => `${r.from}:${r.fromPort}`)).toEqual(Array(4).fill(`${vip}:${UDP_PORT}`));
      }, 30_000);

      it(mode === 'nat'
        ? 'counts replies through the director, and the client only ever hears from the VIP'
        : 'sends no reply through the director (OutPkts 0)', async () => {
        await sleep(ESTIMATOR_PERIOD_MS);
        const stats = serviceStats(await uvsadmOk(lab!, ['-Ln', '--stats', '--exact']));
        const tcp = stats.get(`TCP ${service}`);
        const udp = stats.get(`UDP ${vip}:${UDP_PORT}`);
        // 4 + 2 + (1 + 4 + 2) + (1 + 4) GETs/uploads so far, and 4 UDP "connections".
        expect(tcp?.conns).toBe(18);
        expect(udp?.conns).toBe(4);
        // The 1 MB uploads alone are over 700 full-sized segments each way.
        expect(tcp!.inBytes).toBeGreaterThan(2 * MB);
        expect(udp!.inPkts).toBeGreaterThanOrEqual(4);
        if (mode === 'nat') {
          expect(tcp!.outBytes).toBeGreaterThan(2 * MB);
          expect(udp!.outPkts).toBeGreaterThanOrEqual(4);
          // Every TCP reply and UDP answer the client's sockets saw came from the VIP's service ports.
          expect([...seenRemotes].every((r) => r === `${vip}:80` || r === `${vip}:${UDP_PORT}`)).toBe(true);
          await capture!.stop('SIGTERM', 3_000);
          const done = JSON.parse(capture!.stdout.trim().split('\n').at(-1)!) as {
            sources: Record<string, number>;
          };
          // Sources as "address/IP protocol": TCP (6) and UDP (17) from the VIP, nothing from a RIP.
          expect(Object.keys(done.sources).sort()).toEqual([`${vip}/17`, `${vip}/6`]);
          // The two 1 MB echoes alone bring over 1400 full segments back; a capture may miss some under load.
          expect(done.sources[`${vip}/6`]).toBeGreaterThan(1000);
        } else {
          expect(tcp!.outPkts).toBe(0);
          expect(tcp!.outBytes).toBe(0);
          expect(udp!.outPkts).toBe(0);
        }
      }, 20_000);

      it('carries 4000-byte UDP datagrams both ways as IP fragments', async () => {
        // Past the 1500-byte MTU, the client's kernel sends each datagram as three fragments; uvs forwards the
        // later ones by the first one's connection (src/datapath/fragments.ts), the real server's kernel
        // reassembles, and its answer, as big, comes back in fragments too (through uvs for NAT).
        const SIZE = 4000;
        const { replies } = await lab!.agent.call<{ replies: UdpReply[] }>('udp', {
          host: vip,
          port: UDP_PORT,
          count: 2,
          timeoutMs: 3_000,
          size: SIZE,
        });
        const sent = (i: number) => `ping ${i} `.padEnd(SIZE, 'x');
        const bodies = replies.map((r) => r.body);
        expect(bodies.map((b) => b.slice(0, 6)).sort()).toEqual(['web01 ', 'web02 ']);
        expect(bodies.map((b) => b.slice(6))).toEqual([sent(0), sent(1)]);
        expect(replies.map((r) => `${r.from}:${r.fromPort}`)).toEqual(Array(2).fill(`${vip}:${UDP_PORT}`));
      }, 20_000);
    });
  }
});
