// Child for test/io/libpcap.test.ts, run inside a namespace: opens a LibpcapPort (real `cap`, real libpcap)
// on `ifname`, sends the frames it is given (hex) in one batch, then reports every received IPv4 UDP frame to
// `udpPort` as one JSON line at the end. Bounded by `expect` frames and `timeoutMs`.
// Config (UVS_CHILD_CONFIG): { dist, ifname, udpPort, expect, timeoutMs, send: string[] }.
const config = JSON.parse(process.env.UVS_CHILD_CONFIG ?? '{}');
const { LibpcapPort } = await import(`${config.dist}/io/libpcap.js`);
const { FrameBatch } = await import(`${config.dist}/io/batch.js`);
const { readMac } = await import(`${config.dist}/wire/addr.js`);

const port = await LibpcapPort.open(config.ifname);
const rx = new FrameBatch(32);
const frames = [];
let other = 0;
// Frames from this interface's own MAC: its own sends or its kernel's; the `inbound` filter must keep them out.
let own = 0;
let batches = 0;

function isUdpToPort(bytes, off, len) {
  if (len < 42 || bytes[off + 12] !== 0x08 || bytes[off + 13] !== 0x00 || bytes[off + 23] !== 17) return false;
  const l4 = off + 14 + (bytes[off + 14] & 0x0f) * 4;
  return ((bytes[l4 + 2] << 8) | bytes[l4 + 3]) === config.udpPort;
}

function finish(reason) {
  clearTimeout(timer);
  const summary = {
    event: 'done',
    reason,
    ifindex: port.ifindex,
    frames,
    other,
    batches,
    sent,
    txDropped: port.txDropped,
  };
  Object.assign(summary, { rxDropped: port.rxDropped, lastSendError: port.lastSendError, own });
  port.close();
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

function drain() {
  for (;;) {
    const n = port.recv(rx);
    if (n <= 0) return;
    batches++;
    for (let i = 0; i < n; i++) {
      const off = rx.offset[i];
      const len = rx.length[i];
      if (readMac(rx.bytes, off + 6) === port.mac) own++;
      if (!isUdpToPort(rx.bytes, off, len)) {
        other++;
        continue;
      }
      const hex = Buffer.from(rx.bytes.subarray(off, off + len)).toString('hex');
      frames.push({ hex, ifindex: rx.ifindex[i], pktType: rx.pktType[i], flags: rx.flags[i] });
    }
    if (frames.length >= config.expect) return finish('complete');
  }
}

const timer = setTimeout(() => finish('timeout'), config.timeoutMs);
const tx = new FrameBatch(Math.max(1, config.send.length));
config.send.forEach((h, i) => {
  tx.setFrame(i, Buffer.from(h, 'hex'));
});
tx.count = config.send.length;
const sent = port.send(tx);
port.onReadable(drain, 'poll');
process.stdout.write(`${JSON.stringify({ event: 'ready', sent })}\n`);
