// Child for test/netns/afxdp.test.ts: builds `count` Ethernet/IPv4/UDP frames with src/wire's frame builder
// (payloads by the rule in udp-send.mjs) and sends them `batch` at a time through the AfXdpPort of `ifname`.
// With `egressIfname`, a second AfXdpPort is opened on that interface and every frame is sent through the
// first port with egressIfindex set to the second one's interface, as the datapath does when a frame leaves
// by another interface than the one it came in on. Frames whose sequence number is in `corrupt` get their
// UDP checksum flipped. With `hold`, the port stays open after sending until the process is killed.
// Config: { dist, ifname, egressIfname?, dstMac, srcIp, dstIp, srcPort, dstPort, count, batch, corrupt, hold? }.
const config = JSON.parse(process.env.UVS_CHILD_CONFIG ?? '{}');
const { AfXdpPort } = await import(`${config.dist}/io/afxdp.js`);
const { FrameBatch } = await import(`${config.dist}/io/batch.js`);
const { buildFrame, ipv4Fields } = await import(`${config.dist}/wire/frame.js`);

function payload(seq) {
  const len = 18 + (seq % 53);
  const bytes = new Uint8Array(len);
  new DataView(bytes.buffer).setUint32(0, seq);
  for (let j = 4; j < len; j++) bytes[j] = (seq * 7 + j) & 0xff;
  return bytes;
}

const port = AfXdpPort.open(config.ifname);
const out = config.egressIfname ? AfXdpPort.open(config.egressIfname) : port;
const egress = out === port ? 0 : out.ifindex;
const batch = new FrameBatch(config.batch);
let sent = 0;
let calls = 0;
let seq = 0;
while (seq < config.count) {
  let n = 0;
  for (; n < batch.capacity && seq < config.count; n++, seq++) {
    const frame = buildFrame({
      eth: { dst: config.dstMac, src: out.mac, etherType: 0x0800 },
      ipv4: ipv4Fields(config.srcIp, config.dstIp, { id: seq & 0xffff }),
      udp: { srcPort: config.srcPort, dstPort: config.dstPort, payload: payload(seq) },
    });
    // UDP checksum at 14 (Ethernet) + 20 (IPv4) + 6.
    if (config.corrupt.includes(seq)) frame[40] ^= 0x5a;
    batch.setFrame(n, frame, egress);
  }
  const r = port.send(batch, n);
  calls++;
  if (r < 0) break;
  sent += r;
  if (r < n) break;
}
const result = { event: 'done', sent, calls, txDropped: port.txDropped, lastSendErrno: port.lastSendErrno };
process.stdout.write(`${JSON.stringify(result)}\n`);
if (config.hold) {
  // Killed by the test with SIGKILL: the kernel must detach the XDP programs by itself.
  setInterval(() => {}, 1_000);
} else {
  // Sent frames are still in flight until the kernel completes them; closing at once is allowed (the kernel
  // finishes them), but waiting a moment keeps the test about delivery, not about teardown.
  setTimeout(() => {
    if (out !== port) out.close();
    port.close();
  }, 200);
}
