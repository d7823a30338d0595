// Child for test/netns/afpacket.test.ts: builds `count` Ethernet/IPv4/UDP frames with src/wire's frame
// builder (payloads by the rule in udp-send.mjs) and sends them with AfPacketPort.send, `batch` at a time.
// Frames whose sequence number is in `corrupt` get their UDP checksum flipped, so the receiver must not see
// them. Config: { dist, ifname, dstMac, srcIp, dstIp, srcPort, dstPort, count, batch, corrupt,
// vlans (VLAN IDs, outermost first), outerTpid, outerTci }.
const config = JSON.parse(process.env.UVS_CHILD_CONFIG ?? '{}');
const { AfPacketPort } = await import(`${config.dist}/io/afpacket.js`);
const { FrameBatch } = await import(`${config.dist}/io/batch.js`);
const { buildFrame, ipv4Fields } = await import(`${config.dist}/wire/frame.js`);

function payload(seq) {
  const len = 18 + (seq % 53);
  const bytes = new Uint8Array(len);
  new DataView(bytes.buffer).setUint32(0, seq);
  for (let j = 4; j < len; j++) bytes[j] = (seq * 7 + j) & 0xff;
  return bytes;
}

const port = AfPacketPort.open(config.ifname);
const batch = new FrameBatch(config.batch);
let sent = 0;
let calls = 0;
let seq = 0;
while (seq < config.count) {
  let n = 0;
  for (; n < batch.capacity && seq < config.count; n++, seq++) {
    const frame = buildFrame({
      eth: { dst: config.dstMac, src: port.mac, etherType: 0x0800, vlans: config.vlans ?? [] },
      ipv4: ipv4Fields(config.srcIp, config.dstIp, { id: seq & 0xffff }),
      udp: { srcPort: config.srcPort, dstPort: config.dstPort, payload: payload(seq) },
    });
    // buildFrame writes 0x8100 tags with PCP/DEI 0; an 802.1ad TPID and a full TCI are patched in.
    if (config.outerTpid) {
      frame[12] = config.outerTpid >> 8;
      frame[13] = config.outerTpid & 0xff;
    }
    if (config.outerTci) {
      frame[14] = config.outerTci >> 8;
      frame[15] = config.outerTci & 0xff;
    }
    // UDP checksum at 14 (Ethernet) + 4 per tag + 20 (IPv4) + 6.
    if (config.corrupt.includes(seq)) frame[40 + 4 * (config.vlans?.length ?? 0)] ^= 0x5a;
    batch.setFrame(n, frame);
  }
  const r = port.send(batch, n);
  calls++;
  if (r < 0) break;
  sent += r;
  // The veth peer takes frames as fast as they come, so EAGAIN is not expected; report it if it happens.
  if (r < n) break;
}
const result = { event: 'done', sent, calls, txDropped: port.txDropped, lastSendErrno: port.lastSendErrno };
port.close();
process.stdout.write(`${JSON.stringify(result)}\n`);
