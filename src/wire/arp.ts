// ARP (RFC 826) for Ethernet and IPv4 only: uvs answers ARP for the VIPs and DIPs it owns in user space
// and announces them with gratuitous ARP at start, so it never needs any other hardware or protocol type.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |      hardware type (1)        |    protocol type (0x0800)     |
//  +---------------+---------------+-------------------------------+
//  |  hlen (6)     |  plen (4)     |   operation (1 req, 2 reply)  |
//  +---------------+---------------+-------------------------------+
//  |                    sender MAC (6) ...                         |
//  |  ... sender MAC               |      sender IPv4 (4) ...      |
//  |  ... sender IPv4              |      target MAC (6) ...       |
//  |                    ... target MAC                             |
//  |                         target IPv4 (4)                       |
//  +---------------------------------------------------------------+
import { EtherType } from '../constants.js';
import { macHigh16, macLow32, readIpv4, readMac, writeIpv4, writeMac, writeMacWords } from './addr.js';
import { read16, read32i, write16 } from './bytes.js';
import { Reason, type ReasonCode } from './reason.js';
import { WireView } from './view.js';

export const ArpField = {
  htype: 0,
  ptype: 2,
  hlen: 4,
  plen: 5,
  op: 6,
  senderMac: 8,
  senderIp: 14,
  targetMac: 18,
  targetIp: 24,
} as const;

/** Length of an Ethernet/IPv4 ARP packet; anything after it in the frame is Ethernet padding. */
export const ARP_LEN = 28;

export const ArpOp = {
  request: 1,
  reply: 2,
} as const;

/** ARP hardware type for Ethernet (RFC 826, IANA "Hardware Types"). */
export const ARP_HTYPE_ETHERNET = 1;
const MAC_LEN = 6;
const IPV4_LEN = 4;

/**
 * A view over an ARP packet at `buf[off, off+len)`. `reset()` rebinds it without allocating;
 * `checkLen()` must return `Reason.ok` before the other accessors are used.
 */
export class ArpView extends WireView {
  checkLen(): ReasonCode {
    if (this.len < ARP_LEN) return Reason.arpTruncated;
    const buf = this.buf;
    const off = this.off;
    if (
      read16(buf, off + ArpField.htype) !== ARP_HTYPE_ETHERNET ||
      read16(buf, off + ArpField.ptype) !== EtherType.ipv4 ||
      buf[off + ArpField.hlen] !== MAC_LEN ||
      buf[off + ArpField.plen] !== IPV4_LEN
    ) {
      return Reason.arpUnsupported;
    }
    return Reason.ok;
  }

  /** `ArpOp.request`, `ArpOp.reply`, or another value the caller ignores (RARP, InARP). */
  get op(): number {
    return read16(this.buf, this.off + ArpField.op);
  }

  set op(op: number) {
    write16(this.buf, this.off + ArpField.op, op);
  }

  get senderMac(): number {
    return readMac(this.buf, this.off + ArpField.senderMac);
  }

  set senderMac(mac: number) {
    writeMac(this.buf, this.off + ArpField.senderMac, mac);
  }

  get senderIp(): number {
    return readIpv4(this.buf, this.off + ArpField.senderIp);
  }

  set senderIp(addr: number) {
    writeIpv4(this.buf, this.off + ArpField.senderIp, addr);
  }

  get targetMac(): number {
    return readMac(this.buf, this.off + ArpField.targetMac);
  }

  set targetMac(mac: number) {
    writeMac(this.buf, this.off + ArpField.targetMac, mac);
  }

  get targetIp(): number {
    return readIpv4(this.buf, this.off + ArpField.targetIp);
  }

  set targetIp(addr: number) {
    writeIpv4(this.buf, this.off + ArpField.targetIp, addr);
  }

  /**
   * Turns a request for an address uvs owns into its reply, in place (RFC 826 "swap the sender and target
   * fields, put the local hardware address in the sender field, set the opcode to reply"). The caller still
   * rewrites the Ethernet header (destination = the requester, source = `ownMac`).
   */
  turnIntoReply(ownMac: number): void {
    this.turnIntoReplyWords(macHigh16(ownMac), macLow32(ownMac));
  }

  /**
   * turnIntoReply() with the MAC as two small integers (macHigh16, macLow32), for the datapath: nothing here
   * is a 48-bit or unsigned 32-bit number, so nothing is boxed even when V8 does not inline it.
   */
  turnIntoReplyWords(ownMacHigh16: number, ownMacLow32: number): void {
    const buf = this.buf;
    const off = this.off;
    const ownIp = read32i(buf, off + ArpField.targetIp);
    // The requester's MAC and IP (adjacent sender fields) become the target fields.
    for (let k = 0; k < 10; k++) buf[off + ArpField.targetMac + k] = buf[off + ArpField.senderMac + k]!;
    writeMacWords(buf, off + ArpField.senderMac, ownMacHigh16, ownMacLow32);
    writeIpv4(buf, off + ArpField.senderIp, ownIp);
    write16(buf, off + ArpField.op, ArpOp.reply);
  }
}

/** Plain-object form for tests and the control plane; never used on the hot path. */
export interface ArpRepr {
  op: number;
  senderMac: number;
  senderIp: number;
  targetMac: number;
  targetIp: number;
}

export function arpReprLen(): number {
  return ARP_LEN;
}

/** Writes the packet at `off`; returns the offset just past it. */
export function emitArp(repr: ArpRepr, buf: Uint8Array, off: number): number {
  write16(buf, off + ArpField.htype, ARP_HTYPE_ETHERNET);
  write16(buf, off + ArpField.ptype, EtherType.ipv4);
  buf[off + ArpField.hlen] = MAC_LEN;
  buf[off + ArpField.plen] = IPV4_LEN;
  write16(buf, off + ArpField.op, repr.op);
  writeMac(buf, off + ArpField.senderMac, repr.senderMac);
  writeIpv4(buf, off + ArpField.senderIp, repr.senderIp);
  writeMac(buf, off + ArpField.targetMac, repr.targetMac);
  writeIpv4(buf, off + ArpField.targetIp, repr.targetIp);
  return off + ARP_LEN;
}

/** Parses a checked view back into its plain form. */
export function parseArp(view: ArpView): ArpRepr {
  return {
    op: view.op,
    senderMac: view.senderMac,
    senderIp: view.senderIp,
    targetMac: view.targetMac,
    targetIp: view.targetIp,
  };
}

/**
 * Writes a gratuitous ARP for `ip` at `mac` at `off` (the ARP packet only: the caller puts it behind an
 * Ethernet header to the broadcast MAC); returns the offset just past it. Like Linux's own announcement
 * (`arp_send(ARPOP_REQUEST, ..., ip, dev, ip, NULL, dev_addr, NULL)`, and RFC 5227's ARP Announcement),
 * it is a request whose sender and target IP are both `ip`, with a zero target MAC.
 */
export function emitGratuitousArp(buf: Uint8Array, off: number, mac: number, ip: number): number {
  return emitArp({ op: ArpOp.request, senderMac: mac, senderIp: ip, targetMac: 0, targetIp: ip }, buf, off);
}
