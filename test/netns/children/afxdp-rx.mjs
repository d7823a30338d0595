// Child for test/netns/afxdp.test.ts, run inside a namespace: opens an AfXdpPort and reports every frame it
// receives that matches `want` ('udp': IPv4 UDP to `udpPort`; 'arp': ARP), with its metadata, as one JSON
// line at the end; it also reports the port's modes, its XDP counters and whether the interface showed an
// XDP program while the port was open. Bounded by `expect` frames and `timeoutMs`.
// Config (UVS_CHILD_CONFIG): { dist, ifname, want, udpPort, expect, timeoutMs, mode: 'poll' | 'busy',
// batch, readAfterMs, coalesce }.
import { execFileSync } from 'node:child_process';

const config = JSON.parse(process.env.UVS_CHILD_CONFIG ?? '{}');
const { AfXdpPort } = await import(`${config.dist}/io/afxdp.js`);
const { FrameBatch } = await import(`${config.dist}/io/batch.js`);

const port = AfXdpPort.open(config.ifname, { coalesce: config.coalesce ?? false });
const link = JSON.parse(execFileSync('ip', ['-j', '-d', 'link', 'show', 'dev', config.ifname], { encoding: 'utf8' }));
const xdpAttached = link[0]?.xdp !== undefined;
const batch = new FrameBatch(config.batch);
const frames = [];
let other = 0;
let batches = 0;
let maxBatch = 0;
let errors = 0;
let offsetsInSlot = true;

function matches(bytes, off, len) {
  const type = (bytes[off + 12] << 8) | bytes[off + 13];
  if (config.want === 'arp') return type === 0x0806;
  if (type !== 0x0800 || len < 14 + 28 || bytes[off + 14 + 9] !== 17) return false;
  const l4 = off + 14 + (bytes[off + 14] & 0x0f) * 4;
  return ((bytes[l4 + 2] << 8) | bytes[l4 + 3]) === config.udpPort;
}

let finished = false;
function finish(reason) {
  if (finished) return;
  finished = true;
  const stats = port.stats();
  const summary = { event: 'done', reason, ifindex: port.ifindex, xdpMode: port.xdpMode, zeroCopy: port.zeroCopy };
  Object.assign(summary, { rxQueues: port.rxQueues, xdpAttached, stats, frames, other, batches, maxBatch });
  Object.assign(summary, { errors, offsetsInSlot });
  port.close();
  clearTimeout(timer);
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

function drain(status) {
  if (status < 0) errors++;
  while (!finished) {
    const n = port.recv(batch);
    if (n < 0) errors++;
    if (n <= 0) return;
    batches++;
    if (n > maxBatch) maxBatch = n;
    for (let i = 0; i < n; i++) {
      const off = batch.offset[i];
      const len = batch.length[i];
      const base = batch.slotBase(i);
      if (off < base || off + len > base + batch.slotSize) offsetsInSlot = false;
      if (!matches(batch.bytes, off, len)) {
        other++;
        continue;
      }
      frames.push({
        hex: Buffer.from(batch.bytes.buffer, batch.bytes.byteOffset + off, len).toString('hex'),
        ifindex: batch.ifindex[i],
        flags: batch.flags[i],
        vlanTci: batch.vlanTci[i],
        pktType: batch.pktType[i],
        headroomUsed: off - base,
      });
      if (frames.length >= config.expect) {
        finish('complete');
        return;
      }
    }
  }
}

const timer = setTimeout(() => finish('timeout'), config.timeoutMs);
// With a delay, frames pile up in the rx ring before the first read, so reads come in full batches.
setTimeout(() => port.onReadable(drain, config.mode), config.readAfterMs ?? 0);
process.stdout.write(`${JSON.stringify({ event: 'ready', ifindex: port.ifindex, mac: port.mac })}\n`);
