// Child for test/netns/afpacket.test.ts, run inside a namespace: opens an AfPacketPort and reports every
// IPv4 UDP frame to `udpPort` it receives, with its metadata, as one JSON line at the end. Bounded by
// `expect` frames and `timeoutMs`. Config (UVS_CHILD_CONFIG): { dist, ifname, udpPort, expect, timeoutMs,
// mode: 'poll' | 'busy' | 'coalesce' | 'adaptive', batch, readAfterMs, ring }.
const config = JSON.parse(process.env.UVS_CHILD_CONFIG ?? '{}');
const { AfPacketPort } = await import(`${config.dist}/io/afpacket.js`);
const { FrameBatch } = await import(`${config.dist}/io/batch.js`);
const { readMac } = await import(`${config.dist}/wire/addr.js`);

const port = AfPacketPort.open(config.ifname, { ring: config.ring ?? false });
const batch = new FrameBatch(config.batch);
const frames = [];
let other = 0;
let outgoing = 0;
let ownSource = 0;
let batches = 0;
let maxBatch = 0;
let errors = 0;
let offsetsInSlot = true;

function isUdpToPort(bytes, off, len) {
  let type = (bytes[off + 12] << 8) | bytes[off + 13];
  let l3 = off + 14;
  for (let tags = 0; tags < 2 && (type === 0x8100 || type === 0x88a8) && l3 + 4 <= off + len; tags++) {
    type = (bytes[l3 + 2] << 8) | bytes[l3 + 3];
    l3 += 4;
  }
  if (type !== 0x0800 || len < l3 - off + 28 || bytes[l3 + 9] !== 17) return false;
  const l4 = l3 + (bytes[l3] & 0x0f) * 4;
  return ((bytes[l4 + 2] << 8) | bytes[l4 + 3]) === config.udpPort;
}

function finish(reason) {
  const usesRing = port.usesRing;
  port.close();
  clearTimeout(timer);
  const summary = { event: 'done', reason, ifindex: port.ifindex, usesRing, frames, other, outgoing };
  Object.assign(summary, { batches, maxBatch });
  Object.assign(summary, { errors, offsetsInSlot, ownSource });
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

function drain(status) {
  if (status < 0) errors++;
  for (;;) {
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
      if (batch.pktType[i] === 4) outgoing++;
      if (readMac(batch.bytes, off + 6) === port.mac) ownSource++;
      if (!isUdpToPort(batch.bytes, off, len)) {
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
// With a delay, frames pile up in the socket before the first read, so reads come in full batches.
setTimeout(() => port.onReadable(drain, config.mode), config.readAfterMs ?? 0);
process.stdout.write(`${JSON.stringify({ event: 'ready', ifindex: port.ifindex, mac: port.mac })}\n`);
