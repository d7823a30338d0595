// Child for test/netns/syn-flood.test.ts: a SYN flood from spoofed sources, sent as raw frames with uvs's own
// AfPacketPort from the client namespace. One template SYN (src/wire's frame builder) is rewritten in place
// for each frame: the source address cycles through `sources` addresses from `firstSource`, the source port
// changes each round, and both checksums are updated incrementally (RFC 1624). Paced to `rate` frames a
// second in batches, for at most `seconds`, or until SIGTERM; then prints {event:'done', sent} and exits.
// Prints {event:'ready'} once the socket is open.
// Config (UVS_CHILD_CONFIG): { dist, ifname, dstMac, dstIp, dstPort, firstSource, sources, rate, seconds }.
const config = JSON.parse(process.env.UVS_CHILD_CONFIG ?? '{}');
const { AfPacketPort } = await import(`${config.dist}/io/afpacket.js`);
const { FrameBatch } = await import(`${config.dist}/io/batch.js`);
const { buildFrame, ipv4Fields } = await import(`${config.dist}/wire/frame.js`);
const { read16, read32, write16, write32 } = await import(`${config.dist}/wire/bytes.js`);
const { csumReplace16, csumReplace32 } = await import(`${config.dist}/wire/checksum.js`);

const IP_SRC = 14 + 12;
const IP_CHECK = 14 + 10;
const TCP_SPORT = 14 + 20;
const TCP_CHECK = 14 + 20 + 16;
const FIRST_PORT = 1024;
const BATCH = 64;

const port = AfPacketPort.open(config.ifname);
const template = buildFrame({
  eth: { dst: config.dstMac, src: port.mac, etherType: 0x0800 },
  ipv4: ipv4Fields(config.firstSource, config.dstIp, { id: 1 }),
  tcp: {
    srcPort: FIRST_PORT,
    dstPort: config.dstPort,
    seq: 1,
    ack: 0,
    flags: 0x02,
    window: 64240,
    urgent: 0,
    payload: new Uint8Array(0),
  },
});
const baseSrc = read32(template, IP_SRC);
const baseIpCheck = read16(template, IP_CHECK);
const baseTcpCheck = read16(template, TCP_CHECK);
const batch = new FrameBatch(BATCH);
let sent = 0;
let stopping = false;

function fill() {
  for (let k = 0; k < BATCH; k++) {
    const n = sent + k;
    const src = (baseSrc + (n % config.sources)) >>> 0;
    const sport = FIRST_PORT + (Math.floor(n / config.sources) % 60000);
    batch.setFrame(k, template);
    const off = batch.offset[k];
    const b = batch.bytes;
    write32(b, off + IP_SRC, src);
    write16(b, off + IP_CHECK, csumReplace32(baseIpCheck, baseSrc, src));
    write16(b, off + TCP_SPORT, sport);
    write16(b, off + TCP_CHECK, csumReplace16(csumReplace32(baseTcpCheck, baseSrc, src), FIRST_PORT, sport));
  }
  batch.count = BATCH;
}

function finish() {
  stopping = true;
  port.close();
  process.stdout.write(`${JSON.stringify({ event: 'done', sent })}\n`);
  process.exit(0);
}
process.on('SIGTERM', finish);

const started = performance.now();
const deadline = started + config.seconds * 1000;
process.stdout.write(`${JSON.stringify({ event: 'ready' })}\n`);
function tick() {
  if (stopping) return;
  const now = performance.now();
  if (now >= deadline) return finish();
  // Frames due by now at `rate`, a batch at a time; what the socket refuses is simply not counted.
  const due = Math.floor(((now - started) / 1000) * config.rate);
  while (sent + BATCH <= due) {
    fill();
    const n = port.send(batch, BATCH);
    if (n <= 0) break;
    sent += n;
  }
  setTimeout(tick, 5);
}
tick();
