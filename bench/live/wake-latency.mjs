#!/usr/bin/env node
// How long a frame waits between arriving on a packet socket and uvs's drain callback seeing it, per wake
// mode: the part of a director traversal that is neither the kernel's nor the datapath's (docs/performance.md,
// "Latency at low load").
//
// Two namespaces joined by a veth pair. A sender (pinned to cpu0) sends UDP datagrams, each carrying
// CLOCK_MONOTONIC at the moment of its send, in pairs: the second GAP_US after the first, as the next packet
// of a connection follows the previous one through a director; then a pause of PAUSE_MS, long enough for any
// receiver to go back to sleep. The receiver (pinned to cpu1, the director's core in bench:live) opens an
// AfPacketPort on its end (dist/, recvmmsg), waits in the given wake mode, and records, for every datagram,
// its clock at the drain minus the clock in the datagram. `dgram` is the reference: a kernel UDP socket
// read through libuv, the wake-up every Node server pays. The event loop's own delay is recorded too
// (perf_hooks.monitorEventLoopDelay).
//
// Usage: node bench/live/wake-latency.mjs [--modes=poll,busy,adaptive,dgram] [--pairs=N] [--gap-us=US] [--rt]
//        [--rate=PPS]   (a steady stream of 2*N frames at PPS instead of pairs: the receiver's CPU per frame)
//        [--napi-thread] (the receiver's veth delivers from a NAPI kernel thread on the receiver's core)
// Needs root. Build first (npm run build). Bounded: PAIRS pairs, each child killed after CHILD_TIMEOUT_MS;
// the namespaces are removed on exit and on SIGINT/SIGTERM.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { dirname, join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PORT = 9999;
const SENDER = '10.97.0.1';
const RECEIVER = '10.97.0.2';
const PAUSE_MS = 2;
const CHILD_TIMEOUT_MS = 60_000;

const { values } = parseArgs({
  options: {
    role: { type: 'string' },
    mode: { type: 'string' },
    dev: { type: 'string' },
    modes: { type: 'string' },
    pairs: { type: 'string' },
    'gap-us': { type: 'string' },
    'dst-mac': { type: 'string' },
    rate: { type: 'string' },
    'spin-us': { type: 'string' },
    'napi-thread': { type: 'boolean' },
    rt: { type: 'boolean' },
  },
});
const pairs = Number(values.pairs ?? 1000);
const gapUs = Number(values['gap-us'] ?? 30);
const rate = Number(values.rate ?? 0);

