// Choosing the I/O backend from `io.backend`, and what the operator is told when the choice cannot work.
// Runs without root: libpcap is played by a fake `cap` module, and its absence by importers that fail the way
// Node fails when the package, its build or libpcap.so is missing.
import { describe, expect, it } from 'vitest';
import { AfPacketError } from '../../src/io/afpacket.js';
import { FrameBatch, FrameFlag } from '../../src/io/batch.js';
import { CAP_INSTALL_HINT, type CapHandle, LibpcapError, LibpcapPort, loadCap } from '../../src/io/libpcap.js';
import { openPorts, PortOpenError } from '../../src/io/open.js';
import { parseIpv4Address } from '../../src/wire/addr.js';
import { buildFrame, ipv4Fields } from '../../src/wire/frame.js';

function failingImport(message: string, code?: string): () => Promise<unknown> {
  return () => Promise.reject(Object.assign(new Error(message), code === undefined ? {} : { code }));
}

/** Plays cap's Cap object (cap/src/binding.cc): copies each packet into the buffer given at open, then calls
 *  the 'packet' listener with its length and whether it was cut to fit. */
class FakeCap implements CapHandle {
  static made: FakeCap[] = [];
  /** libpcap's text when activation is refused (pcap_activate, PCAP_ERROR_PERM_DENIED). */
  static refuse: string | undefined;
  device = '';
  filter = '';
  buffer: Buffer = Buffer.alloc(0);
  closed = false;
  sent: Uint8Array[] = [];
  failSend = false;
  private listener: ((n: number, t: boolean) => void) | undefined;
  constructor() {
    FakeCap.made.push(this);
  }
  open(device: string, filter: string, _size: number, buffer: Buffer): string {
    if (FakeCap.refuse !== undefined) throw new Error(FakeCap.refuse);
    this.device = device;
    this.filter = filter;
    this.buffer = buffer;
    return 'ETHERNET';
  }
  send(buffer: Buffer, length: number): void {
    if (this.failSend) throw new Error('send: Network is down');
    this.sent.push(Uint8Array.from(buffer.subarray(0, length)));
  }
  close(): boolean {
    this.closed = true;
    return true;
  }
  on(_event: 'packet', listener: (n: number, t: boolean) => void): this {
    this.listener = listener;
    return this;
  }
  capture(frame: Uint8Array): void {
    const n = Math.min(frame.length, this.buffer.length);
    this.buffer.set(frame.subarray(0, n), 0);
    this.listener?.(n, frame.length > this.buffer.length);
  }
}

const fakeCapModule = () => Promise.resolve({ default: { Cap: FakeCap } });

function udpFrame(seq: number): Uint8Array {
  return buildFrame({
    eth: { dst: 0xffffffffffff, src: 0x020000000001, etherType: 0 },
    ipv4: ipv4Fields(parseIpv4Address('10.9.0.1')!, parseIpv4Address('10.9.0.2')!),
    udp: { srcPort: 5000, dstPort: 5001, payload: new Uint8Array([seq, seq, seq]) },
  });
}

describe('the `cap` package missing', () => {
  const cases: Array<{ what: string; err: () => Promise<unknown>; why: string }> = [
    {
      what: 'not installed',
      err: failingImport("Cannot find package 'cap' imported from /x/dist/io/libpcap.js", 'ERR_MODULE_NOT_FOUND'),
      why: 'the `cap` package is not installed',
    },
    {
      what: 'installed without running its install script',
      err: failingImport("Cannot find module '../build/Release/cap.node'\nRequire stack:\n- /x/cap/lib/Cap.js"),
      why: '`cap` is installed but was never built',
    },
    {
      what: 'built, but libpcap.so gone',
      err: failingImport('libpcap.so.0.8: cannot open shared object file: No such file or directory'),
      why: 'libpcap is not installed',
    },
  ];

  for (const c of cases) {
    it(`says what to install when cap is ${c.what}`, async () => {
      const failure = openPorts(['eth1'], { backend: 'pcap', importCap: c.err });
      await expect(failure).rejects.toBeInstanceOf(LibpcapError);
      const err = (await failure.catch((e: unknown) => e)) as LibpcapError;
      expect(err.code).toBe('LIBPCAP_UNAVAILABLE');
      expect(err.message).toContain(c.why);
      expect(err.message).toContain('`apt-get install libpcap-dev`, then `npm install cap`');
      expect(err.message).toContain('"cap": true under "allowScripts"');
      expect(err.message).toContain('io.backend afpacket');
      // One line: the daemon prints it as it is.
      expect(err.message).not.toContain('\n');
    });
  }

  it('rejects a module that is not cap', async () => {
    await expect(loadCap(() => Promise.resolve({ default: {} }))).rejects.toThrow(/no Cap class/);
  });

  it('the hint names the three steps in the order they are needed', () => {
    const steps = ['apt-get install libpcap-dev', 'npm install cap', 'npm install-scripts approve cap'];
    const at = steps.map((s) => CAP_INSTALL_HINT.indexOf(s));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect([...at].sort((x, y) => x - y)).toEqual(at);
  });

  it('loads the real package when it is installed, or explains its absence', async () => {
    // Either outcome is a pass; what may not happen is any other failure.
    const outcome = await loadCap().then(
      (mod) => typeof mod.Cap,
      (err: unknown) => (err as LibpcapError).code,
    );
    expect(['function', 'LIBPCAP_UNAVAILABLE']).toContain(outcome);
  });
});

