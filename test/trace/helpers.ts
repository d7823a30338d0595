// Frames of the seed's topology (test/datapath/helpers.ts) and a driver that returns the trace the datapath
// published for one frame, with the TCP flags added as `uvs trace` adds them.
import diagnosticsChannel from 'node:diagnostics_channel';
import { TcpFlag } from '../../src/conn/tcp-state.js';
import { type Datapath, type PacketTrace, TRACE_CHANNEL } from '../../src/datapath/datapath.js';
import type { TraceMessage } from '../../src/trace/explain.js';
import { buildFrame, ipv4Fields } from '../../src/wire/frame.js';
import { CIP, CLIENT_MAC, ETH0_MAC, run, VIP } from '../datapath/helpers.js';

/** NAT on port 80, DR on 81, TUN on 82, each to one real server so that no scheduler order matters. */
export const RULES = `-A -t 192.168.1.231:80 -s rr
-a -t 192.168.1.231:80 -r 192.168.2.11:8080 -m -w 1
-A -t 192.168.1.231:81 -s rr
-a -t 192.168.1.231:81 -r 192.168.2.12:81 -g -w 1
-A -t 192.168.1.231:82 -s wlc
-a -t 192.168.1.231:82 -r 192.168.2.11:82 -i -w 1
`;

export function tcpFrame(
  srcMac: number,
  dstMac: number,
  src: number,
  dst: number,
  sport: number,
  dport: number,
  flags: number,
): Uint8Array {
  return buildFrame({
    eth: { dst: dstMac, src: srcMac, etherType: 0x0800 },
    ipv4: ipv4Fields(src, dst),
    tcp: { srcPort: sport, dstPort: dport, seq: 1, ack: 0, flags, window: 100, urgent: 0, payload: new Uint8Array(0) },
  });
}

export const clientSyn = (sport: number, dport: number): Uint8Array =>
  tcpFrame(CLIENT_MAC, ETH0_MAC, CIP, VIP, sport, dport, TcpFlag.syn);

/** Runs `frame` (arriving on `ifindex`) and returns what the datapath published for it. */
export function traced(dp: Datapath, frame: Uint8Array, ifindex = 1, tcpFlags?: number): TraceMessage {
  const seen: PacketTrace[] = [];
  const listener = (m: unknown) => seen.push(m as PacketTrace);
  diagnosticsChannel.subscribe(TRACE_CHANNEL, listener);
  try {
    run(dp, frame, ifindex);
  } finally {
    diagnosticsChannel.unsubscribe(TRACE_CHANNEL, listener);
  }
  if (seen.length !== 1) throw new Error(`expected one trace, got ${seen.length}`);
  const t = seen[0]!;
  return tcpFlags === undefined || t.input === null ? t : { ...t, input: { ...t.input, tcpFlags } };
}