function percentile(sorted, p) {
  return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function summary(samples) {
  const s = Float64Array.from(samples).sort();
  const f = (x) => Math.round(x * 10) / 10;
  return { n: s.length, min: f(s[0]), p50: f(percentile(s, 50)), p90: f(percentile(s, 90)), p99: f(percentile(s, 99)) };
}

// The sender: pairs of frames, GAP_US apart (busy-waited), then a pause; finally one 'end' frame. It writes
// whole Ethernet frames through its own AfPacketPort, stamped just before the (synchronous) sendmmsg, so the
// figure starts at the system call and not somewhere in dgram's queue.
async function send() {
  const { AfPacketPort } = await import(join(root, 'dist', 'io', 'afpacket.js'));
  const { FrameBatch } = await import(join(root, 'dist', 'io', 'batch.js'));
  const port = AfPacketPort.open(values.dev);
  const batch = new FrameBatch(1);
  const frame = Buffer.alloc(58);
  Buffer.from(values['dst-mac'].split(':').map((h) => Number.parseInt(h, 16))).copy(frame, 0);
  for (let i = 0; i < 6; i++) frame[6 + i] = (port.mac / 2 ** (8 * (5 - i))) & 0xff;
  frame.writeUInt16BE(0x0800, 12);
  // IPv4: 20 bytes, UDP, TTL 64, then its header checksum; UDP checksum 0 (none).
  Buffer.from([0x45, 0, 0, 44, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 97, 0, 1, 10, 97, 0, 2]).copy(frame, 14);
  let sum = 0;
  for (let i = 14; i < 34; i += 2) sum += frame.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  frame.writeUInt16BE(~sum & 0xffff, 24);
  frame.writeUInt16BE(40000, 34);
  frame.writeUInt16BE(PORT, 36);
  frame.writeUInt16BE(24, 38);
  const stamp = (seq) => {
    frame.writeUInt32LE(seq, 50);
    frame.writeBigUInt64LE(process.hrtime.bigint(), 42);
    batch.setFrame(0, frame);
    batch.count = 1;
    if (port.send(batch, 1) !== 1) throw new Error('send failed');
  };
  if (rate > 0) {
    // A steady stream instead of pairs: what the wait for frames costs in CPU at that rate.
    const intervalNs = BigInt(Math.round(1e9 / rate));
    let next = process.hrtime.bigint();
    for (let i = 0; i < 2 * pairs; i++) {
      while (process.hrtime.bigint() < next);
      stamp(i);
      next += intervalNs;
    }
    stamp(0xffffffff);
    port.close();
    return;
  }
  for (let i = 0; i < pairs; i++) {
    stamp(2 * i);
    const until = process.hrtime.bigint() + BigInt(gapUs * 1000);
    while (process.hrtime.bigint() < until);
    stamp(2 * i + 1);
    await new Promise((r) => setTimeout(r, PAUSE_MS));
  }
  stamp(0xffffffff);
  port.close();
}

// The receiver: first and second datagram of each pair recorded apart (the second may be caught by a spin).
async function recv() {
  const first = [];
  const second = [];
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  let done;
  let cpuAtReady;
  const finished = new Promise((r) => {
    done = r;
  });
  const record = (now, ts, seq) => {
    if (seq === 0xffffffff) return done();
    (seq % 2 === 0 ? first : second).push(Number(now - ts) / 1000);
  };
  if (values.mode === 'dgram') {
    const sock = dgram.createSocket('udp4');
    sock.on('message', (msg) => record(process.hrtime.bigint(), msg.readBigUInt64LE(0), msg.readUInt32LE(8)));
    await new Promise((resolve) => sock.bind(PORT, RECEIVER, resolve));
    cpuAtReady = process.cpuUsage();
    console.log('ready');
    await finished;
    sock.close();
  } else {
    const { AfPacketPort } = await import(join(root, 'dist', 'io', 'afpacket.js'));
    const { FrameBatch } = await import(join(root, 'dist', 'io', 'batch.js'));
    const port = AfPacketPort.open(values.dev);
    if (values['spin-us'] !== undefined) {
      // A measurement-only override of the adaptive window: the port's wake-ups rebuilt with another one.
      const { DescriptorWakeups } = await import(join(root, 'dist', 'io', 'wakeups.js'));
      const { loadNative } = await import(join(root, 'dist', 'native.js'));
      port.wakeups = new DescriptorWakeups(
        loadNative(),
        port.fileDescriptor,
        undefined,
        Number(values['spin-us']) / 1000,
      );
    }
    const batch = new FrameBatch(64);
    const view = new DataView(batch.bytes.buffer, batch.bytes.byteOffset, batch.bytes.byteLength);
    port.onReadable(() => {
      for (;;) {
        const n = port.recv(batch);
        if (n <= 0) return;
        const now = process.hrtime.bigint();
        for (let i = 0; i < n; i++) {
          const at = batch.offset[i];
          // IPv4 (no options) UDP to PORT: the stamp follows the 42 bytes of headers.
          if (batch.length[i] < 58 || view.getUint16(at + 12) !== 0x0800 || view.getUint16(at + 36) !== PORT) continue;
          record(now, view.getBigUint64(at + 42, true), view.getUint32(at + 50, true));
        }
      }
    }, values.mode);
    cpuAtReady = process.cpuUsage();
    console.log('ready');
    await finished;
    port.close();
  }
  loopDelay.disable();
  const cpu = process.cpuUsage(cpuAtReady);
  console.log(
    JSON.stringify({
      mode: values['spin-us'] === undefined ? values.mode : `${values.mode}:${values['spin-us']}`,
      first: summary(first),
      second: summary(second),
      // The histogram holds each 1 ms timer's whole interval: the loop's delay is what exceeds 1000 µs.
      loopDelayUs: { p50: loopDelay.percentile(50) / 1000 - 1000, p99: loopDelay.percentile(99) / 1000 - 1000 },
      cpuMs: Math.round((cpu.user + cpu.system) / 1000),
      cpuUsPerFrame: Math.round(((cpu.user + cpu.system) / (first.length + second.length)) * 10) / 10,
    }),
  );
}

function ip(...args) {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 5_000 });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}

