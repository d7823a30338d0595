import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameBatch, HEADROOM } from '../../src/io/batch.js';
import { MemoryHub, MemoryPortError, memoryPair } from '../../src/io/memory.js';
import { parseIpv4Address, parseMac } from '../../src/wire/addr.js';
import { buildFrame, ipv4Fields } from '../../src/wire/frame.js';
import { hex } from '../helpers/bytes.js';

const MAC_A = parseMac('02:00:00:00:0a:01')!;
const MAC_B = parseMac('02:00:00:00:0b:01')!;

/** A UDP frame from A to `dst` whose first payload byte is `seq`, so order and identity can be checked. */
function udpFrame(seq: number, dst = MAC_B): Uint8Array {
  return buildFrame({
    eth: { dst, src: MAC_A, etherType: 0 },
    ipv4: ipv4Fields(parseIpv4Address('10.0.0.1')!, parseIpv4Address('10.0.0.2')!),
    udp: { srcPort: 1000 + seq, dstPort: 53, payload: new Uint8Array([seq, 0xee]) },
  });
}

function frameAt(batch: FrameBatch, i: number): Uint8Array {
  const off = batch.offset[i]!;
  return batch.bytes.slice(off, off + batch.length[i]!);
}

/** Loads frames into a batch for sending. */
function batchOf(frames: Uint8Array[], egress = 0): FrameBatch {
  const b = new FrameBatch(Math.max(frames.length, 1));
  for (const [i, f] of frames.entries()) expect(b.setFrame(i, f, egress)).toBe(true);
  b.count = frames.length;
  return b;
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('MemoryPort pair', () => {
  it('delivers what one end sends to the other, whole, with the receiver’s metadata', () => {
    const [a, b] = memoryPair({ ifname: 'a', mac: MAC_A }, { ifname: 'b', mac: MAC_B });
    expect([a.ifindex, b.ifindex]).toEqual([1, 2]);
    const frame = udpFrame(7);
    expect(a.send(batchOf([frame]))).toBe(1);

    const rx = new FrameBatch(8);
    expect(b.recv(rx)).toBe(1);
    expect(rx.count).toBe(1);
    expect(frameAt(rx, 0)).toEqual(frame);
    expect(rx.offset[0]).toBe(HEADROOM);
    expect(rx.ifindex[0]).toBe(2);
    expect(rx.pktType[0]).toBe(0); // PACKET_HOST: addressed to b's own MAC
    expect(rx.flags[0]).toBe(0);
    // Nothing comes back to the sender, and nothing is left for b.
    expect(a.recv(rx)).toBe(0);
    expect(b.recv(rx)).toBe(0);
    expect([a.txFrames, b.rxFrames, a.txDropped, b.rxDropped]).toEqual([1, 1, 0, 0]);
  });

  it('classifies received frames by destination MAC as the kernel does (linux/if_packet.h values)', () => {
    const [a, b] = memoryPair({ ifname: 'a', mac: MAC_A }, { ifname: 'b', mac: MAC_B });
    const dsts = [
      MAC_B, // PACKET_HOST 0
      0xffffffffffff, // PACKET_BROADCAST 1
      parseMac('01:00:5e:00:00:01')!, // PACKET_MULTICAST 2 (I/G bit set)
      parseMac('02:00:00:00:0c:01')!, // PACKET_OTHERHOST 3
    ];
    a.send(batchOf(dsts.map((d, i) => udpFrame(i, d))));
    const rx = new FrameBatch(8);
    expect(b.recv(rx)).toBe(4);
    expect(Array.from(rx.pktType.subarray(0, 4))).toEqual([0, 1, 2, 3]);
  });

  it('bounds the receive queue: frames beyond it are dropped and counted, the first ones kept in order', () => {
    const [a, b] = memoryPair({ ifname: 'a' }, { ifname: 'b', queueCapacity: 4 });
    const frames = [0, 1, 2, 3, 4, 5].map((s) => udpFrame(s));
    // The sender cannot see the receiver's queue, as on a wire: all six leave.
    expect(a.send(batchOf(frames))).toBe(6);
    expect(b.queued).toBe(4);
    expect(b.rxDropped).toBe(2);

    const rx = new FrameBatch(3);
    expect(b.recv(rx)).toBe(3);
    expect([0, 1, 2].map((i) => frameAt(rx, i))).toEqual(frames.slice(0, 3));
    expect(b.recv(rx)).toBe(1);
    expect(frameAt(rx, 0)).toEqual(frames[3]);
    expect(b.recv(rx)).toBe(0);
  });

  it('keeps FIFO order and the bound across any interleaving of sends and receives (ring wrap-around)', () => {
    const op = fc.oneof(
      fc.record({ send: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ recv: fc.integer({ min: 1, max: 6 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.array(op, { maxLength: 40 }), (capacity, ops) => {
        const [a, b] = memoryPair({ ifname: 'a' }, { ifname: 'b', queueCapacity: capacity });
        const model: number[] = [];
        let dropped = 0;
        let seq = 0;
        for (const o of ops) {
          if ('send' in o) {
            const frames: Uint8Array[] = [];
            for (let k = 0; k < o.send; k++) {
              const s = seq++ & 0xff;
              frames.push(udpFrame(s));
              if (model.length < capacity) model.push(s);
              else dropped++;
            }
            if (frames.length > 0) a.send(batchOf(frames));
          } else {
            const rx = new FrameBatch(o.recv);
            const n = b.recv(rx);
            const want = model.splice(0, o.recv);
            expect(n).toBe(want.length);
            for (let i = 0; i < n; i++) expect(frameAt(rx, i)).toEqual(udpFrame(want[i]!));
          }
        }
        expect(b.queued).toBe(model.length);
        expect(b.rxDropped).toBe(dropped);
      }),
    );
  });

  it('sends out of the interface named by egressIfindex, and drops frames for an unknown one', () => {
    const hub = new MemoryHub();
    const [outside, client] = hub.link({ ifname: 'outside' }, { ifname: 'client' });
    const [inside, server] = hub.link({ ifname: 'inside' }, { ifname: 'server' });
    expect(inside.ifindex).toBe(3);
    const frame = udpFrame(1);
    // Sent through the outside port, out of the inside interface: the server receives it.
    expect(outside.send(batchOf([frame], inside.ifindex))).toBe(1);
    const rx = new FrameBatch(4);
    expect(server.recv(rx)).toBe(1);
    expect(frameAt(rx, 0)).toEqual(frame);
    expect(rx.ifindex[0]).toBe(server.ifindex);
    expect(client.recv(rx)).toBe(0);
    expect(inside.txFrames).toBe(1);
    expect(outside.txFrames).toBe(0);

    expect(outside.send(batchOf([frame], 99))).toBe(0);
    expect(outside.txDropped).toBe(1);
  });

  it('refuses a frame longer than a slot holds (1600 bytes: 1664-byte slot less 64 of headroom)', () => {
    const [a, b] = memoryPair({ ifname: 'a' }, { ifname: 'b' });
    const tx = new FrameBatch(2);
    tx.count = 2;
    tx.length[0] = 1600;
    tx.length[1] = 1601;
    expect(a.send(tx)).toBe(1);
    expect(a.txDropped).toBe(1);
    const rx = new FrameBatch(2);
    expect(b.recv(rx)).toBe(1);
    expect(rx.length[0]).toBe(1600);
  });

  it('copies frames on send: changing the sender’s batch afterwards changes nothing received', () => {
    const [a, b] = memoryPair({ ifname: 'a' }, { ifname: 'b' });
    const frame = hex('02 00 00 00 00 02  02 00 00 00 00 01  08 06  00 01');
    const tx = batchOf([frame]);
    a.send(tx);
    tx.bytes.fill(0);
    const rx = new FrameBatch(1);
    b.recv(rx);
    expect(frameAt(rx, 0)).toEqual(frame);
  });
});

describe('MemoryPort readiness', () => {
  it('poll mode calls back on a later turn after frames arrive, once per burst, and not after stopReadable', async () => {
    const [a, b] = memoryPair({ ifname: 'a' }, { ifname: 'b' });
    let calls = 0;
    b.onReadable(() => {
      calls++;
    });
    await nextTurn();
    expect(calls).toBe(0); // nothing waiting yet
    a.send(batchOf([udpFrame(1), udpFrame(2)]));
    a.send(batchOf([udpFrame(3)]));
    expect(calls).toBe(0); // never from inside send()
    await nextTurn();
    expect(calls).toBe(1);
    b.stopReadable();
    a.send(batchOf([udpFrame(4)]));
    await nextTurn();
    await nextTurn();
    expect(calls).toBe(1);
  });

  it('poll mode calls back at once for frames that were waiting before it started', async () => {
    const [a, b] = memoryPair({ ifname: 'a' }, { ifname: 'b' });
    a.send(batchOf([udpFrame(1)]));
    const rx = new FrameBatch(4);
    let got = -1;
    b.onReadable(() => {
      got = b.recv(rx);
    });
    await nextTurn();
    expect(got).toBe(1);
  });

  it('busy mode calls back on every turn, with nothing waiting', async () => {
    const [, b] = memoryPair({ ifname: 'a' }, { ifname: 'b' });
    let calls = 0;
    b.onReadable(() => {
      calls++;
    }, 'busy');
    for (let k = 0; k < 5; k++) await nextTurn();
    b.stopReadable();
    expect(calls).toBeGreaterThanOrEqual(4);
    const before = calls;
    await nextTurn();
    await nextTurn();
    expect(calls).toBe(before);
  });

  it('a closed port refuses everything without throwing, except onReadable which says why', () => {
    const [a, b] = memoryPair({ ifname: 'a' }, { ifname: 'b' });
    b.close();
    b.close();
    const rx = new FrameBatch(1);
    expect(b.recv(rx)).toBe(-9);
    expect(b.send(batchOf([udpFrame(1)]))).toBe(-9);
    // a still sends; the frame reaches no one.
    expect(a.send(batchOf([udpFrame(1)]))).toBe(1);
    expect(b.queued).toBe(0);
    expect(() => b.onReadable(() => {})).toThrow(MemoryPortError);
  });
});
