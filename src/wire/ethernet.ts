// Ethernet II with up to two VLAN tags (IEEE 802.1Q, 802.1ad).
//
//   0                   1                   2                   3
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                 destination MAC (6)             |  source ... |
//  |                 ... source MAC (6)              |  EtherType  |
//  +-------------------------------------------------+-------------+
//  [ TPID 0x8100/0x88a8 (2) | TCI: PCP(3) DEI(1) VID(12) (2) ] x 0..2, then the inner EtherType.
import { EtherType } from '../constants.js';
import { readMac, writeMac } from './addr.js';
import { read16, write16 } from './bytes.js';
import { Reason, type ReasonCode } from './reason.js';
import { WireView } from './view.js';

export const EthField = {
  dst: 0,
  src: 6,
  type: 12,
} as const;

export const ETH_HEADER_LEN = 14;
export const VLAN_TAG_LEN = 4;
/** 802.1Q/802.1ad tags at most: Q-in-Q is the deepest stacking uvs accepts. */
export const MAX_VLAN_TAGS = 2;

/**
 * A view over an Ethernet frame at `buf[off, off+len)`. `reset()` rebinds it without allocating;
 * `checkLen()` must return `Reason.ok` before the other accessors are used.
 */
export class EthernetView extends WireView {
  /** Number of VLAN tags found by `checkLen()`. */
  tags = 0;

  override reset(buf: Uint8Array, off: number, len: number): this {
    this.tags = 0;
    return super.reset(buf, off, len);
  }

  checkLen(): ReasonCode {
    if (this.len < ETH_HEADER_LEN) return Reason.ethTruncated;
    let tags = 0;
    let typeOff = this.off + EthField.type;
    let type = read16(this.buf, typeOff);
    while ((type === EtherType.vlan || type === EtherType.qinq) && tags < MAX_VLAN_TAGS) {
      tags++;
      typeOff += VLAN_TAG_LEN;
      if (typeOff + 2 > this.off + this.len) return Reason.vlanTruncated;
      type = read16(this.buf, typeOff);
    }
    this.tags = tags;
    return Reason.ok;
  }

  /** Length of the Ethernet header including its VLAN tags: where the payload starts, relative to `off`. */
  get headerLen(): number {
    return ETH_HEADER_LEN + this.tags * VLAN_TAG_LEN;
  }

  get payloadOff(): number {
    return this.off + this.headerLen;
  }

  get payloadLen(): number {
    return this.len - this.headerLen;
  }

  get dst(): number {
    return readMac(this.buf, this.off + EthField.dst);
  }

  set dst(mac: number) {
    writeMac(this.buf, this.off + EthField.dst, mac);
  }

  get src(): number {
    return readMac(this.buf, this.off + EthField.src);
  }

  set src(mac: number) {
    writeMac(this.buf, this.off + EthField.src, mac);
  }

  /** The EtherType after any VLAN tags. */
  get etherType(): number {
    return read16(this.buf, this.off + EthField.type + this.tags * VLAN_TAG_LEN);
  }

  set etherType(type: number) {
    write16(this.buf, this.off + EthField.type + this.tags * VLAN_TAG_LEN, type);
  }

  /** VLAN ID of the innermost tag, or -1 when the frame is untagged. */
  get vlanId(): number {
    if (this.tags === 0) return -1;
    return read16(this.buf, this.off + EthField.type + (this.tags - 1) * VLAN_TAG_LEN + 2) & 0x0fff;
  }
}

/** Plain-object form for tests and the control plane; never used on the hot path. */
export interface EthernetRepr {
  dst: number;
  src: number;
  /** VLAN IDs, outermost first; each tag is written with TPID 0x8100 and PCP/DEI 0. */
  vlans?: number[];
  etherType: number;
}

export function ethernetReprLen(repr: EthernetRepr): number {
  return ETH_HEADER_LEN + (repr.vlans?.length ?? 0) * VLAN_TAG_LEN;
}

/** Writes the header at `off`; returns the offset of the payload. */
export function emitEthernet(repr: EthernetRepr, buf: Uint8Array, off: number): number {
  writeMac(buf, off + EthField.dst, repr.dst);
  writeMac(buf, off + EthField.src, repr.src);
  let at = off + EthField.type;
  for (const vid of repr.vlans ?? []) {
    write16(buf, at, EtherType.vlan);
    write16(buf, at + 2, vid & 0x0fff);
    at += VLAN_TAG_LEN;
  }
  write16(buf, at, repr.etherType);
  return at + 2;
}

/** Parses a checked view back into its plain form. */
export function parseEthernet(view: EthernetView): EthernetRepr {
  const vlans: number[] = [];
  for (let i = 0; i < view.tags; i++) {
    const at = view.off + EthField.type + i * VLAN_TAG_LEN + 2;
    vlans.push(read16(view.buf, at) & 0x0fff);
  }
  const repr: EthernetRepr = { dst: view.dst, src: view.src, etherType: view.etherType };
  if (vlans.length > 0) repr.vlans = vlans;
  return repr;
}
