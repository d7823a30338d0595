// Child for the end-to-end tests: a capture on one interface (uvs's own AfPacketPort, as tcpdump may not be
// installed) that counts the IPv4 packets arriving there by source address and protocol. On SIGTERM, or after
// `timeoutMs`, it prints one JSON line {event:'done', sources:{"a.b.c.d/proto": count}, frames} and exits.
// Outgoing frames (the host's own) are not counted. Config (UVS_CHILD_CONFIG): { dist, ifname, timeoutMs }.
const config = JSON.parse(process.env.UVS_CHILD_CONFIG ?? '{}');
const { AfPacketPort } = await import(`${config.dist}/io/afpacket.js`);
const { FrameBatch, PacketType } = await import(`${config.dist}/io/batch.js`);

const port = AfPacketPort.open(config.ifname, { ring: true });
const batch = new FrameBatch(64);
const sources = {};
let frames = 0;

function drain() {
  for (;;) {
    const n = port.recv(batch);
    if (n <= 0) return;
    for (let i = 0; i < n; i++) {
      if (batch.pktType[i] === PacketType.outgoing) continue;
      const off = batch.offset[i];
      const b = batch.bytes;
      frames++;
      if (batch.length[i] < 34 || ((b[off + 12] << 8) | b[off + 13]) !== 0x0800) continue;
      const key = `${b[off + 26]}.${b[off + 27]}.${b[off + 28]}.${b[off + 29]}/${b[off + 23]}`;
      sources[key] = (sources[key] ?? 0) + 1;
    }
  }
}

function finish() {
  clearTimeout(timer);
  drain();
  port.stopReadable();
  port.close();
  process.stdout.write(`${JSON.stringify({ event: 'done', sources, frames })}\n`);
}

const timer = setTimeout(finish, config.timeoutMs);
process.once('SIGTERM', finish);
port.onReadable(drain, 'poll');
process.stdout.write(`${JSON.stringify({ event: 'ready', ifindex: port.ifindex })}\n`);
