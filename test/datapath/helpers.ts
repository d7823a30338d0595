// The seed tutorial's topology as a director configuration, a driver that runs frames through a Datapath
// one at a time, and checksum checks written plainly here (not with src/wire/checksum.ts), so a wrong
// checksum in the datapath cannot hide behind the same code in the test.
import { type DirectorConfig, parseConfig } from '../../src/config/director.js';
import { Datapath } from '../../src/datapath/datapath.js';
import type { VerdictCode } from '../../src/datapath/reasons.js';
import { FrameBatch } from '../../src/io/batch.js';
import { IpvsCore } from '../../src/ipvs/core.js';
import { parseRules } from '../../src/model/save-format.js';
import { parseIpv4Address, parseMac } from '../../src/wire/addr.js';

export const ip = (text: string): number => parseIpv4Address(text)!;
export const mac = (text: string): number => parseMac(text)!;

//            client 192.168.1.100 (02:00:00:00:01:64)     gateway 192.168.1.1 (02:00:00:00:01:01)
//                         |  eth0 (ifindex 1), VIP 192.168.1.231/24, 02:00:00:00:00:01
//                      [ director ]
//                         |  eth1 (ifindex 2), DIP 192.168.2.1/24, 02:00:00:00:00:02, MTU 1500
//          RS1 192.168.2.11 (02:00:00:00:02:11)   RS2 192.168.2.12 (02:00:00:00:02:12)
export const ETH0_MAC = mac('02:00:00:00:00:01');
export const ETH1_MAC = mac('02:00:00:00:00:02');
export const CLIENT_MAC = mac('02:00:00:00:01:64');
export const GATEWAY_MAC = mac('02:00:00:00:01:01');
export const RS1_MAC = mac('02:00:00:00:02:11');
export const RS2_MAC = mac('02:00:00:00:02:12');
export const VIP = ip('192.168.1.231');
export const DIP = ip('192.168.2.1');
export const CIP = ip('192.168.1.100');
export const REMOTE_CIP = ip('10.9.8.7');
export const RS1 = ip('192.168.2.11');
export const RS2 = ip('192.168.2.12');

export function topologyYaml(staticNeighbours = true, mtu1 = 1500): string {
  const neigh = staticNeighbours
    ? `neighbours:
  - { ip: 192.168.1.100, mac: "02:00:00:00:01:64" }
  - { ip: 192.168.1.1, mac: "02:00:00:00:01:01" }
  - { ip: 192.168.2.11, mac: "02:00:00:00:02:11" }
  - { ip: 192.168.2.12, mac: "02:00:00:00:02:12" }
`
    : '';
  return `interfaces:
  - { name: eth0, mac: "02:00:00:00:00:01", mtu: 1500, addresses: [192.168.1.231/24] }
  - { name: eth1, mac: "02:00:00:00:00:02", mtu: ${mtu1}, addresses: [192.168.2.1/24] }
${neigh}routes:
  - { to: default, via: 192.168.1.1 }
`;
}

export function topology(staticNeighbours = true, mtu1 = 1500): DirectorConfig {
  return parseConfig(topologyYaml(staticNeighbours, mtu1));
}

export function makeDatapath(rules: string, config: DirectorConfig = topology()): Datapath {
  const core = new IpvsCore({ connCapacity: 1024, ticksPerSecond: 1000, seed: 7 });
  core.applyRules(parseRules(rules));
  return new Datapath(config, core);
}

export interface Sent {
  frame: Uint8Array;
  egress: number;
}

/** Runs one frame arriving on `ifindex`; returns its verdict, drop reason and every frame sent. */
export function run(
  dp: Datapath,
  frame: Uint8Array,
  ifindex = 1,
  now = 1000,
): { verdict: VerdictCode; reason: number; sent: Sent[] } {
  const rx = new FrameBatch(1);
  rx.setFrame(0, frame);
  rx.ifindex[0] = ifindex;
  rx.count = 1;
  const tx = new FrameBatch(8);
  const verdict = dp.processFrame(rx, 0, tx, now);
  const sent: Sent[] = [];
  for (let j = 0; j < tx.count; j++) {
    sent.push({
      frame: tx.bytes.slice(tx.offset[j]!, tx.offset[j]! + tx.length[j]!),
      egress: tx.egressIfindex[j]!,
    });
  }
  return { verdict, reason: dp.lastReason, sent };
}

/** RFC 1071 one's-complement sum, written out word by word. */
export function onesSum(bytes: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  for (let k = start; k < end; k += 2) {
    const hi = bytes[k]!;
    const lo = k + 1 < end ? bytes[k + 1]! : 0;
    sum += hi * 256 + lo;
    while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  }
  return sum;
}

/**
 * Checks every checksum of an Ethernet/IPv4 frame (IP header; TCP, UDP or ICMP; for IPIP the inner packet
 * too) by summing with the checksum field in place: a right checksum makes the sum 0xffff.
 */
export function checksumsValid(frame: Uint8Array, ipOff = 14): boolean {
  const ihl = (frame[ipOff]! & 0x0f) * 4;
  if (onesSum(frame, ipOff, ipOff + ihl) !== 0xffff) return false;
  const total = frame[ipOff + 2]! * 256 + frame[ipOff + 3]!;
  const proto = frame[ipOff + 9]!;
  const l4 = ipOff + ihl;
  const end = ipOff + total;
  if (proto === 4) return checksumsValid(frame, l4);
  if (proto === 1) return onesSum(frame, l4, end) === 0xffff;
  if (proto === 6 || proto === 17) {
    if (proto === 17 && frame[l4 + 6] === 0 && frame[l4 + 7] === 0) return true;
    let pseudo = 0;
    for (let k = 12; k < 20; k += 2) pseudo += frame[ipOff + k]! * 256 + frame[ipOff + k + 1]!;
    pseudo += proto + (end - l4);
    return onesSum(frame, l4, end, pseudo % 0xffff) === 0xffff;
  }
  return true;
}
