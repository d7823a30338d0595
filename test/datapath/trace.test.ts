import diagnosticsChannel from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { TcpFlag } from '../../src/conn/tcp-state.js';
import { type PacketTrace, TRACE_CHANNEL } from '../../src/datapath/datapath.js';
import { buildFrame, ipv4Fields } from '../../src/wire/frame.js';
import { CIP, CLIENT_MAC, ETH0_MAC, makeDatapath, run, VIP } from './helpers.js';

const RULES = `-A -t 192.168.1.231:80 -s rr
-a -t 192.168.1.231:80 -r 192.168.2.11:8080 -m -w 1
-a -t 192.168.1.231:80 -r 192.168.2.12:8080 -m -w 1
`;

const syn = (dport: number, flags: number = TcpFlag.syn) =>
  buildFrame({
    eth: { dst: ETH0_MAC, src: CLIENT_MAC, etherType: 0x0800 },
    ipv4: ipv4Fields(CIP, VIP),
    tcp: { srcPort: 40000, dstPort: dport, seq: 1, ack: 0, flags, window: 100, urgent: 0, payload: new Uint8Array(0) },
  });

describe('trace channel', () => {
  const seen: PacketTrace[] = [];
  const listener = (m: unknown) => seen.push(m as PacketTrace);
  afterEach(() => {
    diagnosticsChannel.unsubscribe(TRACE_CHANNEL, listener);
    seen.length = 0;
  });

  it('publishes nothing while nobody subscribes', () => {
    const dp = makeDatapath(RULES);
    run(dp, syn(80));
    expect(seen).toEqual([]);
    expect(diagnosticsChannel.channel(TRACE_CHANNEL).hasSubscribers).toBe(false);
  });

  it('explains a new NAT connection: ingress, addresses before/after, service, scheduler, mode, states', () => {
    const dp = makeDatapath(RULES);
    diagnosticsChannel.subscribe(TRACE_CHANNEL, listener);
    run(dp, syn(80));
    run(dp, syn(80, TcpFlag.ack));
    run(dp, syn(443));
    expect(seen).toHaveLength(3);
    expect(seen[0]).toMatchObject({
      ingress: 'eth0',
      verdict: 'forward',
      reason: null,
      input: { kind: 'tcp', src: '192.168.1.100', dst: '192.168.1.231', sport: 40000, dport: 80 },
      output: {
        kind: 'tcp',
        src: '192.168.1.100',
        dst: '192.168.2.12',
        sport: 40000,
        dport: 8080,
        dstMac: '02:00:00:00:02:12',
      },
      egress: 'eth1',
      service: 'TCP 192.168.1.231:80',
      scheduler: 'rr',
      conn: 'new',
      fwd: 'Masq',
      stateBefore: 'NONE',
      stateAfter: 'SYN_RECV',
    });
    expect(seen[1]).toMatchObject({ conn: 'known', stateBefore: 'SYN_RECV', stateAfter: 'ESTABLISHED' });
    expect(seen[2]).toMatchObject({ verdict: 'drop', reason: 'noService', output: null, conn: null });
  });
});
