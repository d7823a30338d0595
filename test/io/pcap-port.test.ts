import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FrameBatch, FrameFlag, HEADROOM } from '../../src/io/batch.js';
import { PcapErrorCode, PcapReader, PcapWriter } from '../../src/io/pcap.js';
import { PcapFilePort } from '../../src/io/pcap-port.js';
import { parseIpv4Address, parseMac } from '../../src/wire/addr.js';
import { buildFrame, ipv4Fields } from '../../src/wire/frame.js';
import { TcpFlag } from '../../src/wire/tcp.js';
import { epb, file, idb, shb } from '../helpers/pcapng.js';

const tmp = mkdtempSync(join(tmpdir(), 'uvs-pcap-port-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const PORT_MAC = parseMac('02:00:00:00:00:10')!;
const CLIENT_MAC = parseMac('02:00:00:00:00:20')!;

function tcpSyn(srcPort: number, dst = PORT_MAC): Uint8Array {
  return buildFrame({
    eth: { dst, src: CLIENT_MAC, etherType: 0 },
    ipv4: ipv4Fields(parseIpv4Address('192.168.10.5')!, parseIpv4Address('192.168.10.100')!),
    tcp: {
      srcPort,
      dstPort: 80,
      seq: 1000,
      ack: 0,
      flags: TcpFlag.syn,
      window: 64240,
      urgent: 0,
      payload: new Uint8Array(0),
    },
  });
}

/** A pcap file image holding `frames` (origLen may be larger than the bytes, as a snaplen cut does). */
function pcapOf(frames: Array<{ bytes: Uint8Array; origLen?: number }>): Buffer {
  const w = PcapWriter.inMemory();
  for (const [i, f] of frames.entries()) {
    w.writeFrame(f.bytes, 0, f.bytes.length, 1700000000 + i, 0, f.origLen ?? f.bytes.length);
  }
  return w.toBuffer();
}

function frameAt(batch: FrameBatch, i: number): Uint8Array {
  const off = batch.offset[i]!;
  return batch.bytes.slice(off, off + batch.length[i]!);
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('PcapFilePort receiving from a capture file', () => {
  const frames = [tcpSyn(40001), tcpSyn(40002, 0xffffffffffff), tcpSyn(40003, parseMac('02:00:00:00:00:99')!)];

  it('receives the frames of every interface of a pcapng file, in file order, as its one interface', () => {
    const ng = file(
      shb('be'),
      idb('be', { name: 'eth0' }),
      idb('be', { name: 'eth1' }),
      ...frames.map((bytes, i) => epb('be', i % 2, BigInt(1700000000 + i) * 1_000_000n, [...bytes])),
    );
    for (const input of [ng, join(tmp, 'in.pcapng')]) {
      writeFileSync(join(tmp, 'in.pcapng'), ng);
      const port = new PcapFilePort({ ifname: 'eth-offline', ifindex: 3, mac: PORT_MAC, input });
      const rx = new FrameBatch(4);
      expect(port.recv(rx)).toBe(3);
      expect([0, 1, 2].map((i) => frameAt(rx, i))).toEqual(frames);
      expect([...rx.ifindex.subarray(0, 3)]).toEqual([3, 3, 3]);
      expect(port.recv(rx)).toBe(0);
      expect(port.exhausted).toBe(true);
      port.close();
    }
  });

  it('hands the file’s frames over in batches, in order, with the interface it plays', () => {
    const path = join(tmp, 'in.pcap');
    writeFileSync(path, pcapOf(frames.map((bytes) => ({ bytes }))));
    const port = new PcapFilePort({ ifname: 'eth-offline', ifindex: 7, mac: PORT_MAC, input: path });
    const rx = new FrameBatch(2);
    expect(port.recv(rx)).toBe(2);
    expect(frameAt(rx, 0)).toEqual(frames[0]);
    expect(frameAt(rx, 1)).toEqual(frames[1]);
    expect(rx.offset[1]).toBe(rx.slotBase(1) + HEADROOM);
    expect(Array.from(rx.ifindex.subarray(0, 2))).toEqual([7, 7]);
    // To the port's MAC: PACKET_HOST (0); to ff:ff:ff:ff:ff:ff: PACKET_BROADCAST (1).
    expect(Array.from(rx.pktType.subarray(0, 2))).toEqual([0, 1]);
    expect(port.exhausted).toBe(false);

    expect(port.recv(rx)).toBe(1);
    expect(frameAt(rx, 0)).toEqual(frames[2]);
    expect(rx.pktType[0]).toBe(3); // PACKET_OTHERHOST
    expect(port.exhausted).toBe(true);
    expect(port.recv(rx)).toBe(0);
    expect(rx.count).toBe(0);
    expect(port.rxFrames).toBe(3);
    port.close();
    expect(port.recv(rx)).toBe(-9);
  });

  it('flags frames the capture cut short, and frames longer than a slot (cut to 1600 bytes)', () => {
    const long = new Uint8Array(2000).fill(0x5a);
    const cut = tcpSyn(40004);
    const port = new PcapFilePort({
      ifname: 'x',
      input: pcapOf([{ bytes: cut, origLen: cut.length + 100 }, { bytes: long }, { bytes: frames[0]! }]),
    });
    const rx = new FrameBatch(4);
    expect(port.recv(rx)).toBe(3);
    expect(rx.flags[0]).toBe(FrameFlag.truncated);
    expect(rx.length[1]).toBe(1600);
    expect(rx.flags[1]).toBe(FrameFlag.truncated);
    expect(frameAt(rx, 1)).toEqual(long.subarray(0, 1600));
    expect(rx.flags[2]).toBe(0);
  });

  it('delivers the records before a corrupt one, then reports EIO once, then nothing', () => {
    const good = pcapOf(frames.map((bytes) => ({ bytes })));
    // Cut the last record in the middle of its data.
    const corrupt = good.subarray(0, good.length - 10);
    const port = new PcapFilePort({ ifname: 'x', input: corrupt });
    const rx = new FrameBatch(8);
    expect(port.recv(rx)).toBe(2);
    expect(port.recv(rx)).toBe(-5);
    expect((port.inputError as { code?: string }).code).toBe(PcapErrorCode.truncatedRecord);
    expect(port.recv(rx)).toBe(0);
  });

  it('calls back in poll mode until the input is used up, then stops', async () => {
    const port = new PcapFilePort({ ifname: 'x', input: pcapOf(frames.map((bytes) => ({ bytes }))) });
    const rx = new FrameBatch(1);
    const got: number[] = [];
    port.onReadable(() => got.push(port.recv(rx)));
    for (let k = 0; k < 10; k++) await nextTurn();
    // One frame per call, then the call that finds the end.
    expect(got).toEqual([1, 1, 1, 0]);
    port.close();
  });

  it('a port without an input receives nothing and never calls back in poll mode', async () => {
    const port = new PcapFilePort({ ifname: 'x' });
    let calls = 0;
    port.onReadable(() => {
      calls++;
    });
    await nextTurn();
    await nextTurn();
    expect(calls).toBe(0);
    expect(port.recv(new FrameBatch(1))).toBe(0);
  });
});

describe('PcapFilePort sending to a capture file', () => {
  it('writes every frame it sends, with the clock’s time, readable by PcapReader', () => {
    const path = join(tmp, 'out.pcap');
    // 1700000000123.456 ms = 1700000000 s + 123456 µs (a microsecond file keeps µs).
    const port = new PcapFilePort({ ifname: 'x', output: path, clock: () => 1700000000123.456 });
    const sent = [tcpSyn(1), tcpSyn(2)];
    const tx = new FrameBatch(4);
    for (const [i, f] of sent.entries()) tx.setFrame(i, f, 99);
    tx.count = 2;
    expect(port.send(tx)).toBe(2);
    // A prepended header (the datapath's IPIP) moves the frame's start: the written bytes follow it.
    tx.setFrame(0, sent[0]!);
    expect(tx.adjustHead(0, -4)).toBe(true);
    tx.bytes.set([0xde, 0xad, 0xbe, 0xef], tx.offset[0]!);
    expect(port.send(tx, 1)).toBe(1);
    port.close();

    // The reader reuses one record object, so each is copied as it is read.
    const records = Array.from(PcapReader.fromBuffer(readFileSync(path)), (r) => ({
      sec: r.tsSec,
      frac: r.tsFrac,
      data: Uint8Array.from(r.data),
    }));
    const prefixed = new Uint8Array([0xde, 0xad, 0xbe, 0xef, ...sent[0]!]);
    expect(records).toEqual([
      { sec: 1700000000, frac: 123456000, data: sent[0] },
      { sec: 1700000000, frac: 123456000, data: sent[1] },
      { sec: 1700000000, frac: 123456000, data: prefixed },
    ]);
    expect(port.txFrames).toBe(3);
  });

  it('runs offline end to end: what is received can be sent back out to an in-memory writer', () => {
    const frames = [tcpSyn(5), tcpSyn(6), tcpSyn(7)];
    const out = PcapWriter.inMemory({ nanosecond: true });
    const port = new PcapFilePort({
      ifname: 'x',
      input: pcapOf(frames.map((bytes) => ({ bytes }))),
      output: out,
      clock: () => 0,
    });
    const batch = new FrameBatch(2);
    while (port.recv(batch) > 0) port.send(batch);
    const data = Array.from(PcapReader.fromBuffer(out.toBuffer()), (r) => Uint8Array.from(r.data));
    expect(data).toEqual(frames);
  });

  it('counts frames as dropped once the output cannot be written, without throwing', () => {
    const writer = PcapWriter.inMemory();
    writer.close();
    const port = new PcapFilePort({ ifname: 'x', output: writer });
    const tx = new FrameBatch(2);
    tx.setFrame(0, tcpSyn(1));
    tx.setFrame(1, tcpSyn(2));
    tx.count = 2;
    expect(port.send(tx)).toBe(0);
    expect(port.txDropped).toBe(2);
    expect((port.outputError as { code?: string }).code).toBe(PcapErrorCode.closed);
    expect(port.send(tx)).toBe(0);
    expect(port.txDropped).toBe(4);
  });
});
