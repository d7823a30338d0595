// Whole frames as plain objects: build one from fields (lengths and checksums filled in) and parse one back
// into fields. For tests, fixtures, `uvs trace` output and the control plane; the datapath uses the views.
import { EtherType, IpProto } from '../constants.js';
import { type ArpRepr, ArpView, arpReprLen, emitArp, parseArp } from './arp.js';
import { type EthernetRepr, EthernetView, emitEthernet, ethernetReprLen, parseEthernet } from './ethernet.js';
import { emitIcmp, type IcmpRepr, IcmpView, icmpReprLen, parseIcmp } from './icmp.js';
import { emitIpv4, type Ipv4Repr, Ipv4View, ipv4ReprLen, parseIpv4 } from './ipv4.js';
import { Reason, type ReasonCode } from './reason.js';
import { emitTcp, parseTcp, type TcpRepr, TcpView, tcpReprLen } from './tcp.js';
import { emitUdp, parseUdp, type UdpRepr, UdpView, udpReprLen } from './udp.js';

/** IPv4 header fields a frame builder needs; protocol and payload length are derived from the L4 part. */
export type Ipv4Fields = Omit<Ipv4Repr, 'protocol' | 'payloadLen'> & { protocol?: number };

/** Defaults for the IPv4 fields tests rarely care about. */
export function ipv4Fields(src: number, dst: number, more: Partial<Ipv4Fields> = {}): Ipv4Fields {
  return { tos: 0, id: 0, dontFrag: true, moreFrags: false, fragOffset: 0, ttl: 64, src, dst, ...more };
}

export type FrameRepr =
  | { eth: EthernetRepr; arp: ArpRepr }
  | { eth: EthernetRepr; ipv4: Ipv4Fields; tcp: TcpRepr }
  | { eth: EthernetRepr; ipv4: Ipv4Fields; udp: UdpRepr }
  | { eth: EthernetRepr; ipv4: Ipv4Fields; icmp: IcmpRepr }
  /** Any other IPv4 payload (IPIP, fragments, unknown protocols), copied as is. */
  | { eth: EthernetRepr; ipv4: Ipv4Fields & { protocol: number }; raw: Uint8Array };

function l4Len(repr: FrameRepr): number {
  if ('tcp' in repr) return tcpReprLen(repr.tcp);
  if ('udp' in repr) return udpReprLen(repr.udp);
  if ('icmp' in repr) return icmpReprLen(repr.icmp);
  if ('raw' in repr) return repr.raw.length;
  return 0;
}

function l4Proto(repr: FrameRepr): number {
  if ('tcp' in repr) return IpProto.tcp;
  if ('udp' in repr) return IpProto.udp;
  if ('icmp' in repr) return IpProto.icmp;
  if ('raw' in repr) return repr.ipv4.protocol;
  return 0;
}

/** Builds a frame with every length and checksum computed; the EtherType follows the contents. */
export function buildFrame(repr: FrameRepr): Uint8Array {
  const eth: EthernetRepr = { ...repr.eth, etherType: 'arp' in repr ? EtherType.arp : EtherType.ipv4 };
  if ('arp' in repr) {
    const buf = new Uint8Array(ethernetReprLen(eth) + arpReprLen());
    emitArp(repr.arp, buf, emitEthernet(eth, buf, 0));
    return buf;
  }
  const ip: Ipv4Repr = { ...repr.ipv4, protocol: l4Proto(repr), payloadLen: l4Len(repr) };
  const buf = new Uint8Array(ethernetReprLen(eth) + ipv4ReprLen(ip) + ip.payloadLen);
  const l4 = emitIpv4(ip, buf, emitEthernet(eth, buf, 0));
  if ('tcp' in repr) emitTcp(repr.tcp, buf, l4, ip.src, ip.dst);
  else if ('udp' in repr) emitUdp(repr.udp, buf, l4, ip.src, ip.dst);
  else if ('icmp' in repr) emitIcmp(repr.icmp, buf, l4);
  else buf.set(repr.raw, l4);
  return buf;
}

export type ParsedFrame = { reason: typeof Reason.ok; frame: FrameRepr } | { reason: ReasonCode; frame?: undefined };

/**
 * Parses a frame into fields, validating every header on the way; a failure gives the reason code of the
 * first bad header. Fragments and protocols without a view come back as `raw`.
 */
export function parseFrame(buf: Uint8Array, off = 0, len = buf.length - off): ParsedFrame {
  const ethView = new EthernetView().reset(buf, off, len);
  let reason = ethView.checkLen();
  if (reason !== Reason.ok) return { reason };
  const eth = parseEthernet(ethView);
  if (ethView.etherType === EtherType.arp) {
    const arp = new ArpView().reset(buf, ethView.payloadOff, ethView.payloadLen);
    reason = arp.checkLen();
    return reason === Reason.ok ? { reason, frame: { eth, arp: parseArp(arp) } } : { reason };
  }
  const ipView = new Ipv4View().reset(buf, ethView.payloadOff, ethView.payloadLen);
  reason = ipView.checkLen();
  if (reason !== Reason.ok) return { reason };
  const { payloadLen: _derived, ...ipv4 } = parseIpv4(ipView);
  const at = ipView.payloadOff;
  const n = ipView.payloadLen;
  if (!ipView.isFragment) {
    if (ipv4.protocol === IpProto.tcp) {
      const v = new TcpView().reset(buf, at, n);
      reason = v.checkLen();
      return reason === Reason.ok ? { reason, frame: { eth, ipv4, tcp: parseTcp(v) } } : { reason };
    }
    if (ipv4.protocol === IpProto.udp) {
      const v = new UdpView().reset(buf, at, n);
      reason = v.checkLen();
      return reason === Reason.ok ? { reason, frame: { eth, ipv4, udp: parseUdp(v) } } : { reason };
    }
    if (ipv4.protocol === IpProto.icmp) {
      const v = new IcmpView().reset(buf, at, n);
      reason = v.checkLen();
      return reason === Reason.ok ? { reason, frame: { eth, ipv4, icmp: parseIcmp(v) } } : { reason };
    }
  }
  return { reason: Reason.ok, frame: { eth, ipv4, raw: buf.slice(at, at + n) } };
}