function child(ns, cpu, args) {
  // --rt: both ends at SCHED_FIFO, so that other work on a shared machine does not queue them (a spinning
  // receiver is bounded by the kernel's RT throttling and by the run's length).
  const rt = values.rt ? ['chrt', '-f', '10'] : [];
  const proc = spawn('ip', ['netns', 'exec', ns, ...rt, 'taskset', '-c', String(cpu), process.execPath, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const timer = setTimeout(() => proc.kill('SIGKILL'), CHILD_TIMEOUT_MS);
  let out = '';
  const ready = new Promise((resolve) => {
    proc.stdout.on('data', (d) => {
      out += d;
      if (out.includes('ready')) resolve();
    });
  });
  const exited = new Promise((resolve) => proc.on('exit', () => resolve(out)));
  exited.then(() => clearTimeout(timer));
  return { proc, ready, exited };
}

async function main() {
  const modes = (values.modes ?? 'poll,busy,dgram').split(',');
  const tag = `uvs-${process.pid}-${randomBytes(2).toString('hex')}`;
  const [a, b] = [`${tag}-wa`, `${tag}-wb`];
  const cleanup = () => {
    for (const ns of [a, b]) spawnSync('ip', ['netns', 'del', ns], { timeout: 5_000 });
  };
  process.once('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => process.exit(130));
  ip('netns', 'add', a);
  ip('netns', 'add', b);
  const [devA, devB] = [`w${tag.slice(-4)}a`, `w${tag.slice(-4)}b`];
  ip('link', 'add', devA, 'netns', a, 'type', 'veth', 'peer', 'name', devB, 'netns', b);
  ip('-n', a, 'addr', 'add', `${SENDER}/24`, 'dev', devA);
  ip('-n', b, 'addr', 'add', `${RECEIVER}/24`, 'dev', devB);
  ip('-n', a, 'link', 'set', devA, 'up');
  ip('-n', b, 'link', 'set', devB, 'up');
  if (values['napi-thread']) {
    // As in bench:live: the receiver's veth runs NAPI (GRO on) in a kernel thread on the receiver's core, which
    // a receiver that polls instead of sleeping competes with.
    spawnSync('ip', ['netns', 'exec', b, 'ethtool', '-K', devB, 'gro', 'on'], { timeout: 5_000 });
    spawnSync('ip', ['netns', 'exec', b, 'sh', '-c', `echo 1 > /sys/class/net/${devB}/threaded`], { timeout: 5_000 });
    const ps = spawnSync('pgrep', ['-f', `napi/${devB}-`], { encoding: 'utf8' })
      .stdout.trim()
      .split('\n');
    for (const tid of ps.filter(Boolean)) spawnSync('taskset', ['-p', '-c', '1', tid], { stdio: 'ignore' });
    console.log(`NAPI threads of ${devB} on cpu1: ${ps.join(' ')}`);
  }
  const macB = JSON.parse(spawnSync('ip', ['-n', b, '-j', 'link', 'show', devB], { encoding: 'utf8' }).stdout)[0]
    .address;
  // The receiver's kernel answers datagrams to a closed port with ICMP; the sender's kernel drops those.
  spawnSync('ip', [
    'netns',
    'exec',
    a,
    'nft',
    'add table inet w; add chain inet w i { type filter hook input priority 0; policy drop; }',
  ]);
  const self = fileURLToPath(import.meta.url);
  console.log(`load average ${spawnSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).stdout.trim()}`);
  for (const mode of modes) {
    // A mode may name the adaptive window: adaptive:50 is 'adaptive' spinning 50 µs.
    const [wake, spinUs] = mode.split(':');
    const spin = spinUs === undefined ? [] : [`--spin-us=${spinUs}`];
    const r = child(b, 1, [self, '--role=recv', `--mode=${wake}`, `--dev=${devB}`, ...spin]);
    await r.ready;
    const s = child(a, 0, [
      self,
      '--role=send',
      `--dev=${devA}`,
      `--dst-mac=${macB}`,
      `--pairs=${pairs}`,
      `--gap-us=${gapUs}`,
      `--rate=${rate}`,
    ]);
    await s.exited;
    const out = await r.exited;
    console.log(out.split('\n').find((l) => l.startsWith('{')) ?? `${mode}: no result`);
  }
}

if (values.role === 'send') await send();
else if (values.role === 'recv') await recv();
else await main();
