// ip_vs_sh_get_port() / ip_vs_mh_get_port(): only TCP, UDP and SCTP have ports to hash; anything else hashes 0.
import { IpProto } from '../constants.js';
import type { SchedInput } from './types.js';

export function hashablePort(input: SchedInput): number {
  const proto = input.proto;
  return proto === IpProto.tcp || proto === IpProto.udp || proto === IpProto.sctp ? input.sport : 0;
}