describe('openPorts', () => {
  it('names the backends it knows when given another', async () => {
    const failure = openPorts(['eth1'], { backend: 'dpdk' });
    await expect(failure).rejects.toBeInstanceOf(PortOpenError);
    await expect(failure).rejects.toThrow('unknown io.backend "dpdk"; use afpacket (the default) or pcap');
  });

  it('opens afpacket by default name, with its own clear error for a missing interface', async () => {
    const failure = openPorts(['uvs-no-such0'], { backend: 'afpacket' });
    await expect(failure).rejects.toBeInstanceOf(AfPacketError);
    // As root the interface is missing (ENODEV); otherwise the socket is refused first (EPERM).
    await expect(failure).rejects.toThrow(/uvs-no-such0 does not exist|needs root or CAP_NET_RAW/);
  });

  it('opens the pcap backend through cap, filtering out outgoing frames', async () => {
    FakeCap.made = [];
    const ports = await openPorts(['lo'], { backend: 'pcap', importCap: fakeCapModule });
    expect(ports).toHaveLength(1);
    const port = ports[0] as LibpcapPort;
    expect(port).toBeInstanceOf(LibpcapPort);
    expect(port.ifname).toBe('lo');
    expect(port.ifindex).toBe(1); // lo is always ifindex 1 (net/core/dev.c, loopback registered first)
    expect(port.mac).toBe(0);
    expect(FakeCap.made[0]!.filter).toBe('inbound');
    port.close();
    expect(FakeCap.made[0]!.closed).toBe(true);
  });

  it('closes the ports it opened when a later one fails', async () => {
    FakeCap.made = [];
    const failure = openPorts(['lo', 'uvs-no-such0'], { backend: 'pcap', importCap: fakeCapModule });
    await expect(failure).rejects.toThrow('uvs: interface uvs-no-such0 does not exist in this network namespace');
    expect(FakeCap.made.map((c) => c.closed)).toEqual([true]);
  });
});

describe('LibpcapPort (with a fake cap)', () => {
  async function openLo(ringCapacity = 4, filter?: string): Promise<{ port: LibpcapPort; cap: FakeCap }> {
    FakeCap.made = [];
    const port = await LibpcapPort.open('lo', { importCap: fakeCapModule, ringCapacity, filter });
    return { port, cap: FakeCap.made[0]! };
  }

  it('ANDs a user filter with inbound', async () => {
    const { port, cap } = await openLo(4, 'udp port 53');
    expect(cap.filter).toBe('inbound and (udp port 53)');
    port.close();
  });

  it('turns one callback per packet into batches, bounded by the ring, counting drops', async () => {
    const { port, cap } = await openLo(4);
    const frames = [0, 1, 2, 3, 4, 5].map(udpFrame);
    for (const f of frames) cap.capture(f);
    expect(port.queued).toBe(4);
    expect(port.rxDropped).toBe(2);
    const rx = new FrameBatch(3);
    expect(port.recv(rx)).toBe(3);
    for (let i = 0; i < 3; i++) {
      expect(rx.bytes.slice(rx.offset[i]!, rx.offset[i]! + rx.length[i]!)).toEqual(frames[i]);
      expect(rx.ifindex[i]).toBe(1);
      expect(rx.pktType[i]).toBe(1); // PACKET_BROADCAST
    }
    // The ring wraps: two more after one left.
    cap.capture(frames[4]!);
    expect(port.recv(rx)).toBe(2);
    expect(rx.bytes.slice(rx.offset[0]!, rx.offset[0]! + rx.length[0]!)).toEqual(frames[3]);
    expect(rx.bytes.slice(rx.offset[1]!, rx.offset[1]! + rx.length[1]!)).toEqual(frames[4]);
    expect(port.recv(rx)).toBe(0);
    port.close();
    expect(port.recv(rx)).toBe(-9);
  });

  it('flags a frame cap had to cut to the 1600-byte slot as truncated', async () => {
    const { port, cap } = await openLo();
    cap.capture(new Uint8Array(1700).fill(7));
    const rx = new FrameBatch(1);
    expect(port.recv(rx)).toBe(1);
    expect(rx.length[0]).toBe(1600);
    expect(rx.flags[0]).toBe(FrameFlag.truncated);
    expect(port.rxTruncated).toBe(1);
    port.close();
  });

  it('calls back once per burst in poll mode, on a later turn', async () => {
    const { port, cap } = await openLo(8);
    let calls = 0;
    port.onReadable(() => {
      calls++;
    });
    cap.capture(udpFrame(1));
    cap.capture(udpFrame(2));
    expect(calls).toBe(0);
    await new Promise<void>((r) => setImmediate(r));
    expect(calls).toBe(1);
    port.close();
    expect(() => port.onReadable(() => {})).toThrow(LibpcapError);
  });

  it('sends each frame through cap, and counts refused frames and unknown egress interfaces', async () => {
    const { port, cap } = await openLo();
    const tx = new FrameBatch(3);
    tx.setFrame(0, udpFrame(1));
    tx.setFrame(1, udpFrame(2), 4242);
    tx.setFrame(2, udpFrame(3), 1);
    tx.count = 3;
    expect(port.send(tx)).toBe(2);
    expect(cap.sent).toEqual([udpFrame(1), udpFrame(3)]);
    expect(port.txDropped).toBe(1);
    cap.failSend = true;
    expect(port.send(tx, 1)).toBe(0);
    expect(port.txDropped).toBe(2);
    expect(port.lastSendError).toBe('send: Network is down');
    port.close();
  });

  it('explains a refused interface, and says what capturing needs', async () => {
    FakeCap.refuse = "lo: You don't have permission to capture on that device (socket: Operation not permitted)";
    try {
      await expect(LibpcapPort.open('lo', { importCap: fakeCapModule })).rejects.toThrow(
        "uvs: libpcap cannot open lo: lo: You don't have permission to capture on that device " +
          '(socket: Operation not permitted); capturing needs root or CAP_NET_RAW',
      );
    } finally {
      FakeCap.refuse = undefined;
    }
  });
});
