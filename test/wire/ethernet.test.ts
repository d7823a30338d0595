import { describe, expect, it } from 'vitest';
import { EtherType } from '../../src/constants.js';
import { parseMac } from '../../src/wire/addr.js';
import { EthernetView, emitEthernet, ethernetReprLen, parseEthernet } from '../../src/wire/ethernet.js';
import { Reason } from '../../src/wire/reason.js';
import { hex, poisoned } from '../helpers/bytes.js';

const untagged = hex('02 00 00 00 00 02  02 00 00 00 00 01  08 00  45');
const tagged = hex('ff ff ff ff ff ff  02 00 00 00 00 01  81 00 20 64  08 06  00 01');
const qinq = hex('ff ff ff ff ff ff  02 00 00 00 00 01  88 a8 00 0a  81 00 00 14  08 00');

describe('EthernetView', () => {
  const view = new EthernetView();

  it('reads an untagged header', () => {
    expect(view.reset(untagged, 0, untagged.length).checkLen()).toBe(Reason.ok);
    expect(view.dst).toBe(parseMac('02:00:00:00:00:02'));
    expect(view.src).toBe(parseMac('02:00:00:00:00:01'));
    expect(view.etherType).toBe(EtherType.ipv4);
    expect(view.headerLen).toBe(14);
    expect(view.payloadOff).toBe(14);
    expect(view.vlanId).toBe(-1);
  });

  it('skips an 802.1Q tag and reports its VLAN ID', () => {
    expect(view.reset(tagged, 0, tagged.length).checkLen()).toBe(Reason.ok);
    expect(view.tags).toBe(1);
    expect(view.vlanId).toBe(100);
    expect(view.etherType).toBe(EtherType.arp);
    expect(view.headerLen).toBe(18);
  });

  it('skips Q-in-Q tags and reports the inner VLAN', () => {
    expect(view.reset(qinq, 0, qinq.length).checkLen()).toBe(Reason.ok);
    expect(view.tags).toBe(2);
    expect(view.vlanId).toBe(20);
    expect(view.etherType).toBe(EtherType.ipv4);
  });

  it('honours the offset it is bound to', () => {
    const buf = new Uint8Array(untagged.length + 7);
    buf.set(untagged, 7);
    expect(view.reset(buf, 7, untagged.length).checkLen()).toBe(Reason.ok);
    expect(view.etherType).toBe(EtherType.ipv4);
    expect(view.payloadOff).toBe(21);
  });

  it('returns reason codes for truncated frames instead of throwing', () => {
    for (let len = 0; len < 14; len++) {
      expect(view.reset(untagged, 0, len).checkLen()).toBe(Reason.ethTruncated);
    }
    expect(view.reset(tagged, 0, 16).checkLen()).toBe(Reason.vlanTruncated);
    expect(view.reset(qinq, 0, 20).checkLen()).toBe(Reason.vlanTruncated);
  });

  it('rewrites MACs and the EtherType in place', () => {
    const buf = Uint8Array.from(tagged);
    view.reset(buf, 0, buf.length).checkLen();
    view.dst = parseMac('0a:0b:0c:0d:0e:0f')!;
    view.src = parseMac('10:20:30:40:50:60')!;
    view.etherType = EtherType.ipv4;
    expect(buf.subarray(0, 18)).toEqual(hex('0a 0b 0c 0d 0e 0f  10 20 30 40 50 60  81 00 20 64  08 00'));
  });
});

describe('Ethernet repr', () => {
  it('emits every byte of the header into a poisoned buffer', () => {
    const repr = {
      dst: parseMac('ff:ff:ff:ff:ff:ff')!,
      src: parseMac('02:00:00:00:00:01')!,
      vlans: [100],
      etherType: EtherType.arp,
    };
    const buf = poisoned(ethernetReprLen(repr) + 2);
    expect(emitEthernet(repr, buf, 0)).toBe(18);
    expect(buf).toEqual(hex('ff ff ff ff ff ff  02 00 00 00 00 01  81 00 00 64  08 06  a5 a5'));
  });

  it('round-trips through the view', () => {
    const repr = { dst: 0x020000000002, src: 0x020000000001, vlans: [10, 20], etherType: EtherType.ipv4 };
    const buf = new Uint8Array(ethernetReprLen(repr));
    emitEthernet(repr, buf, 0);
    const view = new EthernetView().reset(buf, 0, buf.length);
    expect(view.checkLen()).toBe(Reason.ok);
    expect(parseEthernet(view)).toEqual(repr);
  });
});
