import { describe, expect, it } from 'vitest';
import { parseIpv4Address, parseMac } from '../../src/wire/addr.js';
import { ARP_LEN, ArpOp, ArpView, arpReprLen, emitArp, emitGratuitousArp, parseArp } from '../../src/wire/arp.js';
import { Reason } from '../../src/wire/reason.js';
import { hex, poisoned } from '../helpers/bytes.js';

// 02:00:00:00:00:01 (10.0.0.1) asks who has 10.0.0.100.
const request = hex(`
  00 01  08 00  06  04  00 01
  02 00 00 00 00 01  0a 00 00 01
  00 00 00 00 00 00  0a 00 00 64`);

// What uvs answers when it owns 10.0.0.100 at 02:00:00:00:00:aa.
const reply = hex(`
  00 01  08 00  06  04  00 02
  02 00 00 00 00 aa  0a 00 00 64
  02 00 00 00 00 01  0a 00 00 01`);

const ownMac = parseMac('02:00:00:00:00:aa')!;
const vip = parseIpv4Address('10.0.0.100')!;

describe('ArpView', () => {
  const view = new ArpView();

  it('reads a request', () => {
    expect(view.reset(request, 0, request.length).checkLen()).toBe(Reason.ok);
    expect(view.op).toBe(ArpOp.request);
    expect(view.senderMac).toBe(parseMac('02:00:00:00:00:01'));
    expect(view.senderIp).toBe(parseIpv4Address('10.0.0.1'));
    expect(view.targetMac).toBe(0);
    expect(view.targetIp).toBe(vip);
  });

  it('honours its offset inside a padded Ethernet frame', () => {
    // 14-byte Ethernet header, 28 bytes of ARP, 18 bytes of padding up to the 60-byte minimum frame.
    const frame = new Uint8Array(60);
    frame.set(hex('ff ff ff ff ff ff  02 00 00 00 00 01  08 06'), 0);
    frame.set(request, 14);
    expect(view.reset(frame, 14, 46).checkLen()).toBe(Reason.ok);
    expect(view.senderIp).toBe(parseIpv4Address('10.0.0.1'));
    expect(view.targetIp).toBe(vip);
  });

  it('returns arpTruncated for every length short of 28 bytes', () => {
    for (let len = 0; len < ARP_LEN; len++) {
      expect(view.reset(request, 0, len).checkLen()).toBe(Reason.arpTruncated);
    }
  });

  it('returns arpUnsupported for anything but Ethernet/IPv4', () => {
    const cases: [number, number[]][] = [
      [0, [0x00, 0x06]], // htype 6, IEEE 802
      [2, [0x86, 0xdd]], // ptype IPv6
      [4, [0x08]], // hlen 8
      [5, [0x10]], // plen 16
    ];
    for (const [at, bytes] of cases) {
      const bad = Uint8Array.from(request);
      bad.set(bytes, at);
      expect(view.reset(bad, 0, bad.length).checkLen()).toBe(Reason.arpUnsupported);
    }
  });

  it('turns a request into the reply for its own MAC, in place', () => {
    const buf = poisoned(request.length + 4);
    buf.set(request, 2);
    expect(view.reset(buf, 2, request.length).checkLen()).toBe(Reason.ok);
    view.turnIntoReply(ownMac);
    expect(buf.subarray(2, 2 + ARP_LEN)).toEqual(reply);
    expect(buf.subarray(0, 2)).toEqual(hex('a5 a5'));
    expect(buf.subarray(2 + ARP_LEN)).toEqual(hex('a5 a5'));
  });

  it('writes every field through its setter', () => {
    const buf = Uint8Array.from(request);
    view.reset(buf, 0, buf.length);
    view.op = ArpOp.reply;
    view.senderMac = parseMac('10:20:30:40:50:60')!;
    view.senderIp = parseIpv4Address('192.168.1.2')!;
    view.targetMac = parseMac('0a:0b:0c:0d:0e:0f')!;
    view.targetIp = parseIpv4Address('172.16.0.9')!;
    expect(buf).toEqual(hex(`00 01 08 00 06 04 00 02  10 20 30 40 50 60  c0 a8 01 02  0a 0b 0c 0d 0e 0f  ac 10 00 09`));
  });
});

describe('ARP repr', () => {
  it('emits every byte of a reply into a poisoned buffer', () => {
    const buf = poisoned(arpReprLen() + 1);
    const end = emitArp(
      {
        op: ArpOp.reply,
        senderMac: ownMac,
        senderIp: vip,
        targetMac: parseMac('02:00:00:00:00:01')!,
        targetIp: parseIpv4Address('10.0.0.1')!,
      },
      buf,
      0,
    );
    expect(end).toBe(28);
    expect(buf.subarray(0, 28)).toEqual(reply);
    expect(buf[28]).toBe(0xa5);
  });

  it('emits a gratuitous ARP as a request for its own address with a zero target MAC', () => {
    const buf = poisoned(40);
    expect(emitGratuitousArp(buf, 6, ownMac, vip)).toBe(34);
    expect(buf).toEqual(
      hex(`a5 a5 a5 a5 a5 a5
        00 01 08 00 06 04 00 01  02 00 00 00 00 aa  0a 00 00 64  00 00 00 00 00 00  0a 00 00 64
        a5 a5 a5 a5 a5 a5`),
    );
  });

  it('round-trips through the view', () => {
    const repr = {
      op: ArpOp.request,
      senderMac: 0xfedcba987654,
      senderIp: 0xffffffff,
      targetMac: 0x000000000001,
      targetIp: 0x80000000,
    };
    const buf = new Uint8Array(arpReprLen());
    emitArp(repr, buf, 0);
    const view = new ArpView().reset(buf, 0, buf.length);
    expect(view.checkLen()).toBe(Reason.ok);
    expect(parseArp(view)).toEqual(repr);
  });
});
